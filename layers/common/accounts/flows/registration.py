"""Registration: create an unverified account (or replace a pending one) and queue the email."""

from __future__ import annotations

import uuid

from accounts.email_jobs import EmailJob, JobKind
from accounts.emails import Address
from accounts.flows.cleanup import first_cleanup_due
from accounts.observability import count
from accounts.passwords import require_policy
from accounts.rate_limits import REGISTER_PER_IP, LimitState, reported
from accounts.repository import AccountVerified
from accounts.services import Services


def register(services: Services, *, email: Address, password: str, name: str | None, ip: str) -> LimitState | None:
    """Same work and same answer whether or not the address is taken: the password is always
    hashed and one job is always queued; the worker decides what to send."""
    settings = services.settings
    now = services.now()
    state = services.limiter.hit_ip(REGISTER_PER_IP, ip, settings, now=now)
    with reported(state):
        require_policy(password, email.display, settings)
    password_hash = services.hasher.hash(password)
    registration_id = uuid.uuid4().hex
    try:
        result = services.repo.register(
            email_key=email.key,
            display_email=email.display,
            name=name,
            password_hash=password_hash,
            registration_id=registration_id,
            now=now,
            cleanup_due=first_cleanup_due(settings, now),
        )
        if result.created:
            count("Registrations")
    except AccountVerified:
        # Nothing changes; the worker sees a verified account and sends the owner a notice.
        pass
    # A registration_id marks the job as coming from a registration (a resend has none).
    services.queue.enqueue(EmailJob(kind=JobKind.VERIFICATION, email=email.key, registration_id=registration_id))
    return state
