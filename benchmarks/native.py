"""Headline figures of the two C runtime policies, side by side.

A benchmark, not a test: it runs both drivers (tgo and gmp) on this machine,
and the Go driver for scale where tgobench can build it, and prints, per
implementation,

    spawn   1M tasks       ns per task
    yield   4 tasks        ns per switch
    chan    ping-pong      ns per round trip
    chan    the same, with idle Ps parking at once (TGOBENCH_SPIN_NS=0)
    chan    the same on one P
    parked  1M tasks       KiB of RSS per parked task (stack_size 2048)

Each repetition starts a fresh driver process per implementation, answers
one discarded warm-up request per workload, then measures; parked runs alone
in a process of its own with no warm-up, since Go keeps the descriptor of
every goroutine it ever ran. Repetitions rotate which implementation goes
first, so that drift on a shared machine falls on all. The table gives the
median over repetitions with the min-max range, and the ratios tgo/gmp and
tgo/go of the medians (below 1: tgo is faster or smaller). Go has no stack
size to choose: its parked figure is with its own stacks, which start at
2 KiB.

The second chan row runs the C drivers in a second process of each
repetition, with spinning off: an idle P then sleeps instead of looking
for work, so the two rows show what a spinning P does to a ping-pong that
one P could run alone. A spinning thief that takes the woken task parts the
two tasks, and under tgo's return-to-origin rule they stay parted, every
wake-up then crossing CPUs (1.5 us a round trip against 0.1); both policies
make a thief wait before it takes the one task a running P is about to run.
Go has no such setting and no figure in that row. Under the table, each
chan row's same P gives the share of rounds (sampled, in the last loop)
that the C drivers answered on one P: how much of the row is each regime.

With --floors, each repetition also runs floors.c: what this machine
charges for a bare context switch (into the call site it left from, and
into another), an uncontended lock, exchange and compare-and-swap, and a
lock word handed between two CPUs, each alone in a tight loop. Under the
table, chan's floor per policy is the sum of those a round trip cannot do
without (CHAN_ROUND_TRIP): the least its figure could be before any of the
runtime's own bookkeeping.

With --instructions, it also counts with callgrind the instructions that tgo
and gmp execute per task spawned, per yield and per chan round trip, on one
P with idle Ps parking at once: the difference between two run lengths, so
that start-up and shutdown cancel. A count does not depend on how busy the
machine is (repeated runs agreed within 1%), so it shows what a change to
the runtime costs where the times above are too noisy to; it says nothing of
cache misses or of what a crossing between CPUs costs.

Usage: python benchmarks/native.py [--reps 5] [--driver-dir DIR] [--procs N] [--no-go]
                                   [--floors] [--instructions]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
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
class Figure:
    label: str
    workload: str
    params: dict
    loops: int
    unit: str
    target: float | None   # the project's goal on the 2-core development machine
    size_param: str        # the parameter the warm-up shrinks
    spin_ns: int | None = None  # TGOBENCH_SPIN_NS of the C drivers; None: their default
    alone: bool = False    # measured in a driver process of its own, with no warm-up
    procs: int | None = None  # Ps for this figure alone; None: --procs, or the driver's

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
    Figure("chan spin 0", "chan", {"rounds": 200_000}, 3, "ns/round trip", None, "rounds",
           spin_ns=0),
    # what --floors' chan floor is read against: both tasks on one P, no other
    Figure("chan 1 P", "chan", {"rounds": 200_000}, 3, "ns/round trip", None, "rounds",
           procs=1),
    # One loop, alone: the figure is the memory a parked task holds in a fresh
    # runtime. Go never frees a goroutine's descriptor, so after any earlier
    # request its parked tasks would reuse memory already in the baseline.
    RssFigure("parked 1M", "parked", {"tasks": 1_000_000, "stack_size": 2048}, 1,
              "KiB/task", 2.5, "tasks", alone=True),
)


SAME_P = " same P"  # suffix of the label of a figure's same_p_share, in %

FLOORS = "floors"      # floors.c's runs, in the rotation with the drivers
FLOORS_SOURCE = Path(__file__).with_name("floors.c")
CTX_SOURCES = {"x86_64": "ctx_x86_64.S", "aarch64": "ctx_aarch64.S"}
FLOOR_LABELS = {
    "switch": "context switch, task to task (the runtime's assembly)",
    "switch_elsewhere": "the same, into another call site (as to g0)",
    "lock": "lock taken and released, uncontended",
    "exchange": "atomic exchange, uncontended",
    "cas": "compare-and-swap, uncontended",
    "handoff": "lock word handed to another CPU",
}

# What one chan round trip does of floors.c's operations, with both tasks
# on one P: each of its four channel operations takes the channel's lock;
# each of the two answers switches straight to the task it woke, from the
# call site where that task is suspended (tgo__mcall); each woken task is
# put in the P's runnext (tgo: next) with an exchange (Go: a
# compare-and-swap), and taken from there with a compare-and-swap, since
# thieves take from it too. The switches and the locked instructions are
# counted by callgrind in tests/test_benchmarks.py.
CHAN_ROUND_TRIP = {
    "tgo": {"lock": 4, "cas": 2, "exchange": 2, "switch": 2},
    "gmp": {"lock": 4, "cas": 2, "exchange": 2, "switch": 2},
}


# --instructions: (label, workload, unit, the two run lengths' parameters)
INSTRUCTION_FIGURES = (
    ("spawn", "spawn", "per task", ({"tasks": 10_000}, {"tasks": 20_000})),
    ("yield", "yield", "per switch", ({"tasks": 4, "yields": 5_000},
                                      {"tasks": 4, "yields": 10_000})),
    ("chan", "chan", "per round trip", ({"rounds": 10_000}, {"rounds": 20_000})),
)
CALLGRIND_TIMEOUT_S = 300


def params_for(figure: Figure, impl: str) -> dict:
    """The figure's parameters; the Go driver takes no stack size."""
    return {k: v for k, v in figure.params.items() if impl != "go" or k != "stack_size"}


