"""Handler tests: the real handlers against moto, with the table made from template.yaml."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.moto_support import serialize_dynamodb
from tests.conftest import create_table

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
TABLE = "accounts-test"
SENDER = "no-reply@example.com"
PASSWORD = "Correct-Horse-Battery-9"

ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "TABLE_NAME": TABLE,
    "APP_BASE_URL": "https://app.example.com",
    "PRODUCT_NAME": "Example Accounts",
    "EMAIL_FROM": SENDER,
    "SES_CONFIGURATION_SET": "",
    "JWT_ISSUER": "https://api.example.com",
    "JWT_AUDIENCE": "example-api",
    "SIGNING_KEY_SECRET_ID": "signing-key",
    # Small argon2 parameters keep the suite fast; the defaults are checked in the unit tests.
    "ARGON2_MEMORY_KIB": "1024",
    "ARGON2_TIME_COST": "1",
    "CORS_ALLOWED_ORIGINS": "https://app.example.com",
}


class Context:
    function_name = "test-function"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def _reset_caches() -> None:
    from accounts import aws, jwt_keys, models, services, settings

    aws.reset()
    models.forget_binding()
    settings.get_settings.cache_clear()
    services.get_services.cache_clear()
    services.get_mailer.cache_clear()
    jwt_keys.get_signing_keys.cache_clear()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """moto with the table (from the template's own definition), queue, signing key and SES identity."""
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    serialize_dynamodb()
    with mock_aws():
        create_table(TABLE)
        queue_url = boto3.client("sqs").create_queue(QueueName="emails")["QueueUrl"]
        monkeypatch.setenv("EMAIL_QUEUE_URL", queue_url)
        from accounts import clock
        from accounts.jwt_keys import new_ring_secret_value

        boto3.client("secretsmanager").create_secret(
            Name="signing-key", SecretString=new_ring_secret_value(clock.now())
        )
        boto3.client("sesv2").create_email_identity(EmailIdentity=SENDER)
        _reset_caches()
        yield {"queue_url": queue_url}
        _reset_caches()


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def api_event(name: str, body: Any = None, *, ip: str | None = None, headers: dict[str, str] | None = None,
              raw_body: str | None = None, user_agent: str | None = None) -> dict[str, Any]:
    """A sample event from events/, with another body / source IP / headers / user agent."""
    event = copy.deepcopy(load_event(name))
    if raw_body is not None:
        event["body"] = raw_body
    elif body is not None:
        event["body"] = json.dumps(body)
    if ip:
        event["requestContext"]["http"]["sourceIp"] = ip
    if headers:
        event["headers"].update(headers)
    if user_agent:
        event["headers"]["user-agent"] = event["requestContext"]["http"]["userAgent"] = user_agent
    return event


def invoke(module: Any, event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    result = module.lambda_handler(event, Context())
    body = result.get("body")
    parsed = json.loads(body) if body else None
    return result["statusCode"], result.get("headers") or {}, parsed


def drain_emails(queue_url: str) -> list[dict[str, Any]]:
    """Run the email worker over whatever is queued (like the event source mapping) and return the
    emails SES accepted during that, parsed."""
    import handle_email_jobs
    from moto.ses.models import ses_backends

    from accounts.mailer import parse_raw

    backend = ses_backends["123456789012"]["us-east-1"]
    before = len(backend.sent_messages)
    sqs = boto3.client("sqs")
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            break
        event = {"Records": [sqs_record(m) for m in messages]}
        result = handle_email_jobs.lambda_handler(event, Context())
        failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if failed:
            break
    return [parse_raw(message.raw_data) for message in backend.sent_messages[before:]]


def sqs_record(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": message.get("Attributes", {}).get("ApproximateReceiveCount", "1"),
            "SentTimestamp": message.get("Attributes", {}).get("SentTimestamp", "0"),
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "0",
        },
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:emails",
        "awsRegion": "us-east-1",
    }


def token_from(email: dict[str, Any]) -> str:
    match = re.search(r"[?&]token=([A-Za-z0-9_\-]+)", email["text"])
    assert match, "no token link in the email"
    return match.group(1)


def account_item(email: str) -> dict[str, Any]:
    """The raw Account item of an address ({} when there is none)."""
    key = {"pk": {"S": f"EMAIL#{email}"}, "sk": {"S": "ACCOUNT"}}
    return boto3.client("dynamodb").get_item(TableName=TABLE, Key=key).get("Item", {})


def table_items() -> list[dict[str, Any]]:
    """Every item of the (small, test-only) table: for assertions about what exists at all."""
    return boto3.client("dynamodb").scan(TableName=TABLE)["Items"]


def kinds() -> list[str]:
    """What each item of the table is (the part of its key before the first '#'), sorted."""
    return sorted(f"{item['pk']['S'].split('#', 1)[0]}/{item['sk']['S'].split('#', 1)[0]}" for item in table_items())


def verified_account(aws: dict[str, str], email: str, password: str = PASSWORD, name: str = "Ada") -> None:
    """Register and verify `email` through the handlers; the queue is empty afterwards."""
    import handle_register
    import handle_verify_email

    invoke(handle_register, api_event("register", {"email": email, "password": password, "name": name}))
    [message] = drain_emails(aws["queue_url"])
    assert invoke(handle_verify_email, api_event("verify_email", {"token": token_from(message)}))[0] == 200
    drain_emails(aws["queue_url"])
