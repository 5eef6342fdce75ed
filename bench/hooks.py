"""botocore event hooks on every client: record each AWS call, optionally add network latency,
optionally answer calls from a recording (the replay stub, no network and no moto).

Installed once, before any client exists, by wrapping botocore's Session.create_client; every
client the service makes (boto3's, pynamodb's, accounts.aws's) then carries the hooks:

* before-call    the call starts: service, operation, request body, start time (thread-safe);
                 with `latency` set, the calling thread then sleeps that long, like a network round
                 trip, so calls issued in parallel overlap the way they do against AWS;
* before-parse   the raw HTTP answer (status, headers, body), kept for the replay stub;
* after-call     the call ends: end time, HTTP status, parsed answer;
* before-send    with a replay active, the recorded HTTP answer is returned instead of sending.

`waves(calls)` is the number of sequential round trips: the longest chain of calls in which each
starts after the previous one ended.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Call:
    service: str  # botocore's hyphenated service id: dynamodb, sqs, sesv2, secrets-manager
    operation: str
    start: float
    request: dict[str, Any]
    end: float | None = None
    status: int | None = None
    response: dict[str, Any] | None = None
    raw: tuple[int, dict[str, str], bytes] | None = None
    error: str | None = None
    items: list[Any] = field(default_factory=list)  # item images before/after (bench.capacity)

    @property
    def name(self) -> str:
        return f"{self.service}:{self.operation}"


class _Probe:
    """What to do around each call besides timing it (bench.capacity reads moto's items)."""

    def before(self, call: Call) -> None: ...

    def after(self, call: Call) -> None: ...


class Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self.calls: list[Call] = []
        self.active = False
        self.latency = 0.0  # seconds of simulated network per call
        self.probe: _Probe = _Probe()
        self.replay: Replay | None = None

    @contextlib.contextmanager
    def window(self) -> Iterator[list[Call]]:
        """Record the calls made (by any thread) until the block ends; yields the list."""
        calls: list[Call] = []
        with self._lock:
            self.calls, self.active = calls, True
        try:
            yield calls
        finally:
            with self._lock:
                self.active = False
                self.calls = []

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        with self._lock:
            saved, self.active = self.active, False
        try:
            yield
        finally:
            with self._lock:
                self.active = saved

    # -- the hooks -----------------------------------------------------------------------------

    def before_call(self, event_name: str, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if not self.active:
            return
        _, service, operation = event_name.split(".", 2)
        call = Call(service, operation, time.perf_counter(), _body(params.get("body")))
        with self._lock:
            if not self.active:
                return
            self.calls.append(call)
        context["_bench_call"] = call
        self._local.call = call
        if self.latency:
            time.sleep(self.latency)
        self.probe.before(call)

    def before_parse(self, response_dict: dict[str, Any], **_: Any) -> None:
        call = getattr(self._local, "call", None)
        if call is not None:
            body = response_dict.get("body")
            if isinstance(body, (bytes, bytearray)):
                call.raw = (int(response_dict.get("status_code") or 0), dict(response_dict.get("headers") or {}),
                            bytes(body))

    def after_call(self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        call = context.get("_bench_call")
        if call is None:
            return
        self._local.call = None
        call.status = getattr(http_response, "status_code", None)
        call.response = parsed
        self.probe.after(call)
        call.end = time.perf_counter()

    def after_call_error(self, exception: Exception, context: dict[str, Any], **_: Any) -> None:
        call = context.get("_bench_call")
        if call is not None:
            self._local.call = None
            call.error = type(exception).__name__
            call.end = time.perf_counter()

    def before_send(self, event_name: str, request: Any, **_: Any) -> Any:
        replay = self.replay
        if replay is None:
            return None
        _, service, operation = event_name.split(".", 2)
        return replay.answer(service, operation, _body(getattr(request, "body", None)), getattr(request, "url", ""))


def _body(body: Any) -> dict[str, Any]:
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.startswith("{"):
        with contextlib.suppress(ValueError):
            return json.loads(body)
    return {}


recorder = Recorder()


def install() -> Recorder:
    """Idempotent: every botocore client created from now on carries the recorder's hooks."""
    import botocore.session

    original = botocore.session.Session.create_client
    if getattr(original, "_bench_hooks", False):
        return recorder

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        events = client.meta.events
        events.register("before-call", recorder.before_call)
        events.register("before-parse", recorder.before_parse)
        events.register("after-call", recorder.after_call)
        events.register("after-call-error", recorder.after_call_error)
        events.register("before-send", recorder.before_send)
        return client

    create_client._bench_hooks = True  # type: ignore[attr-defined]
    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    return recorder


def waves(calls: list[Call], keep: Callable[[Call], bool] = lambda call: True) -> int:
    """The longest chain of calls that did not overlap in time (sequential round trips)."""
    chosen = sorted((c for c in calls if keep(c)), key=lambda c: c.start)
    depth: list[int] = []
    for i, call in enumerate(chosen):
        before = [depth[j] for j in range(i) if (chosen[j].end or chosen[j].start) <= call.start]
        depth.append(1 + max(before, default=0))
    return max(depth, default=0)


def busy(calls: list[Call]) -> float:
    """Seconds during which at least one of the calls was under way (union of their intervals)."""
    total, current_start, current_end = 0.0, None, None
    for call in sorted(calls, key=lambda c: c.start):
        end = call.end or call.start
        if current_end is None or call.start > current_end:
            if current_end is not None:
                total += current_end - current_start  # type: ignore[operator]
            current_start, current_end = call.start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += current_end - current_start  # type: ignore[operator]
    return total


# --- the replay stub --------------------------------------------------------------------------


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class ReplayMiss(RuntimeError):
    """The handler made a call that the recording has no answer for."""


def _key_of(request: dict[str, Any]) -> str | None:
    key = request.get("Key") or request.get("SecretId")
    return json.dumps(key, sort_keys=True) if key else None


class Replay:
    """Answers calls with the HTTP answers recorded on moto for the same invocation: the same
    operation on the same key first, else the same operation in order, else any recorded answer to
    that operation (e.g. a secret read on a fresh container). No network, no moto: what remains
    is the handler's own work and botocore's (serialize, sign, parse)."""

    def __init__(self, calls: list[Call], pool: list[Call] = ()) -> None:  # type: ignore[assignment]
        self.calls = [c for c in calls if c.raw is not None]
        self.pool = [c for c in pool if c.raw is not None]
        self.used: set[int] = set()
        self.misses: list[str] = []

    def reset(self) -> None:
        self.used.clear()

    def answer(self, service: str, operation: str, request: dict[str, Any], url: str) -> Any:
        from botocore.awsrequest import AWSResponse

        same = [(i, c) for i, c in enumerate(self.calls)
                if c.service == service and c.operation == operation and i not in self.used]
        key = _key_of(request)
        chosen = next(((i, c) for i, c in same if key is not None and _key_of(c.request) == key), None)
        chosen = chosen or (same[0] if same else None)
        if chosen is not None:
            self.used.add(chosen[0])
            call = chosen[1]
        else:
            call = next((c for c in self.pool if c.service == service and c.operation == operation), None)
            if call is None:
                self.misses.append(f"{service}:{operation}")
                raise ReplayMiss(f"no recorded answer for {service}:{operation}")
        status, headers, body = call.raw  # type: ignore[misc]
        return AWSResponse(url, status, headers, _Raw(body))


@contextlib.contextmanager
def replaying(replay: Replay) -> Iterator[Replay]:
    recorder.replay = replay
    try:
        yield replay
    finally:
        recorder.replay = None
