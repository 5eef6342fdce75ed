"""Section 5: the AWS bill per one million monthly active users (spec section 7), from the units
the walk measured (bench/walk.py) and public on-demand prices stated below.

Per request the walk measured: DynamoDB write and read units (index writes included), SQS sends,
emails (SES sends by the mailer, one mailer invocation per email job), what the handler printed
(Powertools JSON logs and EMF metric lines, in bytes), the metrics it emits, and the handler's own
time on the replay stub. The assumptions that are not measured are named constants below and are
printed with the bill.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from bench import walk, world
from bench.report import note, out, record, section, table, verdict

BUDGET = 150.0  # USD per 1M monthly active users
MAU = 1_000_000
MONTH_SECONDS = 30 * 86400

# Workload per user and month (spec section 7): walk step -> requests.
WORKLOAD = {"login": 10, "refresh": 30, "me": 20, "register": 0.05, "verify": 0.05,
            "reset request": 0.02, "reset confirm": 0.02}

# us-east-1 public on-demand list prices (USD), as of November 2025; no free tier counted.
PRICE_API_REQUEST = 1.00 / 1e6  # API Gateway HTTP API, per request (first 300M a month)
PRICE_LAMBDA_REQUEST = 0.20 / 1e6  # Lambda, per invocation
PRICE_LAMBDA_GB_S = {"arm64": 0.0000133334, "x86_64": 0.0000166667}  # Lambda, per GB-second (first tier)
PRICE_DYNAMODB_WRU = 0.625 / 1e6  # DynamoDB on-demand, per write request unit
PRICE_DYNAMODB_RRU = 0.125 / 1e6  # DynamoDB on-demand, per read request unit
PRICE_DYNAMODB_GB_MONTH = 0.25  # DynamoDB Standard table class storage, per GB-month
PRICE_PITR_GB_MONTH = 0.20  # DynamoDB continuous backups (PITR), per GB-month
PRICE_SQS_REQUEST = 0.40 / 1e6  # SQS standard queue, per request (64 KB chunk)
PRICE_SES_EMAIL = 0.10 / 1000  # SES outbound email
PRICE_SECRET_MONTH = 0.40  # Secrets Manager, per secret and month
PRICE_SECRET_CALL = 0.05 / 10_000  # Secrets Manager, per API call
PRICE_LOGS_GB = 0.50  # CloudWatch Logs ingestion (Standard class), per GB
PRICE_METRIC_MONTH = 0.30  # CloudWatch custom metric (first 10,000), per metric-month
PRICE_ALARM_MONTH = 0.10  # CloudWatch standard-resolution alarm, per metric it watches and month
PRICE_DASHBOARD_MONTH = 3.00  # CloudWatch dashboard, per month (the first 3 of an account are free)
PRICE_XRAY_TRACE = 5.00 / 1e6  # X-Ray traces recorded

# Assumptions (not measured).
PLATFORM_LOG_BYTES = 250  # Lambda platform lines per invocation (START/REPORT, JSON log format)
ROUND_TRIP_SECONDS = {"dynamodb": 0.006, "sqs": 0.010, "sesv2": 0.040, "secrets-manager": 0.015}
ROUND_TRIP_DEFAULT = 0.015
FULL_VCPU_MB = 1769  # Lambda gives one full vCPU at 1769 MB, proportionally less below
WARM_CONTAINERS = {"login": 10}  # per function reading the signing secret (others: DEFAULT_CONTAINERS)
DEFAULT_CONTAINERS = 2
SIGNING_KEY_CACHE_SECONDS = 300  # unless the layer's settings say otherwise
COLD_START_SHARE = 0.01  # of invocations, INIT billed (Lambda bills the INIT phase since Aug 2025)
SQS_POLLERS, SQS_LONG_POLL_SECONDS = 5, 20  # the event source mapping's polling of an idle queue
XRAY_RESERVOIR, XRAY_RATE = 1.0, 0.05  # default sampling rule: 1 request/s, then 5 %
ITEM_OVERHEAD_BYTES = 100  # DynamoDB storage overhead per item
TYPICAL_CONTEXT = {"requestId": "Nq7RAhXBIAMEV06=", "requestTime": "21/Nov/2025:15:00:00 +0000",
                   "protocol": "HTTP/1.1", "responseLatency": "48", "integrationLatency": "45",
                   "requestTimeEpoch": "1763737200009", "domainName": "api.example.com", "stage": "$default"}


@dataclass
class Line:
    component: str
    quantity: float
    unit: str
    price: float  # per unit
    fixed: bool = False  # does not grow with users

    @property
    def cost(self) -> float:
        return self.quantity * self.price


def billed_seconds(invocation: walk.Invocation, memory: int) -> float:
    """Handler's own CPU time on the replay stub (CPU time, not wall time: this machine is shared
    and noisy, a Lambda's vCPU share is its own), scaled to the CPU share at this memory, plus the
    chain of AWS round trips it waits for (each service's assumed latency), rounded up to 1 ms."""
    own = (invocation.replay_cpu or invocation.replay_wall or invocation.wall) * max(1.0, FULL_VCPU_MB / memory)
    calls = sorted(invocation.calls, key=lambda c: c.start)
    chain: list[float] = []
    for i, call in enumerate(calls):
        before = [chain[j] for j in range(i) if (calls[j].end or calls[j].start) <= call.start]
        chain.append(max(before, default=0.0) + ROUND_TRIP_SECONDS.get(call.service, ROUND_TRIP_DEFAULT))
    return math.ceil((own + max(chain, default=0.0)) * 1000) / 1000


def access_log_bytes(invocation: walk.Invocation, log_format: str) -> int:
    http = invocation.event.get("requestContext", {}).get("http", {})
    values = {**TYPICAL_CONTEXT, "identity.sourceIp": http.get("sourceIp", "198.51.100.7"),
              "identity.userAgent": http.get("userAgent", ""), "routeKey": invocation.event.get("routeKey", ""),
              "httpMethod": http.get("method", ""), "path": http.get("path", ""), "status": str(invocation.status),
              "responseLength": str(invocation.answer_length)}
    line = re.sub(r"\$context\.([A-Za-z0-9_.]*[A-Za-z0-9_])", lambda m: values.get(m.group(1), "-"), log_format)
    return len(line.encode()) + 1


def emf_metrics(invocations: list[walk.Invocation]) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """Distinct (namespace, metric, dimensions with values) in the EMF lines the handlers printed."""
    found = set()
    for invocation in invocations:
        for line in invocation.stdout.splitlines():
            if '"_aws"' not in line:
                continue
            try:
                document = json.loads(line)
            except ValueError:
                continue
            for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
                for dimension_set in directive.get("Dimensions", [[]]):
                    dims = tuple((d, str(document.get(d))) for d in dimension_set)
                    for metric in directive.get("Metrics", []):
                        found.add((directive.get("Namespace", ""), metric["Name"], dims))
    return found


def cold_start_metrics(tpl: Any) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """Powertools' ColdStart metric (dimensions function_name and service): one per function, published
    every month a function starts a container, which every function does (the walk, in one process,
    sees at most the first)."""
    variables = ((tpl.globals.get("Function") or {}).get("Environment") or {}).get("Variables") or {}
    namespace = str(variables.get("POWERTOOLS_METRICS_NAMESPACE", "AccountService"))
    service = str(variables.get("POWERTOOLS_SERVICE_NAME", "accounts"))
    return {(namespace, "ColdStart", (("function_name", logical_id), ("service", service)))
            for logical_id in tpl.resources_of_type("AWS::Serverless::Function")}


def watched_metrics(alarm: dict[str, Any]) -> int:
    """CloudWatch bills an alarm per metric it watches: a metric-math alarm, each metric of its expression."""
    properties = alarm.get("Properties") or {}
    queries = properties.get("Metrics")
    if queries:
        return sum(1 for query in queries if query.get("MetricStat"))
    return 1


def runs_per_month(expression: str | None) -> float:
    match = re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", expression or "")
    if not match:
        return 720.0  # cron or unknown: hourly assumed
    seconds = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
    return MONTH_SECONDS / (int(match.group(1)) * seconds)


def xray_traces(invocations_per_function: dict[str, float]) -> tuple[float, float]:
    """(sampled with the default rule assuming evenly spread traffic, all invocations)."""
    sampled = 0.0
    for count in invocations_per_function.values():
        rate = count / MONTH_SECONDS
        sampled += (min(rate, XRAY_RESERVOIR) + XRAY_RATE * max(0.0, rate - XRAY_RESERVOIR)) * MONTH_SECONDS
    return sampled, sum(invocations_per_function.values())


def run() -> None:
    from bench import coldstart

    result = walk.result()
    tpl = world.template()
    functions = world.function_settings()
    architecture = next(iter(functions.values()), {}).get("architecture", "arm64")
    gb_second = PRICE_LAMBDA_GB_S.get(architecture, PRICE_LAMBDA_GB_S["x86_64"])
    api = tpl.http_api[1] if tpl.http_api else {}
    log_format = " ".join(str((api.get("AccessLogSettings") or {}).get("Format") or "").split())

    # Per month: every invocation the workload causes, with its per-invocation figures.
    monthly: list[tuple[walk.Invocation, float]] = [(result.warm[step], n * MAU) for step, n in WORKLOAD.items()
                                                    if step in result.warm]
    missing = [step for step in WORKLOAD if step not in result.warm]
    mailer = [m for m in result.mailer if m.account == walk.ACCOUNTS[1][0]]
    for invocation in mailer:
        monthly.append((invocation, WORKLOAD.get(invocation.cause, 0) * MAU))
    cleanup_runs = runs_per_month(tpl.schedules[0].expression if tpl.schedules else None)
    if result.cleanup is not None:
        monthly.append((result.cleanup, cleanup_runs))

    lines: list[Line] = []
    api_requests = sum(n for inv, n in monthly if inv.function not in ("mailer", "cleanup"))
    lines.append(Line("API Gateway HTTP API requests", api_requests, "requests", PRICE_API_REQUEST))
    invocations = sum(n for _, n in monthly)
    lines.append(Line("Lambda requests", invocations, "invocations", PRICE_LAMBDA_REQUEST))
    gb_s = sum(n * billed_seconds(inv, functions[inv.function]["memory"]) * functions[inv.function]["memory"] / 1024
               for inv, n in monthly)
    lines.append(Line(f"Lambda duration ({architecture}, template memory)", gb_s, "GB-s", gb_second))
    cold = coldstart.results
    if cold:
        init = sum(n * COLD_START_SHARE * cold[inv.function]["import"] * max(1.0, FULL_VCPU_MB / functions[
            inv.function]["memory"]) * functions[inv.function]["memory"] / 1024 for inv, n in monthly if inv.function in cold)
        lines.append(Line(f"Lambda INIT ({COLD_START_SHARE:.0%} cold starts x measured import)", init, "GB-s",
                          gb_second))
    wru = sum(n * inv.units.total_write_units for inv, n in monthly)
    rru = sum(n * inv.units.read_units for inv, n in monthly)
    lines.append(Line("DynamoDB writes (incl. index writes)", wru, "WRU", PRICE_DYNAMODB_WRU))
    lines.append(Line("DynamoDB reads", rru, "RRU", PRICE_DYNAMODB_RRU))
    per_account = sum(world_item + ITEM_OVERHEAD_BYTES for world_item in map(_size, result.items)) / len(walk.ACCOUNTS)
    storage_gb = per_account * MAU / 1e9
    lines.append(Line("DynamoDB storage + PITR (items the walk left, per account)", storage_gb, "GB-month",
                      PRICE_DYNAMODB_GB_MONTH + PRICE_PITR_GB_MONTH))
    jobs = sum(n for inv, n in monthly if inv.function == "mailer")
    sends = sum(n * inv.count("sqs", "SendMessage") for inv, n in monthly)
    lines.append(Line("SQS requests (send + receive + delete per email job)", sends + 2 * jobs, "requests",
                      PRICE_SQS_REQUEST))
    polls = SQS_POLLERS * MONTH_SECONDS / SQS_LONG_POLL_SECONDS
    lines.append(Line(f"SQS idle polling ({SQS_POLLERS} pollers, {SQS_LONG_POLL_SECONDS} s long polls)", polls,
                      "requests", PRICE_SQS_REQUEST, fixed=True))
    emails = sum(n * inv.emails for inv, n in monthly)
    lines.append(Line("SES emails", emails, "emails", PRICE_SES_EMAIL))
    secrets = len(tpl.resources_of_type("AWS::SecretsManager::Secret"))
    lines.append(Line("Secrets Manager secrets", secrets, "secret-months", PRICE_SECRET_MONTH, fixed=True))
    cache_seconds = _setting("signing_key_cache_seconds", SIGNING_KEY_CACHE_SECONDS)
    readers = defaultdict(int)
    for invocation in result.cold.values():
        readers[invocation.function] = max(readers[invocation.function], invocation.count("secrets-manager"))
    secret_calls = sum(WARM_CONTAINERS.get(f, DEFAULT_CONTAINERS) * MONTH_SECONDS / cache_seconds * n
                       for f, n in readers.items() if n)
    lines.append(Line(f"Secrets Manager API calls ({', '.join(f'{f}: {n}/load' for f, n in readers.items() if n) or 'none'}"
                      f"; every {cache_seconds} s per warm container)", secret_calls, "calls", PRICE_SECRET_CALL,
                      fixed=True))
    platform, platform_note = platform_log_bytes(tpl)
    log_bytes = sum(n * (len(inv.stdout.encode()) + platform) for inv, n in monthly)
    access = sum(n * access_log_bytes(inv, log_format) for inv, n in monthly
                 if inv.function not in ("mailer", "cleanup")) if log_format else 0.0
    lines.append(Line("CloudWatch Logs ingestion (handler + EMF + platform + access log)", (log_bytes + access) / 1e9,
                      "GB", PRICE_LOGS_GB))
    metrics = emf_metrics(result.all) | cold_start_metrics(tpl)
    lines.append(Line("CloudWatch custom metrics (EMF names x dimension sets the walk printed, ColdStart per "
                      "function)", len(metrics), "metric-months", PRICE_METRIC_MONTH, fixed=True))
    alarm_metrics = sum(watched_metrics(alarm) for alarm in tpl.resources_of_type("AWS::CloudWatch::Alarm").values())
    lines.append(Line(f"CloudWatch alarms ({len(tpl.resources_of_type('AWS::CloudWatch::Alarm'))} in the template; "
                      "billed per metric watched)", alarm_metrics, "alarm-metric-months", PRICE_ALARM_MONTH,
                      fixed=True))
    dashboards = len(tpl.resources_of_type("AWS::CloudWatch::Dashboard"))
    if dashboards:
        lines.append(Line("CloudWatch dashboard (no free tier counted)", dashboards, "dashboard-months",
                          PRICE_DASHBOARD_MONTH, fixed=True))
    tracing = _tracing_on(tpl)
    per_function: dict[str, float] = defaultdict(float)
    for invocation, n in monthly:
        per_function[invocation.function] += n
    sampled, every = xray_traces(per_function)
    if tracing:  # HTTP APIs do not trace: only Lambda's active tracing records traces
        lines.append(Line("X-Ray traces (default sampling: 1/s + 5 %, even traffic)", sampled, "traces",
                          PRICE_XRAY_TRACE))

    total = sum(line.cost for line in lines)
    ok: bool | None = total <= BUDGET if not missing else None
    section(f"Bill per {MAU:,} monthly active users (us-east-1 on-demand list prices, Nov 2025; no free tier)")
    note("workload per user and month: " + ", ".join(f"{n:g} {step}" for step, n in WORKLOAD.items()))
    rows = [[line.component, f"{line.quantity:,.2f}" if line.quantity < 100 else f"{line.quantity:,.0f}", line.unit,
             price_text(line.price, line.unit), f"${line.cost:,.2f}"] for line in lines]
    rows.append(["total", "", "", "", f"${total:,.2f}"])
    table(["component", "quantity per month", "unit", "unit price", "cost"], rows)
    out(f"total ${total:,.2f} per 1M MAU   budget <= ${BUDGET:.0f}   {verdict(ok)}")
    fixed = sum(line.cost for line in lines if line.fixed)
    out(f"10M MAU: ${(total - fixed) * 10 + fixed:,.2f} (fixed lines not multiplied)")
    if tracing:
        note(f"X-Ray with every invocation traced would be ${every * PRICE_XRAY_TRACE:,.2f} (Tracing: Active).")
    else:
        note(f"X-Ray: the template's tracing is off by default (on, every invocation traced: "
             f"${every * PRICE_XRAY_TRACE:,.2f}; default sampling: ${sampled * PRICE_XRAY_TRACE:,.2f}).")
    if missing:
        out(f"!! INCOMPLETE: not measured, so not in the bill: {', '.join(missing)}")
    record("cost", "bill per 1M MAU", f"${total:,.2f}" + (f" (without {', '.join(missing)})" if missing else ""),
           f"<= ${BUDGET:.0f}", ok)
    out()
    per_request_table(monthly, functions, log_format, platform)
    assumptions(cold, platform_note)


def per_request_table(monthly: list[tuple[walk.Invocation, float]], functions: dict[str, Any], log_format: str,
                      platform: int) -> None:
    section("Per invocation (information): what the bill is made of")
    rows = []
    for invocation, n in monthly:
        memory = functions[invocation.function]["memory"]
        name = invocation.label + (f" after {invocation.cause}" if invocation.cause else "")
        own = (f"{invocation.replay_cpu * 1000:.1f} / {invocation.replay_wall * 1000:.1f}"
               if invocation.replay_wall and invocation.replay_cpu is not None else "n/a")
        access = access_log_bytes(invocation, log_format) if log_format and invocation.function not in (
            "mailer", "cleanup") else 0
        rows.append([name, f"{n:,.0f}", f"{memory}", own, f"{billed_seconds(invocation, memory) * 1000:.0f}",
                     f"{invocation.units.total_write_units:g}", f"{invocation.units.read_units:g}",
                     f"{len(invocation.stdout.encode()) + platform + access}",
                     invocation.replay_note or ""])
    table(["invocation", "per month", "MB", "stub CPU / wall ms", "billed ms", "WRU", "RRU", "log B", "note"], rows)


def assumptions(cold: dict[str, Any], platform_note: str) -> None:
    note("assumptions: " + "; ".join([
        (f"billed ms = handler CPU time on the replay stub x {FULL_VCPU_MB}/memory (CPU share; one core here "
         "taken as one Graviton vCPU) + the chain of AWS round trips at "
         + ", ".join(f"{s} {v * 1000:.0f} ms" for s, v in ROUND_TRIP_SECONDS.items())),
        f"{platform_note}; access log line = the template's format with typical values",
        "one mailer invocation per email job (batches of up to 10 would need fewer)",
        f"warm containers reading the signing secret: {WARM_CONTAINERS} (others {DEFAULT_CONTAINERS})",
        f"INIT: {COLD_START_SHARE:.0%} of invocations" + ("" if cold else " (not billed: run the coldstart section)"),
    ]))
    out()


def _size(item: dict[str, Any]) -> int:
    from bench.capacity import item_size

    return item_size(item)


def _setting(name: str, default: int) -> int:
    try:
        from accounts.settings import Settings

        return int(Settings.model_fields[name].default)
    except Exception:  # noqa: BLE001 - the settings are being rewritten
        return default


def _function_property(tpl: Any, name: str) -> list[Any]:
    """The resolved value of a function property for each function (its own, else Globals'; a
    mapping merged over Globals' one, as SAM does: a function's LoggingConfig names its log group,
    Globals' gives the format and levels)."""
    default = (tpl.globals.get("Function") or {}).get(name)
    values = []
    for function in tpl.functions.values():
        own = function.properties.get(name, default)
        if isinstance(own, dict) and isinstance(default, dict):
            own = {**default, **own}
        try:
            values.append(tpl.resolve(own))
        except Exception:  # noqa: BLE001 - unresolvable locally
            values.append(None)
    return values


def _tracing_on(tpl: Any) -> bool:
    return any(str(value).lower() == "active" for value in _function_property(tpl, "Tracing"))


def platform_log_bytes(tpl: Any) -> tuple[int, str]:
    """Platform lines per invocation under the template's LoggingConfig (START/END/REPORT are INFO
    level system logs: a SystemLogLevel of WARN or above drops them)."""
    configs = [value or {} for value in _function_property(tpl, "LoggingConfig")]
    levels = {str(config.get("SystemLogLevel", "INFO")).upper() for config in configs if isinstance(config, dict)}
    formats = {str(config.get("LogFormat", "Text")) for config in configs if isinstance(config, dict)}
    if levels and levels <= {"WARN", "ERROR", "FATAL"}:
        return 0, f"SystemLogLevel {'/'.join(sorted(levels))}: no START/END/REPORT lines (else ~{PLATFORM_LOG_BYTES} B)"
    return PLATFORM_LOG_BYTES, f"platform lines ~{PLATFORM_LOG_BYTES} B per invocation ({'/'.join(sorted(formats))})"


def price_text(price: float, unit: str) -> str:
    if unit in ("requests", "invocations", "WRU", "RRU", "traces", "calls"):
        return f"${price * 1e6:.4g} per 1M"
    if unit == "emails":
        return f"${price * 1000:.4g} per 1,000"
    return f"${price:.10f}".rstrip("0").rstrip(".")


