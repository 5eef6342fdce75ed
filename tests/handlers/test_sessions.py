"""Login, refresh, logout, me and the key set through the real handlers, on moto, including the
races that only parallel Lambdas produce (threads here; moto applies each request atomically)."""

from __future__ import annotations

import boto3
import handle_login
import handle_session
import pytest
import time_machine

from tests.conftest import in_parallel
from tests.handlers.conftest import PASSWORD, TABLE, api_event, invoke, verified_account

ADA = "ada@example.com"
WRONG = "Wrong-Password-99!"


@pytest.fixture
def account(aws):
    """A verified account for ADA with PASSWORD."""
    verified_account(aws, ADA)
    return aws


def login(email: str = ADA, password: str = PASSWORD, ip: str = "198.51.100.7"):
    return invoke(handle_login, api_event("login", {"email": email, "password": password}, ip=ip,
                                            user_agent="Browser/1.0"))


def refresh(token: str):
    return invoke(handle_session, api_event("refresh", {"refresh_token": token}))


def logout(token: str):
    return invoke(handle_session, api_event("logout", {"refresh_token": token}))


def me(claims: dict):
    event = api_event("me")
    event["requestContext"]["authorizer"]["jwt"]["claims"] = claims
    return invoke(handle_session, event)


def verified_claims(access_token: str) -> dict:
    """What API Gateway's JWT authorizer would hand the function."""
    from accounts.jwt_keys import get_signing_keys, verify_access_token

    return verify_access_token(access_token, get_signing_keys(), issuer="https://api.example.com", audience="example-api")


def user_partition(user_id: str, prefix: str) -> list[dict]:
    return boto3.client("dynamodb").query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":pk": {"S": f"USER#{user_id}"}, ":prefix": {"S": prefix}},
    )["Items"]


def test_login_issues_tokens_of_a_new_session_and_me_returns_the_profile(account):
    status, _, body = login()
    assert status == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 900
    claims = verified_claims(body["access_token"])
    assert claims["email"] == ADA and claims["email_verified"] is True
    assert claims["amr"] == ["pwd"] and claims["client_id"] == "example-api"
    assert claims["scope"] == "openid profile email"
    [session] = user_partition(claims["sub"], "SESSION#")
    assert session["sk"]["S"] == f"SESSION#{claims['sid']}"
    assert session["ip"]["S"] == "198.51.100.7" and session["user_agent"]["S"] == "Browser/1.0"
    status, _, profile = me(claims)
    assert status == 200 and profile["user_id"] == claims["sub"]
    assert profile == {"user_id": claims["sub"], "email": ADA, "email_verified": True, "name": "Ada",
                       "created_at": profile["created_at"], "mfa_enabled": False, "roles": []}


def test_unknown_email_and_wrong_password_get_the_same_body(account):
    wrong, unknown = login(password=WRONG), login(email="nobody@example.com")
    assert wrong[0] == unknown[0] == 401
    assert wrong[2] == unknown[2] and wrong[2]["code"] == "invalid_credentials"


def test_unverified_account_is_refused_only_after_the_password_is_checked(aws):
    import handle_register

    invoke(handle_register, api_event("register", {"email": ADA, "password": PASSWORD}))
    assert login()[2]["code"] == "email_not_verified"
    assert login(password=WRONG)[2]["code"] == "invalid_credentials"


def test_a_disabled_user_cannot_log_in_refresh_or_use_me(account):
    tokens = login()[2]
    claims = verified_claims(tokens["access_token"])
    for key in ({"pk": {"S": f"EMAIL#{ADA}"}, "sk": {"S": "ACCOUNT"}},
                {"pk": {"S": f"USER#{claims['sub']}"}, "sk": {"S": "PROFILE"}}):
        boto3.client("dynamodb").update_item(TableName=TABLE, Key=key, UpdateExpression="SET disabled = :t",
                                             ExpressionAttributeValues={":t": {"BOOL": True}})
    assert login(password=WRONG)[2]["code"] == "invalid_credentials"  # the password is checked first
    assert login()[2]["code"] == "account_disabled" and login()[0] == 403
    assert refresh(tokens["refresh_token"])[2]["code"] == "invalid_grant"
    assert me(claims)[2]["code"] == "unauthorized"


