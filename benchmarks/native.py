"""Headline figures of the two C runtime policies, side by side.

A benchmark, not a test: it runs both drivers (tgo and gmp) on this machine
and prints, per policy,

    spawn   1M tasks       ns per task
    yield   4 tasks        ns per switch
    chan    ping-pong      ns per round trip
    parked  1M tasks       KiB of RSS per parked task (stack_size 2048)

Each repetition starts a fresh driver process per policy, answers one
discarded warm-up request per workload, then measures; repetitions alternate
which policy goes first, so that drift on a shared machine falls on both.
The table gives the median over repetitions with the min-max range, and the
ratio tgo/gmp of the medians (below 1: tgo is faster or smaller).

Usage: python benchmarks/native.py [--reps 5] [--driver-dir DIR] [--procs N]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from common import (POLICIES, REQUEST_TIMEOUT_S, add_common_options, check_reps, machine_line,
                    policy_drivers, report_error, spread)

from tgobench.drivers import DriverProcess, RunAnswer
from tgobench.errors import UserError


@dataclass(frozen=True)
class Figure:
    label: str
    workload: str
    params: dict
    loops: int
    unit: str
    target: float          # the project's goal on the 2-core development machine
    size_param: str        # the parameter the warm-up shrinks

    def value(self, answer: RunAnswer) -> float:
        return answer.elapsed_ns / answer.ops


@dataclass(frozen=True)
class RssFigure(Figure):
    def value(self, answer: RunAnswer) -> float:
        return float(answer.metrics["rss_kib_per_task"])


FIGURES = (
    Figure("spawn 1M", "spawn", {"tasks": 1_000_000}, 3, "ns/task", 60, "tasks"),
    Figure("yield", "yield", {"tasks": 4, "yields": 250_000}, 3, "ns/switch", 15, "yields"),
    Figure("chan", "chan", {"rounds": 200_000}, 3, "ns/round trip", 60, "rounds"),
    # One loop: the figure is the memory a parked task holds in a fresh runtime.
    RssFigure("parked 1M", "parked", {"tasks": 1_000_000, "stack_size": 2048}, 1,
              "KiB/task", 2.5, "tasks"),
)


def warmup_params(figure: Figure) -> dict:
    """A tenth of the figure's size: pages of code and libc touched, not timed."""
    small = dict(figure.params)
    small[figure.size_param] = max(1, small[figure.size_param] // 10)
    return small


def measure(executable: Path, policy: str, procs: int | None) -> tuple[dict, dict[str, float]]:
    """One repetition of every figure in a fresh driver process."""
    values = {}
    with DriverProcess(policy, executable) as driver:
        hello = driver.checked({"op": "hello"}, REQUEST_TIMEOUT_S)
        for figure in FIGURES:
            driver.run(figure.workload, warmup_params(figure), 1, procs, REQUEST_TIMEOUT_S)
            answer = driver.run(figure.workload, figure.params, figure.loops, procs,
                                REQUEST_TIMEOUT_S)
            values[figure.label] = figure.value(answer)
            hello["procs_used"] = answer.procs
    return hello, values


def fmt(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_options(parser, "repetitions per policy (default 5)")
    args = parser.parse_args(argv)
    check_reps(parser, args)

    try:
        executables = policy_drivers(args.driver_dir)
        results: dict[str, dict[str, list[float]]] = {p: {f.label: [] for f in FIGURES}
                                                      for p in POLICIES}
        hellos = {}
        for rep in range(args.reps):
            order = POLICIES if rep % 2 == 0 else POLICIES[::-1]
            for policy in order:
                print(f"rep {rep + 1}/{args.reps}: {policy} ...", file=sys.stderr, flush=True)
                hellos[policy], values = measure(executables[policy], policy, args.procs)
                for label, value in values.items():
                    results[policy][label].append(value)
    except UserError as exc:
        return report_error(exc)

    any_hello = hellos[POLICIES[0]]
    print(f"{machine_line(any_hello)}; driver {any_hello.get('version', '?')}; "
          f"{args.reps} reps, median [min-max]")
    header = (f"{'figure':<11} {'unit':<14}" + "".join(f" {p + ' median [min-max]':>28}"
                                                      for p in POLICIES)
              + f" {'tgo/gmp':>8} {'target':>7}")
    print(header)
    print("-" * len(header))
    for figure in FIGURES:
        cells = []
        medians = {}
        for policy in POLICIES:
            medians[policy], cell = spread(results[policy][figure.label], fmt)
            cells.append(cell)
        ratio = medians["tgo"] / medians["gmp"] if medians["gmp"] else float("nan")
        print(f"{figure.label:<11} {figure.unit:<14}" + "".join(f" {c:>28}" for c in cells)
              + f" {ratio:>8.2f} {'<= ' + fmt(figure.target):>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
