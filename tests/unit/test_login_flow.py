"""Login (accounts.flows.login) and the login lockout, on the real repository and moto.
Refresh, logout and `authenticate` are in test_sessions_flow.py."""

from __future__ import annotations

import pytest

from accounts import tokens
from accounts.errors import (
    AccountDisabled,
    EmailNotVerified,
    InvalidCredentials,
    InvalidGrant,
    RateLimited,
    Unauthorized,
)
from accounts.flows import sessions
from accounts.models import User
from accounts.passwords import PasswordHasher
from tests.conftest import in_parallel
from tests.fakes import START, make_services
from tests.unit.flow_helpers import (
    ADA,
    AUDIENCE,
    IP,
    KEYS,
    NEW_PASSWORD,
    NOBODY,
    PASSWORD,
    USER_AGENT,
    WRONG,
    account,
    authenticate,
    claims_of,
    clock,
    confirm,
    event_types,
    events,
    item_keys,
    log_in,
    register,
    resend,
    reset_link,
    rotate,
    sessions_of,
    set_on_both,
    spy_on_hasher,
    table_items,
    verified_account,
)

pytestmark = pytest.mark.usefixtures("table")


# --- login ---------------------------------------------------------------------------------------


def test_login_starts_a_session_in_the_users_partition_and_records_a_login_event(services, mailer):
    user_id = verified_account(services, mailer).user_id
    long_agent = "A" * 300
    log_in(services, client=sessions.Client(ip=IP, user_agent=long_agent))
    [session] = sessions_of(user_id)
    assert session.pk == f"USER#{user_id}" and session.generation == 0 and session.epoch == 0
    assert (session.created_at, session.last_used_at, session.rotated_at) == (START, START, START)
    assert session.expires_at == session.ttl == START + services.settings.refresh_token_ttl_seconds
    assert session.ip == IP and session.user_agent == "A" * 256 and session.amr == ["pwd"]
    [event] = events(user_id)
    assert (event.type, event.at, event.ip, event.user_agent) == ("login", START, IP, "A" * 256)


def test_login_access_token_carries_sub_sid_client_id_amr_and_scope(services, mailer):
    user_id = verified_account(services, mailer).user_id
    issued = log_in(services)
    claims = claims_of(services, issued)
    [session] = sessions_of(user_id)
    assert claims["sub"] == user_id and claims["sid"] == session.session_id
    assert claims["client_id"] == AUDIENCE  # JWT_CLIENT_ID defaults to the audience
    assert claims["amr"] == ["pwd"] and claims["scope"] == "openid profile email"
    assert claims["email"] == ADA and claims["email_verified"] is True
    assert claims["exp"] - claims["iat"] == issued.expires_in == 900


def test_client_id_comes_from_jwt_client_id_and_admins_get_the_admin_scope(mailer):
    services = make_services(jwt_client_id="web-app")
    user_id = verified_account(services, mailer).user_id
    set_on_both(user_id, roles={"admin"})
    claims = claims_of(services, log_in(services))
    assert claims["client_id"] == "web-app" and claims["scope"] == "openid profile email accounts:admin"


def test_refresh_takes_the_scope_from_the_users_current_roles(services, mailer):
    user_id = verified_account(services, mailer).user_id
    issued = log_in(services)
    User(*User.key(user_id)).update(actions=[User.roles.set({"admin"})])
    granted = rotate(services, issued.refresh_token)
    assert claims_of(services, granted)["scope"] == "openid profile email accounts:admin"
    User(*User.key(user_id)).update(actions=[User.roles.remove()])
    assert claims_of(services, rotate(services, granted.refresh_token))["scope"] == "openid profile email"


def test_the_refresh_token_names_the_session_and_generation_and_is_never_stored(services, mailer):
    user_id = verified_account(services, mailer).user_id
    issued = log_in(services)
    [session] = sessions_of(user_id)
    assert tokens.read_refresh_token(KEYS.refresh_token_secret, issued.refresh_token) == tokens.RefreshClaims(
        user_id=user_id, session_id=session.session_id, generation=0
    )
    assert issued.refresh_token not in repr(table_items())