def test_lockout_refuses_even_the_right_password_and_looks_the_same_for_unknown_addresses(account):
    for address in (ADA, "nobody@example.com"):
        for _ in range(5):
            assert login(email=address, password=WRONG)[0] == 401
        status, headers, body = login(email=address)
        assert (status, body["code"]) == (429, "rate_limited")
        assert 0 < int(headers["Retry-After"]) <= 900


def test_right_passwords_do_not_use_up_the_lockout_budget(account):
    for _ in range(4):
        assert login(password=WRONG)[0] == 401
    for _ in range(3):
        assert login()[0] == 200
    assert login(password=WRONG)[0] == 401  # the fifth failure
    assert login()[0] == 429


def test_a_login_refused_by_the_ip_limit_does_not_use_the_address_lockout_budget(account, monkeypatch):
    from accounts import services, settings

    monkeypatch.setenv("RATE_LIMIT_LOGIN_PER_IP", "2/60")
    settings.get_settings.cache_clear()
    services.get_services.cache_clear()
    assert [login(password=WRONG)[0] for _ in range(4)] == [401, 401, 429, 429]  # two checked, two refused
    other_ips = [login(password=WRONG, ip=f"203.0.113.{n}")[0] for n in range(4)]
    assert other_ips == [401, 401, 401, 429]  # the address had 3 of its 5 checks left


def test_parallel_wrong_passwords_verify_at_most_the_lockout_count(account, monkeypatch):
    from accounts.passwords import PasswordHasher

    checks: list[str] = []  # every argon2 verification, the dummy one for unknown addresses included
    real_verify = PasswordHasher.verify
    monkeypatch.setattr(PasswordHasher, "verify", lambda self, *a: checks.append("verify") or real_verify(self, *a))
    for address in (ADA, "nobody@example.com"):
        checks.clear()
        statuses = sorted(status for status, _, _ in in_parallel(10, lambda a=address: login(email=a, password=WRONG)))
        assert len(checks) == 5, f"{address}: {len(checks)} password checks for a lockout of 5"
        assert statuses == [401] * 5 + [429] * 5


def test_lockout_ends_with_its_window(account):
    with time_machine.travel("2026-03-01 10:00:00+00:00", tick=False) as traveller:
        for _ in range(5):
            login(password=WRONG)
        assert login()[0] == 429
        traveller.shift(900)
        assert login()[0] == 200


def test_refresh_rotates_within_one_session_and_late_reuse_revokes_it(account):
    with time_machine.travel("2026-03-01 10:00:00+00:00", tick=False) as traveller:
        first = login()[2]
        status, _, second = refresh(first["refresh_token"])
        assert status == 200 and second["refresh_token"] != first["refresh_token"]
        claims = verified_claims(second["access_token"])
        assert claims["sid"] == verified_claims(first["access_token"])["sid"]
        third = refresh(second["refresh_token"])[2]
        traveller.shift(11)  # past the 10 s reuse grace
        assert refresh(second["refresh_token"])[2]["code"] == "invalid_grant"  # reuse
        assert refresh(third["refresh_token"])[2]["code"] == "invalid_grant"  # the session is gone
        assert me(claims)[2]["code"] == "unauthorized"
        assert [e["type"]["S"] for e in user_partition(claims["sub"], "EVENT#")].count("refresh_reuse_detected") == 1
        other = login()[2]["refresh_token"]  # other sessions are untouched
        assert refresh(other)[0] == 200


