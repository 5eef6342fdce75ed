"""Unit tests that touch an AWS API get plain moto (tests/conftest.py), with fake credentials."""

from __future__ import annotations

import pytest


@pytest.fixture
def aws(mocked_aws: None) -> None:
    """moto's in-memory AWS (tests/conftest.py)."""


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
