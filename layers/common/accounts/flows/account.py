"""Account self-service (spec section 3, v2): the profile, the password, the caller's sessions and
security events, and deleting the account. The email change is in accounts.flows.email_change.

Every route takes the access-token claims the JWT authorizer checked and refuses a revoked session
or a disabled user (one read). Routes that need the password check it as login does: behind the
address's lockout (reserved before argon2 runs; a wrong password keeps its reservation, so it
counts), and a right one gives the reservation back."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from accounts import aws, tokens
from accounts.email_jobs import EmailJob, JobKind
from accounts.errors import InvalidCredentials, Unauthorized, ValidationFailed
from accounts.flows.sessions import Client, authenticate, profile, rfc3339
from accounts.mailer import EmailKind, Mailer, render
from accounts.models import Account, Session, User
from accounts.observability import count, security_event
from accounts.passwords import require_policy  # password routes verify with argon2: it loads here
from accounts.rate_limits import Attempt
from accounts.repository import UserChanged, new_event
from accounts.services import Services

_ID = re.compile(r"[0-9a-f]{32}")
_EVENT_SK = re.compile(r"EVENT#\d{11}#\d{20}[0-9a-f]{4}")
EVENTS_PAGE_DEFAULT = 20
EVENTS_PAGE_MAX = 100
# Attempts at a two-item write whose user changed under the request before answering 401.
_ATTEMPTS = 3


# --- the password, behind the lockout -------------------------------------------------------------


def check_password(services: Services, user: User, password: str, client: Client, *, now: int) -> tuple[Account, Attempt]:
    """The user's Account, once `password` is verified against it (2 calls in parallel, then argon2).

    429 while the address is locked; 401 invalid_credentials for a wrong password, which keeps its
    lockout reservation (it counts). The caller gives the returned attempt back once it is done."""
    repo, lockout = services.repo, services.lockout
    attempt, account = aws.parallel(
        lambda: lockout.attempt(user.email_key, now=now),
        lambda: repo.get_account(user.email_key),
    )
    if not attempt.allowed:
        raise lockout.refusal(now=now)
    if account is None or account.user_id != user.user_id:  # the address moved under this request
        lockout.give_back(attempt)
        raise Unauthorized()
    if not services.hasher.verify(account.password_hash, password):
        if attempt.last:  # this failure locks the address for the window
            repo.record_event(new_event(user.user_id, "locked_out", now=now, ip=client.ip,
                                        user_agent=client.user_agent))
            count("Lockouts")
        raise wrong_password("The password is incorrect.")
    return account, attempt


def wrong_password(detail: str) -> InvalidCredentials:
    """401 invalid_credentials on a route that takes a bearer token: the token was fine, the password
    was not. A 401 always carries a challenge (RFC 9110); this one names the scheme without an error,
    since the token itself is valid."""
    return InvalidCredentials(detail, headers={"WWW-Authenticate": "Bearer"})


# --- profile --------------------------------------------------------------------------------------


def update_name(services: Services, claims: dict[str, Any], *, name: str) -> dict[str, Any]:
    """PATCH /me: the name on the Account and the User in one transaction; answers the profile.
    Calls: the caller (1), the transaction (1)."""
    for _ in range(_ATTEMPTS):
        user, _session = authenticate(services, claims)
        try:
            services.repo.set_name(user, name)
        except UserChanged:
            continue  # the address moved meanwhile: read the user again
        user.name = name
        return profile(user)
    raise Unauthorized()


# --- password -------------------------------------------------------------------------------------


def change_password(services: Services, claims: dict[str, Any], *, current_password: str, new_password: str,
                    client: Client) -> None:
    """POST /password: checks the current password (lockout), applies the policy, stores the new
    hash and revokes every other session of the user in one transaction (the caller's session moves
    to the new session epoch with the user; see Repository.change_password); then records
    `password_changed` and queues the password-changed notice."""
    repo, now = services.repo, services.now()
    user, session = authenticate(services, claims)
    account, attempt = check_password(services, user, current_password, client, now=now)
    try:
        require_policy(new_password, user.email, services.settings)
        new_hash = services.hasher.hash(new_password)
        repo.change_password(user, session, old_hash=account.password_hash, new_hash=new_hash)
    except UserChanged:
        services.lockout.give_back(attempt)
        # A reset, a revocation or another change won the race: the session may be gone (401), or
        # the password is no longer the one this request checked.
        authenticate(services, claims)
        raise wrong_password("The password changed meanwhile; try again.") from None
    except Exception:
        services.lockout.give_back(attempt)  # the password was right: not a failure
        raise
    count("PasswordChanges")
    aws.parallel(
        lambda: services.lockout.give_back(attempt),
        lambda: repo.record_event(new_event(user.user_id, "password_changed", now=now, ip=client.ip,
                                            user_agent=client.user_agent)),
        lambda: services.queue.enqueue(EmailJob(kind=JobKind.PASSWORD_CHANGED, email=user.email_key)),
    )


# --- sessions -------------------------------------------------------------------------------------


def _live(user: User | None, session: Session, now: int) -> bool:
    return (user is not None and not user.disabled and not tokens.is_expired(int(session.expires_at), now)
            and int(session.epoch) == int(user.session_epoch or 0))


def list_sessions(services: Services, claims: dict[str, Any]) -> dict[str, Any]:
    """GET /sessions: one Query returns the User and its sessions together, which both checks the
    caller (as authenticate does) and answers (spec section 7: one call). Newest use first."""
    subject, session_id = claims.get("sub"), claims.get("sid")
    if not isinstance(subject, str) or not isinstance(session_id, str):
        raise Unauthorized()
    if not _ID.fullmatch(subject) or not _ID.fullmatch(session_id):
        raise Unauthorized()
    now = services.now()
    user, found = services.repo.get_user_with_sessions(subject, now=now)
    current = next((session for session in found if session.session_id == session_id), None)
    if user is None or current is None or not _live(user, current, now):
        raise Unauthorized()
    live = sorted((session for session in found if _live(user, session, now)),
                  key=lambda session: (-int(session.last_used_at), session.session_id))
    return {"sessions": [
        {
            "session_id": session.session_id,
            "created_at": rfc3339(int(session.created_at)),
            "last_used_at": rfc3339(int(session.last_used_at)),
            "ip": session.ip,
            "user_agent": session.user_agent,
            "current": session.session_id == session_id,
        }
        for session in live
    ]}


def revoke_session(services: Services, claims: dict[str, Any], session_id: str, *, client: Client) -> None:
    """DELETE /sessions/{id}: deletes one of the caller's sessions; the key is built from the
    caller's user id, so an unknown id, or another user's, deletes nothing (and answers the same).
    Revoking another session records `session_revoked`; revoking the current one is a logout."""
    user, session = authenticate(services, claims)
    if not _ID.fullmatch(session_id) or not services.repo.revoke_session(user.user_id, session_id):
        return
    if session_id == session.session_id:
        count("Logouts")
        security_event("logout", user_id=user.user_id, ip=client.ip, session_id=session_id)
        return
    services.repo.record_event(new_event(user.user_id, "session_revoked", now=services.now(), ip=client.ip,
                                         user_agent=client.user_agent))


# --- security events ------------------------------------------------------------------------------


def _cursor(after: str) -> str:
    return base64.urlsafe_b64encode(after.encode()).decode().rstrip("=")


def _after(cursor: str) -> str:
    """The sort key an opaque cursor stands for; 422 for anything this service did not hand out."""
    try:
        after = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        after = ""
    if not _EVENT_SK.fullmatch(after):
        raise ValidationFailed(errors=[{"field": "query.cursor", "message": "not a cursor this API returned"}])
    return after


def list_events(services: Services, claims: dict[str, Any], *, cursor: str | None = None,
                limit: int = EVENTS_PAGE_DEFAULT) -> dict[str, Any]:
    """GET /me/events: the caller's security events, newest first, a page at a time; `next` is an
    opaque cursor for the following page (null at the end). Calls: the caller (1), one Query (1)."""
    after = _after(cursor) if cursor else None
    user, _session = authenticate(services, claims)
    found, last = services.repo.events_page(user.user_id, now=services.now(), limit=limit, after=after)
    return {
        "events": [
            {"type": event.type, "at": rfc3339(int(event.at)), "ip": event.ip, "user_agent": event.user_agent}
            for event in found
        ],
        "next": _cursor(last) if last else None,
    }


# --- deletion -------------------------------------------------------------------------------------


def delete_account(services: Services, claims: dict[str, Any], *, password: str, client: Client) -> None:
    """DELETE /me: checks the password (lockout), then deletes the Account, the User and everything
    in the user's partition (sessions, events, factors) and the links the Account names
    (Repository.delete_account); queues the account-deleted notice to the address. The address can
    register again at once. A `account_deleted` security event is logged (not stored: the user's
    events are deleted with the account)."""
    now = services.now()
    user, _session = authenticate(services, claims)
    account, attempt = check_password(services, user, password, client, now=now)
    try:
        services.repo.delete_account(user, account)
    except UserChanged:
        services.lockout.give_back(attempt)
        raise Unauthorized() from None
    security_event("account_deleted", user_id=user.user_id, ip=client.ip)
    count("AccountsDeleted")
    aws.parallel(
        lambda: services.lockout.give_back(attempt),
        lambda: services.queue.enqueue(EmailJob(kind=JobKind.ACCOUNT_DELETED, email=user.email)),
    )


def send_notice(services: Services, mailer: Mailer, kind: EmailKind, address: str) -> None:
    """A security notice to an address that no longer belongs to an account (deleted, or moved):
    the job carries the address as it was verified; nothing else is known or needed."""
    settings = services.settings
    mailer.send(address, render(kind, product_name=settings.product_name, app_base_url=settings.app_base_url,
                                name=None, email=address))


def deliver_account_deleted(services: Services, mailer: Mailer, job: EmailJob, *, first_attempt: bool) -> str:
    """Worker: the account-deleted notice (a security notice: no per-address limit)."""
    send_notice(services, mailer, EmailKind.ACCOUNT_DELETED, job.email)
    return "sent_account_deleted"
