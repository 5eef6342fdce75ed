"""Classes of bad input, tried on every route they apply to: each is a clear 4xx problem document
with the headers the spec promises, never a 500 and never the framework's own error body."""

from __future__ import annotations

import json
from types import ModuleType

import handle_login
import handle_password_reset
import handle_register
import handle_session
import handle_verify_email
import pytest

from tests.expected import RATE_LIMIT_HEADERS
from tests.handlers.conftest import api_event, invoke
from tests.handlers.test_http import assert_problem

# Every POST route: (handler module, sample event in events/).
POST_ROUTES = {
    "register": (handle_register, "register"),
    "verify-email": (handle_verify_email, "verify_email"),
    "verify-email/resend": (handle_verify_email, "verify_email_resend"),
    "password-reset": (handle_password_reset, "password_reset"),
    "password-reset/confirm": (handle_password_reset, "password_reset_confirm"),
    "login": (handle_login, "login"),
    "refresh": (handle_session, "refresh"),
    "logout": (handle_session, "logout"),
}
# The routes with a per-IP limit: every answer carries RateLimit-* (spec section 2, v2).
RATE_LIMITED = ["register", "verify-email", "verify-email/resend", "password-reset", "password-reset/confirm", "login"]


def _route(name: str) -> tuple[ModuleType, str]:
    return POST_ROUTES[name]


def nested_arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    ("route", "raw_body"),
    [(route, nested_arrays(5000)) for route in sorted(POST_ROUTES)]
    + [(route, nested_objects(2700)) for route in sorted(POST_ROUTES)]
    + [
        pytest.param("register", '{"email": ' + nested_arrays(32) + "}", id="33-levels"),
        pytest.param("register", '{"a": ' * 100_000, id="unclosed-100k"),
    ],
)
def test_deep_nesting_is_a_400_problem_on_every_post_route(aws, route, raw_body):
    module, event = _route(route)
    body = assert_problem(invoke(module, api_event(event, raw_body=raw_body[:16 * 1024])), 400, "malformed_request")
    assert "Traceback" not in json.dumps(body)


def test_32_levels_are_still_parsed_and_validated(aws):
    """The limit is 32 levels: a body at exactly 32 reaches validation (422), not the nesting refusal."""
    module, event = _route("login")
    raw = '{"email": "ada@example.com", "password": ' + nested_arrays(31) + "}"
    assert_problem(invoke(module, api_event(event, raw_body=raw)), 422, "validation_failed")


@pytest.mark.parametrize(
    ("route", "content_type"),
    [(route, "application/merge-patch+json") for route in sorted(POST_ROUTES)]
    + [
        ("login", content_type)
        for content_type in (
            "application/problem+json",
            "application/vnd.api+json",
            "application/json-patch+json",
            "text/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=latin-1",
            "application/jsonx",
        )
    ],
)
def test_any_content_type_but_json_is_a_415_problem(aws, route, content_type):
    module, event = _route(route)
    result = invoke(module, api_event(event, headers={"content-type": content_type}))
    assert_problem(result, 415, "unsupported_media_type")


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON", "application/json; charset=utf-8",
                                          'application/json;charset="UTF-8"'])
def test_json_content_types_are_accepted(aws, content_type):
    module, event = _route("logout")
    assert invoke(module, api_event(event, headers={"content-type": content_type}))[0] == 204


def _assert_rate_limit_headers(headers: dict[str, str]) -> None:
    assert all(name in headers for name in RATE_LIMIT_HEADERS), headers
    assert int(headers["RateLimit-Remaining"]) <= int(headers["RateLimit-Limit"])
    assert int(headers["RateLimit-Reset"]) > 0


@pytest.mark.parametrize("route", RATE_LIMITED)
@pytest.mark.parametrize(
    ("raw_body", "headers", "status"),
    [
        pytest.param("{not json", {}, 400, id="malformed"),
        pytest.param(nested_arrays(40), {}, 400, id="nested"),
        pytest.param("{}", {}, 422, id="invalid"),
        pytest.param("{}", {"content-type": "text/plain"}, 415, id="media-type"),
        pytest.param('{"x": "' + "a" * 17_000 + '"}', {}, 413, id="too-large"),
    ],
)
def test_refusals_before_the_flow_carry_rate_limit_headers(aws, route, raw_body, headers, status):
    module, event = _route(route)
    got_status, got_headers, _ = invoke(module, api_event(event, raw_body=raw_body, headers=headers))
    assert got_status == status
    _assert_rate_limit_headers(got_headers)


