"""The login of a user with TOTP (accounts.flows.login): the password step's 401 mfa_required and
the second step (`complete_mfa`), on the real repository and moto."""

from __future__ import annotations

import pytest
import time_machine

from accounts import clock, tokens
from accounts.emails import parse_address
from accounts.errors import AccountDisabled, InvalidCredentials, InvalidMfaCode, MfaRequired, RateLimited
from accounts.flows import login, mfa
from tests.conftest import in_parallel
from tests.fakes import START
from tests.unit.flow_helpers import (
    ADA,
    CLIENT,
    KEYS,
    PASSWORD,
    WRONG,
    claims_of,
    event_types,
    item_keys,
    log_in,
    sessions_of,
    set_on_both,
    table_items,
)
from tests.unit.flow_helpers import clock as clock_of
from tests.unit.mfa_helpers import app_code, enrolled

pytestmark = pytest.mark.usefixtures("table")


def password_step(services, password: str = PASSWORD) -> str:
    """The first step; the mfa_token of its 401 mfa_required."""
    with pytest.raises(MfaRequired) as raised:
        log_in(services, password=password)
    error = raised.value
    assert error.status == 401 and error.code == "mfa_required"
    return error.extra["mfa_token"]


def second_step(services, token: str, *, code: str | None = None, recovery_code: str | None = None):
    issued, _ = login.complete_mfa(services, KEYS, mfa_token=token, code=code, recovery_code=recovery_code,
                                   client=CLIENT)
    return issued


# --- the password step ---------------------------------------------------------------------------


def test_the_right_password_answers_mfa_required_with_a_token_and_no_session(services, mailer):
    user = enrolled(services, mailer)
    before = len(sessions_of(user.user_id))
    token = password_step(services)
    assert token.startswith(user.user_id) and len(token) == 75
    assert len(sessions_of(user.user_id)) == before  # no tokens, no session yet
    [challenge] = [item for item in table_items() if item["pk"]["S"].startswith("MFA#")]
    assert challenge["pk"]["S"] == f"MFA#{tokens.hash_token(token)}"  # only the hash is stored
    assert token not in str(challenge)
    assert int(challenge["expires_at"]["N"]) == int(challenge["ttl"]["N"]) == START + 300


def test_a_wrong_password_is_still_invalid_credentials(services, mailer):
    enrolled(services, mailer)
    with pytest.raises(InvalidCredentials):
        log_in(services, password=WRONG)
    assert item_keys("MFA#") == []


# --- the second step -----------------------------------------------------------------------------


def test_a_current_code_completes_the_login_with_amr_pwd_otp(services, mailer):
    user = enrolled(services, mailer)
    clock_of(services).advance(30)
    issued = second_step(services, password_step(services), code=app_code(user.secret, services.now()))
    claims = claims_of(services, issued)
    assert claims["amr"] == ["pwd", "otp"] and claims["sub"] == user.user_id
    session = next(s for s in sessions_of(user.user_id) if s.session_id == claims["sid"])
    assert session.amr == ["pwd", "otp"]
    assert event_types(user.user_id)[-1] == "login"
    assert item_keys("MFA#") == []  # the challenge is consumed


def test_a_recovery_code_completes_the_login_once(services, mailer):
    user = enrolled(services, mailer)
    code = user.recovery_codes[5]
    issued = second_step(services, password_step(services), recovery_code=code)
    assert claims_of(services, issued)["amr"] == ["pwd", "otp"]
    with pytest.raises(InvalidMfaCode):
        second_step(services, password_step(services), recovery_code=code)
    assert event_types(user.user_id)[-1] == "mfa_failed"
    second_step(services, password_step(services), recovery_code=user.recovery_codes[6])


def test_an_mfa_token_works_once(services, mailer):
    user = enrolled(services, mailer)
    token = password_step(services)
    second_step(services, token, code=app_code(user.secret, START, offset_steps=1))
    with pytest.raises(InvalidMfaCode):
        second_step(services, token, recovery_code=user.recovery_codes[0])


def test_a_failed_code_keeps_the_token_usable_for_a_retry(services, mailer):
    user = enrolled(services, mailer)
    token = password_step(services)
    with pytest.raises(InvalidMfaCode):
        second_step(services, token, code=app_code(user.secret, START, offset_steps=5))
    second_step(services, token, code=app_code(user.secret, START, offset_steps=1))


def test_a_reused_code_is_invalid_mfa_code(services, mailer):
    user = enrolled(services, mailer)
    code = app_code(user.secret, START, offset_steps=1)
    second_step(services, password_step(services), code=code)
    with pytest.raises(InvalidMfaCode):
        second_step(services, password_step(services), code=code)
    # The confirming code (step of START) is older than the last accepted step: refused too.
    with pytest.raises(InvalidMfaCode):
        second_step(services, password_step(services), code=app_code(user.secret, START))


