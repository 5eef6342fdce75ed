"""Fixtures shared by every test folder."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
def mocked_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's in-memory AWS with fake credentials and no endpoint override; the layer's cached
    clients and connection are rebuilt for it, and again afterwards."""
    from moto import mock_aws

    from accounts import aws, models

    for variable, value in AWS_TEST_ENVIRONMENT.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    aws.reset()
    models.forget_binding()
    with mock_aws():
        yield
    aws.reset()
    models.forget_binding()


@pytest.fixture
def table(mocked_aws: None) -> str:
    """The service's table (tests.fakes.TABLE) on moto, for flow unit tests."""
    from local.moto_support import serialize_dynamodb
    from tests.fakes import TABLE

    serialize_dynamodb()
    create_table(TABLE)
    return TABLE


def in_parallel(count: int, call: Callable[[], Any]) -> list[Any]:
    """Run `call` in `count` threads released at once (parallel Lambdas); each thread's result, or
    the exception it raised, in no particular order."""
    barrier, results, lock = threading.Barrier(count), [], threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            result = call()
        except BaseException as error:  # noqa: BLE001 - the test inspects it
            result = error
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
