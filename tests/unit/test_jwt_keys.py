"""Signing keys, RS256 access tokens, the JWK Set and the discovery document."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from accounts import clock, jwt_keys
from accounts.errors import Unauthorized
from accounts.jwt_keys import (
    LEEWAY_SECONDS,
    AccessTokenRejected,
    SigningKeyError,
    SigningKeys,
    generate_private_key_pem,
    issue_access_token,
    jwk_thumbprint,
    jwks,
    load_signing_keys,
    openid_configuration,
    public_keys_from_jwks,
    thumbprint,
    verify_access_token,
)

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://accounts.example.com"
AUDIENCE = "accounts-api"
NOW = 1_800_000_000
TTL = 900

# RFC 7638 section 3.1: the example RSA key and its published SHA-256 thumbprint.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc"
    "_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQ"
    "R0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bF"
    "TWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.fixture(scope="module")
def pems() -> dict[str, str]:
    """Three keys: the one before rotation, the current one, and an attacker's (never published)."""
    return {name: generate_private_key_pem() for name in ("previous", "current", "attacker")}


@pytest.fixture(scope="module")
def keys(pems: dict[str, str]) -> SigningKeys:
    return SigningKeys.from_pems(pems["current"], pems["previous"])


def issue(keys: SigningKeys, **overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "user_id": "user-123",
        "email": "alice@example.com",
        "email_verified": True,
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "ttl_seconds": TTL,
        "now": NOW,
        "session_id": "session-9",
        "client_id": "web-app",
        "amr": ["pwd"],
        "scope": jwt_keys.SCOPE,
    }
    return issue_access_token(keys, **{**arguments, **overrides})


def verify(token: str, keys: Any, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "now": NOW}
    return verify_access_token(token, keys, **{**arguments, **overrides})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: dict[str, Any]) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def valid_claims() -> dict[str, Any]:
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-123", "iat": NOW, "nbf": NOW, "exp": NOW + TTL}


def sign_with(pem: str, claims: dict[str, Any], headers: dict[str, Any]) -> str:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def assert_refused(token: str, keys: Any, reason: str, **overrides: Any) -> None:
    with pytest.raises(AccessTokenRejected) as caught:
        verify(token, keys, **overrides)
    error = caught.value
    assert isinstance(error, Unauthorized)
    assert (error.status, error.code) == (401, "unauthorized")
    assert error.detail == Unauthorized.detail  # the response never says why
    assert reason in error.reason


# --- issue and verify -------------------------------------------------------------------------


def test_round_trip_header_is_rs256_at_jwt_with_current_kid(keys: SigningKeys) -> None:
    header = jwt.get_unverified_header(issue(keys))
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": keys.kid}


def test_round_trip_claims(keys: SigningKeys) -> None:
    claims = verify(issue(keys), keys)
    jti = claims.pop("jti")
    assert isinstance(jti, str) and len(jti) >= 16
    assert claims == {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-123",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + TTL,
        "email": "alice@example.com",
        "email_verified": True,
        "scope": "openid profile email",
        "sid": "session-9",
        "client_id": "web-app",
        "amr": ["pwd"],
    }


def test_v2_claims_carry_the_callers_scope_and_methods(keys: SigningKeys) -> None:
    scope = f"{jwt_keys.SCOPE} {jwt_keys.ADMIN_SCOPE}"
    claims = verify(issue(keys, amr=["pwd", "otp"], scope=scope, session_id="s-2"), keys)
    assert claims["amr"] == ["pwd", "otp"] and claims["sid"] == "s-2"
    assert claims["scope"] == "openid profile email accounts:admin"


