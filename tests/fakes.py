"""Collaborators for unit tests of the flows: a fake queue, mailer and clock, and `make_services`,
which puts the real repository on moto's in-memory DynamoDB (the `table` fixture of
tests/conftest.py must be active). A second, hand-written repository would have to mirror every
condition of the real one; moto evaluates the real conditions instead.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from accounts.email_jobs import EmailJob
from accounts.mailer import RenderedEmail
from accounts.repository import Repository
from accounts.services import Services
from accounts.settings import Settings

TABLE = "accounts-unit"

# Settings of the unit tests: explicit values (never the environment) and tiny argon2 parameters.
TEST_SETTINGS: dict[str, Any] = {
    "table_name": TABLE,
    "app_base_url": "https://app.example.com",
    "product_name": "Example Accounts",
    "email_from": "no-reply@example.com",
    "ses_configuration_set": "",
    "jwt_issuer": "https://api.example.com",
    "jwt_audience": "example-api",
    "signing_key_secret_id": "signing-key",
    "email_queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/emails",
    "argon2_memory_kib": 1024,
    "argon2_time_cost": 1,
    "argon2_parallelism": 1,
}

START = 1_763_737_200  # 2025-11-21T15:00:00Z, an arbitrary fixed "now" for the clock


# --- queue, mailer, clock ------------------------------------------------------------------------


class FakeQueue:
    """Records the email jobs a flow enqueues (`accounts.email_jobs.EmailQueue` stand-in)."""

    def __init__(self) -> None:
        self.jobs: list[EmailJob] = []
        self.lock = threading.Lock()

    def enqueue(self, job: EmailJob) -> None:
        with self.lock:
            self.jobs.append(job)

    def enqueue_many(self, jobs: list[EmailJob]) -> None:
        with self.lock:
            self.jobs.extend(jobs)

    def take(self) -> list[EmailJob]:
        """The jobs queued so far; the queue is empty afterwards."""
        with self.lock:
            jobs, self.jobs = self.jobs, []
            return jobs


class MailerDown(RuntimeError):
    """What a FakeMailer raises when told to fail (stands in for an SES error)."""


class FakeMailer:
    """Records (to, RenderedEmail) for every send (`accounts.mailer.Mailer` stand-in).

    `fail = True` makes every send raise MailerDown; `fail = SomeError(...)` raises that instead.
    """

    def __init__(self) -> None:
        self.sent: list[tuple[str, RenderedEmail]] = []
        self.fail: bool | BaseException = False
        self.attempts = 0

    def send(self, to: str, email: RenderedEmail) -> str:
        self.attempts += 1
        if self.fail:
            raise self.fail if isinstance(self.fail, BaseException) else MailerDown("SES is unavailable")
        self.sent.append((to, email))
        return f"message-{len(self.sent)}"


@dataclass
class Clock:
    """A settable clock: `clock()` returns `clock.now` (int epoch seconds)."""

    now: int = START

    def __call__(self) -> int:
        return int(self.now)

    def advance(self, seconds: int) -> int:
        self.now += seconds
        return self.now


# --- services ------------------------------------------------------------------------------------


def make_settings(**overrides: Any) -> Settings:
    """Settings built from explicit values only: every field is passed, so the environment of the
    process running the tests cannot change them."""
    values: dict[str, Any] = {
        name: info.default for name, info in Settings.model_fields.items() if not info.is_required()
    }
    values.update(TEST_SETTINGS)
    values.update(overrides)
    return Settings(**values)



def make_services(**setting_overrides: Any) -> Services:
    """`Services` with explicit settings, tiny argon2 parameters, the real repository on moto, a
    FakeQueue and a Clock (at `services.now`; set `services.now.now` or call `services.now.advance(...)`)."""
    settings = make_settings(**setting_overrides)
    return Services(
        settings=settings,
        repo=Repository(settings.table_name),
        queue=FakeQueue(),  # type: ignore[arg-type]
        now=Clock(),
    )


__all__ = [
    "START",
    "TABLE",
    "TEST_SETTINGS",
    "Clock",
    "FakeMailer",
    "FakeQueue",
    "MailerDown",
    "make_services",
    "make_settings",
]
