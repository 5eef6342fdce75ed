"""GET /_local/metrics (issue 8, optional): local mode shows the metrics the handlers emit, so a
developer sees what the operations dashboard would show."""

from __future__ import annotations

import uuid

import pytest
import requests

pytestmark = pytest.mark.e2e

PASSWORD = "Correct-Horse-Battery-9"


def totals(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = requests.get(f"{base_url}/_local/metrics", timeout=10)
    assert response.status_code == 200
    return {(item["metric"], tuple(sorted(item["dimensions"].items()))): item["sum"] for item in response.json()}


def test_a_registration_and_its_email_show_as_metrics(local_server: str) -> None:
    service = (("service", "accounts"),)
    before = totals(local_server)
    email = f"metrics-{uuid.uuid4().hex[:12]}@example.com"
    response = requests.post(f"{local_server}/v1/auth/register", json={"email": email, "password": PASSWORD},
                             timeout=10)
    assert response.status_code == 202
    assert requests.get(f"{local_server}/_local/emails", params={"to": email, "wait": "10"}, timeout=20).json()
    after = totals(local_server)
    assert after[("Registrations", service)] == before.get(("Registrations", service), 0) + 1
    assert after[("EmailsSent", service)] >= before.get(("EmailsSent", service), 0) + 1
    cold = [key for key in after if key[0] == "ColdStart"]
    assert cold and all(dict(key[1]).keys() == {"function_name", "service"} for key in cold)

    assert requests.delete(f"{local_server}/_local/metrics", timeout=10).status_code == 204
    assert totals(local_server) == {}