@pytest.mark.parametrize(
    "bad",
    [{"session_id": ""}, {"client_id": ""}, {"scope": ""}, {"amr": []}, {"amr": "pwd"}, {"ttl_seconds": 0}],
)
def test_issue_refuses_missing_v2_claims(keys: SigningKeys, bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        issue(keys, **bad)


def test_email_verified_is_a_json_boolean_and_jti_is_unique(keys: SigningKeys) -> None:
    first, second = verify(issue(keys, email_verified=0), keys), verify(issue(keys), keys)
    assert first["email_verified"] is False
    assert first["jti"] != second["jti"]


def test_verify_accepts_until_expiry_plus_leeway_and_refuses_from_then_on(keys: SigningKeys) -> None:
    token = issue(keys)
    assert verify(token, keys, now=NOW + TTL + LEEWAY_SECONDS - 1)["sub"] == "user-123"
    assert_refused(token, keys, "expired", now=NOW + TTL + LEEWAY_SECONDS)


def test_verify_without_now_uses_the_clock_expired_after_time_travel(keys: SigningKeys) -> None:
    with time_machine.travel(NOW + 60, tick=False):
        token = issue(keys, now=clock.now())
        assert verify(token, keys, now=None)["sub"] == "user-123"
    with time_machine.travel(NOW + 60 + TTL + LEEWAY_SECONDS, tick=False):
        assert_refused(token, keys, "expired", now=None)


def test_refused_not_yet_valid_nbf_in_the_future(keys: SigningKeys, pems: dict[str, str]) -> None:
    claims = {**valid_claims(), "nbf": NOW + 60}
    token = sign_with(pems["current"], claims, {"typ": "at+jwt", "kid": keys.kid})
    assert_refused(token, keys, "not yet valid")


# --- refusals ---------------------------------------------------------------------------------


def test_refused_hs256_signed_with_the_public_key_as_hmac_secret(keys: SigningKeys) -> None:
    public_pem = keys.public_keys[keys.kid].public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'at+jwt', 'kid': keys.kid})}.{segment(valid_claims())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert_refused(f"{signing_input}.{b64(signature)}", keys, "algorithm")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_refused_alg_none_unsigned_token(keys: SigningKeys, alg: str) -> None:
    token = f"{segment({'alg': alg, 'typ': 'at+jwt', 'kid': keys.kid})}.{segment(valid_claims())}."
    assert_refused(token, keys, "algorithm")


def test_refused_signed_by_an_unpublished_key_under_the_current_kid(
    keys: SigningKeys, pems: dict[str, str]
) -> None:
    token = sign_with(pems["attacker"], valid_claims(), {"typ": "at+jwt", "kid": keys.kid})
    assert_refused(token, keys, "bad signature")


def test_refused_wrong_audience(keys: SigningKeys) -> None:
    assert_refused(issue(keys, audience="another-api"), keys, "audience")


def test_refused_wrong_issuer(keys: SigningKeys) -> None:
    assert_refused(issue(keys, issuer="https://evil.example.com"), keys, "issuer")


@pytest.mark.parametrize("claim", ["sub", "exp", "iss", "aud"])
def test_refused_missing_required_claim(keys: SigningKeys, pems: dict[str, str], claim: str) -> None:
    claims = valid_claims()
    del claims[claim]
    token = sign_with(pems["current"], claims, {"typ": "at+jwt", "kid": keys.kid})
    assert_refused(token, keys, f"missing claim: {claim}")


@pytest.mark.parametrize(("claim", "value"), [("sub", ""), ("sub", 42), ("exp", "soon"), ("exp", True)])
def test_refused_required_claim_of_the_wrong_type(
    keys: SigningKeys, pems: dict[str, str], claim: str, value: object
) -> None:
    token = sign_with(pems["current"], {**valid_claims(), claim: value}, {"typ": "at+jwt", "kid": keys.kid})
    with pytest.raises(AccessTokenRejected):
        verify(token, keys)


def test_refused_tampered_payload(keys: SigningKeys) -> None:
    header, _payload, signature = issue(keys).split(".")
    forged = segment({**valid_claims(), "sub": "admin"})
    assert_refused(f"{header}.{forged}.{signature}", keys, "bad signature")


def test_refused_unknown_kid(keys: SigningKeys, pems: dict[str, str]) -> None:
    token = sign_with(pems["current"], valid_claims(), {"typ": "at+jwt", "kid": "not-a-published-key"})
    assert_refused(token, keys, "unknown key id")


def test_refused_missing_kid(keys: SigningKeys, pems: dict[str, str]) -> None:
    token = sign_with(pems["current"], valid_claims(), {"typ": "at+jwt"})
    assert_refused(token, keys, "unknown key id")


@pytest.mark.parametrize("typ", ["JWT", None, "id_token+jwt"])
def test_refused_wrong_typ_header(keys: SigningKeys, pems: dict[str, str], typ: str | None) -> None:
    headers: dict[str, Any] = {"kid": keys.kid, "typ": typ if typ is not None else ""}  # "" drops typ
    assert_refused(sign_with(pems["current"], valid_claims(), headers), keys, "type")


def test_accepts_full_media_type_typ(keys: SigningKeys, pems: dict[str, str]) -> None:
    token = sign_with(pems["current"], valid_claims(), {"typ": "application/at+jwt", "kid": keys.kid})
    assert verify(token, keys)["sub"] == "user-123"


@pytest.mark.parametrize("junk", ["", "abc", "a.b.c", "..", "x" * 9000, None])
def test_refused_malformed_input(keys: SigningKeys, junk: Any) -> None:
    assert_refused(junk, keys, "malformed")


# --- rotation ---------------------------------------------------------------------------------


def test_token_signed_by_previous_key_verifies_after_rotation(
    pems: dict[str, str], keys: SigningKeys
) -> None:
    before_rotation = SigningKeys.from_pems(pems["previous"])
    token = issue(before_rotation)
    claims = verify(token, keys)  # keys: current = new key, previous = the one that signed
    assert claims["sub"] == "user-123"
    assert jwt.get_unverified_header(token)["kid"] != keys.kid


def test_token_of_a_key_two_rotations_old_is_refused(pems: dict[str, str]) -> None:
    token = issue(SigningKeys.from_pems(pems["previous"]))
    after_two_rotations = SigningKeys.from_pems(pems["attacker"], pems["current"])
    assert_refused(token, after_two_rotations, "unknown key id")


def test_verify_accepts_public_keys_from_the_published_jwks(keys: SigningKeys) -> None:
    public_keys = public_keys_from_jwks(jwks(keys))
    assert list(public_keys) == list(keys.public_keys)
    assert verify(issue(keys), public_keys)["sub"] == "user-123"


# --- key set and key ids ----------------------------------------------------------------------


def test_jwks_lists_current_then_previous_with_public_members_only(
    keys: SigningKeys, pems: dict[str, str]
) -> None:
    document = jwks(keys)
    assert [jwk["kid"] for jwk in document["keys"]] == [
        keys.kid,
        thumbprint(serialization.load_pem_private_key(pems["previous"].encode(), None).public_key()),
    ]
    for jwk in document["keys"]:
        assert set(jwk) == {"kty", "n", "e", "kid", "alg", "use"}
        assert (jwk["kty"], jwk["alg"], jwk["use"], jwk["e"]) == ("RSA", "RS256", "sig", "AQAB")
        assert not {"d", "p", "q", "dp", "dq", "qi", "oth", "k"} & set(jwk)
    assert "PRIVATE" not in json.dumps(document)


def test_jwks_returns_copies_that_cannot_alter_the_keys(keys: SigningKeys) -> None:
    jwks(keys)["keys"][0]["kid"] = "changed"
    assert jwks(keys)["keys"][0]["kid"] == keys.kid


def test_jwk_thumbprint_matches_rfc7638_section_3_1_example() -> None:
    assert jwk_thumbprint(
        {"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}
    ) == (RFC7638_THUMBPRINT)


def test_thumbprint_of_the_rfc7638_public_key_object_matches_published_value() -> None:
    n = int.from_bytes(base64.urlsafe_b64decode(RFC7638_N + "=" * (-len(RFC7638_N) % 4)), "big")
    public_key = rsa.RSAPublicNumbers(65537, n).public_key()
    assert thumbprint(public_key) == RFC7638_THUMBPRINT


def test_kid_is_the_rfc7638_thumbprint_of_the_published_jwk(keys: SigningKeys) -> None:
    for jwk in jwks(keys)["keys"]:
        assert jwk["kid"] == jwk_thumbprint(jwk)
        manual = hashlib.sha256(
            json.dumps(
                {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
            ).encode()
        ).digest()
        assert jwk["kid"] == b64(manual)


def test_repr_never_shows_key_material(keys: SigningKeys) -> None:
    assert "PRIVATE" not in repr(keys) and keys.kid in repr(keys)


# --- key parsing ------------------------------------------------------------------------------


def test_generate_private_key_pem_is_pkcs8_rsa_2048() -> None:
    pem = generate_private_key_pem()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048


def test_generate_private_key_pem_refuses_short_keys() -> None:
    with pytest.raises(ValueError):
        generate_private_key_pem(1024)


def _small_rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _ec_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.mark.parametrize(
    "make", [lambda: "placeholder-3kJ9x", _small_rsa_pem, _ec_pem], ids=["text", "1024", "ec"]
)
def test_unusable_current_key_raises_a_clear_error(make: Any) -> None:
    with pytest.raises(SigningKeyError):
        SigningKeys.from_pems(make())


@pytest.mark.parametrize(
    "make", [lambda: "placeholder-3kJ9x", _small_rsa_pem, _ec_pem], ids=["text", "1024", "ec"]
)
def test_unusable_previous_key_is_ignored(pems: dict[str, str], make: Any) -> None:
    keys = SigningKeys.from_pems(pems["current"], make())
    assert list(keys.public_keys) == [keys.kid]


def test_previous_equal_to_current_is_published_once(pems: dict[str, str]) -> None:
    assert len(jwks(SigningKeys.from_pems(pems["current"], pems["current"]))["keys"]) == 1


# --- Secrets Manager --------------------------------------------------------------------------


@pytest.fixture
def secretsmanager(mocked_aws: None) -> Any:
    return boto3.client("secretsmanager")


def test_load_signing_keys_current_only_when_no_previous_version(
    secretsmanager: Any, pems: dict[str, str]
) -> None:
    secretsmanager.create_secret(Name="signing-key", SecretString=pems["current"])
    keys = load_signing_keys("signing-key", client=secretsmanager)
    assert keys.kid == SigningKeys.from_pems(pems["current"]).kid
    assert list(keys.public_keys) == [keys.kid]


def test_load_signing_keys_publishes_previous_version(secretsmanager: Any, pems: dict[str, str]) -> None:
    secretsmanager.create_secret(Name="signing-key", SecretString=pems["previous"])
    secretsmanager.put_secret_value(
        SecretId="signing-key", SecretString=pems["current"]
    )  # old one -> AWSPREVIOUS
    keys = load_signing_keys("signing-key")  # creates its own client
    assert list(keys.public_keys) == list(
        SigningKeys.from_pems(pems["current"], pems["previous"]).public_keys
    )


def test_load_signing_keys_placeholder_current_raises(secretsmanager: Any) -> None:
    secretsmanager.create_secret(Name="signing-key", SecretString="placeholder-before-first-rotation")
    with pytest.raises(SigningKeyError, match="AWSCURRENT"):
        load_signing_keys("signing-key", client=secretsmanager)


def test_load_signing_keys_reads_a_ring(secretsmanager: Any) -> None:
    secretsmanager.create_secret(Name="signing-key", SecretString=jwt_keys.new_ring_secret_value(NOW))
    keys = load_signing_keys("signing-key", client=secretsmanager)
    assert not keys.legacy and len(keys.ring) == 1 and keys.signing_key(NOW).not_before == NOW
    assert len(keys.refresh_token_secret) == 32


def test_load_signing_keys_a_ring_ignores_awsprevious(secretsmanager: Any, pems: dict[str, str]) -> None:
    secretsmanager.create_secret(Name="signing-key", SecretString=pems["previous"])
    secretsmanager.put_secret_value(SecretId="signing-key", SecretString=jwt_keys.new_ring_secret_value(NOW))
    keys = load_signing_keys("signing-key")
    assert len(keys.public_keys) == 1  # the ring holds every key it still needs itself


# --- discovery and import cost ----------------------------------------------------------------


def test_openid_configuration_points_to_the_key_set_and_states_only_what_is_true() -> None:
    document = openid_configuration(ISSUER)
    assert document["issuer"] == ISSUER
    assert document["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert document["access_token_signing_alg_values_supported"] == ["RS256"]
    assert document["scopes_supported"] == ["openid", "profile", "email", "accounts:admin"]
    claims = set(document["claims_supported"])
    assert {"sub", "email", "email_verified", "sid", "client_id", "amr", "scope"} <= claims
    for untrue in (
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
    ):
        assert untrue not in document


def test_claims_supported_are_the_claims_a_token_carries(keys: SigningKeys) -> None:
    assert set(verify(issue(keys), keys)) == set(jwt_keys.CLAIMS_SUPPORTED)


@pytest.mark.parametrize(
    ("folder", "module", "needed"),
    [
        ("login", "handle_login", ("jwt", "cryptography.hazmat.primitives.asymmetric.rsa", "argon2",
                                   "pynamodb.models", "botocore.session")),
        ("login", "handle_session", ("jwt", "cryptography.hazmat.primitives.asymmetric.rsa", "pynamodb.models",
                                     "botocore.session")),
        ("register", "handle_register", ("argon2", "pynamodb.models", "botocore.session")),
    ],
)
def test_handlers_import_at_init_what_every_request_needs(folder: str, module: str, needed: tuple[str, ...]) -> None:
    """Deferring an import into the request only moves its cost into the first request."""
    code = f"import sys, {module}; missing = [m for m in {needed!r} if m not in sys.modules]; assert not missing, missing"
    paths = [ROOT / "layers" / "common", ROOT / "functions" / folder]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env={"PYTHONPATH": os.pathsep.join(str(path) for path in paths)})


# --- deeply nested JSON in a token: refused as malformed, never a RecursionError ----------------


def _segment(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "header",
    ["[" * 2500 + "]" * 2500, '{"a":' * 1000 + "1" + "}" * 1000],
    ids=["arrays", "objects"],
)
def test_deeply_nested_header_is_a_malformed_token(keys: SigningKeys, header: str) -> None:
    token = f"{_segment(header)}.{_segment('{}')}.c2ln"
    assert len(token) < jwt_keys.MAX_TOKEN_CHARS
    assert_refused(token, keys, "malformed token")


def test_deeply_nested_payload_is_refused(keys: SigningKeys) -> None:
    header = {"alg": "RS256", "typ": "at+jwt", "kid": keys.ring[-1].kid}
    token = f"{_segment(json.dumps(header))}.{_segment('[' * 2500 + ']' * 2500)}.c2ln"
    assert len(token) < jwt_keys.MAX_TOKEN_CHARS
    with pytest.raises(AccessTokenRejected):
        verify(token, keys)
