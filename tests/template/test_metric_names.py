"""Metric names cannot drift (spec section 6): every metric the code emits is on the dashboard, every
metric of the service's namespace on the dashboard or in an alarm is emitted by the code (with the
dimensions the code gives it), and every AWS metric is one AWS publishes, with its dimensions.

The code's metrics are found statically: `count("Name")` calls in modules that import `count`
from accounts.observability, `add_metric(name=...)` and `single_metric(name=...)` calls, and
Powertools' `ColdStart` wherever `capture_cold_start_metric=True` is passed."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from ops import dashboard
from tests.template.ops_model import (
    ROOT,
    Metric,
    alarm_metrics,
    alarms,
    dashboard_metrics,
    environment,
    load_template,
    resources_of,
)

CODE = [ROOT / "layers" / "common" / "accounts", ROOT / "functions"]

# What AWS publishes, per namespace: metric -> the dimension sets it is published with (a small
# list of what this stack watches; add to it only what the service's documentation lists).
TABLE, INDEX = frozenset({"TableName"}), frozenset({"TableName", "GlobalSecondaryIndexName"})
AWS_METRICS: dict[str, dict[str, set[frozenset[str]]]] = {
    "AWS/Lambda": {name: {frozenset({"FunctionName"})} for name in (
        "Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions")},
    "AWS/ApiGateway": {name: {frozenset({"ApiId"}), frozenset({"ApiId", "Stage"})} for name in (
        "Count", "4xx", "5xx", "Latency", "IntegrationLatency", "DataProcessed")},
    "AWS/SQS": {name: {frozenset({"QueueName"})} for name in (
        "ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage",
        "ApproximateNumberOfMessagesNotVisible", "NumberOfMessagesSent", "NumberOfMessagesDeleted")},
    "AWS/DynamoDB": {name: {TABLE, INDEX} for name in (
        "ReadThrottleEvents", "WriteThrottleEvents", "ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits")},
    # Account-wide reputation (what AWS reviews), no dimension; the configuration set's event
    # destination publishes one metric per event type, with the dimension the template configures.
    "AWS/SES": {"Reputation.BounceRate": {frozenset()}, "Reputation.ComplaintRate": {frozenset()},
                **{name: {frozenset({"ses:configuration-set"})} for name in (
                    "Send", "Delivery", "Bounce", "Complaint", "Reject")}},
}


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _imports_count(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.ImportFrom) and node.module == "accounts.observability"
               and any(alias.name == "count" for alias in node.names) for node in ast.walk(tree))


def scan(paths: list[Path]) -> tuple[dict[str, list[str]], list[str]]:
    """(metric name -> where it is emitted, emitters whose name is not a literal)."""
    found: dict[str, list[str]] = {}
    unreadable: list[str] = []
    for path in sorted(p for root in paths for p in root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        counts = _imports_count(tree)
        # observability.count itself passes its argument on: its calls are where the names come from.
        inside_count = {id(node) for definition in ast.walk(tree)
                        if isinstance(definition, ast.FunctionDef) and definition.name == "count"
                        for node in ast.walk(definition)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or id(node) in inside_count:
                continue
            where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{node.lineno}"
            keywords = {keyword.arg: keyword.value for keyword in node.keywords}
            if any(name == "capture_cold_start_metric" and isinstance(value, ast.Constant) and value.value is True
                   for name, value in keywords.items()):
                found.setdefault(dashboard.COLD_START, []).append(where)
            func = node.func
            if counts and isinstance(func, ast.Name) and func.id == "count":
                argument = node.args[0] if node.args else keywords.get("name")
            elif isinstance(func, ast.Attribute | ast.Name) and getattr(func, "attr", getattr(func, "id", "")) in (
                    "add_metric", "single_metric"):
                argument = keywords.get("name") or (node.args[0] if node.args else None)
            else:
                continue
            name = _literal(argument)
            if name is None:
                unreadable.append(where)
                continue
            found.setdefault(name, []).append(where)
    return found, unreadable


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def code_metrics() -> dict[str, list[str]]:
    return scan(CODE)[0]


@pytest.fixture(scope="module")
def watched(template: dict[str, Any]) -> list[Metric]:
    """Every metric on the dashboard or in an alarm."""
    found = list(dashboard_metrics(template))
    for name, properties in alarms(template).items():
        found += alarm_metrics(name, properties)
    return found


def test_the_scan_finds_the_known_emitters(code_metrics: dict[str, list[str]]) -> None:
    """A guard against a scan that finds nothing and so passes everything."""
    assert {"Logins", "LoginFailures", "UnhandledErrors", "EmailDeliveryFailures", "ColdStart"} <= set(code_metrics)


def test_every_emitted_metric_has_a_literal_name() -> None:
    """A name built at run time could not be checked against the dashboard."""
    assert scan(CODE)[1] == [], "metric names must be string literals"


def test_every_metric_the_code_emits_is_on_the_dashboard(template: dict[str, Any],
                                                          code_metrics: dict[str, list[str]]) -> None:
    shown = {metric.name for metric in dashboard_metrics(template)
             if metric.namespace == environment(template)["POWERTOOLS_METRICS_NAMESPACE"]}
    missing = {name: where for name, where in code_metrics.items() if name not in shown}
    assert not missing, f"emitted but not on the dashboard (add them to ops/dashboard.py, then make dashboard): {missing}"


def test_every_service_metric_watched_is_emitted_by_the_code(watched: list[Metric],
                                                            code_metrics: dict[str, list[str]]) -> None:
    namespaces = {metric.namespace for metric in watched if not metric.namespace.startswith("AWS/")}
    assert namespaces == {"AccountService"}
    phantom = {(metric.name, metric.where) for metric in watched
               if not metric.namespace.startswith("AWS/") and metric.name not in code_metrics}
    assert not phantom, f"watched but emitted by nobody: {sorted(phantom)}"


def test_service_metrics_are_watched_with_the_namespace_and_dimensions_they_are_emitted_with(
        template: dict[str, Any], watched: list[Metric]) -> None:
    """Powertools publishes every metric with the `service` dimension (ColdStart also with
    `function_name`); a graph or alarm without exactly those dimensions watches nothing."""
    variables = environment(template)
    namespace, service = variables["POWERTOOLS_METRICS_NAMESPACE"], variables["POWERTOOLS_SERVICE_NAME"]
    for metric in watched:
        if metric.namespace.startswith("AWS/"):
            continue
        assert metric.namespace == namespace, metric
        expected = {"function_name", "service"} if metric.name == dashboard.COLD_START else {"service"}
        assert metric.dimension_names == expected, metric
        assert metric.dimensions["service"] == service, metric


def test_aws_metrics_are_ones_aws_publishes_with_their_dimensions(watched: list[Metric]) -> None:
    for metric in watched:
        if not metric.namespace.startswith("AWS/"):
            continue
        published = AWS_METRICS.get(metric.namespace, {})
        assert metric.name in published, f"{metric.namespace} publishes no {metric.name} ({metric.where})"
        assert metric.dimension_names in published[metric.name], metric


def test_ses_event_metrics_match_the_configuration_sets_event_destination(template: dict[str, Any],
                                                                          watched: list[Metric]) -> None:
    [destination] = [resource["Properties"]["EventDestination"] for resource in
                     resources_of(template, "AWS::SES::ConfigurationSetEventDestination").values()]
    [dimension] = destination["CloudWatchDestination"]["DimensionConfigurations"]
    events = {kind.lower() for kind in destination["MatchingEventTypes"]}
    for metric in watched:
        if metric.namespace == "AWS/SES" and metric.dimensions:
            assert set(metric.dimensions) == {dimension["DimensionName"]}
            assert metric.name.lower() in events, f"the event destination does not publish {metric.name}"


def test_dynamodb_metrics_name_the_tables_own_index(template: dict[str, Any], watched: list[Metric]) -> None:
    [table] = resources_of(template, "AWS::DynamoDB::Table").values()
    indexes = {index["IndexName"] for index in table["Properties"].get("GlobalSecondaryIndexes", [])}
    for metric in watched:
        if "GlobalSecondaryIndexName" in metric.dimensions:
            assert metric.dimensions["GlobalSecondaryIndexName"] in indexes, metric


def test_the_scan_reads_count_calls_and_ignores_other_counts(tmp_path: Path) -> None:
    (tmp_path / "emits.py").write_text(
        "from accounts.observability import count\n"
        "count('Seen')\ncount(name='Named')\n[1].count(1)\nmetrics.add_metric(name='Added', unit='Count', value=1)\n"
        "metrics.log_metrics(handler, capture_cold_start_metric=True)\ncount(NAME)\n")
    (tmp_path / "other.py").write_text("from itertools import count\ncount('NotAMetric')\n")
    found, unreadable = scan([tmp_path])
    assert set(found) == {"Seen", "Named", "Added", "ColdStart"}
    assert len(unreadable) == 1