def test_refusals_do_not_spend_the_limit_they_report(aws):
    """A refused request reports the counter as it stands; the next real request still counts from there."""
    module, event = _route("register")
    _, first, _ = invoke(module, api_event(event, raw_body="{}", ip="203.0.113.50"))
    _, second, _ = invoke(module, api_event(event, raw_body="{}", ip="203.0.113.50"))
    assert first["RateLimit-Remaining"] == second["RateLimit-Remaining"] == first["RateLimit-Limit"]


def test_flow_errors_carry_rate_limit_headers(aws):
    """Errors raised after the limit was counted: a wrong login (401) and an unknown token (400)."""
    wrong = {"email": "nobody@example.com", "password": "Wrong-Password-123"}
    status, headers, _ = invoke(handle_login, api_event("login", wrong, ip="203.0.113.51"))
    assert status == 401
    _assert_rate_limit_headers(headers)
    assert int(headers["RateLimit-Remaining"]) == int(headers["RateLimit-Limit"]) - 1

    status, headers, _ = invoke(handle_verify_email, api_event("verify_email", {"token": "x" * 43}))
    assert status == 400
    _assert_rate_limit_headers(headers)

    status, headers, _ = invoke(handle_password_reset, api_event("password_reset_confirm",
                                                                 {"token": "y" * 43, "password": "Pass-word-42x"}))
    assert status == 400
    _assert_rate_limit_headers(headers)


def test_lockout_429_reports_the_lockout_window(aws):
    """The lockout's 429 says 0 remaining with the lockout's Retry-After, not the IP limit's numbers."""
    wrong = {"email": "locked@example.com", "password": "Wrong-Password-123"}
    for n in range(5):
        assert invoke(handle_login, api_event("login", wrong, ip=f"203.0.113.{60 + n}"))[0] == 401
    status, headers, _ = invoke(handle_login, api_event("login", wrong, ip="203.0.113.70"))
    assert status == 429
    assert headers["RateLimit-Remaining"] == "0" and headers["RateLimit-Limit"] == "5"
    assert headers["Retry-After"] == headers["RateLimit-Reset"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/auth/login", "POST"),
        ("PUT", "/v1/auth/register", "POST"),
        ("DELETE", "/v1/auth/refresh", "POST"),
        ("PATCH", "/v1/auth/verify-email/resend", "POST"),
        ("POST", "/v1/auth/me", "DELETE, GET, PATCH"),
        ("HEAD", "/.well-known/jwks.json", "GET"),
        ("POST", "/.well-known/openid-configuration", "GET"),
    ],
)
def test_a_known_path_with_another_method_is_405_with_allow(aws, method, path, allow):
    """API Gateway sends undeclared (method, path) pairs to the $default route (SessionFunction)."""
    event = api_event("unknown_route")
    event["routeKey"] = "$default"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event.pop("body", None)
    status, headers, body = invoke(handle_session, event)
    assert_problem((status, headers, body), 405, "method_not_allowed")
    assert headers["Allow"] == allow


@pytest.mark.parametrize("path", ["/v1/auth/nothing", "/v1/auth/login/", "/v1/auth", "/", "/v1/auth/LOGIN"])
def test_an_unknown_path_is_still_404(aws, path):
    event = api_event("unknown_route")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = "GET"
    status, headers, body = invoke(handle_session, event)
    assert_problem((status, headers, body), 404, "not_found")
    assert "Allow" not in headers


@pytest.mark.parametrize("route", ["register", "login", "verify-email/resend", "password-reset"])
@pytest.mark.parametrize("address", ["ada@💩.la", "ada@exa\u200dmple.com", "ada@☃.net"])
def test_an_address_idna_refuses_is_a_422_on_every_route_taking_one(aws, route, address):
    module, event = _route(route)
    body = {"email": address, "password": "Correct-Horse-Battery-9"} if route in ("register", "login") else {
        "email": address}
    problem = assert_problem(invoke(module, api_event(event, body)), 422, "validation_failed")
    assert [error["field"] for error in problem["errors"]] == ["email"]


@pytest.mark.parametrize("event_name", ["jwks", "openid_configuration"])
@pytest.mark.parametrize(
    ("raw_body", "content_type"),
    [("[1]", "application/json"), ("x" * 17_000, "application/json"), ("hello", "text/plain")],
    ids=["not-an-object", "too-large", "media-type"],
)
def test_a_get_route_ignores_any_body(aws, event_name, raw_body, content_type):
    """A GET has no body to check: whatever came with it, the answer is the route's own."""
    status, _, _ = invoke(handle_session, api_event(event_name, raw_body=raw_body, headers={"content-type": content_type}))
    assert status == 200
