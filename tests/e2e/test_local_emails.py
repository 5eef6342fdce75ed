"""GET /_local/emails?to=<address>&wait=<seconds> (spec section 5, v2): waits up to that long (at most
30 s) for at least one matching email, so scripts need no sleeps; the server keeps answering, and
the queue keeps being delivered, while a request waits."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

pytestmark = pytest.mark.e2e

PASSWORD = "Correct-Horse-Battery-9"


def address(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}@example.com"


def register(base_url: str, email: str) -> None:
    response = requests.post(
        f"{base_url}/v1/auth/register", json={"email": email, "password": PASSWORD}, timeout=10
    )
    assert response.status_code == 202, response.text


def emails(base_url: str, **params: str) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.get(f"{base_url}/_local/emails", params=params, timeout=40)
    return response, time.monotonic() - started


def test_wait_answers_as_soon_as_the_email_is_there(local_server: str) -> None:
    email = address("wait")
    register(local_server, email)  # the email is queued; the drainer delivers it within a second
    response, elapsed = emails(local_server, to=email, wait="10")
    assert response.status_code == 200
    [message] = response.json()
    assert email in message["to"] and "/verify-email?token=" in message["text"]
    assert elapsed < 5


def test_wait_gives_up_after_the_time_with_an_empty_list(local_server: str) -> None:
    response, elapsed = emails(local_server, to=address("nobody"), wait="0.5")
    assert response.status_code == 200 and response.json() == []
    assert 0.5 <= elapsed < 5


def test_without_wait_the_answer_is_immediate(local_server: str) -> None:
    response, elapsed = emails(local_server, to=address("nobody"))
    assert response.status_code == 200 and response.json() == []
    assert elapsed < 2


@pytest.mark.parametrize("wait", ["-1", "30.5", "31", "abc", "", "nan", "inf", "1e400"])
def test_bad_wait_values_are_a_400_problem(local_server: str, wait: str) -> None:
    response, elapsed = emails(local_server, to=address("bad"), wait=wait)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "malformed_request"
    assert "wait" in response.json()["detail"]
    assert elapsed < 2


def test_the_server_and_the_queue_keep_working_while_a_request_waits(local_server: str) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(emails, local_server, to=address("patient"), wait="4")
        time.sleep(0.3)  # the waiting request is in
        started = time.monotonic()
        assert requests.get(f"{local_server}/_local/routes", timeout=10).status_code == 200
        email = address("meanwhile")
        register(local_server, email)
        response, _ = emails(local_server, to=email, wait="10")
        assert len(response.json()) == 1
        assert time.monotonic() - started < 3.5  # all done before the first request stopped waiting
        assert not waiting.done()
        response, elapsed = waiting.result(timeout=20)
    assert response.status_code == 200 and response.json() == []
    assert elapsed >= 4
