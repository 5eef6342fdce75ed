"""Section 1: cold start = import + first request of each function, in a fresh interpreter, as a
ratio to a bare `import boto3` timed the same way in the same run.

The bench process starts moto in server mode (bench.world.moto_server: the table from
template.yaml, the queue, the signing secret, the SES identity) and seeds, through the real
handlers, what each first request needs: a fresh address for register, a fresh verification token
for verify_email, a verified account for login and for the reset request, an email job for the
mailer. Each child interpreter then gets the functions' environment (default argon2 parameters)
with AWS_ENDPOINT_URL pointing at the server and PYTHONPATH = layer + function folder (as
Lambda's /opt/python and task root), times `import <handler module>` and the first
`lambda_handler(event, context)` with a sample event from events/, and writes the two figures to a
file. Rounds are interleaved (one child per target per round); the first round warms the disk and
bytecode caches and is not counted.

This file is also the child: `python -P bench/coldstart.py --child MODULE EVENT CONTEXT RESULT`.
Only the standard library is imported before the clock starts.
"""

from __future__ import annotations

import importlib
import json
import sys
import time


class _Context:
    def __init__(self, values: dict) -> None:
        self.function_name = values["function_name"]
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = values["memory_limit_in_mb"]
        self.invoked_function_arn = values["invoked_function_arn"]
        self.aws_request_id = values["request_id"]
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "2025/11/21/[$LATEST]0123456789abcdef0123456789abcdef"
        self._deadline = time.monotonic() + values["timeout"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def child(module_name: str, event_path: str, context_json: str, result_path: str) -> None:
    with open(event_path, encoding="utf-8") as handle:
        event = json.load(handle)
    context = _Context(json.loads(context_json)) if module_name != "boto3" else None
    start = time.perf_counter()
    module = importlib.import_module(module_name)
    imported = time.perf_counter()
    status = None
    if context is not None:
        answer = module.lambda_handler(event, context)
        if isinstance(answer, dict):
            failures = answer.get("batchItemFailures")
            status = answer.get("statusCode", "failures" if failures else "ok")
    done = time.perf_counter()
    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump({"import": imported - start, "first": done - imported, "status": status}, handle)


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "--child":
    child(*sys.argv[2:])
    sys.exit(0)

# --- the parent ---------------------------------------------------------------------------------

import os
import statistics
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

BUDGET = 2.0  # x a bare `import boto3`
EXPECTED = {"register": 202, "verify_email": 200, "password_reset": 202, "login": 200, "session": 200,
            "cleanup": "ok", "mailer": "ok", "account": 200, "mfa": 200}
# function folder -> (walk step whose event is the first request, or a named event)
FIRST_REQUEST = {"register": "register", "verify_email": "verify", "password_reset": "reset request",
                 "login": "login", "session": "refresh", "cleanup": "schedule", "mailer": "email job",
                 "account": "sessions", "mfa": "totp enrol"}

results: dict[str, dict[str, float]] = {}  # folder -> medians (the cost section reads them)


def seed(rounds: int, workdir: Path) -> list[dict[str, Path]]:
    """Per round, one event file per function, each first request with what it needs in the table."""
    from bench import walk, world

    walker = walk.Walker(os.environ["EMAIL_QUEUE_URL"])
    steps = {step.name: step for step in walk.WALK}
    c = walker.c
    per_round: list[dict[str, Path]] = []
    jobs: list[dict[str, Any]] = []
    for r in range(rounds):
        ip = f"192.0.2.{10 + r}"
        events: dict[str, dict[str, Any]] = {}
        fresh = {"email": f"cold-register-{r}@example.com", "password": c.PASSWORD}
        events["register"] = walker.api_event(steps["register"], fresh, ip)
        pending = {"email": f"cold-verify-{r}@example.com", "password": c.PASSWORD}
        walker.step(steps["register"], pending, ip)  # drains: pending["verify_token"]
        events["verify_email"] = walker.api_event(steps["verify"], pending, ip)
        account = {"email": f"cold-user-{r}@example.com", "password": c.PASSWORD}
        walker.step(steps["register"], account, ip)
        walker.step(steps["verify"], account, ip)
        events["login"] = walker.api_event(steps["login"], account, ip)
        walker.step(steps["login"], account, ip)  # a session whose refresh token the first refresh presents
        events["session"] = walker.api_event(steps["refresh"], account, ip)
        events["account"] = walker.api_event(steps["sessions"], account, ip)  # the session's access token
        events["mfa"] = walker.api_event(steps["totp enrol"], account, ip)
        events["password_reset"] = walker.api_event(steps["reset request"], account, ip)
        events["cleanup"] = c.load_event("schedule")
        per_round.append({})
        for folder, event in events.items():
            path = workdir / f"{folder}-{r}.json"
            path.write_text(json.dumps(event))
            per_round[r][folder] = path
    for r in range(rounds):  # last: every step above drains the queue
        walker.step(steps["register"], {"email": f"cold-mail-{r}@example.com", "password": c.PASSWORD},
                    f"192.0.2.{10 + r}", drain=False)
    import boto3

    sqs = boto3.client("sqs")
    while len(jobs) < rounds:  # the mailer's jobs, as the event source mapping would hand them over
        messages = sqs.receive_message(QueueUrl=os.environ["EMAIL_QUEUE_URL"], MaxNumberOfMessages=10,
                                       AttributeNames=["All"], VisibilityTimeout=900).get("Messages", [])
        if not messages:
            raise RuntimeError(f"only {len(jobs)} email jobs queued for the mailer, {rounds} needed")
        jobs += messages
    for r in range(rounds):
        path = workdir / f"mailer-{r}.json"
        path.write_text(json.dumps({"Records": [c.sqs_record(jobs[r])]}))
        per_round[r]["mailer"] = path
    world.reset_caches()
    return per_round


def run_child(module: str, folder: str | None, event: Path | None, env: dict[str, str], workdir: Path) -> dict:
    from bench import world

    result = workdir / f"result-{uuid.uuid4().hex}.json"
    paths = [str(world.LAYER)] + ([str(world.folder_of(folder))] if folder else [])
    child_env = {**env, "PYTHONPATH": os.pathsep.join(paths)}
    values = {**world.context_values(folder), "request_id": str(uuid.uuid4())} if folder else {}
    done = subprocess.run(
        [sys.executable, "-P", str(Path(__file__).resolve()), "--child", module,
         str(event or _empty_event(workdir)), json.dumps(values), str(result)],
        env=child_env, cwd=workdir, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0 or not result.exists():
        raise RuntimeError(f"{folder or module} child failed:\n{done.stderr.strip()[-1500:]}")
    return json.loads(result.read_text())


def _empty_event(workdir: Path) -> Path:
    path = workdir / "empty.json"  # the baseline child reads an event too, like the others
    if not path.exists():
        path.write_text("{}")
    return path


def child_environment(endpoint: str, extra: dict[str, str]) -> dict[str, str]:
    from bench import world

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "ARGON2_", "POWERTOOLS_", "AWS_"))}
    env.update(world.function_environment())
    env.update(extra)
    env["AWS_ENDPOINT_URL"] = endpoint
    env["AWS_LAMBDA_FUNCTION_NAME"] = "cold-start"  # Powertools: running in Lambda
    return env


