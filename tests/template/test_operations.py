"""Operations in template.yaml (spec section 6): a log group with retention per function, an errors
and a throttles alarm per function, the alarms section 6 lists and where they notify, SES
suppression, and every handler wrapped by the shared observability decorator.

Functions are read from the template, so a new function without its log group, its alarms or the
decorator fails here."""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest

from tests.template.ops_model import ROOT, alarm_metrics, alarms, functions, load_template, resources_of

NOTIFY = {"Fn::If": ["HasAlarmEmail", [{"Ref": "AlarmTopic"}],
                     {"Fn::If": ["UseAlarmTopicArn", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}]}
SERVICE = {"service": "accounts"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def _alarms_on(template: dict[str, Any], namespace: str, metric: str) -> dict[str, dict[str, Any]]:
    return {name: properties for name, properties in alarms(template).items()
            if any(m.namespace == namespace and m.name == metric for m in alarm_metrics(name, properties))}


def _function_alarm(template: dict[str, Any], function: str, metric: str) -> list[str]:
    return [name for name, properties in _alarms_on(template, "AWS/Lambda", metric).items()
            if any(m.dimensions == {"FunctionName": {"Ref": function}} for m in alarm_metrics(name, properties))]


# ------------------------------------------------------------------------------------- logs


def test_log_retention_is_a_parameter_of_30_days_by_default(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["LogRetentionDays"]
    assert parameter["Default"] == "30"
    assert {"1", "30", "365", "3653"} <= set(parameter["AllowedValues"])  # CloudWatch Logs' own values


def test_every_function_logs_to_its_own_log_group_kept_for_the_retention_and_deleted_with_the_stack(
        template: dict[str, Any]) -> None:
    groups = []
    for name, properties in functions(template).items():
        reference = (properties.get("LoggingConfig") or {}).get("LogGroup")
        assert isinstance(reference, dict) and "Ref" in reference, f"{name}: no LoggingConfig.LogGroup"
        group = template["Resources"][reference["Ref"]]
        assert group["Type"] == "AWS::Logs::LogGroup", name
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Delete", name
        groups.append(reference["Ref"])
    assert len(groups) == len(set(groups)), "two functions share a log group"


def test_function_log_format_and_levels_stay_in_globals(template: dict[str, Any]) -> None:
    """SAM merges a function's LoggingConfig over Globals': functions add only their log group."""
    for name, properties in functions(template).items():
        assert set(properties["LoggingConfig"]) == {"LogGroup"}, name
    assert template["Globals"]["Function"]["LoggingConfig"]["LogFormat"] == "JSON"


def test_the_access_log_is_kept_for_the_same_retention(template: dict[str, Any]) -> None:
    group = template["Resources"]["HttpApiAccessLogGroup"]
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert group["DeletionPolicy"] == "Delete"


# ----------------------------------------------------------------------------------- alarms


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_an_errors_and_a_throttles_alarm(template: dict[str, Any], metric: str) -> None:
    missing = [name for name in functions(template) if not _function_alarm(template, name, metric)]
    assert not missing, f"functions without a {metric} alarm: {missing}"


def test_every_alarm_notifies_the_stacks_topic_or_the_one_passed_in(template: dict[str, Any]) -> None:
    for name, properties in alarms(template).items():
        assert properties["AlarmActions"] == NOTIFY, name
        assert properties["OKActions"] == NOTIFY, name
        assert properties["TreatMissingData"] == "notBreaching", name
        assert "docs/operations.md#" in properties["AlarmDescription"], name


def test_the_topic_is_created_only_when_an_email_is_given_and_subscribes_it(template: dict[str, Any]) -> None:
    conditions = template["Conditions"]
    assert conditions["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert conditions["UseAlarmTopicArn"] == {"Fn::And": [{"Fn::Not": [{"Condition": "HasAlarmEmail"}]},
                                                          {"Condition": "HasAlarmTopic"}]}
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    topic = template["Resources"]["AlarmTopic"]
    assert topic["Type"] == "AWS::SNS::Topic" and topic["Condition"] == "HasAlarmEmail"
    [subscription] = resources_of(template, "AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {"TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email",
                                          "Endpoint": {"Ref": "AlarmEmail"}}


# (namespace, metric, dimensions, statistic, comparison, threshold) of the alarms section 6 lists.
SPEC_ALARMS = [
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": {"Fn::GetAtt": ["EmailDeadLetterQueue", "QueueName"]}},
     "Maximum", "GreaterThanOrEqualToThreshold", 1),
    ("AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": {"Fn::GetAtt": ["EmailQueue", "QueueName"]}},
     "Maximum", "GreaterThanThreshold", 900),
    ("AWS/SES", "Reputation.BounceRate", {}, "Maximum", "GreaterThanThreshold", 0.025),
    ("AWS/SES", "Reputation.ComplaintRate", {}, "Maximum", "GreaterThanThreshold", 0.0005),
    ("AWS/ApiGateway", "Latency", {"ApiId": {"Ref": "HttpApi"}}, "p99", "GreaterThanThreshold", 3000),
    ("AccountService", "UnhandledErrors", SERVICE, "Sum", "GreaterThanOrEqualToThreshold", 1),
    ("AccountService", "DependencyUnavailable", SERVICE, "Sum", "GreaterThanOrEqualToThreshold", 5),
    ("AccountService", "RefreshTokenReuse", SERVICE, "Sum", "GreaterThanOrEqualToThreshold", 10),
]


