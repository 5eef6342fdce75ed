"""Two-factor authentication with TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of
clock drift either way) and single-use recovery codes: enrolment, confirmation, removal, the codes
themselves, and the worker's two security notices. The second step of a login is in
accounts.flows.login.

A secret is 160 bits (base32), answered once by enrolment and never logged or answered again. A
code is accepted once: the factor remembers the last time step it accepted, and only a later step
is accepted after it, by a conditional write (two parallel uses of one code: one wins). Recovery
codes are stored as SHA-256 only (in the item's key); deleting the item is the code's use."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

import pyotp

from accounts import aws
from accounts.email_jobs import EmailJob, JobKind
from accounts.errors import InvalidCredentials, InvalidMfaCode, MfaAlreadyEnabled, ServiceUnavailable
from accounts.flows.notify import send_to_user
from accounts.flows.sessions import Client, authenticate
from accounts.mailer import EmailKind, Mailer
from accounts.models import TotpFactor, User
from accounts.observability import count, logger
from accounts.rate_limits import Attempt
from accounts.repository import AccountMoved, FactorActive, FactorChanged, new_event
from accounts.services import Services

DIGITS = 6
PERIOD = 30  # seconds per time step
DRIFT_STEPS = 1  # codes of the previous and the next step are accepted too
SECRET_LENGTH = 32  # base32 characters: 160 bits (RFC 4226's recommended length)
RECOVERY_CODE_COUNT = 10
PENDING_SECONDS = 3600  # an enrolment not confirmed within an hour must start again
OTP_AMR = "otp"

# Every 401 of these bearer routes carries a challenge (RFC 9110); the token itself was fine, so the
# challenge names the scheme without an error (a client must not drop a valid token).
_CHALLENGE = {"WWW-Authenticate": "Bearer"}

_CODE = re.compile(rf"[0-9]{{{DIGITS}}}")
# Recovery codes: 16 characters of a 32-letter alphabet without look-alikes (0/o, 1/l): 80 bits,
# shown as four groups of four. Input is compared without dashes, spaces and case.
_RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 16
_RECOVERY_SEPARATORS = re.compile(r"[\s-]+")


# --- codes ---------------------------------------------------------------------------------------


def new_secret() -> str:
    """A fresh TOTP secret: 160 bits from `secrets`, base32 (what authenticator apps take)."""
    return pyotp.random_base32(SECRET_LENGTH)


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD, digest=hashlib.sha1)


def otpauth_uri(secret: str, *, email: str, issuer: str) -> str:
    """The `otpauth://totp/` URI an authenticator app reads (usually from a QR code)."""
    return _totp(secret).provisioning_uri(name=email, issuer_name=issuer)


def code_at(secret: str, now: int) -> str:
    """The code of the time step `now` falls in (tests and the README's walk-through compute the same)."""
    return _totp(secret).at(now)


def accepted_step(secret: str, code: str, *, now: int, after: int | None = None) -> int | None:
    """The time step whose code `code` is, among the steps within DRIFT_STEPS of `now`, and later
    than `after` (the last step accepted before); None when there is none (wrong, expired or
    replayed). Every candidate is compared in constant time."""
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        return None
    totp, current = _totp(secret), now // PERIOD
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code) and (after is None or step > int(after)):
            found = step
    return found


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append("-".join(raw[i:i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
    return codes


def normalize_recovery_code(value: str) -> str | None:
    """The code as stored (lower case, no dashes or spaces), or None when it cannot be one."""
    text = _RECOVERY_SEPARATORS.sub("", value).lower()
    if len(text) != _RECOVERY_LENGTH or any(ch not in _RECOVERY_ALPHABET for ch in text):
        return None
    return text


def recovery_hash(user_id: str, code: str) -> str | None:
    """The stored form of a recovery code: SHA-256 (hex) of the user id and the normalized code
    (the user id keeps one hash from matching in every partition). None for a malformed code."""
    normalized = normalize_recovery_code(code)
    if normalized is None:
        return None
    return hashlib.sha256(f"{user_id}:{normalized}".encode()).hexdigest()


# --- enrolment -----------------------------------------------------------------------------------


def _pending(factor: TotpFactor | None, now: int) -> bool:
    return factor is not None and not factor.active and (factor.ttl is None or now < int(factor.ttl))


def enrol(services: Services, claims: dict[str, Any]) -> dict[str, str]:
    """Start an enrolment: a fresh pending secret (an earlier pending one is replaced) and its
    otpauth:// URI. 409 mfa_already_enabled while TOTP is active.

    Calls: the caller's user and session (1), the pending factor (1)."""
    user, _ = authenticate(services, claims)
    if user.mfa_enabled:
        raise MfaAlreadyEnabled()
    now, secret = services.now(), new_secret()
    factor = TotpFactor(*TotpFactor.key(user.user_id), secret=secret, active=False, created_at=now,
                        ttl=now + PENDING_SECONDS)
    try:
        services.repo.start_enrolment(factor)
    except FactorActive:
        raise MfaAlreadyEnabled() from None
    return {"secret": secret, "otpauth_uri": otpauth_uri(secret, email=user.email,
                                                          issuer=services.settings.totp_issuer)}


def confirm(services: Services, claims: dict[str, Any], *, code: str, client: Client) -> list[str]:
    """Activate the pending secret with one of its codes: answers the 10 recovery codes (this once),
    records `mfa_enabled` and queues the two-factor-enabled notice.

    Calls: the caller's user and session (1), the factor (1), one transaction (1), the notice (SQS)."""
    repo, now = services.repo, services.now()
    user, _ = authenticate(services, claims)
    if user.mfa_enabled:
        raise MfaAlreadyEnabled()
    factor = repo.get_factor(user.user_id)
    if factor is not None and factor.active:
        raise MfaAlreadyEnabled()
    if factor is None or not _pending(factor, now):
        raise InvalidMfaCode("No enrolment is pending; start one with POST /v1/auth/mfa/totp.", headers=_CHALLENGE)
    step = accepted_step(factor.secret, code, now=now)
    if step is None:
        raise InvalidMfaCode(headers=_CHALLENGE)
    codes = new_recovery_codes()
    hashes = [recovery_hash(user.user_id, c) or "" for c in codes]
    event = new_event(user.user_id, "mfa_enabled", now=now, ip=client.ip, user_agent=client.user_agent)
    try:
        repo.activate_factor(user, factor, step=step, code_hashes=hashes, event=event, now=now)
    except FactorActive:
        raise MfaAlreadyEnabled() from None
    except FactorChanged:
        raise InvalidMfaCode("The enrolment was replaced by a newer one; use the newest secret.",
                             headers=_CHALLENGE) from None
    except AccountMoved:
        raise ServiceUnavailable(retry_after=1) from None
    count("MfaEnabled")
    _notify(services, JobKind.TWO_FACTOR_ENABLED, user)
    return codes


# --- removal -------------------------------------------------------------------------------------


def disable(services: Services, claims: dict[str, Any], *, password: str, code: str | None,
            recovery_code: str | None, client: Client) -> None:
    """Remove TOTP and every recovery code: needs the password (checked behind the address's
    lockout, like a login) and a current code or an unused recovery code (a failed one counts
    toward the lockout too). Nothing to remove: 204 all the same, once the password was checked.

    Calls: the caller's user and session (1); the lockout reservation, the Account and the factors
    in parallel (1); argon2; the transaction and the reservation given back in parallel (1)."""
    repo, lockout, now = services.repo, services.lockout, services.now()
    user, _ = authenticate(services, claims)
    attempt, account, (factor, hashes) = aws.parallel(
        lambda: lockout.attempt(user.email_key, now=now),
        lambda: repo.get_account(user.email_key),
        lambda: repo.factor_and_codes(user.user_id),
    )
    if not attempt.allowed:
        raise lockout.refusal(now=now)
    hasher = services.hasher
    if account is None or account.user_id != user.user_id:
        hasher.dummy_verify(password)
        ok = False
    else:
        ok = hasher.verify(account.password_hash, password)
    if not ok:
        _failed(services, user.user_id, attempt, client, now, kind=None)
        raise InvalidCredentials("The password is incorrect.", headers=_CHALLENGE)
    if factor is None or not factor.active:
        lockout.give_back(attempt)
        return
    if code is not None:
        ok = accepted_step(factor.secret, code, now=now, after=factor.last_step) is not None
    else:
        presented = recovery_hash(user.user_id, recovery_code or "")
        ok = presented is not None and presented in hashes
    if not ok:
        _failed(services, user.user_id, attempt, client, now, kind="mfa_failed")
        raise InvalidMfaCode(headers=_CHALLENGE)
    event = new_event(user.user_id, "mfa_disabled", now=now, ip=client.ip, user_agent=client.user_agent)
    try:
        aws.parallel(lambda: repo.remove_factor(user, factor, hashes, event=event),
                     lambda: lockout.give_back(attempt))
    except FactorChanged:
        return  # a parallel removal won: what this request asked for is done (and recorded)
    except AccountMoved:
        raise ServiceUnavailable(retry_after=1) from None
    count("MfaDisabled")
    _notify(services, JobKind.TWO_FACTOR_DISABLED, user)


def _failed(services: Services, user_id: str, attempt: Attempt, client: Client, now: int, *,
            kind: str | None) -> None:
    """A failed check keeps its lockout reservation (that is its count). `kind` is recorded; the
    failure that locks the address also records `locked_out`. One write at most."""
    kinds = [k for k in (kind, "locked_out" if attempt.last else None) if k]
    if kinds:
        services.repo.record_events(*(new_event(user_id, k, now=now, ip=client.ip, user_agent=client.user_agent)
                                      for k in kinds))
    if kind == "mfa_failed":
        count("MfaFailures")
    if attempt.last:
        count("Lockouts")


def _notify(services: Services, kind: JobKind, user: User) -> None:
    """Queue a security notice. The change is done: a queue failure must not turn the answer (the
    recovery codes, shown once) into an error, so it is logged and counted instead."""
    try:
        services.queue.enqueue(EmailJob(kind=kind, email=user.email_key))
    except Exception as error:  # noqa: BLE001 - see above
        logger.warning("security notice not queued", extra={"kind": str(kind), "error_type": type(error).__name__})
        count("DependencyUnavailable")


# --- the worker's notices ------------------------------------------------------------------------


def _deliver(services: Services, mailer: Mailer, job: EmailJob, kind: EmailKind) -> str:
    """Security notices are always sent (no per-address limit), so an owner always learns of them."""
    account = services.repo.get_account(job.email)
    if account is None:
        return "unknown_address"
    send_to_user(services.settings, mailer, account, kind)
    return f"sent_{kind.value}"


def deliver_two_factor_enabled(services: Services, mailer: Mailer, job: EmailJob, *, first_attempt: bool) -> str:
    return _deliver(services, mailer, job, EmailKind.TWO_FACTOR_ENABLED)


def deliver_two_factor_disabled(services: Services, mailer: Mailer, job: EmailJob, *, first_attempt: bool) -> str:
    return _deliver(services, mailer, job, EmailKind.TWO_FACTOR_DISABLED)
