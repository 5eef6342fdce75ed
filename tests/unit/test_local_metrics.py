"""GET /_local/metrics collects the EMF documents the handlers print, summed per metric and
dimension values, while still printing everything."""

from __future__ import annotations

import io
import json
import sys

import pytest

from accounts.observability import count, metrics
from local.metrics import MetricsLog


def emf(name: str, value: float, **dimensions: str) -> str:
    return json.dumps({"_aws": {"Timestamp": 0, "CloudWatchMetrics": [
        {"Namespace": "AccountService", "Dimensions": [list(dimensions)],
         "Metrics": [{"Name": name, "Unit": "Count"}]}]}, name: [value], **dimensions})


def test_metrics_are_summed_per_name_and_dimension_values() -> None:
    log = MetricsLog()
    log.record(emf("Logins", 1, service="accounts"))
    log.record(emf("Logins", 2, service="accounts"))
    log.record(emf("ColdStart", 1, function_name="a", service="accounts"))
    log.record(emf("ColdStart", 1, function_name="b", service="accounts"))
    found = {(item["metric"], tuple(item["dimensions"].values())): (item["sum"], item["samples"]) for item in log.list()}
    assert found == {("Logins", ("accounts",)): (3.0, 2), ("ColdStart", ("a", "accounts")): (1.0, 1),
                     ("ColdStart", ("b", "accounts")): (1.0, 1)}
    log.clear()
    assert log.list() == []


@pytest.mark.parametrize("line", ["not json", '{"level": "INFO", "message": "x"}', '{"_aws": 3}', "{broken"])
def test_other_lines_are_ignored(line: str) -> None:
    log = MetricsLog()
    assert log.record(line) is False
    assert log.list() == []


def test_emf_lines_printed_after_install_are_collected_and_kept_off_the_console(monkeypatch) -> None:
    real = io.StringIO()
    monkeypatch.setattr(sys, "stdout", real)
    log = MetricsLog()
    log.install()
    log.install()  # once only: a second call keeps the same tee
    tee = sys.stdout
    assert tee is not real
    metrics.clear_metrics()  # whatever earlier tests left in the shared metrics set
    count("Registrations")
    metrics.flush_metrics()
    print("a plain line")
    print("no newline yet", end="", flush=True)  # a partial line goes out when flushed
    assert sys.stdout is tee
    assert real.getvalue() == "a plain line\nno newline yet"
    [item] = log.list()
    assert (item["namespace"], item["metric"], item["dimensions"], item["sum"]) == (
        "AccountService", "Registrations", {"service": "accounts"}, 1.0)
