"""Email change (spec section 3, v2): request it with the password, confirm it with the emailed
token, and the worker's side (the link to the new address, the notice to the old one).

The request answers 202 the same whether or not the new address is taken: the worker decides what
to send (the link, or the already-registered notice to the new address's owner), and issues the
token itself, so a raw token never travels through SQS. Confirming is one transaction that moves
the Account to its new key and points the User at it (Repository.change_email); the user id, and
with it the sessions, events and factors, stay."""

from __future__ import annotations

from typing import Any

from accounts import aws, tokens
from accounts.email_jobs import EmailJob, JobKind
from accounts.emails import Address, parse_address
from accounts.errors import InvalidToken, ServiceUnavailable, TokenExpired, ValidationFailed
from accounts.flows.account import check_password, send_notice
from accounts.flows.notify import send_to_user
from accounts.flows.sessions import Client, authenticate, profile
from accounts.mailer import EmailKind, Mailer, render
from accounts.observability import count
from accounts.rate_limits import TOKEN_PER_IP, LimitState, reported
from accounts.repository import EMAIL_CHANGE, AddressTaken, EmailTokenUsed, UserChanged, new_event
from accounts.services import Services

# Attempts at the move when the account changed between the read and the transaction.
_ATTEMPTS = 3


def request_change(services: Services, claims: dict[str, Any], *, new_email: Address, password: str,
                   client: Client) -> None:
    """POST /email: checks the password (lockout) and queues one job for the worker. The same
    answer whether or not the new address is taken."""
    now = services.now()
    user, _session = authenticate(services, claims)
    if new_email.key == user.email_key:
        raise ValidationFailed(errors=[{"field": "new_email", "message": "is the account's current address"}])
    _account, attempt = check_password(services, user, password, client, now=now)
    aws.parallel(
        lambda: services.lockout.give_back(attempt),
        lambda: services.queue.enqueue(EmailJob(kind=JobKind.EMAIL_CHANGE, email=new_email.display,
                                                user_id=user.user_id)),
    )


def deliver_email_change(services: Services, mailer: Mailer, job: EmailJob, *, first_attempt: bool) -> str:
    """Worker: a confirmation link (1 h, single use) to the new address, or, when a verified account
    already has that address, the already-registered notice to it instead. Counted against the
    per-address email limit of the new address (nobody can flood an address with links)."""
    settings, repo, now = services.settings, services.repo, services.now()
    new = parse_address(job.email)
    user, taken = aws.parallel(lambda: repo.get_user(job.user_id or ""), lambda: repo.get_account(new.key))
    if user is None:
        return "unknown_user"
    if first_attempt and not services.limiter.allow("email_change", new.key, settings.rate_limit_email_per_address,
                                                    now=now):
        return "email_limited"
    if taken is not None and taken.verified:
        if taken.user_id == user.user_id:
            return "unchanged"
        send_to_user(settings, mailer, taken, EmailKind.ALREADY_REGISTERED)
        return "sent_already_registered"
    token = tokens.new_token()
    lifetime = settings.email_change_token_ttl_seconds
    repo.save_email_change_token(user, new_key=new.key, new_email=new.display, token_hash=tokens.hash_token(token),
                                 expires_at=now + lifetime)
    hours = lifetime // 3600 if lifetime % 3600 == 0 else None
    mailer.send(new.display, render(EmailKind.EMAIL_CHANGE, product_name=settings.product_name,
                                    app_base_url=settings.app_base_url, name=user.name, email=new.display,
                                    token=token, expires_in_hours=hours))
    return "sent_email_change"


def confirm_change(services: Services, *, token: str, ip: str,
                   user_agent: str | None = None) -> tuple[dict[str, Any], LimitState | None]:
    """POST /email/confirm (no access token: the emailed token is the proof), counted per IP.
    Moves the account in one transaction; 400 invalid_token when the token is unknown or used, or
    the new address was taken meanwhile (nothing moves); 410 when it expired. Answers the profile
    with the new address; records `email_changed`; queues the notice to the old address."""
    now = services.now()
    state = services.limiter.hit_ip(TOKEN_PER_IP, ip, services.settings, now=now)
    with reported(state):
        return _consume(services, token, now, ip, user_agent), state


def _consume(services: Services, token: str, now: int, ip: str, user_agent: str | None) -> dict[str, Any]:
    repo = services.repo
    if not tokens.looks_like_token(token):
        raise InvalidToken()
    token_hash = tokens.hash_token(token)
    record = repo.get_email_token(EMAIL_CHANGE, token_hash)
    if record is None:
        raise InvalidToken()
    if tokens.is_expired(int(record.expires_at), now):
        raise TokenExpired()
    for _ in range(_ATTEMPTS):
        user = repo.get_user(record.user_id)
        if user is None or user.email_key == record.email_key:  # deleted, or moved there already
            raise InvalidToken()
        account = repo.get_account(user.email_key)
        if account is None or account.user_id != user.user_id:
            continue  # the User and Account are mid-change: read again
        try:
            repo.change_email(record, token_hash, account, user)
        except (EmailTokenUsed, AddressTaken):
            raise InvalidToken() from None
        except UserChanged:
            continue
        break
    else:
        raise ServiceUnavailable(retry_after=1)
    old_address = user.email
    user.email, user.email_key = record.email, record.email_key
    count("EmailChanges")
    aws.parallel(
        lambda: repo.record_event(new_event(user.user_id, "email_changed", now=now, ip=ip, user_agent=user_agent)),
        lambda: services.queue.enqueue(EmailJob(kind=JobKind.EMAIL_CHANGED, email=old_address)),
    )
    return profile(user)


def deliver_email_changed(services: Services, mailer: Mailer, job: EmailJob, *, first_attempt: bool) -> str:
    """Worker: the email-changed notice to the old address (a security notice: no per-address limit)."""
    send_notice(services, mailer, EmailKind.EMAIL_CHANGED, job.email)
    return "sent_email_changed"
