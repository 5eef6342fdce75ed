"""Email addresses: trimmed, syntax-checked with email-validator, compared case-insensitively."""

from __future__ import annotations

import functools
from dataclasses import dataclass

MAX_LENGTH = 254


@dataclass(frozen=True)
class Address:
    key: str  # normalized, case-folded: what the table is keyed by
    display: str  # what the user typed (trimmed, domain normalized): what emails are sent to

    @property
    def local_part(self) -> str:
        return self.display.rsplit("@", 1)[0]


@functools.lru_cache(maxsize=256)  # validated by the request schema, then parsed again by the flow
def parse_address(value: str) -> Address:
    """Raise ValueError with a user-facing message when `value` is not an email address."""
    # Imported here, not at the top: the verify-email function loads this module for its resend
    # route only, and its token route (most of its traffic) never parses an address.
    from email_validator import EmailNotValidError, validate_email


    text = value.strip()
    if not text or len(text) > MAX_LENGTH:
        raise ValueError("must be an email address")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(f"must be an email address ({error})") from None
    return Address(key=result.normalized.casefold(), display=result.normalized)


def normalize(value: str) -> str:
    """The table key of an address already known to be valid (e.g. from a queued job)."""
    return parse_address(value).key
