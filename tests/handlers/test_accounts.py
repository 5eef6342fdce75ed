"""Register, verify and resend through the real handlers, on moto."""

from __future__ import annotations

import threading

import boto3
import handle_register
import handle_verify_email
import pytest
import time_machine

from tests.handlers.conftest import PASSWORD, account_item, api_event, drain_emails, invoke, table_items, token_from

ADA = "ada@example.com"


def register(email: str = ADA, password: str = PASSWORD, name: str | None = "Ada", ip: str = "198.51.100.7"):
    body = {"email": email, "password": password}
    if name is not None:
        body["name"] = name
    return invoke(handle_register, api_event("register", body, ip=ip))


def verify(token: str):
    return invoke(handle_verify_email, api_event("verify_email", {"token": token}))


def user_item(email: str = ADA) -> dict:
    return account_item(email)


def test_sample_event_registers_and_the_email_link_verifies(aws):
    status, headers, body = invoke(handle_register, api_event("register"))
    assert status == 202 and "message" in body
    assert headers["RateLimit-Limit"] == "20" and headers["Cache-Control"] == "no-store"
    [email] = drain_emails(aws["queue_url"])
    assert email["to"] == [ADA]
    assert "https://app.example.com/verify-email?token=" in email["text"]
    assert verify(token_from(email))[0] == 200
    assert user_item()["verified"] == {"BOOL": True}
    [welcome] = drain_emails(aws["queue_url"])
    assert "Welcome" in welcome["subject"]


def test_answer_is_byte_identical_for_new_unverified_and_verified_addresses(aws):
    first = register()
    drained = drain_emails(aws["queue_url"])
    verify(token_from(drained[0]))
    drain_emails(aws["queue_url"])
    again = register()
    other = register(email="grace@example.com")
    assert first[0] == again[0] == other[0] == 202
    assert first[2] == again[2] == other[2]
    notices = drain_emails(aws["queue_url"])
    assert {tuple(m["to"]) for m in notices} == {(ADA,), ("grace@example.com",)}
    notice = next(m for m in notices if m["to"] == [ADA])
    assert "tried to sign up" in notice["subject"] and "token=" not in notice["text"]


def test_reregistering_unverified_address_supersedes_link_and_keeps_latest_password(aws):
    register(password="First-Password-11!")
    [first] = drain_emails(aws["queue_url"])
    register(password="Second-Password-22!", name="Ada L.")
    [second] = drain_emails(aws["queue_url"])
    status, _, body = verify(token_from(first))
    assert (status, body["code"]) == (400, "invalid_token")
    assert verify(token_from(second))[0] == 200
    from accounts.passwords import PasswordHasher

    hasher = PasswordHasher(1024, 1, 1)
    assert hasher.verify(user_item()["password_hash"]["S"], "Second-Password-22!")
    assert user_item()["name"] == {"S": "Ada L."}


def test_concurrent_registrations_of_one_email_create_exactly_one_account(aws):
    results: list[int] = []

    def attempt(i: int) -> None:
        results.append(register(password=f"Parallel-Pass-{i:02d}!", name=f"Ada {i}")[0])

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [202] * 8
    accounts = [item for item in table_items() if item["pk"]["S"].startswith("EMAIL#")]
    assert len(accounts) == 1


def test_concurrent_uses_of_one_verification_token_verify_once_and_welcome_once(aws):
    register()
    token = token_from(drain_emails(aws["queue_url"])[0])
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda: statuses.append(verify(token)[0])) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 6  # the losers see an already-used token for a verified account
    welcomes = [m for m in drain_emails(aws["queue_url"]) if "Welcome" in m["subject"]]
    assert len(welcomes) == 1


def test_used_verification_token_answers_200_again_without_a_second_welcome(aws):
    register()
    token = token_from(drain_emails(aws["queue_url"])[0])
    assert verify(token)[0] == 200
    assert len(drain_emails(aws["queue_url"])) == 1
    assert verify(token) [0] == 200
    assert drain_emails(aws["queue_url"]) == []


