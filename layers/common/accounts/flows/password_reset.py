"""Password reset: request a link, confirm it with a new password, and the worker side."""

from __future__ import annotations

from accounts import aws, tokens
from accounts.email_jobs import EmailJob, JobKind
from accounts.emails import Address
from accounts.errors import InvalidToken, TokenExpired
from accounts.flows.notify import send_link, send_to_user
from accounts.mailer import EmailKind, Mailer
from accounts.observability import count
from accounts.passwords import require_policy
from accounts.rate_limits import MAIL_PER_IP, TOKEN_PER_IP, LimitState, reported
from accounts.repository import RESET, TokenSuperseded, new_event
from accounts.services import Services


def request_reset(services: Services, *, email: Address, ip: str) -> LimitState | None:
    """Same answer and the same work for known and unknown addresses: one job, the worker decides."""
    now = services.now()
    state = services.limiter.hit_ip(MAIL_PER_IP, ip, services.settings, now=now)
    services.queue.enqueue(EmailJob(kind=JobKind.PASSWORD_RESET, email=email.key))
    return state


def confirm_reset(services: Services, *, token: str, password: str, ip: str,
                  user_agent: str | None = None) -> LimitState | None:
    """Sets the password, verifies the address, revokes every session (the session epoch moves on
    both account items in one transaction) and lifts the address's login lockout."""
    now = services.now()
    state = services.limiter.hit_ip(TOKEN_PER_IP, ip, services.settings, now=now)
    with reported(state):
        _consume_reset(services, token, password, now, ip, user_agent)
    return state


def _consume_reset(services: Services, token: str, password: str, now: int, ip: str, user_agent: str | None) -> None:
    settings, repo = services.settings, services.repo
    if not tokens.looks_like_token(token):
        raise InvalidToken()
    token_hash = tokens.hash_token(token)
    record = repo.get_email_token(RESET, token_hash)
    if record is None:
        raise InvalidToken()
    if tokens.is_expired(int(record.expires_at), now):
        raise TokenExpired()
    # The policy is checked before anything is written: a refused password leaves the token usable.
    require_policy(password, record.email, settings)
    try:
        repo.reset_password(record, token_hash, password_hash=services.hasher.hash(password))
    except TokenSuperseded:
        raise InvalidToken() from None
    count("PasswordResets")
    aws.parallel(
        lambda: services.lockout.lift(record.email_key, now=now),
        lambda: repo.record_event(new_event(record.user_id, "password_reset", now=now, ip=ip, user_agent=user_agent)),
        lambda: services.queue.enqueue(EmailJob(kind=JobKind.PASSWORD_CHANGED, email=record.email_key)),
    )


def deliver_reset(services: Services, mailer: Mailer, job: EmailJob, *, first_attempt: bool) -> str:
    settings = services.settings
    now = services.now()
    account = services.repo.get_account(job.email)
    if account is None:
        return "unknown_address"
    if first_attempt and not services.limiter.allow(
        "email_password_reset", job.email, settings.rate_limit_email_per_address, now=now
    ):
        return "email_limited"
    if not send_link(services, mailer, account, EmailKind.PASSWORD_RESET, purpose=RESET,
                     lifetime_seconds=settings.reset_token_ttl_seconds):
        return "stale"
    return "sent_password_reset"


def deliver_password_changed(services: Services, mailer: Mailer, job: EmailJob, *, first_attempt: bool) -> str:
    """Security notification: always sent (no per-address limit), so an owner always learns of it."""
    account = services.repo.get_account(job.email)
    if account is None:
        return "unknown_address"
    send_to_user(services.settings, mailer, account, EmailKind.PASSWORD_CHANGED)
    return "sent_password_changed"
