"""Opaque tokens sent by email and used as refresh tokens."""

from __future__ import annotations

import hashlib
import re

import pytest

from accounts import tokens
from accounts.tokens import hash_token, is_expired, looks_like_token, new_token


def test_new_token_is_43_urlsafe_chars_encoding_256_bits() -> None:
    token = new_token()
    assert len(token) == 43  # ceil(256 / 6) base64 characters, no padding
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)


def test_new_token_is_unique_across_many_draws() -> None:
    assert len({new_token() for _ in range(2000)}) == 2000


def test_hash_token_is_hex_sha256_of_the_utf8_token() -> None:
    token = new_token()
    digest = hash_token(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)


def test_hash_token_is_deterministic_and_distinguishes_tokens() -> None:
    assert hash_token("abc") == hash_token("abc")
    assert hash_token("abc") != hash_token("abd")
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_is_expired_boundary_expired_exactly_at_expires_at() -> None:
    assert is_expired(1000, 999) is False
    assert is_expired(1000, 1000) is True
    assert is_expired(1000, 1001) is True


def test_looks_like_token_accepts_generated_tokens() -> None:
    assert all(looks_like_token(new_token()) for _ in range(100))


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "short",
        "a" * 42,
        "a" * 129,
        "a" * 42 + "=",
        "a" * 42 + "/",
        "a" * 42 + " ",
        "a" * 43 + "\n",
        "ä" * 43,
        None,
        12345,
    ],
    ids=["empty", "short", "42", "129", "padding", "slash", "space", "newline", "non-ascii", "none", "int"],
)
def test_looks_like_token_refuses_junk(junk: object) -> None:
    assert looks_like_token(junk) is False


# --- refresh tokens ------------------------------------------------------------------------------

SECRET = bytes(range(32))
CLAIMS = tokens.RefreshClaims(user_id="a" * 32, session_id="b" * 32, generation=7)


def test_a_refresh_token_round_trips_and_is_deterministic():
    token = tokens.refresh_token(SECRET, CLAIMS)
    assert tokens.read_refresh_token(SECRET, token) == CLAIMS
    assert tokens.refresh_token(SECRET, CLAIMS) == token  # derived, so parallel refreshes converge
    assert tokens.looks_like_token(token) and len(token) == 92


def test_a_refresh_token_is_bound_to_its_generation_and_session():
    assert tokens.refresh_token(SECRET, CLAIMS) != tokens.refresh_token(
        SECRET, tokens.RefreshClaims(CLAIMS.user_id, CLAIMS.session_id, CLAIMS.generation + 1))
    assert tokens.refresh_token(SECRET, CLAIMS) != tokens.refresh_token(
        SECRET, tokens.RefreshClaims(CLAIMS.user_id, "c" * 32, CLAIMS.generation))


def test_a_refresh_token_under_another_secret_or_altered_is_refused():
    token = tokens.refresh_token(SECRET, CLAIMS)
    assert tokens.read_refresh_token(bytes(32), token) is None
    for position in (0, 5, 40, 91):
        altered = token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1:]
        assert tokens.read_refresh_token(SECRET, altered) is None


@pytest.mark.parametrize("value", [None, 17, "", "x" * 43, "x" * 92, "x" * 200, "é" * 92, tokens.new_token()])
def test_anything_but_a_refresh_token_reads_as_none(value):
    assert tokens.read_refresh_token(SECRET, value) is None
