"""Email verification: consuming links, resending them, and the worker side that issues them."""

from __future__ import annotations

from accounts import tokens
from accounts.email_jobs import EmailJob, JobKind
from accounts.emails import Address
from accounts.errors import InvalidToken, TokenExpired
from accounts.flows.notify import send_link, send_to_user
from accounts.mailer import EmailKind, Mailer
from accounts.observability import count
from accounts.rate_limits import LimitState
from accounts.repository import VERIFY, TokenAlreadyUsed, TokenSuperseded
from accounts.services import Services


def verify_email(services: Services, *, token: str, ip: str) -> LimitState | None:
    now = services.now()
    state = services.limiter.hit("token_ip", ip, services.settings.rate_limit_token_per_ip, now=now)
    if not tokens.looks_like_token(token):
        raise InvalidToken()
    token_hash = tokens.hash_token(token)
    record = services.repo.get_email_token(VERIFY, token_hash)
    if record is None:
        raise InvalidToken()
    if record.used_at is not None:
        # Friendly repeat (a second click, a mail scanner that POSTs): fine while the account is verified.
        user = services.repo.get_user(record.email_key)
        if user is not None and user.verified and user.user_id == record.user_id:
            return state
        raise InvalidToken()
    if tokens.is_expired(record.expires_at, now):
        raise TokenExpired()
    try:
        services.repo.consume_verification(record, token_hash, now=now)
    except TokenAlreadyUsed:
        # A concurrent request won (no second welcome email) - unless the token is gone because
        # cleanup deleted the account meanwhile: then say so rather than report success.
        user = services.repo.get_user(record.email_key)
        if user is not None and user.verified and user.user_id == record.user_id:
            return state
        raise InvalidToken() from None
    except TokenSuperseded:
        raise InvalidToken() from None
    count("EmailsVerified")
    services.queue.enqueue(EmailJob(kind=JobKind.WELCOME, email=record.email_key))
    return state


def resend(services: Services, *, email: Address, ip: str) -> LimitState | None:
    """Same answer for known, unknown and verified addresses: one job, the worker decides."""
    now = services.now()
    state = services.limiter.hit("mail_ip", ip, services.settings.rate_limit_mail_per_ip, now=now)
    services.queue.enqueue(EmailJob(kind=JobKind.VERIFICATION, email=email.key))
    return state


def deliver_verification(services: Services, mailer: Mailer, job: EmailJob, *, first_attempt: bool) -> str:
    """Worker: send a verification link to an unverified account, the "already registered" notice
    to a verified one that someone tried to register, nothing otherwise. Returns the outcome."""
    settings = services.settings
    now = services.now()
    user = services.repo.get_user(job.email)
    if user is None:
        return "unknown_address"
    if user.verified:
        if job.registration_id is None:
            return "already_verified"
        if first_attempt and not services.limiter.allow(
            "email_already_registered", job.email, settings.rate_limit_email_per_address, now=now
        ):
            return "email_limited"
        send_to_user(settings, mailer, user, EmailKind.ALREADY_REGISTERED)
        return "sent_already_registered"
    if job.registration_id is not None and user.registration_id != job.registration_id:
        # Replaced by a newer registration, whose own job sends the link: don't spend the
        # per-address email budget on a link nobody may use.
        return "stale"
    if first_attempt and not services.limiter.allow(
        "email_verification", job.email, settings.rate_limit_email_per_address, now=now
    ):
        return "email_limited"
    if not send_link(services, mailer, user, EmailKind.VERIFICATION, purpose=VERIFY,
                     lifetime_seconds=settings.verify_token_ttl_seconds, registration_id=job.registration_id):
        # Verified or re-registered meanwhile: a newer job carries the current registration.
        return "stale"
    return "sent_verification"


def deliver_welcome(services: Services, mailer: Mailer, job: EmailJob, *, first_attempt: bool) -> str:
    user = services.repo.get_user(job.email)
    if user is None or not user.verified:
        return "skipped"
    send_to_user(services.settings, mailer, user, EmailKind.WELCOME)
    return "sent_welcome"
