"""The sparse `unverified` index: cleanup's reminders and deletions of accounts never verified."""

from __future__ import annotations

from pynamodb.exceptions import DeleteError, UpdateError

from accounts.models import Account, CleanupEntry
from accounts.tables.base import TableAccess, is_condition_failure


class UnverifiedStore(TableAccess):
    def due_unverified(self, shard: str, now: int, *, limit: int) -> list[CleanupEntry]:
        """1 round trip: up to `limit` entries of one index partition whose `cleanup_due` passed,
        oldest first. Never a scan; the projection holds only what cleanup reads."""
        return list(CleanupEntry.index.query(shard, CleanupEntry.cleanup_due <= now, limit=limit))

    def mark_reminded(self, entry: CleanupEntry, *, now: int, delete_due: int) -> bool:
        """1 round trip: record the reminder and move the entry to its deletion time, unless the
        account was verified or registered again since it was read (False then)."""
        try:
            Account(entry.pk, entry.sk).update(
                actions=[Account.reminded_at.set(now), Account.cleanup_due.set(delete_due)],
                condition=(Account.verified == False)  # noqa: E712
                & (Account.cleanup_due == entry.cleanup_due)
                & Account.reminded_at.does_not_exist(),
            )
        except UpdateError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def postpone_cleanup(self, entry: CleanupEntry, *, due: int) -> bool:
        """1 round trip: move the entry to a later `cleanup_due`, unless the account changed since
        it was read (False then)."""
        try:
            Account(entry.pk, entry.sk).update(
                actions=[Account.cleanup_due.set(due)],
                condition=(Account.verified == False) & (Account.cleanup_due == entry.cleanup_due),  # noqa: E712
            )
        except UpdateError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def delete_unverified(self, entry: CleanupEntry) -> bool:
        """1 round trip: delete the account if it is still unverified and still due as read (a
        registration or verification since then wins). Its links' tokens expire by TTL, and
        without the account they no longer work anyway."""
        try:
            Account(entry.pk, entry.sk).delete(
                condition=(Account.verified == False) & (Account.cleanup_due == entry.cleanup_due)  # noqa: E712
            )
        except DeleteError as error:
            if is_condition_failure(error):
                return False
            raise
        return True
