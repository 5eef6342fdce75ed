"""POST /_local/rotate-signing-key runs the real rotation function; the new key is published at once
and signs only after the publish-ahead period, so tokens issued before and after keep working."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import jwt
import pytest
import requests

from tests.e2e.conftest import Mailbox

pytestmark = pytest.mark.e2e

PASSWORD = "Correct-Horse-Battery-9"


@pytest.fixture(scope="module")
def server(start_local_server: Callable[..., str]) -> str:
    """A server of its own: rotating changes the key set every other test would see."""
    return start_local_server()


def published_kids(base: str) -> list[str]:
    response = requests.get(f"{base}/.well-known/jwks.json", timeout=10)
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert all(not {"d", "p", "q", "dp", "dq", "qi"} & set(key) for key in keys)
    return [key["kid"] for key in keys]


def rotate(base: str) -> dict:
    response = requests.post(f"{base}/_local/rotate-signing-key", timeout=60)
    assert response.status_code == 200, response.text
    assert "PRIVATE" not in response.text
    return response.json()


def test_rotation_publishes_the_new_key_while_the_old_one_keeps_signing(server: str) -> None:
    (first,) = published_kids(server)

    answer = rotate(server)
    assert answer["published_kids"] == [first, answer["new_kid"]]
    assert answer["signing_kid"] == first  # the new key waits for SIGNING_KEY_PUBLISH_AHEAD_SECONDS
    assert published_kids(server) == [first, answer["new_kid"]]

    again = rotate(server)  # within the publish-ahead period: every key stays (signer first, then newest)
    assert again["published_kids"] == [first, again["new_kid"], answer["new_kid"]]
    assert again["signing_kid"] == first
    assert again["new_key_signs_from"] > answer["new_key_signs_from"]


def test_tokens_issued_before_and_after_a_rotation_pass_the_authorizer(server: str) -> None:
    email = f"rotation-{uuid.uuid4().hex[:12]}@example.com"
    mailbox = Mailbox(server)
    registered = requests.post(
        f"{server}/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "Ada"}, timeout=30
    )
    assert registered.status_code == 202, registered.text
    verified = requests.post(
        f"{server}/v1/auth/verify-email", json={"token": mailbox.token(email, "/verify-email")}, timeout=30
    )
    assert verified.status_code == 200, verified.text

    def login() -> str:
        body = {"email": email, "password": PASSWORD}
        response = requests.post(f"{server}/v1/auth/login", json=body, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def me(token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return requests.get(f"{server}/v1/auth/me", headers=headers, timeout=30).status_code

    before = login()
    answer = rotate(server)
    after = login()
    assert jwt.get_unverified_header(after)["kid"] == answer["signing_kid"] != answer["new_kid"]
    assert jwt.get_unverified_header(before)["kid"] in answer["published_kids"]
    assert me(before) == 200
    assert me(after) == 200
