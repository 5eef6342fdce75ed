"""One Logger and one Metrics object for every function, so logs and metrics look the same everywhere.

Service name and metrics namespace come from the Powertools variables (POWERTOOLS_SERVICE_NAME,
POWERTOOLS_METRICS_NAMESPACE), with defaults so tests and local mode need no setup.

There is deliberately no module-level Tracer: Powertools' Tracer imports the X-Ray SDK, which costs
about twice `import boto3` at cold start. Lambda's active tracing (Tracing: Active in the template)
records every invocation and its AWS calls' timing without it; `tracer()` is there for code that
wants custom subsegments and is willing to pay for them.
"""

from __future__ import annotations

import functools
import os
import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "accounts")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "AccountService")

# An invocation that records no metric (a refused request) is normal here, not a mistake.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

__all__ = ["MetricUnit", "count", "logger", "metrics", "tracer"]


def count(name: str, value: int = 1) -> None:
    """Add to a counter metric of this invocation (flushed by @metrics.log_metrics)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@functools.cache
def tracer():  # pragma: no cover - X-Ray is not available locally
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)
