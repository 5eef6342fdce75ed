"""Email addresses: trimmed, syntax-checked with email-validator, keyed so that two addresses share
an account only when they name the same mailbox (spec section 2, v2).

The key is `<local part>@<domain>`:
- domain: its IDNA A-label (UTS #46, non-transitional: `ß` stays `ß` and becomes an `xn--` label,
  it never turns into `ss`), lower-case;
- local part: NFC, lower-cased with *simple* case mapping, one character at a time. Not case
  folding (`ß` -> `ss`, `ſ` -> `s`, `µ` -> `μ`), not NFKC (`ﬁ` -> `fi`), and not `str.lower()` of
  the whole string, which is full case mapping with context (`ΟΔΟΣ` -> `οδος` with a final sigma,
  `İ` -> `i` + U+0307). Dots and `+tags` are kept: only the receiving server knows what they mean.

`display` is what the user typed, trimmed, in email-validator's normalized form. That form changes
only what cannot change the mailbox: the local part's NFC (RFC 6532 3.1; canonically equivalent
text, already one key), RFC 2142 role names (`Postmaster`) lower-cased, and the domain UTS #46
mapped (lower-case, full-width letters and `。` as DNS resolves them) in its Unicode form. It keeps
the local part's case. It is what emails are sent to, so it is the address as verified: the
`email` claim and every body carry it, never the key. `parse_address(display)` gives the same
key and display again, and so does `parse_address(key).key`.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

MAX_LENGTH = 254
_INVALID = "must be an email address"
# The one code point whose full lower-case mapping is not its simple mapping, in Unicode 9.0 to
# 15.1 (Python 3.6 to 3.13; tests/unit/test_emails.py checks it over all code points):
# U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE is simply `i`, fully `i` + U+0307.
_SIMPLE_LOWER_EXCEPTIONS = {"\u0130": "i"}


@dataclass(frozen=True)
class Address:
    key: str  # what the table is keyed by (see the module docstring); never shown or sent
    display: str  # the address as typed (trimmed, mailbox-preserving normalization): as verified

    @property
    def local_part(self) -> str:
        return self.display.rsplit("@", 1)[0]


def lower_simple(text: str) -> str:
    """Unicode simple lower-case mapping: each character on its own, so no final-sigma context,
    and never a change of length."""
    return "".join(_SIMPLE_LOWER_EXCEPTIONS.get(ch) or ch.lower() for ch in text)


@functools.lru_cache(maxsize=256)  # validated by the request schema, then parsed again by the flow
def parse_address(value: str) -> Address:
    """Raise ValueError with a user-facing message when `value` is not an email address (the
    request schemas turn it into a 422)."""
    # Imported here, not at the top: the verify-email function loads this module for its resend
    # route only, and its token route (most of its traffic) never parses an address.
    import idna
    from email_validator import EmailNotValidError, validate_email

    text = value.strip()
    if not text or len(text) > MAX_LENGTH:
        raise ValueError(_INVALID)
    try:
        result = validate_email(text, check_deliverability=False)
        # email-validator has already checked the domain with the same library; encoding it here
        # states the rule instead of relying on its `ascii_domain`.
        domain = idna.encode(result.domain, uts46=True, transitional=False).decode("ascii").lower()
    except EmailNotValidError as error:
        raise ValueError(f"{_INVALID} ({error})") from None
    except (idna.IDNAError, UnicodeError):
        raise ValueError(f"{_INVALID} (the part after the @-sign is not a valid domain name)") from None
    local = unicodedata.normalize("NFC", lower_simple(unicodedata.normalize("NFC", result.local_part)))
    return Address(key=f"{local}@{domain}", display=result.normalized)


def normalize(value: str) -> str:
    """The table key of an address already known to be valid (e.g. from a queued job)."""
    return parse_address(value).key