def test_two_parallel_uses_of_one_code_let_one_login_through(services, mailer):
    user = enrolled(services, mailer)
    code = app_code(user.secret, START, offset_steps=1)
    tokens_ = [password_step(services) for _ in range(4)]
    outcomes = in_parallel(4, lambda: second_step(services, tokens_.pop(), code=code))
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1
    assert all(isinstance(o, InvalidMfaCode) for o in outcomes if isinstance(o, BaseException))


def test_parallel_uses_of_one_mfa_token_start_one_session(services, mailer):
    """As many parallel second steps with one mfa_token (each with its own recovery code) as the
    lockout admits at once (login_lockout: 5): exactly one starts a session, the others are 401.
    A sixth in flight could be 429 instead, by design: each attempt holds a lockout reservation."""
    user = enrolled(services, mailer)
    token = password_step(services)
    before = len(sessions_of(user.user_id))
    admitted = services.settings.login_lockout.count
    codes = list(user.recovery_codes[:admitted])
    outcomes = in_parallel(admitted, lambda: second_step(services, token, recovery_code=codes.pop()))
    kinds = sorted(type(outcome).__name__ for outcome in outcomes)
    assert kinds == ["InvalidMfaCode"] * (admitted - 1) + ["IssuedTokens"], [repr(o) for o in outcomes]
    assert len(sessions_of(user.user_id)) == before + 1


def test_the_mfa_token_expires_after_five_minutes(services, mailer):
    """Wall clock moved with time-machine: the flow reads it through accounts.clock."""
    user = enrolled(services, mailer)
    services.now = clock.now
    with time_machine.travel(START + 600, tick=False):
        token = password_step(services)
    with time_machine.travel(START + 600 + 299, tick=False):
        second_step(services, token, code=app_code(user.secret, clock.now()))
    with time_machine.travel(START + 1200, tick=False):
        token = password_step(services)
    with time_machine.travel(START + 1200 + 300, tick=False), pytest.raises(InvalidMfaCode):
        second_step(services, token, code=app_code(user.secret, clock.now()))


@pytest.mark.parametrize("token", ["", "x" * 75, "0" * 32 + "A" * 43, "not a token"])
def test_unknown_or_malformed_mfa_tokens_are_invalid_mfa_code(services, mailer, token):
    enrolled(services, mailer)
    with pytest.raises(InvalidMfaCode):
        second_step(services, token, code="123456")


def test_failed_codes_count_toward_the_address_lockout(services, mailer):
    user = enrolled(services, mailer)
    token = password_step(services)
    for _ in range(5):
        with pytest.raises(InvalidMfaCode):
            second_step(services, token, code="000000" if app_code(user.secret, START) != "000000" else "111111")
    with pytest.raises(RateLimited):  # locked: the right code is refused too, and so is the password
        second_step(services, token, code=app_code(user.secret, START, offset_steps=1))
    with pytest.raises(RateLimited):
        log_in(services)
    assert event_types(user.user_id)[-6:] == ["mfa_failed"] * 4 + ["mfa_failed", "locked_out"]


def test_a_successful_second_step_gives_its_reservation_back(services, mailer):
    user = enrolled(services, mailer)
    for offset in range(1, 8):  # more logins than the lockout's count: none of them counts
        second_step(services, password_step(services), code=app_code(user.secret, START, offset_steps=offset))
        clock_of(services).advance(30)
    counters = [i for i in table_items() if i["pk"]["S"].startswith("RATE#lockout#")]
    assert all(int(c["hits"]["N"]) == 0 for c in counters)


def test_a_user_disabled_between_the_steps_is_refused(services, mailer):
    user = enrolled(services, mailer)
    token = password_step(services)
    set_on_both(user.user_id, disabled=True)
    with pytest.raises(AccountDisabled):
        second_step(services, token, code=app_code(user.secret, START, offset_steps=1))


def test_the_second_step_uses_at_most_four_dynamodb_calls(services, mailer):
    from tests.unit.call_counter import dynamodb_calls

    user = enrolled(services, mailer)
    token = password_step(services)
    with dynamodb_calls() as calls:
        second_step(services, token, code=app_code(user.secret, START, offset_steps=1))
    assert len(calls) <= 4, calls
    assert sorted(calls) == sorted(["UpdateItem", "BatchGetItem", "UpdateItem", "TransactWriteItems"])


def test_login_without_totp_is_unchanged(services, mailer):
    from tests.unit.flow_helpers import verified_account

    verified_account(services, mailer, email="grace@example.com")
    issued, _ = login.login(services, KEYS, email=parse_address("grace@example.com"), password=PASSWORD,
                            client=CLIENT)
    assert claims_of(services, issued)["amr"] == ["pwd"]
    assert ADA not in str(item_keys("MFA#")) and mfa.OTP_AMR == "otp"
