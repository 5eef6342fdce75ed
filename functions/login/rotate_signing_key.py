"""Secrets Manager rotation function for the key ring that signs access tokens.

Secrets Manager calls it four times per rotation, with the same ClientRequestToken (the id of the
new version, already staged AWSPENDING by Secrets Manager):

- createSecret: write the AWSPENDING version (unless it already has a value: a retried step must
  not replace a key): the current ring without the keys no longer needed, plus a new RSA-2048 key
  that starts signing SIGNING_KEY_PUBLISH_AHEAD_SECONDS from now, so every key set cached by
  API Gateway lists it before any token carries its kid. The refresh-token secret is carried
  forward unchanged. If the current value holds no key at all (the template's placeholder before
  the first rotation), the new key signs at once: nothing can have cached a key set yet.
- setSecret: nothing to do; the keys exist only in this secret, no other system holds a copy.
- testSecret: load the pending ring with OpenSSL's full RSA checks (functions skip them when they
  load keys), sign and verify an access token with every key, and check that the refresh secret
  and the key that signs now were carried over.
- finishSecret: move AWSCURRENT to the new version.

Settings come from the environment alone (ACCESS_TOKEN_TTL_SECONDS, SIGNING_KEY_PUBLISH_AHEAD_SECONDS,
SIGNING_KEY_CACHE_SECONDS, with the service's defaults), not from the whole Settings model: a rotation
must not fail because a variable it does not use is missing.

Key material is never logged: only the step, the secret's ARN, version ids and key ids.
"""

from __future__ import annotations

import os
from typing import Any

from accounts import aws, clock, key_ring
from accounts.jwt_keys import (
    LEEWAY_SECONDS,
    SCOPE,
    SigningKeyError,
    SigningKeys,
    generate_private_key_pem,
    issue_access_token,
    verify_access_token,
)
from accounts.observability import ROTATION_REQUEST_ID, instrumented, logger

CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"
TEST_ISSUER = TEST_AUDIENCE = "urn:accounts:signing-key-rotation-test"
DEFAULTS = {
    "ACCESS_TOKEN_TTL_SECONDS": 900,
    "SIGNING_KEY_PUBLISH_AHEAD_SECONDS": 7200,
    "SIGNING_KEY_CACHE_SECONDS": 300,
}


class RotationError(ValueError):
    """The rotation request cannot be carried out (rotation disabled, unknown version, bad key)."""


def _setting(name: str) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return DEFAULTS[name]
    try:
        value = int(raw)
    except ValueError:
        raise RotationError(f"{name} must be a whole number of seconds") from None
    if value < 0:
        raise RotationError(f"{name} must not be negative")
    return value


def retention_seconds() -> int:
    """How long a key stays published after it stopped signing: the last token it signed lives
    ACCESS_TOKEN_TTL_SECONDS (plus verification leeway), and a container whose re-read failed may
    have gone on signing with it for about one SIGNING_KEY_CACHE_SECONDS."""
    return (
        _setting("ACCESS_TOKEN_TTL_SECONDS") + _setting("SIGNING_KEY_CACHE_SECONDS") + LEEWAY_SECONDS
    )


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


@instrumented(correlation_id_path=ROTATION_REQUEST_ID)
def lambda_handler(event: dict[str, Any], context: Any) -> None:
    secret_id = event["SecretId"]
    token = event["ClientRequestToken"]
    step = event["Step"]
    client = aws.client("secretsmanager")

    metadata = client.describe_secret(SecretId=secret_id)
    if not metadata.get("RotationEnabled"):
        raise RotationError("rotation is not enabled for this secret")
    versions: dict[str, list[str]] = metadata.get("VersionIdsToStages", {})
    if token not in versions:
        raise RotationError("the version to rotate to is not a version of this secret")
    if CURRENT in versions[token]:
        logger.info("signing key version is already current", extra={"step": step, "version_id": token})
        return
    if PENDING not in versions[token]:
        raise RotationError("the version to rotate to is not staged AWSPENDING")

    steps = {
        "createSecret": create_secret,
        "setSecret": set_secret,
        "testSecret": test_secret,
        "finishSecret": finish_secret,
    }
    if step not in steps:
        raise RotationError(f"unknown rotation step {step!r}")
    logger.info(
        "rotating signing key", extra={"step": step, "secret_arn": metadata.get("ARN"), "version_id": token}
    )
    steps[step](client, secret_id, token, versions)


