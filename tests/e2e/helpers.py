"""HTTP helpers of the end-to-end tests."""

from __future__ import annotations

import http.client
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.expected import SECURITY_HEADERS


def raw_request(
    base_url: str, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b""
) -> tuple[int, list[tuple[str, str]], bytes]:
    """A request with exactly these headers (duplicates included), which `requests` cannot send."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest(
            method, path, skip_host=any(n.lower() == "host" for n, _ in headers), skip_accept_encoding=True
        )
        for name, value in headers:
            connection.putheader(name, value)
        if body:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def assert_problem(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["code"] == code
    assert {"type", "title", "detail"} <= set(body)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    return body
