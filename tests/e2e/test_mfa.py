"""TOTP two-factor over HTTP in local mode: enrol (the local JWT authorizer in front), log in with a
code, log in with a recovery code (which works once), the notices in /_local/emails, removal."""

from __future__ import annotations

import time

import jwt
import pyotp
import pytest
import requests

from tests.e2e.conftest import Mailbox
from tests.e2e.test_flows import PASSWORD, address, login, post, verified_account

pytestmark = pytest.mark.e2e


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def code(secret: str, steps_ahead: int = 0) -> str:
    """The authenticator's code, or the one it will show `steps_ahead` steps (30 s) later: the server
    accepts one step of drift, and a step later than the last one it accepted (a used code is refused)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def second_step(base: str, body: dict) -> requests.Response:
    return post(base, "/v1/auth/login/mfa", body)


def test_enrol_then_log_in_with_a_code_and_with_a_recovery_code_once(local_server, mailbox: Mailbox):
    email = address()
    verified_account(local_server, mailbox, email)
    tokens = login(local_server, email).json()

    refused = requests.post(f"{local_server}/v1/auth/mfa/totp", json={}, timeout=10)
    assert refused.status_code == 401  # the local JWT authorizer guards the route

    enrolment = requests.post(f"{local_server}/v1/auth/mfa/totp", json={}, headers=bearer(tokens), timeout=10)
    assert enrolment.status_code == 200, enrolment.text
    secret, uri = enrolment.json()["secret"], enrolment.json()["otpauth_uri"]
    assert uri.startswith("otpauth://totp/") and "issuer=" in uri
    confirming = code(secret)
    confirmed = requests.post(f"{local_server}/v1/auth/mfa/totp/confirm", json={"code": confirming},
                              headers=bearer(tokens), timeout=10)
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10
    assert "Two-factor authentication is on" in mailbox.wait_for(email, subject_contains="is on")["subject"]

    # The password alone no longer logs in.
    first = login(local_server, email)
    assert first.status_code == 401 and first.json()["code"] == "mfa_required"
    assert "access_token" not in first.json() and "RateLimit-Limit" in first.headers
    mfa_token = first.json()["mfa_token"]

    reused = second_step(local_server, {"mfa_token": mfa_token, "code": confirming})  # used already
    assert (reused.status_code, reused.json()["code"]) == (401, "invalid_mfa_code")
    done = second_step(local_server, {"mfa_token": mfa_token, "code": code(secret, steps_ahead=1)})
    assert done.status_code == 200, done.text
    claims = jwt.decode(done.json()["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd", "otp"]
    assert "RateLimit-Remaining" in done.headers
    again = second_step(local_server, {"mfa_token": mfa_token, "recovery_code": codes[9]})
    assert (again.status_code, again.json()["code"]) == (401, "invalid_mfa_code")  # the token worked once

    # A recovery code logs in once.
    via_recovery = second_step(local_server, {"mfa_token": login(local_server, email).json()["mfa_token"],
                                              "recovery_code": codes[0]})
    assert via_recovery.status_code == 200, via_recovery.text
    reused = second_step(local_server, {"mfa_token": login(local_server, email).json()["mfa_token"],
                                        "recovery_code": codes[0]})
    assert (reused.status_code, reused.json()["code"]) == (401, "invalid_mfa_code")

    # Removal: the password and a code (a recovery code, as with a lost phone); then the password alone
    # logs in again.
    session = done.json()
    removed = requests.delete(f"{local_server}/v1/auth/mfa/totp", headers=bearer(session), timeout=10,
                              json={"password": PASSWORD, "recovery_code": codes[1]})
    assert removed.status_code == 204, removed.text
    assert "turned off" in mailbox.wait_for(email, subject_contains="turned off")["subject"]
    assert login(local_server, email).status_code == 200
