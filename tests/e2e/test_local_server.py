"""Tests of the local server itself (local/): routing, events, CORS, the JWT authorizer, the email
queue worker and the local-only routes.

Two servers: `local_server` runs the repository's template.yaml with the real handlers; `fake_app`
runs a small template with echo functions written below, so the event the server builds and the
way it converts results can be checked field by field.
"""

from __future__ import annotations

import base64
import http.client
import json
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from local.template import Template, load
from tests.expected import SECURITY_HEADERS

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
ALLOWED = "https://allowed.example"


def raw_request(
    base_url: str, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b""
) -> tuple[int, list[tuple[str, str]], bytes]:
    """A request with exactly these headers (duplicates included), which `requests` cannot send."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest(
            method, path, skip_host=any(n.lower() == "host" for n, _ in headers), skip_accept_encoding=True
        )
        for name, value in headers:
            connection.putheader(name, value)
        if body:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def assert_problem(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["code"] == code
    assert {"type", "title", "detail"} <= set(body)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    return body


# ============================================================================ the real template


def test_served_routes_are_the_templates_routes(local_server: str) -> None:
    served = requests.get(f"{local_server}/_local/routes", timeout=10).json()
    declared = [route.as_dict() for route in load(REPO_ROOT / "template.yaml").routes]
    assert served == declared
    keys = {route["route_key"] for route in served}
    assert "GET /v1/auth/me" in keys and "POST /v1/auth/register" in keys


def test_undeclared_route_is_a_404_problem(local_server: str) -> None:
    assert_problem(requests.get(f"{local_server}/v1/auth/nope", timeout=10), 404, "not_found")
    # A declared path with an undeclared method is not that route either.
    response = requests.delete(f"{local_server}/v1/auth/login", timeout=10)
    assert response.status_code in (404, 405)
    assert response.headers["Content-Type"].startswith("application/problem+json")


def test_preflight_for_an_allowed_origin(local_server: str) -> None:
    response = requests.options(
        f"{local_server}/v1/auth/login",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=10,
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "content-type" in response.headers["Access-Control-Allow-Headers"].lower()
    assert int(response.headers["Access-Control-Max-Age"]) > 0


def test_preflight_for_another_origin_gets_no_cors_headers(local_server: str) -> None:
    response = requests.options(
        f"{local_server}/v1/auth/login",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert response.status_code == 204
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


def test_only_allowed_origins_receive_allow_origin(local_server: str) -> None:
    allowed = requests.get(
        f"{local_server}/.well-known/jwks.json", headers={"Origin": "http://localhost:5173"}, timeout=10
    )
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    other = requests.get(
        f"{local_server}/.well-known/jwks.json", headers={"Origin": "https://evil.example"}, timeout=10
    )
    assert "Access-Control-Allow-Origin" not in other.headers


def test_me_without_a_token_is_refused_by_the_authorizer(local_server: str) -> None:
    response = requests.get(f"{local_server}/v1/auth/me", timeout=10)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer ", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"],
)
def test_me_with_a_bad_token_is_refused(local_server: str, authorization: str) -> None:
    response = requests.get(
        f"{local_server}/v1/auth/me", headers={"Authorization": authorization}, timeout=10
    )
    assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_local_emails_is_a_list(local_server: str) -> None:
    response = requests.get(f"{local_server}/_local/emails", timeout=10)
    assert response.status_code == 200
    assert isinstance(response.json(), list)
    assert isinstance(
        requests.get(f"{local_server}/_local/emails", params={"to": "nobody@example.com"}, timeout=10).json(),
        list,
    )


def test_table_is_created_from_the_template(local_server: str) -> None:
    table = requests.get(f"{local_server}/_local/info", timeout=10).json()["table"]
    definition = load(REPO_ROOT / "template.yaml").table_definition
    assert definition is not None and table is not None
    assert table["key_schema"] == definition["KeySchema"]
    assert sorted(table["attribute_definitions"], key=str) == sorted(
        definition["AttributeDefinitions"], key=str
    )
    assert [i["IndexName"] for i in table["global_secondary_indexes"]] == [
        i["IndexName"] for i in definition.get("GlobalSecondaryIndexes", [])
    ]
    for created, declared in zip(
        table["global_secondary_indexes"], definition.get("GlobalSecondaryIndexes", []), strict=True
    ):
        assert created["KeySchema"] == declared["KeySchema"]
    ttl = definition.get("TimeToLiveSpecification")
    if ttl:
        assert table["ttl"] == {"attribute": ttl["AttributeName"], "status": "ENABLED"}


def test_discovery_names_the_local_issuer(local_server: str) -> None:
    document = requests.get(f"{local_server}/.well-known/openid-configuration", timeout=10).json()
    assert document["issuer"] == local_server
    assert document["jwks_uri"] == f"{local_server}/.well-known/jwks.json"


def test_register_verify_login_me(local_server: str, mailbox: Any) -> None:
    """The whole path through the real handlers: email from the queue worker, authorizer, claims."""
    address = f"e2e-local-{time.time_ns()}@example.com"
    password = "Tr0ub4dor&3-horse-staple"
    started = time.monotonic()
    response = requests.post(
        f"{local_server}/v1/auth/register",
        json={"email": address, "password": password, "name": "Local"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    token = mailbox.token(address, "/verify-email")
    assert time.monotonic() - started < 3
    message = mailbox.wait_for(address)
    assert message["to"] == [address] and message["sent_at"].endswith("Z") and message["html"]

    assert (
        requests.post(f"{local_server}/v1/auth/verify-email", json={"token": token}, timeout=10).status_code
        == 200
    )
    login = requests.post(
        f"{local_server}/v1/auth/login", json={"email": address, "password": password}, timeout=10
    )
    assert login.status_code == 200, login.text
    access_token = login.json()["access_token"]
    me = requests.get(
        f"{local_server}/v1/auth/me", headers={"Authorization": f"Bearer {access_token}"}, timeout=10
    )
    assert me.status_code == 200, me.text
    assert me.json()["email"] == address and me.json()["email_verified"] is True


def test_cleanup_can_be_triggered(local_server: str) -> None:
    response = requests.post(f"{local_server}/_local/cleanup", timeout=30)
    assert response.status_code == 200, response.text
    response.json()  # the handler's result, as JSON


# ============================================================================ a fake application

FAKE_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  CorsAllowedOrigins:
    Type: String
    Default: "https://allowed.example,https://other.example"
  JwtIssuer:
    Type: String
  JwtAudience:
    Type: String
    Default: fake-audience
  EmailFrom:
    Type: String
  Greeting:
    Type: String
    Default: hello
Conditions:
  HasCors: !Not [!Equals [!Ref CorsAllowedOrigins, ""]]
Globals:
  Function:
    Runtime: python3.13
    Timeout: 5
    MemorySize: 256
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
        EMAIL_QUEUE_URL: !Ref Queue
        DLQ_URL: !Ref DeadLetters
        SIGNING_KEY_SECRET_ID: !Ref Key
        SES_CONFIGURATION_SET: !Ref MailEvents
        JWT_ISSUER: !Ref JwtIssuer
        JWT_AUDIENCE: !Ref JwtAudience
        EMAIL_FROM: !Ref EmailFrom
        CORS_ALLOWED_ORIGINS: !Ref CorsAllowedOrigins
        TABLE_ARN: !GetAtt Table.Arn
        GREETING: !Sub "${Greeting} from ${AWS::Region}"
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration: !If
        - HasCors
        - AllowOrigins: !Split [",", !Ref CorsAllowedOrigins]
          AllowMethods: [GET, POST]
          AllowHeaders: [authorization, content-type]
          ExposeHeaders: [X-Echo]
          MaxAge: 300
        - !Ref AWS::NoValue
      Auth:
        Authorizers:
          Jwt:
            IdentitySource: $request.header.Authorization
            JwtConfiguration:
              issuer: !Ref JwtIssuer
              audience: [!Ref JwtAudience]
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fake/echo
      Handler: fake_echo.lambda_handler
      Events:
        Echo: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /echo, Method: POST}}
        Thing: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: "/things/{id}", Method: GET}}
        Files: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: "/files/{path+}", Method: ANY}}
        Private:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /private, Method: GET, Auth: {Authorizer: Jwt}}
        Token: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /token, Method: POST}}
        Enqueue: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /enqueue, Method: POST}}
        Boom: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /boom, Method: GET}}
        Binary: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /binary, Method: GET}}
        Queues: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /queues, Method: GET}}
  DefaultFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fake/default
      Handler: fake_default.lambda_handler
      Events:
        CatchAll: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: $default, Method: ANY}}
  WorkerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fake/worker
      Handler: fake_worker.lambda_handler
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
  JanitorFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fake/janitor
      Handler: fake_janitor.lambda_handler
      Events:
        Hourly: {Type: Schedule, Properties: {Schedule: rate(1 hour)}}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: bucket, AttributeType: S}
        - {AttributeName: at, AttributeType: N}
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: sparse
          KeySchema: [{AttributeName: bucket, KeyType: HASH}, {AttributeName: at, KeyType: RANGE}]
          Projection: {ProjectionType: ALL}
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 180
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeadLetters.Arn
        maxReceiveCount: 2
  DeadLetters:
    Type: AWS::SQS::Queue
  Key:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString: {PasswordLength: 32}
  MailEvents:
    Type: AWS::SES::ConfigurationSet
"""

