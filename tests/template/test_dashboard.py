"""The operations dashboard (spec section 6): generated from ops/dashboard.py, valid, and showing what
the spec lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ops import dashboard
from tests.template.ops_model import (
    TEMPLATE_PATH,
    dashboard_body,
    dashboard_metrics,
    dashboard_widgets,
    functions,
    load_template,
)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def _shown(template: dict[str, Any], namespace: str) -> set[tuple[str, str]]:
    """(metric, statistic) pairs on the dashboard for one namespace."""
    shown = set()
    for widget in dashboard_widgets(template):
        if widget["type"] != "metric":
            continue
        for row in widget["properties"]["metrics"]:
            options = row[-1] if isinstance(row[-1], dict) else {}
            if row[0] == namespace:
                shown.add((row[1], options.get("stat", widget["properties"]["stat"])))
    return shown


def test_the_templates_body_is_what_ops_dashboard_renders(template: dict[str, Any]) -> None:
    assert dashboard_body(template) == dashboard.render(template), "stale dashboard body: run `make dashboard`"


def test_the_body_is_valid_json_with_widgets_on_the_grid(template: dict[str, Any]) -> None:
    widgets = dashboard_widgets(template)  # json.loads after substituting every ${...}
    assert widgets
    for widget in widgets:
        assert widget["type"] in ("metric", "log", "text")
        assert 0 <= widget["x"] and widget["x"] + widget["width"] <= 24, widget


def test_every_function_is_graphed_with_the_lambda_metrics_section_6_lists(template: dict[str, Any]) -> None:
    for metric, stat in [("Invocations", "Sum"), ("Errors", "Sum"), ("Throttles", "Sum"), ("Duration", "p99"),
                         ("ConcurrentExecutions", "Maximum")]:
        assert (metric, stat) in _shown(template, "AWS/Lambda")
        graphed = {m.dimensions["FunctionName"] for m in dashboard_metrics(template) if m.name == metric}
        assert graphed == {f"{name}-name" for name in functions(template)}, metric


def test_api_requests_errors_and_latency_overall_and_per_route(template: dict[str, Any]) -> None:
    assert {("Count", "Sum"), ("4xx", "Sum"), ("5xx", "Sum"), ("Latency", "p50"), ("Latency", "p99")} <= _shown(
        template, "AWS/ApiGateway")
    [routes] = [w for w in dashboard_widgets(template) if w["type"] == "log" and "by routeKey" in w["properties"]["query"]]
    query = routes["properties"]["query"]
    assert query.startswith("SOURCE 'HttpApiAccessLogGroup-name' |")
    for part in ("count(*) as requests", "count(c4xx)", "count(c5xx)", "pct(latency, 50)", "pct(latency, 99)"):
        assert part in query


def test_queue_ses_and_dynamodb_figures(template: dict[str, Any]) -> None:
    assert {("ApproximateNumberOfMessagesVisible", "Maximum"), ("ApproximateAgeOfOldestMessage", "Maximum")} <= _shown(
        template, "AWS/SQS")
    queues = {m.dimensions["QueueName"] for m in dashboard_metrics(template) if m.namespace == "AWS/SQS"}
    assert queues == {"EmailQueue-QueueName", "EmailDeadLetterQueue-QueueName"}
    assert {("Reputation.BounceRate", "Maximum"), ("Reputation.ComplaintRate", "Maximum"), ("Bounce", "Sum"),
            ("Complaint", "Sum")} <= _shown(template, "AWS/SES")
    assert {("ReadThrottleEvents", "Sum"), ("WriteThrottleEvents", "Sum"), ("ConsumedReadCapacityUnits", "Sum"),
            ("ConsumedWriteCapacityUnits", "Sum")} <= _shown(template, "AWS/DynamoDB")


def test_security_events_and_errors_are_queried_from_every_functions_log_group(template: dict[str, Any]) -> None:
    logs = [w["properties"]["query"] for w in dashboard_widgets(template) if w["type"] == "log"]
    for name, properties in functions(template).items():
        group = properties["LoggingConfig"]["LogGroup"]["Ref"]
        assert sum(f"SOURCE '{group}-name'" in query for query in logs) == 2, name
    assert any('message = "security event"' in query for query in logs)


def test_write_replaces_only_the_body(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    original = TEMPLATE_PATH.read_text(encoding="utf-8")
    stale = original.replace('{"widgets":[', '{"widgets":[\n        {"type":"text","width":24,"height":1,'
                                             '"properties":{"markdown":"stale"}},', 1)
    path.write_text(stale, encoding="utf-8")
    assert dashboard.main(["--check", "--template", str(path)]) == 1
    assert dashboard.write(path) is True
    assert path.read_text(encoding="utf-8") == original
    assert dashboard.write(path) is False
    assert dashboard.main(["--check", "--template", str(path)]) == 0
