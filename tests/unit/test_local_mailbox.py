"""`/_local/emails?to=` matches addresses the way accounts do: never two mailboxes as one."""

from __future__ import annotations

import pytest

from local.mailbox import EmailLog


@pytest.fixture
def log() -> EmailLog:
    emails = EmailLog("123456789012", "us-east-1")
    emails.emails = [
        {"to": ["Someone <someone@straße.de>"], "subject": "a"},
        {"to": ["someone@strasse.de"], "subject": "b"},
        {"to": ["Ada@Example.COM"], "subject": "c"},
    ]
    emails.poll = lambda: None  # no moto here: the records above are the mailbox
    return emails


@pytest.mark.parametrize(
    ("to", "subjects"),
    [
        ("someone@straße.de", ["a"]),
        ("someone@xn--strae-oqa.de", ["a"]),
        ("someone@strasse.de", ["b"]),
        (" ada@example.com ", ["c"]),
        ("not an address", []),
    ],
)
def test_to_filter_uses_the_account_key(log: EmailLog, to: str, subjects: list[str]) -> None:
    assert [e["subject"] for e in log.list(to)] == subjects
