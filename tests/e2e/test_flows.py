"""Every flow over HTTP against the local server, reading links from /_local/emails."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.e2e.conftest import Mailbox

pytestmark = pytest.mark.e2e

PASSWORD = "Correct-Horse-Battery-9"
NEW_PASSWORD = "Brand-New-Passw0rd!"


def address() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def post(base: str, path: str, body: dict, **kwargs) -> requests.Response:
    return requests.post(f"{base}{path}", json=body, timeout=30, **kwargs)


def verified_account(base: str, mailbox: Mailbox, email: str, password: str = PASSWORD) -> None:
    assert post(base, "/v1/auth/register", {"email": email, "password": password, "name": "Ada"}).status_code == 202
    token = mailbox.token(email, "/verify-email")
    assert post(base, "/v1/auth/verify-email", {"token": token}).json() == {"email_verified": True}


def login(base: str, email: str, password: str = PASSWORD) -> requests.Response:
    return post(base, "/v1/auth/login", {"email": email, "password": password})


def test_register_verify_login_me_refresh_logout(local_server, mailbox):
    email = address()
    response = post(local_server, "/v1/auth/register", {"email": email.upper(), "password": PASSWORD, "name": "Ada"})
    assert response.status_code == 202 and response.headers["Cache-Control"] == "no-store"
    message = mailbox.wait_for(email)
    assert message["to"] == [email.upper().split("@")[0] + "@example.com"]  # typed local part kept for display
    token = mailbox.token(email, "/verify-email")
    assert post(local_server, "/v1/auth/verify-email", {"token": token}).status_code == 200
    assert "welcome" in mailbox.wait_for(email, count=2)["subject"].lower()

    tokens = login(local_server, email).json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
    me = requests.get(f"{local_server}/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"},
                      timeout=10)
    assert me.status_code == 200 and me.json()["email_verified"] is True and me.json()["name"] == "Ada"

    rotated = post(local_server, "/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}).json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    # A second tab presenting the same token within the reuse grace gets the same new pair.
    again = post(local_server, "/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 200 and again.json()["refresh_token"] == rotated["refresh_token"]

    # Logout ends the session: its refresh token and its access token stop working at once.
    assert post(local_server, "/v1/auth/logout", {"refresh_token": rotated["refresh_token"]}).status_code == 204
    assert post(local_server, "/v1/auth/refresh", {"refresh_token": rotated["refresh_token"]}).status_code == 401
    revoked = requests.get(f"{local_server}/v1/auth/me", timeout=10,
                           headers={"Authorization": f"Bearer {rotated['access_token']}"})
    assert (revoked.status_code, revoked.json()["code"]) == (401, "unauthorized")
    assert post(local_server, "/v1/auth/logout", {"refresh_token": rotated["refresh_token"]}).status_code == 204


def test_password_reset_flow(local_server, mailbox):
    email = address()
    verified_account(local_server, mailbox, email)
    old_session = login(local_server, email).json()
    assert post(local_server, "/v1/auth/password-reset", {"email": email}).status_code == 202
    token = mailbox.token(email, "/reset-password", subject_contains="reset")
    weak = post(local_server, "/v1/auth/password-reset/confirm", {"token": token, "password": "short"})
    assert (weak.status_code, weak.json()["code"]) == (422, "weak_password")
    done = post(local_server, "/v1/auth/password-reset/confirm", {"token": token, "password": NEW_PASSWORD})
    assert done.json() == {"password_changed": True}
    assert login(local_server, email).json()["code"] == "invalid_credentials"
    assert login(local_server, email, NEW_PASSWORD).status_code == 200
    refused = post(local_server, "/v1/auth/refresh", {"refresh_token": old_session["refresh_token"]})
    assert refused.json()["code"] == "invalid_grant"
    assert "changed" in mailbox.wait_for(email, subject_contains="changed")["subject"].lower()
    again = post(local_server, "/v1/auth/password-reset/confirm", {"token": token, "password": "Another-Passw0rd!"})
    assert again.json()["code"] == "invalid_token"


def test_answers_do_not_tell_whether_an_address_exists(local_server, mailbox):
    known = address()
    verified_account(local_server, mailbox, known)
    unknown = address()
    # Register last: it creates the unknown address's account.
    for path, body in [
        ("/v1/auth/verify-email/resend", {}),
        ("/v1/auth/password-reset", {}),
        ("/v1/auth/register", {"password": PASSWORD}),
    ]:
        answers = [post(local_server, path, {"email": email, **body}) for email in (known, unknown)]
        assert answers[0].status_code == answers[1].status_code == 202
        assert answers[0].content == answers[1].content, path
    wrong = login(local_server, known, "Wrong-Password-99!")
    missing = login(local_server, unknown, "Wrong-Password-99!")
    assert wrong.status_code == missing.status_code == 401 and wrong.content == missing.content
    # The owner of the known address hears about the sign-up attempt; nobody else gets mail.
    assert "tried to sign up" in mailbox.wait_for(known, subject_contains="sign up")["subject"]
    assert [m for m in mailbox.list(unknown) if "reset" in m["subject"].lower()] == []


def test_login_lockout_answers_429_with_retry_after(local_server, mailbox):
    email = address()
    verified_account(local_server, mailbox, email)
    for _ in range(5):
        assert login(local_server, email, "Wrong-Password-99!").status_code == 401
    locked = login(local_server, email)
    assert (locked.status_code, locked.json()["code"]) == (429, "rate_limited")
    assert 0 < int(locked.headers["Retry-After"]) <= 900
    # An unknown address locks the same way, so lockout tells nothing about existence.
    stranger = address()
    for _ in range(5):
        login(local_server, stranger, "Wrong-Password-99!")
    assert login(local_server, stranger).status_code == 429


def test_rate_limits_answer_429_with_retry_after_and_ratelimit_headers(start_local_server):
    base = start_local_server({"RATE_LIMIT_REGISTER_PER_IP": "2/3600", "RATE_LIMIT_TOKEN_PER_IP": "2/60"})
    first = post(base, "/v1/auth/register", {"email": address(), "password": PASSWORD})
    assert first.headers["RateLimit-Limit"] == "2" and first.headers["RateLimit-Remaining"] == "1"
    post(base, "/v1/auth/register", {"email": address(), "password": PASSWORD})
    limited = post(base, "/v1/auth/register", {"email": address(), "password": PASSWORD})
    assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")
    assert 0 < int(limited.headers["Retry-After"]) <= 3600 and limited.headers["RateLimit-Remaining"] == "0"
    for _ in range(2):
        post(base, "/v1/auth/verify-email", {"token": "x" * 43})
    assert post(base, "/v1/auth/verify-email", {"token": "x" * 43}).status_code == 429
    # Refresh is not limited per IP (its token is unguessable; API Gateway throttling caps floods).
    assert {post(base, "/v1/auth/refresh", {"refresh_token": "x" * 43}).status_code for _ in range(3)} == {401}


def test_email_limit_per_address_is_silent(start_local_server):
    base = start_local_server({"RATE_LIMIT_EMAIL_PER_ADDRESS": "1/3600"})
    mailbox = Mailbox(base)
    email = address()
    post(base, "/v1/auth/register", {"email": email, "password": PASSWORD})
    mailbox.wait_for(email)
    resend = post(base, "/v1/auth/verify-email/resend", {"email": email})
    assert resend.status_code == 202
    with pytest.raises(AssertionError):
        mailbox.wait_for(email, count=2, timeout=1.5)


def test_bad_input_gets_problem_responses_not_500(local_server):
    cases = [
        (dict(data="{oops", headers={"content-type": "application/json"}), 400, "malformed_request"),
        (dict(data="[]", headers={"content-type": "application/json"}), 400, "malformed_request"),
        (dict(data="email=a", headers={"content-type": "application/x-www-form-urlencoded"}), 415,
         "unsupported_media_type"),
        (dict(json={"email": "a@example.com", "password": "x" * 20000}), 413, "payload_too_large"),
        (dict(json={"email": "a@example.com", "password": PASSWORD, "is_admin": True}), 422, "validation_failed"),
        (dict(json={"email": 5}), 422, "validation_failed"),
    ]
    for kwargs, status, code in cases:
        response = requests.post(f"{local_server}/v1/auth/register", timeout=10, **kwargs)
        assert (response.status_code, response.json()["code"]) == (status, code), kwargs
        assert response.headers["Content-Type"].startswith("application/problem+json")
    unknown = requests.get(f"{local_server}/v1/auth/nothing-here", timeout=10)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    expired = post(local_server, "/v1/auth/verify-email", {"token": "A" * 43})
    assert expired.json()["code"] == "invalid_token"


def test_cleanup_can_be_triggered(start_local_server):
    base = start_local_server({"UNVERIFIED_ACCOUNT_TTL_DAYS": "0"})
    email = address()
    post(base, "/v1/auth/register", {"email": email, "password": PASSWORD})
    Mailbox(base).wait_for(email)
    result = requests.post(f"{base}/_local/cleanup", timeout=30).json()
    assert result["deleted"] >= 1 and result["finished"] is True
    # The account is gone: its pending password no longer gets "email_not_verified".
    assert login(base, email).json()["code"] == "invalid_credentials"
