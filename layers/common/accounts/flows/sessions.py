"""Sessions: login, refresh-token rotation with reuse detection, logout, and the caller's profile."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from accounts import tokens
from accounts.emails import Address, normalize
from accounts.errors import EmailNotVerified, InvalidCredentials, InvalidGrant, Unauthorized
from accounts.observability import count, logger
from accounts.rate_limits import LimitState
from accounts.repository import SessionRevoked, TokenAlreadyUsed
from accounts.services import Services


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int

    def as_response(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
        }


def _access_token(services: Services, keys: Any, *, user_id: str, email_key: str, now: int) -> str:
    from accounts.jwt_keys import issue_access_token

    settings = services.settings
    return issue_access_token(
        keys,
        user_id=user_id,
        email=email_key,
        email_verified=True,  # only verified accounts ever get a session
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
        now=now,
    )


def login(services: Services, keys: Any, *, email: Address, password: str, ip: str) -> tuple[IssuedTokens, LimitState | None]:
    """Unknown email and wrong password cost the same (a dummy argon2 verify) and answer the same."""
    settings = services.settings
    now = services.now()
    state = services.limiter.hit("login_ip", ip, settings.rate_limit_login_per_ip, now=now)
    lockout = services.lockout
    lockout_key = lockout.key(email.key, now=now)
    if lockout_key is None:
        user, failures = services.repo.get_user(email.key), 0
    else:
        user, failures = services.repo.get_user_and_counter(email.key, lockout_key)
    lockout.check(failures, now=now)
    if user is None:
        services.hasher.dummy_verify(password)
        ok = False
    else:
        ok = services.hasher.verify(user.password_hash, password)
    if not ok:
        lockout.record_failure(email.key, now=now)
        count("LoginFailures")
        raise InvalidCredentials()
    if not user.verified:
        raise EmailNotVerified()
    upgraded = services.hasher.hash(password) if services.hasher.needs_rehash(user.password_hash) else None
    refresh_token = tokens.new_token()
    services.repo.create_session(
        user,
        token_hash=tokens.hash_token(refresh_token),
        family_id=uuid.uuid4().hex,
        expires_at=now + settings.refresh_token_ttl_seconds,
        new_password_hash=upgraded,
    )
    if upgraded:
        logger.info("password hash upgraded to current argon2 parameters")
    count("Logins")
    access = _access_token(services, keys, user_id=user.user_id, email_key=email.key, now=now)
    return IssuedTokens(access, refresh_token, settings.access_token_ttl_seconds), state


def refresh(services: Services, keys: Any, *, refresh_token: str, ip: str) -> tuple[IssuedTokens, LimitState | None]:
    settings = services.settings
    now = services.now()
    state = services.limiter.hit("token_ip", ip, settings.rate_limit_token_per_ip, now=now)
    if not tokens.looks_like_token(refresh_token):
        raise InvalidGrant()
    record = services.repo.get_refresh_token(tokens.hash_token(refresh_token))
    if record is None or tokens.is_expired(record.expires_at, now):
        raise InvalidGrant()
    family_ends = now + settings.refresh_token_ttl_seconds
    if record.status != "active":
        _reuse_detected(services, record.family_id, now=now, until=family_ends)
        raise InvalidGrant()
    successor = tokens.new_token()
    try:
        services.repo.rotate_session(record, new_hash=tokens.hash_token(successor), expires_at=family_ends, now=now)
    except TokenAlreadyUsed:
        # Two uses of one refresh token: the second is a reuse, whoever sent it.
        _reuse_detected(services, record.family_id, now=now, until=family_ends)
        raise InvalidGrant() from None
    except SessionRevoked:
        raise InvalidGrant() from None
    count("Refreshes")
    access = _access_token(services, keys, user_id=record.user_id, email_key=record.email, now=now)
    return IssuedTokens(access, successor, settings.access_token_ttl_seconds), state


def _reuse_detected(services: Services, family_id: str, *, now: int, until: int) -> None:
    services.repo.revoke_family(family_id, now=now, until=until)
    count("RefreshTokenReuse")
    logger.warning("refresh token reuse detected; family revoked", extra={"family_id": family_id})


def logout(services: Services, *, refresh_token: str) -> None:
    """Revokes the token's family. Unknown, expired or already revoked tokens: nothing to do, same answer."""
    if not tokens.looks_like_token(refresh_token):
        return
    record = services.repo.get_refresh_token(tokens.hash_token(refresh_token))
    if record is None:
        return
    now = services.now()
    services.repo.revoke_family(record.family_id, now=now, until=now + services.settings.refresh_token_ttl_seconds)
    count("Logouts")


def profile(services: Services, *, claims: dict[str, Any]) -> dict[str, Any]:
    """The caller's profile; the claims were checked by the JWT authorizer."""
    subject, email = claims.get("sub"), claims.get("email")
    if not subject or not email:
        raise Unauthorized()
    try:
        email_key = normalize(str(email))
    except ValueError:
        raise Unauthorized() from None
    user = services.repo.get_user(email_key)
    if user is None or user.user_id != subject:
        raise Unauthorized()
    return {
        "user_id": user.user_id,
        "email": user.email,
        "email_verified": bool(user.verified),
        "name": user.name,
        "created_at": datetime.fromtimestamp(int(user.created_at), UTC).isoformat().replace("+00:00", "Z"),
    }
