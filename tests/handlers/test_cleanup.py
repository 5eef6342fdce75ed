"""Scheduled cleanup through the real handler and the sparse index, with time travel."""

from __future__ import annotations

import handle_cleanup
import handle_register
import time_machine

from tests.handlers.conftest import (
    PASSWORD,
    Context,
    account_item,
    api_event,
    drain_emails,
    invoke,
    kinds,
    load_event,
    table_items,
    token_from,
    verified_account,
)

DAY = 24 * 3600


def run(context: Context | None = None) -> dict:
    return handle_cleanup.lambda_handler(load_event("schedule"), context or Context())


def register(email: str) -> None:
    invoke(handle_register, api_event("register", {"email": email, "password": PASSWORD}))


def test_one_reminder_after_a_day_then_deletion_after_seven_and_verified_accounts_untouched(aws):
    with time_machine.travel("2026-05-01 00:00:00+00:00", tick=False) as traveller:
        register("stale@example.com")
        [first_link] = drain_emails(aws["queue_url"])
        verified_account(aws, "kept@example.com")

        traveller.shift(DAY - 60)
        assert run() == {"deleted": 0, "reminded": 0, "skipped": 0, "finished": True}

        traveller.shift(60)
        assert run()["reminded"] == 1
        [reminder] = drain_emails(aws["queue_url"])
        assert reminder["to"] == ["stale@example.com"] and "Reminder" in reminder["subject"]
        assert token_from(reminder) != token_from(first_link)
        assert run()["reminded"] == 0 and drain_emails(aws["queue_url"]) == []  # one reminder only

        traveller.shift(6 * DAY)
        assert run()["deleted"] == 1
        assert account_item("stale@example.com") == {} and account_item("kept@example.com") != {}
        assert run() == {"deleted": 0, "reminded": 0, "skipped": 0, "finished": True}  # idempotent


def test_the_reminder_link_works_and_supersedes_the_first_link(aws, monkeypatch):
    import handle_verify_email

    monkeypatch.setenv("VERIFICATION_REMINDER_AFTER_HOURS", "12")  # the first link has not expired yet
    with time_machine.travel("2026-05-01 00:00:00+00:00", tick=False) as traveller:
        register("late@example.com")
        [first] = drain_emails(aws["queue_url"])
        traveller.shift(DAY // 2)
        run()
        [reminder] = drain_emails(aws["queue_url"])
        verify = lambda email: invoke(handle_verify_email, api_event("verify_email", {"token": token_from(email)}))  # noqa: E731
        assert verify(first)[2]["code"] == "invalid_token"
        assert verify(reminder)[0] == 200
        traveller.shift(7 * DAY)
        assert run()["deleted"] == 0 and account_item("late@example.com")["verified"] == {"BOOL": True}


def test_zero_day_ttl_deletes_unverified_accounts_at_the_next_run(aws, monkeypatch):
    monkeypatch.setenv("UNVERIFIED_ACCOUNT_TTL_DAYS", "0")
    register("ada@example.com")
    drain_emails(aws["queue_url"])
    assert run()["deleted"] == 1 and account_item("ada@example.com") == {}


def test_only_unverified_accounts_carry_index_keys(aws):
    register("pending@example.com")
    drain_emails(aws["queue_url"])
    verified_account(aws, "done@example.com")
    indexed = [item for item in table_items() if "cleanup_shard" in item]
    assert [item["pk"]["S"] for item in indexed] == ["EMAIL#pending@example.com"]
    assert "EMAIL/ACCOUNT" in kinds()


def test_a_run_out_of_time_stops_cleanly_and_the_next_run_continues(aws, monkeypatch):
    import itertools

    from accounts.flows import cleanup
    from accounts.models import unverified_shard

    monkeypatch.setenv("UNVERIFIED_ACCOUNT_TTL_DAYS", "0")
    monkeypatch.setattr(cleanup, "PAGE_SIZE", 2)
    # Seven accounts in one index partition: four rounds of two pages' worth.
    crowded = itertools.islice((f"user{i}@example.com" for i in itertools.count()
                                if unverified_shard(f"user{i}@example.com") == "UNVERIFIED#07"), 7)
    for address in crowded:
        register(address)
    drain_emails(aws["queue_url"])

    class ShortContext(Context):
        checks = 0

        def get_remaining_time_in_millis(self) -> int:  # time for two rounds, then the margin is reached
            ShortContext.checks += 1
            return 300_000 if ShortContext.checks <= 2 else cleanup.SAFETY_MARGIN_MS - 1

    first = run(ShortContext())
    assert (first["finished"], first["deleted"]) == (False, 4)
    second = run()
    assert (second["finished"], second["deleted"]) == (True, 3)


def test_cleanup_uses_the_index_and_never_scans(aws):
    from accounts.models import Account

    register("ada@example.com")
    operations: list[str] = []
    client = Account._get_connection().connection.client
    client.meta.events.register("before-call.dynamodb", lambda model, **kwargs: operations.append(model.name))
    run()
    assert "Query" in operations and "Scan" not in operations
