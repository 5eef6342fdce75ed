"""The two-factor routes (MfaFunction) and POST /v1/auth/login/mfa (LoginFunction) through the real
handlers on moto, with events/mfa_*.json and events/login_mfa.json carrying the claims the JWT
authorizer would pass on."""

from __future__ import annotations

import boto3
import handle_login
import handle_mfa
import handle_session
import pyotp
import pytest
import time_machine

from accounts import clock
from tests.handlers.conftest import PASSWORD, TABLE, api_event, drain_emails, invoke, verified_account
from tests.handlers.test_sessions import user_partition, verified_claims

ADA = "ada@example.com"


def log_in(password: str = PASSWORD) -> tuple[int, dict, dict]:
    status, headers, body = invoke(handle_login, api_event("login", {"email": ADA, "password": password}))
    return status, headers, body


def call(name: str, claims: dict, body=None, raw_body: str | None = None):
    event = api_event(name, body, raw_body=raw_body)
    event["requestContext"]["authorizer"]["jwt"]["claims"] = claims
    return invoke(handle_mfa, event)


@pytest.fixture
def ada(aws) -> dict:
    """ADA, verified and logged in: the claims of her access token."""
    verified_account(aws, ADA)
    status, _, body = log_in()
    assert status == 200
    return verified_claims(body["access_token"])


def enrol_and_confirm(claims: dict) -> tuple[str, list[str]]:
    status, _, body = call("mfa_totp_enrol", claims, {})
    assert status == 200, body
    secret = body["secret"]
    status, _, body = call("mfa_totp_confirm", claims, {"code": pyotp.TOTP(secret).at(clock.now())})
    assert status == 200, body
    return secret, body["recovery_codes"]


def second_step(body: dict) -> tuple[int, dict, dict]:
    return invoke(handle_login, api_event("login_mfa", body))


# --- enrolment -----------------------------------------------------------------------------------


def test_enrol_confirm_and_the_notice(aws, ada):
    status, headers, body = call("mfa_totp_enrol", ada, {})
    assert status == 200 and set(body) == {"secret", "otpauth_uri"}
    assert headers["Cache-Control"] == "no-store"
    assert body["otpauth_uri"].startswith("otpauth://totp/Example%20Accounts:ada%40example.com?secret=")
    status, _, answer = call("mfa_totp_confirm", ada, {"code": pyotp.TOTP(body["secret"]).at(clock.now())})
    assert status == 200 and len(answer["recovery_codes"]) == 10
    [notice] = drain_emails(aws["queue_url"])
    assert notice["to"] == [ADA] and "Two-factor authentication is on" in notice["subject"]
    me = api_event("me")
    me["requestContext"]["authorizer"] = {"jwt": {"claims": ada}}
    assert invoke(handle_session, me)[2]["mfa_enabled"] is True
    # Enrolling again while active: 409, and the secret is never answered again.
    status, _, problem = call("mfa_totp_enrol", ada, {})
    assert (status, problem["code"]) == (409, "mfa_already_enabled")
    assert body["secret"] not in str(problem)
    status, _, problem = call("mfa_totp_confirm", ada, {"code": "123456"})
    assert (status, problem["code"]) == (409, "mfa_already_enabled")


@pytest.mark.parametrize("body", [{"code": "12345"}, {"code": "abcdef"}, {"code": 123456}, {}, {"code": "123456", "x": 1}])
def test_confirm_refuses_malformed_codes_with_422(ada, body):
    status, _, problem = call("mfa_totp_confirm", ada, body)
    assert (status, problem["code"]) == (422, "validation_failed")


def test_a_wrong_confirm_code_is_401_invalid_mfa_code_with_a_bearer_challenge(ada):
    call("mfa_totp_enrol", ada, {})
    status, headers, problem = call("mfa_totp_confirm", ada, {"code": "000000"})
    assert (status, problem["code"]) == (401, "invalid_mfa_code")
    assert headers["WWW-Authenticate"] == "Bearer"  # the token was fine: a challenge without an error


@pytest.mark.parametrize("name", ["mfa_totp_enrol", "mfa_totp_confirm", "mfa_totp_remove"])
def test_every_route_refuses_a_revoked_session(aws, ada, name):
    from accounts.services import get_services

    get_services().repo.delete_session(ada["sub"], ada["sid"])
    body = {"mfa_totp_enrol": {}, "mfa_totp_confirm": {"code": "123456"},
            "mfa_totp_remove": {"password": PASSWORD, "code": "123456"}}[name]
    status, headers, problem = call(name, ada, body)
    assert (status, problem["code"]) == (401, "unauthorized") and "WWW-Authenticate" in headers


