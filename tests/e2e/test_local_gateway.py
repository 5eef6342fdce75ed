"""The local server's API Gateway emulation, on the fake application: template parsing, routing, the
events it builds, response conversion, CORS and the JWT authorizer."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from local.template import Template
from tests.e2e.fake_app import ALLOWED, echo
from tests.e2e.helpers import assert_problem, raw_request

pytestmark = pytest.mark.e2e


# ---------------------------------------------------------------------------- template parsing


def test_template_parse_of_the_fake(fake_template: Path) -> None:
    template = Template(fake_template)
    keys = [route.route_key for route in template.routes]
    assert keys == [
        "POST /echo",
        "GET /things/{id}",
        "ANY /files/{path+}",
        "GET /private",
        "POST /token",
        "POST /enqueue",
        "GET /boom",
        "GET /binary",
        "GET /queues",
        "$default",
    ]
    assert [r.authorizer for r in template.routes if r.authorizer] == ["Jwt"]
    assert template.mailer_function is not None and template.mailer_function.logical_id == "WorkerFunction"
    assert template.cleanup_function is not None and template.cleanup_function.logical_id == "JanitorFunction"
    cors = template.cors
    assert (
        cors is not None and cors.allow_origins == (ALLOWED, "https://other.example") and cors.max_age == 300
    )
    template.parameters["CorsAllowedOrigins"] = ""
    assert template.cors is None  # the !If falls to AWS::NoValue
    definition = template.table_definition
    assert definition is not None
    assert definition["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert definition["GlobalSecondaryIndexes"][0]["IndexName"] == "sparse"
    assert definition["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}


def test_template_environment_resolution(fake_template: Path) -> None:
    template = Template(fake_template, region="eu-west-1")
    environment = template.environment(
        {"JWT_ISSUER": "https://issuer.example"}, local_defaults={"EMAIL_FROM": "a@b.c"}
    )
    assert environment["GREETING"] == "hello from eu-west-1"
    assert environment["JWT_AUDIENCE"] == "fake-audience"
    assert environment["JWT_ISSUER"] == "https://issuer.example"
    assert environment["EMAIL_FROM"] == "a@b.c"
    assert environment["TABLE_ARN"].startswith("arn:aws:dynamodb:eu-west-1:")
    assert environment["CORS_ALLOWED_ORIGINS"] == "https://allowed.example,https://other.example"


# ---------------------------------------------------------------------------- routes and events


def test_fake_routes_are_served(fake_app: str, fake_template: Path) -> None:
    served = requests.get(f"{fake_app}/_local/routes", timeout=10).json()
    assert served == [route.as_dict() for route in Template(fake_template).routes]


def test_event_is_an_http_api_v2_event(fake_app: str) -> None:
    status, _, body = raw_request(
        fake_app,
        "POST",
        "/echo?b=2&a=1&a=3",
        [
            ("Host", "api.local.test:8080"),
            ("Content-Type", "application/json"),
            ("X-Multi", "one"),
            ("X-Multi", "two"),
            ("Cookie", "c1=v1; c2=v2"),
            ("X-Forwarded-For", "203.0.113.9"),
            ("User-Agent", "e2e-test"),
        ],
        b'{"hello": "world"}',
    )
    assert status == 200
    event = json.loads(body)["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /echo"
    assert event["rawPath"] == "/echo"
    assert event["rawQueryString"] == "b=2&a=1&a=3"
    assert event["queryStringParameters"] == {"a": "1,3", "b": "2"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["body"] == '{"hello": "world"}' and event["isBase64Encoded"] is False
    headers = event["headers"]
    assert all(name == name.lower() for name in headers)
    assert headers["x-multi"] == "one,two"
    assert headers["content-type"] == "application/json"
    assert "cookie" not in headers
    context = event["requestContext"]
    assert context["http"] == {
        "method": "POST",
        "path": "/echo",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "e2e-test",
    }
    assert context["routeKey"] == "POST /echo" and context["stage"] == "$default"
    assert context["domainName"] == "api.local.test:8080" and context["domainPrefix"] == "api"
    assert context["accountId"] and context["apiId"] and context["requestId"] and context["time"]
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 60
    assert "authorizer" not in context


def test_source_ip_comes_from_the_socket_not_from_headers(fake_app: str) -> None:
    event = echo(fake_app, json={}, headers={"X-Forwarded-For": "198.51.100.7", "X-Real-IP": "198.51.100.8"})[
        "event"
    ]
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"


def test_binary_request_body_is_base64(fake_app: str) -> None:
    payload = bytes([0xFF, 0x00, 0xFE, 0x80])
    event = echo(fake_app, data=payload, headers={"Content-Type": "application/octet-stream"})["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_lambda_context_and_environment(fake_app: str) -> None:
    info = requests.get(f"{fake_app}/_local/info", timeout=10).json()
    result = echo(fake_app, json={})
    env, context = result["env"], result["context"]
    assert env["GREETING"] == "hello from us-east-1"
    assert env["JWT_ISSUER"] == fake_app  # the local issuer
    assert env["JWT_AUDIENCE"] == "audience-from-shell"  # the shell wins over the template default
    assert env["EMAIL_FROM"] == "Fake Sender <sender@fake.example>"
    assert env["AWS_ENDPOINT_URL"] == info["aws_endpoint_url"] and env["AWS_ENDPOINT_URL"].startswith(
        "http://127.0.0.1:"
    )
    assert env["EMAIL_QUEUE_URL"] in info["queues"].values()
    assert env["SIGNING_KEY_SECRET_ID"].startswith("arn:aws:secretsmanager:")
    assert env["TABLE_NAME"] == "table-named-in-the-shell" == info["table"]["name"]
    assert env["TABLE_ARN"].endswith(f"table/{env['TABLE_NAME']}")
    assert [i["IndexName"] for i in info["table"]["global_secondary_indexes"]] == ["sparse"]
    assert info["table"]["ttl"] == {"attribute": "ttl", "status": "ENABLED"}
    assert context["function_name"].endswith("EchoFunction") and context["memory"] == 256
    assert context["arn"].endswith(f":function:{context['function_name']}")
    assert 0 < context["remaining"] <= 5000


def test_path_parameters_and_greedy_paths(fake_app: str) -> None:
    event = requests.get(f"{fake_app}/things/42", timeout=10).json()["event"]
    assert event["routeKey"] == "GET /things/{id}" and event["pathParameters"] == {"id": "42"}
    event = requests.put(f"{fake_app}/files/a/b/c.txt", json={}, timeout=10).json()["event"]
    assert event["routeKey"] == "ANY /files/{path+}" and event["pathParameters"] == {"path": "a/b/c.txt"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/undeclared"),
        ("PATCH", "/echo"),
        ("GET", "/echo"),
        ("POST", "/echo/"),
        ("PURGE", "/things/1"),
        ("GET", "/things/1/more"),
        ("GET", "/_local/unknown"),
    ],
)
def test_everything_else_goes_to_the_default_route(fake_app: str, method: str, path: str) -> None:
    response = requests.request(method, f"{fake_app}{path}", timeout=10)
    assert response.status_code == 404
    body = response.json()
    assert body["routeKey"] == "$default"
    assert body["method"] == method and body["path"] == path


def test_response_conversion(fake_app: str) -> None:
    status, headers, _ = raw_request(fake_app, "POST", "/echo", [("Content-Type", "application/json")], b"{}")
    assert status == 200
    cookies = [value for name, value in headers if name.lower() == "set-cookie"]
    assert cookies == ["first=1; Path=/", "second=2; HttpOnly"]
    assert {k.lower(): v for k, v in headers}["x-echo"] == "yes"
    binary = requests.get(f"{fake_app}/binary", timeout=10)
    assert binary.status_code == 200 and binary.content == bytes(range(256))
    accepted = requests.post(
        f"{fake_app}/enqueue", json={"id": "noop", "to": "noop@fake.example", "subject": "x"}, timeout=10
    )
    assert accepted.status_code == 202 and accepted.content == b""


def test_handler_exception_is_a_500_problem_without_internals(fake_app: str) -> None:
    response = requests.get(f"{fake_app}/boom", timeout=10)
    body = assert_problem(response, 500, "internal_error")
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert body["title"]


def test_concurrent_requests_get_their_own_answers(fake_app: str) -> None:
    def call(index: int) -> int:
        event = echo(fake_app, json={"index": index})["event"]
        return json.loads(event["body"])["index"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert list(pool.map(call, range(40))) == list(range(40))


# ---------------------------------------------------------------------------- CORS


def test_fake_preflight(fake_app: str) -> None:
    allowed = requests.options(
        f"{fake_app}/echo", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"}, timeout=10
    )
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert allowed.headers["Access-Control-Allow-Methods"] == "GET,POST"
    assert allowed.headers["Access-Control-Allow-Headers"] == "authorization,content-type"
    assert allowed.headers["Access-Control-Max-Age"] == "300"
    refused = requests.options(
        f"{fake_app}/echo",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert refused.status_code == 204
    assert "Access-Control-Allow-Origin" not in refused.headers
    # OPTIONS that is not a preflight is an ordinary request (here: the $default route).
    assert requests.options(f"{fake_app}/echo", timeout=10).json()["routeKey"] == "$default"


def test_cors_headers_of_the_integration_are_replaced(fake_app: str) -> None:
    no_origin = requests.post(f"{fake_app}/echo", json={}, timeout=10)
    assert "Access-Control-Allow-Origin" not in no_origin.headers  # the handler's "*" is dropped
    other = requests.post(f"{fake_app}/echo", json={}, headers={"Origin": "https://evil.example"}, timeout=10)
    assert "Access-Control-Allow-Origin" not in other.headers
    allowed = requests.post(f"{fake_app}/echo", json={}, headers={"Origin": ALLOWED}, timeout=10)
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert allowed.headers["Access-Control-Expose-Headers"] == "X-Echo"
    error = requests.get(f"{fake_app}/private", headers={"Origin": ALLOWED}, timeout=10)
    assert error.status_code == 401 and error.headers["Access-Control-Allow-Origin"] == ALLOWED


# ---------------------------------------------------------------------------- JWT authorizer


def _token(base_url: str, **options: Any) -> str:
    response = requests.post(f"{base_url}/token", json=options, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def test_authorizer_passes_claims_as_strings(fake_app: str) -> None:
    token = _token(fake_app)
    response = requests.get(f"{fake_app}/private", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    authorizer = response.json()["event"]["requestContext"]["authorizer"]
    claims = authorizer["jwt"]["claims"]
    assert authorizer["jwt"]["scopes"] is None
    assert claims["sub"] == "user-1" and claims["iss"] == fake_app and claims["aud"] == "audience-from-shell"
    assert claims["email_verified"] == "true"
    assert claims["exp"].isdigit() and claims["iat"].isdigit()
    assert all(isinstance(value, str) for value in claims.values())


@pytest.mark.parametrize(
    "options",
    [
        {"audience": "someone-else"},
        {"issuer": "https://other-issuer.example"},
        {"shift": -3600},
        {"shift": 3600},
    ],
    ids=["audience", "issuer", "expired", "not-yet-valid"],
)
def test_authorizer_refuses_bad_tokens(fake_app: str, options: dict[str, Any]) -> None:
    token = _token(fake_app, **options)
    response = requests.get(f"{fake_app}/private", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_authorizer_refuses_missing_and_tampered_tokens(fake_app: str) -> None:
    missing = requests.get(f"{fake_app}/private", timeout=10)
    assert_problem(missing, 401, "unauthorized")
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    header, payload, signature = _token(fake_app).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = requests.get(
        f"{fake_app}/private", headers={"Authorization": f"Bearer {header}.{forged}.{signature}"}, timeout=10
    )
    assert_problem(response, 401, "unauthorized")
