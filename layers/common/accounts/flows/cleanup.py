"""Scheduled cleanup: unverified accounts past their time, and expired items TTL has not removed yet.

It reads only the sparse `cleanup` index (never a scan), and every delete is conditional on the
item still being due, so running it twice, or alongside a registration, is harmless."""

from __future__ import annotations

from accounts.models import UNVERIFIED_BUCKET, expiry_buckets
from accounts.observability import count, logger
from accounts.services import Services

KINDS = {"TOKEN": "EmailTokens", "REFRESH": "RefreshTokens", "FAMILY": "RevokedFamilies", "RATE": "Counters"}


def run_cleanup(services: Services) -> dict[str, int]:
    now = services.now()
    repo = services.repo
    deleted = {"UnverifiedAccounts": 0, **{name: 0 for name in KINDS.values()}}

    cutoff = now - services.settings.unverified_account_ttl_seconds
    for entry in repo.due_for_cleanup(UNVERIFIED_BUCKET, cutoff):
        deleted["UnverifiedAccounts"] += repo.delete_unverified_user(entry, cutoff)

    for bucket in expiry_buckets():
        for entry in repo.due_for_cleanup(bucket, now):
            kind = KINDS.get(entry.pk.split("#", 1)[0])
            if kind and repo.delete_expired(entry.pk, now):
                deleted[kind] += 1

    for name, value in deleted.items():
        count(f"Deleted{name}", value)
    logger.info("cleanup finished", extra={"deleted": deleted})
    return deleted