FAKE_ECHO = """\
import base64
import json
import os

import boto3

ENV_NAMES = ["TABLE_NAME", "EMAIL_QUEUE_URL", "SIGNING_KEY_SECRET_ID", "SES_CONFIGURATION_SET", "JWT_ISSUER",
             "JWT_AUDIENCE", "EMAIL_FROM", "CORS_ALLOWED_ORIGINS", "TABLE_ARN", "GREETING", "APP_BASE_URL",
             "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"]


def _json(status, payload, **extra):
    result = {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(payload)}
    result.update(extra)
    return result


def lambda_handler(event, context):
    route = event["routeKey"]
    if route == "GET /boom":
        raise RuntimeError("secret internals: db password hunter2")
    if route == "GET /binary":
        return {"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"},
                "body": base64.b64encode(bytes(range(256))).decode(), "isBase64Encoded": True}
    if route == "POST /token":
        from accounts import clock, jwt_keys
        options = json.loads(event.get("body") or "{}")
        keys = jwt_keys.load_signing_keys(os.environ["SIGNING_KEY_SECRET_ID"])
        token = jwt_keys.issue_access_token(
            keys, user_id="user-1", email="someone@example.com", email_verified=True,
            issuer=options.get("issuer", os.environ["JWT_ISSUER"]),
            audience=options.get("audience", os.environ["JWT_AUDIENCE"]),
            ttl_seconds=900, now=clock.now() + options.get("shift", 0),
            session_id="0" * 32, client_id="example-client", amr=["pwd"], scope=jwt_keys.SCOPE)
        return _json(200, {"token": token})
    if route == "POST /enqueue":
        boto3.client("sqs").send_message(QueueUrl=os.environ["EMAIL_QUEUE_URL"], MessageBody=event["body"],
                                         MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}})
        return {"statusCode": 202}
    if route == "GET /queues":
        import fake_worker
        sqs = boto3.client("sqs")
        dlq = sqs.get_queue_attributes(QueueUrl=os.environ["DLQ_URL"], AttributeNames=["ApproximateNumberOfMessages"])
        return _json(200, {"dead_letters": int(dlq["Attributes"]["ApproximateNumberOfMessages"]),
                           "attempts": fake_worker.ATTEMPTS, "records": fake_worker.RECORDS[-3:]})
    return _json(
        200,
        {"event": event, "env": {name: os.environ.get(name) for name in ENV_NAMES},
         "context": {"function_name": context.function_name, "memory": context.memory_limit_in_mb,
                     "arn": context.invoked_function_arn, "request_id": context.aws_request_id,
                     "remaining": context.get_remaining_time_in_millis()}},
        headers={"Content-Type": "application/json", "X-Echo": "yes", "Access-Control-Allow-Origin": "*"},
        cookies=["first=1; Path=/", "second=2; HttpOnly"],
    )
"""

