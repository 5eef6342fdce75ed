"""Opaque tokens: email verification, password reset and refresh tokens.

A token is 256 random bits from `secrets`, URL-safe base64 without padding (43 characters). Only its
SHA-256 (hex) is stored; the raw value exists in the email or the response that carries it.
"""

from __future__ import annotations

import hashlib
import re
import secrets

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
