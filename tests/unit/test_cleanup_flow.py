"""Scheduled cleanup (accounts.flows.cleanup): the reminder, then the deletion, of accounts never verified,
read from the sparse sharded `unverified` index, on the real repository and moto."""

from __future__ import annotations

import itertools
import uuid

import pytest

from accounts.email_jobs import EmailJob, JobKind
from accounts.errors import InvalidToken
from accounts.flows import cleanup
from accounts.models import unverified_shard, unverified_shards
from tests.fakes import START, make_services
from tests.unit.flow_helpers import (
    ADA,
    DAY,
    HOUR,
    NEW_PASSWORD,
    account,
    clock,
    confirm,
    deliver,
    find_account,
    items_except,
    log_in,
    register,
    resend,
    reset_link,
    rotate,
    run_cleanup,
    table_items,
    token_in,
    verified_account,
    verify,
)

pytestmark = pytest.mark.usefixtures("table")

NOTHING = {"deleted": 0, "reminded": 0, "skipped": 0, "finished": True}


def outcome(services, **kwargs) -> dict[str, int | bool]:
    return run_cleanup(services, **kwargs).as_dict()


def pending(services, email: str) -> None:
    """An unverified account registered now, written by the repository directly (no argon2, no limits)."""
    now = services.now()
    services.repo.register(email_key=email, display_email=email, name=None, password_hash="$argon2id$unused",
                           registration_id=uuid.uuid4().hex, now=now,
                           cleanup_due=cleanup.first_cleanup_due(services.settings, now))


def addresses_in(shard: str, n: int) -> list[str]:
    """n addresses whose accounts land in index partition `shard`."""
    found = (f"user{i}@example.com" for i in itertools.count())
    return list(itertools.islice((address for address in found if unverified_shard(address) == shard), n))


def stale_index_reads(services) -> None:
    """The next run acts on the index as it is now, whatever happens to the accounts meanwhile."""
    now = services.now()
    snapshot = {shard: services.repo.due_unverified(shard, now + 30 * DAY, limit=100)
                for shard in unverified_shards()}
    services.repo.due_unverified = lambda shard, now, limit: [
        entry for entry in snapshot.get(shard, []) if entry.cleanup_due <= now][:limit]


# --- the reminder, then the deletion -------------------------------------------------------------


def test_an_unverified_account_is_reminded_after_a_day_then_deleted_after_seven(services, mailer):
    register(services)
    services.queue.take()
    clock(services).now = START + DAY - 1
    assert outcome(services) == NOTHING
    clock(services).now = START + DAY
    assert outcome(services) == {**NOTHING, "reminded": 1}
    assert services.queue.jobs == [EmailJob(kind=JobKind.VERIFICATION_REMINDER, email=ADA)]
    reminded = account(services)
    assert reminded.reminded_at == START + DAY and reminded.cleanup_due == START + 7 * DAY
    assert outcome(services) == NOTHING  # one reminder per account
    assert deliver(services, mailer) == ["sent_verification_reminder"]

    clock(services).now = START + 7 * DAY - 1
    assert outcome(services) == NOTHING
    clock(services).now = START + 7 * DAY
    assert outcome(services) == {**NOTHING, "deleted": 1}
    assert find_account(services) is None and services.queue.jobs == []
    assert outcome(services) == NOTHING


def test_the_reminders_link_supersedes_earlier_links_verifies_and_the_account_is_then_kept(services, mailer):
    register(services)
    services.queue.take()
    clock(services).now = START + DAY - HOUR
    resend(services)
    deliver(services, mailer)
    earlier = token_in(mailer)  # valid for another 23 hours
    clock(services).now = START + DAY
    run_cleanup(services)
    assert deliver(services, mailer) == ["sent_verification_reminder"]
    with pytest.raises(InvalidToken):
        verify(services, earlier)
    verify(services, token_in(mailer))
    clock(services).now = START + 30 * DAY
    assert outcome(services) == NOTHING and account(services).verified


def test_with_reminders_off_nothing_is_sent_and_the_account_is_deleted_after_seven_days(mailer):
    services = make_services(verification_reminder_after_hours=0)
    register(services)
    services.queue.take()
    assert account(services).cleanup_due == START + 7 * DAY
    clock(services).now = START + 7 * DAY - 1
    assert outcome(services) == NOTHING
    clock(services).now = START + 7 * DAY
    assert outcome(services) == {**NOTHING, "deleted": 1}
    assert services.queue.jobs == [] and find_account(services) is None


def test_no_reminder_when_it_would_come_at_or_after_the_deletion(mailer):
    services = make_services(unverified_account_ttl_days=1, verification_reminder_after_hours=24)
    register(services)
    services.queue.take()
    clock(services).now = START + DAY
    assert outcome(services) == {**NOTHING, "deleted": 1}
    assert services.queue.jobs == []


def test_zero_days_deletes_unverified_accounts_at_the_next_run(mailer):
    services = make_services(unverified_account_ttl_days=0)
    register(services)
    assert outcome(services) == {**NOTHING, "deleted": 1}
    assert find_account(services) is None


def test_reregistering_restarts_the_reminder_and_deletion_clock(services):
    register(services)
    clock(services).now = START + DAY
    assert run_cleanup(services).reminded == 1
    clock(services).now = START + 6 * DAY
    register(services, password=NEW_PASSWORD)  # the reminder is forgotten with the old registration
    clock(services).now = START + 7 * DAY
    assert outcome(services) == {**NOTHING, "reminded": 1}
    clock(services).now = START + 13 * DAY - 1
    assert outcome(services) == NOTHING
    clock(services).now = START + 13 * DAY
    assert outcome(services) == {**NOTHING, "deleted": 1}


