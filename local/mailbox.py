"""Emails that moto's SES accepted: printed to the console and listed at GET /_local/emails, which
can wait for one to arrive (`?wait=<seconds>`), so scripts need no sleeps."""

from __future__ import annotations

import re
import threading
import time
from email.utils import parseaddr
from typing import Any

from local.common import (
    log,
    utc_now_iso,
)

_LINK = re.compile(r"https?://[^\s<>\"')\]]+")

MAX_WAIT_SECONDS = 30.0
# How often a waiting request looks at moto's SES itself; the queue drainer also wakes it as soon
# as it has delivered (it polls after each batch).
_WAIT_POLL_SECONDS = 0.1


def _key(address: str) -> str:
    """The account key of an address (the service's own comparison), or the trimmed text itself."""
    from accounts.emails import normalize  # imported late: the layer joins sys.path at start

    try:
        return normalize(address)
    except ValueError:
        return address.strip()


class EmailLog:
    """Emails that moto's SES accepted, read from its backend in this process."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._seen = 0
        self.emails: list[dict[str, Any]] = []

    def _backend(self) -> Any:
        from moto.ses.models import ses_backends

        return ses_backends[self.account_id][self.region]

    def poll(self) -> None:
        with self._lock:
            sent = list(self._backend().sent_messages)
            new, self._seen = sent[self._seen :], len(sent)
            for message in new:
                record = self._record(message)
                self.emails.append(record)
                self._print(record)
            if new:
                self._arrived.notify_all()

    @staticmethod
    def _record(message: Any) -> dict[str, Any]:
        """The mailer sends Raw MIME through SES v2; moto keeps it whole in `raw_data`."""
        parsed = parse_raw(message.raw_data)
        return {
            "to": list(parsed["to"] or message.destinations),
            "subject": parsed["subject"],
            "text": parsed["text"],
            "html": parsed["html"],
            "sent_at": utc_now_iso(),
        }

    @staticmethod
    def _print(record: dict[str, Any]) -> None:
        links = _LINK.findall(record["text"]) or _LINK.findall(record["html"])
        lines = [f"[email] to {', '.join(record['to'])}: {record['subject']}"]
        lines += [f"        {link}" for link in dict.fromkeys(links)]
        log("\n".join(lines))

    def list(self, to: str | None = None, *, wait: float = 0.0) -> list[dict[str, Any]]:
        """The emails (to `to`, if given), newest last; with `wait`, up to that many seconds for at
        least one. Waiting releases the lock, so the queue drainer keeps delivering meanwhile."""
        deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT_SECONDS)
        while True:
            self.poll()
            with self._lock:
                emails = self._matching(to)
                remaining = deadline - time.monotonic()
                if emails or remaining <= 0:
                    return emails
                self._arrived.wait(min(remaining, _WAIT_POLL_SECONDS))

    def _matching(self, to: str | None) -> list[dict[str, Any]]:
        if not to:
            return list(self.emails)
        wanted = _key(to)
        return [e for e in self.emails if any(_key(parseaddr(a)[1]) == wanted for a in e["to"])]

    def clear(self) -> None:
        self.poll()
        with self._lock:
            self.emails.clear()


def parse_raw(raw: str | bytes) -> dict[str, Any]:
    from accounts.mailer import parse_raw as parse

    return parse(raw)
