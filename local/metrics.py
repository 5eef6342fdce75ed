"""GET /_local/metrics: the metrics the handlers emitted, as the operations dashboard would show them.

In Lambda, the handlers print their metrics as CloudWatch embedded metric format (EMF) documents on
stdout, and CloudWatch turns them into metrics. Locally, the server's stdout passes through a tee that
takes those documents off the console and prints every other line; each metric is summed per
namespace, name and dimension values, like a dashboard graph's Sum."""

from __future__ import annotations

import io
import json
import sys
import threading
from typing import Any

from local.common import utc_now_iso


class MetricsLog:
    """What the handlers emitted since the server started (or since the last clear)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}

    def record(self, line: str) -> bool:
        """Take one printed line if it is an EMF document (True); anything else is left (False)."""
        line = line.strip()
        if not (line.startswith("{") and '"_aws"' in line):
            return False
        try:
            document = json.loads(line)
            directives = list(document["_aws"]["CloudWatchMetrics"])
        except (ValueError, KeyError, TypeError):
            return False
        now = utc_now_iso()
        with self._lock:
            for directive in directives:
                for dimension_set in directive.get("Dimensions") or [[]]:
                    dimensions = tuple((name, str(document.get(name))) for name in dimension_set)
                    for metric in directive.get("Metrics") or []:
                        values = document.get(metric.get("Name"))
                        values = values if isinstance(values, list) else [values]
                        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
                        key = (str(directive.get("Namespace")), str(metric.get("Name")), dimensions)
                        series = self._series.setdefault(key, {"unit": metric.get("Unit"), "sum": 0.0, "samples": 0})
                        series["sum"] += sum(numbers)
                        series["samples"] += len(numbers)
                        series["last_at"] = now
        return True

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"namespace": namespace, "metric": name, "dimensions": dict(dimensions), **series}
                for (namespace, name, dimensions), series in sorted(self._series.items())
            ]

    def clear(self) -> None:
        with self._lock:
            self._series.clear()

    def install(self) -> None:
        """From now on, stdout passes through a tee that takes the EMF documents (for this log) and
        prints every other line. Installed once for the process: replacing sys.stdout while another
        thread prints to it is unsafe (print holds a borrowed reference)."""
        if not isinstance(sys.stdout, _Tee):
            sys.stdout = _Tee(sys.stdout, self)


class _Tee(io.TextIOBase):
    """Hands each complete line to the metrics log, and writes the lines it does not take through
    to the real stdout (a partial line too when flushed, unless it may be the start of a document)."""

    def __init__(self, target: Any, metrics: MetricsLog) -> None:
        super().__init__()
        self._target = target
        self._metrics = metrics
        self._pending = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            while "\n" in self._pending:
                line, self._pending = self._pending.split("\n", 1)
                if not self._metrics.record(line):
                    self._target.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending and not self._pending.lstrip().startswith("{"):
                self._target.write(self._pending)
                self._pending = ""
        self._target.flush()

    def fileno(self) -> int:
        return self._target.fileno()

    def isatty(self) -> bool:
        return self._target.isatty()
