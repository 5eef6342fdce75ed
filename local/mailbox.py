"""Emails that moto's SES accepted: printed to the console and listed at GET /_local/emails."""

from __future__ import annotations

import re
import threading
from email.utils import parseaddr
from typing import Any

from local.common import (
    log,
    utc_now_iso,
)

_LINK = re.compile(r"https?://[^\s<>\"')\]]+")


class EmailLog:
    """Emails that moto's SES accepted, read from its backend in this process."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self._lock = threading.Lock()
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

    def list(self, to: str | None = None) -> list[dict[str, Any]]:
        self.poll()
        with self._lock:
            emails = list(self.emails)
        if to:
            wanted = to.strip().casefold()
            emails = [e for e in emails if any(parseaddr(a)[1].casefold() == wanted for a in e["to"])]
        return emails

    def clear(self) -> None:
        self.poll()
        with self._lock:
            self.emails.clear()


def parse_raw(raw: str | bytes) -> dict[str, Any]:
    from accounts.mailer import parse_raw as parse

    return parse(raw)
