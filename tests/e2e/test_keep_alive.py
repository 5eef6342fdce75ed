"""Keep-alive against the local server: many requests on one persistent connection all succeed, each
framed by its Content-Length (spec section 5: "Keep-alive connections are answered without
stalls"). That each response leaves in one write, the cause of the stalls, is checked without timing
in tests/unit/test_local_http.py."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.e2e

REQUESTS = 20


def test_sequential_requests_share_one_connection(local_server: str) -> None:
    parts = urlsplit(local_server)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.connect()
        local_address = connection.sock.getsockname()
        for number in range(REQUESTS):
            path = "/.well-known/openid-configuration" if number % 2 == 0 else "/_local/info"
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            assert response.status == 200, (number, path, body)
            assert int(response.getheader("Content-Length")) == len(body), (number, path)
            assert not response.will_close, (number, path)
            assert isinstance(json.loads(body), dict)
            # Still the same TCP connection: http.client would have opened a new one after a close.
            assert connection.sock is not None and connection.sock.getsockname() == local_address, number
    finally:
        connection.close()


def test_errors_and_request_bodies_keep_the_connection_framed(local_server: str) -> None:
    """Problem responses and requests with bodies between ordinary ones: every answer is read to its
    Content-Length, so the next request on the connection starts at the right byte."""
    parts = urlsplit(local_server)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.connect()
        local_address = connection.sock.getsockname()
        exchanges = [
            ("GET", "/.well-known/openid-configuration", None, 200),
            ("GET", "/v1/no-such-route", None, 404),
            ("POST", "/v1/auth/login", b'{"email": "not an address"', 400),
            ("GET", "/.well-known/openid-configuration", None, 200),
        ]
        for method, path, body, status in exchanges * 3:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            assert response.status == status, (method, path, answer)
            assert int(response.getheader("Content-Length")) == len(answer), (method, path)
            assert not response.will_close, (method, path)
            assert connection.sock.getsockname() == local_address, (method, path)
    finally:
        connection.close()