def test_verification_token_expires_after_24_hours(aws):
    with time_machine.travel("2026-01-01 00:00:00+00:00", tick=False) as traveller:
        register()
        token = token_from(drain_emails(aws["queue_url"])[0])
        traveller.shift(24 * 3600)
        status, _, body = verify(token)
    assert (status, body["code"]) == (410, "token_expired")
    assert user_item()["verified"] == {"BOOL": False}


@pytest.mark.parametrize("token", ["x" * 43, "not a token", "A" * 600])
def test_unknown_or_junk_verification_tokens_are_invalid(aws, token):
    status, headers, body = verify(token)
    assert status in (400, 422)
    assert headers["Content-Type"] == "application/problem+json"
    assert body["code"] in ("invalid_token", "validation_failed")


def test_resend_is_identical_for_unknown_unverified_and_verified_and_only_mails_the_unverified(aws):
    register(email="pending@example.com")
    drain_emails(aws["queue_url"])
    answers = [
        invoke(handle_verify_email, api_event("verify_email_resend", {"email": address}))
        for address in ("pending@example.com", "nobody@example.com")
    ]
    assert answers[0][0] == answers[1][0] == 202 and answers[0][2] == answers[1][2]
    mails = drain_emails(aws["queue_url"])
    assert [m["to"] for m in mails] == [["pending@example.com"]]


def test_email_per_address_limit_silently_stops_mail_but_answers_202(aws, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_EMAIL_PER_ADDRESS", "2/3600")
    from accounts import services, settings

    settings.get_settings.cache_clear()
    services.get_services.cache_clear()
    register()
    for _ in range(3):
        assert invoke(handle_verify_email, api_event("verify_email_resend", {"email": ADA}))[0] == 202
    assert len(drain_emails(aws["queue_url"])) == 2


def test_register_ip_limit_answers_429_with_retry_after(aws, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_REGISTER_PER_IP", "2/3600")
    from accounts import services, settings

    settings.get_settings.cache_clear()
    services.get_services.cache_clear()
    assert register(email="a1@example.com")[0] == 202
    assert register(email="a2@example.com")[0] == 202
    status, headers, body = register(email="a3@example.com")
    assert (status, body["code"]) == (429, "rate_limited")
    assert 0 < int(headers["Retry-After"]) <= 3600 and headers["RateLimit-Remaining"] == "0"
    assert register(email="a4@example.com", ip="203.0.113.9")[0] == 202  # another IP is unaffected


def test_weak_password_lists_every_unmet_rule_and_creates_nothing(aws):
    status, _, body = register(email="adalovelace@example.com", password="adalovelace")
    assert (status, body["code"]) == (422, "weak_password")
    messages = " ".join(e["message"] for e in body["errors"]).lower()
    assert "12" in messages and "upper" in messages and "digit" in messages and "symbol" in messages
    assert "adalovelace" not in messages  # the password is never echoed
    assert user_item("adalovelace@example.com") == {}


def test_name_is_escaped_in_the_html_email(aws):
    register(name="<script>alert(1)</script>")
    [email] = drain_emails(aws["queue_url"])
    assert "<script>" not in email["html"] and "&lt;script&gt;" in email["html"]


def test_ses_failure_keeps_the_answer_and_the_job_is_retried(aws, monkeypatch):
    import handle_email_jobs

    from accounts.mailer import Mailer

    def refuse(self, to, email):
        raise RuntimeError("SES is down")

    monkeypatch.setattr(Mailer, "send", refuse)
    assert register()[0] == 202
    sqs = boto3.client("sqs")
    [message] = sqs.receive_message(QueueUrl=aws["queue_url"], AttributeNames=["All"])["Messages"]
    from tests.handlers.conftest import Context, sqs_record

    result = handle_email_jobs.lambda_handler({"Records": [sqs_record(message)]}, Context())
    assert result["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
    assert user_item()["verified"] == {"BOOL": False}  # the account exists; a resend can still work
