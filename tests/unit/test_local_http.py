"""The local server's HTTP write path: each response leaves in one write, so keep-alive clients do
not stall behind Nagle's algorithm and delayed ACKs (spec section 5). Structural checks only: the
speed itself is a benchmark's business, never a timed test's."""

from __future__ import annotations

import socket
from http.client import HTTPResponse
from io import BytesIO
from typing import Any

import pytest

from local.common import HttpResponse
from local.http_front import Handler


class RecordingWriter:
    """Stands in for the handler's wfile (a socket writer: each write is one sendall)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.writes.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


class FakeSocket:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, *args: Any, **kwargs: Any) -> BytesIO:
        return BytesIO(self.data)


def handler(*, close: bool = False) -> tuple[Handler, RecordingWriter]:
    instance = Handler.__new__(Handler)  # no socket, no request: only the write path
    writer = RecordingWriter()
    instance.wfile = writer  # type: ignore[assignment]
    instance.close_connection = close
    instance.request_version = "HTTP/1.1"
    return instance, writer


def parse(data: bytes, method: str = "GET") -> tuple[HTTPResponse, bytes]:
    response = HTTPResponse(FakeSocket(data), method=method)  # type: ignore[arg-type]
    response.begin()
    return response, response.read()


BODY = b'{"issuer":"http://127.0.0.1:3000"}'


def test_a_response_is_one_write_with_headers_and_body() -> None:
    instance, writer = handler()
    response = HttpResponse(200, [("Content-Type", "application/json"), ("Cache-Control", "no-store")], BODY)

    instance._write(response, head=False)

    assert len(writer.writes) == 1
    parsed, body = parse(writer.writes[0])
    assert parsed.status == 200 and parsed.reason == "OK"
    assert body == BODY
    assert parsed.getheader("Content-Length") == str(len(BODY))
    assert parsed.getheader("Content-Type") == "application/json"
    assert parsed.getheader("Cache-Control") == "no-store"
    assert parsed.getheader("Date") and parsed.getheader("Apigw-Requestid")
    assert parsed.getheader("Connection") is None  # stays open (HTTP/1.1 keep-alive)
    assert not parsed.will_close


@pytest.mark.parametrize("status", [204, 304])
def test_bodyless_statuses_send_no_body(status: int) -> None:
    instance, writer = handler()
    instance._write(HttpResponse(status, [], b"ignored"), head=False)
    assert len(writer.writes) == 1
    assert writer.writes[0].endswith(b"\r\n\r\n")
    assert b"Content-Length: 0\r\n" in writer.writes[0]


def test_head_sends_the_length_but_not_the_body() -> None:
    instance, writer = handler()
    instance._write(HttpResponse(200, [("Content-Type", "application/json")], BODY), head=True)
    (data,) = writer.writes
    assert data.endswith(b"\r\n\r\n")
    assert f"Content-Length: {len(BODY)}\r\n".encode() in data


def test_framing_headers_of_the_integration_are_replaced() -> None:
    instance, writer = handler(close=True)
    response = HttpResponse(
        418,
        [("Content-Length", "999"), ("Transfer-Encoding", "chunked"), ("Connection", "keep-alive"), ("Date", "x")],
        b"tea",
    )
    instance._write(response, head=False)
    (data,) = writer.writes
    parsed, body = parse(data)
    assert parsed.status == 418 and body == b"tea"
    headers = [name.lower() for name, _ in parsed.getheaders()]
    assert headers.count("content-length") == 1 and parsed.getheader("Content-Length") == "3"
    assert "transfer-encoding" not in headers
    assert headers.count("date") == 1 and parsed.getheader("Date") != "x"
    assert parsed.getheader("Connection") == "close"


def test_unknown_status_has_an_empty_reason() -> None:
    instance, writer = handler()
    instance._write(HttpResponse(599, [], b"x"), head=False)
    assert writer.writes[0].startswith(b"HTTP/1.1 599 \r\n")


def test_connections_send_small_writes_at_once() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname()) as client:
            accepted, _ = server.accept()
            with accepted:
                Handler.no_delay(accepted)
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert client is not None


def test_no_delay_ignores_sockets_that_are_not_tcp() -> None:
    left, right = socket.socketpair()
    with left, right:
        Handler.no_delay(left)  # AF_UNIX: no TCP_NODELAY, and no error
