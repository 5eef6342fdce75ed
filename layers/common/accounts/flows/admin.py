"""Admin: who may call the admin routes, one user by id or email, disable/enable, revoking every
session of a user, on-demand verification reminders, and granting the admin role (the operator's
command, local and in AWS).

Admin actions change the fields the Account and the User share in one transaction (the repository's
AdminStore), are recorded as security events of the target user (with the admin as `actor`, never
the admin's IP or user agent, which the user would see) and are logged with the admin's user id."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accounts import aws
from accounts.email_jobs import EmailJob, JobKind
from accounts.emails import parse_address
from accounts.errors import EmailNotVerified, InsufficientScope, NotFound, ServiceUnavailable
from accounts.flows.sessions import ADMIN_ROLE, authenticate, rfc3339
from accounts.jwt_keys import ADMIN_SCOPE
from accounts.models import Account, CleanupEntry, User, unverified_shards
from accounts.observability import count, logger
from accounts.repository import Repository, UserChanged, new_event
from accounts.services import Services

# At most this many reminders are queued by one request, and an `emails` list may name at most this
# many addresses: a request is a bounded amount of work (a few seconds at worst), never a timeout.
MAX_REMINDERS = 100
# At most one reminder per account in this period (the Account's `reminded_at` decides).
REMINDER_INTERVAL_SECONDS = 24 * 3600
# `registered_before`: index entries read per partition and page, and pages per partition at most.
REMINDER_PAGE_SIZE = 100
REMINDER_MAX_PAGES = 3
# A reminder request stops reading the index when less than this is left of the invocation.
SAFETY_MARGIN_MS = 3_000
# Attempts to change a user whose address changed under the request before giving up (503).
_ATTEMPTS = 3
_USER_ID = re.compile(r"[0-9a-f]{32}")
_NO_USER = "No user has this id or email address."


@dataclass(frozen=True)
class Caller:
    """The admin making the request (for the log line of each action)."""

    user_id: str
    ip: str | None = None


def require_admin(services: Services, claims: dict[str, Any]) -> User:
    """The calling admin, from access-token claims the JWT authorizer already checked.

    InsufficientScope (403) without `accounts:admin` in the token's scope (API Gateway's route
    scopes refuse it first in AWS), or when the user has lost the admin role since the token was
    issued; Unauthorized (401) when its session ended or the admin is disabled or gone."""
    scope = claims.get("scope")
    if not isinstance(scope, str) or ADMIN_SCOPE not in scope.split():
        raise InsufficientScope()
    user, _ = authenticate(services, claims)
    if ADMIN_ROLE not in (user.roles or ()):
        raise InsufficientScope("The token's user no longer holds the admin role.")
    return user


# --- one user ------------------------------------------------------------------------------------


def look_up(services: Services, user_ref: str) -> dict[str, Any]:
    """One user by id or by email address (a ref with `@` is an address). An address finds
    unverified accounts too; an id only verified ones (the User item exists from verification on).

    Calls: the Account or the User (1), then the live sessions counted (1)."""
    repo, now = services.repo, services.now()
    source: Account | User | None
    if "@" in user_ref:
        try:
            source = repo.get_account(parse_address(user_ref).key)
        except ValueError:
            source = None
    else:
        source = repo.get_user(user_ref) if _USER_ID.fullmatch(user_ref) else None
    if source is None:
        raise NotFound(_NO_USER)
    verified = bool(source.verified) if isinstance(source, Account) else True
    user_id = source.user_id
    # Sessions begin only once the address is verified.
    sessions = 0
    if verified:
        sessions = repo.count_live_sessions(user_id, epoch=int(source.session_epoch or 0), now=now)
    return {
        "user_id": user_id,
        "email": source.email,
        "name": source.name,
        "created_at": rfc3339(int(source.created_at)),
        "email_verified": verified,
        "disabled": bool(source.disabled),
        "roles": sorted(source.roles or ()),
        "mfa_enabled": bool(source.mfa_enabled),
        "active_sessions": sessions,
    }


def _user(repo: Repository, user_id: str) -> User:
    user = repo.get_user(user_id) if _USER_ID.fullmatch(user_id) else None
    if user is None:
        raise NotFound(_NO_USER)
    return user


def set_disabled(services: Services, caller: Caller, user_id: str, *, disabled: bool) -> dict[str, Any]:
    """Disable or enable a user: `disabled` on the Account and the User in one transaction. A
    disabled user's sessions stop working at once (refresh and service routes read the flag), and
    work again once enabled; login answers 403 account_disabled after the password check.

    Calls: the User (1), the transaction (1), the event (1). Setting the value the user already has
    changes nothing and records no event."""
    repo, now = services.repo, services.now()
    user = _user(repo, user_id)
    for _ in range(_ATTEMPTS):
        if bool(user.disabled) == disabled:
            return {"user_id": user_id, "disabled": disabled}
        try:
            repo.set_disabled(user, disabled=disabled)
            break
        except UserChanged:
            user = _user(repo, user_id)  # gone (404), changed by a parallel request, or a new address
    else:
        raise ServiceUnavailable(retry_after=1)
    kind = "disabled" if disabled else "enabled"
    repo.record_event(new_event(user_id, kind, now=now, actor=caller.user_id))
    _log_action(kind, user_id, caller)
    return {"user_id": user_id, "disabled": disabled}


def revoke_sessions(services: Services, caller: Caller, user_id: str) -> None:
    """End every session of the user at once: `session_epoch` + 1 on the Account and the User in one
    transaction, as a password reset does. Calls: the User (1), the transaction (1), the event (1)."""
    repo, now = services.repo, services.now()
    user = _user(repo, user_id)
    for _ in range(_ATTEMPTS):
        try:
            repo.revoke_sessions(user)
            break
        except UserChanged:
            user = _user(repo, user_id)
    else:
        raise ServiceUnavailable(retry_after=1)
    repo.record_event(new_event(user_id, "session_revoked", now=now, actor=caller.user_id))
    _log_action("session_revoked", user_id, caller)


def _log_action(action: str, user_id: str, caller: Caller) -> None:
    logger.info("admin action", extra={"action": action, "user_id": user_id, "admin_id": caller.user_id,
                                       "ip": caller.ip})


# --- verification reminders ----------------------------------------------------------------------


@dataclass
class ReminderReport:
    queued: int = 0
    more: bool = False  # the cap or the read budget stopped the request before every match was seen

    def as_dict(self) -> dict[str, Any]:
        return {"queued": self.queued, "more": self.more}


def send_reminders(
    services: Services,
    caller: Caller,
    *,
    emails: list[str] | None = None,
    registered_before: int | None = None,
    remaining_ms: Callable[[], int] = lambda: 60_000,
) -> ReminderReport:
    """Queue a verification reminder (a fresh link, sent by the email worker) for each account that
    is still unverified and got no reminder in the last 24 h: the addresses of `emails` (at most
    MAX_REMINDERS, checked by the request schema), or those registered before `registered_before`
    (epoch seconds), read from the `unverified` index with a page budget. At most MAX_REMINDERS are
    queued per request; `more` says when the request stopped before seeing every match.

    Each reminder is claimed with one conditional write on the account's `reminded_at`, so parallel
    requests (and cleanup's scheduled reminder) never send two within 24 h."""
    report = ReminderReport()
    if emails is not None:
        keys = list(dict.fromkeys(parse_address(email).key for email in emails))[:MAX_REMINDERS]
        _claim_and_queue(services, keys, report)
    elif registered_before is not None:
        _remind_registered_before(services, registered_before, remaining_ms, report)
    count("VerificationRemindersQueued", report.queued)
    logger.info("admin action", extra={"action": "verification_reminders", "queued": report.queued,
                                       "more": report.more, "admin_id": caller.user_id, "ip": caller.ip})
    return report


def _claim_and_queue(services: Services, keys: list[str], report: ReminderReport) -> None:
    """Claim the reminder of each account (in parallel) and queue a job for each claim won."""
    if not keys:
        return
    repo, now = services.repo, services.now()
    not_since = now - REMINDER_INTERVAL_SECONDS
    won = aws.parallel(*(lambda key=key: repo.claim_reminder(key, now=now, not_since=not_since)
                         for key in keys))
    claimed = [key for key, ok in zip(keys, won, strict=True) if ok]
    services.queue.enqueue_many([EmailJob(kind=JobKind.VERIFICATION_REMINDER, email=key) for key in claimed])
    report.queued += len(claimed)


def _remind_registered_before(services: Services, registered_before: int, remaining_ms: Callable[[], int],
                              report: ReminderReport) -> None:
    """Rounds of one page of every index partition with more to read (in parallel), each page's
    matches claimed until MAX_REMINDERS are queued; at most REMINDER_MAX_PAGES rounds."""
    repo = services.repo
    not_since = services.now() - REMINDER_INTERVAL_SECONDS
    attempts = 0
    pending: dict[str, dict | None] = dict.fromkeys(unverified_shards())
    for _ in range(REMINDER_MAX_PAGES):
        if not pending or report.queued >= MAX_REMINDERS or remaining_ms() < SAFETY_MARGIN_MS:
            break
        pages = aws.parallel(*(
            lambda shard=shard, start=start: repo.unverified_page(
                shard, registered_before=registered_before, not_since=not_since, limit=REMINDER_PAGE_SIZE,
                start=start)
            for shard, start in pending.items()
        ))
        pending = {shard: start for shard, (_, start) in zip(pending, pages, strict=True) if start}
        candidates: list[CleanupEntry] = [entry for entries, _ in pages for entry in entries]
        # Claims lost to a parallel request or a verification meanwhile are retried with the next
        # candidates; the attempts are bounded too (twice the cap per request).
        while candidates and report.queued < MAX_REMINDERS and attempts < 2 * MAX_REMINDERS:
            batch = candidates[:min(MAX_REMINDERS - report.queued, 2 * MAX_REMINDERS - attempts)]
            candidates = candidates[len(batch):]
            attempts += len(batch)
            _claim_and_queue(services, [entry.email_key for entry in batch], report)
        if candidates:
            report.more = True
    if pending:
        report.more = True


# --- granting the admin role (operator command) ---------------------------------------------------


def grant_admin(repo: Repository, email: str) -> dict[str, Any]:
    """Give the verified account of `email` the admin role (Account and User in one transaction);
    its next access token (login or refresh) carries `accounts:admin`. Used by `make admin` (through
    the local server) and scripts/grant_admin.py (in AWS, with the operator's credentials).

    ValueError for an address that is not one; NotFound for no account; EmailNotVerified for an
    account whose address is not verified yet."""
    key = parse_address(email).key
    for _ in range(_ATTEMPTS):
        account = repo.get_account(key)
        if account is None:
            raise NotFound("No account has this email address.")
        if not account.verified:
            raise EmailNotVerified("The account's address is not verified yet: verify it first.")
        try:
            repo.add_role(account, ADMIN_ROLE)
        except UserChanged:
            continue  # verified, re-keyed or deleted meanwhile: read it again
        logger.info("admin role granted", extra={"user_id": account.user_id})
        roles = sorted({*(account.roles or ()), ADMIN_ROLE})
        return {"user_id": account.user_id, "email": account.email, "roles": roles}
    raise ServiceUnavailable(retry_after=1)