def test_unknown_email_runs_one_dummy_verify_answers_like_a_wrong_password_and_records_nothing(
    services, mailer
):
    user_id = verified_account(services, mailer).user_id
    spy = spy_on_hasher(services)
    with pytest.raises(InvalidCredentials) as unknown:
        log_in(services, email=NOBODY)
    assert spy.calls == {"dummy_verify": 1} and item_keys("USER#") == [f"USER#{user_id}"]
    spy.calls.clear()
    with pytest.raises(InvalidCredentials) as wrong:
        log_in(services, password=WRONG)
    assert spy.calls == {"verify": 1}
    assert (unknown.value.status, unknown.value.code, unknown.value.detail) == (
        wrong.value.status, wrong.value.code, wrong.value.detail,
    )
    assert event_types(user_id) == ["login_failed"] and sessions_of(user_id) == []


def test_unverified_account_right_password_is_email_not_verified_wrong_is_invalid_credentials(services):
    register(services)
    with pytest.raises(EmailNotVerified):
        log_in(services)
    with pytest.raises(InvalidCredentials):
        log_in(services, password=WRONG)
    user_id = account(services).user_id
    assert sessions_of(user_id) == [] and event_types(user_id) == ["login_failed"]


def test_a_disabled_account_is_refused_after_the_password_check_and_its_sessions_stop(services, mailer):
    user_id = verified_account(services, mailer).user_id
    issued = log_in(services)
    set_on_both(user_id, disabled=True)
    with pytest.raises(InvalidCredentials):
        log_in(services, password=WRONG)
    with pytest.raises(AccountDisabled):
        log_in(services)
    with pytest.raises(InvalidGrant):
        rotate(services, issued.refresh_token)
    with pytest.raises(Unauthorized):
        authenticate(services, issued)
    set_on_both(user_id, disabled=False)
    authenticate(services, rotate(services, issued.refresh_token))


def test_login_per_ip_limit_refuses_before_any_password_check():
    services = make_services(rate_limit_login_per_ip="2/60")
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            log_in(services, email=NOBODY)
    spy = spy_on_hasher(services)
    with pytest.raises(RateLimited) as caught:
        log_in(services, email=NOBODY)
    assert caught.value.retry_after == 60 and spy.calls == {}


def test_a_login_refused_by_the_per_ip_limit_gives_its_lockout_reservation_back(mailer):
    services = make_services(rate_limit_login_per_ip="1/60", login_lockout="2/900")
    verified_account(services, mailer)
    with pytest.raises(InvalidCredentials):
        log_in(services, password=WRONG)  # the address's first failure, the IP's only login
    for _ in range(3):
        with pytest.raises(RateLimited):
            log_in(services, password=WRONG)  # refused by the IP limit: no password check
    other_ip = sessions.Client(ip="203.0.113.9")
    with pytest.raises(InvalidCredentials):
        log_in(services, password=WRONG, client=other_ip)  # the second failure: still checked
    with pytest.raises(RateLimited):
        log_in(services, client=sessions.Client(ip="192.0.2.1"))  # now the address is locked


def test_login_upgrades_the_hash_when_the_argon2_parameters_change(services, mailer):
    verified_account(services, mailer)
    assert "m=1024" in account(services).password_hash
    services.hasher = PasswordHasher(2048, 1, 1)
    log_in(services)
    upgraded = account(services).password_hash
    assert "m=2048" in upgraded and not services.hasher.needs_rehash(upgraded)
    log_in(services)


def test_a_hash_upgrade_never_overwrites_a_password_reset_made_after_the_check(services, mailer):
    verified_account(services, mailer)
    checked = account(services)  # what a login read before a reset completed
    confirm(services, reset_link(services, mailer))
    assert services.repo.upgrade_password_hash(checked, services.hasher.hash(PASSWORD)) is False
    log_in(services, password=NEW_PASSWORD)


# --- lockout -------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", [ADA, NOBODY])
def test_wrong_passwords_use_the_budget_then_even_the_right_password_is_refused_unchecked(
    services, mailer, address
):
    verified_account(services, mailer)
    clock(services).now = START + 100
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            log_in(services, email=address, password=WRONG)
    spy = spy_on_hasher(services)
    with pytest.raises(RateLimited) as caught:
        log_in(services, email=address)
    assert caught.value.retry_after == 900 - 100  # until the lockout window ends
    assert spy.calls == {}  # refused before any password check, the same for both
    clock(services).now = START + 900
    if address == ADA:
        log_in(services)
    else:
        with pytest.raises(InvalidCredentials):
            log_in(services, email=address)


