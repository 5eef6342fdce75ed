"""The operations dashboard (spec section 6): the one definition of its widgets and metric names.

`make dashboard` renders the body and writes it into template.yaml, as the `Fn::Sub` string of
OperationsDashboard's DashboardBody (`${RegisterFunction}` and the like become the resources' names
at deployment). Do not edit that body by hand:

- tests/template/test_dashboard.py fails when the template's body differs from what this module
  renders (so a new function, which appears here by itself, needs a `make dashboard`);
- tests/template/test_metric_names.py fails when a metric the code emits (`count("...")`) is not
  in SERVICE_WIDGETS below, or a metric shown here or alarmed on is emitted by nobody.

The functions are read from the template: every AWS::Serverless::Function gets a line in each
per-function widget, and its log group (LoggingConfig.LogGroup) joins the log widgets.

Per-route figures come from the API's access log (a Logs Insights table), not from API Gateway's
detailed route metrics: those would be 6 custom metrics per route (about $25 a month for this
API), the access log already holds route, status and latency, and a query costs only the bytes
it scans when the dashboard is opened.

    python -m ops.dashboard --write [--template template.yaml]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
RESOURCE = "OperationsDashboard"
PERIOD = 300

# The service's own metrics (namespace and `service` dimension from the template's Powertools
# variables), by widget. Every name here is emitted by the code, and every name the code emits is
# here. Cold starts have their own widget (per function).
SERVICE_WIDGETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Registrations, verifications, resets", ("Registrations", "EmailsVerified", "PasswordResets")),
    ("Logins", ("Logins", "Logouts", "LoginFailures", "Lockouts")),
    ("Two-factor", ("MfaChallenges", "MfaFailures", "MfaEnabled", "MfaDisabled")),
    ("Self-service", ("PasswordChanges", "EmailChanges", "AccountsDeleted")),
    ("Refusals and failures", ("RateLimited", "RefreshTokenReuse", "DependencyUnavailable", "UnhandledErrors")),
    ("Emails", ("EmailsSent", "EmailDeliveryFailures", "EmailsSuppressed", "InvalidEmailJobs")),
    ("Cleanup", ("DeletedUnverifiedAccounts", "VerificationRemindersQueued", "CleanupUnfinished")),
)
COLD_START = "ColdStart"  # Powertools' capture_cold_start_metric (dimensions function_name, service)

# Lambda's metrics per function: (widget title, metric, statistic).
FUNCTION_WIDGETS: tuple[tuple[str, str, str], ...] = (
    ("Invocations", "Invocations", "Sum"),
    ("Errors", "Errors", "Sum"),
    ("Throttles", "Throttles", "Sum"),
    ("Duration p99 (ms)", "Duration", "p99"),
    ("Concurrent executions (max)", "ConcurrentExecutions", "Maximum"),
)

# The access log's fields are strings; parse picks out the status class, count(field) counts the
# lines where it matched.
ROUTE_QUERY = (
    "fields routeKey, latency | parse status /^(?:(?<c4xx>4)|(?<c5xx>5))/ "
    "| stats count(*) as requests, count(c4xx) as errors4xx, count(c5xx) as errors5xx, "
    "pct(latency, 50) as p50ms, pct(latency, 99) as p99ms by routeKey | sort requests desc"
)
SECURITY_QUERY = (
    'filter message = "security event" | stats count(*) as events by event_type | sort events desc'
)
ERRORS_QUERY = (
    'filter level = "ERROR" or level = "WARNING" '
    "| fields @timestamp, @log, correlation_id, message, error_code, error_type "
    "| sort @timestamp desc | limit 50"
)


def _environment(template: dict[str, Any]) -> dict[str, Any]:
    return template["Globals"]["Function"]["Environment"]["Variables"]


def service_metrics() -> list[str]:
    return [name for _, names in SERVICE_WIDGETS for name in names]


def functions(template: dict[str, Any]) -> list[tuple[str, str]]:
    """(function, its log group) logical ids, in template order; every function must name its log
    group (LoggingConfig.LogGroup: !Ref ...)."""
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        log_group = _ref(((resource.get("Properties") or {}).get("LoggingConfig") or {}).get("LogGroup"))
        if log_group is None:
            raise ValueError(f"{logical_id} has no LoggingConfig.LogGroup: !Ref <its AWS::Logs::LogGroup>")
        found.append((logical_id, log_group))
    return found


def _ref(value: Any) -> str | None:
    target = value.get("Ref") if isinstance(value, dict) else None
    return target if isinstance(target, str) else None


def _metric(namespace: str, name: str, *dimensions: str, **options: Any) -> list[Any]:
    return [namespace, name, *dimensions, *([options] if options else [])]


def _graph(title: str, metrics: list[list[Any]], *, stat: str = "Sum", width: int = 8, **extra: Any) -> dict:
    properties = {"title": title, "region": "${AWS::Region}", "view": "timeSeries", "stacked": False,
                  "period": PERIOD, "stat": stat, "metrics": metrics, **extra}
    return {"type": "metric", "width": width, "height": 6, "properties": properties}


def _logs(title: str, log_groups: list[str], query: str, *, width: int = 12, view: str = "table") -> dict:
    sources = " | ".join(f"SOURCE '${{{group}}}'" for group in log_groups)
    properties = {"title": title, "region": "${AWS::Region}", "view": view, "query": f"{sources} | {query}"}
    return {"type": "log", "width": width, "height": 6, "properties": properties}


def _text(markdown: str) -> dict:
    return {"type": "text", "width": 24, "height": 2, "properties": {"markdown": markdown}}


def widgets(template: dict[str, Any]) -> list[dict[str, Any]]:
    environment = _environment(template)
    namespace, service = environment["POWERTOOLS_METRICS_NAMESPACE"], environment["POWERTOOLS_SERVICE_NAME"]
    fns = functions(template)
    api = ("ApiId", "${HttpApi}")
    table = ("TableName", "${AccountsTable}")
    index = (*table, "GlobalSecondaryIndexName", "unverified")
    queue, dead = ("QueueName", "${EmailQueue.QueueName}"), ("QueueName", "${EmailDeadLetterQueue.QueueName}")
    config_set = ("ses:configuration-set", "${EmailConfigurationSet}")

    def annotated(value: float) -> dict:
        return {"annotations": {"horizontal": [{"label": "alarm", "value": value}]}}

    found: list[dict[str, Any]] = [
        _text("## Accounts service: ${AWS::StackName}\nWhat each graph means and what to do about each "
              "alarm: docs/operations.md in the repository."),
        # API
        _graph("API requests, 4xx, 5xx", [_metric("AWS/ApiGateway", name, *api) for name in ("Count", "4xx", "5xx")],
               width=12),
        _graph("API latency (ms)", [_metric("AWS/ApiGateway", "Latency", *api, stat="p50", label="p50"),
                                    _metric("AWS/ApiGateway", "Latency", *api, stat="p99", label="p99")],
               stat="p99", width=12, **annotated(3000)),
        _logs("Per route: requests, 4xx, 5xx, latency p50/p99 in ms (access log)", ["HttpApiAccessLogGroup"],
              ROUTE_QUERY, width=24),
    ]
    # Functions
    for title, metric, stat in FUNCTION_WIDGETS:
        found.append(_graph(f"Functions: {title}", [
            _metric("AWS/Lambda", metric, "FunctionName", f"${{{function}}}", label=function) for function, _ in fns
        ], stat=stat))
    found.append(_graph("Functions: cold starts", [
        _metric(namespace, COLD_START, "function_name", f"${{{function}}}", "service", service, label=function)
        for function, _ in fns
    ]))
    # The service's own metrics
    for title, names in SERVICE_WIDGETS:
        found.append(_graph(title, [_metric(namespace, name, "service", service) for name in names]))
    # Email: queue, SES
    found += [
        _graph("Email queue: depth and dead letters",
               [_metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", *queue, label="queued"),
                _metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", *dead, label="dead-letter queue")],
               stat="Maximum"),
        _graph("Email queue: oldest job (s)",
               [_metric("AWS/SQS", "ApproximateAgeOfOldestMessage", *queue, label="oldest job")],
               stat="Maximum", **annotated(900)),
        _graph("SES events (this configuration set)",
               [_metric("AWS/SES", name, *config_set) for name in ("Delivery", "Bounce", "Complaint", "Reject")]),
        _graph("SES bounce rate (account; AWS reviews at 5 %)",
               [_metric("AWS/SES", "Reputation.BounceRate", label="bounce rate")], stat="Maximum",
               **annotated(0.025)),
        _graph("SES complaint rate (account; AWS reviews at 0.1 %)",
               [_metric("AWS/SES", "Reputation.ComplaintRate", label="complaint rate")], stat="Maximum",
               **annotated(0.0005)),
    ]
    # DynamoDB
    found += [
        _graph("DynamoDB throttled requests",
               [_metric("AWS/DynamoDB", "ReadThrottleEvents", *table, label="table reads"),
                _metric("AWS/DynamoDB", "WriteThrottleEvents", *table, label="table writes"),
                _metric("AWS/DynamoDB", "WriteThrottleEvents", *index, label="index writes")]),
        _graph("DynamoDB consumed capacity (units)",
               [_metric("AWS/DynamoDB", "ConsumedReadCapacityUnits", *table, label="table reads"),
                _metric("AWS/DynamoDB", "ConsumedWriteCapacityUnits", *table, label="table writes"),
                _metric("AWS/DynamoDB", "ConsumedWriteCapacityUnits", *index, label="index writes")]),
    ]
    # Logs
    groups = [group for _, group in fns]
    found += [
        _logs("Security events by type (function logs)", groups, SECURITY_QUERY, width=8),
        _logs("Latest errors and warnings (function logs)", groups, ERRORS_QUERY, width=16),
    ]
    return _laid_out(found)


def _laid_out(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Left to right on CloudWatch's 24-column grid, a new row when a widget does not fit."""
    x = y = row_height = 0
    placed = []
    for widget in found:
        if x + widget["width"] > 24:
            x, y, row_height = 0, y + row_height, 0
        placed.append({"type": widget["type"], "x": x, "y": y, "width": widget["width"],
                       "height": widget["height"], "properties": widget["properties"]})
        x += widget["width"]
        row_height = max(row_height, widget["height"])
    return placed


