"""TOTP two-factor (accounts.flows.mfa): the codes and their window, enrolment, confirmation,
removal and the notices, on the real repository and moto. The login's second step is in
test_login_mfa_flow.py."""

from __future__ import annotations

import io
import json
import logging
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
import time_machine

from accounts import clock
from accounts.email_jobs import EmailJob, JobKind
from accounts.errors import InvalidCredentials, InvalidMfaCode, MfaAlreadyEnabled, RateLimited, Unauthorized
from accounts.flows import mfa
from accounts.models import Account, User
from tests.conftest import in_parallel
from tests.fakes import START, make_services
from tests.unit.flow_helpers import (
    ADA,
    CLIENT,
    PASSWORD,
    WRONG,
    account,
    event_types,
    find_user,
    table_items,
)
from tests.unit.flow_helpers import clock as clock_of
from tests.unit.mfa_helpers import app_code, deliver_all, enrolled, signed_in

pytestmark = pytest.mark.usefixtures("table")


def mfa_items(user_id: str) -> list[dict]:
    return [item for item in table_items() if item["pk"]["S"] == f"USER#{user_id}" and item["sk"]["S"].startswith("MFA#")]


def item_size(item: dict) -> int:
    """An upper bound of DynamoDB's item size (names plus values, as JSON)."""
    return len(json.dumps(item))


# --- codes and their window (wall clock moved with time-machine) ---------------------------------


@pytest.mark.parametrize(
    ("device_offset", "accepted"),
    [(-60, False), (-31, False), (-30, True), (-1, True), (0, True), (29, True), (30, True), (59, True),
     (60, False), (90, False)],
)
def test_a_code_is_accepted_within_one_step_of_drift_either_way(device_offset, accepted):
    """The server's clock sits at the start of a step; the authenticator app's clock is off by
    `device_offset` seconds: its code is accepted while it belongs to the previous, current or next step."""
    secret = mfa.new_secret()
    server_time = START + 15 * 30  # START is a whole step boundary
    with time_machine.travel(server_time + device_offset, tick=False):
        code = pyotp.TOTP(secret).now()  # what the device shows
    with time_machine.travel(server_time, tick=False):
        step = mfa.accepted_step(secret, code, now=clock.now())
    assert (step is not None) is accepted


def test_the_window_moves_with_the_servers_clock_at_step_edges():
    """A code of step s is accepted from the last second of step s-2's successor until the last
    second of step s+1, and refused one second later."""
    secret = mfa.new_secret()
    step_start = START + 40 * 30
    code = app_code(secret, step_start)
    for now, accepted in [(step_start - 31, False), (step_start - 30, True), (step_start + 59, True),
                          (step_start + 60, False)]:
        with time_machine.travel(now, tick=False):
            assert (mfa.accepted_step(secret, code, now=clock.now()) is not None) is accepted, now


def test_a_step_is_accepted_only_after_the_last_accepted_one():
    secret = mfa.new_secret()
    now = START + 30 * 7
    step = mfa.accepted_step(secret, app_code(secret, now), now=now)
    assert step == now // 30
    assert mfa.accepted_step(secret, app_code(secret, now), now=now, after=step) is None  # replay
    assert mfa.accepted_step(secret, app_code(secret, now, offset_steps=-1), now=now, after=step) is None
    assert mfa.accepted_step(secret, app_code(secret, now, offset_steps=1), now=now, after=step) == step + 1


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12a456", " 123456", "１２３４５６", None])
def test_malformed_codes_are_never_accepted(code):
    assert mfa.accepted_step(mfa.new_secret(), code, now=START) is None


def test_secrets_are_160_bits_of_base32_and_recovery_codes_80_bits_each():
    secret = mfa.new_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)  # 32 x 5 bits
    codes = mfa.new_recovery_codes()
    assert len(codes) == len(set(codes)) == 10
    assert all(re.fullmatch(r"([a-km-np-z2-9]{4}-){3}[a-km-np-z2-9]{4}", c) for c in codes)
    one = codes[0]
    assert mfa.recovery_hash("u1", one) == mfa.recovery_hash("u1", one.upper().replace("-", " "))
    assert mfa.recovery_hash("u1", one) != mfa.recovery_hash("u2", one)  # bound to the user
    assert mfa.recovery_hash("u1", "not-a-code") is None


# --- enrolment -----------------------------------------------------------------------------------


