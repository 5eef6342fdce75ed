"""Access tokens: RS256 JWTs signed by the key ring of Secrets Manager, the JWK Set and discovery document.

The ring (format, legacy values, rotation planning) lives in `accounts.key_ring`; this module keeps
the container's copy of it fresh and issues and verifies tokens with it:

- `get_signing_keys()` re-reads the secret at most every SIGNING_KEY_CACHE_SECONDS, so a warm
  container learns about a rotation long before the new key starts signing (the rotation
  publishes it SIGNING_KEY_PUBLISH_AHEAD_SECONDS ahead). If a re-read fails (throttling, a bad
  value), the container keeps the keys it has and tries again after a short pause.
- `issue_access_token` signs with the key whose time has come (`SigningKeys.signer(now)`), never
  with one that has not been published long enough.
- The key set publishes every key of the ring, the signer first.

PyJWT and cryptography are imported with this module: every request of the functions that
import it signs or verifies a token, so a deferred import would only move the cost into the first
request (the cold start is import plus first request).
"""

from __future__ import annotations

import math
import secrets
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import jwt

from accounts.errors import Unauthorized
from accounts.key_ring import (
    ALGORITHM,
    MIN_KEY_BITS,
    SigningKeyError,
    SigningKeys,
    generate_private_key_pem,
    jwk_thumbprint,
    load_signing_keys,
    new_ring_secret_value,
    public_jwk,
    thumbprint,
)

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

__all__ = [
    "ALGORITHM",
    "AccessTokenRejected",
    "SigningKeyError",
    "SigningKeys",
    "generate_private_key_pem",
    "get_signing_keys",
    "issue_access_token",
    "jwk_thumbprint",
    "jwks",
    "load_signing_keys",
    "new_ring_secret_value",
    "openid_configuration",
    "public_jwk",
    "public_keys_from_jwks",
    "thumbprint",
    "verify_access_token",
]

TOKEN_TYPE = "at+jwt"
ACCEPTED_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})  # RFC 9068 section 4
SCOPE = "openid profile email"  # every access token's scope; callers add ADMIN_SCOPE for admins
ADMIN_SCOPE = "accounts:admin"
REQUIRED_CLAIMS = ("iss", "aud", "exp", "sub")
LEEWAY_SECONDS = 5
MAX_TOKEN_CHARS = 8192  # far above any token issued here; longer input is refused unparsed
# After a failed re-read of the secret, the old keys serve this long before the next attempt:
# short enough to pick up a rotation soon, long enough not to add to a throttled API's load.
REFRESH_RETRY_SECONDS = 15

CLAIMS_SUPPORTED = [
    "iss",
    "aud",
    "sub",
    "exp",
    "iat",
    "nbf",
    "jti",
    "client_id",
    "sid",
    "amr",
    "scope",
    "email",
    "email_verified",
]


class AccessTokenRejected(Unauthorized):
    """An access token failed verification.

    The response shows only the generic `Unauthorized` detail; `reason` says why, for logs only.
    """

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


def _b64url_decode_uint(text: str) -> int:
    import base64

    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


# --- the container's keys ---------------------------------------------------------------------


