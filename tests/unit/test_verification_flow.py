"""Email verification (accounts.flows.verification) and its email worker, on the real repository and moto."""

from __future__ import annotations

import pytest

from accounts import tokens
from accounts.email_jobs import EmailJob, JobKind
from accounts.errors import InvalidToken, RateLimited, TokenExpired
from accounts.models import Account, Counter, EmailToken
from accounts.rate_limits import Window, counter_key
from tests.conftest import in_parallel
from tests.fakes import START, MailerDown, make_services
from tests.unit.flow_helpers import (
    ADA,
    DAY,
    NEW_PASSWORD,
    NOBODY,
    account,
    clock,
    confirm,
    deliver,
    failures,
    find_account,
    find_user,
    item_keys,
    record_repository_calls,
    register,
    resend,
    reset_link,
    run_cleanup,
    table_items,
    token_in,
    verified_account,
    verify,
)

pytestmark = pytest.mark.usefixtures("table")


def link_for(services, mailer, email: str = ADA) -> str:
    """Register `email` and return the link the worker emailed."""
    register(services, email)
    assert deliver(services, mailer) == ["sent_verification"]
    return token_in(mailer)


# --- consuming a link ----------------------------------------------------------------------------


def test_verify_marks_the_account_verified_creates_the_user_and_queues_one_welcome(services, mailer):
    link = link_for(services, mailer)
    verify(services, link)
    verified = account(services)
    assert verified.verified is True and verified.verified_by == tokens.hash_token(link)
    assert verified.verify_token_hash is None
    user = find_user(verified.user_id)
    assert user is not None and user.email_key == ADA and user.email == verified.email
    assert (user.name, user.created_at, user.session_epoch) == ("Ada", START, 0)
    assert services.queue.jobs == [EmailJob(kind=JobKind.WELCOME, email=ADA)]
    assert deliver(services, mailer) == ["sent_welcome"]


def test_a_verified_account_leaves_the_unverified_index(services, mailer):
    verify(services, link_for(services, mailer))
    verified = account(services)
    assert (verified.registration_id, verified.registered_at, verified.reminded_at) == (None, None, None)
    assert (verified.cleanup_shard, verified.cleanup_due) == (None, None)
    clock(services).advance(30 * DAY)
    assert run_cleanup(services).as_dict() == {"deleted": 0, "reminded": 0, "skipped": 0, "finished": True}


def test_verify_unknown_token_is_invalid(services):
    with pytest.raises(InvalidToken):
        verify(services, tokens.new_token())


def test_verify_malformed_token_is_invalid_without_a_lookup(services):
    calls = record_repository_calls(services)
    with pytest.raises(InvalidToken):
        verify(services, "not-a-token")
    assert calls.calls == ["add_to_counter"]  # the per-IP limit only


@pytest.mark.parametrize(("offset", "expired"), [(-1, False), (0, True), (1, True)])
def test_verification_link_expires_exactly_at_its_expiry(services, mailer, offset, expired):
    link = link_for(services, mailer)  # issued at START
    clock(services).now = START + services.settings.verify_token_ttl_seconds + offset
    if expired:
        with pytest.raises(TokenExpired):
            verify(services, link)
        assert account(services).verified is False
    else:
        verify(services, link)
        assert account(services).verified is True


def test_the_link_that_verified_answers_again_without_a_second_welcome_even_once_expired(services, mailer):
    link = link_for(services, mailer)
    verify(services, link)
    assert [job.kind for job in services.queue.take()] == [JobKind.WELCOME]
    verify(services, link)  # a second click, or a mail scanner that POSTs: no error
    clock(services).advance(2 * DAY)  # even once the link has expired
    verify(services, link)
    assert services.queue.jobs == []


def test_a_superseded_link_of_an_account_verified_by_another_link_is_invalid(services, mailer):
    old = link_for(services, mailer)
    resend(services)
    deliver(services, mailer)
    verify(services, token_in(mailer))
    services.queue.take()
    with pytest.raises(InvalidToken):
        verify(services, old)  # only the link that verified answers 200 again
    assert services.queue.jobs == []


def test_superseded_link_is_invalid_and_the_newest_works(services, mailer):
    old = link_for(services, mailer)
    resend(services)
    deliver(services, mailer)
    new = token_in(mailer)
    with pytest.raises(InvalidToken):
        verify(services, old)
    assert account(services).verified is False and item_keys("USER#") == []
    verify(services, new)
    assert account(services).verified is True


