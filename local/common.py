"""What every part of the local server shares: constants, the one-invocation-at-a-time lock, log
lines, HTTP responses and problem documents, and the layer's pieces it borrows."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
LOCAL_PREFIX = "/_local/"
PROBLEM_JSON = "application/problem+json"


def security_headers() -> list[tuple[str, str]]:
    """The spec's headers, from the layer (imported late: the layer joins sys.path at start)."""
    from accounts.http import SECURITY_HEADERS

    return list(SECURITY_HEADERS.items())


# One handler invocation at a time, as if every function had a single warm container. The
# handlers keep per-invocation state in module globals (the Powertools resolver's current event,
# the shared metrics set), which Lambda never shares between concurrent invocations; running two
# invocations at once in one interpreter would mix them up. HTTP requests are still accepted
# concurrently; they queue here.
INVOKE_LOCK = threading.RLock()


def log(message: str) -> None:
    print(message, flush=True)


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HttpResponse:
    """Status, headers (a list, so Set-Cookie may repeat) and body bytes."""

    def __init__(self, status: int, headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> None:
        self.status = status
        self.headers: list[tuple[str, str]] = list(headers)
        self.body = body

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def set_header(self, name: str, value: str) -> None:
        self.remove_header(name)
        self.headers.append((name, value))

    def remove_header(self, name: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]


def json_response(status: int, payload: Any, *, content_type: str = "application/json") -> HttpResponse:
    body = json.dumps(payload, indent=None, ensure_ascii=False).encode("utf-8")
    return HttpResponse(status, [("Content-Type", content_type), *security_headers()], body)


def problem_response(error: Any, extra_headers: dict[str, str] | None = None) -> HttpResponse:
    """A problem+json answer produced by the local server itself: the service's own document for
    an accounts.errors.ServiceError, so local refusals look exactly like the handlers' ones."""
    from accounts.http import problem

    response = problem(error)
    answer = HttpResponse(error.status, [("Content-Type", PROBLEM_JSON), *security_headers()], response.body.encode())
    for name, value in {**response.headers, **(extra_headers or {})}.items():
        if name.lower() != "content-type":
            answer.set_header(name, value)
    return answer


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _claim_string(value: Any) -> str:
    """Claims as API Gateway's JWT authorizer passes them: every value a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + " ".join(_claim_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def errors() -> Any:
    """accounts.errors, imported late: the layer joins sys.path when the server starts."""
    from accounts import errors as service_errors

    return service_errors


def signing_key_secret_value() -> str:
    """A key ring with one new key that signs at once (nothing can have cached a key set yet)."""
    from accounts.jwt_keys import new_ring_secret_value

    return new_ring_secret_value(int(time.time()))
