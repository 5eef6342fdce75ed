"""The Secrets Manager rotation function of the signing key, against moto."""

from __future__ import annotations

import time
import uuid
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.secretsmanager.models import secretsmanager_backends

import rotate_signing_key
from accounts.jwt_keys import SigningKeys, issue_access_token, jwks, load_signing_keys, verify_access_token

REGION = "eu-west-1"
SECRET = "accounts/signing-key"
PLACEHOLDER = "placeholder-from-GenerateSecretString-0123456789"
ISSUER, AUDIENCE = "https://accounts.example.com", "accounts-api"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


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
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name=REGION)
        sm.create_secret(Name=SECRET, SecretString=PLACEHOLDER)
        yield sm


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
    rotate_signing_key.lambda_handler({"SecretId": SECRET, "ClientRequestToken": token, "Step": step}, None)


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


def test_first_rotation_replaces_placeholder_and_keys_ignore_it_as_previous(
    client: Any, log: RecordingLogger
) -> None:
    placeholder_version = next(iter(stages(client)))
    token = rotate()

    assert "AWSCURRENT" in stages(client)[token]
    assert "AWSPREVIOUS" in stages(client)[placeholder_version]
    assert value(client, "AWSCURRENT").startswith("-----BEGIN PRIVATE KEY-----")
    assert value(client, "AWSPREVIOUS") == PLACEHOLDER

    keys = load_signing_keys(SECRET, client=client)
    assert keys.kid == SigningKeys.from_pems(value(client, "AWSCURRENT")).kid
    assert list(keys.public_keys) == [keys.kid]  # the placeholder previous is ignored
    assert len(jwks(keys)["keys"]) == 1


def test_second_rotation_publishes_both_keys_and_old_tokens_still_verify(
    client: Any, log: RecordingLogger
) -> None:
    rotate()
    before = load_signing_keys(SECRET, client=client)
    now = int(time.time())
    token = issue_access_token(
        before,
        user_id="user-1",
        email="a@example.com",
        email_verified=True,
        issuer=ISSUER,
        audience=AUDIENCE,
        ttl_seconds=900,
        now=now,
    )

    rotate()
    after = load_signing_keys(SECRET, client=client)

    assert after.kid != before.kid
    assert [jwk["kid"] for jwk in jwks(after)["keys"]] == [after.kid, before.kid]
    assert verify_access_token(token, after, issuer=ISSUER, audience=AUDIENCE, now=now)["sub"] == "user-1"


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


def test_key_material_is_never_logged(client: Any, log: RecordingLogger) -> None:
    rotate()
    rotate()
    assert log.records, "the steps log what they do"
    pems = [value(client, "AWSCURRENT"), value(client, "AWSPREVIOUS")]
    for record in log.records:
        assert "PRIVATE KEY" not in record
        assert all(pem.splitlines()[1] not in record for pem in pems)
