"""CORS allowed headers come from the template's CorsAllowedHeaders parameter (default
`authorization,content-type`), in local mode too, where the shell sets it as CORS_ALLOWED_HEADERS
when starting `make dev`: a preflight asking for another header gets no CORS headers, so the
browser refuses the request."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

pytestmark = pytest.mark.e2e

ORIGIN = "http://localhost:5173"  # allowed by the e2e servers' CORS_ALLOWED_ORIGINS


def preflight(base_url: str, request_headers: str) -> requests.Response:
    return requests.options(
        f"{base_url}/v1/auth/login",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": request_headers,
        },
        timeout=10,
    )


def allowed_headers(response: requests.Response) -> set[str]:
    value = response.headers.get("Access-Control-Allow-Headers", "")
    return {part.strip().lower() for part in value.split(",") if part.strip()}


def test_by_default_a_preflight_for_x_request_id_is_refused(local_server: str) -> None:
    response = preflight(local_server, "content-type,x-request-id")
    assert response.status_code == 204
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "x-request-id" not in allowed_headers(response)


def test_by_default_authorization_and_content_type_are_allowed(local_server: str) -> None:
    response = preflight(local_server, "Authorization, Content-Type")
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert allowed_headers(response) == {"authorization", "content-type"}


@pytest.fixture(scope="module")
def server_allowing_x_request_id(start_local_server: Callable[..., str]) -> str:
    return start_local_server({"CORS_ALLOWED_HEADERS": "authorization,content-type,x-request-id"})


def test_the_shell_can_allow_x_request_id(server_allowing_x_request_id: str) -> None:
    response = preflight(server_allowing_x_request_id, "content-type,X-Request-Id")
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert allowed_headers(response) == {"authorization", "content-type", "x-request-id"}
    info = requests.get(f"{server_allowing_x_request_id}/_local/info", timeout=10).json()
    assert info["cors"]["allow_headers"] == ["authorization", "content-type", "x-request-id"]
    # Still only those: another header is refused.
    assert "Access-Control-Allow-Origin" not in preflight(server_allowing_x_request_id, "x-other").headers
