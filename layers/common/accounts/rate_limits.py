"""Fixed-window rate limits on DynamoDB atomic counters (one UpdateItem ADD per hit).

Subjects (IP addresses, email addresses) are hashed into the counter key: counters are
operational data and need not hold personal data in clear.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from accounts.errors import RateLimited, ServiceError
from accounts.settings import RateLimit, Settings


class CounterStore(Protocol):
    def add_to_counter(self, key: str, *, expires_at: int) -> int: ...

    def read_counter(self, key: str) -> int: ...

    def add_below(self, key: str, *, limit: int, expires_at: int) -> int | None: ...

    def give_back(self, key: str) -> None: ...

    def delete_counter(self, key: str) -> None: ...


@dataclass(frozen=True)
class Window:
    index: int
    ends_at: int

    @classmethod
    def at(cls, now: int, seconds: int) -> Window:
        index = now // seconds
        return cls(index=index, ends_at=(index + 1) * seconds)


@dataclass(frozen=True)
class LimitState:
    """What the RateLimit-* response headers say about one limit after a request."""

    limit: int
    remaining: int
    reset: int  # seconds until the window ends

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


class IpLimit(NamedTuple):
    """A per-source-IP limit: its counter's name and the settings field holding COUNT/SECONDS."""

    name: str
    setting: str

    def of(self, settings: Settings) -> RateLimit:
        return getattr(settings, self.setting)


REGISTER_PER_IP = IpLimit("register_ip", "rate_limit_register_per_ip")
MAIL_PER_IP = IpLimit("mail_ip", "rate_limit_mail_per_ip")
TOKEN_PER_IP = IpLimit("token_ip", "rate_limit_token_per_ip")
LOGIN_PER_IP = IpLimit("login_ip", "rate_limit_login_per_ip")


@contextmanager
def reported(state: LimitState | None) -> Iterator[None]:
    """Errors raised inside carry `state`'s RateLimit-* headers (the spec wants them on every answer
    of a rate-limited route, errors included); headers an error already has (a lockout's) win."""
    try:
        yield
    except ServiceError as error:
        if state is not None:
            error.headers = {**state.headers(), **error.headers}
        raise


def counter_key(name: str, subject: str, window: Window) -> str:
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
    return f"RATE#{name}#{digest}#{window.index}"


def _refuse(state: LimitState, retry_after: int, detail: str | None = None) -> RateLimited:
    return RateLimited(detail, retry_after=max(1, retry_after), headers=state.headers())


class RateLimiter:
    def __init__(self, store: CounterStore) -> None:
        self.store = store

    def hit(self, name: str, subject: str, limit: RateLimit, *, now: int) -> LimitState | None:
        """Count one request; raise RateLimited (429) when it is over the limit. None when disabled."""
        if not limit.enabled:
            return None
        window = Window.at(now, limit.seconds)
        hits = self.store.add_to_counter(counter_key(name, subject, window), expires_at=window.ends_at)
        state = LimitState(limit=limit.count, remaining=max(0, limit.count - hits), reset=window.ends_at - now)
        if hits > limit.count:
            raise _refuse(state, window.ends_at - now)
        return state

    def hit_ip(self, kind: IpLimit, ip: str, settings: Settings, *, now: int) -> LimitState | None:
        """`hit` for one of the per-IP limits above."""
        return self.hit(kind.name, ip, kind.of(settings), now=now)

    def peek_ip(self, kind: IpLimit, ip: str, settings: Settings, *, now: int) -> LimitState | None:
        """The state of a per-IP limit without counting (1 read): for answers that never reached it."""
        limit = kind.of(settings)
        if not limit.enabled:
            return None
        window = Window.at(now, limit.seconds)
        hits = self.store.read_counter(counter_key(kind.name, ip, window))
        return LimitState(limit=limit.count, remaining=max(0, limit.count - hits), reset=window.ends_at - now)

    def allow(self, name: str, subject: str, limit: RateLimit, *, now: int) -> bool:
        """Count one event and say whether it is within the limit (for limits that must not show)."""
        if not limit.enabled:
            return True
        window = Window.at(now, limit.seconds)
        return self.store.add_to_counter(counter_key(name, subject, window), expires_at=window.ends_at) <= limit.count


@dataclass(frozen=True)
class Attempt:
    """A reserved password (or second-factor) check of one address; `key` None: lockout disabled."""

    key: str | None
    allowed: bool
    last: bool = False  # this check used the window's last slot: failing it locks the address


class Lockout:
    """At most COUNT password checks per address and window, counted whether or not an account
    exists. Each check is reserved before it runs, by one conditional ADD (so parallel requests
    cannot all slip under the limit); a successful check gives its reservation back, so only
    failures use the budget up."""

    NAME = "lockout"

    def __init__(self, store: CounterStore, limit: RateLimit) -> None:
        self.store = store
        self.limit = limit

    def _key(self, email_key: str, now: int) -> tuple[str, Window]:
        window = Window.at(now, self.limit.seconds)
        return counter_key(self.NAME, email_key, window), window

    def attempt(self, email_key: str, *, now: int) -> Attempt:
        """1 round trip: reserve one check, or report that the address is locked for this window."""
        if not self.limit.enabled:
            return Attempt(key=None, allowed=True)
        key, window = self._key(email_key, now)
        hits = self.store.add_below(key, limit=self.limit.count, expires_at=window.ends_at)
        return Attempt(key=key, allowed=hits is not None, last=hits == self.limit.count)

    def refusal(self, *, now: int) -> RateLimited:
        window = Window.at(now, self.limit.seconds)
        state = LimitState(limit=self.limit.count, remaining=0, reset=window.ends_at - now)
        return _refuse(state, window.ends_at - now, "Too many failed logins for this address; try again later.")

    def give_back(self, attempt: Attempt) -> None:
        """1 round trip: the check succeeded, so it does not count."""
        if attempt.key is not None and attempt.allowed:
            self.store.give_back(attempt.key)

    def lift(self, email_key: str, *, now: int) -> None:
        """1 round trip: forget this window's failures (a completed password reset proves ownership)."""
        if self.limit.enabled:
            self.store.delete_counter(self._key(email_key, now)[0])
