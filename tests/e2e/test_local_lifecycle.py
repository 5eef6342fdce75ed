"""Starting and stopping local mode the way the README says, through `make dev` (spec sections 4 and
5, v2): a bad variable stops it at once with the one line naming it and a non-zero exit, without
ever serving; SIGTERM to its process group (what a supervisor or a terminal's job control sends)
ends make and the server within 15 s, also when nobody reads its output.

`make dev` runs the Makefile's recipe with this interpreter (BIN) and without its install step (see
`LocalServerProcess.command`); make's own signal handling and exit reporting are part of what is
tested.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import time
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.e2e

STOP_WITHIN = 15.0
BAD_CONFIGURATION_WITHIN = 15.0  # measured: about 3 s through make (interpreter, moto, the table)


def group_is_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_for_group(process: subprocess.Popen[bytes], timeout: float) -> float:
    """Seconds until make exited and no process of its group is left (fails after `timeout`)."""
    started = time.monotonic()
    process.wait(timeout=timeout)
    while not group_is_gone(process.pid):
        assert time.monotonic() - started < timeout, "make exited, but a process of its group is left"
        time.sleep(0.05)
    return time.monotonic() - started


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ACCESS_TOKEN_TTL_SECONDS", "2"),
        ("RATE_LIMIT_LOGIN_PER_IP", "sixty"),
        ("APP_BASE_URL", "http://app.example.com"),  # https is required except for localhost
    ],
)
def test_a_bad_variable_stops_make_dev_before_serving(
    local_server_process: Any, variable: str, value: str
) -> None:
    server = local_server_process({variable: value}, through_make=True)
    process = server.launch()
    try:
        deadline = time.monotonic() + BAD_CONFIGURATION_WITHIN
        ever_accepted = False
        while process.poll() is None and time.monotonic() < deadline:
            ever_accepted = ever_accepted or port_accepts(server.port)
            time.sleep(0.05)
        assert process.poll() is not None, f"still running after {BAD_CONFIGURATION_WITHIN} s"
        assert process.returncode != 0
        assert not ever_accepted, "the port accepted a connection"
        lines = [line for line in server.output().splitlines() if "invalid configuration" in line]
        assert len(lines) == 1, server.output()
        assert lines[0].startswith(f"invalid configuration: {variable}: "), lines[0]
    finally:
        server.stop()
        server.log_path.unlink(missing_ok=True)


def test_sigterm_to_the_process_group_ends_make_dev(local_server_process: Any) -> None:
    server = local_server_process(through_make=True)
    base_url = server.start()
    try:
        assert server.process is not None
        email = f"sigterm-{time.time_ns()}@example.com"
        response = requests.post(
            f"{base_url}/v1/auth/register",
            json={"email": email, "password": "Correct-Horse-Battery-9"},
            timeout=10,
        )
        assert response.status_code == 202
        os.killpg(server.process.pid, signal.SIGTERM)
        assert wait_for_group(server.process, STOP_WITHIN) < STOP_WITHIN
        # make got the signal too: it waits for the server, then ends by the same signal, and reports
        # no failed recipe because the server stopped cleanly (exit 0).
        assert server.process.returncode == -signal.SIGTERM
        output = server.output()
        assert "Stopped." in output
        assert "Error" not in output.split("Stopping...")[-1], output[-2000:]
    finally:
        server.stop()
        server.log_path.unlink(missing_ok=True)


def test_sigterm_ends_make_dev_even_when_nobody_reads_its_output(local_server_process: Any) -> None:
    """A full stdout pipe blocks every log line (the handlers' logs are written holding locks that
    the stop needs); the stop must not depend on output getting out."""
    server = local_server_process(through_make=True)
    reader, writer = os.pipe()
    try:
        if hasattr(fcntl, "F_SETPIPE_SZ"):
            fcntl.fcntl(writer, fcntl.F_SETPIPE_SZ, 4096)  # fills after a few requests instead of ~100
        # Only stdout (the handlers' log lines) goes to the pipe: make's own messages go to stderr, and
        # make blocking on a pipe nobody reads is make's behaviour, not the server's.
        with open(server.log_path, "ab") as errors:
            process = server.launch(stdout=writer, stderr=errors)
        os.close(writer)
        deadline = time.monotonic() + 60
        while not port_accepts(server.port):
            assert process.poll() is None and time.monotonic() < deadline, "did not start"
            time.sleep(0.2)
        for number in range(300):  # until the server stalls on its output
            try:
                requests.post(
                    f"{server.base_url}/v1/auth/register",
                    json={"email": f"unread-{number}-{time.time_ns()}@example.com", "password": "Correct-Horse-Battery-9"},
                    timeout=2,
                )
            except requests.Timeout:
                break
        else:
            pytest.fail("the output pipe never filled")
        os.killpg(process.pid, signal.SIGTERM)
        assert wait_for_group(process, STOP_WITHIN) < STOP_WITHIN
    finally:
        server.stop()
        os.close(reader)
        server.log_path.unlink(missing_ok=True)