def warmup_params(figure: Figure, impl: str) -> dict:
    """A tenth of the figure's size: pages of code and libc touched, not timed."""
    small = params_for(figure, impl)
    small[figure.size_param] = max(1, small[figure.size_param] // 10)
    return small


def spin_settings(impl: str) -> tuple[int | None, ...]:
    """The spin settings to measure impl under; Go has no such setting."""
    if impl == "go":
        return (None,)
    return tuple(dict.fromkeys(f.spin_ns for f in FIGURES))


def process_groups(impl: str) -> list[tuple[int | None, tuple[Figure, ...]]]:
    """The figures that each fresh driver process of impl measures, with its
    spin setting: one process per spin setting, and one per figure alone."""
    groups = []
    for spin_ns in spin_settings(impl):
        figures = [f for f in FIGURES if f.spin_ns == spin_ns]
        together = tuple(f for f in figures if not f.alone)
        groups += [(spin_ns, together)] if together else []
        groups += [(spin_ns, (f,)) for f in figures if f.alone]
    return groups


def measure(executable: Path, impl: str, procs: int | None) -> tuple[dict, dict[str, float]]:
    """One repetition of every figure, in the fresh driver processes of
    process_groups."""
    values = {}
    for spin_ns, figures in process_groups(impl):
        env = None if spin_ns is None else {**os.environ, "TGOBENCH_SPIN_NS": str(spin_ns)}
        with DriverProcess(impl, executable, env=env) as driver:
            hello = driver.checked({"op": "hello"}, REQUEST_TIMEOUT_S)
            for figure in figures:
                figure_procs = figure.procs or procs
                if not figure.alone:
                    driver.run(figure.workload, warmup_params(figure, impl), 1, figure_procs,
                               REQUEST_TIMEOUT_S)
                answer = driver.run(figure.workload, params_for(figure, impl), figure.loops,
                                    figure_procs, REQUEST_TIMEOUT_S)
                values[figure.label] = figure.value(answer)
                if figure.procs is None:
                    hello["procs_used"] = answer.procs
                    if "same_p_share" in answer.metrics:
                        values[figure.label + SAME_P] = 100.0 * answer.metrics["same_p_share"]
    return hello, values


def build_floors(directory: Path) -> Path:
    arch = platform.machine()
    if arch not in CTX_SOURCES:
        raise UserError(f"--floors has no context switch for {arch}",
                        f"run it on {' or '.join(CTX_SOURCES)}, or leave out --floors")
    ctx = Path(__file__).resolve().parents[1] / "tgobench/native/src" / CTX_SOURCES[arch]
    return build_c([FLOORS_SOURCE, ctx], directory / "floors", "--floors")


def measure_floors(exe: Path) -> dict[str, float]:
    """One run of floors.c: ns per operation by name; none for the handoff
    with fewer than two CPUs."""
    done = subprocess.run([str(exe)], capture_output=True, text=True,
                          timeout=REQUEST_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise UserError(f"floors failed: {done.stderr.strip()}",
                        "see the message; floors checks every loop's count")
    return {name: float(value) for name, value in
            (line.split() for line in done.stdout.splitlines()) if value != "-"}


def print_floors(floors: dict[str, list[float]]) -> None:
    print("floors (floors.c), ns per operation, each alone in a tight loop, median [min-max]:")
    for name, label in FLOOR_LABELS.items():
        cell = row_cell(floors.get(name, []))[1]
        print(f"  {name:<16} {label:<54} {cell:>18}")
    medians = {name: row_cell(values)[0] for name, values in floors.items()}
    parts = []
    for policy, ops in CHAN_ROUND_TRIP.items():
        total = sum(n * medians[op] for op, n in ops.items())
        parts.append(f"{policy} {fmt(total)} ({', '.join(f'{n} {op}' for op, n in ops.items())})")
    print("chan floor, ns per round trip, the sum of those operations a round trip does: "
          + "; ".join(parts))


def callgrind_run(exe: Path, workload: str, params: dict) -> tuple[int, int]:
    """Instructions that one loop of workload executed in the driver under
    callgrind, on one P with idle Ps parking at once (a spinning P's count
    would depend on time), and the operations the driver counted."""
    flags = [x for k, v in params.items() for x in (f"--{k}", str(v))]
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", str(exe),
         "--procs", "1", "run", workload, *flags, "--loops", "1"],
        capture_output=True, text=True, timeout=CALLGRIND_TIMEOUT_S, check=False,
        env={**os.environ, "TGOBENCH_SPIN_NS": "0"})
    counted = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or not counted:
        said = [line for line in done.stderr.splitlines() if not line.startswith("==")]
        raise UserError(f"{exe.name} under callgrind failed on {workload}: "
                        + ("\n".join(said).strip() or done.stdout.strip()),
                        "see the message; a driver that runs but fails under valgrind "
                        "is a bug to report")
    return int(counted.group(1).replace(",", "")), int(json.loads(done.stdout)["ops"])


