"""SQS worker: sends the email of each job, with partial batch failures.

A job whose delivery fails (SES down, throttled) is reported back to SQS and retried; after the
queue's last attempt it moves to the dead-letter queue. Each flow's delivery logic lives beside
the rest of that flow in accounts.flows; this module only dispatches."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from accounts import snapstart
from accounts.email_jobs import EmailJob, JobKind
from accounts.flows import account, email_change, mfa, password_reset, verification
from accounts.observability import count, instrumented, logger
from accounts.services import get_mailer, get_services

# With SnapStart on, prime this function's imports, clients and hasher before the snapshot.
snapstart.enable(mailer=True)

# Report failed records instead of failing the invocation, also when every record failed.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


DELIVERIES = {
    JobKind.VERIFICATION: verification.deliver_verification,
    JobKind.VERIFICATION_REMINDER: verification.deliver_reminder,
    JobKind.WELCOME: verification.deliver_welcome,
    JobKind.PASSWORD_RESET: password_reset.deliver_reset,
    JobKind.PASSWORD_CHANGED: password_reset.deliver_password_changed,
    JobKind.EMAIL_CHANGE: email_change.deliver_email_change,
    JobKind.EMAIL_CHANGED: email_change.deliver_email_changed,
    JobKind.ACCOUNT_DELETED: account.deliver_account_deleted,
    JobKind.TWO_FACTOR_ENABLED: mfa.deliver_two_factor_enabled,
    JobKind.TWO_FACTOR_DISABLED: mfa.deliver_two_factor_disabled,
}


def record_handler(record: SQSRecord) -> str:
    logger.set_correlation_id(record.message_id)
    try:
        job = EmailJob.parse(record.body)
    except ValueError:
        # Retrying cannot fix a malformed job: drop it, loudly.
        logger.error("dropping malformed email job", extra={"message_id": record.message_id})
        count("InvalidEmailJobs")
        return "invalid"
    services = get_services()
    first_attempt = int(record.attributes.approximate_receive_count or 1) <= 1
    try:
        outcome = DELIVERIES[job.kind](services, get_mailer(), job, first_attempt=first_attempt)
    except Exception as error:
        # Never the message body or the email (it carries a token): kind, type and AWS code only.
        code = getattr(error, "response", {}).get("Error", {}).get("Code") if hasattr(error, "response") else None
        logger.warning(
            "email delivery failed; SQS will retry",
            extra={"kind": str(job.kind), "error_type": type(error).__name__, "error_code": code,
                   "message_id": record.message_id},
        )
        count("EmailDeliveryFailures")
        raise
    logger.info("email job done", extra={"kind": str(job.kind), "outcome": outcome})
    if outcome.startswith("sent_"):
        count("EmailsSent")
    elif outcome == "email_limited":
        # The per-address limit dropped it (the API answered 202 as usual): nothing was sent.
        count("EmailsSuppressed")
    return outcome


# Each record's log lines carry its message id (set in record_handler), not the batch's.
@instrumented(correlation_id_path=None)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
