"""The self-service routes through the real AccountFunction handler on moto (events/account_*.json with
the claims the JWT authorizer would pass), with the worker sending the emails."""

from __future__ import annotations

import handle_account
import handle_login
import handle_session
import pytest
import time_machine

from tests.expected import SECURITY_HEADERS
from tests.handlers.conftest import (
    PASSWORD,
    account_item,
    api_event,
    drain_emails,
    invoke,
    token_from,
    verified_account,
)
from tests.handlers.test_sessions import user_partition, verified_claims

ADA = "ada@example.com"
NEW = "ada@example.org"
NEW_PASSWORD = "Xyzzy-Quux-2048!"
OTHER_UA = "Other browser/1.0"


def log_in(email: str = ADA, password: str = PASSWORD, user_agent: str | None = None) -> dict:
    status, _, body = invoke(handle_login, api_event("login", {"email": email, "password": password},
                                                     user_agent=user_agent))
    assert status == 200, body
    return body


def call(name: str, tokens: dict | None, body=None, *, session_id: str | None = None, query: dict | None = None):
    event = api_event(name, body)
    if tokens is not None:
        event["requestContext"]["authorizer"]["jwt"]["claims"] = verified_claims(tokens["access_token"])
    if session_id is not None:
        event["pathParameters"] = {"session_id": session_id}
        event["rawPath"] = event["requestContext"]["http"]["path"] = f"/v1/auth/sessions/{session_id}"
    if query:
        event["queryStringParameters"] = query
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    return invoke(handle_account, event)


def me(tokens: dict):
    event = api_event("me")
    event["requestContext"]["authorizer"]["jwt"]["claims"] = verified_claims(tokens["access_token"])
    return invoke(handle_session, event)


def refresh(tokens: dict):
    return invoke(handle_session, api_event("refresh", {"refresh_token": tokens["refresh_token"]}))


@pytest.fixture
def ada(aws) -> dict:
    verified_account(aws, ADA)
    return log_in()


ROUTES_WITH_TOKEN = [
    ("account_update_me", {"name": "Ada"}),
    ("account_delete_me", {"password": PASSWORD}),
    ("account_change_password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    ("account_change_email", {"new_email": NEW, "password": PASSWORD}),
    ("account_sessions", None),
    ("account_revoke_session", None),
    ("account_events", None),
]


@pytest.mark.parametrize(("name", "body"), ROUTES_WITH_TOKEN)
def test_every_route_refuses_a_revoked_session(ada, name: str, body) -> None:
    invoke(handle_session, api_event("logout", {"refresh_token": ada["refresh_token"]}))
    status, headers, problem = call(name, ada, body)
    assert status == 401 and problem["code"] == "unauthorized"
    assert headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    for header, value in SECURITY_HEADERS.items():
        assert headers[header] == value


def test_patch_me_answers_the_profile_and_get_me_sees_it(ada) -> None:
    status, _, body = call("account_update_me", ada, {"name": "  Ada King "})
    assert status == 200 and body["name"] == "Ada King" and body["email"] == ADA
    assert set(body) == {"user_id", "email", "email_verified", "name", "created_at", "mfa_enabled", "roles"}
    assert me(ada)[2]["name"] == "Ada King"
    assert account_item(ADA)["name"]["S"] == "Ada King"


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "x" * 101}, {"name": "Ada", "email": "x@y.z"}])
def test_patch_me_validates_the_name(ada, body) -> None:
    status, _, problem = call("account_update_me", ada, body)
    assert status == 422 and problem["code"] == "validation_failed"


def test_change_password_keeps_the_callers_session_and_ends_the_others(aws, ada) -> None:
    other = log_in(user_agent=OTHER_UA)
    status, _, body = call("account_change_password", ada, {"current_password": PASSWORD,
                                                            "new_password": NEW_PASSWORD})
    assert status == 200 and body == {"password_changed": True}
    assert me(ada)[0] == 200 and refresh(ada)[0] == 200
    assert me(other)[0] == 401 and refresh(other)[0] == 401
    log_in(password=NEW_PASSWORD)
    [notice] = drain_emails(aws["queue_url"])
    assert notice["to"] == [ADA] and "password was changed" in notice["subject"]


def test_change_password_with_a_wrong_current_one_is_401_invalid_credentials(ada) -> None:
    status, headers, problem = call("account_change_password", ada, {"current_password": "Wrong-Password-99!",
                                                                     "new_password": NEW_PASSWORD})
    assert status == 401 and problem["code"] == "invalid_credentials"
    assert headers["WWW-Authenticate"] == "Bearer"  # a 401 always has a challenge; the token was fine


def test_change_password_applies_the_policy(ada) -> None:
    status, _, problem = call("account_change_password", ada, {"current_password": PASSWORD,
                                                               "new_password": "Password123!"})
    assert status == 422 and problem["code"] == "weak_password"


def test_sessions_list_and_revoke(ada) -> None:
    other = log_in(user_agent=OTHER_UA)
    status, _, body = call("account_sessions", ada)
    assert status == 200
    listed = {s["session_id"]: s for s in body["sessions"]}
    mine, theirs = verified_claims(ada["access_token"])["sid"], verified_claims(other["access_token"])["sid"]
    assert set(listed) == {mine, theirs} and listed[mine]["current"] and not listed[theirs]["current"]
    assert listed[theirs]["user_agent"] == OTHER_UA
    status, _, body = call("account_revoke_session", ada, session_id=theirs)
    assert status == 204 and body is None
    assert refresh(other)[0] == 401 and me(other)[0] == 401
    assert [s["session_id"] for s in call("account_sessions", ada)[2]["sessions"]] == [mine]


