"""Scheduled cleanup, through the real handler and the sparse index, with time travel."""

from __future__ import annotations

import boto3
import handle_cleanup
import handle_register
import handle_session
import handle_verify_email
import time_machine

from tests.handlers.conftest import TABLE, Context, api_event, drain_emails, invoke, load_event, token_from

DAY = 24 * 3600


def keys() -> set[str]:
    return {item["pk"]["S"].split("#", 1)[0] + "#" for item in boto3.client("dynamodb").scan(TableName=TABLE)["Items"]}


def users() -> list[str]:
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return sorted(item["pk"]["S"] for item in items if item["pk"]["S"].startswith("USER#"))


def test_cleanup_deletes_stale_unverified_accounts_and_expired_items_only(aws):
    with time_machine.travel("2026-05-01 00:00:00+00:00", tick=False) as traveller:
        invoke(handle_register, api_event("register", {"email": "stale@example.com", "password": "Correct-Horse-Battery-9"}))
        invoke(handle_register, api_event("register", {"email": "kept@example.com", "password": "Correct-Horse-Battery-9"}))
        mails = drain_emails(aws["queue_url"])
        kept = next(m for m in mails if m["to"] == ["kept@example.com"])
        invoke(handle_verify_email, api_event("verify_email", {"token": token_from(kept)}))
        drain_emails(aws["queue_url"])
        invoke(handle_session, api_event("login", {"email": "kept@example.com", "password": "Correct-Horse-Battery-9"}))

        traveller.shift(DAY)  # nothing is due yet but the verification tokens and short counters
        first = handle_cleanup.lambda_handler(load_event("schedule"), Context())
        assert first["UnverifiedAccounts"] == 0 and first["EmailTokens"] == 2
        assert users() == ["USER#kept@example.com", "USER#stale@example.com"]

        traveller.shift(7 * DAY)
        second = handle_cleanup.lambda_handler(load_event("schedule"), Context())
        assert second["UnverifiedAccounts"] == 1 and second["RefreshTokens"] == 1
        assert users() == ["USER#kept@example.com"]
        assert keys() == {"USER#"}

        again = handle_cleanup.lambda_handler(load_event("schedule"), Context())
        assert sum(again.values()) == 0  # idempotent


def test_zero_day_ttl_deletes_unverified_accounts_at_the_next_run(aws, monkeypatch):
    monkeypatch.setenv("UNVERIFIED_ACCOUNT_TTL_DAYS", "0")
    invoke(handle_register, api_event("register"))
    drain_emails(aws["queue_url"])
    result = handle_cleanup.lambda_handler(load_event("schedule"), Context())
    assert result["UnverifiedAccounts"] == 1 and users() == []
    # its verification token went with it
    assert not any(k == "TOKEN#" for k in keys())


def test_cleanup_uses_the_index_and_never_scans(aws):
    from accounts.models import User

    invoke(handle_register, api_event("register"))
    operations: list[str] = []
    client = User._get_connection().connection.client
    client.meta.events.register("before-call.dynamodb", lambda model, **kwargs: operations.append(model.name))
    handle_cleanup.lambda_handler(load_event("schedule"), Context())
    assert "Query" in operations and "Scan" not in operations
