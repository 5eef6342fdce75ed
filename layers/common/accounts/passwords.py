"""Passwords: argon2id hashing and the password policy.

Every password is NFKC-normalized before it is checked or hashed, so the same password typed with
compatibility characters (full-width digits, ligatures, ...) is the same password.

argon2-cffi is imported with this module (every function that has this module hashes or verifies
on its requests: deferring the import would only move its cost into the first request); the
common-password list is read on the first policy check.

The common-password check also sees through costumes (spec section 3, Passwords, v2): a password
is refused when one of its undecorated forms, the password lower-cased, with leading and trailing
digits, symbols and whitespace taken off and common substitutions undone, is a listed password or
word. Only the whole undecorated password is compared, never a part of it, so a passphrase that
contains listed words ("correct horse battery staple") passes.
"""

from __future__ import annotations

import base64
import functools
import secrets
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import low_level as argon2_low_level
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

if TYPE_CHECKING:  # pragma: no cover
    from accounts.settings import Settings

MAX_LENGTH = 128
LOCAL_PART_MIN_LENGTH = 3
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
# Every list entry is 4-32 characters (scripts/make_common_passwords.py keeps only those): a core
# outside these lengths cannot match, so only cores within them are looked up. The lower bound
# also keeps a random string from being refused for holding a two- or three-letter word.
SHORTEST_ENTRY = 4
LONGEST_ENTRY = 32
# Upper bound on the forms looked up for one password. A password of at most MAX_LENGTH
# characters never reaches it (at most about MAX_LENGTH * LONGEST_ENTRY forms, for one made only
# of symbols); it bounds the work for the over-long input that is refused anyway.
MAX_FORMS = 4096

# Common substitutions, undone by mapping each character to the letter it stands for. A character
# that may stand for two letters ("1" for l or i) would make every combination a variant to try:
# 3^n of them for n ones. Instead the letters it stands for share one class ("i", "l", "1", "!"
# and "|" all become "l"), and both the list entries and the password are compared in this folded
# form: one lookup per core covers every combination, including keeping the digit ("trustno1").
_STANDS_FOR = {
    "a": "@4", "b": "8", "c": "(", "e": "3", "g": "69", "h": "#", "l": "i1!|", "o": "0", "s": "$5",
    "t": "7+", "z": "2",
}
_SUBSTITUTES = "".join(_STANDS_FOR.values())
_LETTERS = "".join(letter * len(substitutes) for letter, substitutes in _STANDS_FOR.items())
_FOLD = str.maketrans(_SUBSTITUTES, _LETTERS)
_FOLD_BYTES = bytes.maketrans(_SUBSTITUTES.encode("ascii"), _LETTERS.encode("ascii"))

FIELD = "password"
MSG_TOO_SHORT = "Must be at least {min_length} characters long."
MSG_TOO_LONG = f"Must be at most {MAX_LENGTH} characters long."
MSG_NO_LOWER = "Must contain at least one lower-case letter."
MSG_NO_UPPER = "Must contain at least one upper-case letter."
MSG_NO_DIGIT = "Must contain at least one digit."
MSG_NO_SYMBOL = "Must contain at least one symbol (a character that is not a letter or digit)."
MSG_COMMON = "Is too common; choose a password that is not on lists of frequently used passwords."
MSG_CONTAINS_EMAIL = "Must not contain your email address or the part of it before the @."


def normalize(password: str) -> str:
    """The form every password is checked and hashed in (Unicode NFKC)."""
    return unicodedata.normalize("NFKC", password)


class PasswordHasher:
    """argon2id with fixed parameters; verification never raises for a wrong password or a bad hash."""

    def __init__(self, memory_kib: int, time_cost: int, parallelism: int) -> None:

        self.memory_kib = memory_kib
        self.time_cost = time_cost
        self.parallelism = parallelism
        self._argon2 = Argon2Hasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self.dummy_hash = self._make_dummy_hash()

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordHasher:
        return cls(settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism)

    def __repr__(self) -> str:
        return (
            f"PasswordHasher(memory_kib={self.memory_kib}, time_cost={self.time_cost}, "
            f"parallelism={self.parallelism})"
        )

    def hash(self, password: str) -> str:
        """An argon2id PHC string of the normalized password, with a fresh random salt."""
        return self._argon2.hash(normalize(password))

    def verify(self, stored_hash: str, password: str) -> bool:
        """True if the password matches; False on a mismatch and on a missing, invalid or garbled hash."""

        if not isinstance(stored_hash, str) or not stored_hash or not isinstance(password, str):
            return False
        try:
            return self._argon2.verify(stored_hash, normalize(password))
        except (VerificationError, InvalidHashError):
            return False
        except (ValueError, TypeError):  # anything else the hash string can provoke
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True if the hash was made with other parameters (or another variant) than this hasher's."""

        try:
            return self._argon2.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError, TypeError):
            return True

    def _make_dummy_hash(self) -> str:
        """A well-formed argon2id hash with this hasher's parameters, a random salt and a random
        digest: verifying any password against it costs one real verification and fails (a match
        would need a 256-bit collision). Being assembled, not computed, it costs no argon2 run, so
        the container's first unknown-email login is not slower than the ones after it."""
        salt, digest = (base64.b64encode(secrets.token_bytes(n)).decode().rstrip("=") for n in (16, 32))
        return (f"$argon2id$v={argon2_low_level.ARGON2_VERSION}$m={self.memory_kib},t={self.time_cost},"
                f"p={self.parallelism}${salt}${digest}")

    def dummy_verify(self, password: str) -> None:
        """Spend the time of one verification, for a login with an unknown email."""
        self.verify(self.dummy_hash, password)