def instructions_per_op(exe: Path, workload: str, runs: tuple[dict, dict]) -> float:
    """What one more operation costs: the difference between two run
    lengths, in which start-up and shutdown cancel."""
    (short_i, short_ops), (long_i, long_ops) = (callgrind_run(exe, workload, p) for p in runs)
    return (long_i - short_i) / (long_ops - short_ops)


def measure_instructions(executables: dict[str, Path]) -> dict[str, dict[str, float]]:
    """--instructions: label -> policy -> instructions per operation."""
    if not shutil.which("valgrind"):
        raise UserError("--instructions needs valgrind, which is not installed",
                        "install it (apt-get install valgrind), or leave out --instructions")
    print("instructions: tgo and gmp under callgrind ...", file=sys.stderr, flush=True)
    return {label: {policy: instructions_per_op(executables[policy], workload, runs)
                    for policy in ("tgo", "gmp")}
            for label, workload, _, runs in INSTRUCTION_FIGURES}


def print_instructions(counts: dict[str, dict[str, float]]) -> None:
    print("instructions per operation, one P, idle Ps parking at once (callgrind, the "
          "difference between two run lengths):")
    for label, _, unit, _ in INSTRUCTION_FIGURES:
        tgo, gmp = counts[label]["tgo"], counts[label]["gmp"]
        print(f"  {label:<6} {unit:<15} tgo {tgo:7.1f}   gmp {gmp:7.1f}   "
              f"tgo/gmp {ratio(tgo, gmp)}")


