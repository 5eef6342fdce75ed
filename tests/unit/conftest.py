"""Unit tests that touch an AWS API get plain moto, with fake credentials and no endpoint override."""

from __future__ import annotations

import pytest

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    from moto import mock_aws

    for variable, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def services(table: str):
    """The flows' collaborators: the real repository on moto (the `table` fixture), a FakeQueue
    and a Clock (tests.fakes.make_services). For the flow tests (test_*_flow.py)."""
    from tests.fakes import make_services

    return make_services()


@pytest.fixture
def mailer():
    """A FakeMailer that records every email the worker's flow functions send."""
    from tests.fakes import FakeMailer

    return FakeMailer()
