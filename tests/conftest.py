"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AWS_TEST_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def create_table(name: str) -> None:
    """The table exactly as template.yaml defines it (keys, index, TTL), on whatever endpoint
    boto3 reaches (moto's in-process mock, or a moto server)."""
    import boto3

    from local.template import Template

    definition = Template(ROOT / "template.yaml").table_definition
    ttl = definition.pop("TimeToLiveSpecification", None)
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(TableName=name, **definition)
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's in-memory AWS with the service's table (tests.fakes.TABLE), for flow unit tests."""
    from moto import mock_aws

    from accounts import aws, models
    from local.moto_support import serialize_dynamodb
    from tests.fakes import TABLE

    for variable, value in AWS_TEST_ENVIRONMENT.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    serialize_dynamodb()
    with mock_aws():
        aws.reset()
        models.forget_binding()
        create_table(TABLE)
        yield TABLE
    aws.reset()
    models.forget_binding()
