"""The local server's workers and process, on the fake application: the email queue drainer, the
scheduled function, stopping and the banner."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.fake_app import FAKE_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.e2e


# ---------------------------------------------------------------------------- email queue


def _enqueue(base_url: str, job: dict[str, Any]) -> None:
    assert requests.post(f"{base_url}/enqueue", json=job, timeout=10).status_code == 202


def test_queued_email_appears_within_a_second(fake_app: str) -> None:
    address = f"fast-{time.time_ns()}@fake.example"
    started = time.monotonic()
    _enqueue(fake_app, {"id": "fast", "to": address, "subject": "Quick one"})
    while True:
        emails = requests.get(f"{fake_app}/_local/emails", params={"to": address.upper()}, timeout=10).json()
        if emails or time.monotonic() - started > 5:
            break
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    assert emails, "the email never arrived"
    assert elapsed < 1.0, f"the email took {elapsed:.2f} s"
    (message,) = emails
    assert message["to"] == [address] and message["subject"] == "Quick one"
    assert "https://app.example/verify-email?token=fast" in message["text"]
    assert message["html"].startswith("<p>html fast")
    assert message["sent_at"].endswith("Z")


def test_sqs_event_looks_like_lambdas(fake_app: str) -> None:
    _enqueue(fake_app, {"id": f"shape-{time.time_ns()}", "to": "shape@fake.example", "subject": "Shape"})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        records = requests.get(f"{fake_app}/queues", timeout=10).json()["records"]
        if records and json.loads(records[-1]["body"])["subject"] == "Shape":
            break
        time.sleep(0.05)
    record = records[-1]
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"].startswith("arn:aws:sqs:us-east-1:")
    assert record["messageId"] and record["receiptHandle"] and len(record["md5OfBody"]) == 32
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["attributes"]["SentTimestamp"].isdigit()
    assert record["messageAttributes"]["kind"]["stringValue"] == "test"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"


def test_email_filter_and_clear(fake_app: str) -> None:
    one, two = f"one-{time.time_ns()}@fake.example", f"two-{time.time_ns()}@fake.example"
    _enqueue(fake_app, {"id": "a", "to": one, "subject": "First"})
    _enqueue(fake_app, {"id": "b", "to": two, "subject": "Second"})
    _enqueue(fake_app, {"id": "c", "to": one, "subject": "Third"})
    deadline = time.monotonic() + 5
    while len(requests.get(f"{fake_app}/_local/emails", params={"to": one}, timeout=10).json()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    subjects = [
        e["subject"] for e in requests.get(f"{fake_app}/_local/emails", params={"to": one}, timeout=10).json()
    ]
    assert subjects == ["First", "Third"]  # newest last
    assert requests.delete(f"{fake_app}/_local/emails", timeout=10).status_code == 204
    assert requests.get(f"{fake_app}/_local/emails", timeout=10).json() == []


def test_failed_jobs_are_retried_then_dead_lettered(fake_app: str) -> None:
    job_id = f"doomed-{time.time_ns()}"
    before = requests.get(f"{fake_app}/queues", timeout=10).json()["dead_letters"]
    _enqueue(fake_app, {"id": job_id, "to": "doomed@fake.example", "subject": "Never", "fail": True})
    deadline = time.monotonic() + 20
    while True:
        state = requests.get(f"{fake_app}/queues", timeout=10).json()
        if state["dead_letters"] > before:
            break
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert state["attempts"][job_id] == 2  # maxReceiveCount of the fake template's redrive policy
    assert not requests.get(
        f"{fake_app}/_local/emails", params={"to": "doomed@fake.example"}, timeout=10
    ).json()


def test_local_cleanup_invokes_the_scheduled_function(fake_app: str) -> None:
    response = requests.post(f"{fake_app}/_local/cleanup", timeout=10)
    assert response.status_code == 200
    assert response.json() == {
        "ran": True,
        "source": "aws.events",
        "detail_type": "Scheduled Event",
        "function": "accounts-local-JanitorFunction",
    }


# ---------------------------------------------------------------------------- process


def test_server_stops_cleanly_on_sigterm(fake_template: Path, local_server_process: Any) -> None:
    server = local_server_process(FAKE_ENV, fake_template)
    server.start()
    try:
        assert server.process is not None
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=15) == 0
        assert time.monotonic() - started < 10
        assert "Stopped." in server.output()
    finally:
        server.stop()
        server.log_path.unlink(missing_ok=True)


def test_banner_lists_url_routes_and_emails(fake_template: Path, local_server_process: Any) -> None:
    server = local_server_process(FAKE_ENV, fake_template)
    server.start()
    try:
        output = server.output()
        assert server.base_url in output
        assert "/things/{id}" in output and "$default" in output
        assert f"{server.base_url}/_local/emails" in output
    finally:
        server.stop()
        server.log_path.unlink(missing_ok=True)


def test_help_runs_without_starting_anything() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local.server", "--help"],
        check=False,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "--template" in result.stdout
