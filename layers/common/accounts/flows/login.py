"""Login: email and password for a new session, behind the per-IP limit and the address lockout."""

from __future__ import annotations

from typing import Any

from accounts import aws
from accounts.emails import Address
from accounts.errors import AccountDisabled, EmailNotVerified, InvalidCredentials, RateLimited
from accounts.flows.sessions import Client, IssuedTokens, issue_tokens
from accounts.models import Account
from accounts.observability import count, logger
from accounts.passwords import PasswordHasher  # every login verifies: argon2 loads with this module
from accounts.rate_limits import LOGIN_PER_IP, Attempt, LimitState, reported
from accounts.repository import new_event, new_session
from accounts.services import Services

PASSWORD_AMR = ["pwd"]


def login(services: Services, keys: Any, *, email: Address, password: str, client: Client) -> tuple[IssuedTokens, LimitState | None]:
    """Unknown email and wrong password cost the same (a dummy argon2 verify) and answer the same.

    Calls, in two waves: the IP limit, the lockout reservation and the account in parallel; then,
    after argon2, the session (+ its `login` event) and giving the reservation back in parallel."""
    repo = services.repo
    now = services.now()
    lockout = services.lockout
    limited, attempt, account = aws.parallel(
        lambda: _ip_limit(services, client.ip, now),
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
    if hasher.needs_rehash(account.password_hash) and repo.upgrade_password_hash(account, hasher.hash(password)):
        logger.info("password hash upgraded to current argon2 parameters")
    count("Logins")
    return issue_tokens(services, keys, user=account, user_id=account.user_id, session=session, generation=0, now=now)


def _ip_limit(services: Services, ip: str, now: int) -> LimitState | RateLimited | None:
    """The per-IP login limit, with a refusal returned rather than raised (it runs beside the
    lockout reservation, which must then be given back)."""
    try:
        return services.limiter.hit_ip(LOGIN_PER_IP, ip, services.settings, now=now)
    except RateLimited as refusal:
        return refusal