def test_enrolment_answers_a_pending_secret_and_an_otpauth_uri_with_the_issuer_and_the_address(services, mailer):
    user_id, claims = signed_in(services, mailer)
    answer = mfa.enrol(services, claims)
    uri = urlsplit(answer["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == f"/Example Accounts:{ADA}"  # MFA_ISSUER defaults to PRODUCT_NAME
    query = parse_qs(uri.query)
    assert query["secret"] == [answer["secret"]] and query["issuer"] == ["Example Accounts"]
    [item] = mfa_items(user_id)
    assert item["secret"]["S"] == answer["secret"] and item["active"]["BOOL"] is False
    assert int(item["ttl"]["N"]) == START + mfa.PENDING_SECONDS
    assert find_user(user_id).mfa_enabled is False


def test_mfa_issuer_overrides_the_product_name_in_the_uri(table, mailer):
    services = make_services(mfa_issuer="Acme Login")
    _, claims = signed_in(services, mailer)
    assert "issuer=Acme%20Login" in mfa.enrol(services, claims)["otpauth_uri"]


def test_enrolling_again_replaces_the_pending_secret(services, mailer):
    _, claims = signed_in(services, mailer)
    first = mfa.enrol(services, claims)["secret"]
    second = mfa.enrol(services, claims)["secret"]
    assert first != second
    with pytest.raises(InvalidMfaCode):  # the first secret's codes no longer confirm
        mfa.confirm(services, claims, code=app_code(first, START), client=CLIENT)
    assert len(mfa.confirm(services, claims, code=app_code(second, START), client=CLIENT)) == 10


def test_enrolment_while_totp_is_active_is_409_and_leaves_the_factor_alone(services, mailer):
    user = enrolled(services, mailer)
    before = mfa_items(user.user_id)
    with pytest.raises(MfaAlreadyEnabled):
        mfa.enrol(services, user.claims)
    assert mfa_items(user.user_id) == before


def test_enrolment_needs_a_live_session(services, mailer):
    _, claims = signed_in(services, mailer)
    with pytest.raises(Unauthorized):
        mfa.enrol(services, {**claims, "sid": "0" * 32})


def test_the_secret_and_recovery_codes_are_never_logged(services, mailer, caplog, capsys):
    """The service's own lines (the Powertools logger prints; other loggers through logging), not
    the SDKs' debug dumps of request bodies (botocore, pynamodb), which are off in Lambda."""
    from accounts.observability import logger

    caplog.set_level(logging.DEBUG)
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        user = enrolled(services, mailer)
    finally:
        logger.registered_handler.setStream(previous)
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith(("botocore", "moto", "urllib3", "pynamodb"))]
    text = "\n".join(ours) + capsys.readouterr().out + stream.getvalue()
    assert "mfa_enabled" in text  # the security event line was written
    assert user.secret not in text
    assert not any(code in text for code in user.recovery_codes)


# --- confirmation --------------------------------------------------------------------------------


def test_confirming_activates_totp_stores_hashed_recovery_codes_and_sets_mfa_enabled_on_both_items(services, mailer):
    user_id, claims = signed_in(services, mailer)
    secret = mfa.enrol(services, claims)["secret"]
    codes = mfa.confirm(services, claims, code=app_code(secret, START), client=CLIENT)
    assert len(codes) == 10
    items = mfa_items(user_id)
    [factor] = [i for i in items if i["sk"]["S"] == "MFA#TOTP"]
    assert factor["active"]["BOOL"] is True and int(factor["last_step"]["N"]) == START // 30 and "ttl" not in factor
    recovery = sorted(i["sk"]["S"] for i in items if i["sk"]["S"].startswith("MFA#RECOVERY#"))
    assert recovery == sorted(f"MFA#RECOVERY#{mfa.recovery_hash(user_id, c)}" for c in codes)
    raw = json.dumps(table_items())
    assert not any(c in raw or c.replace("-", "") in raw for c in codes)  # only hashes are stored
    assert all(item_size(item) < 1024 for item in table_items())
    assert account(services).mfa_enabled is True and find_user(user_id).mfa_enabled is True
    assert event_types(user_id)[-1] == "mfa_enabled"
    assert [job.kind for job in services.queue.take()] == [JobKind.TWO_FACTOR_ENABLED]


def test_a_wrong_code_does_not_confirm(services, mailer):
    user_id, claims = signed_in(services, mailer)
    secret = mfa.enrol(services, claims)["secret"]
    with pytest.raises(InvalidMfaCode):
        mfa.confirm(services, claims, code=app_code(secret, START, offset_steps=2), client=CLIENT)
    assert find_user(user_id).mfa_enabled is False and services.queue.take() == []


def test_confirming_without_a_pending_enrolment_or_after_it_expired_is_refused(services, mailer):
    _, claims = signed_in(services, mailer)
    with pytest.raises(InvalidMfaCode, match="No enrolment is pending"):
        mfa.confirm(services, claims, code="123456", client=CLIENT)
    secret = mfa.enrol(services, claims)["secret"]
    clock_of(services).advance(mfa.PENDING_SECONDS)
    with pytest.raises(InvalidMfaCode, match="No enrolment is pending"):
        mfa.confirm(services, claims, code=app_code(secret, services.now()), client=CLIENT)


def test_recovery_codes_are_answered_once_even_to_parallel_confirmations(services, mailer):
    user_id, claims = signed_in(services, mailer)
    secret = mfa.enrol(services, claims)["secret"]
    code = app_code(secret, START)
    outcomes = in_parallel(6, lambda: mfa.confirm(services, claims, code=code, client=CLIENT))
    answered = [o for o in outcomes if isinstance(o, list)]
    assert len(answered) == 1, outcomes
    assert all(isinstance(o, MfaAlreadyEnabled) for o in outcomes if o is not answered[0]), outcomes
    assert len([i for i in mfa_items(user_id) if "RECOVERY" in i["sk"]["S"]]) == 10
    assert event_types(user_id).count("mfa_enabled") == 1
    with pytest.raises(MfaAlreadyEnabled):
        mfa.confirm(services, claims, code=app_code(secret, START, offset_steps=1), client=CLIENT)


# --- removal -------------------------------------------------------------------------------------


def test_removal_needs_the_password_and_a_current_code_and_removes_every_factor(services, mailer):
    user = enrolled(services, mailer)
    clock_of(services).advance(30)
    mfa.disable(services, user.claims, password=PASSWORD, code=app_code(user.secret, services.now()),
                recovery_code=None, client=CLIENT)
    assert mfa_items(user.user_id) == []
    assert account(services).mfa_enabled is False and find_user(user.user_id).mfa_enabled is False
    assert event_types(user.user_id)[-1] == "mfa_disabled"
    assert [job.kind for job in services.queue.take()] == [JobKind.TWO_FACTOR_DISABLED]
    assert len(mfa.enrol(services, user.claims)["secret"]) == 32  # and it can be enrolled again


def test_removal_with_a_recovery_code_when_the_authenticator_is_lost(services, mailer):
    user = enrolled(services, mailer)
    mfa.disable(services, user.claims, password=PASSWORD, code=None,
                recovery_code=user.recovery_codes[3].upper(), client=CLIENT)
    assert mfa_items(user.user_id) == []


def test_a_wrong_password_is_401_invalid_credentials_and_counts_toward_the_lockout(services, mailer):
    user = enrolled(services, mailer)
    code = app_code(user.secret, START, offset_steps=1)
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            mfa.disable(services, user.claims, password=WRONG, code=code, recovery_code=None, client=CLIENT)
    with pytest.raises(RateLimited):  # locked: even the right password is refused now
        mfa.disable(services, user.claims, password=PASSWORD, code=code, recovery_code=None, client=CLIENT)
    assert event_types(user.user_id)[-1] == "locked_out"
    assert len(mfa_items(user.user_id)) == 11


@pytest.mark.parametrize("reuse", [True, False])
def test_a_wrong_or_reused_code_is_invalid_mfa_code_recorded_as_mfa_failed(services, mailer, reuse):
    user = enrolled(services, mailer)
    # The confirming code's step was used: the same code is a replay within its window.
    code = app_code(user.secret, START) if reuse else app_code(user.secret, START, offset_steps=3)
    with pytest.raises(InvalidMfaCode):
        mfa.disable(services, user.claims, password=PASSWORD, code=code, recovery_code=None, client=CLIENT)
    assert event_types(user.user_id)[-1] == "mfa_failed"
    assert find_user(user.user_id).mfa_enabled is True and len(mfa_items(user.user_id)) == 11


def test_removal_without_totp_is_204_once_the_password_is_checked(services, mailer):
    _, claims = signed_in(services, mailer)
    mfa.disable(services, claims, password=PASSWORD, code="123456", recovery_code=None, client=CLIENT)
    with pytest.raises(InvalidCredentials):
        mfa.disable(services, claims, password=WRONG, code="123456", recovery_code=None, client=CLIENT)
    assert services.queue.take() == []


def test_a_password_reset_keeps_the_factor(services, mailer):
    from tests.unit.flow_helpers import confirm, reset_link

    user = enrolled(services, mailer)
    confirm(services, reset_link(services, mailer))
    assert find_user(user.user_id).mfa_enabled is True and account(services).mfa_enabled is True
    assert len(mfa_items(user.user_id)) == 11


# --- notices -------------------------------------------------------------------------------------


def test_the_notices_go_to_the_account_with_every_user_value_escaped(services, mailer):
    from accounts.emails import parse_address

    user = enrolled(services, mailer)
    Account(*Account.key(parse_address(ADA).key)).update(actions=[Account.name.set("<script>x</script>")])
    User(*User.key(user.user_id)).update(actions=[User.name.set("<script>x</script>")])
    mfa.disable(services, user.claims, password=PASSWORD, code=None, recovery_code=user.recovery_codes[0],
                client=CLIENT)
    services.queue.enqueue(EmailJob(kind=JobKind.TWO_FACTOR_ENABLED, email=ADA))
    assert deliver_all(services, mailer) == ["sent_two_factor_disabled", "sent_two_factor_enabled"]
    (to_off, off), (to_on, on) = mailer.sent
    assert to_off == to_on == ADA
    assert "turned off" in off.subject and "Example Accounts" in off.subject
    assert "is on" in on.subject
    for email in (off, on):
        assert "<script>" not in email.html and "&lt;script&gt;" in email.html
        assert user.secret not in email.text and "reset-password" in email.text


def test_factor_items_stay_small_with_the_largest_values(services, mailer):
    enrolled(services, mailer, email=("a" * 64) + "@" + ("b" * 63) + ".example.com")
    assert max(item_size(item) for item in table_items()) < 1024
