"""Password reset (accounts.flows.password_reset) and its email worker, on the real repository and moto."""

from __future__ import annotations

import pytest

from accounts import tokens
from accounts.email_jobs import EmailJob, JobKind
from accounts.errors import (
    InvalidCredentials,
    InvalidGrant,
    InvalidToken,
    RateLimited,
    TokenExpired,
    Unauthorized,
    WeakPassword,
)
from accounts.models import Account
from tests.fakes import START, make_services
from tests.unit.flow_helpers import (
    ADA,
    DAY,
    IP,
    NEW_PASSWORD,
    NOBODY,
    PASSWORD,
    USER_AGENT,
    WRONG,
    account,
    authenticate,
    clock,
    confirm,
    deliver,
    events,
    find_account,
    find_user,
    item_keys,
    log_in,
    record_repository_calls,
    register,
    request_reset,
    resend,
    reset_link,
    rotate,
    run_cleanup,
    token_in,
    verified_account,
    verify,
)

pytestmark = pytest.mark.usefixtures("table")


# --- requesting a link ---------------------------------------------------------------------------


@pytest.mark.parametrize("known", [True, False])
def test_reset_request_queues_one_job_and_reads_nothing_whether_or_not_the_account_exists(
    services, mailer, known
):
    if known:
        verified_account(services, mailer)
    calls = record_repository_calls(services)
    request_reset(services)
    assert services.queue.jobs == [EmailJob(kind=JobKind.PASSWORD_RESET, email=ADA)]
    assert calls.calls == ["add_to_counter"]  # the per-IP limit only


def test_reset_for_an_unknown_address_sends_nothing(services, mailer):
    request_reset(services, NOBODY)
    assert deliver(services, mailer) == ["unknown_address"]
    assert mailer.sent == [] and item_keys("TOKEN#") == []


def test_reset_email_carries_a_reset_link_from_the_configured_base_url(services, mailer):
    verified_account(services, mailer)
    token = reset_link(services, mailer)
    [(to, email)] = mailer.sent
    assert to == ADA and f"https://app.example.com/reset-password?token={token}" in email.text
    assert account(services).reset_token_hash == tokens.hash_token(token)


def test_reset_emails_are_limited_per_address_but_password_changed_notices_are_not(services, mailer):
    verified_account(services, mailer)
    for _ in range(4):
        request_reset(services)
    assert deliver(services, mailer) == ["sent_password_reset"] * 3 + ["email_limited"]
    for _ in range(5):
        services.queue.enqueue(EmailJob(kind=JobKind.PASSWORD_CHANGED, email=ADA))
    assert deliver(services, mailer) == ["sent_password_changed"] * 5


def test_reset_and_resend_share_the_per_ip_mail_limit():
    services = make_services(rate_limit_mail_per_ip="2/3600")
    request_reset(services)
    resend(services)
    with pytest.raises(RateLimited):
        request_reset(services)
    assert len(services.queue.jobs) == 2


# --- confirming ----------------------------------------------------------------------------------


def test_confirm_sets_the_password_and_queues_the_security_notice(services, mailer):
    verified_account(services, mailer)
    confirm(services, reset_link(services, mailer))
    after = account(services)
    assert after.reset_token_hash is None
    assert services.queue.jobs == [EmailJob(kind=JobKind.PASSWORD_CHANGED, email=ADA)]
    assert deliver(services, mailer) == ["sent_password_changed"]
    log_in(services, password=NEW_PASSWORD)
    with pytest.raises(InvalidCredentials):
        log_in(services, password=PASSWORD)


def test_confirm_bumps_the_session_epoch_on_the_account_and_the_user(services, mailer):
    before = verified_account(services, mailer)
    confirm(services, reset_link(services, mailer))
    assert account(services).session_epoch == before.session_epoch + 1 == 1
    assert find_user(before.user_id).session_epoch == 1


def test_confirm_records_a_password_reset_security_event(services, mailer):
    user_id = verified_account(services, mailer).user_id
    clock(services).advance(60)
    confirm(services, reset_link(services, mailer))
    [event] = events(user_id)
    assert (event.type, event.at, event.ip, event.user_agent) == (
        "password_reset", START + 60, IP, USER_AGENT)
    assert event.ttl == START + 60 + 90 * DAY


