"""Access tokens: RSA signing keys from Secrets Manager, RS256 JWTs, the JWK Set and discovery document.

Secret format: every version of the signing-key secret holds one RSA private key (>= 2048 bits) as
PEM (PKCS8) in its SecretString. The version staged AWSCURRENT signs; the one staged AWSPREVIOUS
(if any) is only published in the key set, so tokens signed before a rotation keep verifying until
they expire. AWSPREVIOUS may be absent or hold something that is not a key (the placeholder the
template generates before the first rotation): such a value is ignored. An AWSCURRENT value that
is not a usable key is a configuration error (SigningKeyError).

Key ids (`kid`) are RFC 7638 JWK thumbprints (SHA-256).

PyJWT and cryptography are imported inside the functions that need them, so importing this module
costs next to nothing at cold start; get_signing_keys() reads the secret once per container.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from accounts.errors import Unauthorized

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

ALGORITHM = "RS256"
TOKEN_TYPE = "at+jwt"
ACCEPTED_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})  # RFC 9068 section 4
SCOPE = "openid profile email"
REQUIRED_CLAIMS = ("iss", "aud", "exp", "sub")
LEEWAY_SECONDS = 5
MIN_KEY_BITS = 2048
MAX_TOKEN_CHARS = 8192  # far above any token issued here; longer input is refused unparsed

CURRENT_STAGE = "AWSCURRENT"
PREVIOUS_STAGE = "AWSPREVIOUS"

CLAIMS_SUPPORTED = ["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "email", "email_verified", "scope"]


class SigningKeyError(RuntimeError):
    """The signing key cannot be used (not an RSA private key in PEM, or shorter than 2048 bits)."""


class AccessTokenRejected(Unauthorized):
    """An access token failed verification.

    The response shows only the generic `Unauthorized` detail; `reason` says why, for logs only.
    """

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


# --- keys -------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_uint(value: int) -> str:
    return _b64url(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _b64url_decode_uint(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of an RSA JWK: hash of the canonical {"e","kty","n"}."""
    members = {"e": jwk["e"], "kty": jwk["kty"], "n": jwk["n"]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def public_jwk(public_key: RSAPublicKey) -> dict[str, str]:
    """The public JWK of an RSA key, with its thumbprint as kid; never any private member."""
    numbers = public_key.public_numbers()
    jwk = {"kty": "RSA", "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}
    return {**jwk, "kid": jwk_thumbprint(jwk), "alg": ALGORITHM, "use": "sig"}


def thumbprint(public_key: RSAPublicKey) -> str:
    """RFC 7638 thumbprint of an RSA public key."""
    return public_jwk(public_key)["kid"]


def _parse_private_key(pem: str | bytes, *, validate: bool = True) -> RSAPrivateKey:
    """An RSA private key (>= 2048 bits) from PEM, or SigningKeyError saying what is wrong (never the value).

    `validate=False` skips OpenSSL's RSA consistency check (tens of milliseconds per key); only for
    the previous key, of which nothing but the public part is used.
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    data = pem.encode("utf-8") if isinstance(pem, str) else bytes(pem)
    if b"-----BEGIN" not in data or b"PRIVATE KEY-----" not in data:
        raise SigningKeyError("the value is not a PEM private key")
    try:
        key = load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=not validate)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SigningKeyError("the PEM private key cannot be loaded (encrypted or malformed)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningKeyError("the private key is not an RSA key")
    if key.key_size < MIN_KEY_BITS:
        raise SigningKeyError(f"the RSA key has {key.key_size} bits; at least {MIN_KEY_BITS} are required")
    return key


class SigningKeys:
    """The current private key (signs) and the published public keys by kid (current first)."""

    __slots__ = ("_jwks", "kid", "private_key", "public_keys")

    def __init__(
        self, private_key: RSAPrivateKey, previous_public_keys: tuple[RSAPublicKey, ...] = ()
    ) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        if not isinstance(private_key, rsa.RSAPrivateKey) or private_key.key_size < MIN_KEY_BITS:
            raise SigningKeyError(
                f"the signing key must be an RSA private key of at least {MIN_KEY_BITS} bits"
            )
        current = public_jwk(private_key.public_key())
        self.private_key = private_key
        self.kid: str = current["kid"]
        self.public_keys: dict[str, RSAPublicKey] = {self.kid: private_key.public_key()}
        jwks = [current]
        for public_key in previous_public_keys:
            jwk = public_jwk(public_key)
            if jwk["kid"] not in self.public_keys:
                self.public_keys[jwk["kid"]] = public_key
                jwks.append(jwk)
        self._jwks = tuple(jwks)

    @classmethod
    def from_pems(cls, current_pem: str | bytes, previous_pem: str | bytes | None = None) -> SigningKeys:
        """Keys from PEM text: the current one must be valid; an unusable previous one is ignored."""
        private_key = _parse_private_key(current_pem)
        previous: tuple[RSAPublicKey, ...] = ()
        if previous_pem:
            try:
                previous = (_parse_private_key(previous_pem, validate=False).public_key(),)
            except SigningKeyError:
                previous = ()
        return cls(private_key, previous)

    @property
    def public_jwks(self) -> list[dict[str, str]]:
        """Public JWKs, current first (copies)."""
        return [dict(jwk) for jwk in self._jwks]

    def __repr__(self) -> str:  # never the key material
        return f"SigningKeys(kid={self.kid!r}, published={list(self.public_keys)!r})"


def generate_private_key_pem(bits: int = 2048) -> str:
    """A new RSA private key as unencrypted PKCS8 PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if bits < MIN_KEY_BITS:
        raise ValueError(f"RSA signing keys need at least {MIN_KEY_BITS} bits")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode("ascii")


# --- Secrets Manager --------------------------------------------------------------------------


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _secret_value(client: Any, secret_id: str, stage: str) -> str | bytes | None:
    """The value staged `stage`, or None if no version carries that stage."""
    try:
        response = client.get_secret_value(SecretId=secret_id, VersionStage=stage)
    except Exception as error:
        if _error_code(error) == "ResourceNotFoundException" and stage != CURRENT_STAGE:
            return None
        raise
    if response.get("SecretString") is not None:
        return response["SecretString"]
    return response.get("SecretBinary")


def load_signing_keys(secret_id: str, client: Any = None) -> SigningKeys:
    """Read AWSCURRENT (must be a usable key) and AWSPREVIOUS (optional, ignored if unusable)."""
    if client is None:
        import boto3

        client = boto3.client("secretsmanager")
    current = _secret_value(client, secret_id, CURRENT_STAGE)
    if current is None:
        raise SigningKeyError(f"the signing-key secret has no {CURRENT_STAGE} value")
    try:
        private_key = _parse_private_key(current)
    except SigningKeyError as error:
        raise SigningKeyError(
            f"the {CURRENT_STAGE} version of the signing-key secret is unusable: {error}; it must hold an "
            f"RSA private key (>= {MIN_KEY_BITS} bits) in PEM (rotate the secret to generate one)"
        ) from None

    previous: tuple[RSAPublicKey, ...] = ()
    previous_value = _secret_value(client, secret_id, PREVIOUS_STAGE)
    if previous_value:
        try:
            previous = (_parse_private_key(previous_value, validate=False).public_key(),)
        except SigningKeyError:
            previous = ()  # e.g. the template's placeholder before the first rotation
    return SigningKeys(private_key, previous)


@functools.cache
def get_signing_keys() -> SigningKeys:
    """The keys of this container, read from Secrets Manager once (SIGNING_KEY_SECRET_ID)."""
    from accounts.settings import get_settings

    return load_signing_keys(get_settings().signing_key_secret_id)


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
) -> str:
    """An RS256 access token (header typ at+jwt, kid of the current key) valid for ttl_seconds from now."""
    import jwt

    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": user_id,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": secrets.token_urlsafe(16),
        "email": email,
        "email_verified": bool(email_verified),
        "scope": SCOPE,
    }
    return jwt.encode(
        claims, keys.private_key, algorithm=ALGORITHM, headers={"typ": TOKEN_TYPE, "kid": keys.kid}
    )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _reason_for(error: Exception) -> str:
    import jwt

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
    keys (current and previous), typ must be at+jwt, and iss, aud, exp, sub are required.
    """
    import jwt

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
    """The JWK Set: public members only, current key first, then the previous one."""
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
    """A minimal OpenID Provider discovery document: enough for JWT authorizers to find the key set."""
    base = issuer.rstrip("/")
    return {
        "issuer": issuer,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "scopes_supported": SCOPE.split(),
        "claims_supported": list(CLAIMS_SUPPORTED),
    }
