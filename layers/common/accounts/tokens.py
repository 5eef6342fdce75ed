"""Opaque tokens: email verification and password reset tokens, and refresh tokens.

An email token is 256 random bits from `secrets`, URL-safe base64 without padding (43 characters).
Only its SHA-256 (hex) is stored; the raw value exists in the email that carries it. Refresh tokens
are derived instead (see below): nothing of them is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

TOKEN_BYTES = 32
TOKEN_LENGTH = 43  # len(secrets.token_urlsafe(32))
MAX_TOKEN_LENGTH = 128  # room for a longer format later; anything longer is junk

_TOKEN_SHAPE = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_LENGTH},{MAX_TOKEN_LENGTH}}}")


def new_token() -> str:
    """A fresh token: 256 bits from `secrets`, URL-safe (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The stored form of a token: lower-case hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_expired(expires_at: int, now: int) -> bool:
    """True once `now` has reached `expires_at` (both epoch seconds): a token is valid strictly before it."""
    return now >= expires_at


def looks_like_token(value: object) -> bool:
    """Cheap plausibility check before a database lookup: a string of 43-128 URL-safe base64 characters."""
    return isinstance(value, str) and _TOKEN_SHAPE.fullmatch(value) is not None


# --- refresh tokens -------------------------------------------------------------------------------
#
# A refresh token names its session and generation and is authenticated by an HMAC under a server
# secret (the signing-key secret's `refresh_token_secret`). It is derived, never stored: the
# session item only records which generation is current, so parallel refreshes inside the reuse
# grace converge on one token, and a database reader cannot mint tokens.
#
# Layout (base64url, 92 characters): version (1 byte) | user id (16) | session id (16) |
# generation (4, big-endian) | HMAC-SHA256 of the preceding bytes (32).

_REFRESH_VERSION = 1
_REFRESH_LABEL = b"accounts refresh token v1\x00"
_REFRESH_BYTES = 1 + 16 + 16 + 4 + 32


@dataclass(frozen=True)
class RefreshClaims:
    user_id: str  # 32 hex characters
    session_id: str  # 32 hex characters
    generation: int


def _mac(secret: bytes, body: bytes) -> bytes:
    return hmac.new(secret, _REFRESH_LABEL + body, hashlib.sha256).digest()


def refresh_token(secret: bytes, claims: RefreshClaims) -> str:
    body = (
        bytes([_REFRESH_VERSION])
        + bytes.fromhex(claims.user_id)
        + bytes.fromhex(claims.session_id)
        + claims.generation.to_bytes(4, "big")
    )
    return base64.urlsafe_b64encode(body + _mac(secret, body)).rstrip(b"=").decode("ascii")


def read_refresh_token(secret: bytes, token: object) -> RefreshClaims | None:
    """The claims of an authentic refresh token, or None for anything else (never raises)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not _TOKEN_SHAPE.fullmatch(token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        return None
    if len(raw) != _REFRESH_BYTES or raw[0] != _REFRESH_VERSION:
        return None
    body, mac = raw[:-32], raw[-32:]
    if not hmac.compare_digest(mac, _mac(secret, body)):
        return None
    return RefreshClaims(user_id=body[1:17].hex(), session_id=body[17:33].hex(),
                         generation=int.from_bytes(body[33:37], "big"))
