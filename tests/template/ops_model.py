"""Reading template.yaml's operations resources for the tests: functions, alarms and the metrics
they watch, and the dashboard's widgets and metrics (its Fn::Sub body substituted)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.cfn import load_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
PSEUDO = {"AWS::Region": "us-east-1", "AWS::StackName": "accounts", "AWS::AccountId": "123456789012",
          "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: dict[str, Any] = field(default_factory=dict)
    where: str = ""

    @property
    def dimension_names(self) -> frozenset[str]:
        return frozenset(self.dimensions)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    return load_yaml(path)


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in template["Resources"].items() if resource.get("Type") == kind}


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: resource.get("Properties") or {}
            for name, resource in resources_of(template, "AWS::Serverless::Function").items()}


def environment(template: dict[str, Any]) -> dict[str, Any]:
    return template["Globals"]["Function"]["Environment"]["Variables"]


def alarm_metrics(name: str, properties: dict[str, Any]) -> list[Metric]:
    """The metrics an alarm watches: its own, or those of its metric-math expression."""
    def dims(values: list[dict[str, Any]] | None) -> dict[str, Any]:
        return {item["Name"]: item["Value"] for item in values or []}

    if "MetricName" in properties:
        return [Metric(properties["Namespace"], properties["MetricName"], dims(properties.get("Dimensions")), name)]
    found = []
    for query in properties.get("Metrics") or []:
        metric = (query.get("MetricStat") or {}).get("Metric")
        if metric:
            found.append(Metric(metric["Namespace"], metric["MetricName"], dims(metric.get("Dimensions")), name))
    return found


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: resource["Properties"] for name, resource in resources_of(template, "AWS::CloudWatch::Alarm").items()}


def dashboard_body(template: dict[str, Any]) -> str:
    [dashboard] = resources_of(template, "AWS::CloudWatch::Dashboard").values()
    return dashboard["Properties"]["DashboardBody"]["Fn::Sub"]


def substituted(body: str, template: dict[str, Any]) -> str:
    """The body as CloudFormation would deliver it, with stand-in names; an unknown ${...} fails."""
    known = set(template["Resources"]) | set(template.get("Parameters") or {})

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in PSEUDO:
            return PSEUDO[name]
        resource, _, attribute = name.partition(".")
        assert resource in known, f"the dashboard names ${{{name}}}, which the template does not define"
        return f"{resource}-{attribute or 'name'}"

    return re.sub(r"\$\{([^}!]+)\}", value, body)


def dashboard_widgets(template: dict[str, Any]) -> list[dict[str, Any]]:
    return json.loads(substituted(dashboard_body(template), template))["widgets"]


def dashboard_metrics(template: dict[str, Any]) -> list[Metric]:
    found = []
    for widget in dashboard_widgets(template):
        if widget["type"] != "metric":
            continue
        for row in widget["properties"]["metrics"]:
            values = [item for item in row if not isinstance(item, dict)]
            namespace, name, *pairs = values
            found.append(Metric(namespace, name, dict(zip(pairs[::2], pairs[1::2])), widget["properties"]["title"]))
    return found
