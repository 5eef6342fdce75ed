"""Login: email and password for a new session, behind the per-IP limit and the address lockout;
for a user with TOTP, the password step answers 401 mfa_required with a single-use mfa_token, and
the second step (`complete_mfa`) exchanges it and a code for the session."""

from __future__ import annotations

import re
from typing import Any

from accounts import aws, tokens
from accounts.emails import Address
from accounts.errors import (
    AccountDisabled,
    EmailNotVerified,
    InvalidCredentials,
    InvalidMfaCode,
    MfaRequired,
    RateLimited,
)
from accounts.flows import mfa
from accounts.flows.sessions import Client, IssuedTokens, issue_tokens
from accounts.models import Account, MfaChallenge
from accounts.observability import count, logger
from accounts.passwords import PasswordHasher  # every login verifies: argon2 loads with this module
from accounts.rate_limits import LOGIN_PER_IP, TOKEN_PER_IP, Attempt, IpLimit, LimitState, Window, reported
from accounts.repository import ChallengeUsed, FactorChanged, GiveBack, new_event, new_session
from accounts.services import Services

PASSWORD_AMR = ["pwd"]
MFA_CHALLENGE_SECONDS = 300  # an mfa_token works once, for 5 minutes
# An mfa_token is the user id (32 hex) and 256 random bits (43 URL-safe characters): the second step
# reads the challenge, the factor and the user in one call. Only the token's SHA-256 is stored.
_MFA_TOKEN = re.compile(r"([0-9a-f]{32})[A-Za-z0-9_-]{43}")


def login(services: Services, keys: Any, *, email: Address, password: str, client: Client) -> tuple[IssuedTokens, LimitState | None]:
    """Unknown email and wrong password cost the same (a dummy argon2 verify) and answer the same.

    Calls, in two waves: the IP limit, the lockout reservation and the account in parallel; then,
    after argon2, the session (+ its `login` event) and giving the reservation back in parallel."""
    repo = services.repo
    now = services.now()
    lockout = services.lockout
    limited, attempt, account = aws.parallel(
        lambda: _ip_limit(services, client.ip, now, LOGIN_PER_IP),
        lambda: lockout.attempt(email.key, now=now),
        lambda: repo.get_account(email.key),
    )
    if isinstance(limited, RateLimited):
        lockout.give_back(attempt)  # this request never checks a password
        raise limited
    state = limited
    with reported(state):
        return _check_and_start(services, keys, password, client, attempt, account, now), state


def _check_and_start(services: Services, keys: Any, password: str, client: Client,
                     attempt: Attempt, account: Account | None, now: int) -> IssuedTokens:
    settings, repo, lockout = services.settings, services.repo, services.lockout
    if not attempt.allowed:
        raise lockout.refusal(now=now)
    hasher: PasswordHasher = services.hasher
    if account is None:
        hasher.dummy_verify(password)
        ok = False
    else:
        ok = hasher.verify(account.password_hash, password)
    if not ok:
        # The reservation stays: it is this failure's count. Events only for existing accounts; the
        # failure that locks the address is recorded once, not every refused attempt after it.
        if account is not None:
            for kind in ("login_failed", "locked_out") if attempt.last else ("login_failed",):
                repo.record_event(new_event(account.user_id, kind, now=now, ip=client.ip, user_agent=client.user_agent))
        count("LoginFailures")
        if attempt.last:  # this failure locks the address (known or not) for the window
            count("Lockouts")
        raise InvalidCredentials()
    if not account.verified or account.disabled:
        lockout.give_back(attempt)  # the password was right: not a failure
        raise EmailNotVerified() if not account.verified else AccountDisabled()
    if account.mfa_enabled:
        _challenge(services, account, attempt, password, now)
    session = new_session(
        account.user_id,
        epoch=int(account.session_epoch),
        now=now,
        expires_at=now + settings.refresh_token_ttl_seconds,
        ip=client.ip,
        user_agent=client.user_agent,
        amr=PASSWORD_AMR,
    )
    event = new_event(account.user_id, "login", now=now, ip=client.ip, user_agent=client.user_agent)
    aws.parallel(lambda: repo.start_session(session, event), lambda: lockout.give_back(attempt))
    _upgrade_hash(services, account, password)
    count("Logins")
    return issue_tokens(services, keys, user=account, user_id=account.user_id, session=session, generation=0, now=now)


def _upgrade_hash(services: Services, account: Account, password: str) -> None:
    hasher = services.hasher
    if hasher.needs_rehash(account.password_hash) and services.repo.upgrade_password_hash(account, hasher.hash(password)):
        logger.info("password hash upgraded to current argon2 parameters")