def fmt(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def row_cell(values: list[float]) -> tuple[float | None, str]:
    """The median and its cell, or none and - where nothing was measured."""
    return spread(values, fmt) if values else (None, "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_options(parser, "repetitions per implementation (default 5)")
    parser.add_argument("--floors", action="store_true",
                        help="add what this machine charges for a switch, a lock and the "
                             "like, and chan's floor (floors.c, built with cc)")
    parser.add_argument("--instructions", action="store_true",
                        help="add the instructions tgo and gmp execute per operation on "
                             "one P, counted by callgrind (needs valgrind)")
    args = parser.parse_args(argv)
    check_reps(parser, args)

    floors: dict[str, list[float]] = {}
    try:
        executables, go_note = implementation_drivers(args)
        impls = tuple(executables)
        # first: quick, and a failure then loses no timed repetition
        instructions = measure_instructions(executables) if args.instructions else {}
        results: dict[str, dict[str, list[float]]] = {i: {f.label: [] for f in FIGURES}
                                                      for i in impls}
        hellos = {}
        with tempfile.TemporaryDirectory(prefix="tgobench-floors-") as build_dir:
            floors_exe = build_floors(Path(build_dir)) if args.floors else None
            for impl in interleaved(impls + ((FLOORS,) if floors_exe else ()), args.reps):
                if impl == FLOORS:
                    for name, value in measure_floors(floors_exe).items():
                        floors.setdefault(name, []).append(value)
                    continue
                hellos[impl], values = measure(executables[impl], impl, args.procs)
                for label, value in values.items():
                    results[impl].setdefault(label, []).append(value)
    except UserError as exc:
        return report_error(exc)

    print(f"{machine_line(hellos['tgo'])}; driver {hellos['tgo'].get('version', '?')}; "
          f"{go_line(go_note, hellos)}; {args.reps} reps, median [min-max]")
    header = (f"{'figure':<11} {'unit':<14}" + "".join(f" {i + ' median [min-max]':>26}"
                                                      for i in impls)
              + f" {'tgo/gmp':>8}" + (f" {'tgo/go':>7}" if "go" in impls else "")
              + f" {'target':>7}")
    print(header)
    print("-" * len(header))
    for figure in FIGURES:
        cells = []
        medians = {}
        for impl in impls:
            medians[impl], cell = row_cell(results[impl][figure.label])
            cells.append(cell)
        line = (f"{figure.label:<11} {figure.unit:<14}" + "".join(f" {c:>26}" for c in cells)
                + f" {ratio(medians['tgo'], medians['gmp']):>8}")
        if "go" in impls:
            line += f" {ratio(medians['tgo'], medians['go']):>7}"
        target = "-" if figure.target is None else "<= " + fmt(figure.target)
        print(line + f" {target:>7}")
    for figure in FIGURES:
        shares = {i: results[i][figure.label + SAME_P] for i in impls
                  if results[i].get(figure.label + SAME_P)}
        if shares:
            print(f"{figure.label + SAME_P}, % of rounds answered on one P: " + ", ".join(
                f"{i} {spread(v, fmt)[1]}" for i, v in shares.items()))
    print("chan spin 0: tgo and gmp with idle Ps parking at once (TGOBENCH_SPIN_NS=0)"
          + ("; Go has no such setting" if "go" in impls else ""))
    print("chan 1 P: the ping-pong with procs 1, no P besides the one running both tasks"
          + ("; the setting of the chan floor below" if args.floors else ""))
    if "go" in impls:
        print("parked: Go with its own stacks (it takes no stack size), "
              "tgo and gmp with the 2 KiB class")
    if args.floors:
        print_floors(floors)
    if instructions:
        print_instructions(instructions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
