"""RPC echo figures of the two C runtime policies, and of the real Go runtime.

A benchmark, not a test: it runs the `rpc` workload (a loopback TCP echo
inside the driver, a server task per connection) on the tgo and gmp drivers
and, where tgobench can build it, the Go driver (the same workload on Go's
runtime and netpoller), and prints per implementation

    closed 64     requests per second and p99 latency, 64 connections
    closed 1000   the same at 1000 connections
    active        closed 1000's connections in use on average over the timed
                  span, each from its first send to its last reply: below
                  1000 where clients started late, and the row above then
                  measured fewer connections than it names
    open          p99 latency at a fixed rate that every implementation
                  sustains, from each request's scheduled send time (and
                  the rate achieved, to show that it was sustained)
    open lag      p99 of how late the senders woke for their requests: the
                  part of that latency spent before the request was written,
                  which is the runtime's timers rather than its echo path
    same P        closed 64's share of replies that the client read on the P
                  its server wrote them from: both ends of a connection on
                  one CPU (tgo and gmp; Go's runtime cannot tell)

Each repetition starts a fresh driver process per implementation, answers
one discarded warm-up request per figure, then measures; repetitions rotate
which implementation goes first, so that drift on a shared machine falls on
all. The table gives the median over repetitions with the min-max range,
and the ratios of the medians tgo/gmp and tgo/go (req/s: above 1 is tgo
faster; p99: below 1 is tgo lower).

With --unpinned, a fourth column runs tgo with its workers unpinned
(TGOBENCH_PIN=0): everything else tgo does, without the pinning, so that
what the pinning alone costs or gains shows beside it.

With --bare, each repetition also runs bare_echo.c, the same echo (64
connections, 64-byte messages, closed loop) in plain threads without a
runtime: one thread holding both ends of every connection; one thread per
P, each holding both ends of its share; and two threads, one holding the
client ends and the other the server ends. They give the kernel's floor,
and what it costs when a connection's two ends run on different CPUs.

With --open-loops K, each repetition measures the open loop K times in its
warmed driver process, and a row `open q90` gives the p99 that one loop in
ten exceeds: how often a loop's tail is set by a stall, which the median
hides and one max overstates.

Usage: python benchmarks/rpc.py [--reps 5] [--driver-dir DIR] [--procs N]
                                [--open-rate 20000] [--open-loops 1]
                                [--no-go] [--unpinned] [--bare]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from common import (REQUEST_TIMEOUT_S, add_common_options, build_c, check_reps, go_line,
                    implementation_drivers, interleaved, machine_line, ratio, report_error,
                    spread)

from tgobench.drivers import DriverProcess, RunAnswer
from tgobench.errors import UserError


@dataclass(frozen=True)
class Run:
    """One rpc request whose answer gives one or more figures."""

    name: str
    params: dict
    warmup: dict


@dataclass(frozen=True)
class Figure:
    label: str
    run: str            # the Run it is read from
    unit: str
    higher_is_better: bool
    metric: str = "latency_ns"  # for p99 figures: which histogram

    def value(self, answer: RunAnswer) -> float | None:
        """The figure from one answer; None where the driver does not report it."""
        if self.unit == "req/s":
            return float(answer.metrics["throughput_per_s"])
        if self.unit == "conns":
            return float(answer.metrics[self.metric])
        if self.unit == "%":
            share = answer.metrics.get(self.metric)
            return None if share is None else 100.0 * float(share)
        return float(answer.metrics[self.metric]["p99"]) / 1000.0  # µs


def runs(open_rate: int) -> tuple[Run, ...]:
    return (
        Run("closed 64", {"mode": "closed", "conns": 64, "size": 64, "requests": 2000},
            {"mode": "closed", "conns": 64, "size": 64, "requests": 200}),
        Run("closed 1000", {"mode": "closed", "conns": 1000, "size": 64, "requests": 100},
            {"mode": "closed", "conns": 1000, "size": 64, "requests": 10}),
        Run("open", {"mode": "open", "conns": 64, "size": 64, "rate": open_rate,
                     "duration_ms": 1000},
            {"mode": "open", "conns": 64, "size": 64, "rate": open_rate, "duration_ms": 100}),
    )


FIGURES = (
    Figure("closed 64", "closed 64", "req/s", True),
    Figure("closed 64", "closed 64", "p99 µs", False),
    Figure("closed 1000", "closed 1000", "req/s", True),
    Figure("closed 1000", "closed 1000", "p99 µs", False),
    Figure("active", "closed 1000", "conns", True, "active_conns"),
    Figure("open", "open", "req/s", True),
    Figure("open", "open", "p99 µs", False),
    Figure("open lag", "open", "p99 µs", False, "send_lag_ns"),
    Figure("same P", "closed 64", "%", True, "same_p_share"),
)


OPEN_RATE = FIGURES.index(Figure("open", "open", "req/s", True))
OPEN_P99 = FIGURES.index(Figure("open", "open", "p99 µs", False))


def unsustained(medians: dict[str, dict[int, float | None]], rate: int) -> list[str]:
    """The implementations whose open loop made under 95% of its rate
    (medians: each implementation's median by figure index)."""
    return [impl for impl, by_figure in medians.items()
            if by_figure.get(OPEN_RATE) is not None and by_figure[OPEN_RATE] < 0.95 * rate]


UNPINNED = "tgo-unpinned"  # tgo under TGOBENCH_PIN=0
BARE = "bare"              # bare_echo.c's runs, in the rotation with the drivers
BARE_SOURCE = Path(__file__).with_name("bare_echo.c")


def bare_runs(threads: int) -> dict[str, list[str]]:
    """bare_echo's runs, by label: closed 64's shape (64 connections, 2000
    requests each)."""
    runs = {"1 thread, both ends of every connection": ["together", "64", "2000", "1"]}
    if threads > 1:
        runs[f"{threads} threads, both ends of their own"] = ["together", "64", "2000",
                                                             str(threads)]
    runs["2 threads, clients in one, servers in other"] = ["split", "64", "2000"]
    return runs


def build_bare(directory: Path) -> Path:
    return build_c([BARE_SOURCE], directory / "bare_echo", "--bare")


def measure_bare(exe: Path, runs: dict[str, list[str]]) -> dict[str, float]:
    """One repetition of bare_echo's runs: req/s by label."""
    rates = {}
    for label, argv in runs.items():
        done = subprocess.run([str(exe), *argv], capture_output=True, text=True,
                              timeout=REQUEST_TIMEOUT_S, check=False)
        if done.returncode != 0 or not done.stdout.startswith("req/s "):
            raise UserError(f"bare_echo {' '.join(argv)} failed: {done.stderr.strip()}",
                            "see the message; bare_echo checks every reply")
        rates[label] = float(done.stdout.split()[1])
    return rates


def print_bare(results: dict[str, list[float]]) -> None:
    print("bare epoll echo without a runtime (bare_echo.c), closed 64's shape, req/s "
          "median [min-max]:")
    for label, values in results.items():
        print(f"  {label:<46} {spread(values, fmt)[1]:>27}")


def measure(impl: str, executable: Path, all_runs: tuple[Run, ...], procs: int | None,
            open_loops: int) -> tuple[dict, dict[str, list[RunAnswer]]]:
    """One repetition of every run in a fresh driver process: one answer per
    run, `open_loops` for the open loop."""
    answers = {}
    env = {**os.environ, "TGOBENCH_PIN": "0"} if impl == UNPINNED else None
    with DriverProcess(impl, executable, env=env) as driver:
        hello = driver.checked({"op": "hello"}, REQUEST_TIMEOUT_S)
        for run in all_runs:
            driver.run("rpc", run.warmup, 1, procs, REQUEST_TIMEOUT_S)
            times = open_loops if run.name == "open" else 1
            answers[run.name] = [driver.run("rpc", run.params, 1, procs, REQUEST_TIMEOUT_S)
                                 for _ in range(times)]
    hello["procs_used"] = answers[all_runs[0].name][0].procs
    return hello, answers


def table_line(label: str, unit: str, cells: dict[str, str], values: dict[str, float],
               width: int) -> str:
    """One row: a cell per implementation, then tgo's ratio to gmp and, where
    Go ran, to Go."""
    line = (f"{label:<12} {unit:<7}" + "".join(f" {cell:>{width}}" for cell in cells.values())
            + f" {ratio(values['tgo'], values['gmp']):>8}")
    if "go" in values:
        line += f" {ratio(values['tgo'], values['go']):>7}"
    return line


def fmt(value: float) -> str:
    return f"{value:.3g}" if value < 1000 else f"{value:.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_options(parser, "repetitions (default 5)")
    parser.add_argument("--open-rate", type=int, default=20000,
                        help="requests per second of the open loop (default 20000)")
    parser.add_argument("--open-loops", type=int, default=1,
                        help="open-loop measurements per repetition (default 1); with 10 or "
                             "more in all, a row gives the p99 one loop in ten exceeds")
    parser.add_argument("--unpinned", action="store_true",
                        help=f"add {UNPINNED}: tgo with its workers unpinned (TGOBENCH_PIN=0)")
    parser.add_argument("--bare", action="store_true",
                        help="add the same echo in plain threads, without a runtime "
                             "(bare_echo.c, built with cc)")
    args = parser.parse_args(argv)
    check_reps(parser, args)
    if args.open_loops < 1:
        parser.error(f"--open-loops must be at least 1, got {args.open_loops}")

    all_runs = runs(args.open_rate)
    bare_cases = bare_runs(args.procs or len(os.sched_getaffinity(0)))
    bare: dict[str, list[float]] = {label: [] for label in bare_cases}
    try:
        executables, go_note = implementation_drivers(args)
        if args.unpinned:
            executables[UNPINNED] = executables["tgo"]
        impls = tuple(executables)
        results: dict[str, dict[int, list[float]]] = {i: {k: [] for k in range(len(FIGURES))}
                                                      for i in impls}
        hellos = {}
        with tempfile.TemporaryDirectory(prefix="tgobench-bare-") as build_dir:
            bare_exe = build_bare(Path(build_dir)) if args.bare else None
            for impl in interleaved(impls + ((BARE,) if bare_exe else ()), args.reps):
                if impl == BARE:
                    for label, rate in measure_bare(bare_exe, bare_cases).items():
                        bare[label].append(rate)
                    continue
                hellos[impl], answers = measure(impl, executables[impl], all_runs, args.procs,
                                                args.open_loops)
                for k, figure in enumerate(FIGURES):
                    values = (figure.value(answer) for answer in answers[figure.run])
                    results[impl][k] += [v for v in values if v is not None]
    except UserError as exc:
        return report_error(exc)

    loops = f", the open loop {args.open_loops} times each" if args.open_loops > 1 else ""
    print(f"{machine_line(hellos['tgo'])}; {go_line(go_note, hellos)}; "
          f"{args.reps} reps{loops}, median [min-max]")
    print(f"rpc echo on 127.0.0.1, 64-byte messages; open loop at {args.open_rate} req/s for "
          f"1 s over 64 connections, latency from each request's scheduled send time")
    width = max(27, *(len(i + ' median [min-max]') for i in impls))
    header = (f"{'figure':<12} {'unit':<7}" + "".join(f" {i + ' median [min-max]':>{width}}"
                                                      for i in impls)
              + f" {'tgo/gmp':>8}" + (f" {'tgo/go':>7}" if "go" in impls else ""))
    print(header)
    print("-" * len(header))
    medians: dict[str, dict[int, float | None]] = {i: {} for i in impls}
    for k, figure in enumerate(FIGURES):
        cells = {}
        for impl in impls:
            medians[impl][k], cells[impl] = (spread(results[impl][k], fmt) if results[impl][k]
                                             else (None, "-"))
        print(table_line(figure.label, figure.unit, cells, {i: medians[i][k] for i in impls}, width))
    if args.reps * args.open_loops >= 10:
        q90 = {i: statistics.quantiles(results[i][OPEN_P99], n=10, method="inclusive")[-1]
               for i in impls}
        print(table_line("open q90", "p99 µs", {i: fmt(q90[i]) for i in impls}, q90, width))
        print("open q90: the open-loop p99 that one loop in ten exceeds")
    print("req/s: a ratio above 1 is tgo faster; p99: a ratio below 1 is tgo's tail lower.")
    print("open lag: how late the senders woke (timers and the poller), part of open's p99")
    print("same P: closed 64's replies read on the P that served them (Go cannot tell)")
    print("active: closed 1000's connections in use on average, each from its first send to its "
          "last reply; fewer than 1000 measured fewer connections")
    if args.bare:
        print_bare(bare)
    slow = unsustained(medians, args.open_rate)
    if slow:
        print(f"warning: {', '.join(slow)} did not sustain the open loop's {args.open_rate} "
              f"req/s: its p99 includes a growing queue; rerun with a lower --open-rate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
