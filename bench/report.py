"""Printing: every figure beside its budget, and the summary at the end.

The bench writes through `out()` to the real standard output, because the handlers' own output
(Powertools log lines, EMF metrics) is captured from sys.stdout while they run."""

from __future__ import annotations

import sys
from dataclasses import dataclass

_STDOUT = sys.__stdout__ or sys.stdout


@dataclass
class Result:
    section: str
    what: str
    measured: str
    budget: str
    ok: bool | None  # None: information only, or not measured


results: list[Result] = []


def out(text: str = "") -> None:
    _STDOUT.write(text + "\n")
    _STDOUT.flush()


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "OVER")


def record(section: str, what: str, measured: str, budget: str, ok: bool | None) -> None:
    results.append(Result(section, what, measured, budget, ok))


def section(title: str) -> None:
    out(f"== {title}")


def note(text: str) -> None:
    out(f"   {text}")


def table(headers: list[str], rows: list[list[str]]) -> None:
    rows = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    out(line.format(*headers).rstrip())
    out(line.format(*("-" * width for width in widths)).rstrip())
    for row in rows:
        out(line.format(*row).rstrip())
    out()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def summary(elapsed: float) -> None:
    section("Summary")
    if not results:
        out("nothing measured")
        return
    width = max(len(r.what) for r in results)
    for r in results:
        mark = verdict(r.ok) or "----"
        budget = f"  (budget {r.budget})" if r.budget and r.budget != "-" else ""
        out(f"{mark:<4}  {r.what:<{width}}  {r.measured}{budget}")
    passed = sum(1 for r in results if r.ok is True)
    over = sum(1 for r in results if r.ok is False)
    missing = sum(1 for r in results if r.ok is None)
    out(f"\n{passed} within budget, {over} over, {missing} not measured or incomplete (----); {elapsed:.0f} s")
