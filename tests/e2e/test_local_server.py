"""Tests of the local server running the repository's template.yaml with the real handlers: the
routes served, 404s, CORS, the authorizer, the local-only routes. The fake application's tests
(events field by field, workers, process) are in test_local_gateway.py and test_local_workers.py."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from local.template import load
from tests.e2e.helpers import assert_problem

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
ALLOWED = "https://allowed.example"


# ============================================================================ the real template


def test_served_routes_are_the_templates_routes(local_server: str) -> None:
    served = requests.get(f"{local_server}/_local/routes", timeout=10).json()
    declared = [route.as_dict() for route in load(REPO_ROOT / "template.yaml").routes]
    assert served == declared
    keys = {route["route_key"] for route in served}
    assert "GET /v1/auth/me" in keys and "POST /v1/auth/register" in keys


def test_undeclared_route_is_a_404_problem(local_server: str) -> None:
    assert_problem(requests.get(f"{local_server}/v1/auth/nope", timeout=10), 404, "not_found")
    # A declared path with an undeclared method is not that route either.
    response = requests.delete(f"{local_server}/v1/auth/login", timeout=10)
    assert response.status_code in (404, 405)
    assert response.headers["Content-Type"].startswith("application/problem+json")


def test_preflight_for_an_allowed_origin(local_server: str) -> None:
    response = requests.options(
        f"{local_server}/v1/auth/login",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=10,
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "content-type" in response.headers["Access-Control-Allow-Headers"].lower()
    assert int(response.headers["Access-Control-Max-Age"]) > 0


def test_preflight_for_another_origin_gets_no_cors_headers(local_server: str) -> None:
    response = requests.options(
        f"{local_server}/v1/auth/login",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert response.status_code == 204
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


def test_only_allowed_origins_receive_allow_origin(local_server: str) -> None:
    allowed = requests.get(
        f"{local_server}/.well-known/jwks.json", headers={"Origin": "http://localhost:5173"}, timeout=10
    )
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    other = requests.get(
        f"{local_server}/.well-known/jwks.json", headers={"Origin": "https://evil.example"}, timeout=10
    )
    assert "Access-Control-Allow-Origin" not in other.headers


def test_me_without_a_token_is_refused_by_the_authorizer(local_server: str) -> None:
    response = requests.get(f"{local_server}/v1/auth/me", timeout=10)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer ", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"],
)
def test_me_with_a_bad_token_is_refused(local_server: str, authorization: str) -> None:
    response = requests.get(
        f"{local_server}/v1/auth/me", headers={"Authorization": authorization}, timeout=10
    )
    assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_local_emails_is_a_list(local_server: str) -> None:
    response = requests.get(f"{local_server}/_local/emails", timeout=10)
    assert response.status_code == 200
    assert isinstance(response.json(), list)
    assert isinstance(
        requests.get(f"{local_server}/_local/emails", params={"to": "nobody@example.com"}, timeout=10).json(),
        list,
    )


def test_table_is_created_from_the_template(local_server: str) -> None:
    table = requests.get(f"{local_server}/_local/info", timeout=10).json()["table"]
    definition = load(REPO_ROOT / "template.yaml").table_definition
    assert definition is not None and table is not None
    assert table["key_schema"] == definition["KeySchema"]
    assert sorted(table["attribute_definitions"], key=str) == sorted(
        definition["AttributeDefinitions"], key=str
    )
    assert [i["IndexName"] for i in table["global_secondary_indexes"]] == [
        i["IndexName"] for i in definition.get("GlobalSecondaryIndexes", [])
    ]
    for created, declared in zip(
        table["global_secondary_indexes"], definition.get("GlobalSecondaryIndexes", []), strict=True
    ):
        assert created["KeySchema"] == declared["KeySchema"]
    ttl = definition.get("TimeToLiveSpecification")
    if ttl:
        assert table["ttl"] == {"attribute": ttl["AttributeName"], "status": "ENABLED"}


def test_discovery_names_the_local_issuer(local_server: str) -> None:
    document = requests.get(f"{local_server}/.well-known/openid-configuration", timeout=10).json()
    assert document["issuer"] == local_server
    assert document["jwks_uri"] == f"{local_server}/.well-known/jwks.json"


def test_register_verify_login_me(local_server: str, mailbox: Any) -> None:
    """The whole path through the real handlers: email from the queue worker, authorizer, claims."""
    address = f"e2e-local-{time.time_ns()}@example.com"
    password = "Tr0ub4dor&3-horse-staple"
    started = time.monotonic()
    response = requests.post(
        f"{local_server}/v1/auth/register",
        json={"email": address, "password": password, "name": "Local"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    token = mailbox.token(address, "/verify-email")
    assert time.monotonic() - started < 3
    message = mailbox.wait_for(address)
    assert message["to"] == [address] and message["sent_at"].endswith("Z") and message["html"]

    assert (
        requests.post(f"{local_server}/v1/auth/verify-email", json={"token": token}, timeout=10).status_code
        == 200
    )
    login = requests.post(
        f"{local_server}/v1/auth/login", json={"email": address, "password": password}, timeout=10
    )
    assert login.status_code == 200, login.text
    access_token = login.json()["access_token"]
    me = requests.get(
        f"{local_server}/v1/auth/me", headers={"Authorization": f"Bearer {access_token}"}, timeout=10
    )
    assert me.status_code == 200, me.text
    assert me.json()["email"] == address and me.json()["email_verified"] is True


def test_cleanup_can_be_triggered(local_server: str) -> None:
    response = requests.post(f"{local_server}/_local/cleanup", timeout=30)
    assert response.status_code == 200, response.text
    response.json()  # the handler's result, as JSON