FAKE_DEFAULT = """\
import json


def lambda_handler(event, context):
    return {"statusCode": 404, "headers": {"Content-Type": "application/problem+json"},
            "body": json.dumps({"type": "about:blank", "title": "Not found", "status": 404,
                                "detail": "No such route.", "code": "not_found", "routeKey": event["routeKey"],
                                "method": event["requestContext"]["http"]["method"], "path": event["rawPath"]})}
"""

FAKE_WORKER = """\
import json
import os
from email.message import EmailMessage

import boto3

ATTEMPTS = {}
RECORDS = []


def lambda_handler(event, context):
    failures = []
    client = boto3.client("sesv2")
    for record in event["Records"]:
        RECORDS.append(record)
        job = json.loads(record["body"])
        ATTEMPTS[job["id"]] = ATTEMPTS.get(job["id"], 0) + 1
        if job.get("fail"):
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        message = EmailMessage()
        message["From"] = os.environ["EMAIL_FROM"]
        message["To"] = job["to"]
        message["Subject"] = job["subject"]
        message.set_content("Open https://app.example/verify-email?token=" + job["id"] + " now.")
        message.add_alternative("<p>html " + job["id"] + "</p>", subtype="html")
        client.send_email(
            FromEmailAddress=os.environ["EMAIL_FROM"], Destination={"ToAddresses": [job["to"]]},
            Content={"Raw": {"Data": message.as_bytes()}},
            ConfigurationSetName=os.environ["SES_CONFIGURATION_SET"],
        )
    return {"batchItemFailures": failures}
"""