def _challenge(services: Services, account: Account, attempt: Attempt, password: str, now: int) -> None:
    """The password was right and a second factor is needed: store the challenge (only the token's
    SHA-256) while giving the reservation back, in parallel, and answer 401 mfa_required."""
    token = account.user_id + tokens.new_token()
    challenge = MfaChallenge(*MfaChallenge.key(tokens.hash_token(token)), user_id=account.user_id,
                             email_key=account.email_key, amr=PASSWORD_AMR,
                             expires_at=now + MFA_CHALLENGE_SECONDS, ttl=now + MFA_CHALLENGE_SECONDS)
    aws.parallel(lambda: services.repo.put_challenge(challenge), lambda: services.lockout.give_back(attempt))
    _upgrade_hash(services, account, password)
    count("MfaChallenges")
    raise MfaRequired(token)


def complete_mfa(services: Services, keys: Any, *, mfa_token: str, code: str | None, recovery_code: str | None,
                 client: Client) -> tuple[IssuedTokens, LimitState | None]:
    """The second step: a valid mfa_token and a current TOTP code (accepted once) or an unused
    recovery code start the session, with `amr: ["pwd", "otp"]`. The token works once; failed codes
    count toward the address's lockout (`mfa_failed`), and 401 invalid_mfa_code answers them all.

    4 calls, 3 sequential: the IP limit and one BatchGetItem (challenge, factor, user, the recovery
    code) in parallel; the lockout reservation; one transaction (the code's use, the challenge, the
    session, its `login` event, the reservation given back). A failure writes its events instead."""
    repo, lockout, now = services.repo, services.lockout, services.now()
    match = _MFA_TOKEN.fullmatch(mfa_token)
    user_id = match.group(1) if match else None
    presented = mfa.recovery_hash(user_id, recovery_code) if user_id and recovery_code is not None else None
    if user_id is None:
        state = _ip_limit(services, client.ip, now, TOKEN_PER_IP)
        reads = None
    else:
        state, reads = aws.parallel(
            lambda: _ip_limit(services, client.ip, now, TOKEN_PER_IP),
            lambda: repo.challenge_reads(tokens.hash_token(mfa_token), user_id, presented),
        )
    if isinstance(state, RateLimited):
        raise state
    with reported(state):
        challenge = reads.challenge if reads else None
        if (challenge is None or challenge.user_id != user_id or tokens.is_expired(int(challenge.expires_at), now)
                or reads.user is None):
            raise InvalidMfaCode()
        user = reads.user
        if user.disabled:
            raise AccountDisabled()
        attempt = lockout.attempt(challenge.email_key, now=now)
        if not attempt.allowed:
            raise lockout.refusal(now=now)
        factor, step = reads.factor, None
        if factor is None or not factor.active:
            ok = False
        elif code is not None:
            step = mfa.accepted_step(factor.secret, code, now=now, after=factor.last_step)
            ok = step is not None
        else:
            ok = reads.recovery_code_exists
        if not ok:
            _mfa_failed(services, user.user_id, attempt, client, now)
        session = new_session(user.user_id, epoch=int(user.session_epoch), now=now,
                              expires_at=now + services.settings.refresh_token_ttl_seconds, ip=client.ip,
                              user_agent=client.user_agent, amr=[*challenge.amr, mfa.OTP_AMR])
        event = new_event(user.user_id, "login", now=now, ip=client.ip, user_agent=client.user_agent)
        give_back = None
        if attempt.key is not None:
            give_back = GiveBack(attempt.key, Window.at(now, lockout.limit.seconds).ends_at)
        try:
            repo.complete_challenge(challenge, session, event, factor=factor if step is not None else None,
                                    step=step, recovery_hash=presented if step is None else None,
                                    give_back=give_back)
        except FactorChanged:
            _mfa_failed(services, user.user_id, attempt, client, now)  # the code was used meanwhile
        except ChallengeUsed:
            raise InvalidMfaCode() from None  # the mfa_token was used meanwhile
        count("Logins")
        return issue_tokens(services, keys, user=user, user_id=user.user_id, session=session, generation=0,
                            now=now), state


def _mfa_failed(services: Services, user_id: str, attempt: Attempt, client: Client, now: int) -> None:
    """A wrong, used or expired code: the reservation stays (the failure's count), `mfa_failed` is
    recorded (and `locked_out` by the failure that locks the address), 401 invalid_mfa_code."""
    kinds = ["mfa_failed", "locked_out"] if attempt.last else ["mfa_failed"]
    services.repo.record_events(*(new_event(user_id, kind, now=now, ip=client.ip, user_agent=client.user_agent)
                                  for kind in kinds))
    count("MfaFailures")
    if attempt.last:
        count("Lockouts")
    raise InvalidMfaCode()


def _ip_limit(services: Services, ip: str, now: int, kind: IpLimit) -> LimitState | RateLimited | None:
    """A per-IP limit, with a refusal returned rather than raised (it runs beside the lockout
    reservation, which must then be given back, or beside the second step's reads)."""
    try:
        return services.limiter.hit_ip(kind, ip, services.settings, now=now)
    except RateLimited as refusal:
        return refusal
