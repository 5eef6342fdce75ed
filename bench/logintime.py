"""Section 4: the login handler's time against one argon2 verify at the default parameters.

The login is the walk's warm login (bench/walk.py), replayed against the HTTP answers moto gave
it: a botocore `before-send` hook answers every AWS call instantly, so what is timed is the
handler's own work (event parsing, validation, rate-limit bookkeeping, argon2 verify, RS256
signing, botocore's serialization and parsing, JSON, logs and metrics) with no network and no
moto. Samples are interleaved with the reference verify (alternating which goes first)."""

from __future__ import annotations

import gc
import os
import statistics
import time

from bench import hooks, walk, world
from bench.report import ms, note, out, record, section, table, verdict

BUDGET = 1.1  # x one argon2 verify


def argon2_defaults() -> tuple[int, int, int]:
    """(memory KiB, time cost, parallelism): the layer's defaults (Settings), else OWASP's."""
    try:
        from accounts.settings import Settings

        fields = Settings.model_fields
        return (int(fields["argon2_memory_kib"].default), int(fields["argon2_time_cost"].default),
                int(fields["argon2_parallelism"].default))
    except Exception:  # noqa: BLE001 - the settings are being rewritten
        return 19456, 2, 1


def spread(samples: list[float]) -> str:
    ordered = sorted(samples)
    p10, p90 = ordered[len(ordered) // 10], ordered[(len(ordered) * 9) // 10 - 1]
    return f"{p10 * 1000:.1f}-{p90 * 1000:.1f} ms (min {ordered[0] * 1000:.1f}, max {ordered[-1] * 1000:.1f})"


def run(runs: int = 60) -> None:
    from argon2 import PasswordHasher

    result = walk.result()
    if "login" not in result.warm:
        raise RuntimeError(f"the walk has no login: {result.failures.get('login', 'not run')}")
    login = result.warm["login"]
    memory, time_cost, parallelism = argon2_defaults()
    reference = PasswordHasher(time_cost=time_cost, memory_cost=memory, parallelism=parallelism)
    password = world.conftest().PASSWORD
    encoded = reference.hash(password)

    pool = [call for invocation in result.all for call in invocation.calls]
    replay = hooks.Replay(login.calls, pool)
    handler_samples: list[float] = []
    verify_samples: list[float] = []
    handler_cpu: list[float] = []
    verify_cpu: list[float] = []
    with world.environment({**result.environment, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}):
        _, _, answer = walk.replay_once(login, replay)  # warm-up: keys, clients, pool threads
        if answer.get("statusCode") != login.status:
            raise RuntimeError(f"login on the replay stub answered {answer.get('statusCode')}: {answer.get('body')}")
        reference.verify(encoded, password)

        def time_handler() -> None:
            wall, cpu, _ = walk.replay_once(login, replay)
            handler_samples.append(wall)
            handler_cpu.append(cpu)

        def time_verify() -> None:
            cpu, start = time.process_time(), time.perf_counter()
            reference.verify(encoded, password)
            verify_samples.append(time.perf_counter() - start)
            verify_cpu.append(time.process_time() - cpu)

        gc.collect()
        for n in range(runs):
            for measure in (time_handler, time_verify) if n % 2 == 0 else (time_verify, time_handler):
                measure()
        # Where the time goes: the same replay with the calls recorded (time inside botocore).
        in_calls: list[float] = []
        recorder = hooks.install()
        for _ in range(max(5, runs // 4)):
            with recorder.window() as calls:
                walk.replay_once(login, replay)
            in_calls.append(hooks.busy(calls))

    handler, argon2 = statistics.median(handler_samples), statistics.median(verify_samples)
    ratio = handler / argon2
    ok = ratio <= BUDGET
    section(f"Login handler vs one argon2id verify (m={memory} KiB, t={time_cost}, p={parallelism}; "
            f"median of {runs} each, interleaved)")
    rows = [
        ["argon2id verify (argon2-cffi, default parameters)", ms(argon2), spread(verify_samples), "(baseline)", "", ""],
        ["login lambda_handler, AWS answered by the replay stub", ms(handler), spread(handler_samples),
         f"{ratio:.3f}x", f"<= {BUDGET}x", verdict(ok)],
    ]
    cpu_ratio = statistics.median(handler_cpu) / statistics.median(verify_cpu)
    rows.append(["the same, process CPU time (information; less sensitive to a busy machine)",
                 f"{ms(statistics.median(handler_cpu))} vs {ms(statistics.median(verify_cpu))}", "",
                 f"{cpu_ratio:.3f}x", "-", ""])
    if result.moto_login:
        moto = statistics.median(result.moto_login)
        rows.append([f"login lambda_handler on moto in-process (information, {len(result.moto_login)} runs)",
                     ms(moto), spread(result.moto_login), f"{moto / argon2:.2f}x", "-", ""])
    inside = statistics.median(in_calls)
    rows.append(["  of the login: inside AWS calls on the stub (serialize, sign, parse; overlaps once)", ms(inside),
                 "", "", "", ""])
    rows.append(["  of the login: the rest beside one argon2 verify (validation, JWT, JSON, logs)",
                 ms(max(0.0, handler - inside - argon2)), "", "", "", ""])
    table(["measured", "median", "p10-p90", "ratio", "budget", ""], rows)
    calls = ", ".join(sorted({c.name for c in login.calls}))
    note(f"the stub answered: {calls} (as recorded on moto); {os.cpu_count()} CPUs.")
    out()
    record("login", "login handler / argon2 verify", f"{ratio:.3f}x ({ms(handler)} vs {ms(argon2)})",
           f"<= {BUDGET}x", ok)