class _KeyCache:
    """The container's SigningKeys, re-read from Secrets Manager at most every SIGNING_KEY_CACHE_SECONDS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: SigningKeys | None = None
        self._loaded_at = 0
        self._retry_at = 0

    def _fresh(self, now: int, cache_seconds: int) -> bool:
        # A clock that went backwards (tests travelling in time) counts as stale.
        return self._loaded_at <= now < self._loaded_at + cache_seconds or now < self._retry_at

    def __call__(self) -> SigningKeys:
        from accounts import clock
        from accounts.settings import get_settings

        settings = get_settings()
        now = clock.now()
        keys = self._keys
        if keys is not None and self._fresh(now, settings.signing_key_cache_seconds):
            return keys
        # One thread re-reads; the others keep signing with the keys they have meanwhile.
        if not self._lock.acquire(blocking=keys is None):
            return keys  # type: ignore[return-value]  # keys is not None when acquire did not block
        try:
            if self._keys is not None and self._fresh(now, settings.signing_key_cache_seconds):
                return self._keys
            try:
                fresh = load_signing_keys(settings.signing_key_secret_id)
            except Exception as error:
                if self._keys is None:
                    raise  # nothing to serve: the cold start fails with the reason
                self._retry_at = now + min(REFRESH_RETRY_SECONDS, settings.signing_key_cache_seconds)
                _log_refresh_failure(error)
                return self._keys
            self._keys, self._loaded_at, self._retry_at = fresh, now, 0
            return fresh
        finally:
            self._lock.release()

    def cache_clear(self) -> None:
        """Forget the keys: the next call reads the secret (tests, local mode after a rotation)."""
        with self._lock:
            self._keys, self._loaded_at, self._retry_at = None, 0, 0


def _log_refresh_failure(error: Exception) -> None:
    from accounts.observability import logger

    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    # SigningKeyError messages never contain key material; AWS errors are named by code only.
    detail = str(error) if isinstance(error, SigningKeyError) else None
    logger.warning(
        "signing keys not re-read; serving the keys loaded before",
        extra={"error_type": type(error).__name__, "error_code": code, "detail": detail},
    )


get_signing_keys = _KeyCache()
"""`get_signing_keys()`: the keys of this container (SIGNING_KEY_SECRET_ID), at most
SIGNING_KEY_CACHE_SECONDS old; `get_signing_keys.cache_clear()` forgets them."""


# --- access tokens ----------------------------------------------------------------------------


def issue_access_token(
    keys: SigningKeys,
    *,
    user_id: str,
    email: str,
    email_verified: bool,
    issuer: str,
    audience: str,
    ttl_seconds: int,
    now: int,
    session_id: str,
    client_id: str,
    amr: list[str],
    scope: str,
) -> str:
    """An RS256 access token (RFC 9068: header typ at+jwt, kid of the key that signs at `now`)
    valid for ttl_seconds from now, for the session `session_id` (claim `sid`).

    `amr` lists the authentication methods (["pwd"] or ["pwd", "otp"]); `scope` is the full scope
    string (SCOPE, plus ADMIN_SCOPE for admins), computed by the caller.
    """

    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    if not session_id or not client_id or not scope:
        raise ValueError("session_id, client_id and scope must not be empty")
    if isinstance(amr, str) or not amr or not all(isinstance(method, str) and method for method in amr):
        raise ValueError("amr must be a non-empty list of method names")
    kid, private_key = keys.signer(now)
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": user_id,
        "client_id": client_id,
        "sid": session_id,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": secrets.token_urlsafe(16),
        "amr": list(amr),
        "scope": scope,
        "email": email,
        "email_verified": bool(email_verified),
    }
    return jwt.encode(claims, private_key, algorithm=ALGORITHM, headers={"typ": TOKEN_TYPE, "kid": kid})


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _reason_for(error: Exception) -> str:

    reasons: tuple[tuple[type[Exception], str], ...] = (
        (jwt.InvalidSignatureError, "bad signature"),
        (jwt.InvalidAlgorithmError, "algorithm not allowed"),
        (jwt.InvalidIssuerError, "wrong issuer"),
        (jwt.InvalidAudienceError, "wrong audience"),
        (jwt.DecodeError, "malformed token"),
    )
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"missing claim: {error.claim}"
    for error_type, reason in reasons:
        if isinstance(error, error_type):
            return reason
    return f"invalid token ({type(error).__name__})"


def verify_access_token(
    token: str,
    keys_or_public_keys: SigningKeys | Mapping[str, RSAPublicKey],
    *,
    issuer: str,
    audience: str,
    now: int | None = None,
    leeway: int = LEEWAY_SECONDS,
) -> dict[str, Any]:
    """The claims of a valid access token; AccessTokenRejected (an Unauthorized) for anything else.

    The algorithm is pinned to RS256, the key is chosen by the header's kid among the published
    keys (every key of the ring), typ must be at+jwt, and iss, aud, exp, sub are required.
    """

    from accounts import clock

    public_keys = (
        keys_or_public_keys.public_keys
        if isinstance(keys_or_public_keys, SigningKeys)
        else keys_or_public_keys
    )
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise AccessTokenRejected("malformed token")
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError):
        raise AccessTokenRejected("malformed token") from None
    if header.get("alg") != ALGORITHM:
        raise AccessTokenRejected("algorithm not allowed")
    token_type = header.get("typ")
    if not isinstance(token_type, str) or token_type.lower() not in ACCEPTED_TOKEN_TYPES:
        raise AccessTokenRejected("wrong token type")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in public_keys:
        raise AccessTokenRejected("unknown key id")

    try:
        claims = jwt.decode(
            token,
            public_keys[kid],
            algorithms=[ALGORITHM],
            issuer=issuer,
            audience=audience,
            options={
                "require": list(REQUIRED_CLAIMS),
                # Times are checked below against `now`, so tests and callers share one clock.
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as error:
        raise AccessTokenRejected(_reason_for(error)) from None

    current_time = clock.now() if now is None else now
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise AccessTokenRejected("invalid subject")
    exp = claims["exp"]
    if not _is_number(exp):
        raise AccessTokenRejected("invalid claim: exp")
    if current_time >= exp + leeway:
        raise AccessTokenRejected("expired")
    for name in ("nbf", "iat"):
        if name in claims:
            value = claims[name]
            if not _is_number(value):
                raise AccessTokenRejected(f"invalid claim: {name}")
            if value > current_time + leeway:
                raise AccessTokenRejected(f"not yet valid ({name})")
    return claims


# --- published documents ----------------------------------------------------------------------


def jwks(keys: SigningKeys) -> dict[str, list[dict[str, str]]]:
    """The JWK Set: public members only, every key of the ring, the one that signs now first."""
    return {"keys": keys.public_jwks}


def public_keys_from_jwks(document: Mapping[str, Any]) -> dict[str, RSAPublicKey]:
    """Public keys by kid from a JWK Set (as published by `jwks`), e.g. for an authorizer emulation."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

    keys: dict[str, RSAPublicKey] = {}
    for jwk in document.get("keys", []):
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "RSA":
            continue
        if jwk.get("alg", ALGORITHM) != ALGORITHM or jwk.get("use", "sig") != "sig":
            continue
        try:
            public_key = RSAPublicNumbers(
                _b64url_decode_uint(jwk["e"]), _b64url_decode_uint(jwk["n"])
            ).public_key()
        except (KeyError, TypeError, ValueError):
            continue
        if public_key.key_size < MIN_KEY_BITS:
            continue
        kid = jwk.get("kid")
        keys[kid if isinstance(kid, str) and kid else thumbprint(public_key)] = public_key
    return keys


def openid_configuration(issuer: str) -> dict[str, Any]:
    """The discovery document, stating only what is true of this service: who issues the access
    tokens, where their keys are and how they are signed. There is no authorization or token
    endpoint and no ID token, so none of OpenID's members for those appear. API Gateway's JWT
    authorizer reads `jwks_uri` from it."""
    base = issuer.rstrip("/")
    return {
        "issuer": issuer,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        # Not registered by RFC 8414, but the name other servers use for the access tokens' algorithm.
        "access_token_signing_alg_values_supported": [ALGORITHM],
        "scopes_supported": [*SCOPE.split(), ADMIN_SCOPE],
        "claims_supported": list(CLAIMS_SUPPORTED),
    }