def test_concurrent_uses_of_one_link_verify_once_and_queue_one_welcome(services, mailer):
    link = link_for(services, mailer)
    assert failures(in_parallel(8, lambda: verify(services, link))) == []
    assert services.queue.jobs == [EmailJob(kind=JobKind.WELCOME, email=ADA)]
    assert len(item_keys("USER#")) == 1


def test_a_link_whose_account_cleanup_deleted_is_invalid_and_creates_no_user(services, mailer):
    register(services)
    services.queue.take()
    clock(services).now = START + 6 * DAY + 12 * 3600  # day 6.5: a fresh link, valid until day 7.5
    resend(services)
    deliver(services, mailer)
    link = token_in(mailer)
    clock(services).now = START + 7 * DAY
    assert run_cleanup(services).deleted == 1
    with pytest.raises(InvalidToken):
        verify(services, link)
    assert find_account(services) is None and item_keys("USER#") == []


def test_a_link_of_a_deleted_account_does_not_verify_the_address_registered_again(services, mailer):
    link = link_for(services, mailer)
    Account(*Account.key(ADA)).delete()  # cleanup deleted it; then the address registers again
    register(services, password=NEW_PASSWORD)
    with pytest.raises(InvalidToken):
        verify(services, link)
    assert account(services).verified is False and item_keys("USER#") == []


def test_tokens_are_purpose_bound(services, mailer):
    verify_link = link_for(services, mailer)
    reset = reset_link(services, mailer)
    with pytest.raises(InvalidToken):
        confirm(services, verify_link)
    with pytest.raises(InvalidToken):
        verify(services, reset)
    assert account(services).verified is False


def test_only_the_token_hash_is_stored(services, mailer):
    link = link_for(services, mailer)
    assert link not in repr(table_items())
    stored = EmailToken.get(*EmailToken.key("verify", tokens.hash_token(link)))
    assert stored.email_key == ADA and stored.user_id == account(services).user_id
    assert account(services).verify_token_hash == tokens.hash_token(link)


@pytest.mark.parametrize("state", ["unknown", "pending", "verified"])
def test_resend_queues_one_job_and_reads_nothing_whatever_the_address(services, mailer, state):
    if state == "pending":
        register(services)
    elif state == "verified":
        verified_account(services, mailer)
    services.queue.take()
    calls = record_repository_calls(services)
    resend(services)
    assert services.queue.jobs == [EmailJob(kind=JobKind.VERIFICATION, email=ADA)]
    assert calls.calls == ["add_to_counter"]  # the per-IP limit only


def test_token_per_ip_limit_applies_to_verify():
    services = make_services(rate_limit_token_per_ip="1/60")
    with pytest.raises(InvalidToken):
        verify(services, tokens.new_token())
    with pytest.raises(RateLimited) as caught:
        verify(services, tokens.new_token())
    assert caught.value.retry_after == 60


# --- the email worker ----------------------------------------------------------------------------


def test_worker_sends_nothing_for_an_unknown_address(services, mailer):
    resend(services, NOBODY)
    register(services, NOBODY)
    Account(*Account.key(NOBODY)).delete()  # the registration's job outlives its account
    assert deliver(services, mailer) == ["unknown_address", "unknown_address"]
    assert mailer.sent == [] and item_keys("TOKEN#") == []


def test_worker_sends_the_already_registered_notice_for_a_registration_of_a_verified_address(
    services, mailer
):
    verified_account(services, mailer)
    tokens_before = item_keys("TOKEN#")
    register(services, password=NEW_PASSWORD)
    assert deliver(services, mailer) == ["sent_already_registered"]
    [(to, email)] = mailer.sent
    assert to == ADA and "someone tried to sign up" in email.subject and "token=" not in email.text
    assert item_keys("TOKEN#") == tokens_before  # no link was issued


def test_worker_sends_nothing_for_a_resend_to_a_verified_address(services, mailer):
    verified_account(services, mailer)
    resend(services)
    assert deliver(services, mailer) == ["already_verified"]
    assert mailer.sent == []


