"""`make bench`: the v2 budgets of the product spec (section 7), each figure beside its budget.

    .venv/bin/python bench/run.py                       every section
    .venv/bin/python bench/run.py --only units,cost     some of them (coldstart, units, login, cost)

It measures and prints; it never fails the build (exit status 0 whatever the figures). Timings
are ratios measured within this one run (the machine is noisy).

  coldstart  import + first request of each function in a fresh interpreter, against a bare
             `import boto3` in the same run (moto server in this process)       bench/coldstart.py
  units      DynamoDB calls, sequential calls and write units per request; item sizes; index
             partition spread over many registrations (moto in-process)        bench/units.py
  login      login handler time against one argon2 verify (replay stub, no network)
                                                                                bench/logintime.py
  cost       the bill per 1M monthly active users from the measured units      bench/cost.py

The walk through the API (bench/walk.py) is shared by units, login and cost; it runs once.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# Run as a script, but import the bench as the package `bench` (and never shadow a module the
# handlers import with one of ours).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.insert(0, str(ROOT))

from bench import report, world

SECTIONS = ("coldstart", "units", "login", "cost")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run (default: all of {', '.join(SECTIONS)})")
    parser.add_argument("--cold-runs", type=int, default=7, help="fresh interpreters per function (default 7)")
    parser.add_argument("--login-runs", type=int, default=60, help="login / argon2 samples each (default 60)")
    parser.add_argument("--registrations", type=int, default=400, help="registrations for the index spread")
    options = parser.parse_args(argv)
    chosen = [name.strip() for name in options.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")

    started = time.perf_counter()
    world.add_paths()
    # Before any AWS client exists (every client gets the hooks) and before the layer's logger
    # exists (it reads POWERTOOLS_LOG_LEVEL once).
    from bench import hooks

    hooks.install()
    os.environ["POWERTOOLS_LOG_LEVEL"] = world.template_log_level()
    os.environ["POWERTOOLS_DEV"] = "false"
    report.out(f"bench: {sys.executable} (Python {sys.version.split()[0]}), {os.cpu_count()} CPUs; "
               f"sections: {', '.join(name for name in SECTIONS if name in chosen)}\n")

    def coldstart() -> None:
        from bench import coldstart as module

        module.run(runs=options.cold_runs)

    def units() -> None:
        from bench import units as module

        module.per_request()
        module.item_sizes()
        module.hot_partitions(options.registrations)

    def login() -> None:
        from bench import logintime

        logintime.run(runs=options.login_runs)

    def cost() -> None:
        from bench import cost as module

        module.run()

    steps = {"coldstart": coldstart, "units": units, "login": login, "cost": cost}
    for name in SECTIONS:
        if name not in chosen:
            continue
        try:
            steps[name]()
        except Exception as error:  # noqa: BLE001 - the bench reports; it never fails the build
            report.out(f"!! {name} could not be measured: {type(error).__name__}: {error}")
            detail = traceback.format_exc().strip().splitlines()
            report.out("   " + "\n   ".join(detail[-6:]) + "\n")
            report.record(name, name, "not measured", "-", None)
    report.summary(time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
