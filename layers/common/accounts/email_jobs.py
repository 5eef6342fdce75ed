"""Email jobs: what request handlers put on the SQS email queue for the worker to send.

Body (JSON): {"kind": ..., "email": "<normalized address>", "registration_id": "..." | null}.
Jobs name the recipient and the purpose only: never a token, a password or a rendered email
(the worker issues tokens itself, so raw tokens never travel through SQS).

Bodies read from the queue are untrusted; `EmailJob.parse` refuses anything but a well-formed job.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from accounts.settings import Settings

MAX_EMAIL_LENGTH = 320
MAX_REGISTRATION_ID_LENGTH = 128
_USER_ID = re.compile(r"[0-9a-f]{32}")
_FIELDS = frozenset({"kind", "email", "registration_id", "user_id"})


class JobKind(enum.StrEnum):
    VERIFICATION = "verification"  # register and resend: verification link, or "already registered"
    VERIFICATION_REMINDER = "verification_reminder"  # cleanup's one reminder: a fresh link
    # Self-service: a link to the new address (the job names the user: `user_id`), or the notice
    # that it is taken; then the notice to the old address; the notice of a deleted account.
    EMAIL_CHANGE = "email_change"
    EMAIL_CHANGED = "email_changed"
    ACCOUNT_DELETED = "account_deleted"
    PASSWORD_RESET = "password_reset"
    PASSWORD_CHANGED = "password_changed"
    WELCOME = "welcome"
    TWO_FACTOR_ENABLED = "two_factor_enabled"  # security notices of TOTP enrolment and removal
    TWO_FACTOR_DISABLED = "two_factor_disabled"


@dataclass(frozen=True, slots=True)
class EmailJob:
    """One email job. Construction validates; `kind` accepts the plain string values too."""

    kind: JobKind
    email: str
    registration_id: str | None = None
    user_id: str | None = None  # email_change jobs only: whose address changes

    def __post_init__(self) -> None:
        try:
            kind = JobKind(self.kind)
        except ValueError:
            known = ", ".join(k.value for k in JobKind)
            raise ValueError(f"email job: unknown kind {self.kind!r} (expected one of {known})") from None
        object.__setattr__(self, "kind", kind)
        _check_email(self.email)
        if self.registration_id is not None:
            if not isinstance(self.registration_id, str) or not self.registration_id:
                raise ValueError("email job: registration_id must be a non-empty string or null")
            if len(self.registration_id) > MAX_REGISTRATION_ID_LENGTH or not self.registration_id.isprintable():
                raise ValueError("email job: registration_id is malformed")
            if kind is not JobKind.VERIFICATION:
                raise ValueError(f"email job: registration_id applies to verification jobs only, not {kind}")
        if (self.user_id is not None) != (kind is JobKind.EMAIL_CHANGE):
            raise ValueError("email job: user_id is required for email_change jobs and only for them")
        if self.user_id is not None and not _USER_ID.fullmatch(str(self.user_id)):
            raise ValueError("email job: user_id is malformed")

    @classmethod
    def parse(cls, body: str | bytes) -> EmailJob:
        """Parse an SQS message body; ValueError (with a reason, never the body) on anything else."""
        import json

        try:
            data = json.loads(body)
        except (ValueError, TypeError):
            raise ValueError("email job: body is not JSON") from None
        if not isinstance(data, dict):
            raise ValueError("email job: body is not a JSON object")
        unknown = set(data) - _FIELDS
        if unknown:
            raise ValueError(f"email job: unexpected fields {sorted(unknown)}")
        for field in ("kind", "email"):
            if field not in data:
                raise ValueError(f"email job: missing {field!r}")
        if not isinstance(data["kind"], str):
            raise ValueError("email job: kind must be a string")
        return cls(kind=data["kind"], email=data["email"], registration_id=data.get("registration_id"),
                   user_id=data.get("user_id"))

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": self.kind.value, "email": self.email, "registration_id": self.registration_id}
        if self.user_id is not None:
            body["user_id"] = self.user_id
        return body

    def to_json(self) -> str:
        import json

        return json.dumps(self.to_dict(), separators=(",", ":"))


def _check_email(email: object) -> None:
    if not isinstance(email, str):
        raise ValueError("email job: email must be a string")
    local, at, domain = email.rpartition("@")
    if (
        not at
        or not local
        or not domain
        or len(email) > MAX_EMAIL_LENGTH
        or not email.isprintable()
        or any(ch.isspace() for ch in email)
    ):
        raise ValueError("email job: email is not a normalized address")


class EmailQueue:
    """Puts email jobs on the SQS queue (`EMAIL_QUEUE_URL`)."""

    def __init__(self, queue_url: str, client: Any = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailQueue:
        return cls(settings.email_queue_url)

    @property
    def client(self) -> Any:
        if self._client is None:
            from accounts import aws

            self._client = aws.client("sqs")
        return self._client

    def enqueue(self, job: EmailJob) -> None:
        """Send one job; SQS errors propagate (the caller decides how the API answers)."""
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=job.to_json())

    def enqueue_many(self, jobs: list[EmailJob]) -> None:
        """Send jobs ten to a call (SendMessageBatch); entries SQS refused are sent again once,
        then reported as an error."""
        for start in range(0, len(jobs), 10):
            batch = {str(index): job for index, job in enumerate(jobs[start:start + 10])}
            for _ in range(2):
                entries = [{"Id": key, "MessageBody": job.to_json()} for key, job in batch.items()]
                failed = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries).get("Failed", [])
                batch = {entry["Id"]: batch[entry["Id"]] for entry in failed}
                if not batch:
                    break
            if batch:
                raise RuntimeError(f"SQS refused {len(batch)} email jobs")
