"""One Logger and one Metrics object for every function, so logs and metrics look the same everywhere.

Service name and metrics namespace come from the Powertools variables (POWERTOOLS_SERVICE_NAME,
POWERTOOLS_METRICS_NAMESPACE), with defaults so tests and local mode need no setup.

Every Lambda handler is wrapped by `instrumented(...)` (and nothing else from here):

    @instrumented()                                   # API routes: correlation id = API Gateway request id
    def lambda_handler(event, context): ...

    @instrumented(correlation_id_path=SCHEDULE_EVENT_ID)   # EventBridge: the event's id

so every log line of an invocation carries the request's `correlation_id`, its metrics are
flushed as one EMF line at the end, and a cold start adds a `ColdStart` metric (dimension
`function_name`). The SQS worker passes `correlation_id_path=None` and sets each message's id
with `logger.set_correlation_id` as it takes the record up. A new function gets all of this by
using the decorator; the operations dashboard (ops/dashboard.py) lists every metric name the code
emits, and tests/template/test_metric_names.py fails when a `count("...")` name is missing there.

There is deliberately no module-level Tracer: Powertools' Tracer imports the X-Ray SDK, which costs
about twice `import boto3` at cold start. Lambda's active tracing (Tracing: Active in the template)
records every invocation and its AWS calls' timing without it; `tracer()` is there for code that
wants custom subsegments and is willing to pay for them.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "accounts")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "AccountService")

# Where each kind of invocation carries the id that ties its log lines together.
API_REQUEST_ID = correlation_paths.API_GATEWAY_HTTP  # requestContext.requestId, as in the access log
SCHEDULE_EVENT_ID = correlation_paths.EVENT_BRIDGE  # the scheduled event's id
ROTATION_REQUEST_ID = "ClientRequestToken"  # Secrets Manager rotation: the version being rotated to

# Context keys Powertools puts on every line that the log group already says (each function has its
# own): about 150 bytes a line, and CloudWatch Logs bills ingestion by the byte. The request ids
# (function_request_id, correlation_id) and cold_start stay.
REDUNDANT_CONTEXT = ("function_name", "function_arn", "function_memory_size")

# An invocation that records no metric (a refused request) is normal here, not a mistake.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

__all__ = [
    "API_REQUEST_ID",
    "ROTATION_REQUEST_ID",
    "SCHEDULE_EVENT_ID",
    "MetricUnit",
    "count",
    "instrumented",
    "logger",
    "metrics",
    "security_event",
    "tracer",
]

Handler = TypeVar("Handler", bound=Callable[..., Any])


def instrumented(correlation_id_path: str | None = API_REQUEST_ID) -> Callable[[Handler], Handler]:
    """The decorator of every Lambda handler: Lambda context and correlation id on every log line
    (state cleared between invocations), metrics flushed at the end, a ColdStart metric."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def lean(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
            logger.remove_keys(REDUNDANT_CONTEXT)  # put back by each invocation's context injection
            return handler(event, context, *args, **kwargs)

        with_metrics = metrics.log_metrics(lean, capture_cold_start_metric=True)
        return logger.inject_lambda_context(
            with_metrics, correlation_id_path=correlation_id_path, clear_state=True
        )

    return decorate


def count(name: str, value: int = 1) -> None:
    """Add to a counter metric of this invocation (flushed by `instrumented`). Use a literal name:
    the dashboard test finds the names in the source."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def security_event(
    kind: str, *, user_id: str, ip: str | None = None, actor: str | None = None, **details: Any
) -> None:
    """One structured log line per security event: its type, the user, the caller's IP and, for an
    admin action, the admin. Never an email address, a password or a token: callers pass ids only."""
    fields: dict[str, Any] = {"event_type": kind, "user_id": user_id, "ip": ip}
    if actor:
        fields["actor"] = actor
    fields.update(details)
    logger.info("security event", extra=fields)


@functools.cache
def tracer():  # pragma: no cover - X-Ray is not available locally
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)