def run(runs: int = 7) -> None:
    from bench import world
    from bench.report import ms, note, out, record, section, table, verdict

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp, world.moto_server() as (endpoint, extra):
        workdir = Path(tmp)
        with world.environment({**extra, "AWS_ENDPOINT_URL": endpoint}):
            events = seed(runs + 1, workdir)
        env = child_environment(endpoint, extra)
        targets = [("boto3", "boto3", None)] + [(folder, module, folder) for folder, module in world.FUNCTIONS.items()]
        samples: dict[str, list[dict]] = {name: [] for name, _, _ in targets}
        for r in range(runs + 1):  # round 0 warms up (not counted)
            for name, module, folder in targets:
                measured = run_child(module, folder, events[r].get(folder) if folder else None, env, workdir)
                if r:
                    samples[name].append(measured)
    baseline = statistics.median(s["import"] for s in samples["boto3"])
    section(f"Cold start: import + first request in a fresh interpreter vs bare `import boto3` "
            f"(median of {runs}, interleaved; moto server; {time.perf_counter() - started:.0f} s)")
    rows = [["import boto3", ms(baseline), "", ms(baseline), "(baseline)", "", "", ""]]
    for folder, module in world.FUNCTIONS.items():
        measured = samples[folder]
        imported = statistics.median(s["import"] for s in measured)
        first = statistics.median(s["first"] for s in measured)
        total = statistics.median(s["import"] + s["first"] for s in measured)
        ratio = total / baseline
        statuses = sorted({str(s["status"]) for s in measured})
        answered = ",".join(statuses)
        ok = ratio <= BUDGET
        rows.append([f"{folder} ({module})", ms(imported), ms(first), ms(total), f"{ratio:.2f}x", f"<= {BUDGET}x",
                     verdict(ok), f"{FIRST_REQUEST[folder]} -> {answered}"
                     + ("" if statuses == [str(EXPECTED[folder])] else f" (expected {EXPECTED[folder]})")])
        results[folder] = {"import": imported, "first": first, "total": total, "ratio": ratio}
        record("coldstart", f"cold start {folder}", f"{ratio:.2f}x boto3 ({ms(imported)} import + {ms(first)} "
               "first request)", f"<= {BUDGET}x", ok)
    table(["function", "import", "first request", "total", "ratio", "budget", "", "first request answered"], rows)
    note("first request: against the moto server over HTTP (its processing time is in the figure);"
         " argon2 at its default parameters.")
    out()
