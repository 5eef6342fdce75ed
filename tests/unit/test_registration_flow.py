"""Registration (accounts.flows.registration) on the real repository and moto: each test names its rule."""

from __future__ import annotations

import pytest

from accounts.email_jobs import EmailJob, JobKind
from accounts.errors import EmailNotVerified, InvalidCredentials, InvalidToken, RateLimited, WeakPassword
from accounts.flows import registration
from accounts.models import unverified_shard
from accounts.passwords import (
    MSG_COMMON,
    MSG_CONTAINS_EMAIL,
    MSG_NO_DIGIT,
    MSG_NO_SYMBOL,
    MSG_NO_UPPER,
    MSG_TOO_SHORT,
)
from tests.conftest import in_parallel
from tests.fakes import START, make_services
from tests.unit.flow_helpers import (
    ADA,
    DAY,
    IP,
    NEW_PASSWORD,
    PASSWORD,
    account,
    clock,
    deliver,
    failures,
    find_account,
    find_user,
    item_keys,
    items_except,
    log_in,
    register,
    spy_on_hasher,
    table_items,
    token_in,
    verified_account,
    verify,
)

pytestmark = pytest.mark.usefixtures("table")


def test_register_creates_one_unverified_account_item_keyed_by_the_normalized_address(services):
    register(services, "  Ada@Example.COM ")
    created = account(services, ADA)
    assert created.pk == f"EMAIL#{ADA}" and created.email == "Ada@example.com"  # as typed, domain normalized
    assert created.verified is False and created.name == "Ada" and created.session_epoch == 0
    assert created.password_hash.startswith("$argon2id$")
    assert services.hasher.verify(created.password_hash, PASSWORD)
    assert find_user(created.user_id) is None  # the User item exists only once the address is verified
    assert item_keys("USER#") == []
    assert services.queue.jobs == [
        EmailJob(kind=JobKind.VERIFICATION, email=ADA, registration_id=created.registration_id)
    ]


def test_a_new_account_enters_the_unverified_index_due_at_the_reminder_time(services):
    register(services)
    created = account(services)
    assert created.registered_at == START and created.reminded_at is None
    assert created.cleanup_shard == unverified_shard(ADA)
    assert created.cleanup_due == START + 24 * 3600  # VERIFICATION_REMINDER_AFTER_HOURS (default 24)
    [entry] = services.repo.due_unverified(unverified_shard(ADA), START + DAY, limit=10)
    assert entry.email_key == ADA


@pytest.mark.parametrize("state", ["new", "pending", "verified"])
def test_register_always_hashes_once_and_queues_exactly_one_job(services, mailer, state):
    """Same work whatever the state of the address: neither the answer nor its timing tells."""
    if state == "pending":
        register(services)
        services.queue.take()
    elif state == "verified":
        verified_account(services, mailer)
    spy = spy_on_hasher(services)
    register(services, password=NEW_PASSWORD)
    assert spy.calls == {"hash": 1}
    [job] = services.queue.jobs
    assert job.kind is JobKind.VERIFICATION and job.email == ADA and job.registration_id


def test_only_a_new_account_counts_as_a_registration(services, mailer, monkeypatch):
    counted: list[str] = []
    monkeypatch.setattr(registration, "count", lambda name, value=1: counted.append(name))
    register(services)
    register(services, password=NEW_PASSWORD)  # replaces the pending one
    assert counted == ["Registrations"]
    services.queue.take()
    verified_account(services, mailer, "grace@example.com")
    counted.clear()
    register(services, "grace@example.com")  # a verified address
    assert counted == []


def test_registering_a_verified_address_changes_nothing(services, mailer):
    verified_account(services, mailer)
    before = items_except("RATE#")  # the per-IP counter moves, nothing else
    register(services, password=NEW_PASSWORD, name="Mallory")
    assert items_except("RATE#") == before
    log_in(services)  # the owner's password still works


def test_weak_password_reports_every_unmet_rule_and_stores_nothing(services):
    spy = spy_on_hasher(services)
    with pytest.raises(WeakPassword) as caught:
        register(services, "password@example.com", password="password")
    assert (caught.value.status, caught.value.code) == (422, "weak_password")
    assert caught.value.errors == [
        {"field": "password", "message": message}
        for message in (
            MSG_TOO_SHORT.format(min_length=12),
            MSG_NO_UPPER,
            MSG_NO_DIGIT,
            MSG_NO_SYMBOL,
            MSG_COMMON,
            MSG_CONTAINS_EMAIL,
        )
    ]
    assert item_keys("EMAIL#") == [] and services.queue.jobs == [] and spy.calls["hash"] == 0


