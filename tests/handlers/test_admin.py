"""The admin routes through the real handler on moto (events/admin_*.json with an admin's claims, as
the JWT authorizer would pass them), with the session function for what admin actions do to users."""

from __future__ import annotations

import json

import handle_admin
import handle_login
import handle_register
import handle_session
import pytest
import time_machine

from accounts.flows.admin import MAX_REMINDERS, grant_admin
from accounts.services import get_services
from tests.conftest import in_parallel
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

GRACE = "grace@example.com"  # the admin
ADA = "ada@example.com"
ROUTES = ["admin_get_user", "admin_disable", "admin_enable", "admin_revoke_sessions",
          "admin_verification_reminders"]


def log_in(email: str) -> dict:
    status, _, body = invoke(handle_login, api_event("login", {"email": email, "password": PASSWORD}))
    assert status == 200, body
    return body


@pytest.fixture
def admin(aws) -> dict:
    """GRACE with the admin role, logged in: the claims of her access token."""
    verified_account(aws, GRACE, name="Grace")
    grant_admin(get_services().repo, GRACE)
    return verified_claims(log_in(GRACE)["access_token"])


@pytest.fixture
def ada(aws) -> dict:
    """ADA, verified and logged in: {"claims", "tokens"}."""
    verified_account(aws, ADA)
    tokens = log_in(ADA)
    return {"claims": verified_claims(tokens["access_token"]), "tokens": tokens}


def call(name: str, claims: dict, *, ref: str | None = None, body=None, raw_body: str | None = None):
    """An admin route's sample event with these claims, another path parameter and/or body."""
    event = api_event(name, body, raw_body=raw_body)
    event["requestContext"]["authorizer"]["jwt"]["claims"] = claims
    if ref is not None:
        (parameter, old), = event["pathParameters"].items()
        event["pathParameters"] = {parameter: ref}
        event["rawPath"] = event["requestContext"]["http"]["path"] = event["rawPath"].replace(old, ref)
    return invoke(handle_admin, event)


def me(claims: dict):
    event = api_event("me")
    event["requestContext"]["authorizer"]["jwt"]["claims"] = claims
    return invoke(handle_session, event)


def refresh(token: str):
    return invoke(handle_session, api_event("refresh", {"refresh_token": token}))


def events_of(user_id: str) -> list[tuple[str, str | None]]:
    return [(item["type"]["S"], item.get("actor", {}).get("S")) for item in user_partition(user_id, "EVENT#")]


def remind(claims: dict, body: dict):
    return call("admin_verification_reminders", claims, body=body)


def register(email: str) -> None:
    assert invoke(handle_register, api_event("register", {"email": email, "password": PASSWORD}))[0] == 202


# --- who may call --------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_a_token_without_the_admin_scope_is_403_insufficient_scope_on_every_route(ada, route):
    status, headers, body = call(route, ada["claims"])
    assert (status, body["code"]) == (403, "insufficient_scope")
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="accounts:admin"'


def test_an_admin_whose_session_ended_or_who_is_disabled_is_401_and_one_who_lost_the_role_403(admin, ada):
    assert call("admin_get_user", admin)[0] == 200
    grace = admin["sub"]
    # Disabled (by another admin): the token still has the scope, but the user is disabled.
    from accounts.models import Account, User

    for item in (Account(*Account.key(GRACE)), User(*User.key(grace))):
        item.update(actions=[type(item).disabled.set(True)])
    assert call("admin_get_user", admin)[2]["code"] == "unauthorized"
    for item in (Account(*Account.key(GRACE)), User(*User.key(grace))):
        item.update(actions=[type(item).disabled.set(False), type(item).roles.remove()])
    status, _, body = call("admin_get_user", admin)
    assert (status, body["code"]) == (403, "insufficient_scope")


def test_a_logged_out_admin_token_is_401(aws, admin):
    tokens = log_in(GRACE)
    claims = verified_claims(tokens["access_token"])
    assert call("admin_get_user", claims, ref=claims["sub"])[0] == 200
    invoke(handle_session, api_event("logout", {"refresh_token": tokens["refresh_token"]}))
    assert call("admin_get_user", claims, ref=claims["sub"])[2]["code"] == "unauthorized"


def test_the_admin_role_puts_the_scope_in_the_next_login_and_refresh(aws, ada):
    old = ada["tokens"]
    assert "accounts:admin" not in ada["claims"]["scope"]
    grant_admin(get_services().repo, ADA)
    assert "accounts:admin" in verified_claims(refresh(old["refresh_token"])[2]["access_token"])["scope"]
    assert verified_claims(log_in(ADA)["access_token"])["scope"] == "openid profile email accounts:admin"


# --- one user --------------------------------------------------------------------------------------


