"""Secrets Manager rotation function for the RSA signing key of access tokens.

Secrets Manager calls it four times per rotation, with the same ClientRequestToken (the id of the
new version, already staged AWSPENDING by Secrets Manager):

- createSecret: put a fresh RSA private key (PKCS8 PEM) as the AWSPENDING version, unless that
  version already has a value (a retried step must not replace a key).
- setSecret: nothing to do; the key exists only in this secret, no other system holds a copy.
- testSecret: load the pending key and sign and verify an access token with it.
- finishSecret: move AWSCURRENT to the new version; Secrets Manager stages the old one AWSPREVIOUS,
  which the key set keeps publishing, so tokens signed before the rotation still verify.

Key material is never logged: only the step, the secret's ARN and version ids.
"""

from __future__ import annotations

from typing import Any

from accounts import clock
from accounts.jwt_keys import (
    SigningKeys,
    generate_private_key_pem,
    issue_access_token,
    verify_access_token,
)

try:
    from accounts.observability import logger
except ImportError:  # pragma: no cover - observability is part of the layer
    import logging

    logger = logging.getLogger("accounts.rotate_signing_key")

CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"
TEST_ISSUER = TEST_AUDIENCE = "urn:accounts:signing-key-rotation-test"


class RotationError(ValueError):
    """The rotation request cannot be carried out (rotation disabled, unknown version, bad key)."""


def _client() -> Any:
    import boto3

    return boto3.client("secretsmanager")


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def lambda_handler(event: dict[str, Any], context: Any) -> None:
    secret_id = event["SecretId"]
    token = event["ClientRequestToken"]
    step = event["Step"]
    client = _client()

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


def create_secret(client: Any, secret_id: str, token: str, versions: dict[str, list[str]]) -> None:
    client.get_secret_value(
        SecretId=secret_id, VersionStage=CURRENT
    )  # the secret must exist and have a current value
    try:
        client.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage=PENDING)
    except Exception as error:
        if _error_code(error) != "ResourceNotFoundException":
            raise
    else:
        logger.info("pending signing key already exists", extra={"version_id": token})
        return
    client.put_secret_value(
        SecretId=secret_id,
        ClientRequestToken=token,
        SecretString=generate_private_key_pem(),
        VersionStages=[PENDING],
    )
    logger.info("created pending signing key", extra={"version_id": token})


def set_secret(client: Any, secret_id: str, token: str, versions: dict[str, list[str]]) -> None:
    logger.info("nothing to set: the signing key lives only in the secret", extra={"version_id": token})


def test_secret(client: Any, secret_id: str, token: str, versions: dict[str, list[str]]) -> None:
    response = client.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage=PENDING)
    pem = response.get("SecretString") or response.get("SecretBinary")
    try:
        keys = SigningKeys.from_pems(pem)
    except Exception as error:  # never include the value
        raise RotationError(f"the pending signing key is unusable: {error}") from None
    now = clock.now()
    access_token = issue_access_token(
        keys,
        user_id="rotation-test",
        email="rotation-test@invalid",
        email_verified=False,
        issuer=TEST_ISSUER,
        audience=TEST_AUDIENCE,
        ttl_seconds=60,
        now=now,
    )
    verify_access_token(access_token, keys, issuer=TEST_ISSUER, audience=TEST_AUDIENCE, now=now)
    logger.info("pending signing key signs and verifies", extra={"version_id": token, "kid": keys.kid})


def finish_secret(client: Any, secret_id: str, token: str, versions: dict[str, list[str]]) -> None:
    current_version = next((version for version, stages in versions.items() if CURRENT in stages), None)
    if current_version == token:  # pragma: no cover - caught by the handler's early return
        return
    arguments = {"SecretId": secret_id, "VersionStage": CURRENT, "MoveToVersionId": token}
    if current_version is not None:
        arguments["RemoveFromVersionId"] = current_version
    client.update_secret_version_stage(**arguments)
    logger.info("signing key rotated", extra={"version_id": token, "previous_version_id": current_version})
