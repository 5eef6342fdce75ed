"""What an operator reads in the logs and metrics (spec section 6): a correlation id on every log
line, a cold-start metric, one structured line per security event (never an email, a password or
a token), and a metric for every failed send of the email worker."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import handle_cleanup
import handle_email_jobs
import handle_login
import handle_register
import handle_session
import handle_verify_email
import pytest
from aws_lambda_powertools.metrics.provider import cold_start

from tests.handlers.conftest import (
    PASSWORD,
    Context,
    api_event,
    drain_emails,
    invoke,
    load_event,
    sqs_record,
    verified_account,
)

ADA = "ada@example.com"


def lines(output: str) -> list[dict[str, Any]]:
    """The JSON lines a handler printed (Powertools log lines and EMF metric documents)."""
    found = []
    for line in output.splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return [item for item in found if isinstance(item, dict)]


def log_lines(output: str) -> list[dict[str, Any]]:
    return [item for item in lines(output) if "level" in item and "message" in item]


def emitted(output: str) -> dict[str, dict[str, Any]]:
    """Metric name -> the EMF document that carried it."""
    metrics = {}
    for document in lines(output):
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                metrics[metric["Name"]] = document
    return metrics


def security_events(output: str) -> list[dict[str, Any]]:
    return [line for line in log_lines(output) if line["message"] == "security event"]


@pytest.fixture
def printed(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    """What the handlers printed since the last call: log lines (the Powertools handler's stream,
    which holds the stdout of import time) and EMF documents (printed to the current stdout)."""
    from accounts.observability import logger

    handler = logger.registered_handler
    stream = io.StringIO()
    previous = handler.setStream(stream)

    def take() -> str:
        text = stream.getvalue() + capsys.readouterr().out
        stream.seek(0)
        stream.truncate()
        return text

    yield take
    handler.setStream(previous)


@pytest.fixture
def account(aws):
    verified_account(aws, ADA)
    return aws


def login(ip: str = "198.51.100.7", password: str = PASSWORD):
    return invoke(handle_login, api_event("login", {"email": ADA, "password": password}, ip=ip))


def test_api_log_lines_carry_the_api_gateway_request_id(account, printed):
    printed()
    event = api_event("login", {"email": ADA, "password": PASSWORD})
    status, _, _ = invoke(handle_login, event)
    assert status == 200
    logged = log_lines(printed())
    assert logged, "the login logs at least its security event"
    assert {line.get("correlation_id") for line in logged} == {event["requestContext"]["requestId"]}
    # Lambda's request id stays; what the function's own log group already says does not.
    assert all(line["function_request_id"] == Context.aws_request_id for line in logged)
    assert not any({"function_name", "function_arn", "function_memory_size"} & set(line) for line in logged)


def test_successful_login_is_one_security_event_line_without_email_password_or_token(account, printed):
    printed()
    status, _, body = login(ip="203.0.113.9")
    output = printed()
    assert status == 200
    [line] = security_events(output)
    assert line["event_type"] == "login"
    assert len(line["user_id"]) == 32 and line["ip"] == "203.0.113.9"
    for secret in (ADA, PASSWORD, body["access_token"], body["refresh_token"]):
        assert secret not in output


def test_failed_login_and_lockout_are_security_events_and_metrics(account, printed):
    printed()
    for _ in range(5):  # LOGIN_LOCKOUT default 5/900: the fifth failure locks the address
        assert login(password="Wrong-Password-1!")[0] == 401
    output = printed()
    kinds = [line["event_type"] for line in security_events(output)]
    assert kinds == ["login_failed"] * 5 + ["locked_out"]
    assert {"LoginFailures", "Lockouts"} <= set(emitted(output))
    assert "Wrong-Password-1!" not in output and ADA not in output


def test_logout_is_a_security_event_line(account, printed):
    _, _, tokens = login()
    printed()
    status, _, _ = invoke(handle_session, api_event("logout", {"refresh_token": tokens["refresh_token"]},
                                                    ip="203.0.113.10"))
    output = printed()
    assert status == 204
    [line] = security_events(output)
    assert line["event_type"] == "logout" and line["ip"] == "203.0.113.10" and len(line["user_id"]) == 32
    assert "Logouts" in emitted(output)
    assert tokens["refresh_token"] not in output


def test_refresh_reuse_is_a_security_event_line(account, printed, monkeypatch):
    monkeypatch.setenv("REFRESH_REUSE_GRACE_SECONDS", "0")
    from accounts import services, settings

    settings.get_settings.cache_clear()
    services.get_services.cache_clear()
    _, _, tokens = login()
    assert invoke(handle_session, api_event("refresh", {"refresh_token": tokens["refresh_token"]}))[0] == 200
    printed()
    assert invoke(handle_session, api_event("refresh", {"refresh_token": tokens["refresh_token"]}))[0] == 401
    output = printed()
    assert [line["event_type"] for line in security_events(output)] == ["refresh_reuse_detected"]
    assert "RefreshTokenReuse" in emitted(output)


def test_a_cold_start_emits_the_cold_start_metric_once(aws, printed, monkeypatch):
    monkeypatch.setattr(cold_start, "is_cold_start", True)
    printed()
    invoke(handle_session, api_event("jwks"))
    invoke(handle_session, api_event("jwks"))
    documents = [doc for doc in lines(printed()) if "ColdStart" in doc]
    assert len(documents) == 1
    [directive] = documents[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "AccountService"
    assert documents[0]["function_name"] == Context.function_name and documents[0]["service"] == "accounts"


def test_worker_lines_carry_the_message_id_and_failed_sends_are_counted(aws, monkeypatch, printed):
    """SES failures are partial batch failures (Lambda counts no error): EmailDeliveryFailures is
    what the mailer's alarm watches."""
    from accounts.mailer import Mailer

    def refuse(self, to, email):
        raise RuntimeError("SES is down")

    monkeypatch.setattr(Mailer, "send", refuse)
    assert invoke(handle_register, api_event("register", {"email": ADA, "password": PASSWORD}))[0] == 202
    [message] = boto3.client("sqs").receive_message(QueueUrl=aws["queue_url"], AttributeNames=["All"])["Messages"]
    printed()
    result = handle_email_jobs.lambda_handler({"Records": [sqs_record(message)]}, Context())
    output = printed()
    assert result["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
    failure = next(line for line in log_lines(output) if line["message"].startswith("email delivery failed"))
    assert failure["correlation_id"] == message["MessageId"]
    assert emitted(output)["EmailDeliveryFailures"]["EmailDeliveryFailures"] == [1.0]


def test_emails_dropped_by_the_per_address_limit_are_counted_as_suppressed(aws, monkeypatch, printed):
    monkeypatch.setenv("RATE_LIMIT_EMAIL_PER_ADDRESS", "1/3600")
    from accounts import services, settings

    settings.get_settings.cache_clear()
    services.get_services.cache_clear()
    invoke(handle_register, api_event("register", {"email": ADA, "password": PASSWORD}))
    assert len(drain_emails(aws["queue_url"])) == 1
    invoke(handle_verify_email, api_event("verify_email_resend", {"email": ADA}))
    printed()
    assert drain_emails(aws["queue_url"]) == []
    assert "EmailsSuppressed" in emitted(printed())


def test_schedule_log_lines_carry_the_event_id(aws, printed):
    event = load_event("schedule")
    printed()
    handle_cleanup.lambda_handler(event, Context())
    logged = log_lines(printed())
    assert logged and {line.get("correlation_id") for line in logged} == {event["id"]}