def test_a_retried_refresh_within_the_grace_gets_the_same_pair_and_the_session_lives(account):
    with time_machine.travel("2026-03-01 10:00:00+00:00", tick=False) as traveller:
        first = login()[2]["refresh_token"]
        second = refresh(first)[2]
        traveller.shift(9)
        again = refresh(first)[2]
        assert again["refresh_token"] == second["refresh_token"]
        assert refresh(again["refresh_token"])[0] == 200


def test_parallel_refreshes_of_one_token_inside_the_grace_all_succeed_with_one_token(account):
    token = login()[2]["refresh_token"]
    answers = in_parallel(6, lambda: refresh(token))
    assert [status for status, _, _ in answers] == [200] * 6
    assert len({body["refresh_token"] for _, _, body in answers}) == 1
    assert refresh(answers[0][2]["refresh_token"])[0] == 200  # the session is alive


def test_parallel_refreshes_without_a_grace_revoke_the_session(account, monkeypatch):
    from accounts import services, settings

    monkeypatch.setenv("REFRESH_REUSE_GRACE_SECONDS", "0")
    settings.get_settings.cache_clear()
    services.get_services.cache_clear()
    token = login()[2]["refresh_token"]
    answers = in_parallel(6, lambda: refresh(token))
    assert sum(status == 200 for status, _, _ in answers) <= 1
    assert all(refresh(body["refresh_token"])[0] == 401 for status, _, body in answers if status == 200)


def test_refresh_token_expires_after_its_lifetime(account):
    with time_machine.travel("2026-03-01 10:00:00+00:00", tick=False) as traveller:
        token = login()[2]["refresh_token"]
        traveller.shift(7 * 24 * 3600)
        assert refresh(token)[2]["code"] == "invalid_grant"


@pytest.mark.parametrize("token", ["x" * 43, "A" * 92, "not a token at all"])
def test_forged_or_malformed_refresh_tokens_are_invalid_grants(account, token):
    status, _, body = refresh(token)
    assert (status, body["code"]) in {(401, "invalid_grant"), (422, "validation_failed")}


def test_logout_revokes_the_session_and_always_answers_204(account):
    first = login()[2]
    rotated = refresh(first["refresh_token"])[2]["refresh_token"]
    for presented in (first["refresh_token"], "unknown-" + "x" * 43, first["refresh_token"]):
        status, _, body = logout(presented)
        assert status == 204 and body is None
    assert refresh(rotated)[2]["code"] == "invalid_grant"
    assert me(verified_claims(first["access_token"]))[2]["code"] == "unauthorized"


@pytest.mark.parametrize("change", [{"sub": "0" * 32}, {"sid": "0" * 32}, {"sid": None}, {"sub": "not-hex"}])
def test_me_refuses_claims_that_name_no_live_session(account, change):
    claims = verified_claims(login()[2]["access_token"])
    claims.update(change)
    status, headers, body = me({k: v for k, v in claims.items() if v is not None})
    assert (status, body["code"]) == (401, "unauthorized")
    assert headers["WWW-Authenticate"].startswith("Bearer")


def test_key_set_and_discovery_document(account):
    status, _, key_set = invoke(handle_session, api_event("jwks"))
    assert status == 200 and key_set["keys"][0]["alg"] == "RS256"
    assert not {"d", "p", "q"} & set(key_set["keys"][0])
    status, _, discovery = invoke(handle_session, api_event("openid_configuration"))
    assert discovery["issuer"] == "https://api.example.com"
    assert discovery["jwks_uri"] == "https://api.example.com/.well-known/jwks.json"


def test_hash_is_upgraded_on_login_when_parameters_change(account, monkeypatch):
    from accounts import services, settings
    from tests.handlers.conftest import account_item

    before = account_item(ADA)["password_hash"]["S"]
    monkeypatch.setenv("ARGON2_TIME_COST", "2")
    settings.get_settings.cache_clear()
    services.get_services.cache_clear()
    assert login()[0] == 200
    after = account_item(ADA)["password_hash"]["S"]
    assert "t=1" in before and "t=2" in after
    assert login()[0] == 200