def test_revoking_an_unknown_or_foreign_session_is_204_and_changes_nothing(aws, ada) -> None:
    verified_account(aws, "grace@example.com")
    grace = log_in("grace@example.com")
    for session_id in ("0" * 32, verified_claims(grace["access_token"])["sid"], "zz"):
        assert call("account_revoke_session", ada, session_id=session_id)[0] == 204
    assert me(grace)[0] == 200 and refresh(grace)[0] == 200


def test_revoking_the_current_session_is_a_logout(ada) -> None:
    sid = verified_claims(ada["access_token"])["sid"]
    assert call("account_revoke_session", ada, session_id=sid)[0] == 204
    assert me(ada)[0] == 401 and refresh(ada)[0] == 401


def test_events_page_with_a_cursor(ada) -> None:
    for _ in range(2):
        log_in()
    status, _, body = call("account_events", ada, query={"limit": "2"})
    assert status == 200 and [e["type"] for e in body["events"]] == ["login", "login"] and body["next"]
    status, _, body = call("account_events", ada, query={"limit": "2", "cursor": body["next"]})
    assert status == 200 and [e["type"] for e in body["events"]] == ["login"] and body["next"] is None


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"cursor": "bogus"}])
def test_events_refuse_bad_query_parameters(ada, query) -> None:
    status, _, problem = call("account_events", ada, query=query)
    assert status == 422 and problem["code"] == "validation_failed"


def test_email_change_end_to_end_through_the_handlers(aws, ada) -> None:
    status, _, body = call("account_change_email", ada, {"new_email": NEW, "password": PASSWORD})
    assert status == 202 and body["message"]
    [link] = drain_emails(aws["queue_url"])
    assert link["to"] == [NEW] and "/confirm-email?token=" in link["text"]
    event = api_event("account_confirm_email", {"token": token_from(link)})
    status, headers, body = invoke(handle_account, event)
    assert status == 200 and body["email"] == NEW
    assert "RateLimit-Limit" in headers
    assert me(ada)[2]["email"] == NEW  # the session stays
    [notice] = drain_emails(aws["queue_url"])
    assert notice["to"] == [ADA] and "changed" in notice["subject"]
    log_in(NEW)
    assert account_item(ADA) == {}
    status, _, problem = invoke(handle_account, event)
    assert status == 400 and problem["code"] == "invalid_token"


def test_email_change_answers_the_same_when_the_address_is_taken(aws, ada) -> None:
    free = call("account_change_email", ada, {"new_email": NEW, "password": PASSWORD})
    drain_emails(aws["queue_url"])
    verified_account(aws, "grace@example.com")
    taken = call("account_change_email", ada, {"new_email": "grace@example.com", "password": PASSWORD})
    assert free[0] == taken[0] == 202 and free[2] == taken[2]
    [notice] = drain_emails(aws["queue_url"])
    assert notice["to"] == ["grace@example.com"] and "sign up" in notice["subject"]


def test_confirm_email_needs_no_token_and_refuses_unknown_ones(aws) -> None:
    status, _, problem = invoke(handle_account, api_event("account_confirm_email", {"token": "x" * 43}))
    assert status == 400 and problem["code"] == "invalid_token"


def test_delete_me_removes_everything_and_the_address_registers_again(aws, ada) -> None:
    user_id = verified_claims(ada["access_token"])["sub"]
    status, _, problem = call("account_delete_me", ada, {"password": "Wrong-Password-99!"})
    assert status == 401 and problem["code"] == "invalid_credentials"
    status, _, body = call("account_delete_me", ada, {"password": PASSWORD})
    assert status == 204 and body is None
    assert all(user_partition(user_id, prefix) == [] for prefix in "EMPS") and account_item(ADA) == {}
    assert me(ada)[0] == 401 and refresh(ada)[0] == 401
    [notice] = drain_emails(aws["queue_url"])
    assert notice["to"] == [ADA] and "deleted" in notice["subject"]
    verified_account(aws, ADA)
    log_in()


def test_get_sessions_costs_one_dynamodb_call(ada) -> None:
    from accounts.services import get_services

    calls: list[str] = []
    client = get_services().repo._client()
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    try:
        assert call("account_sessions", ada)[0] == 200
    finally:
        client.meta.events.unregister("before-call.dynamodb")
    assert calls == ["Query"]


def test_an_email_change_link_expires_after_an_hour(aws) -> None:
    with time_machine.travel("2026-03-01 10:00:00+00:00", tick=False) as traveller:
        verified_account(aws, ADA)
        tokens = log_in()
        assert call("account_change_email", tokens, {"new_email": NEW, "password": PASSWORD})[0] == 202
        token = token_from(drain_emails(aws["queue_url"])[0])
        traveller.shift(3601)
        status, _, problem = invoke(handle_account, api_event("account_confirm_email", {"token": token}))
        assert (status, problem["code"]) == (410, "token_expired")
        assert account_item(ADA) != {} and account_item(NEW) == {}