def test_reregistering_a_pending_address_replaces_password_and_name_and_supersedes_its_links(
    services, mailer
):
    register(services, password=PASSWORD, name="Ada")
    deliver(services, mailer)
    first_link = token_in(mailer)
    first = account(services)

    clock(services).advance(60)
    register(services, password=NEW_PASSWORD, name="Mallory")
    second = account(services)
    assert second.user_id == first.user_id and second.created_at == first.created_at  # the same account
    assert second.name == "Mallory" and second.registration_id != first.registration_id
    assert second.verify_token_hash is None  # the earlier link is no longer the account's current one
    assert services.hasher.verify(second.password_hash, NEW_PASSWORD)
    assert not services.hasher.verify(second.password_hash, PASSWORD)
    with pytest.raises(InvalidToken):
        verify(services, first_link)

    assert deliver(services, mailer) == ["sent_verification"]
    verify(services, token_in(mailer))
    log_in(services, password=NEW_PASSWORD)  # the password of the registration whose link was used
    with pytest.raises(InvalidCredentials):
        log_in(services, password=PASSWORD)


def test_reregistering_restarts_the_pending_accounts_registration_time_and_its_reminder(services):
    register(services)
    clock(services).now = START + 2 * DAY
    register(services, password=NEW_PASSWORD)
    again = account(services)
    assert again.created_at == START  # the account's creation is kept
    assert again.registered_at == START + 2 * DAY and again.cleanup_due == START + 3 * DAY
    assert again.reminded_at is None


def test_reregistering_without_a_name_removes_the_pending_name(services):
    register(services, name="Ada")
    register(services, name=None)
    assert account(services).name is None


def test_a_queued_job_of_a_replaced_registration_sends_nothing(services, mailer):
    register(services, password=PASSWORD)
    register(services, password=NEW_PASSWORD)
    assert deliver(services, mailer) == ["stale", "sent_verification"]
    assert len(mailer.sent) == 1


def test_an_unverified_account_cannot_log_in_with_either_registrations_password(services):
    register(services, password=PASSWORD)
    with pytest.raises(EmailNotVerified):
        log_in(services, password=PASSWORD)
    assert item_keys("USER#") == []


def test_register_per_ip_limit_refuses_before_any_work_and_counts_per_fixed_window():
    services = make_services(rate_limit_register_per_ip="2/3600")
    clock(services).now = START + 600
    states = [register(services, address) for address in ("a@example.com", "b@example.com")]
    assert [(state.limit, state.remaining, state.reset) for state in states] == [(2, 1, 3000), (2, 0, 3000)]
    spy = spy_on_hasher(services)
    with pytest.raises(RateLimited) as caught:
        register(services, "c@example.com")
    assert caught.value.retry_after == 3000  # until the window ends
    assert caught.value.headers == {
        "RateLimit-Limit": "2", "RateLimit-Remaining": "0", "RateLimit-Reset": "3000"}
    assert spy.calls == {} and find_account(services, "c@example.com") is None
    assert len(services.queue.jobs) == 2
    register(services, "c@example.com", ip="203.0.113.9")  # another source IP has its own budget
    clock(services).now = START + 3600  # a new window starts afresh
    assert register(services, "d@example.com").remaining == 1


def test_rate_limit_counters_hash_their_subject_and_expire_with_their_window():
    services = make_services(rate_limit_register_per_ip="2/3600")
    clock(services).now = START + 600
    register(services)
    [counter] = [item for item in table_items() if item["pk"]["S"].startswith("RATE#register_ip#")]
    assert IP not in counter["pk"]["S"]  # subjects are hashed into the key
    assert int(counter["ttl"]["N"]) == START + 3600 and int(counter["hits"]["N"]) == 1


def test_a_zero_count_disables_the_register_limit_and_writes_no_counter():
    services = make_services(rate_limit_register_per_ip="0/60")
    for _ in range(3):
        assert register(services) is None
    assert item_keys("RATE#") == []


def test_concurrent_registrations_of_one_address_create_exactly_one_account(mailer, monkeypatch):
    services = make_services(rate_limit_email_per_address="0/3600")
    counted: list[str] = []
    monkeypatch.setattr(registration, "count", lambda name, value=1: counted.append(name))
    assert failures(in_parallel(8, lambda: register(services))) == []
    assert item_keys("EMAIL#") == [f"EMAIL#{ADA}"] and counted == ["Registrations"]
    assert len(services.queue.jobs) == 8
    # Only the job of the registration that wrote last is current: one link is sent.
    assert sorted(deliver(services, mailer)) == ["sent_verification"] + ["stale"] * 7
    verify(services, token_in(mailer))
    assert account(services).verified