def test_a_user_by_id_and_by_email_with_status_roles_mfa_and_live_sessions(admin, ada):
    user_id = ada["claims"]["sub"]
    log_in(ADA)  # a second session
    status, _, by_id = call("admin_get_user", admin, ref=user_id)
    assert status == 200
    assert by_id == {"user_id": user_id, "email": ADA, "name": "Ada", "created_at": by_id["created_at"],
                     "email_verified": True, "disabled": False, "roles": [], "mfa_enabled": False,
                     "active_sessions": 2}
    assert call("admin_get_user", admin, ref="ADA@Example.com")[2] == by_id  # an address compares by its key
    assert call("admin_get_user", admin, ref=admin["sub"])[2]["roles"] == ["admin"]
    invoke(handle_session, api_event("logout", {"refresh_token": ada["tokens"]["refresh_token"]}))
    assert call("admin_get_user", admin, ref=user_id)[2]["active_sessions"] == 1


def test_an_unverified_account_is_found_by_email_only(admin):
    register("new@example.com")
    status, _, body = call("admin_get_user", admin, ref="new@example.com")
    assert status == 200 and body["email_verified"] is False and body["active_sessions"] == 0
    assert call("admin_get_user", admin, ref=body["user_id"])[0] == 404  # no User item before verification


@pytest.mark.parametrize("ref", ["nobody@example.com", "0" * 32, "not-an-id", "@", "a@b@c", "F" * 32])
def test_unknown_user_refs_are_404_problems(admin, ref):
    status, headers, body = call("admin_get_user", admin, ref=ref)
    assert (status, body["code"]) == (404, "not_found")
    assert headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("route", ["admin_disable", "admin_enable", "admin_revoke_sessions"])
def test_actions_on_an_unknown_user_are_404(admin, route):
    assert call(route, admin, ref="0" * 32)[2]["code"] == "not_found"


# --- disable, enable, revoke ---------------------------------------------------------------------


def test_disable_stops_refresh_me_and_login_at_once_and_enable_brings_them_back(admin, ada):
    user_id, tokens = ada["claims"]["sub"], ada["tokens"]
    status, _, body = call("admin_disable", admin, ref=user_id)
    assert (status, body) == (200, {"user_id": user_id, "disabled": True})
    assert account_item(ADA)["disabled"] == {"BOOL": True}
    assert refresh(tokens["refresh_token"])[2]["code"] == "invalid_grant"
    assert me(ada["claims"])[2]["code"] == "unauthorized"
    wrong = invoke(handle_login, api_event("login", {"email": ADA, "password": "Wrong-Password-99!"}))
    assert wrong[2]["code"] == "invalid_credentials"  # the password is checked first
    disabled = invoke(handle_login, api_event("login", {"email": ADA, "password": PASSWORD}))
    assert (disabled[0], disabled[2]["code"]) == (403, "account_disabled")
    assert call("admin_get_user", admin, ref=user_id)[2]["disabled"] is True

    assert call("admin_enable", admin, ref=user_id)[2] == {"user_id": user_id, "disabled": False}
    assert me(ada["claims"])[0] == 200
    assert refresh(tokens["refresh_token"])[0] == 200
    assert log_in(ADA)["access_token"]
    admin_events = [event for event in events_of(user_id) if event[0] in ("disabled", "enabled")]
    assert admin_events == [("disabled", admin["sub"]), ("enabled", admin["sub"])]


def test_disabling_twice_records_one_event(admin, ada):
    user_id = ada["claims"]["sub"]
    for _ in range(2):
        assert call("admin_disable", admin, ref=user_id)[2]["disabled"] is True
    assert [kind for kind, _ in events_of(user_id)].count("disabled") == 1


def test_revoke_ends_every_session_of_the_user_and_login_starts_a_new_one(admin, ada):
    user_id = ada["claims"]["sub"]
    second = log_in(ADA)
    status, _, body = call("admin_revoke_sessions", admin, ref=user_id)
    assert (status, body) == (204, None)
    for tokens in (ada["tokens"], second):
        assert refresh(tokens["refresh_token"])[2]["code"] == "invalid_grant"
        assert me(verified_claims(tokens["access_token"]))[2]["code"] == "unauthorized"
    assert call("admin_get_user", admin, ref=user_id)[2]["active_sessions"] == 0
    assert events_of(user_id)[-1] == ("session_revoked", admin["sub"])
    assert me(verified_claims(log_in(ADA)["access_token"]))[0] == 200
    assert call("admin_get_user", admin, ref=admin["sub"])[0] == 200  # the admin's own session is untouched


@pytest.mark.parametrize("raw_body", ['{"reason": "x"}', "[]", ""])
def test_actions_take_an_empty_object_body(admin, ada, raw_body):
    status, _, body = call("admin_disable", admin, ref=ada["claims"]["sub"], raw_body=raw_body)
    assert status in (400, 422) and body["code"] in ("malformed_request", "validation_failed")
    assert "disabled" not in account_item(ADA) or account_item(ADA)["disabled"] == {"BOOL": False}


# --- verification reminders ----------------------------------------------------------------------


