"""Email verification: consuming links, resending them, and the worker side that issues them."""

from __future__ import annotations

from accounts import tokens
from accounts.email_jobs import EmailJob, JobKind
from accounts.emails import Address
from accounts.errors import InvalidToken, TokenExpired
from accounts.flows.notify import send_link, send_to_user
from accounts.mailer import EmailKind, Mailer
from accounts.models import EmailToken
from accounts.observability import count
from accounts.rate_limits import MAIL_PER_IP, TOKEN_PER_IP, LimitState, reported
from accounts.repository import VERIFY, TokenSuperseded
from accounts.services import Services


def verify_email(services: Services, *, token: str, ip: str) -> LimitState | None:
    """Calls: IP limit, the token, one transaction (account verified + User item created)."""
    now = services.now()
    state = services.limiter.hit_ip(TOKEN_PER_IP, ip, services.settings, now=now)
    with reported(state):
        _consume_verification(services, token, now)
    return state


def _consume_verification(services: Services, token: str, now: int) -> None:
    if not tokens.looks_like_token(token):
        raise InvalidToken()
    token_hash = tokens.hash_token(token)
    record = services.repo.get_email_token(VERIFY, token_hash)
    if record is None:
        raise InvalidToken()
    if tokens.is_expired(int(record.expires_at), now):
        if _verified_by(services, record, token_hash):
            return
        raise TokenExpired()
    try:
        services.repo.verify(record, token_hash, now=now)
    except TokenSuperseded:
        # A second click, a mail scanner that POSTs, or a concurrent request that won: fine while
        # the account is verified by this very link (no second welcome email). Otherwise the link
        # was superseded, or cleanup deleted the account meanwhile.
        if _verified_by(services, record, token_hash):
            return
        raise InvalidToken() from None
    count("EmailsVerified")
    services.queue.enqueue(EmailJob(kind=JobKind.WELCOME, email=record.email_key))


def _verified_by(services: Services, record: EmailToken, token_hash: str) -> bool:
    account = services.repo.get_account(record.email_key)
    return (account is not None and account.verified and account.user_id == record.user_id
            and account.verified_by == token_hash)


def resend(services: Services, *, email: Address, ip: str) -> LimitState | None:
    """Same answer for known, unknown and verified addresses: one job, the worker decides."""
    now = services.now()
    state = services.limiter.hit_ip(MAIL_PER_IP, ip, services.settings, now=now)
    services.queue.enqueue(EmailJob(kind=JobKind.VERIFICATION, email=email.key))
    return state


def deliver_verification(services: Services, mailer: Mailer, job: EmailJob, *, first_attempt: bool) -> str:
    """Worker: send a verification link to an unverified account, the "already registered" notice
    to a verified one that someone tried to register, nothing otherwise. Returns the outcome."""
    settings = services.settings
    now = services.now()
    account = services.repo.get_account(job.email)
    if account is None:
        return "unknown_address"
    if account.verified:
        if job.registration_id is None:
            return "already_verified"
        if first_attempt and not services.limiter.allow(
            "email_already_registered", job.email, settings.rate_limit_email_per_address, now=now
        ):
            return "email_limited"
        send_to_user(settings, mailer, account, EmailKind.ALREADY_REGISTERED)
        return "sent_already_registered"
    if job.registration_id is not None and account.registration_id != job.registration_id:
        # Replaced by a newer registration, whose own job sends the link: don't spend the
        # per-address email budget on a link nobody may use.
        return "stale"
    if first_attempt and not services.limiter.allow(
        "email_verification", job.email, settings.rate_limit_email_per_address, now=now
    ):
        return "email_limited"
    if not send_link(services, mailer, account, EmailKind.VERIFICATION, purpose=VERIFY,
                     lifetime_seconds=settings.verify_token_ttl_seconds, registration_id=job.registration_id):
        # Verified or re-registered meanwhile: a newer job carries the current registration.
        return "stale"
    return "sent_verification"


def deliver_reminder(services: Services, mailer: Mailer, job: EmailJob, *, first_attempt: bool) -> str:
    """Worker: cleanup's one reminder: a fresh link (superseding the earlier ones) to an account
    that is still unverified. Not counted against the per-address limit: one per account."""
    account = services.repo.get_account(job.email)
    if account is None or account.verified:
        return "skipped"
    if not send_link(services, mailer, account, EmailKind.VERIFICATION_REMINDER, purpose=VERIFY,
                     lifetime_seconds=services.settings.verify_token_ttl_seconds):
        return "stale"
    return "sent_verification_reminder"


def deliver_welcome(services: Services, mailer: Mailer, job: EmailJob, *, first_attempt: bool) -> str:
    account = services.repo.get_account(job.email)
    if account is None or not account.verified:
        return "skipped"
    send_to_user(services.settings, mailer, account, EmailKind.WELCOME)
    return "sent_welcome"
