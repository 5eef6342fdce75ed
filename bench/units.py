"""Sections 2 and 3: DynamoDB calls, sequential calls and write units per request (spec section 7),
item sizes, and how index writes spread over index partitions."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from bench import capacity, hooks, walk, world
from bench.report import note, out, record, section, table, verdict

ITEM_BUDGET = 1024  # bytes: every item under 1 KB (one write unit)
HOT_SHARE_BUDGET = 1 / 16  # no index partition key gets more than this share of the index's writes
HOT_REGISTRATIONS = 400


@dataclass(frozen=True)
class Budget:
    calls: int  # DynamoDB calls
    sequential: int  # of them sequential (waves)
    write_units: int  # table + index writes, transactional doubled
    sqs: int | None = None  # SQS calls allowed beside them


BUDGETS = {  # walk step -> spec section 7 budget
    "login": Budget(5, 3, 5),
    "refresh": Budget(2, 2, 4),
    "register": Budget(2, 2, 3, sqs=1),
    "verify": Budget(3, 3, 6, sqs=1),
    "me": Budget(1, 1, 0),
    "sessions": Budget(1, 1, 0),
    "login/mfa": Budget(4, 3, 12),  # issue 9: <= 4 calls; two counters and a 5-item transaction
}
SHOWN = {"me": "me (GET /v1/auth/me, service route)",
         "sessions": "sessions (GET /v1/auth/sessions, service route)"}


def is_dynamodb(call: hooks.Call) -> bool:
    return call.service == "dynamodb"


def describe(invocation: walk.Invocation) -> str:
    ops = Counter(c.operation for c in invocation.calls if is_dynamodb(c))
    return ", ".join(f"{op}" + (f" x{n}" if n > 1 else "") for op, n in sorted(ops.items()))


def others(invocation: walk.Invocation) -> str:
    ops = Counter(c.name for c in invocation.calls if not is_dynamodb(c))
    return ", ".join(f"{op}" + (f" x{n}" if n > 1 else "") for op, n in sorted(ops.items())) or "-"


def figures(invocation: walk.Invocation) -> tuple[int, int, float, float, int]:
    calls = invocation.count("dynamodb")
    sequential = hooks.waves(invocation.calls, is_dynamodb)
    u = invocation.units
    return calls, sequential, u.total_write_units, u.read_units, invocation.count("sqs")


def wu_text(u: capacity.Units) -> str:
    return f"{u.total_write_units:g}" + (f" ({u.write_units:g}+{u.index_units:g} idx)" if u.index_units else "")


def per_request() -> None:
    result = walk.result()
    section("DynamoDB per request (real handlers on moto in-process, warm container; botocore hooks; "
            f"{walk.LATENCY * 1000:.0f} ms simulated per round trip)")
    rows = []
    for step in walk.WALK:
        name = step.name
        budget = BUDGETS.get(name)
        label = SHOWN.get(name, name)
        warm = result.warm.get(name)
        if warm is None:
            reason = result.failures.get(name, "not run")
            rows.append([label] + ["-"] * 10 + [f"NOT MEASURED: {reason}"])
            if budget is not None:
                record("units", f"{name}: DynamoDB calls / sequential / WU", "not measured",
                       f"<= {budget.calls} / {budget.sequential} / {budget.write_units}", None)
            continue
        cold = result.cold.get(name, warm)
        calls, sequential, wu, rru, sqs = figures(warm)
        cold_calls = cold.count("dynamodb")
        extra = sorted({c.name for c in cold.calls if not is_dynamodb(c)} - {c.name for c in warm.calls})
        if budget is None:
            ok = None
            row = [label, str(calls), "-", str(sequential), "-", wu_text(warm.units), "-"]
        else:
            checks = [calls <= budget.calls, sequential <= budget.sequential, wu <= budget.write_units]
            if budget.sqs is not None:
                checks.append(sqs <= budget.sqs)
            ok = all(checks)
            sqs_budget = f" (+{budget.sqs} SQS)" if budget.sqs else ""
            row = [label, str(calls), f"<= {budget.calls}{sqs_budget}", str(sequential), f"<= {budget.sequential}",
                   wu_text(warm.units), f"<= {budget.write_units}"]
            record("units", f"{name}: DynamoDB calls / sequential / WU",
                   f"{calls} / {sequential} / {wu:g}" + (f" (+{sqs} SQS)" if sqs else ""),
                   f"<= {budget.calls} / {budget.sequential} / {budget.write_units}" + sqs_budget, ok)
        cold_text = f"; cold: {cold_calls} DynamoDB" if cold_calls != calls else ""
        cold_text += f"; cold also {', '.join(extra)}" if extra else ""
        rows.append(row + [f"{rru:g}", others(warm), verdict(ok) or "info", describe(warm) + cold_text])
    table(["request", "calls", "budget", "seq.", "budget", "WU", "budget", "RRU", "other AWS calls", "",
           "DynamoDB operations"], rows)
    note("WU: write request units incl. index writes (transactional x2); RRU: read request units.")
    note("seq.: longest chain of DynamoDB calls that did not overlap (calls issued in parallel count once).")
    out()

    section("Work the requests cause elsewhere (information): the mailer per email job, and one cleanup run")
    rows = []
    for invocation in result.mailer:
        if invocation.account != walk.ACCOUNTS[1][0]:
            continue
        rows.append([f"mailer after {invocation.cause}", str(invocation.count("dynamodb")),
                     str(hooks.waves(invocation.calls, is_dynamodb)), wu_text(invocation.units),
                     f"{invocation.units.read_units:g}", others(invocation), describe(invocation)])
    for name, reason in result.failures.items():
        if name not in result.warm:
            note(f"{name}: {reason}")
    if result.cleanup is not None:
        c = result.cleanup
        rows.append(["cleanup run (nothing due)", str(c.count("dynamodb")), str(hooks.waves(c.calls, is_dynamodb)),
                     wu_text(c.units), f"{c.units.read_units:g}", others(c), describe(c)])
    table(["invocation", "calls", "seq.", "WU", "RRU", "other AWS calls", "DynamoDB operations"], rows)


def item_sizes() -> None:
    result = walk.result()
    largest: dict[str, int] = {}
    for item in result.items:
        kind = capacity.kind_of(item, result.keys)
        largest[kind] = max(largest.get(kind, 0), capacity.item_size(item))
    section(f"Item sizes after the walk ({len(result.items)} items; DynamoDB sizing rules)")
    rows = [[kind, f"{size} B", f"< {ITEM_BUDGET} B", verdict(size < ITEM_BUDGET)]
            for kind, size in sorted(largest.items(), key=lambda kv: -kv[1])]
    table(["largest item of kind", "size", "budget", ""], rows)
    if largest:
        kind, size = max(largest.items(), key=lambda kv: kv[1])
        record("units", "largest item", f"{size} B ({kind})", f"< {ITEM_BUDGET} B", size < ITEM_BUDGET)


def hot_partitions(registrations: int = HOT_REGISTRATIONS) -> None:
    """Register many accounts (small argon2 parameters for speed) and see how the index writes
    spread over index partition keys."""
    started = time.perf_counter()
    per_index: dict[str, Counter[str]] = {}
    recorder = hooks.install()
    with world.in_process(small_argon2=True) as extra:
        recorder.probe = capacity.TableProbe()
        try:
            walker = walk.Walker(extra["EMAIL_QUEUE_URL"])
            register = next(step for step in walk.WALK if step.name == "register")
            for n in range(registrations):
                state = {"email": f"user{n:05d}@example.com", "password": walker.c.PASSWORD}
                walker.account = state["email"]
                batch_end = n % 10 == 9 or n == registrations - 1  # the mailer takes batches of 10
                walker.step(register, state, ip=f"10.{n // 250}.{n % 250}.{1 + n % 7}", drain=False)
                if batch_end:
                    walker.drain("register")
        finally:
            recorder.probe = hooks._Probe()
        for invocation in walker.invocations:
            for (index, partition), units in (invocation.units.index_partitions or {}).items():
                per_index.setdefault(index, Counter())[partition] += units
    section(f"Index partitions: {registrations} registrations and their emails "
            f"(ARGON2 m=1024 t=1 for speed; {time.perf_counter() - started:.0f} s)")
    if not per_index:
        out("no index writes")
        record("units", "hottest index partition key", "no index writes", f"<= 1/{round(1 / HOT_SHARE_BUDGET)}", True)
        out()
        return
    rows = []
    for index, counts in per_index.items():
        total = sum(counts.values())
        partition, top = counts.most_common(1)[0]
        share = top / total
        ok = share <= HOT_SHARE_BUDGET
        rows.append([index, str(total), str(len(counts)), partition, f"{top} ({share:.1%})",
                     f"<= 1/{round(1 / HOT_SHARE_BUDGET)} ({HOT_SHARE_BUDGET:.2%})", verdict(ok)])
        record("units", f"hottest partition key of index {index}", f"{share:.1%} of {total} index writes",
               f"<= {HOT_SHARE_BUDGET:.2%}", ok)
    table(["index", "writes", "partition keys", "hottest", "its writes", "budget", ""], rows)
    note("evenly spread over K partition keys the hottest would get 1/K; random spreading of N writes leaves "
         "the hottest above that by about sqrt(N/K) writes, so small N overstates the share.")
    out()


def run() -> None:
    per_request()
    item_sizes()
    hot_partitions()