FAKE_JANITOR = """\
def lambda_handler(event, context):
    return {"ran": True, "source": event["source"], "detail_type": event["detail-type"],
            "function": context.function_name}
"""

FAKE_ENV = {
    "EMAIL_FROM": "Fake Sender <sender@fake.example>",
    "JWT_AUDIENCE": "audience-from-shell",
    "LOCAL_QUEUE_VISIBILITY_TIMEOUT": "1",
    "CORS_ALLOWED_ORIGINS": f"{ALLOWED},https://other.example",
    "TABLE_NAME": "table-named-in-the-shell",
}


def write_fake_app(root: Path) -> Path:
    (root / "template.yaml").write_text(FAKE_TEMPLATE)
    for folder, module, source in [
        ("echo", "fake_echo", FAKE_ECHO),
        ("default", "fake_default", FAKE_DEFAULT),
        ("worker", "fake_worker", FAKE_WORKER),
        ("janitor", "fake_janitor", FAKE_JANITOR),
    ]:
        directory = root / "fake" / folder
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{module}.py").write_text(textwrap.dedent(source))
    return root / "template.yaml"


@pytest.fixture(scope="module")
def fake_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_app(tmp_path_factory.mktemp("fake-app"))


@pytest.fixture(scope="module")
def fake_app(start_local_server: Any, fake_template: Path) -> str:
    return start_local_server(FAKE_ENV, template=fake_template)


