"""The Secrets Manager rotation function of the signing-key ring, against moto."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3
import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.secretsmanager.models import secretsmanager_backends

import rotate_signing_key
from accounts import aws, clock
from accounts.jwt_keys import (
    SCOPE,
    SigningKeys,
    generate_private_key_pem,
    issue_access_token,
    jwks,
    load_signing_keys,
    new_ring_secret_value,
    verify_access_token,
)
from accounts.key_ring import legacy_refresh_token_secret
from tests.handlers.conftest import Context

REGION = "eu-west-1"
SECRET = "accounts/signing-key"
PLACEHOLDER = "placeholder-from-GenerateSecretString-0123456789"
ISSUER, AUDIENCE = "https://accounts.example.com", "accounts-api"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
T0 = 1_800_000_000
AHEAD = 7200  # SIGNING_KEY_PUBLISH_AHEAD_SECONDS's default
RETENTION = 900 + 300 + 5  # access-token lifetime + key cache period + verification leeway (defaults)


class RecordingLogger:
    """Stands in for the Powertools logger and keeps every message and extra for inspection."""

    def __init__(self) -> None:
        self.records: list[str] = []

    def _record(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.records.append(f"{message} {args} {kwargs}")

    info = warning = error = debug = exception = _record


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> RecordingLogger:
    recorder = RecordingLogger()
    monkeypatch.setattr(rotate_signing_key, "logger", recorder)
    return recorder


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name in rotate_signing_key.DEFAULTS:  # the defaults, whatever the shell says
        monkeypatch.delenv(name, raising=False)
    aws.reset()  # the function's cached client must be made for this moto and region
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name=REGION)
        sm.create_secret(Name=SECRET, SecretString=PLACEHOLDER)
        yield sm
    aws.reset()


def begin_rotation(token: str, *, enable: bool = True) -> None:
    """What Secrets Manager does before invoking the function: enable rotation and stage an empty
    AWSPENDING version with the request token (moto only does this when it can run the Lambda itself)."""
    secret = secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION].secrets[SECRET]
    secret.rotation_requested = True
    secret.rotation_enabled = enable
    secret.remove_version_stages_from_old_versions(["AWSPENDING"])
    secret.versions[token] = {
        "createdate": int(time.time()),
        "version_id": token,
        "version_stages": ["AWSPENDING"],
    }


def invoke(step: str, token: str) -> None:
    rotate_signing_key.lambda_handler({"SecretId": SECRET, "ClientRequestToken": token, "Step": step}, Context())


def rotate(token: str | None = None) -> str:
    token = token or str(uuid.uuid4())
    begin_rotation(token)
    for step in STEPS:
        invoke(step, token)
    return token


def stages(client: Any) -> dict[str, list[str]]:
    return client.describe_secret(SecretId=SECRET)["VersionIdsToStages"]


def value(client: Any, stage: str) -> str:
    return client.get_secret_value(SecretId=SECRET, VersionStage=stage)["SecretString"]


def issue(keys: SigningKeys, now: int) -> str:
    return issue_access_token(
        keys, user_id="user-1", email="a@example.com", email_verified=True, issuer=ISSUER, audience=AUDIENCE,
        ttl_seconds=900, now=now, session_id="s-1", client_id=AUDIENCE, amr=["pwd"], scope=SCOPE,
    )


def signed_kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def ring(client: Any, stage: str = "AWSCURRENT") -> dict[str, Any]:
    return json.loads(value(client, stage))


def test_first_rotation_replaces_placeholder_with_a_ring_whose_key_signs_at_once(
    client: Any, log: RecordingLogger
) -> None:
    placeholder_version = next(iter(stages(client)))
    with time_machine.travel(T0, tick=False):
        token = rotate()

    assert "AWSCURRENT" in stages(client)[token]
    assert "AWSPREVIOUS" in stages(client)[placeholder_version]
    assert value(client, "AWSPREVIOUS") == PLACEHOLDER
    document = ring(client)
    assert document["v"] == 2 and len(document["keys"]) == 1
    assert document["keys"][0]["not_before"] == document["keys"][0]["created_at"] == T0

    keys = load_signing_keys(SECRET, client=client)
    assert keys.signing_key(T0).kid == keys.ring[0].kid
    assert len(jwks(keys)["keys"]) == 1  # the placeholder previous is ignored
    assert len(keys.refresh_token_secret) == 32


def test_a_rotation_publishes_the_new_key_ahead_and_old_tokens_keep_verifying(
    client: Any, log: RecordingLogger
) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        rotate()
        before = load_signing_keys(SECRET, client=client)
        token = issue(before, clock.now())
        traveller.shift(86400)
        rotated_at = clock.now()
        rotate()
        after = load_signing_keys(SECRET, client=client)

        new_kid = after.ring[-1].kid
        assert new_kid != before.kid and after.ring[-1].not_before == rotated_at + AHEAD
        assert [jwk["kid"] for jwk in jwks(after)["keys"]] == [before.kid, new_kid]
        claims = verify_access_token(token, after, issuer=ISSUER, audience=AUDIENCE, now=T0 + 10)
        assert claims["sub"] == "user-1"
        assert signed_kid(issue(after, clock.now())) == before.kid  # not the new key yet ...
        traveller.shift(AHEAD - 1)
        assert signed_kid(issue(after, clock.now())) == before.kid
        traveller.shift(1)
        assert signed_kid(issue(after, clock.now())) == new_kid  # ... from its not_before on


def test_retired_keys_drop_out_one_token_lifetime_after_retirement(client: Any, log: RecordingLogger) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        rotate()
        first = load_signing_keys(SECRET, client=client).ring[0].kid
        rotate()
        second = load_signing_keys(SECRET, client=client).ring[-1].kid  # signs from T0 + AHEAD
        traveller.move_to(T0 + AHEAD + RETENTION - 1)
        rotate()
        assert first in load_signing_keys(SECRET, client=client).public_keys
        traveller.move_to(T0 + AHEAD + RETENTION)
        rotate()
        kids = list(load_signing_keys(SECRET, client=client).public_keys)
    assert first not in kids and kids[0] == second and len(kids) == 3


def test_refresh_token_secret_survives_rotations(client: Any, log: RecordingLogger) -> None:
    rotate()
    secret = load_signing_keys(SECRET, client=client).refresh_token_secret
    for _ in range(3):
        rotate()
        assert load_signing_keys(SECRET, client=client).refresh_token_secret == secret


def test_a_legacy_pem_pair_is_converted_keeping_both_keys_and_the_derived_refresh_secret(
    client: Any, log: RecordingLogger
) -> None:
    previous_pem, current_pem = generate_private_key_pem(), generate_private_key_pem()
    client.put_secret_value(SecretId=SECRET, SecretString=previous_pem)
    client.put_secret_value(SecretId=SECRET, SecretString=current_pem)  # v1: one PEM per version
    legacy = load_signing_keys(SECRET, client=client)
    assert legacy.legacy and len(legacy.public_keys) == 2
    token = issue(legacy, int(time.time()))

    rotate()
    converted = load_signing_keys(SECRET, client=client)
    assert not converted.legacy
    assert converted.refresh_token_secret == legacy_refresh_token_secret(current_pem)
    assert set(legacy.public_keys) < set(converted.public_keys) and len(converted.public_keys) == 3
    assert converted.kid == legacy.kid
    now = int(time.time())
    assert verify_access_token(token, converted, issuer=ISSUER, audience=AUDIENCE, now=now)["sub"] == "user-1"


def test_publish_ahead_comes_from_the_environment(
    client: Any, log: RecordingLogger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNING_KEY_PUBLISH_AHEAD_SECONDS", "600")
    with time_machine.travel(T0, tick=False):
        rotate()
        rotate()
    assert ring(client)["keys"][-1]["not_before"] == T0 + 600


def test_a_bad_setting_stops_the_rotation_naming_the_variable(
    client: Any, log: RecordingLogger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCESS_TOKEN_TTL_SECONDS", "15m")
    token = str(uuid.uuid4())
    begin_rotation(token)
    with pytest.raises(rotate_signing_key.RotationError, match="ACCESS_TOKEN_TTL_SECONDS"):
        invoke("createSecret", token)


def test_create_secret_refuses_to_replace_a_broken_ring(client: Any, log: RecordingLogger) -> None:
    client.put_secret_value(SecretId=SECRET, SecretString=json.dumps({"v": 2, "keys": [{"pem": "x"}]}))
    token = str(uuid.uuid4())
    begin_rotation(token)
    with pytest.raises(rotate_signing_key.RotationError, match="unusable"):
        invoke("createSecret", token)


def test_create_secret_is_idempotent_for_a_retried_step(client: Any, log: RecordingLogger) -> None:
    token = str(uuid.uuid4())
    begin_rotation(token)
    invoke("createSecret", token)
    pending = client.get_secret_value(SecretId=SECRET, VersionId=token, VersionStage="AWSPENDING")[
        "SecretString"
    ]
    invoke("createSecret", token)
    again = client.get_secret_value(SecretId=SECRET, VersionId=token, VersionStage="AWSPENDING")[
        "SecretString"
    ]
    assert again == pending
    assert value(client, "AWSCURRENT") == PLACEHOLDER  # nothing is current before finishSecret


def test_steps_after_finish_are_no_ops_for_the_current_version(client: Any, log: RecordingLogger) -> None:
    token = rotate()
    current = value(client, "AWSCURRENT")
    for step in STEPS:
        invoke(step, token)
    assert value(client, "AWSCURRENT") == current


def test_refuses_when_rotation_is_not_enabled(client: Any, log: RecordingLogger) -> None:
    token = str(uuid.uuid4())
    begin_rotation(token, enable=False)
    with pytest.raises(rotate_signing_key.RotationError, match="not enabled"):
        invoke("createSecret", token)


def test_refuses_a_token_that_is_not_a_version_of_the_secret(client: Any, log: RecordingLogger) -> None:
    begin_rotation(str(uuid.uuid4()))
    with pytest.raises(rotate_signing_key.RotationError, match="not a version"):
        invoke("createSecret", str(uuid.uuid4()))


def test_refuses_a_version_not_staged_pending(client: Any, log: RecordingLogger) -> None:
    placeholder_version = next(iter(stages(client)))
    token = rotate()
    begin_rotation(str(uuid.uuid4()))  # a new rotation in progress; the placeholder is AWSPREVIOUS
    assert token != placeholder_version
    with pytest.raises(rotate_signing_key.RotationError, match="AWSPENDING"):
        invoke("createSecret", placeholder_version)


def test_refuses_an_unknown_step(client: Any, log: RecordingLogger) -> None:
    token = str(uuid.uuid4())
    begin_rotation(token)
    with pytest.raises(rotate_signing_key.RotationError, match="unknown rotation step"):
        invoke("dropSecret", token)


def test_test_secret_fails_for_an_unusable_pending_value(client: Any, log: RecordingLogger) -> None:
    token = str(uuid.uuid4())
    begin_rotation(token)
    client.put_secret_value(
        SecretId=SECRET, ClientRequestToken=token, SecretString="not a key", VersionStages=["AWSPENDING"]
    )
    with pytest.raises(rotate_signing_key.RotationError, match="unusable"):
        invoke("testSecret", token)
    assert value(client, "AWSCURRENT") == PLACEHOLDER


def _inconsistent_pem() -> str:
    """An RSA key whose CRT parameter is wrong: it loads without validation but signs garbage."""
    numbers = serialization.load_pem_private_key(generate_private_key_pem().encode(), None).private_numbers()
    key = rsa.RSAPrivateNumbers(
        numbers.p, numbers.q, numbers.d, numbers.dmp1 + 2, numbers.dmq1, numbers.iqmp, numbers.public_numbers
    ).private_key(unsafe_skip_rsa_key_validation=True)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_test_secret_validates_every_key_of_the_pending_ring(client: Any, log: RecordingLogger) -> None:
    token = str(uuid.uuid4())
    begin_rotation(token)
    good = json.loads(new_ring_secret_value(int(time.time())))
    broken_key = {"pem": _inconsistent_pem(), "not_before": 2**40, "created_at": 0}
    bad = {**good, "keys": [*good["keys"], broken_key]}
    client.put_secret_value(
        SecretId=SECRET, ClientRequestToken=token, SecretString=json.dumps(bad), VersionStages=["AWSPENDING"]
    )
    with pytest.raises(rotate_signing_key.RotationError, match="unusable"):
        invoke("testSecret", token)


def test_test_secret_refuses_a_ring_that_loses_the_refresh_secret(client: Any, log: RecordingLogger) -> None:
    rotate()
    current = ring(client)
    token = str(uuid.uuid4())
    begin_rotation(token)
    other = json.loads(new_ring_secret_value(int(time.time())))
    tampered = {**current, "refresh_token_secret": other["refresh_token_secret"]}
    client.put_secret_value(
        SecretId=SECRET,
        ClientRequestToken=token,
        SecretString=json.dumps(tampered),
        VersionStages=["AWSPENDING"],
    )
    with pytest.raises(rotate_signing_key.RotationError, match="refresh-token secret"):
        invoke("testSecret", token)


def test_key_material_is_never_logged(client: Any, log: RecordingLogger) -> None:
    rotate()
    rotate()
    assert log.records, "the steps log what they do"
    pems = [key["pem"] for key in ring(client)["keys"]]
    secret = ring(client)["refresh_token_secret"]
    for record in log.records:
        assert "PRIVATE KEY" not in record and secret not in record
        assert all(pem.splitlines()[1] not in record for pem in pems)