def test_a_correct_password_gives_its_reservation_back(services, mailer):
    verified_account(services, mailer)
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            log_in(services, password=WRONG)
    for _ in range(6):  # more successes than the whole budget: none of them counts
        log_in(services)
    with pytest.raises(InvalidCredentials):
        log_in(services, password=WRONG)  # the fifth failure
    with pytest.raises(RateLimited):
        log_in(services)


def test_the_right_password_of_an_unverified_account_gives_its_reservation_back(services):
    register(services)
    for _ in range(6):
        with pytest.raises(EmailNotVerified):
            log_in(services)
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            log_in(services, password=WRONG)
    with pytest.raises(RateLimited):
        log_in(services)


def test_the_failure_that_locks_the_address_records_locked_out_once_refusals_record_nothing(services, mailer):
    user_id = verified_account(services, mailer).user_id
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            log_in(services, password=WRONG)
    assert sorted(event_types(user_id)) == ["login_failed"] * 4
    with pytest.raises(InvalidCredentials):
        log_in(services, password=WRONG)  # the fifth: it uses the window's last check
    assert sorted(event_types(user_id)) == ["locked_out"] + ["login_failed"] * 5
    for _ in range(2):
        with pytest.raises(RateLimited):
            log_in(services)
    assert len(events(user_id)) == 6 and sessions_of(user_id) == []


def test_a_right_password_on_the_last_check_records_no_locked_out(services, mailer):
    user_id = verified_account(services, mailer).user_id
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            log_in(services, password=WRONG)
    log_in(services)  # holds the last check, then gives it back
    assert sorted(event_types(user_id)) == ["login"] + ["login_failed"] * 4


def test_parallel_wrong_passwords_get_at_most_the_budgets_number_of_checks(services, mailer):
    verified_account(services, mailer)
    spy = spy_on_hasher(services)
    outcomes = in_parallel(12, lambda: log_in(services, password=WRONG))
    refused = sorted(type(outcome).__name__ for outcome in outcomes)
    assert refused == ["InvalidCredentials"] * 5 + ["RateLimited"] * 7
    assert spy.calls["verify"] == 5


def test_lockout_counts_failures_per_fixed_window(services, mailer):
    verified_account(services, mailer)
    clock(services).now = START + 899
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            log_in(services, password=WRONG)
    clock(services).now = START + 900
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            log_in(services, password=WRONG)
    log_in(services)


def test_disabled_limits_let_every_flow_through_and_write_no_counter(mailer):
    services = make_services(
        rate_limit_register_per_ip="0/60",
        rate_limit_email_per_address="0/60",
        rate_limit_mail_per_ip="0/60",
        rate_limit_login_per_ip="0/60",
        login_lockout="0/60",
        rate_limit_token_per_ip="0/60",
    )
    verified_account(services, mailer)
    for _ in range(10):
        with pytest.raises(InvalidCredentials):
            log_in(services, password=WRONG)
        resend(services, NOBODY)
    log_in(services)
    assert item_keys("RATE#") == []


# --- security events -----------------------------------------------------------------------------


def test_security_events_of_a_login_history_come_back_oldest_first_with_time_ip_and_agent(services, mailer):
    user_id = verified_account(services, mailer).user_id
    with pytest.raises(InvalidCredentials):
        log_in(services, password=WRONG)
    clock(services).advance(1)
    log_in(services, client=sessions.Client(ip="203.0.113.9", user_agent=None))
    clock(services).advance(1)
    with pytest.raises(InvalidCredentials):
        log_in(services, email=NOBODY, password=WRONG)  # another address: nothing for this user
    assert [(event.type, event.at, event.ip, event.user_agent) for event in events(user_id)] == [
        ("login_failed", START, IP, USER_AGENT),
        ("login", START + 1, "203.0.113.9", None),
    ]
    assert all(event.ttl == event.at + 90 * 86400 for event in events(user_id))


def test_security_events_recorded_within_one_second_keep_the_order_they_happened_in(mailer):
    services = make_services(login_lockout="0/900")
    user_id = verified_account(services, mailer).user_id
    for _ in range(10):
        with pytest.raises(InvalidCredentials):
            log_in(services, password=WRONG)
        log_in(services)
    assert event_types(user_id) == ["login_failed", "login"] * 10  # shuffled: 1 chance in 184,756
