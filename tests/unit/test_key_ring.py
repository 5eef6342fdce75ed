"""The signing-key ring: its secret format, who signs when, what a rotation keeps, and the
container's cache of it (get_signing_keys), with time travel instead of sleeps."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import boto3
import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import accounts.settings
from accounts import clock, jwt_keys, key_ring
from accounts.jwt_keys import SigningKeyError, SigningKeys, issue_access_token, verify_access_token
from accounts.key_ring import (
    legacy_refresh_token_secret,
    new_ring_secret_value,
    parse_secret_value,
    rotated_secret_value,
)

NOW = 1_800_000_000
TTL = 900
AHEAD = 7200
CACHE = 300
RETENTION = TTL + CACHE + jwt_keys.LEEWAY_SECONDS  # what the rotation function uses by default
ISSUER, AUDIENCE = "https://accounts.example.com", "accounts-api"
SECRET = "signing-key"


@pytest.fixture(scope="module")
def pems() -> list[str]:
    return [jwt_keys.generate_private_key_pem() for _ in range(4)]


def kid_of(pem: str) -> str:
    return jwt_keys.thumbprint(serialization.load_pem_private_key(pem.encode(), None).public_key())


def rotate(value: str, pem: str, now: int) -> str:
    return rotated_secret_value(
        parse_secret_value(value),
        new_pem=pem,
        now=now,
        publish_ahead_seconds=AHEAD,
        retention_seconds=RETENTION,
    )


def issue(keys: SigningKeys, now: int) -> str:
    return issue_access_token(
        keys, user_id="user-1", email="a@example.com", email_verified=True, issuer=ISSUER, audience=AUDIENCE,
        ttl_seconds=TTL, now=now, session_id="s-1", client_id=AUDIENCE, amr=["pwd"], scope=jwt_keys.SCOPE,
    )


def verify(token: str, keys: Any, now: int) -> dict[str, Any]:
    return verify_access_token(token, keys, issuer=ISSUER, audience=AUDIENCE, now=now)


def signed_kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


# --- format -----------------------------------------------------------------------------------


def test_new_ring_value_is_v2_json_with_one_key_signing_at_once_and_a_refresh_secret(pems: list[str]) -> None:
    document = json.loads(new_ring_secret_value(NOW, pem=pems[0]))
    assert set(document) == {"v", "refresh_token_secret", "keys"} and document["v"] == 2
    assert document["keys"] == [{"pem": pems[0], "not_before": NOW, "created_at": NOW}]
    secret = base64.urlsafe_b64decode(document["refresh_token_secret"] + "==")
    assert len(secret) == 32
    keys = parse_secret_value(json.dumps(document))
    assert keys.signer(NOW)[0] == kid_of(pems[0]) and keys.refresh_token_secret == secret
    assert json.loads(new_ring_secret_value(NOW))["refresh_token_secret"] != document["refresh_token_secret"]


def test_placeholder_holds_no_key_and_broken_rings_are_errors(pems: list[str]) -> None:
    assert parse_secret_value("Kq3xR9vT2mWp7LzN4bY8cHs6dFj1gA5e") is None  # the template's placeholder
    assert parse_secret_value('{"RandomPassword": "x"}') is None
    ring = json.loads(new_ring_secret_value(NOW, pem=pems[0]))
    broken = [
        "{not json",
        {**ring, "v": 3},
        {**ring, "keys": []},
        {**ring, "keys": [{"pem": "junk", "not_before": NOW, "created_at": NOW}]},
        {**ring, "keys": [{"pem": pems[0], "not_before": "soon", "created_at": NOW}]},
        {**ring, "refresh_token_secret": "c2hvcnQ"},  # 5 bytes
    ]
    for value in broken:
        with pytest.raises(SigningKeyError) as caught:
            parse_secret_value(value if isinstance(value, str) else json.dumps(value))
        assert "PRIVATE" not in str(caught.value)


def test_keys_load_without_rsa_validation_which_the_rotation_runs(pems: list[str]) -> None:
    numbers = serialization.load_pem_private_key(pems[0].encode(), None).private_numbers()
    inconsistent = rsa.RSAPrivateNumbers(
        numbers.p, numbers.q, numbers.d, numbers.dmp1 + 2, numbers.dmq1, numbers.iqmp, numbers.public_numbers
    ).private_key(unsafe_skip_rsa_key_validation=True)
    pem = inconsistent.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    value = new_ring_secret_value(NOW, pem=pem)
    assert parse_secret_value(value) is not None  # no OpenSSL check on the functions' hot path
    with pytest.raises(SigningKeyError, match="inconsistent"):
        parse_secret_value(value, validate=True)


def test_repr_never_shows_key_material(pems: list[str]) -> None:
    keys = parse_secret_value(new_ring_secret_value(NOW, pem=pems[0]))
    assert "PRIVATE" not in repr(keys) and "PRIVATE" not in repr(keys.ring[0])


# --- timeline ---------------------------------------------------------------------------------


def test_after_a_rotation_the_new_key_is_published_at_once_but_signs_only_from_not_before(
    pems: list[str],
) -> None:
    before = parse_secret_value(new_ring_secret_value(NOW, pem=pems[0]))
    after = parse_secret_value(rotate(new_ring_secret_value(NOW, pem=pems[0]), pems[1], NOW + 60))
    old, new = kid_of(pems[0]), kid_of(pems[1])
    assert list(after.public_keys) == [old, new]  # current signer first
    assert [jwk["kid"] for jwk in jwt_keys.jwks(after)["keys"]] == [old, new]
    assert after.signing_key(NOW + 60).kid == old
    assert after.ring[-1].not_before == NOW + 60 + AHEAD

    token = issue(before, NOW + 30)  # signed before the rotation
    assert verify(token, after, NOW + 90)["sub"] == "user-1"
    with time_machine.travel(NOW + 60 + AHEAD - 1, tick=False):
        assert signed_kid(issue(after, clock.now())) == old
    with time_machine.travel(NOW + 60 + AHEAD, tick=False):
        assert signed_kid(issue(after, clock.now())) == new
        assert list(after.public_keys) == [new, old]  # the signer first
        assert verify(token, after, NOW + 90)["sub"] == "user-1"


def test_retired_keys_stay_for_the_token_lifetime_after_retirement_then_drop(pems: list[str]) -> None:
    value = rotate(new_ring_secret_value(NOW, pem=pems[0]), pems[1], NOW)
    retired_at = NOW + AHEAD  # pems[1] signs from then on; pems[0] stops
    kept = parse_secret_value(rotate(value, pems[2], retired_at + RETENTION - 1))
    assert [key.kid for key in kept.ring] == [kid_of(pems[0]), kid_of(pems[1]), kid_of(pems[2])]
    dropped = parse_secret_value(rotate(value, pems[2], retired_at + RETENTION))
    assert [key.kid for key in dropped.ring] == [kid_of(pems[1]), kid_of(pems[2])]
    assert RETENTION >= TTL


def test_two_rotations_within_the_publish_ahead_period_keep_every_key_in_order(pems: list[str]) -> None:
    first = rotate(new_ring_secret_value(NOW, pem=pems[0]), pems[1], NOW)
    keys = parse_secret_value(rotate(first, pems[2], NOW + 10))
    assert [key.kid for key in keys.ring] == [kid_of(p) for p in pems[:3]]
    assert keys.signing_key(NOW + 10).kid == kid_of(pems[0])
    assert keys.signing_key(NOW + AHEAD).kid == kid_of(pems[1])
    assert keys.signing_key(NOW + 10 + AHEAD).kid == kid_of(pems[2])


def test_the_first_rotation_of_a_placeholder_signs_at_once() -> None:
    pem = jwt_keys.generate_private_key_pem()
    value = rotated_secret_value(
        None, new_pem=pem, now=NOW, publish_ahead_seconds=AHEAD, retention_seconds=RETENTION
    )
    assert parse_secret_value(value).signing_key(NOW).kid == kid_of(pem)


def test_refresh_token_secret_survives_rotations(pems: list[str]) -> None:
    value = new_ring_secret_value(NOW, pem=pems[0])
    secret = parse_secret_value(value).refresh_token_secret
    for step, pem in enumerate(pems[1:], start=1):
        value = rotate(value, pem, NOW + step * 100_000)
        assert parse_secret_value(value).refresh_token_secret == secret


# --- legacy values ----------------------------------------------------------------------------


def test_legacy_pem_is_a_ring_of_one_key_active_since_zero_with_a_derived_refresh_secret(
    pems: list[str],
) -> None:
    keys = parse_secret_value(pems[0])
    assert keys.legacy and [(k.kid, k.not_before) for k in keys.ring] == [(kid_of(pems[0]), 0)]
    label = b"accounts/refresh-token-secret/v1"
    expected = hmac.new(label, pems[0].encode().strip(), hashlib.sha256).digest()
    assert keys.refresh_token_secret == expected == legacy_refresh_token_secret(pems[0])
    assert parse_secret_value(pems[0] + "\n").refresh_token_secret == expected


def test_rotating_a_legacy_pair_keeps_both_old_keys_and_the_refresh_secret(pems: list[str]) -> None:
    legacy = SigningKeys.from_pems(pems[1], pems[0])
    token = issue(legacy, NOW)
    assert signed_kid(token) == kid_of(pems[1])
    value = rotated_secret_value(
        legacy, new_pem=pems[2], now=NOW, publish_ahead_seconds=AHEAD, retention_seconds=RETENTION
    )
    ring = parse_secret_value(value)
    assert not ring.legacy and ring.refresh_token_secret == legacy.refresh_token_secret
    assert [key.kid for key in ring.ring] == [kid_of(p) for p in pems[:3]]
    assert ring.signing_key(NOW).kid == kid_of(pems[1])
    assert verify(token, ring, NOW + 10)["sub"] == "user-1"
    # The v1 previous key counts as retired at the conversion and goes one retention later.
    later = rotate(value, pems[3], NOW + AHEAD + RETENTION)
    assert kid_of(pems[0]) not in parse_secret_value(later).public_keys


# --- the container's cache (get_signing_keys) -------------------------------------------------


class FakeSettings:
    signing_key_secret_id = SECRET
    signing_key_cache_seconds = CACHE


@pytest.fixture
def secretsmanager(mocked_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(accounts.settings, "get_settings", lambda: FakeSettings())
    jwt_keys.get_signing_keys.cache_clear()
    yield boto3.client("secretsmanager")
    jwt_keys.get_signing_keys.cache_clear()


def test_a_warm_container_sees_a_rotation_within_the_cache_period_and_signs_only_published_keys(
    secretsmanager: Any, pems: list[str]
) -> None:
    first = new_ring_secret_value(NOW, pem=pems[0])
    secretsmanager.create_secret(Name=SECRET, SecretString=first)
    old, new = kid_of(pems[0]), kid_of(pems[1])
    with time_machine.travel(NOW + 10, tick=False) as traveller:
        warm = jwt_keys.get_signing_keys()
        assert list(warm.public_keys) == [old]
        secretsmanager.put_secret_value(SecretId=SECRET, SecretString=rotate(first, pems[1], clock.now()))
        rotated_at = clock.now()
        published = {old, new}  # what the secret publishes from the rotation on

        for _ in range(CACHE - 1):  # the warm container still has the old ring ...
            traveller.shift(1)
            keys = jwt_keys.get_signing_keys()
            assert keys is warm
            assert signed_kid(issue(keys, clock.now())) in published
        traveller.shift(1)  # ... and re-reads it once the cache period is over
        keys = jwt_keys.get_signing_keys()
        assert clock.now() - rotated_at == CACHE and list(keys.public_keys) == [old, new]
        assert signed_kid(issue(keys, clock.now())) == old  # published, but not signing yet

        traveller.move_to(rotated_at + AHEAD)
        keys = jwt_keys.get_signing_keys()
        assert signed_kid(issue(keys, clock.now())) == new
        assert list(keys.public_keys) == [new, old]


def test_a_failed_re_read_keeps_the_old_keys_logs_and_retries_after_a_pause(
    secretsmanager: Any, pems: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from accounts.observability import logger

    warnings: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(logger, "warning", lambda message, **kwargs: warnings.append((message, kwargs)))
    secretsmanager.create_secret(Name=SECRET, SecretString=new_ring_secret_value(NOW, pem=pems[0]))
    calls: list[str] = []
    real_load = jwt_keys.load_signing_keys

    def throttled(secret_id: str) -> SigningKeys:
        calls.append(secret_id)
        if len(calls) > 1:
            raise jwt_keys.SigningKeyError("throttled (simulated)")
        return real_load(secret_id)

    monkeypatch.setattr(jwt_keys, "load_signing_keys", throttled)
    with time_machine.travel(NOW, tick=False) as traveller:
        keys = jwt_keys.get_signing_keys()
        traveller.shift(CACHE)
        assert jwt_keys.get_signing_keys() is keys and len(calls) == 2
        assert warnings and "PRIVATE" not in repr(warnings)
        traveller.shift(jwt_keys.REFRESH_RETRY_SECONDS - 1)
        assert jwt_keys.get_signing_keys() is keys and len(calls) == 2  # no retry during the pause
        traveller.shift(1)
        assert jwt_keys.get_signing_keys() is keys and len(calls) == 3


def test_a_cold_container_fails_when_the_secret_has_no_usable_key(secretsmanager: Any) -> None:
    secretsmanager.create_secret(Name=SECRET, SecretString="placeholder-before-first-rotation")
    with pytest.raises(SigningKeyError, match="AWSCURRENT"):
        jwt_keys.get_signing_keys()


def test_cache_clear_forgets_the_keys(secretsmanager: Any, pems: list[str]) -> None:
    secretsmanager.create_secret(Name=SECRET, SecretString=new_ring_secret_value(NOW, pem=pems[0]))
    with time_machine.travel(NOW, tick=False):
        keys = jwt_keys.get_signing_keys()
        assert jwt_keys.get_signing_keys() is keys
        secretsmanager.put_secret_value(SecretId=SECRET, SecretString=new_ring_secret_value(NOW, pem=pems[1]))
        jwt_keys.get_signing_keys.cache_clear()
        assert jwt_keys.get_signing_keys().kid == kid_of(pems[1])


def test_key_ring_is_what_jwt_keys_exports() -> None:
    assert jwt_keys.SigningKeys is key_ring.SigningKeys
    assert jwt_keys.SigningKeyError is key_ring.SigningKeyError


def test_a_broken_ring_in_awscurrent_fails_with_signing_key_error(secretsmanager: Any) -> None:
    secretsmanager.create_secret(Name=SECRET, SecretString=json.dumps({"v": 2, "keys": [{"pem": "x"}]}))
    with pytest.raises(SigningKeyError, match="AWSCURRENT") as caught:
        jwt_keys.load_signing_keys(SECRET)
    assert "key 0 of the ring" in str(caught.value)


def test_a_ring_without_refresh_secret_derives_a_stable_one_that_rotation_writes_down(
    pems: list[str],
) -> None:
    document = json.loads(new_ring_secret_value(NOW, pem=pems[0]))
    del document["refresh_token_secret"]
    keys = parse_secret_value(json.dumps(document))
    assert keys.refresh_token_secret == legacy_refresh_token_secret(pems[0])
    assert parse_secret_value(rotate(json.dumps(document), pems[1], NOW)).refresh_token_secret == (
        keys.refresh_token_secret
    )
