"""How the local server takes SIGINT/SIGTERM (local.server.StopRequest): the first asks for an
orderly stop and arms a watchdog that ends the process after STOP_GRACE_SECONDS whatever blocks;
the copy make forwards a moment later is the same request; a signal a second or more later ends the
process at once. The processes themselves are tested in tests/e2e/test_local_lifecycle.py."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from local import server


class Recorder:
    def __init__(self) -> None:
        self.exits: list[int] = []
        self.timers: list[tuple[float, Any, tuple[Any, ...]]] = []

    def exit(self, status: int) -> None:
        self.exits.append(status)

    def timer(self, interval: float, function: Any, args: tuple[Any, ...] = ()) -> Any:
        self.timers.append((interval, function, args))
        return type("Timer", (), {"daemon": False, "start": lambda self: None})()


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(server.os, "_exit", recorder.exit)
    monkeypatch.setattr(server.threading, "Timer", recorder.timer)
    return recorder


def test_the_first_signal_asks_for_a_stop_and_arms_the_watchdog(recorder: Recorder) -> None:
    stop = server.StopRequest()
    stop.handle(signal.SIGTERM, None)
    assert stop.requested.is_set()
    assert recorder.exits == []
    [(interval, function, args)] = recorder.timers
    assert interval == server.STOP_GRACE_SECONDS < 15
    assert function == recorder.exit and args == (128 + signal.SIGTERM,)


def test_the_copy_make_forwards_is_the_same_request(recorder: Recorder) -> None:
    stop = server.StopRequest()
    stop.handle(signal.SIGTERM, None)
    stop.handle(signal.SIGTERM, None)  # make passes the group's SIGTERM on to its child
    assert recorder.exits == [] and len(recorder.timers) == 1


def test_a_later_signal_ends_the_process_at_once(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    readings = [100.0, 101.5]  # the first signal, then 1.5 s later
    monkeypatch.setattr(server.time, "monotonic", lambda: readings.pop(0) if len(readings) > 1 else readings[0])
    stop = server.StopRequest()
    stop.handle(signal.SIGINT, None)
    stop.handle(signal.SIGINT, None)
    assert recorder.exits == [128 + signal.SIGINT]
