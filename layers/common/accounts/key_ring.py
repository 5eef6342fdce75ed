"""Signing keys: the key ring kept in Secrets Manager, its format, and the next ring of a rotation.

Secret value (AWSCURRENT), JSON:

    {"v": 2,
     "refresh_token_secret": "<base64url, 32 random bytes>",
     "keys": [{"pem": "<RSA private key, PKCS8 PEM>", "not_before": <epoch s>, "created_at": <epoch s>},
              ...]}

Keys are listed oldest first. A function signs with the newest key whose `not_before` has passed;
the key set publishes every key of the ring (upcoming, signing, and retired ones still needed), so
a rotation writes the new key `SIGNING_KEY_PUBLISH_AHEAD_SECONDS` before anything signs with it and
API Gateway, which caches the key set, has seen it by then. A retired key stays in the ring until
tokens it signed have expired; the next rotation drops it.

Legacy values (v1) are still read: a plain PEM is a ring of one key active since 0, and a PEM in
AWSPREVIOUS is published as the retired key. Their refresh-token secret is derived from the
current PEM (HMAC with a fixed label), and the first rotation writes that same value into the JSON,
so refresh tokens derived before the conversion keep verifying. A value that holds no key at all
(the template's random placeholder before the first rotation) is reported as None, not an error.

Our own keys are loaded without OpenSSL's RSA consistency check (about 29 ms per key on a cold
start): the rotation function's testSecret step checks every new key fully, once (`validate=True`).

Key ids (`kid`) are RFC 7638 JWK thumbprints (SHA-256). Nothing here ever puts key material in an
exception message or a repr. cryptography and botocore are imported only where needed, so
importing this module costs next to nothing at cold start.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

ALGORITHM = "RS256"
MIN_KEY_BITS = 2048
RING_VERSION = 2
REFRESH_SECRET_BYTES = 32
CURRENT_STAGE = "AWSCURRENT"
PREVIOUS_STAGE = "AWSPREVIOUS"
# Changing the label would change every legacy deployment's refresh secret: never change it.
_LEGACY_REFRESH_LABEL = b"accounts/refresh-token-secret/v1"


class SigningKeyError(RuntimeError):
    """The signing keys cannot be used (not an RSA private key in PEM, too short, malformed ring)."""


# --- JWKs -------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_uint(value: int) -> str:
    return _b64url(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


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


# --- keys -------------------------------------------------------------------------------------


def parse_private_key(pem: str | bytes, *, validate: bool = False) -> RSAPrivateKey:
    """An RSA private key (>= 2048 bits) from PEM, or SigningKeyError saying what is wrong (never the value).

    `validate=True` runs OpenSSL's RSA consistency checks: only the rotation function needs them,
    for a key it has not tested yet.
    """

    data = pem.encode("utf-8") if isinstance(pem, str) else bytes(pem)
    if not _looks_like_pem(data):
        raise SigningKeyError("the value is not a PEM private key")
    try:
        key = load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=not validate)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SigningKeyError(
            "the PEM private key cannot be loaded (encrypted, malformed or inconsistent)"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningKeyError("the private key is not an RSA key")
    if key.key_size < MIN_KEY_BITS:
        raise SigningKeyError(f"the RSA key has {key.key_size} bits; at least {MIN_KEY_BITS} are required")
    return key


def _looks_like_pem(data: bytes) -> bool:
    return b"-----BEGIN" in data and b"PRIVATE KEY-----" in data


def generate_private_key_pem(bits: int = 2048) -> str:
    """A new RSA private key as unencrypted PKCS8 PEM."""

    if bits < MIN_KEY_BITS:
        raise ValueError(f"RSA signing keys need at least {MIN_KEY_BITS} bits")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode("ascii")


class RingKey:
    """One key of the ring: its private key, public JWK, and when it starts signing."""

    __slots__ = ("created_at", "jwk", "kid", "not_before", "pem", "private_key", "public_key")

    def __init__(self, pem: str, *, not_before: int, created_at: int, validate: bool = False) -> None:
        self.pem = pem  # kept to write the ring again at the next rotation
        self.private_key = parse_private_key(pem, validate=validate)
        self.public_key = self.private_key.public_key()
        self.jwk = public_jwk(self.public_key)
        self.kid: str = self.jwk["kid"]
        self.not_before = int(not_before)
        self.created_at = int(created_at)

    def entry(self) -> dict[str, Any]:
        return {"pem": self.pem, "not_before": self.not_before, "created_at": self.created_at}

    def __repr__(self) -> str:  # never the key material
        return f"RingKey(kid={self.kid!r}, not_before={self.not_before})"


class SigningKeys:
    """The key ring of a secret version: who signs at a given time, and the keys to publish.

    `ring` is ordered by `not_before` (list order breaks ties: the later entry is newer).
    `refresh_token_secret` is a server secret (>= 32 bytes) that survives rotations unchanged.
    `legacy` is true for a v1 value (plain PEM), which has no start times.
    """

    __slots__ = ("legacy", "refresh_token_secret", "ring")

    def __init__(self, ring: Iterable[RingKey], refresh_token_secret: bytes, *, legacy: bool = False) -> None:
        by_kid: dict[str, RingKey] = {}
        for key in sorted(ring, key=lambda key: key.not_before):
            by_kid.pop(key.kid, None)  # the same key listed twice: keep its newer entry
            by_kid[key.kid] = key
        if not by_kid:
            raise SigningKeyError("the key ring holds no key")
        if not isinstance(refresh_token_secret, bytes) or len(refresh_token_secret) < REFRESH_SECRET_BYTES:
            raise SigningKeyError(f"the refresh-token secret must have at least {REFRESH_SECRET_BYTES} bytes")
        self.ring: tuple[RingKey, ...] = tuple(sorted(by_kid.values(), key=lambda key: key.not_before))
        self.refresh_token_secret = refresh_token_secret
        self.legacy = legacy

    @classmethod
    def from_pems(cls, current_pem: str | bytes, previous_pem: str | bytes | None = None) -> SigningKeys:
        """A legacy (v1) value: the current PEM must be a usable key; an unusable previous one is ignored."""
        current = _text(current_pem)
        ring = [RingKey(current, not_before=0, created_at=0)]
        if previous_pem:
            try:
                ring.insert(0, RingKey(_text(previous_pem), not_before=0, created_at=0))
            except SigningKeyError:
                pass  # e.g. the template's placeholder before the first rotation
        return cls(ring, legacy_refresh_token_secret(current), legacy=True)

    def _now(self, now: int | None) -> int:
        if now is not None:
            return now
        from accounts import clock

        return clock.now()

    def _active_index(self, now: int) -> int:
        # Before every key's start (first key ever, clocks seconds apart) the earliest key signs:
        # it is the only one there could be.
        return max((i for i, key in enumerate(self.ring) if key.not_before <= now), default=0)

    def signing_key(self, now: int | None = None) -> RingKey:
        """The newest key whose not_before has passed at `now` (default: the clock)."""
        return self.ring[self._active_index(self._now(now))]

    def signer(self, now: int | None = None) -> tuple[str, RSAPrivateKey]:
        """(kid, private key) that signs at `now`."""
        key = self.signing_key(now)
        return key.kid, key.private_key

    @property
    def kid(self) -> str:
        """The kid that signs now."""
        return self.signing_key().kid

    def published(self, now: int | None = None) -> list[RingKey]:
        """Every key of the ring: the signer at `now` first, then the others, newest first."""
        signer = self.signing_key(now)
        return [signer, *(key for key in reversed(self.ring) if key is not signer)]

    @property
    def public_keys(self) -> dict[str, RSAPublicKey]:
        """Public keys by kid, for verification (the signer first)."""
        return {key.kid: key.public_key for key in self.published()}

    @property
    def public_jwks(self) -> list[dict[str, str]]:
        """Public JWKs, the signer first (copies)."""
        return [dict(key.jwk) for key in self.published()]

    def needed(self, now: int, retention_seconds: int) -> list[RingKey]:
        """The keys a rotation at `now` keeps: the signer, upcoming ones, and retired ones that
        stopped signing (when the next key started) less than `retention_seconds` ago."""
        active = self._active_index(now)
        return [
            key
            for index, key in enumerate(self.ring)
            if index >= active or self.ring[index + 1].not_before + retention_seconds > now
        ]

    def __repr__(self) -> str:  # never the key material
        return f"SigningKeys(ring={list(self.ring)!r}, legacy={self.legacy})"


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else bytes(value).decode("utf-8", "replace")


def legacy_refresh_token_secret(pem: str | bytes) -> bytes:
    """The refresh-token secret of a value written before there was one: derived from its PEM."""
    data = pem.encode("utf-8") if isinstance(pem, str) else bytes(pem)
    return hmac.new(_LEGACY_REFRESH_LABEL, data.strip(), hashlib.sha256).digest()


# --- secret values ----------------------------------------------------------------------------


def parse_secret_value(value: str | bytes | None, *, validate: bool = False) -> SigningKeys | None:
    """The keys of a secret value; None when it holds no key at all (a placeholder), SigningKeyError
    when it is a ring or a PEM that cannot be used."""
    if value is None:
        return None
    text = _text(value).strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            raise SigningKeyError("the value is not valid JSON") from None
        if isinstance(document, dict) and ("keys" in document or "v" in document):
            return _parse_ring(document, validate=validate)
    if _looks_like_pem(text.encode("utf-8")):
        key = RingKey(text, not_before=0, created_at=0, validate=validate)
        return SigningKeys([key], legacy_refresh_token_secret(text), legacy=True)
    return None


def _parse_ring(document: Mapping[str, Any], *, validate: bool) -> SigningKeys:
    if document.get("v") != RING_VERSION:
        raise SigningKeyError(f"the key ring's version must be {RING_VERSION}")
    entries = document.get("keys")
    if not isinstance(entries, list) or not entries:
        raise SigningKeyError("the key ring holds no key")
    ring = []
    for position, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("pem"), str):
            raise SigningKeyError(f"key {position} of the ring has no pem")
        not_before, created_at = entry.get("not_before"), entry.get("created_at", entry.get("not_before"))
        if not _is_int(not_before) or not _is_int(created_at):
            raise SigningKeyError(f"key {position} of the ring needs whole-second not_before and created_at")
        try:
            key = RingKey(entry["pem"], not_before=not_before, created_at=created_at, validate=validate)
        except SigningKeyError as error:
            raise SigningKeyError(f"key {position} of the ring: {error}") from None
        ring.append(key)
    encoded = document.get("refresh_token_secret")
    if encoded is None:
        # A hand-written ring without one: derive it like a legacy value (from the oldest key), so it
        # is stable until a rotation writes it down.
        refresh_secret = legacy_refresh_token_secret(min(ring, key=lambda key: key.not_before).pem)
    else:
        refresh_secret = _decode_secret(encoded)
    return SigningKeys(ring, refresh_secret)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _decode_secret(encoded: object) -> bytes:
    if not isinstance(encoded, str):
        raise SigningKeyError("the refresh_token_secret must be base64url text")
    try:
        secret = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (ValueError, binascii.Error):
        raise SigningKeyError("the refresh_token_secret must be base64url text") from None
    if len(secret) < REFRESH_SECRET_BYTES:
        raise SigningKeyError(f"the refresh_token_secret must have at least {REFRESH_SECRET_BYTES} bytes")
    return secret


def ring_secret_value(entries: Iterable[Mapping[str, Any]], refresh_token_secret: bytes) -> str:
    """The JSON secret value of a ring (entries: pem, not_before, created_at), oldest key first."""
    keys = sorted(
        (
            {"pem": e["pem"], "not_before": int(e["not_before"]), "created_at": int(e["created_at"])}
            for e in entries
        ),
        key=lambda entry: entry["not_before"],
    )
    document = {"v": RING_VERSION, "refresh_token_secret": _b64url(refresh_token_secret), "keys": keys}
    return json.dumps(document)


def new_ring_secret_value(now: int, *, pem: str | None = None) -> str:
    """A first secret value: one new key (or `pem`) signing from `now`, and a new refresh-token secret."""
    entry = {"pem": pem or generate_private_key_pem(), "not_before": now, "created_at": now}
    return ring_secret_value([entry], secrets.token_bytes(REFRESH_SECRET_BYTES))


def rotated_secret_value(
    current: SigningKeys | None, *, new_pem: str, now: int, publish_ahead_seconds: int, retention_seconds: int
) -> str:
    """The value a rotation at `now` writes: the keys still needed, the refresh secret carried
    forward, and `new_pem` starting `publish_ahead_seconds` from now.

    With no current key at all (the placeholder before the first rotation) the new key signs at
    once: no key set can have been cached yet, and there is nothing else to sign with.
    """
    if current is None:
        return new_ring_secret_value(now, pem=new_pem)
    entries = [key.entry() for key in current.needed(now, retention_seconds)]
    if current.legacy:
        # A v1 value has no times. The current key signs from now on (it already does), so the v1
        # previous key counts as retired now and stays published for another retention period:
        # containers of the v1 code may have signed with it until they were replaced.
        entries = [key.entry() for key in current.ring]
        entries[-1]["not_before"] = now
    newest = max(entry["not_before"] for entry in entries)
    not_before = max(now + publish_ahead_seconds, newest + 1)
    entries.append({"pem": new_pem, "not_before": not_before, "created_at": now})
    return ring_secret_value(entries, current.refresh_token_secret)


# --- Secrets Manager --------------------------------------------------------------------------


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def secret_value(client: Any, secret_id: str, stage: str) -> str | bytes | None:
    """The value staged `stage`, or None if no version carries that stage (AWSCURRENT always exists)."""
    try:
        response = client.get_secret_value(SecretId=secret_id, VersionStage=stage)
    except Exception as error:
        if _error_code(error) == "ResourceNotFoundException" and stage != CURRENT_STAGE:
            return None
        raise
    if response.get("SecretString") is not None:
        return response["SecretString"]
    return response.get("SecretBinary")


def read_current(secret_id: str, client: Any = None) -> SigningKeys | None:
    """The keys of AWSCURRENT (with a legacy AWSPREVIOUS key), None if it holds no key at all.

    SigningKeyError if AWSCURRENT is a ring or PEM that cannot be used. AWSPREVIOUS is read only
    for a legacy value: a ring holds its previous keys itself.
    """
    if client is None:
        from accounts import aws

        client = aws.client("secretsmanager")
    try:
        keys = parse_secret_value(secret_value(client, secret_id, CURRENT_STAGE))
    except SigningKeyError as error:
        raise SigningKeyError(
            f"the {CURRENT_STAGE} version of the signing-key secret is unusable: {error}; it must hold a "
            f"key ring or an RSA private key (>= {MIN_KEY_BITS} bits) in PEM (rotate the secret to "
            "generate one)"
        ) from None
    if keys is None or not keys.legacy:
        return keys
    previous = secret_value(client, secret_id, PREVIOUS_STAGE)
    if previous and _looks_like_pem(_text(previous).encode("utf-8")):
        return SigningKeys.from_pems(keys.ring[-1].pem, previous)
    return keys


def load_signing_keys(secret_id: str, client: Any = None) -> SigningKeys:
    """The keys of the secret's AWSCURRENT version; SigningKeyError if it holds no usable key."""
    keys = read_current(secret_id, client)
    if keys is None:
        raise SigningKeyError(
            f"the {CURRENT_STAGE} version of the signing-key secret holds no signing key (the placeholder "
            "before the first rotation?); rotate the secret to generate one"
        )
    return keys