def echo(base_url: str, **kwargs: Any) -> dict[str, Any]:
    response = requests.post(f"{base_url}/echo", timeout=10, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


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


# ---------------------------------------------------------------------------- email queue


def _enqueue(base_url: str, job: dict[str, Any]) -> None:
    assert requests.post(f"{base_url}/enqueue", json=job, timeout=10).status_code == 202


def test_queued_email_appears_within_a_second(fake_app: str) -> None:
    address = f"fast-{time.time_ns()}@fake.example"
    started = time.monotonic()
    _enqueue(fake_app, {"id": "fast", "to": address, "subject": "Quick one"})
    while True:
        emails = requests.get(f"{fake_app}/_local/emails", params={"to": address.upper()}, timeout=10).json()
        if emails or time.monotonic() - started > 5:
            break
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    assert emails, "the email never arrived"
    assert elapsed < 1.0, f"the email took {elapsed:.2f} s"
    (message,) = emails
    assert message["to"] == [address] and message["subject"] == "Quick one"
    assert "https://app.example/verify-email?token=fast" in message["text"]
    assert message["html"].startswith("<p>html fast")
    assert message["sent_at"].endswith("Z")


def test_sqs_event_looks_like_lambdas(fake_app: str) -> None:
    _enqueue(fake_app, {"id": f"shape-{time.time_ns()}", "to": "shape@fake.example", "subject": "Shape"})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        records = requests.get(f"{fake_app}/queues", timeout=10).json()["records"]
        if records and json.loads(records[-1]["body"])["subject"] == "Shape":
            break
        time.sleep(0.05)
    record = records[-1]
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"].startswith("arn:aws:sqs:us-east-1:")
    assert record["messageId"] and record["receiptHandle"] and len(record["md5OfBody"]) == 32
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["attributes"]["SentTimestamp"].isdigit()
    assert record["messageAttributes"]["kind"]["stringValue"] == "test"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"


def test_email_filter_and_clear(fake_app: str) -> None:
    one, two = f"one-{time.time_ns()}@fake.example", f"two-{time.time_ns()}@fake.example"
    _enqueue(fake_app, {"id": "a", "to": one, "subject": "First"})
    _enqueue(fake_app, {"id": "b", "to": two, "subject": "Second"})
    _enqueue(fake_app, {"id": "c", "to": one, "subject": "Third"})
    deadline = time.monotonic() + 5
    while len(requests.get(f"{fake_app}/_local/emails", params={"to": one}, timeout=10).json()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    subjects = [
        e["subject"] for e in requests.get(f"{fake_app}/_local/emails", params={"to": one}, timeout=10).json()
    ]
    assert subjects == ["First", "Third"]  # newest last
    assert requests.delete(f"{fake_app}/_local/emails", timeout=10).status_code == 204
    assert requests.get(f"{fake_app}/_local/emails", timeout=10).json() == []


def test_failed_jobs_are_retried_then_dead_lettered(fake_app: str) -> None:
    job_id = f"doomed-{time.time_ns()}"
    before = requests.get(f"{fake_app}/queues", timeout=10).json()["dead_letters"]
    _enqueue(fake_app, {"id": job_id, "to": "doomed@fake.example", "subject": "Never", "fail": True})
    deadline = time.monotonic() + 20
    while True:
        state = requests.get(f"{fake_app}/queues", timeout=10).json()
        if state["dead_letters"] > before:
            break
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert state["attempts"][job_id] == 2  # maxReceiveCount of the fake template's redrive policy
    assert not requests.get(
        f"{fake_app}/_local/emails", params={"to": "doomed@fake.example"}, timeout=10
    ).json()


def test_local_cleanup_invokes_the_scheduled_function(fake_app: str) -> None:
    response = requests.post(f"{fake_app}/_local/cleanup", timeout=10)
    assert response.status_code == 200
    assert response.json() == {
        "ran": True,
        "source": "aws.events",
        "detail_type": "Scheduled Event",
        "function": "accounts-local-JanitorFunction",
    }


# ---------------------------------------------------------------------------- process


def test_server_stops_cleanly_on_sigterm(fake_template: Path, local_server_process: Any) -> None:
    server = local_server_process(FAKE_ENV, fake_template)
    server.start()
    try:
        assert server.process is not None
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=15) == 0
        assert time.monotonic() - started < 10
        assert "Stopped." in server.output()
    finally:
        server.stop()
        server.log_path.unlink(missing_ok=True)


def test_banner_lists_url_routes_and_emails(fake_template: Path, local_server_process: Any) -> None:
    server = local_server_process(FAKE_ENV, fake_template)
    server.start()
    try:
        output = server.output()
        assert server.base_url in output
        assert "/things/{id}" in output and "$default" in output
        assert f"{server.base_url}/_local/emails" in output
    finally:
        server.stop()
        server.log_path.unlink(missing_ok=True)


def test_help_runs_without_starting_anything() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local.server", "--help"],
        check=False,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "--template" in result.stdout
