"""Password reset through the real handlers, on moto."""

from __future__ import annotations

import threading

import handle_password_reset
import handle_register
import handle_login
import handle_session
import handle_verify_email
import pytest
import time_machine

from tests.handlers.conftest import PASSWORD, api_event, drain_emails, invoke, token_from, verified_account

ADA = "ada@example.com"
NEW_PASSWORD = "Brand-New-Passw0rd!"


@pytest.fixture
def account(aws):
    verified_account(aws, ADA)
    return aws


def login(email: str = ADA, password: str = PASSWORD):
    return invoke(handle_login, api_event("login", {"email": email, "password": password}))


def refresh(token: str):
    return invoke(handle_session, api_event("refresh", {"refresh_token": token}))


def reset_request(email: str = ADA):
    return invoke(handle_password_reset, api_event("password_reset", {"email": email}))


def confirm(token: str, password: str):
    return invoke(handle_password_reset, api_event("password_reset_confirm", {"token": token, "password": password}))


NEW_PASSWORD = "Brand-New-Passw0rd!"


def test_password_reset_changes_password_revokes_sessions_and_notifies(account):
    session = login()[2]["refresh_token"]
    assert reset_request()[0] == 202
    [email] = drain_emails(account["queue_url"])
    assert "https://app.example.com/reset-password?token=" in email["text"]
    token = token_from(email)
    status, _, body = confirm(token, NEW_PASSWORD)
    assert (status, body) == (200, {"password_changed": True})
    assert login()[2]["code"] == "invalid_credentials"
    assert login(password=NEW_PASSWORD)[0] == 200
    assert refresh(session)[2]["code"] == "invalid_grant"
    [notice] = drain_emails(account["queue_url"])
    assert "changed" in notice["subject"].lower()
    assert confirm(token, "Another-Passw0rd!!")[2]["code"] == "invalid_token"  # single use


def test_a_completed_reset_lifts_the_address_lockout(account):
    for _ in range(5):
        login(password="Wrong-Password-99!")
    assert login()[0] == 429
    reset_request()
    assert confirm(token_from(drain_emails(account["queue_url"])[0]), NEW_PASSWORD)[0] == 200
    assert login(password=NEW_PASSWORD)[0] == 200


def test_reset_request_is_identical_for_unknown_addresses_and_sends_nothing(account):
    known, unknown = reset_request(), reset_request("nobody@example.com")
    assert known[0] == unknown[0] == 202 and known[2] == unknown[2]
    assert [m["to"] for m in drain_emails(account["queue_url"])] == [[ADA]]


def test_weak_password_on_confirm_does_not_consume_the_token(account):
    reset_request()
    token = token_from(drain_emails(account["queue_url"])[0])
    status, _, body = confirm(token, "weak")
    assert (status, body["code"]) == (422, "weak_password")
    assert confirm(token, NEW_PASSWORD)[0] == 200


def test_new_reset_link_supersedes_the_old_one_and_tokens_are_purpose_bound(account):
    reset_request()
    old = token_from(drain_emails(account["queue_url"])[0])
    reset_request()
    new = token_from(drain_emails(account["queue_url"])[0])
    assert confirm(old, NEW_PASSWORD)[2]["code"] == "invalid_token"
    assert invoke(handle_verify_email, api_event("verify_email", {"token": new}))[2]["code"] == "invalid_token"
    assert confirm(new, NEW_PASSWORD)[0] == 200


def test_reset_token_expires_after_one_hour(account):
    with time_machine.travel("2026-03-01 10:00:00+00:00", tick=False) as traveller:
        reset_request()
        token = token_from(drain_emails(account["queue_url"])[0])
        traveller.shift(3600)
        assert confirm(token, NEW_PASSWORD)[2]["code"] == "token_expired"


def test_reset_marks_an_unverified_email_verified(aws):
    invoke(handle_register, api_event("register", {"email": ADA, "password": PASSWORD}))
    drain_emails(aws["queue_url"])
    reset_request()
    token = token_from(drain_emails(aws["queue_url"])[0])
    assert confirm(token, NEW_PASSWORD)[0] == 200
    assert login(password=NEW_PASSWORD)[0] == 200


def test_concurrent_confirms_of_one_reset_token_succeed_once(account):
    reset_request()
    token = token_from(drain_emails(account["queue_url"])[0])
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda i=i: statuses.append(confirm(token, f"Racing-Passw0rd-{i}!")[0]))
        for i in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [400] * 5
