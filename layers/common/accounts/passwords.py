"""Passwords: argon2id hashing and the password policy.

Every password is NFKC-normalized before it is checked or hashed, so the same password typed with
compatibility characters (full-width digits, ligatures, ...) is the same password.

argon2-cffi is imported with this module (every function that has this module hashes or verifies
on its requests: deferring the import would only move its cost into the first request); the
common-password list is read on the first policy check.
"""

from __future__ import annotations

import functools
import secrets
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

if TYPE_CHECKING:  # pragma: no cover
    from accounts.settings import Settings

MAX_LENGTH = 128
LOCAL_PART_MIN_LENGTH = 3
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")

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
        self._dummy_hash: str | None = None

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

    def dummy_verify(self, password: str) -> None:
        """Spend the time of one verification, for a login with an unknown email.

        The dummy hash is made once per hasher, on first use, from a random value and with this
        hasher's parameters, so it costs exactly what verifying a real user's hash costs.
        """
        if self._dummy_hash is None:
            self._dummy_hash = self._argon2.hash(secrets.token_urlsafe(32))
        self.verify(self._dummy_hash, password)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped common-password list (lower-case, NFKC), read on first use."""
    with COMMON_PASSWORDS_FILE.open(encoding="utf-8") as lines:
        return frozenset(
            word for word in (line.strip() for line in lines) if word and not word.startswith("#")
        )


def is_common(password: str) -> bool:
    """True if the password, compared case-insensitively in its NFKC form, is on the common list."""
    return normalize(password).lower() in common_passwords()


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

    lowered = candidate.lower()
    if lowered in common_passwords():
        problems.append(MSG_COMMON)

    local_part = _email_local_part(email or "")
    if len(local_part) >= LOCAL_PART_MIN_LENGTH and local_part in lowered:
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
