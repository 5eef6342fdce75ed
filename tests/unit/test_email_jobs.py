"""accounts.email_jobs: job validation, parsing of untrusted SQS bodies, and enqueueing to SQS."""

from __future__ import annotations

import json

import pytest

from accounts.email_jobs import EmailJob, EmailQueue, JobKind

REGION = "us-east-1"


@pytest.fixture
def queue_url(aws: None) -> str:
    import boto3

    return boto3.client("sqs").create_queue(QueueName="email-jobs")["QueueUrl"]


JOBS = [
    EmailJob(kind="verification", email="ann@example.com", registration_id="r-123"),
    EmailJob(kind="verification", email="ann@example.com"),
    EmailJob(kind="password_reset", email="bob@example.com"),
    EmailJob(kind="password_changed", email="bob@example.com"),
    EmailJob(kind="welcome", email="zoë@exämple.com"),
]


@pytest.mark.parametrize("job", JOBS, ids=lambda job: f"{job.kind}-{job.registration_id}")
def test_enqueue_then_receive_from_sqs_gives_the_same_job(queue_url: str, job: EmailJob) -> None:
    import boto3

    EmailQueue(queue_url).enqueue(job)  # client created lazily, inside mock_aws

    received = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 1
    assert EmailJob.parse(received[0]["Body"]) == job


def test_body_is_the_documented_json_and_carries_nothing_else(queue_url: str) -> None:
    import boto3

    EmailQueue(queue_url).enqueue(EmailJob(kind=JobKind.VERIFICATION, email="ann@example.com", registration_id="r"))
    body = boto3.client("sqs").receive_message(QueueUrl=queue_url)["Messages"][0]["Body"]
    assert json.loads(body) == {"kind": "verification", "email": "ann@example.com", "registration_id": "r"}


def test_kind_given_as_string_becomes_the_enum_and_compares_equal_to_the_string() -> None:
    job = EmailJob(kind="welcome", email="a@example.com")  # type: ignore[arg-type]
    assert job.kind is JobKind.WELCOME and job.kind == "welcome"


def test_parse_accepts_missing_or_null_registration_id_and_bytes() -> None:
    assert EmailJob.parse('{"kind":"welcome","email":"a@example.com"}').registration_id is None
    job = EmailJob.parse(b'{"kind":"verification","email":"a@example.com","registration_id":null}')
    assert job == EmailJob(kind=JobKind.VERIFICATION, email="a@example.com")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not JSON"),
        ("", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('"verification"', "not a JSON object"),
        ('{"kind": "newsletter", "email": "a@example.com"}', "unknown kind"),
        ('{"kind": "already_registered", "email": "a@example.com"}', "unknown kind"),
        ('{"kind": 1, "email": "a@example.com"}', "kind must be a string"),
        ('{"email": "a@example.com"}', "missing 'kind'"),
        ('{"kind": "welcome"}', "missing 'email'"),
        ('{"kind": "welcome", "email": null}', "email must be a string"),
        ('{"kind": "welcome", "email": "not-an-address"}', "not a normalized address"),
        ('{"kind": "welcome", "email": "a@example.com\\r\\nBcc: b@example.com"}', "not a normalized address"),
        ('{"kind": "welcome", "email": " a@example.com"}', "not a normalized address"),
        ('{"kind": "welcome", "email": "a@example.com", "token": "secret"}', "unexpected fields"),
        ('{"kind": "verification", "email": "a@example.com", "registration_id": 5}', "registration_id"),
        ('{"kind": "verification", "email": "a@example.com", "registration_id": ""}', "registration_id"),
        ('{"kind": "welcome", "email": "a@example.com", "registration_id": "r"}', "verification jobs only"),
    ],
)
def test_parse_refuses_junk_with_a_clear_value_error(body: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        EmailJob.parse(body)


def test_parse_error_never_echoes_the_body() -> None:
    with pytest.raises(ValueError) as caught:
        EmailJob.parse('{"kind": "welcome", "email": "a@example.com", "token": "s3cr3t-value"}')
    assert "s3cr3t-value" not in str(caught.value)


def test_jobs_are_immutable() -> None:
    job = EmailJob(kind=JobKind.WELCOME, email="a@example.com")
    with pytest.raises(AttributeError):
        job.email = "b@example.com"  # type: ignore[misc]


def test_enqueue_sends_one_message_to_the_configured_queue() -> None:
    calls: list[dict[str, str]] = []

    class Client:
        def send_message(self, **kwargs: str) -> dict[str, str]:
            calls.append(kwargs)
            return {"MessageId": "1"}

    queue = EmailQueue("https://sqs.example/q", client=Client())
    assert queue.enqueue(EmailJob(kind=JobKind.PASSWORD_RESET, email="a@example.com")) is None
    assert calls == [
        {
            "QueueUrl": "https://sqs.example/q",
            "MessageBody": '{"kind":"password_reset","email":"a@example.com","registration_id":null}',
        }
    ]


def test_from_settings_uses_email_queue_url() -> None:
    from types import SimpleNamespace

    queue = EmailQueue.from_settings(SimpleNamespace(email_queue_url="https://sqs.example/q"))  # type: ignore[arg-type]
    assert queue.queue_url == "https://sqs.example/q"


def test_sqs_errors_propagate(aws: None) -> None:
    from botocore.exceptions import ClientError

    queue = EmailQueue(f"https://sqs.{REGION}.amazonaws.com/123456789012/missing")
    with pytest.raises(ClientError):
        queue.enqueue(EmailJob(kind=JobKind.WELCOME, email="a@example.com"))
