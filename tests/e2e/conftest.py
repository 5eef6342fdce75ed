"""End-to-end fixtures: the local server (`python -m local.server`) as a subprocess.

Fixtures
- `local_server` (session): base URL of a server running the repository's template.yaml and
  real handlers, with fast argon2 parameters and generous rate limits (LOGIN_LOCKOUT keeps its
  default; use unique email addresses per test).
- `start_local_server` (session): a factory for servers with other settings, e.g.
  `base = start_local_server({"RATE_LIMIT_EMAIL_PER_ADDRESS": "1/3600"})`; each gets its own moto
  (empty table, new signing key) and is stopped at the end of the session.
- `local_server_process` (session): the `LocalServerProcess` class, for tests that need the
  process itself (signals, output): `server = local_server_process(env, template); server.start()`;
  `local_server_process(env, through_make=True)` runs `make dev` as the README says, in a process
  group of its own (make, then the server).
- `mailbox` (function): a `Mailbox` for `local_server`: `mailbox.wait_for(to)` returns the newest
  email to an address, `mailbox.token(to, "/verify-email")` the token of its newest link.

When a test fails, the server's output during that test is attached to the report.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.e2e.fake_app import FAKE_ENV, write_fake_app

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
MAKE_INSTALL_STAMP = ".venv/.installed"  # the Makefile's $(STAMP)

# Fast hashing and limits that a whole test session cannot exhaust from one IP.
E2E_ENV: dict[str, str] = {
    "ARGON2_MEMORY_KIB": "8192",
    "ARGON2_TIME_COST": "1",
    "ARGON2_PARALLELISM": "1",
    "RATE_LIMIT_REGISTER_PER_IP": "100000/3600",
    "RATE_LIMIT_EMAIL_PER_ADDRESS": "1000/3600",
    "RATE_LIMIT_MAIL_PER_IP": "100000/3600",
    "RATE_LIMIT_LOGIN_PER_IP": "100000/60",
    "RATE_LIMIT_TOKEN_PER_IP": "100000/60",
    "CORS_ALLOWED_ORIGINS": "http://localhost:5173",
}

# Variables of the developer's shell that must not leak into the server under test.
_SCRUBBED_PREFIXES = ("AWS_", "POWERTOOLS_", "RATE_LIMIT_", "ARGON2_", "JWT_", "LOCAL_")
_SCRUBBED = {
    "TABLE_NAME",
    "APP_BASE_URL",
    "PRODUCT_NAME",
    "EMAIL_FROM",
    "SES_CONFIGURATION_SET",
    "SIGNING_KEY_SECRET_ID",
    "EMAIL_QUEUE_URL",
    "ACCESS_TOKEN_TTL_SECONDS",
    "REFRESH_TOKEN_TTL_SECONDS",
    "VERIFY_TOKEN_TTL_SECONDS",
    "RESET_TOKEN_TTL_SECONDS",
    "EMAIL_CHANGE_TOKEN_TTL_SECONDS",
    "MFA_ISSUER",
    "PASSWORD_MIN_LENGTH",
    "PASSWORD_REQUIRE_CHARACTER_CLASSES",
    "CORS_ALLOWED_ORIGINS",
    "UNVERIFIED_ACCOUNT_TTL_DAYS",
    "LOGIN_LOCKOUT",
    "PORT",
    "HOST",
    "CORS_ALLOWED_HEADERS",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalServerProcess:
    """`python -m local.server` (or `make dev`) in a subprocess, its output in a log file."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        template: str | os.PathLike[str] | None = None,
        *,
        through_make: bool = False,
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.template = template
        self.env = {
            k: v for k, v in os.environ.items() if k not in _SCRUBBED and not k.startswith(_SCRUBBED_PREFIXES)
        }
        self.env.update(E2E_ENV)
        self.env.update(env or {})
        self.env["PORT"] = str(self.port)
        self.env["PYTHONUNBUFFERED"] = "1"
        log = tempfile.NamedTemporaryFile(prefix="local-server-", suffix=".log", delete=False)  # noqa: SIM115
        self.log_path = Path(log.name)
        log.close()
        self.through_make = through_make
        if through_make and template is not None:
            self.env["LOCAL_TEMPLATE"] = str(template)  # make dev passes no arguments
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        if self.through_make:
            # The Makefile's own `dev` recipe, with this interpreter's environment (BIN) and without
            # its install step (-o: the test run already has everything; no pip inside a test).
            bin_dir = Path(sys.executable).parent
            return ["make", "--no-print-directory", "-o", MAKE_INSTALL_STAMP, "dev", f"BIN={bin_dir}"]
        command = [sys.executable, "-m", "local.server"]
        if self.template is not None:
            command += ["--template", str(self.template)]
        return command

    def launch(self, **popen: Any) -> subprocess.Popen[bytes]:
        """Start the process without waiting for it to answer (output to the log unless redirected)."""
        with open(self.log_path, "wb") as log:
            options: dict[str, Any] = {"stdout": log, "stderr": subprocess.STDOUT, **popen}
            self.process = subprocess.Popen(
                self.command, cwd=REPO_ROOT, env=self.env, start_new_session=self.through_make, **options
            )
        return self.process

    def start(self, timeout: float = START_TIMEOUT) -> str:
        self.launch()
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the local server exited with {self.process.returncode} during start-up:\n{self.output()}"
                )
            try:
                if requests.get(f"{self.base_url}/_local/routes", timeout=2).status_code == 200:
                    return self.base_url
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the local server did not answer within {timeout:.0f} s:\n{self.output()}")

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.terminate()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            if self.through_make:  # the server is make's child, in make's process group
                os.killpg(self.process.pid, signal.SIGKILL)
            else:
                self.process.kill()
            return self.process.wait(timeout=5)

    def output(self, start: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(start)
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def output_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0


_RUNNING: list[LocalServerProcess] = []


@pytest.fixture(scope="session")
def start_local_server(request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """Factory: start_local_server(env=None, template=None) -> base URL (stopped at session end)."""
    started: list[LocalServerProcess] = []

    def start(env: Mapping[str, str] | None = None, template: str | os.PathLike[str] | None = None) -> str:
        server = LocalServerProcess(env, template)
        base_url = server.start()
        started.append(server)
        _RUNNING.append(server)
        return base_url

    yield start
    for server in started:
        server.stop()
        _RUNNING.remove(server)
        if request.session.testsfailed:
            sys.stderr.write(f"\nlocal server log ({server.base_url}): {server.log_path}\n")
        else:
            server.log_path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def local_server_process() -> type[LocalServerProcess]:
    """The process wrapper itself, for tests that need the process (signals, output)."""
    return LocalServerProcess


@pytest.fixture(scope="session")
def local_server(start_local_server: Callable[..., str]) -> str:
    """Base URL of the local server with the repository's template.yaml and handlers."""
    return start_local_server()


# ----------------------------------------------------------------------------- emails


def fetch_emails(base_url: str, to: str | None = None) -> list[dict[str, Any]]:
    """GET /_local/emails (newest last), optionally only those to `to`."""
    response = requests.get(f"{base_url}/_local/emails", params={"to": to} if to else None, timeout=10)
    response.raise_for_status()
    return response.json()


def wait_for_email(
    base_url: str, to: str, *, count: int = 1, subject_contains: str | None = None, timeout: float = 5.0
) -> dict[str, Any]:
    """The newest email to `to` once at least `count` (matching `subject_contains`) have arrived."""
    deadline = time.monotonic() + timeout
    while True:
        emails = [
            e
            for e in fetch_emails(base_url, to)
            if subject_contains is None or subject_contains.lower() in e["subject"].lower()
        ]
        if len(emails) >= count:
            return emails[-1]
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no email #{count} to {to} (subject ~ {subject_contains!r}) after {timeout} s"
            )
        time.sleep(0.05)


def links_in(message: Mapping[str, Any]) -> list[str]:
    return re.findall(r"https?://[^\s<>\"')\]]+", message.get("text") or "") or re.findall(
        r"https?://[^\s<>\"')\]]+", message.get("html") or ""
    )


def token_from_email(message: Mapping[str, Any], path: str | None = None) -> str:
    """The `token` query parameter of the (first) link in the email whose path ends with `path`."""
    for link in links_in(message):
        parts = urlsplit(link)
        if path is not None and not parts.path.endswith(path):
            continue
        tokens = parse_qs(parts.query).get("token")
        if tokens:
            return tokens[0]
    raise AssertionError(f"no link with a token{f' to {path}' if path else ''} in: {message.get('text')!r}")


class Mailbox:
    """The local server's sent emails, seen from a test."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def list(self, to: str | None = None) -> list[dict[str, Any]]:
        return fetch_emails(self.base_url, to)

    def count(self, to: str) -> int:
        return len(fetch_emails(self.base_url, to))

    def clear(self) -> None:
        requests.delete(f"{self.base_url}/_local/emails", timeout=10).raise_for_status()

    def wait_for(
        self, to: str, *, count: int = 1, subject_contains: str | None = None, timeout: float = 5.0
    ) -> dict[str, Any]:
        return wait_for_email(
            self.base_url, to, count=count, subject_contains=subject_contains, timeout=timeout
        )

    def token(
        self,
        to: str,
        path: str = "/verify-email",
        *,
        count: int = 1,
        subject_contains: str | None = None,
        timeout: float = 5.0,
    ) -> str:
        """The token of the newest email to `to` whose link goes to `path` (/verify-email, /reset-password)."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.wait_for(
                to,
                count=count,
                subject_contains=subject_contains,
                timeout=max(0.1, deadline - time.monotonic()),
            )
            try:
                return token_from_email(message, path)
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


@pytest.fixture
def mailbox(local_server: str) -> Mailbox:
    return Mailbox(local_server)


# ----------------------------------------------------------------------------- failure reports


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    item.stash[_LOG_OFFSETS] = {id(s): s.output_size() for s in _RUNNING}
    yield


_LOG_OFFSETS = pytest.StashKey[dict[int, int]]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    offsets = item.stash.get(_LOG_OFFSETS, {})
    for server in _RUNNING:
        text = server.output(offsets.get(id(server), 0))
        if text.strip():
            report.sections.append((f"local server {server.base_url} output", text[-20000:]))


@pytest.fixture(scope="session")
def fake_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake application of tests/e2e/fake_app.py, written to a temporary folder."""
    return write_fake_app(tmp_path_factory.mktemp("fake-app"))


@pytest.fixture(scope="session")
def fake_app(start_local_server: Callable[..., str], fake_template: Path) -> str:
    """A local server running the fake application (one for the whole session)."""
    return start_local_server(FAKE_ENV, template=fake_template)