def test_confirm_with_a_weak_password_leaves_the_token_usable(services, mailer):
    verified_account(services, mailer)
    token = reset_link(services, mailer)
    with pytest.raises(WeakPassword):
        confirm(services, token, "short")
    assert account(services).reset_token_hash == tokens.hash_token(token)  # still the current link
    assert services.hasher.verify(account(services).password_hash, PASSWORD)
    assert services.queue.jobs == []
    confirm(services, token, NEW_PASSWORD)
    assert services.hasher.verify(account(services).password_hash, NEW_PASSWORD)


def test_confirm_revokes_every_session_by_epoch_and_a_new_login_works(services, mailer):
    verified_account(services, mailer)
    first, second = log_in(services), log_in(services)
    confirm(services, reset_link(services, mailer))
    for issued in (first, second):
        with pytest.raises(Unauthorized):
            authenticate(services, issued)  # the access token has not expired, the session has
        with pytest.raises(InvalidGrant):
            rotate(services, issued.refresh_token)
    fresh = log_in(services, password=NEW_PASSWORD)
    authenticate(services, fresh)
    authenticate(services, rotate(services, fresh.refresh_token))


def test_confirm_lifts_the_login_lockout_of_the_address(services, mailer):
    verified_account(services, mailer)
    token = reset_link(services, mailer)
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            log_in(services, password=WRONG)
    with pytest.raises(RateLimited):
        log_in(services)
    confirm(services, token)
    log_in(services, password=NEW_PASSWORD)  # in the same lockout window


def test_a_refused_confirm_does_not_lift_the_lockout(services, mailer):
    verified_account(services, mailer)
    token = reset_link(services, mailer)
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            log_in(services, password=WRONG)
    with pytest.raises(WeakPassword):
        confirm(services, token, "short")
    with pytest.raises(InvalidToken):
        confirm(services, tokens.new_token())
    with pytest.raises(RateLimited):
        log_in(services)


def test_confirm_verifies_a_pending_account_creates_its_user_and_supersedes_its_verification_link(
    services, mailer
):
    register(services)
    deliver(services, mailer)
    verify_link = token_in(mailer)
    confirm(services, reset_link(services, mailer))
    after = account(services)
    assert after.verified is True and after.verify_token_hash is None
    assert after.cleanup_shard is None and after.cleanup_due is None  # out of the unverified index
    user = find_user(after.user_id)
    assert user is not None and (user.email, user.name, user.created_at) == (after.email, "Ada", START)
    assert user.session_epoch == after.session_epoch
    with pytest.raises(InvalidToken):
        verify(services, verify_link)
    authenticate(services, log_in(services, password=NEW_PASSWORD))
    clock(services).advance(30 * DAY)
    assert run_cleanup(services).deleted == 0 and find_account(services) is not None


def test_used_reset_token_is_always_invalid(services, mailer):
    verified_account(services, mailer)
    token = reset_link(services, mailer)
    confirm(services, token)
    with pytest.raises(InvalidToken):
        confirm(services, token, "Another-Strong-Pass-7")
    assert services.hasher.verify(account(services).password_hash, NEW_PASSWORD)


@pytest.mark.parametrize(("offset", "expired"), [(-1, False), (0, True)])
def test_reset_link_expires_exactly_at_its_expiry(services, mailer, offset, expired):
    verified_account(services, mailer)
    token = reset_link(services, mailer)
    clock(services).now = START + services.settings.reset_token_ttl_seconds + offset
    if expired:
        with pytest.raises(TokenExpired):
            confirm(services, token)
        assert services.hasher.verify(account(services).password_hash, PASSWORD)
    else:
        confirm(services, token)


def test_a_new_reset_link_supersedes_the_older_one(services, mailer):
    verified_account(services, mailer)
    old = reset_link(services, mailer)
    new = reset_link(services, mailer)
    with pytest.raises(InvalidToken):
        confirm(services, old)
    confirm(services, new)


def test_a_reset_link_of_an_account_deleted_meanwhile_is_invalid_and_creates_nothing(services, mailer):
    register(services)
    services.queue.take()
    token = reset_link(services, mailer)
    user_id = account(services).user_id
    Account(*Account.key(ADA)).delete()  # cleanup deleted the unverified account
    with pytest.raises(InvalidToken):
        confirm(services, token)
    assert find_account(services) is None and find_user(user_id) is None and events(user_id) == []


def test_confirm_per_ip_limit_counts_confirm_calls():
    services = make_services(rate_limit_token_per_ip="1/60")
    with pytest.raises(InvalidToken):
        confirm(services, tokens.new_token())
    with pytest.raises(RateLimited) as caught:
        confirm(services, tokens.new_token())
    assert caught.value.retry_after == 60