def render(template: dict[str, Any]) -> str:
    """The DashboardBody (an Fn::Sub string): one widget per line, so a change reads as a diff."""
    lines = [json.dumps(widget, separators=(",", ":")) for widget in widgets(template)]
    return '{"widgets":[\n' + ",\n".join(lines) + "\n]}\n"


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    from local.cfn import load_yaml

    return load_yaml(path)


def write(path: Path = TEMPLATE) -> bool:
    """Replace the DashboardBody block of the template's OperationsDashboard; True when it changed."""
    text = path.read_text(encoding="utf-8")
    body = render(load(path))
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines)
                  if re.fullmatch(r"\s*DashboardBody: !Sub \|", line) and _in_dashboard(lines, i)), None)
    if start is None:
        raise SystemExit(f"{path}: {RESOURCE} has no `DashboardBody: !Sub |` line to write the body under")
    indent = " " * (len(lines[start]) - len(lines[start].lstrip()) + 2)
    end = start + 1
    while end < len(lines) and (lines[end].startswith(indent) or not lines[end].strip()):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():  # blank lines after the block stay
        end -= 1
    new = lines[: start + 1] + [indent + line for line in body.rstrip("\n").split("\n")] + lines[end:]
    updated = "\n".join(new)
    if updated == text:
        return False
    path.write_text(updated, encoding="utf-8")
    return True


def _in_dashboard(lines: list[str], index: int) -> bool:
    """Whether line `index` belongs to the OperationsDashboard resource."""
    for line in reversed(lines[:index]):
        if re.fullmatch(r"  [A-Za-z0-9]+:\s*", line):
            return line.strip() == f"{RESOURCE}:"
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="write the body into the template")
    action.add_argument("--check", action="store_true", help="exit 1 when the template's body is stale")
    options = parser.parse_args(argv)
    if options.write:
        changed = write(options.template)
        print(f"{options.template}: dashboard body {'updated' if changed else 'already up to date'}")
        return 0
    body = render(load(options.template))
    if options.check:
        current = load(options.template)["Resources"][RESOURCE]["Properties"]["DashboardBody"].get("Fn::Sub")
        if current != body:
            print(f"{options.template}: the dashboard body is stale; run `make dashboard`", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
