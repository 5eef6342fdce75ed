"""The collaborators every flow needs, built once per container on first use (never at import).

Flows take a `Services` as an argument, so tests can hand them fakes or moto-backed ones."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from accounts import clock
from accounts.email_jobs import EmailQueue
from accounts.mailer import Mailer
from accounts.rate_limits import Lockout, RateLimiter
from accounts.repository import Repository
from accounts.settings import Settings, get_settings

if TYPE_CHECKING:
    from accounts.passwords import PasswordHasher


@dataclass
class Services:
    settings: Settings
    repo: Repository
    queue: EmailQueue
    now: Callable[[], int] = clock.now
    _hasher: PasswordHasher | None = field(default=None, repr=False)

    @property
    def hasher(self) -> PasswordHasher:
        """Built on first use. The functions that hash or verify passwords import argon2 with
        their flows at init; the others (verify, mailer, cleanup) never import it at all."""
        if self._hasher is None:
            from accounts.passwords import PasswordHasher

            self._hasher = PasswordHasher.from_settings(self.settings)
        return self._hasher

    @hasher.setter
    def hasher(self, value: PasswordHasher) -> None:
        self._hasher = value

    @property
    def limiter(self) -> RateLimiter:
        return RateLimiter(self.repo)

    @property
    def lockout(self) -> Lockout:
        return Lockout(self.repo, self.settings.login_lockout)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        return cls(
            settings=settings,
            repo=Repository(settings.table_name),
            queue=EmailQueue.from_settings(settings),
        )


@functools.cache
def get_services() -> Services:
    return Services.from_settings(get_settings())


@functools.cache
def get_mailer() -> Mailer:
    """One mailer (one SES client) per container; only the email worker needs it."""
    return Mailer.from_settings(get_settings())
