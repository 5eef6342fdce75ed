"""Bad input and faults: every refusal is a problem response with the spec's headers, never a 500."""

from __future__ import annotations

import base64
import json

import handle_login
import handle_register
import handle_session
import pytest
from botocore.exceptions import ClientError

from tests.expected import SECURITY_HEADERS
from tests.handlers.conftest import api_event, invoke, load_event


def assert_problem(result, status: int, code: str) -> dict:
    got_status, headers, body = result
    assert (got_status, body["code"]) == (status, code)
    assert headers["Content-Type"] == "application/problem+json"
    assert set(body) >= {"type", "title", "status", "detail", "code"} and body["status"] == status
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value
    return body


@pytest.mark.parametrize(
    ("raw_body", "status", "code"),
    [
        ("{not json", 400, "malformed_request"),
        ("[1, 2]", 400, "malformed_request"),
        ('"a string"', 400, "malformed_request"),
        ("", 400, "malformed_request"),
        (json.dumps({"email": "ada@example.com"}), 422, "validation_failed"),
        (json.dumps({"email": 42, "password": ["x"]}), 422, "validation_failed"),
        (json.dumps({"email": "not-an-address", "password": "Correct-Horse-Battery-9"}), 422, "validation_failed"),
        (json.dumps({"email": "ada@example.com", "password": "Correct-Horse-Battery-9", "admin": True}), 422,
         "validation_failed"),
        (json.dumps({"email": "ada@example.com", "password": "Correct-Horse-Battery-9", "name": "x" * 101}), 422,
         "validation_failed"),
    ],
)
def test_bad_bodies_get_4xx_problems(aws, raw_body, status, code):
    assert_problem(invoke(handle_register, api_event("register", raw_body=raw_body)), status, code)


def test_validation_failed_lists_each_field(aws):
    body = {"email": "not-an-address", "password": "Correct-Horse-Battery-9", "role": "admin"}
    problem = assert_problem(invoke(handle_register, api_event("register", body)), 422, "validation_failed")
    fields = {error["field"]: error["message"] for error in problem["errors"]}
    assert set(fields) == {"email", "role"} and fields["role"] == "unknown field"


def test_body_over_16_kib_is_413(aws):
    big = json.dumps({"email": "ada@example.com", "password": "x" * 17000})
    assert_problem(invoke(handle_register, api_event("register", raw_body=big)), 413, "payload_too_large")


def test_base64_body_is_measured_and_decoded(aws):
    event = api_event("register")
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    assert invoke(handle_register, event)[0] == 202


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_other_content_types_are_415(aws, content_type):
    event = api_event("register", headers={"content-type": content_type})
    assert_problem(invoke(handle_register, event), 415, "unsupported_media_type")


def test_json_with_charset_is_accepted(aws):
    event = api_event("register", headers={"content-type": "application/json; charset=utf-8"})
    assert invoke(handle_register, event)[0] == 202


def test_unknown_route_is_a_404_problem(aws):
    assert_problem(invoke(handle_session, load_event("unknown_route")), 404, "not_found")


def test_cors_header_only_for_listed_origins(aws):
    allowed = invoke(handle_register, api_event("register", headers={"origin": "https://app.example.com"}))
    other = invoke(handle_register, api_event("register", headers={"origin": "https://evil.example"}))
    assert allowed[1]["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Access-Control-Allow-Origin" not in other[1]


def test_dynamodb_throttling_answers_503_with_retry_after(aws, monkeypatch):
    from accounts.repository import Repository

    def throttled(self, *args, **kwargs):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                          "UpdateItem")

    monkeypatch.setattr(Repository, "add_to_counter", throttled)
    status, headers, body = invoke(handle_register, api_event("register"))
    assert_problem((status, headers, body), 503, "service_unavailable")
    assert headers["Retry-After"] == "1" and "slow down" not in json.dumps(body)


def test_unexpected_error_is_a_bare_500(aws, monkeypatch):
    from accounts.repository import Repository

    def broken(self, *args, **kwargs):
        raise RuntimeError("table exploded at /secret/path")

    monkeypatch.setattr(Repository, "add_to_counter", broken)
    body = assert_problem(invoke(handle_register, api_event("register")), 500, "internal_error")
    assert "exploded" not in json.dumps(body) and "Traceback" not in json.dumps(body)


def test_bad_configuration_names_the_variable_in_one_log_line(aws, monkeypatch, caplog):
    from accounts import services, settings

    monkeypatch.setenv("APP_BASE_URL", "http://app.example.com")
    settings.get_settings.cache_clear()
    services.get_services.cache_clear()
    with pytest.raises(settings.ConfigurationError, match="APP_BASE_URL"):
        settings.get_settings()
    [record] = [r for r in caplog.records if "invalid configuration" in r.getMessage()]
    assert "APP_BASE_URL" in record.getMessage()


def test_secrets_never_reach_logs(aws, capsys):
    import handle_verify_email

    from tests.handlers.conftest import drain_emails, token_from

    invoke(handle_register, api_event("register"))
    [email] = drain_emails(aws["queue_url"])
    token = token_from(email)
    invoke(handle_verify_email, api_event("verify_email", {"token": token}))
    login = invoke(handle_login, api_event("login"))[2]
    output = capsys.readouterr()
    logs = output.out + output.err
    for secret in ("Correct-Horse-Battery-9", token, login["refresh_token"], login["access_token"], "$argon2id$"):
        assert secret not in logs