def test_reminders_send_a_fresh_link_to_unverified_accounts_only(aws, admin, ada):
    register("new@example.com")
    [first] = drain_emails(aws["queue_url"])
    status, _, body = remind(admin, {"emails": ["new@example.com", ADA, "nobody@example.com", "NEW@example.com"]})
    assert (status, body) == (202, {"queued": 1, "more": False})
    [reminder] = drain_emails(aws["queue_url"])
    assert reminder["to"] == ["new@example.com"] and "Reminder" in reminder["subject"]
    assert token_from(reminder) != token_from(first)
    import handle_verify_email

    assert invoke(handle_verify_email, api_event("verify_email", {"token": token_from(first)}))[0] == 400
    assert invoke(handle_verify_email, api_event("verify_email", {"token": token_from(reminder)}))[0] == 200


def test_at_most_one_reminder_per_account_per_24_hours(aws, admin):
    with time_machine.travel("2026-03-01 10:00:00+00:00", tick=False) as traveller:
        tokens = log_in(GRACE)  # a session that outlives the day

        def claims() -> dict:  # a fresh access token of that session, as a client would hold
            tokens.update(refresh(tokens["refresh_token"])[2])
            return verified_claims(tokens["access_token"])

        register("new@example.com")
        drain_emails(aws["queue_url"])
        assert remind(claims(), {"emails": ["new@example.com"]})[2]["queued"] == 1
        traveller.shift(23 * 3600)
        assert remind(claims(), {"emails": ["new@example.com"]})[2]["queued"] == 0
        assert remind(claims(), {"registered_before": "2026-03-02T10:00:00Z"})[2]["queued"] == 0
        traveller.shift(3600)
        assert remind(claims(), {"emails": ["new@example.com"]})[2]["queued"] == 1
        # (drained within the travel: back in the present, SQS's retention would have dropped them)
        assert len(drain_emails(aws["queue_url"])) == 2


def test_parallel_reminder_requests_send_one_reminder_per_account(aws, admin):
    addresses = [f"new{n}@example.com" for n in range(5)]
    for address in addresses:
        register(address)
    drain_emails(aws["queue_url"])
    answers = in_parallel(4, lambda: remind(admin, {"emails": addresses}))
    assert all(status == 202 for status, _, _ in answers)
    assert sum(answer[2]["queued"] for answer in answers) == 5  # each account claimed by one request
    assert sorted(email["to"][0] for email in drain_emails(aws["queue_url"])) == addresses


def test_registered_before_reminds_the_older_unverified_accounts(aws, admin):
    with time_machine.travel("2026-03-01 10:00:00+00:00", tick=False) as traveller:
        register("old@example.com")
        traveller.shift(3600)
        register("young@example.com")
        drain_emails(aws["queue_url"])
        claims = verified_claims(log_in(GRACE)["access_token"])
        body = remind(claims, {"registered_before": "2026-03-01T10:30:00+00:00"})[2]
        assert body == {"queued": 1, "more": False}
        assert [email["to"] for email in drain_emails(aws["queue_url"])] == [["old@example.com"]]


def test_a_reminder_request_over_the_cap_is_422_naming_the_cap_and_answers_at_once(admin):
    addresses = [f"u{n}@x.io" for n in range(MAX_REMINDERS + 1)]
    status, _, body = remind(admin, {"emails": addresses})
    assert (status, body["code"]) == (422, "validation_failed")
    assert body["errors"] == [{"field": "emails", "message": "at most 100 addresses per request (got 101)"}]
    # However long the list (10,000 addresses are ~250 KB; this route takes bodies up to 1 MiB, so
    # the answer can name the cap), it is refused by its length, before any address is checked.
    status, _, body = remind(admin, {"emails": [f"user{n}@example.com" for n in range(10_000)]})
    assert (status, body["code"]) == (422, "validation_failed")
    assert body["errors"] == [{"field": "emails", "message": "at most 100 addresses per request (got 10000)"}]
    # Above the route's own limit, the usual 413.
    status, _, body = remind(admin, {"emails": ["x" * 1024] * 1100})
    assert (status, body["code"]) == (413, "payload_too_large")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"emails": ["a@example.com"], "registered_before": "2026-01-01T00:00:00Z"},
        {"emails": []},
        {"emails": ["not an address"]},
        {"registered_before": "yesterday"},
        {"registered_before": 1767225600},
        {"registered_before": "2026-01-01T00:00:00"},  # no offset
        {"emails": ["a@example.com"], "extra": 1},
    ],
    ids=["neither", "both", "empty", "bad-address", "not-a-time", "a-number", "no-offset", "unknown-field"],
)
def test_reminder_bodies_must_name_exactly_one_well_formed_selection(admin, body):
    status, _, answer = remind(admin, body)
    assert (status, answer["code"]) == (422, "validation_failed"), answer


def test_sample_events_are_what_sam_local_invoke_sends(aws):
    """Each events/admin_*.json runs as is: the sample admin does not exist, so the handler refuses it
    after checking the claims (401), the way a deployed function would."""
    for name in ROUTES:
        status, _, body = invoke(handle_admin, api_event(name))
        assert (status, body["code"]) == (401, "unauthorized"), name
        assert json.loads(api_event(name).get("body") or "{}") is not None
