"""Helpers of the two-factor tests: a verified user with a live session, enrolled or not, and
codes computed the way an authenticator app computes them (pyotp, from the secret)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyotp

from accounts.email_jobs import JobKind
from accounts.flows import mfa
from accounts.services import Services
from tests.fakes import FakeMailer
from tests.unit.flow_helpers import CLIENT, DELIVERIES, claims_of, log_in, verified_account

MFA_DELIVERIES = {
    **DELIVERIES,
    JobKind.TWO_FACTOR_ENABLED: mfa.deliver_two_factor_enabled,
    JobKind.TWO_FACTOR_DISABLED: mfa.deliver_two_factor_disabled,
}


@dataclass
class Enrolled:
    user_id: str
    claims: dict[str, Any]
    secret: str
    recovery_codes: list[str]


def app_code(secret: str, at: int, *, offset_steps: int = 0) -> str:
    """What an authenticator app shows at `at` (plus `offset_steps` steps of 30 s)."""
    return pyotp.TOTP(secret).at(at + 30 * offset_steps)


def signed_in(services: Services, mailer: FakeMailer, email: str | None = None) -> tuple[str, dict[str, Any]]:
    """A verified user and the claims of a fresh access token (what the JWT authorizer passes on)."""
    kwargs = {"email": email} if email else {}
    user_id = verified_account(services, mailer, **kwargs).user_id
    return user_id, claims_of(services, log_in(services, **kwargs))


def enrolled(services: Services, mailer: FakeMailer, email: str | None = None) -> Enrolled:
    """A user with TOTP active (confirmed with the code of the current step); queue emptied."""
    user_id, claims = signed_in(services, mailer, email)
    secret = mfa.enrol(services, claims)["secret"]
    codes = mfa.confirm(services, claims, code=app_code(secret, services.now()), client=CLIENT)
    services.queue.take()
    return Enrolled(user_id, claims, secret, codes)


def deliver_all(services: Services, mailer: FakeMailer) -> list[str]:
    return [MFA_DELIVERIES[job.kind](services, mailer, job, first_attempt=True) for job in services.queue.take()]