# --- removal -------------------------------------------------------------------------------------


def test_remove_needs_password_and_code_then_sends_the_notice(aws, ada):
    secret, _ = enrol_and_confirm(ada)
    drain_emails(aws["queue_url"])
    later = pyotp.TOTP(secret).at(clock.now() + 30)
    status, headers, problem = call("mfa_totp_remove", ada, {"password": "Wrong-Password-99!", "code": later})
    assert (status, problem["code"], headers["WWW-Authenticate"]) == (401, "invalid_credentials", "Bearer")
    status, headers, problem = call("mfa_totp_remove", ada, {"password": PASSWORD, "code": "000000"})
    assert (status, problem["code"], headers["WWW-Authenticate"]) == (401, "invalid_mfa_code", "Bearer")
    status, _, problem = call("mfa_totp_remove", ada, {"password": PASSWORD})
    assert (status, problem["code"]) == (422, "validation_failed")
    status, _, body = call("mfa_totp_remove", ada, {"password": PASSWORD, "code": later})
    assert status == 204 and body is None
    assert user_partition(ada["sub"], "MFA#") == []
    [notice] = drain_emails(aws["queue_url"])
    assert "turned off" in notice["subject"]
    types = [item["type"]["S"] for item in user_partition(ada["sub"], "EVENT#")]
    assert types[-2:] == ["mfa_failed", "mfa_disabled"]


# --- login with a second factor ------------------------------------------------------------------


def test_login_answers_mfa_required_then_login_mfa_issues_tokens_with_amr_otp(aws, ada):
    secret, codes = enrol_and_confirm(ada)
    status, headers, problem = log_in()
    assert (status, problem["code"]) == (401, "mfa_required") and "access_token" not in problem
    assert headers["Content-Type"] == "application/problem+json" and "RateLimit-Limit" in headers
    token = problem["mfa_token"]
    with time_machine.travel(clock.now() + 30, tick=False):
        status, headers, body = second_step({"mfa_token": token, "code": pyotp.TOTP(secret).now()})
        assert status == 200, body
        assert verified_claims(body["access_token"])["amr"] == ["pwd", "otp"]
    assert headers["RateLimit-Limit"] == "30"  # RATE_LIMIT_TOKEN_PER_IP
    # The token worked once.
    status, headers, problem = second_step({"mfa_token": token, "recovery_code": codes[0]})
    assert (status, problem["code"]) == (401, "invalid_mfa_code") and "RateLimit-Remaining" in headers


def test_login_mfa_with_a_recovery_code_works_once(aws, ada):
    _, codes = enrol_and_confirm(ada)
    status, _, _body = second_step({"mfa_token": log_in()[2]["mfa_token"], "recovery_code": codes[2]})
    assert status == 200
    status, _, problem = second_step({"mfa_token": log_in()[2]["mfa_token"], "recovery_code": codes[2]})
    assert (status, problem["code"]) == (401, "invalid_mfa_code")


@pytest.mark.parametrize("body", [
    {"mfa_token": "x", "code": "123456", "recovery_code": "abcd-efgh-ijkm-npqr"},
    {"mfa_token": "x"},
    {"code": "123456"},
    {"mfa_token": "x", "code": "1234567"},
])
def test_login_mfa_refuses_bodies_that_are_not_one_token_and_one_code(aws, body):
    status, headers, problem = second_step(body)
    assert (status, problem["code"]) == (422, "validation_failed") and "RateLimit-Limit" in headers


def test_login_mfa_is_rate_limited_per_ip(aws, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_TOKEN_PER_IP", "2/60")
    from accounts import services, settings

    settings.get_settings.cache_clear()
    services.get_services.cache_clear()
    answers = [second_step({"mfa_token": "nope" * 10, "code": "123456"}) for _ in range(3)]
    assert [a[0] for a in answers] == [401, 401, 429]
    assert answers[2][1]["RateLimit-Remaining"] == "0" and "Retry-After" in answers[2][1]


def test_login_mfa_items_are_small(aws, ada):
    enrol_and_confirm(ada)
    log_in()
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    assert max(len(str(item)) for item in items) < 1024