def test_turning_reminders_off_never_deletes_an_account_before_its_seven_days(mailer):
    register(make_services())  # due at its reminder time, a day after registration
    services = make_services(verification_reminder_after_hours=0)
    clock(services).now = START + DAY
    run_cleanup(services)
    assert find_account(services) is not None


def test_cleanup_reports_its_work_as_metrics(services, monkeypatch):
    counted: dict[str, int] = {}
    monkeypatch.setattr(cleanup, "count", lambda name, value=1: counted.__setitem__(name, value))
    for address in ("a@example.com", "b@example.com"):
        pending(services, address)
    clock(services).now = START + DAY
    pending(services, "c@example.com")
    clock(services).now = START + 7 * DAY
    run_cleanup(services)  # a and b: deletion due; c: reminder due
    assert counted == {"DeletedUnverifiedAccounts": 2, "VerificationRemindersQueued": 1}
    counted.clear()
    run_cleanup(services, rounds=0)
    assert counted == {"DeletedUnverifiedAccounts": 0, "VerificationRemindersQueued": 0,
                       "CleanupUnfinished": 1}


# --- only unverified accounts --------------------------------------------------------------------


def test_cleanup_never_touches_anything_but_unverified_accounts(services, mailer):
    verified_account(services, mailer)
    reset_link(services, mailer)  # a pending reset token
    issued = log_in(services)
    rotate(services, log_in(services).refresh_token)  # sessions, login events, counters
    verified_account(services, mailer, "grace@example.com")
    register(services, "rose@example.com")  # verified by a password reset below
    services.queue.take()
    confirm(services, reset_link(services, mailer, "rose@example.com"))
    register(services, "old@example.com")  # the only account cleanup may delete
    services.queue.take()
    others = items_except("EMAIL#old@example.com")

    clock(services).now = START + 365 * DAY
    assert outcome(services) == {**NOTHING, "deleted": 1}
    assert table_items() == others
    assert outcome(services) == NOTHING
    clock(services).now = START + 3600  # the verified user's session is as it was
    rotate(services, issued.refresh_token)


def test_an_account_verified_after_the_index_was_read_is_skipped_not_deleted(services, mailer):
    register(services)
    services.queue.take()
    clock(services).now = START + 7 * DAY
    link = reset_link(services, mailer)
    stale_index_reads(services)
    confirm(services, link)  # verifies the address between the index read and the delete
    assert outcome(services) == {**NOTHING, "skipped": 1}
    assert account(services).verified
    log_in(services, password=NEW_PASSWORD)


def test_an_account_verified_after_the_index_was_read_gets_no_reminder(services, mailer):
    register(services)
    deliver(services, mailer)
    link = token_in(mailer)
    clock(services).now = START + DAY - 60
    stale_index_reads(services)
    verify(services, link)
    services.queue.take()
    clock(services).now = START + DAY
    assert outcome(services) == {**NOTHING, "skipped": 1}
    assert services.queue.jobs == [] and account(services).reminded_at is None


def test_an_account_registered_again_after_the_index_was_read_is_skipped(services):
    register(services)
    clock(services).now = START + 7 * DAY
    stale_index_reads(services)
    register(services, password=NEW_PASSWORD)
    assert outcome(services) == {**NOTHING, "skipped": 1}
    assert account(services).registered_at == START + 7 * DAY


# --- a backlog -----------------------------------------------------------------------------------


def test_a_run_out_of_time_stops_before_reading_and_reports_unfinished(services):
    pending(services, ADA)
    clock(services).now = START + 7 * DAY
    assert outcome(services, rounds=0) == {**NOTHING, "finished": False}
    assert find_account(services) is not None


def test_runs_of_one_round_each_work_off_every_partitions_backlog_a_page_at_a_time(services, monkeypatch):
    monkeypatch.setattr(cleanup, "PAGE_SIZE", 2)
    backlog = addresses_in("UNVERIFIED#00", 5) + addresses_in("UNVERIFIED#31", 3)  # first and last
    for address in backlog:
        pending(services, address)
    clock(services).now = START + 7 * DAY
    runs = [outcome(services, rounds=1) for _ in range(3)]
    assert [(run["deleted"], run["finished"]) for run in runs] == [(4, False), (3, False), (1, True)]
    assert [address for address in backlog if find_account(services, address)] == []


def test_a_backlog_larger_than_one_run_is_finished_by_the_next_run(services, monkeypatch):
    monkeypatch.setattr(cleanup, "PAGE_SIZE", 2)
    crowded = addresses_in("UNVERIFIED#05", 7)
    spread = [addresses_in(shard, 1)[0] for shard in unverified_shards() if shard != "UNVERIFIED#05"]
    for address in crowded + spread:
        pending(services, address)
    clock(services).now = START + DAY
    pending(services, "late@example.com")  # only its reminder is due
    clock(services).now = START + 7 * DAY
    first = outcome(services, rounds=2)
    assert first["finished"] is False and first["deleted"] == 31 + 2 + 2 and first["reminded"] == 1
    second = outcome(services, rounds=2)
    assert second == {**NOTHING, "deleted": 3}
    assert [address for address in crowded + spread if find_account(services, address)] == []
    assert find_account(services, "late@example.com").reminded_at == START + 7 * DAY
