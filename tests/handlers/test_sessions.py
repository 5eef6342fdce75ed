"""Login, refresh, logout, me, key set and password reset through the real handlers, on moto."""

from __future__ import annotations

import threading

import handle_password_reset
import handle_register
import handle_session
import handle_verify_email
import pytest
import time_machine

from tests.handlers.conftest import PASSWORD, api_event, drain_emails, invoke, token_from

ADA = "ada@example.com"


@pytest.fixture
def account(aws):
    """A verified account for ADA with PASSWORD."""
    invoke(handle_register, api_event("register", {"email": ADA, "password": PASSWORD, "name": "Ada"}))
    [email] = drain_emails(aws["queue_url"])
    assert invoke(handle_verify_email, api_event("verify_email", {"token": token_from(email)}))[0] == 200
    drain_emails(aws["queue_url"])
    return aws


def login(email: str = ADA, password: str = PASSWORD, ip: str = "198.51.100.7"):
    return invoke(handle_session, api_event("login", {"email": email, "password": password}, ip=ip))


def refresh(token: str):
    return invoke(handle_session, api_event("refresh", {"refresh_token": token}))


def me(claims: dict):
    event = api_event("me")
    event["requestContext"]["authorizer"]["jwt"]["claims"] = claims
    return invoke(handle_session, event)


def verified_claims(access_token: str) -> dict:
    """What API Gateway's JWT authorizer would hand the function."""
    from accounts.jwt_keys import get_signing_keys, verify_access_token

    return verify_access_token(access_token, get_signing_keys(), issuer="https://api.example.com", audience="example-api")


def test_login_issues_tokens_and_me_returns_the_profile(account):
    status, headers, body = login()
    assert status == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 900
    claims = verified_claims(body["access_token"])
    assert claims["email"] == ADA and claims["email_verified"] is True
    status, _, profile = me(claims)
    assert status == 200
    assert profile["email"] == ADA and profile["name"] == "Ada" and profile["email_verified"] is True
    assert set(profile) == {"user_id", "email", "email_verified", "name", "created_at"}
    assert profile["user_id"] == claims["sub"]


def test_unknown_email_and_wrong_password_get_the_same_body(account):
    wrong = login(password="Wrong-Password-99!")
    unknown = login(email="nobody@example.com")
    assert wrong[0] == unknown[0] == 401
    assert wrong[2] == unknown[2] and wrong[2]["code"] == "invalid_credentials"


def test_unverified_account_is_refused_only_after_the_password_is_checked(aws):
    invoke(handle_register, api_event("register", {"email": ADA, "password": PASSWORD}))
    assert login()[2]["code"] == "email_not_verified"
    assert login(password="Wrong-Password-99!")[2]["code"] == "invalid_credentials"


def test_lockout_refuses_even_the_right_password_and_looks_the_same_for_unknown_addresses(account, monkeypatch):
    for address in (ADA, "nobody@example.com"):
        for _ in range(5):
            assert login(email=address, password="Wrong-Password-99!")[0] == 401
        status, headers, body = login(email=address)
        assert (status, body["code"]) == (429, "rate_limited")
        assert 0 < int(headers["Retry-After"]) <= 900


def test_lockout_ends_with_its_window(account):
    with time_machine.travel("2026-03-01 10:00:00+00:00", tick=False) as traveller:
        for _ in range(5):
            login(password="Wrong-Password-99!")
        assert login()[0] == 429
        traveller.shift(900)
        assert login()[0] == 200


def test_refresh_rotates_and_reuse_revokes_the_whole_family(account):
    first = login()[2]["refresh_token"]
    status, _, second = refresh(first)
    assert status == 200 and second["refresh_token"] != first
    third = refresh(second["refresh_token"])[2]["refresh_token"]
    # Replaying the first (rotated) token is reuse: refused, and the live token of the family dies too.
    assert refresh(first)[2]["code"] == "invalid_grant"
    assert refresh(third)[2]["code"] == "invalid_grant"
    # Another session (family) of the same user is untouched.
    other = login()[2]["refresh_token"]
    assert refresh(other)[0] == 200


def test_concurrent_refreshes_of_one_token_succeed_at_most_once(account):
    token = login()[2]["refresh_token"]
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda: statuses.append(refresh(token)[0])) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(200) <= 1 and statuses.count(401) >= 5


def test_refresh_token_expires_after_its_lifetime(account):
    with time_machine.travel("2026-03-01 10:00:00+00:00", tick=False) as traveller:
        token = login()[2]["refresh_token"]
        traveller.shift(7 * 24 * 3600)
        assert refresh(token)[2]["code"] == "invalid_grant"


def test_logout_revokes_the_family_and_always_answers_204(account):
    token = login()[2]["refresh_token"]
    rotated = refresh(token)[2]["refresh_token"]
    for presented in (token, "unknown-" + "x" * 43, token):
        status, headers, body = invoke(handle_session, api_event("logout", {"refresh_token": presented}))
        assert status == 204 and body is None
    assert refresh(rotated)[2]["code"] == "invalid_grant"


def test_me_refuses_claims_of_a_user_that_does_not_exist(account):
    claims = verified_claims(login()[2]["access_token"])
    claims["sub"] = "someone-else"
    status, headers, body = me(claims)
    assert (status, body["code"]) == (401, "unauthorized")


def test_key_set_and_discovery_document(account):
    status, _, key_set = invoke(handle_session, api_event("jwks"))
    assert status == 200 and key_set["keys"][0]["alg"] == "RS256"
    assert not {"d", "p", "q"} & set(key_set["keys"][0])
    status, _, discovery = invoke(handle_session, api_event("openid_configuration"))
    assert discovery["issuer"] == "https://api.example.com"
    assert discovery["jwks_uri"] == "https://api.example.com/.well-known/jwks.json"


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


def test_hash_is_upgraded_on_login_when_parameters_change(account, monkeypatch):
    import boto3

    from accounts import services, settings

    before = boto3.client("dynamodb").get_item(TableName="accounts-test", Key={"pk": {"S": f"USER#{ADA}"}})["Item"]
    monkeypatch.setenv("ARGON2_TIME_COST", "2")
    settings.get_settings.cache_clear()
    services.get_services.cache_clear()
    assert login()[0] == 200
    after = boto3.client("dynamodb").get_item(TableName="accounts-test", Key={"pk": {"S": f"USER#{ADA}"}})["Item"]
    assert "t=1" in before["password_hash"]["S"] and "t=2" in after["password_hash"]["S"]
    assert login()[0] == 200