def _current_keys(client: Any, secret_id: str) -> SigningKeys | None:
    """AWSCURRENT's keys; None for the placeholder; RotationError for a ring or key that is broken
    (replacing it would drop keys that signed live tokens and the refresh secret: a person decides)."""
    try:
        return key_ring.read_current(secret_id, client)
    except SigningKeyError as error:
        raise RotationError(str(error)) from None


def create_secret(client: Any, secret_id: str, token: str, versions: dict[str, list[str]]) -> None:
    current = _current_keys(client, secret_id)
    try:
        client.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage=PENDING)
    except Exception as error:
        if _error_code(error) != "ResourceNotFoundException":
            raise
    else:
        logger.info("pending signing key already exists", extra={"version_id": token})
        return
    now = clock.now()
    value = key_ring.rotated_secret_value(
        current,
        new_pem=generate_private_key_pem(),
        now=now,
        publish_ahead_seconds=_setting("SIGNING_KEY_PUBLISH_AHEAD_SECONDS"),
        retention_seconds=retention_seconds(),
    )
    pending = key_ring.parse_secret_value(value)
    if pending is None:  # pragma: no cover - rotated_secret_value always writes a ring
        raise RotationError("the new key ring cannot be read back")
    new_key = pending.ring[-1]
    client.put_secret_value(
        SecretId=secret_id, ClientRequestToken=token, SecretString=value, VersionStages=[PENDING]
    )
    logger.info(
        "created pending signing key",
        extra={
            "version_id": token,
            "new_kid": new_key.kid,
            "signs_from": new_key.not_before,
            "first_key": current is None,
            "published_kids": [key.kid for key in pending.ring],
            "dropped_kids": sorted({k.kid for k in current.ring} - {k.kid for k in pending.ring})
            if current is not None
            else [],
        },
    )


def set_secret(client: Any, secret_id: str, token: str, versions: dict[str, list[str]]) -> None:
    logger.info("nothing to set: the signing keys live only in the secret", extra={"version_id": token})


def test_secret(client: Any, secret_id: str, token: str, versions: dict[str, list[str]]) -> None:
    response = client.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage=PENDING)
    value = response.get("SecretString") or response.get("SecretBinary")
    try:
        pending = key_ring.parse_secret_value(value, validate=True)  # OpenSSL's full RSA checks
    except SigningKeyError as error:  # the message never includes the value
        raise RotationError(f"the pending signing keys are unusable: {error}") from None
    if pending is None or pending.legacy:
        raise RotationError("the pending signing keys are unusable: the value is not a key ring")

    now = clock.now()
    current = _current_keys(client, secret_id)
    if current is not None:
        if pending.refresh_token_secret != current.refresh_token_secret:
            raise RotationError("the pending key ring does not carry the refresh-token secret forward")
        if current.signing_key(now).kid not in pending.public_keys:
            raise RotationError("the pending key ring dropped the key that signs now")

    for key in pending.ring:
        # Each key signs through the same code the functions use, and the token verifies against
        # the ring's published keys, so the kid a key gets is the kid the key set lists.
        access_token = issue_access_token(
            SigningKeys([key], pending.refresh_token_secret),
            user_id="rotation-test",
            email="rotation-test@invalid",
            email_verified=False,
            issuer=TEST_ISSUER,
            audience=TEST_AUDIENCE,
            ttl_seconds=60,
            now=now,
            session_id="rotation-test",
            client_id=TEST_AUDIENCE,
            amr=["pwd"],
            scope=SCOPE,
        )
        verify_access_token(access_token, pending, issuer=TEST_ISSUER, audience=TEST_AUDIENCE, now=now)
    logger.info(
        "pending signing keys sign and verify",
        extra={"version_id": token, "kids": [key.kid for key in pending.ring], "signs_now": pending.kid},
    )


def finish_secret(client: Any, secret_id: str, token: str, versions: dict[str, list[str]]) -> None:
    current_version = next((version for version, stages in versions.items() if CURRENT in stages), None)
    if current_version == token:  # pragma: no cover - caught by the handler's early return
        return
    arguments = {"SecretId": secret_id, "VersionStage": CURRENT, "MoveToVersionId": token}
    if current_version is not None:
        arguments["RemoveFromVersionId"] = current_version
    client.update_secret_version_stage(**arguments)
    logger.info("signing key rotated", extra={"version_id": token, "previous_version_id": current_version})