def test_per_address_limit_stops_mail_silently_on_first_attempts_but_not_retries(services, mailer):
    register(services)  # limit 3/3600 per address and purpose
    for _ in range(2):
        resend(services)
    assert deliver(services, mailer) == ["sent_verification"] * 3
    key = counter_key("email_verification", ADA, Window.at(START, 3600))
    assert Counter.get(key, "RATE").hits == 3

    resend(services)
    assert deliver(services, mailer) == ["email_limited"]  # no exception: SQS must not retry it
    assert len(mailer.sent) == 3 and Counter.get(key, "RATE").hits == 4

    resend(services)
    assert deliver(services, mailer, first_attempt=False) == ["sent_verification"]  # a retry is not counted
    assert Counter.get(key, "RATE").hits == 4 and len(mailer.sent) == 4

    clock(services).now = START + 3600  # a new window
    resend(services)
    assert deliver(services, mailer) == ["sent_verification"]


def test_per_address_limit_applies_to_already_registered_notices(services, mailer):
    verified_account(services, mailer)
    for _ in range(4):
        register(services)
    assert deliver(services, mailer) == ["sent_already_registered"] * 3 + ["email_limited"]


def test_per_address_limit_counts_each_purpose_separately(services, mailer):
    register(services)
    for _ in range(3):
        resend(services)
    assert deliver(services, mailer)[-1] == "email_limited"
    reset_link(services, mailer)


def test_replaced_registrations_do_not_use_up_the_per_address_email_budget(services, mailer):
    for _ in range(4):  # the form submitted four times before the worker ran (limit 3/3600)
        register(services)
    assert deliver(services, mailer) == ["stale", "stale", "stale", "sent_verification"]
    resend(services)  # the second email of the hour
    assert deliver(services, mailer) == ["sent_verification"]


def test_a_mailer_failure_raises_for_a_retry_and_the_retry_sends_a_working_link(services, mailer):
    register(services)
    mailer.fail = True
    job = services.queue.jobs[0]
    with pytest.raises(MailerDown):
        deliver(services, mailer)
    assert account(services).verified is False  # the account is there; the API answered as usual
    mailer.fail = False
    services.queue.enqueue(job)  # SQS redelivers the same message
    assert deliver(services, mailer, first_attempt=False) == ["sent_verification"]
    verify(services, token_in(mailer))
    assert account(services).verified is True


def test_welcome_is_skipped_for_an_account_that_is_not_verified(services, mailer):
    register(services)
    services.queue.take()
    services.queue.enqueue(EmailJob(kind=JobKind.WELCOME, email=ADA))
    assert deliver(services, mailer) == ["skipped"] and mailer.sent == []


@pytest.mark.parametrize(
    ("ttl", "stated"), [(86400, "expires in 24 hours"), (3600, "expires in 1 hour"), (5400, None)]
)
def test_verification_email_states_the_link_lifetime_only_when_it_is_whole_hours(mailer, ttl, stated):
    services = make_services(verify_token_ttl_seconds=ttl)
    register(services)
    deliver(services, mailer)
    _, email = mailer.sent[0]
    if stated:
        assert stated in email.text
    else:
        assert "expires in" not in email.text  # 1.5 hours is never rounded to "1 hour"


# --- the reminder worker -------------------------------------------------------------------------


def test_a_reminder_sends_a_fresh_link_that_supersedes_the_earlier_ones(services, mailer):
    old = link_for(services, mailer)
    services.queue.enqueue(EmailJob(kind=JobKind.VERIFICATION_REMINDER, email=ADA))
    assert deliver(services, mailer) == ["sent_verification_reminder"]
    reminder = token_in(mailer)
    assert reminder != old
    assert f"https://app.example.com/verify-email?token={reminder}" in mailer.sent[-1][1].text
    with pytest.raises(InvalidToken):
        verify(services, old)
    verify(services, reminder)
    assert account(services).verified is True


def test_a_reminder_is_not_counted_against_the_per_address_email_limit(services, mailer):
    register(services)
    for _ in range(3):
        resend(services)
    assert deliver(services, mailer)[-1] == "email_limited"
    services.queue.enqueue(EmailJob(kind=JobKind.VERIFICATION_REMINDER, email=ADA))
    assert deliver(services, mailer) == ["sent_verification_reminder"]


@pytest.mark.parametrize("state", ["verified", "gone"])
def test_a_reminder_for_a_verified_or_deleted_account_sends_nothing(services, mailer, state):
    if state == "verified":
        verified_account(services, mailer)
    else:
        register(services)
        services.queue.take()
        Account(*Account.key(ADA)).delete()
    tokens_before = item_keys("TOKEN#")
    services.queue.enqueue(EmailJob(kind=JobKind.VERIFICATION_REMINDER, email=ADA))
    assert deliver(services, mailer) == ["skipped"]
    assert mailer.sent == [] and item_keys("TOKEN#") == tokens_before
