"""Unknown-email logins cost exactly what wrong-password logins cost, from a container's first one:
one argon2 verification with the configured parameters, never an extra hash."""

from __future__ import annotations

import argon2
import pytest

from accounts.passwords import PasswordHasher


class CountingArgon2:
    """Wraps argon2's hasher to count the expensive operations."""

    def __init__(self, inner: argon2.PasswordHasher) -> None:
        self.inner = inner
        self.hashes = 0
        self.verifies = 0

    def hash(self, *args, **kwargs):
        self.hashes += 1
        return self.inner.hash(*args, **kwargs)

    def verify(self, *args, **kwargs):
        self.verifies += 1
        return self.inner.verify(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(memory_kib=1024, time_cost=2, parallelism=1)


def test_first_dummy_verify_of_a_fresh_hasher_is_one_verification_and_no_hash(hasher):
    counting = CountingArgon2(hasher._argon2)
    hasher._argon2 = counting
    hasher.dummy_verify("Whatever-Password-1")
    assert (counting.hashes, counting.verifies) == (0, 1)


def test_dummy_hash_has_the_parameters_real_hashes_have(hasher):
    """Same memory, time and parallelism, so its verification takes the time a real one takes."""
    real = argon2.extract_parameters(hasher.hash("Real-Password-123"))
    assert argon2.extract_parameters(hasher.dummy_hash) == real


def test_no_password_matches_the_dummy_hash(hasher):
    assert hasher.verify(hasher.dummy_hash, "") is False
    assert hasher.verify(hasher.dummy_hash, "Real-Password-123") is False


def test_each_hasher_has_its_own_random_dummy(hasher):
    other = PasswordHasher(memory_kib=1024, time_cost=2, parallelism=1)
    assert hasher.dummy_hash != other.dummy_hash
