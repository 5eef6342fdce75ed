"""The HTTP server in front of the functions: requests in, one write per response out."""

from __future__ import annotations

import socket
import time
import traceback
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from local.common import (
    MAX_REQUEST_BYTES,
    HttpResponse,
    errors,
    log,
    problem_response,
)

if TYPE_CHECKING:
    from local.server import LocalApp

class Request:
    def __init__(
        self,
        method: str,
        target: str,
        protocol: str,
        headers: list[tuple[str, str]],
        body: bytes,
        peer: str,
        *,
        body_too_large: bool = False,
    ) -> None:
        parts = urlsplit(target)
        self.method = method.upper()
        self.path = parts.path or "/"
        self.query = parts.query
        self.protocol = protocol
        self.headers = headers
        self.body = body
        self.peer = peer
        self.body_too_large = body_too_large

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "accounts-local"
    sys_version = ""
    app: LocalApp  # set on the subclass made by serve()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # every method, including unknown ones, goes to one place
            return self._handle
        raise AttributeError(name)

    def setup(self) -> None:
        super().setup()
        self.no_delay(self.connection)

    @staticmethod
    def no_delay(sock: Any) -> None:
        """Send small writes at once. Each response already goes out in one write (see `_write`);
        this covers the base class's own two-write paths (send_error) on keep-alive connections,
        where Nagle's algorithm would hold the second write until the client's delayed ACK (~40 ms)."""
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):  # not a TCP socket
            pass

    def _read_body(self) -> tuple[bytes, bool]:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunk = self.rfile.read(size)
                self.rfile.readline(65537)
                total += size
                if total <= MAX_REQUEST_BYTES:
                    chunks.append(chunk)
            return b"".join(chunks), total > MAX_REQUEST_BYTES
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            remaining = length
            while remaining > 0:
                remaining -= len(self.rfile.read(min(remaining, 65536)) or b"x" * remaining)
            return b"", True
        return (self.rfile.read(length) if length > 0 else b""), False

    def _handle(self) -> None:
        started = time.monotonic()
        try:
            body, too_large = self._read_body()
        except (ValueError, OSError):
            self.send_error(400, "Bad request body")
            return
        request = Request(
            self.command,
            self.path,
            self.request_version,
            list(self.headers.items()),
            body,
            self.client_address[0],
            body_too_large=too_large,
        )
        try:
            response, target = self.app.handle(request)
        except Exception:  # noqa: BLE001 - a bug in the local server itself
            traceback.print_exc()
            response, target = (
                problem_response(errors().ServiceError()),
                "server error",
            )
        self._write(response, head=request.method == "HEAD")
        elapsed = (time.monotonic() - started) * 1000
        log(
            f"{request.peer} {request.method} {request.path} -> {response.status} ({target}, {elapsed:.0f} ms)"
        )

    def _write(self, response: HttpResponse, *, head: bool) -> None:
        """Status line, headers and body in ONE write (one send): written separately, a keep-alive
        client's next request would wait for the body behind Nagle's algorithm and delayed ACKs."""
        self.wfile.write(self.serialize(response, head=head))
        self.wfile.flush()

    def serialize(self, response: HttpResponse, *, head: bool) -> bytes:
        """The whole HTTP/1.1 response as bytes (no body for HEAD, 1xx, 204 and 304)."""
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        body = b"" if response.status in (204, 304) or 100 <= response.status < 200 else response.body
        lines = [f"{self.protocol_version} {response.status} {reason}", f"Date: {self.date_time_string()}"]
        for name, value in response.headers:
            if name.lower() in ("content-length", "transfer-encoding", "connection", "date"):
                continue
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(body)}")
        lines.append(f"Apigw-Requestid: {uuid.uuid4().hex[:16]}")
        if self.close_connection:
            lines.append("Connection: close")
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "strict")
        return head_bytes if head or not body else head_bytes + body

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
