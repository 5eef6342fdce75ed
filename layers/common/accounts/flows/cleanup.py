"""Scheduled cleanup of accounts that were never verified, and their one reminder.

Only unverified accounts are in the sparse `unverified` index (everything else expires by TTL).
An entry's `cleanup_due` says when cleanup must next act on it: at registration it is the
reminder time (VERIFICATION_REMINDER_AFTER_HOURS), and once the reminder is sent, the deletion
time (UNVERIFIED_ACCOUNT_TTL_DAYS after registration). Each round reads one page of every shard
in parallel, acts on the entries in parallel (conditional writes: an account verified or
registered again meanwhile is left alone), and the run stops cleanly before the function's
timeout; whatever is left is still due and the next run continues with it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from accounts import aws
from accounts.email_jobs import EmailJob, JobKind
from accounts.models import CleanupEntry, unverified_shards
from accounts.observability import count, logger
from accounts.services import Services
from accounts.settings import Settings

# Entries read per shard and round: a round (32 pages) is at most 800 conditional writes, 8 at a
# time: about a second of work, so a run checks its clock often.
PAGE_SIZE = 25
# Stop when less than this is left of the invocation: several times what one round takes,
# retries included.
SAFETY_MARGIN_MS = 5_000


def first_cleanup_due(settings: Settings, registered_at: int) -> int:
    """When cleanup first acts on an account registered at `registered_at`."""
    reminder = settings.verification_reminder_after_seconds
    deletion = settings.unverified_account_ttl_seconds
    return registered_at + (reminder if 0 < reminder < deletion else deletion)


@dataclass
class CleanupReport:
    deleted: int = 0
    reminded: int = 0
    skipped: int = 0  # verified or registered again since the index was read
    finished: bool = True

    def as_dict(self) -> dict[str, int | bool]:
        return {"deleted": self.deleted, "reminded": self.reminded, "skipped": self.skipped,
                "finished": self.finished}


def run_cleanup(services: Services, *, remaining_ms: Callable[[], int]) -> CleanupReport:
    now = services.now()
    report = CleanupReport()
    pending = unverified_shards()
    while pending:
        if remaining_ms() < SAFETY_MARGIN_MS:
            report.finished = False
            break
        # One page of every shard that may hold more, read in parallel (32 Queries: a few waves).
        pages = aws.parallel(*(lambda shard=shard: services.repo.due_unverified(shard, now, limit=PAGE_SIZE)
                               for shard in pending))
        _act(services, [entry for page in pages for entry in page], now, report)
        pending = [shard for shard, page in zip(pending, pages) if len(page) == PAGE_SIZE]
    _report(report)
    return report


def _act(services: Services, entries: list[CleanupEntry], now: int, report: CleanupReport) -> None:
    settings, repo = services.settings, services.repo
    reminders_on = settings.verification_reminder_after_seconds > 0
    deletion_after = settings.unverified_account_ttl_seconds

    def handle(entry: CleanupEntry) -> str:
        registered = int(entry.registered_at or 0)
        delete_due = registered + deletion_after
        if now >= delete_due:
            return "deleted" if repo.delete_unverified(entry) else "skipped"
        if reminders_on and entry.reminded_at is None:
            return "reminded" if repo.mark_reminded(entry, now=now, delete_due=delete_due) else "skipped"
        # Due early because the configuration changed since it was indexed (reminders turned off,
        # a longer UNVERIFIED_ACCOUNT_TTL_DAYS): wait for the deletion time.
        return "postponed" if repo.postpone_cleanup(entry, due=delete_due) else "skipped"

    outcomes = aws.parallel(*(lambda entry=entry: handle(entry) for entry in entries)) if entries else []
    reminded = [entry for entry, outcome in zip(entries, outcomes) if outcome == "reminded"]
    services.queue.enqueue_many([EmailJob(kind=JobKind.VERIFICATION_REMINDER, email=entry.email_key)
                                 for entry in reminded])
    report.reminded += len(reminded)
    report.deleted += outcomes.count("deleted")
    report.skipped += outcomes.count("skipped")


def _report(report: CleanupReport) -> None:
    count("DeletedUnverifiedAccounts", report.deleted)
    count("VerificationRemindersQueued", report.reminded)
    if not report.finished:
        count("CleanupUnfinished")
    logger.info("cleanup run", extra=report.as_dict())
