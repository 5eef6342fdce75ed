"""Sessions: refresh-token rotation with a reuse grace, logout, and the caller's session (login,
which starts a session, is in accounts.flows.login).

A session is one item in the user's partition; its refresh token is derived from (user, session,
generation) under the server secret, so a refresh moves the generation with one conditional
write and never stores a token. Every token-bearing request checks the session and the user in
one BatchGetItem (`authenticate`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from accounts import aws, tokens
from accounts.errors import InvalidGrant, Unauthorized
from accounts.jwt_keys import ADMIN_SCOPE, SCOPE, issue_access_token
from accounts.models import Session, User
from accounts.observability import count, logger, security_event
from accounts.repository import TokenAlreadyUsed, new_event
from accounts.services import Services

ADMIN_ROLE = "admin"
_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Client:
    """Who is calling, as API Gateway saw it (recorded on sessions and security events)."""

    ip: str
    user_agent: str | None = None


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


def scope_for(roles: set[str] | None) -> str:
    return f"{SCOPE} {ADMIN_SCOPE}" if roles and ADMIN_ROLE in roles else SCOPE


def issue_tokens(services: Services, keys: Any, *, user: User | Any, user_id: str, session: Session,
                 generation: int, now: int) -> IssuedTokens:
    """The access token and the refresh token of `generation` of `session`."""
    settings = services.settings
    access = issue_access_token(
        keys,
        user_id=user_id,
        email=user.email,
        email_verified=True,  # only verified accounts ever get a session
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        client_id=settings.client_id,
        session_id=session.session_id,
        amr=list(session.amr),
        scope=scope_for(user.roles),
        ttl_seconds=settings.access_token_ttl_seconds,
        now=now,
    )
    refresh = tokens.refresh_token(
        keys.refresh_token_secret,
        tokens.RefreshClaims(user_id=user_id, session_id=session.session_id, generation=generation),
    )
    return IssuedTokens(access, refresh, settings.access_token_ttl_seconds)


def refresh(services: Services, keys: Any, *, refresh_token: str, client: Client) -> IssuedTokens:
    """Calls: the session and its user (one BatchGetItem), then one conditional write.

    A token rotated less than REFRESH_REUSE_GRACE_SECONDS ago answers with the pair its first
    presentation received (no write), so parallel tabs and retries converge on one token; any
    older token revokes the session (reuse detection)."""
    settings, repo = services.settings, services.repo
    claims = tokens.read_refresh_token(keys.refresh_token_secret, refresh_token)
    if claims is None:
        raise InvalidGrant()
    now = services.now()
    user, session = repo.get_user_and_session(claims.user_id, claims.session_id)
    if session is None or tokens.is_expired(int(session.expires_at), now) or not _usable(user, session):
        raise InvalidGrant()
    current = int(session.generation)
    if claims.generation == current:
        try:
            generation = repo.rotate_session(session, now=now, ip=client.ip, user_agent=client.user_agent,
                                             expires_at=now + settings.refresh_token_ttl_seconds)
        except TokenAlreadyUsed:
            # A parallel presentation of the same token won: within the grace, answer what it got.
            session = repo.get_session(claims.user_id, claims.session_id)
            if session is None:
                raise InvalidGrant() from None
            if not _in_grace(services, session, claims.generation, now):
                _reuse_detected(services, session, client, now=now)
                raise InvalidGrant() from None
            generation = int(session.generation)
    elif _in_grace(services, session, claims.generation, now):
        generation = current
    else:
        _reuse_detected(services, session, client, now=now)
        raise InvalidGrant()
    # No metric for a plain refresh: half of all requests are refreshes, an EMF line each would add
    # about $3 of log ingestion per million users a month, and API Gateway counts the route anyway.
    return issue_tokens(services, keys, user=user, user_id=claims.user_id, session=session, generation=generation, now=now)


def _usable(user: User | None, session: Session) -> bool:
    """A session works while its user exists, is not disabled, and has not revoked all sessions since."""
    return user is not None and not user.disabled and int(session.epoch) == int(user.session_epoch)


def _in_grace(services: Services, session: Session, presented: int, now: int) -> bool:
    grace = services.settings.refresh_reuse_grace_seconds
    return grace > 0 and presented == int(session.generation) - 1 and now - int(session.rotated_at) < grace


def _reuse_detected(services: Services, session: Session, client: Client, *, now: int) -> None:
    repo = services.repo
    aws.parallel(
        lambda: repo.delete_session(session.user_id, session.session_id),
        lambda: repo.record_event(new_event(session.user_id, "refresh_reuse_detected", now=now,
                                            ip=client.ip, user_agent=client.user_agent)),
    )
    count("RefreshTokenReuse")
    logger.warning("refresh token reuse detected; session revoked", extra={"user_id": session.user_id,
                                                                           "session_id": session.session_id})


def logout(services: Services, keys: Any, *, refresh_token: str, client: Client | None = None) -> None:
    """One write: the session is deleted. Unknown, forged or already revoked tokens: nothing to
    do, same answer.

    A logout is logged as a security event line (`logout`) but not recorded as a stored event:
    the user ended their own session with its own token, which their event list need not show,
    and it saves a write per logout. Revoking a session from elsewhere is `session_revoked`."""
    claims = tokens.read_refresh_token(keys.refresh_token_secret, refresh_token)
    if claims is None:
        return
    services.repo.delete_session(claims.user_id, claims.session_id)
    count("Logouts")
    security_event("logout", user_id=claims.user_id, ip=client.ip if client else None,
                   session_id=claims.session_id)


def authenticate(services: Services, claims: dict[str, Any]) -> tuple[User, Session]:
    """The caller's user and session from access-token claims the JWT authorizer already checked:
    one BatchGetItem; Unauthorized when the session was revoked (logout, reset, revocation) or
    expired, or the user is disabled or gone, although the token has not expired."""
    subject, session_id = claims.get("sub"), claims.get("sid")
    if not isinstance(subject, str) or not isinstance(session_id, str):
        raise Unauthorized()
    if not _ID.fullmatch(subject) or not _ID.fullmatch(session_id):
        raise Unauthorized()
    user, session = services.repo.get_user_and_session(subject, session_id)
    if session is None or tokens.is_expired(int(session.expires_at), services.now()) or not _usable(user, session):
        raise Unauthorized()
    return user, session


def rfc3339(epoch: int) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).isoformat().replace("+00:00", "Z")


def profile(user: User) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "email": user.email,
        "email_verified": True,
        "name": user.name,
        "created_at": rfc3339(int(user.created_at)),
        "mfa_enabled": bool(user.mfa_enabled),
        "roles": sorted(user.roles or ()),
    }
