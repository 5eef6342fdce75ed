"""Account self-service over HTTP in local mode (issue 9): change the password (other sessions end, the
current one stays), change the email (a link to the new address, a notice to the old one, login with
the new one), list and revoke sessions, delete the account and register the address again."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.conftest import Mailbox
from tests.e2e.test_flows import NEW_PASSWORD, PASSWORD, address, login, post, verified_account

pytestmark = pytest.mark.e2e


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def me(base: str, tokens: dict) -> requests.Response:
    return requests.get(f"{base}/v1/auth/me", headers=bearer(tokens), timeout=10)


def refresh(base: str, tokens: dict) -> requests.Response:
    return post(base, "/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]})


def send(base: str, method: str, path: str, tokens: dict | None, body: dict | None = None) -> requests.Response:
    headers = bearer(tokens) if tokens else {}
    return requests.request(method, f"{base}{path}", json=body, headers=headers, timeout=30)


@pytest.fixture
def account(local_server: str, mailbox: Mailbox) -> tuple[str, dict]:
    email = address()
    verified_account(local_server, mailbox, email)
    return email, login(local_server, email).json()


def test_change_password_ends_other_sessions_and_keeps_the_current_one(local_server, mailbox, account):
    email, mine = account
    other = login(local_server, email).json()
    wrong = send(local_server, "POST", "/v1/auth/password", mine,
                 {"current_password": "Wrong-Password-99!", "new_password": NEW_PASSWORD})
    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_credentials")
    changed = send(local_server, "POST", "/v1/auth/password", mine,
                   {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 200 and changed.json() == {"password_changed": True}
    assert me(local_server, mine).status_code == 200 and refresh(local_server, mine).status_code == 200
    assert me(local_server, other).status_code == 401 and refresh(local_server, other).status_code == 401
    assert login(local_server, email).status_code == 401
    assert login(local_server, email, NEW_PASSWORD).status_code == 200
    mailbox.wait_for(email, subject_contains="password was changed")
    events = send(local_server, "GET", "/v1/auth/me/events", mine).json()["events"]
    assert "password_changed" in [event["type"] for event in events]


def test_change_email_links_the_new_address_notifies_the_old_and_logs_in_with_the_new(
        local_server, mailbox, account):
    email, tokens = account
    new = address()
    started = send(local_server, "POST", "/v1/auth/email", tokens, {"new_email": new, "password": PASSWORD})
    assert started.status_code == 202
    token = mailbox.token(new, "/confirm-email")
    confirmed = post(local_server, "/v1/auth/email/confirm", {"token": token})  # no bearer token needed
    assert confirmed.status_code == 200 and confirmed.json()["email"] == new
    assert "RateLimit-Limit" in confirmed.headers
    mailbox.wait_for(email, subject_contains="address of your")
    assert me(local_server, tokens).json()["email"] == new  # same user, same session
    assert login(local_server, new).status_code == 200
    assert login(local_server, email).status_code == 401
    again = post(local_server, "/v1/auth/email/confirm", {"token": token})
    assert (again.status_code, again.json()["code"]) == (400, "invalid_token")


def test_list_and_revoke_sessions(local_server, account):
    email, mine = account
    other = login(local_server, email).json()
    listed = send(local_server, "GET", "/v1/auth/sessions", mine)
    assert listed.status_code == 200
    sessions = listed.json()["sessions"]
    assert len(sessions) == 2 and sum(session["current"] for session in sessions) == 1
    theirs = next(session["session_id"] for session in sessions if not session["current"])
    revoked = send(local_server, "DELETE", f"/v1/auth/sessions/{theirs}", mine)
    assert revoked.status_code == 204
    assert refresh(local_server, other).status_code == 401
    assert [s["current"] for s in send(local_server, "GET", "/v1/auth/sessions", mine).json()["sessions"]] == [True]
    assert send(local_server, "DELETE", f"/v1/auth/sessions/{'0' * 32}", mine).status_code == 204
    # Without a token the local JWT authorizer refuses, as API Gateway's would.
    assert send(local_server, "GET", "/v1/auth/sessions", None).status_code == 401


def test_delete_the_account_and_register_the_address_again(local_server, mailbox, account):
    email, tokens = account
    renamed = send(local_server, "PATCH", "/v1/auth/me", tokens, {"name": "Ada King"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Ada King"
    deleted = send(local_server, "DELETE", "/v1/auth/me", tokens, {"password": PASSWORD})
    assert deleted.status_code == 204
    assert me(local_server, tokens).status_code == 401 and refresh(local_server, tokens).status_code == 401
    assert login(local_server, email).status_code == 401
    mailbox.wait_for(email, subject_contains="deleted")
    verified_account(local_server, mailbox, email)
    fresh = login(local_server, email).json()
    assert me(local_server, fresh).json()["name"] == "Ada"
