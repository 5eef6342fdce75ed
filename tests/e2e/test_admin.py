"""The admin API over HTTP in local mode: the first admin granted with `make admin` (the Makefile's
own recipe, against the running server), the scope checked by the local JWT authorizer, a user
disabled and enabled, reminders arriving in /_local/emails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.conftest import MAKE_INSTALL_STAMP, REPO_ROOT, Mailbox
from tests.e2e.test_flows import PASSWORD, address, login, post, verified_account

pytestmark = pytest.mark.e2e


def make_admin(base: str, email: str) -> subprocess.CompletedProcess[str]:
    """`make admin EMAIL=... PORT=...` with this interpreter's environment and without its install step."""
    port = str(urlsplit(base).port)
    command = ["make", "--no-print-directory", "-o", MAKE_INSTALL_STAMP, "admin", f"EMAIL={email}", f"PORT={port}",
               f"BIN={Path(sys.executable).parent}"]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def me(base: str, tokens: dict) -> requests.Response:
    return requests.get(f"{base}/v1/auth/me", headers=bearer(tokens), timeout=10)


@pytest.fixture(scope="module")
def admin_tokens(local_server: str) -> dict:
    """A verified user made admin with `make admin`, logged in again: the token carries the scope."""
    email = address()
    verified_account(local_server, Mailbox(local_server), email)
    before = login(local_server, email).json()
    result = make_admin(local_server, email)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "admin role granted" in result.stdout
    # The token issued before the grant has no admin scope: the local authorizer refuses it (403).
    refused = requests.get(f"{local_server}/v1/admin/users/{email}", headers=bearer(before), timeout=10)
    assert (refused.status_code, refused.json()["code"]) == (403, "insufficient_scope")
    tokens = login(local_server, email).json()
    assert tokens["access_token"]
    return tokens


def test_make_admin_refuses_unknown_addresses_and_needs_a_running_server(local_server):
    result = make_admin(local_server, address())
    assert result.returncode != 0 and "No account has this email address" in result.stderr
    assert make_admin("http://127.0.0.1:9", "ada@example.com").returncode != 0


def test_admin_routes_refuse_missing_and_non_admin_tokens(local_server, mailbox):
    email = address()
    verified_account(local_server, mailbox, email)
    user = login(local_server, email).json()
    missing = requests.get(f"{local_server}/v1/admin/users/{email}", timeout=10)
    assert (missing.status_code, missing.json()["code"]) == (401, "unauthorized")
    for method, path in [("GET", f"/v1/admin/users/{email}"), ("POST", "/v1/admin/verification-reminders")]:
        answer = requests.request(method, f"{local_server}{path}", headers=bearer(user), json={}, timeout=10)
        assert (answer.status_code, answer.json()["code"]) == (403, "insufficient_scope"), path
        assert answer.headers["Content-Type"] == "application/problem+json"


def test_disable_stops_the_users_refresh_and_enable_restores_it(local_server, mailbox, admin_tokens):
    email = address()
    verified_account(local_server, mailbox, email)
    user = login(local_server, email).json()
    found = requests.get(f"{local_server}/v1/admin/users/{email}", headers=bearer(admin_tokens), timeout=10)
    assert found.status_code == 200 and found.json()["active_sessions"] == 1
    user_id = found.json()["user_id"]

    disabled = post(local_server, f"/v1/admin/users/{user_id}/disable", {}, headers=bearer(admin_tokens))
    assert disabled.json() == {"user_id": user_id, "disabled": True}
    refused = post(local_server, "/v1/auth/refresh", {"refresh_token": user["refresh_token"]})
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_grant")
    assert me(local_server, user).status_code == 401
    assert login(local_server, email).json()["code"] == "account_disabled"

    enabled = post(local_server, f"/v1/admin/users/{user_id}/enable", {}, headers=bearer(admin_tokens))
    assert enabled.json() == {"user_id": user_id, "disabled": False}
    assert me(local_server, user).status_code == 200
    assert post(local_server, "/v1/auth/refresh", {"refresh_token": user["refresh_token"]}).status_code == 200

    revoked = post(local_server, f"/v1/admin/users/{user_id}/sessions/revoke", {}, headers=bearer(admin_tokens))
    assert revoked.status_code == 204
    assert me(local_server, user).status_code == 401
    unknown = post(local_server, f"/v1/admin/users/{'0' * 32}/disable", {}, headers=bearer(admin_tokens))
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")


def test_reminders_arrive_in_the_local_mailbox_once(local_server, mailbox, admin_tokens):
    pending = [address() for _ in range(2)]
    for email in pending:
        assert post(local_server, "/v1/auth/register", {"email": email, "password": PASSWORD}).status_code == 202
        mailbox.wait_for(email)
    answer = post(local_server, "/v1/admin/verification-reminders", {"emails": [*pending, address()]},
                  headers=bearer(admin_tokens))
    assert (answer.status_code, answer.json()) == (202, {"queued": 2, "more": False})
    for email in pending:
        reminder = mailbox.wait_for(email, count=2)
        assert "reminder" in reminder["subject"].lower()
        token = mailbox.token(email, "/verify-email", count=2)
        assert post(local_server, "/v1/auth/verify-email", {"token": token}).status_code == 200
    again = post(local_server, "/v1/admin/verification-reminders", {"emails": pending}, headers=bearer(admin_tokens))
    assert again.json() == {"queued": 0, "more": False}
    capped = post(local_server, "/v1/admin/verification-reminders",
                  {"emails": [f"u{n}@x.io" for n in range(101)]}, headers=bearer(admin_tokens))
    assert (capped.status_code, capped.json()["code"]) == (422, "validation_failed")
    assert "at most 100" in capped.json()["errors"][0]["message"]