@pytest.mark.parametrize(("namespace", "metric", "dimensions", "statistic", "comparison", "threshold"), SPEC_ALARMS,
                         ids=[row[1] for row in SPEC_ALARMS])
def test_the_single_metric_alarms_of_section_6(template: dict[str, Any], namespace: str, metric: str,
                                               dimensions: dict, statistic: str, comparison: str,
                                               threshold: float) -> None:
    [properties] = _alarms_on(template, namespace, metric).values()
    assert properties.get("Dimensions", []) == [{"Name": k, "Value": v} for k, v in dimensions.items()]
    assert properties.get("Statistic", properties.get("ExtendedStatistic")) == statistic
    assert (properties["ComparisonOperator"], properties["Threshold"]) == (comparison, threshold)


def test_the_api_5xx_alarm_is_a_rate(template: dict[str, Any]) -> None:
    [properties] = _alarms_on(template, "AWS/ApiGateway", "5xx").values()
    assert {m.name for m in alarm_metrics("5xx", properties)} == {"5xx", "Count"}
    [expression] = [q["Expression"] for q in properties["Metrics"] if q.get("ReturnData")]
    assert "100 * FILL(errors, 0) / FILL(requests, 1)" in expression
    assert (properties["ComparisonOperator"], properties["Threshold"]) == ("GreaterThanThreshold", 2)


def test_the_mailer_alarm_fires_on_failed_sends_which_lambda_does_not_count_as_errors(
        template: dict[str, Any]) -> None:
    [name] = _function_alarm(template, "MailerFunction", "Errors")
    watched = {(m.namespace, m.name) for m in alarm_metrics(name, alarms(template)[name])}
    assert {("AWS/Lambda", "Errors"), ("AccountService", "EmailDeliveryFailures")} <= watched
    assert alarms(template)[name]["Threshold"] == 1


def test_dynamodb_throttling_of_the_table_and_its_index_is_alarmed(template: dict[str, Any]) -> None:
    [name] = _alarms_on(template, "AWS/DynamoDB", "ReadThrottleEvents")
    watched = {(m.name, frozenset(m.dimensions)) for m in alarm_metrics(name, alarms(template)[name])}
    assert watched == {("ReadThrottleEvents", frozenset({"TableName"})), ("WriteThrottleEvents", frozenset({"TableName"})),
                       ("WriteThrottleEvents", frozenset({"TableName", "GlobalSecondaryIndexName"}))}


# ------------------------------------------------------------------------------- SES and data


def test_the_configuration_set_suppresses_bounces_and_complaints_and_publishes_them(template: dict[str, Any]) -> None:
    [configuration_set] = resources_of(template, "AWS::SES::ConfigurationSet").values()
    assert configuration_set["Properties"]["SuppressionOptions"] == {"SuppressedReasons": ["BOUNCE", "COMPLAINT"]}
    [destination] = resources_of(template, "AWS::SES::ConfigurationSetEventDestination").values()
    assert {"bounce", "complaint"} <= set(destination["Properties"]["EventDestination"]["MatchingEventTypes"])


def test_the_table_can_be_restored_from_point_in_time_recovery(template: dict[str, Any]) -> None:
    """docs/operations.md describes the restore."""
    [table] = resources_of(template, "AWS::DynamoDB::Table").values()
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_every_alarm_is_explained_in_the_operations_guide_and_listed_in_the_readme(
        template: dict[str, Any]) -> None:
    """Each alarm's description links its section of docs/operations.md; the README's operating
    section links every one of those sections."""
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    headings = {re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")
                for title in re.findall(r"^#+ (.+)$", guide, flags=re.MULTILINE)}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    operating = readme[readme.index("### Operating it"):readme.index("## Performance")]
    for name, properties in alarms(template).items():
        anchor = re.search(r"docs/operations\.md#([a-z0-9-]+)", properties["AlarmDescription"])
        assert anchor, name
        assert anchor.group(1) in headings, f"{name}: docs/operations.md has no section {anchor.group(1)}"
        assert f"docs/operations.md#{anchor.group(1)}" in operating, f"{name}: not in the README"


def test_the_outputs_lead_to_the_dashboard(template: dict[str, Any]) -> None:
    assert "${OperationsDashboard}" in template["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]


# --------------------------------------------------------------------------------- handlers


def _handler_function(properties: dict[str, Any]) -> ast.FunctionDef:
    module, _, attribute = properties["Handler"].rpartition(".")
    tree = ast.parse((ROOT / properties["CodeUri"] / f"{module}.py").read_text(encoding="utf-8"))
    [function] = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == attribute]
    return function


def test_every_handler_is_wrapped_by_the_shared_observability_decorator(template: dict[str, Any]) -> None:
    """accounts.observability.instrumented: correlation id, metrics flushed, cold-start metric."""
    for name, properties in functions(template).items():
        decorators = _handler_function(properties).decorator_list
        assert [d for d in decorators if isinstance(d, ast.Call) and getattr(d.func, "id", "") == "instrumented"], (
            f"{name}: decorate {properties['Handler']} with @instrumented(...) from accounts.observability")