def fold(text: str) -> str:
    """The text with common substitutions undone (see _FOLD); one character for one, so slices line up."""
    return text.translate(_FOLD)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords and words, each in its folded form, read on first use.

    The file (one entry a line, under '#' comment lines at the top) is folded as bytes in one pass,
    which keeps loading its 90,000 entries about as cheap as reading them (a third of the time of
    folding line by line). That is safe for UTF-8: the substitutions are all ASCII, and no byte of
    a multi-byte character is ASCII.
    """
    data = COMMON_PASSWORDS_FILE.read_bytes()
    while data.startswith(b"#"):
        data = data.partition(b"\n")[2]
    return frozenset(data.translate(_FOLD_BYTES).decode("utf-8").split("\n")) - {""}


def undecorated_forms(password: str) -> Iterator[str]:
    """The folded forms of the password that are compared with the list, the whole password first.

    The password (NFKC, lower-cased) minus a leading and a trailing run of decoration: for a
    password with letters, any digits, symbols and whitespace before the first letter and after
    the last ("1234Password!", "$unsh1ne!": the "$" is kept in one form and read as an "s");
    for one without letters, only symbols and whitespace ("!!123456789!!"), since taking digits
    off a string of digits would leave a random part of it. Every split of each run is a form:
    "Password123!" gives "password123!", "password123", ..., "password". Forms outside the list's
    lengths are skipped, so there are at most (LONGEST_ENTRY + 1)^2 forms for a password with letters.
    """
    lowered = normalize(password).lower()
    folded = fold(lowered)
    yield folded

    kept = str.isalpha if any(char.isalpha() for char in lowered) else str.isalnum
    length = len(lowered)
    first = next((index for index, char in enumerate(lowered) if kept(char)), length)
    last = next((index for index in range(length, 0, -1) if kept(lowered[index - 1])), 0)
    produced = 1
    # start/end: where a core may begin (within the leading run) and end (within the trailing run).
    for start in range(max(0, last - LONGEST_ENTRY), first + 1):
        for end in range(max(last, start + SHORTEST_ENTRY), min(length, start + LONGEST_ENTRY) + 1):
            if produced >= MAX_FORMS:
                return
            produced += 1
            yield folded[start:end]


def is_common(password: str) -> bool:
    """True if the password, or one of its undecorated forms, is a listed password or word."""
    listed = common_passwords()
    return any(form in listed for form in undecorated_forms(password))


def _email_local_part(email: str) -> str:
    local, at, _domain = email.strip().rpartition("@")
    return normalize(local if at else email.strip()).lower()


def check_policy(
    password: str,
    email: str,
    *,
    min_length: int,
    require_character_classes: bool,
) -> list[dict[str, str]]:
    """Every rule the password breaks, as {"field": "password", "message": ...}; an empty list means OK.

    The messages are meant for the user and never contain the password.
    """
    candidate = normalize(password)
    problems: list[str] = []

    if len(candidate) < min_length:
        problems.append(MSG_TOO_SHORT.format(min_length=min_length))
    if len(candidate) > MAX_LENGTH:
        problems.append(MSG_TOO_LONG)

    if require_character_classes:
        if not any(char.islower() for char in candidate):
            problems.append(MSG_NO_LOWER)
        if not any(char.isupper() for char in candidate):
            problems.append(MSG_NO_UPPER)
        if not any(char.isdigit() for char in candidate):
            problems.append(MSG_NO_DIGIT)
        if not any(not char.isalnum() for char in candidate):
            problems.append(MSG_NO_SYMBOL)

    if is_common(candidate):
        problems.append(MSG_COMMON)

    local_part = _email_local_part(email or "")
    if len(local_part) >= LOCAL_PART_MIN_LENGTH and local_part in candidate.lower():
        problems.append(MSG_CONTAINS_EMAIL)

    return [{"field": FIELD, "message": message} for message in problems]


def require_policy(password: str, email: str, settings: Settings) -> None:
    """Raise WeakPassword listing every unmet rule of the configured policy."""
    from accounts.errors import WeakPassword

    problems = check_policy(
        password,
        email,
        min_length=settings.password_min_length,
        require_character_classes=settings.password_require_character_classes,
    )
    if problems:
        raise WeakPassword(errors=problems)
