"""`tgobench run`: plan every benchmark, refusing what cannot run before
anything runs; then measure them one by one, each in its own pyperf manager
process (`python -m tgobench.worker`), writing the result file after each, so
an interrupted or failing run keeps every benchmark that finished.

Planning: the suite (or the ad hoc benchmark), the drivers and their hello,
the machine's topology, the placements (checked against the machine), the
procs, the system check, and the output file (an existing one is refused
unless appending). Measuring a benchmark: a probe run of one loop under the
placement (proves that the benchmark runs and gives the ops of one loop),
then pyperf calibrates loops and warmups and spawns its worker processes.

A request the driver refuses at the probe holds a value only the driver
could judge (a stack size that is not a multiple of the page size):
nothing of it was measured, so that benchmark is left out as refused, the
others still run, and the run ends as bad input. A driver that refuses,
crashes or answers garbage later, while pyperf measures, has failed that
benchmark.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Protocol, Sequence

import pyperf
from rich.markup import escape

from tgobench import __version__
from tgobench import placement as placements_mod
from tgobench import suites, system
from tgobench import topology as topology_mod
from tgobench.drivers import (DriverError, DriverInfo, DriverProcess, DriverRefused,
                              describe_status, find_driver, hello, parse_impls)
from tgobench.compare import OPEN_LOOP_LABEL, format_value, latency_samples
from tgobench.errors import UserError
from tgobench.placement import Placement
from tgobench.results import (BenchmarkId, BenchmarkResult, ResultSet, ResultWriter,
                              benchmark_metadata, check_writable)
from tgobench.stats import RatioInterval, hodges_lehmann_ratio
from tgobench.worker import ERROR_EXIT, METRICS_HOOK

OUTPUT_TAIL_LINES = 15
# Workloads whose figure depends on what earlier requests left in the driver
# process get a new driver for every value. parked: Go never frees a
# goroutine's descriptor, so a driver that parked 100,000 goroutines before
# parks the next ones on reused descriptors, 2.19 KiB a task against 2.70 in
# a new process (and 1.65 times tgo's speed against 1.15), while a C driver
# starts a new runtime for every request; a new process measures both alike.
FRESH_DRIVER_WORKLOADS = frozenset({"parked"})


@dataclass
class RunRequest:
    """What the user asked for on the command line."""

    suite: str | None = None
    workload: str | None = None
    params: Sequence[str] = ()
    impls: str | None = None            # --impl text: "tgo,gmp,mine=/path"
    cpus: Sequence[str] = ()            # --cpus, repeatable
    numa: Sequence[str] = ()            # --numa node0,interleave
    procs: Sequence[int] = ()           # --procs 1,2
    output: Path | None = None
    append: bool = False
    pyperf_args: Sequence[str] = ()     # --fast, --rigorous, --processes N, --values N, ...


@dataclass(frozen=True)
class PlannedBenchmark:
    id: BenchmarkId
    case: suites.BenchmarkCase
    driver: Path
    info: DriverInfo
    placement: Placement
    procs: int
    threshold: float


@dataclass
class RunPlan:
    suite: suites.Suite
    benchmarks: list[PlannedBenchmark]
    skipped: list[str]
    system: system.SystemReport
    writer: ResultWriter
    pyperf_args: list[str]

    @property
    def output(self) -> Path:
        return self.writer.path


@dataclass
class RunOutcome:
    output: Path
    finished: list[BenchmarkId] = field(default_factory=list)
    failed: list[tuple[BenchmarkId, str]] = field(default_factory=list)
    refused: list[BenchmarkId] = field(default_factory=list)  # of failed: bad input to its driver
    missing: list[BenchmarkId] = field(default_factory=list)  # never started: interrupted
    interrupted: bool = False

    @property
    def complete(self) -> bool:
        return not self.failed and not self.missing and not self.interrupted

    def refusal(self) -> UserError | None:
        """The benchmarks their drivers refused at the probe, as the user's
        mistake to fix; None if there were none."""
        if not self.refused:
            return None
        lines = [f"  {bench_id.name}: {message}" for bench_id, message in self.failed
                 if bench_id in self.refused]
        return UserError(f"{len(lines)} benchmark(s) refused by their driver as bad input:\n"
                         + "\n".join(lines),
                         "change what the driver named; `tgobench list workloads` shows each "
                         "workload's parameters and the values they take")


class Reporter(Protocol):
    """What the run tells the person watching."""

    def planned(self, plan: RunPlan) -> None: ...
    def started(self, index: int, bench: PlannedBenchmark) -> None: ...
    def process_done(self, index: int) -> None: ...
    def finished(self, index: int, bench: PlannedBenchmark, error: str | None) -> None: ...
    def done(self, outcome: RunOutcome) -> None: ...


# --- planning ------------------------------------------------------------------

def default_output(suite_name: str, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return Path("results") / f"{suite_name}-{stamp}.json"


def plan(request: RunRequest, allowed: Sequence[int] | None = None,
         which: Callable[[str], str | None] | None = None) -> RunPlan:
    """Check everything that can be checked before running; UserError on
    the first thing that cannot run."""
    if request.suite and request.workload:
        raise UserError("give either --suite or --workload, not both",
                        "--workload runs one benchmark ad hoc; a suite lists several")
    if "--fast" in request.pyperf_args and "--rigorous" in request.pyperf_args:
        # pyperf would take --rigorous and drop --fast without a word
        raise UserError("give either --fast or --rigorous, not both",
                        "--fast: fewer processes and values; --rigorous: more")
    placement_requests = placements_mod.from_options(request.cpus, request.numa)
    impl_paths = parse_impls(request.impls) if request.impls else {}
    if request.workload:
        suite = suites.adhoc(request.workload, request.params,
                             tuple(impl_paths) or ("tgo", "gmp"))
    else:
        if request.params:
            raise UserError("--param applies to --workload only",
                            "give --workload too, or set params in the suite file")
        suite = suites.load(request.suite or "quick")
    for value in request.procs:
        if not 1 <= value <= suites.MAX_PROCS:
            raise UserError(f"--procs {value}: procs must be from 1 to {suites.MAX_PROCS}",
                            "give e.g. --procs 1,2")

    names = list(impl_paths) or list(dict.fromkeys(i for e in suite.entries for i in e.impls))
    infos: dict[str, DriverInfo] = {}
    paths: dict[str, Path] = {}
    for name in names:
        paths[name] = find_driver(name, impl_paths.get(name))
        try:
            infos[name] = hello(name, paths[name])
        except DriverError as exc:
            raise UserError(f"cannot ask the {name} driver ({paths[name]}) what it runs: {exc}",
                            "rebuild or reinstall that driver") from None

    allowed = list(allowed) if allowed is not None else topology_mod.allowed_cpus()
    topo = _topology(infos)
    labels = [r.label for r in placement_requests] or None
    expansion = suites.expand(suite, infos, impls=list(impl_paths) or None, placements=labels,
                              procs=list(request.procs) or None)
    planned_placements: dict[str, Placement] = {}
    for case in expansion.cases:
        if case.placement not in planned_placements:
            wanted = placements_mod.parse(case.placement)
            kwargs = {"which": which} if which else {}
            planned_placements[case.placement] = placements_mod.plan(wanted, topo, allowed, **kwargs)
    if not expansion.cases:
        raise UserError(f"nothing to run in suite {suite.name}: every benchmark was skipped",
                        "; ".join(expansion.skipped) or "add benchmarks to the suite")

    benchmarks: list[PlannedBenchmark] = []
    seen: set[str] = set()
    for case in expansion.cases:
        where = planned_placements[case.placement]
        procs = case.procs or where.default_procs
        bench_id = BenchmarkId.make(case.workload, case.given, case.impl, where.label, procs)
        if bench_id.name in seen:
            continue
        seen.add(bench_id.name)
        benchmarks.append(PlannedBenchmark(bench_id, case, paths[case.impl], infos[case.impl],
                                           where, procs, case.entry.threshold))

    report = system.check()
    output = request.output or default_output(suite.name)
    check_writable(output, "the result file", "choose a file in a writable directory with -o")
    writer = ResultWriter(output, append=request.append)
    for bench in benchmarks:  # a file that cannot take them is refused before anything runs
        writer.check_can_add(bench.id.name, _metadata(bench, suite.name, report))
    return RunPlan(suite, benchmarks, expansion.skipped, report, writer, list(request.pyperf_args))


def _topology(infos: dict[str, DriverInfo]) -> topology_mod.Topology:
    for info in infos.values():
        if info.topology:
            try:
                return topology_mod.Topology.from_answer(info.topology)
            except (KeyError, TypeError, ValueError):
                continue
    return topology_mod.read()


# --- measuring -----------------------------------------------------------------

class BenchmarkFailed(Exception):
    """One benchmark could not be measured; the message says why."""


class BenchmarkRefused(BenchmarkFailed):
    """The driver refused the benchmark's request at the probe, before
    measuring anything: bad input that only the driver could judge."""


def execute(plan: RunPlan, reporter: Reporter) -> RunOutcome:
    outcome = RunOutcome(plan.output)
    reporter.planned(plan)
    with tempfile.TemporaryDirectory(prefix="tgobench-run-") as workdir:
        try:
            for index, bench in enumerate(plan.benchmarks, start=1):
                reporter.started(index, bench)
                try:
                    result = measure(bench, plan, Path(workdir) / f"b{index}",
                                     lambda: reporter.process_done(index))
                    _add(plan.writer, result)
                except (BenchmarkFailed, UserError) as exc:
                    # UserError: the file refused the runs (checked in plan();
                    # it changed since)
                    outcome.failed.append((bench.id, str(exc)))
                    if isinstance(exc, BenchmarkRefused):
                        outcome.refused.append(bench.id)
                    reporter.finished(index, bench, str(exc))
                    continue
                outcome.finished.append(bench.id)
                reporter.finished(index, bench, None)
        except KeyboardInterrupt:
            outcome.interrupted = True
            outcome.missing = [b.id for b in plan.benchmarks
                               if b.id not in outcome.finished
                               and b.id not in [f for f, _ in outcome.failed]]
    reporter.done(outcome)
    return outcome


def _add(writer: ResultWriter, result: pyperf.Benchmark) -> None:
    try:
        writer.add(result)
    except OSError as exc:  # checked writable in plan(); since full or gone
        raise BenchmarkFailed(f"cannot write it to {writer.path}: {exc.strerror or exc}") from None


def _metadata(bench: PlannedBenchmark, suite_name: str, report: system.SystemReport) -> dict:
    return benchmark_metadata(
        bench.id, params=bench.case.params, op_unit=bench.case.op_unit, suite=suite_name,
        threshold=bench.threshold, tgobench_version=__version__,
        driver_version=bench.info.version, compiler=bench.info.build,
        machine=report.machine, warnings=report.warning_dicts())


def _spec(bench: PlannedBenchmark, plan: RunPlan, ops_per_loop: int, error_file: Path) -> dict:
    settings = plan.suite.pyperf
    metadata = _metadata(bench, plan.suite.name, plan.system)
    return {"name": bench.id.name, "impl": bench.id.impl, "driver": str(bench.driver),
            "driver_version": bench.info.version, "prefix": list(bench.placement.prefix),
            "workload": bench.case.workload, "params": bench.case.params, "procs": bench.procs,
            "ops_per_loop": ops_per_loop, "metadata": metadata, "error_file": str(error_file),
            "fresh_driver": bench.case.workload in FRESH_DRIVER_WORKLOADS,
            "pyperf": {"processes": settings.processes, "values": settings.values,
                       "warmups": settings.warmups, "min_time": settings.min_time,
                       "loops": settings.loops}}


def worker_command(spec_path: Path, output: Path, bench: PlannedBenchmark,
                   pyperf_args: Sequence[str]) -> list[str]:
    """The pyperf manager's command line. An explicit --affinity (else pyperf
    pins workers to isolated CPUs on its own); the environment pyperf passes
    to its workers is a whitelist, so tgobench's variables are named."""
    inherit = sorted(n for n in os.environ if n.startswith("TGOBENCH_") or n == "LD_LIBRARY_PATH")
    cmd = [sys.executable, "-m", "tgobench.worker", "--tgobench-spec", str(spec_path),
           "--output", str(output), "--affinity", bench.placement.cpulist, "--hook", METRICS_HOOK]
    if inherit:
        cmd += ["--inherit-environ", ",".join(inherit)]
    return cmd + list(pyperf_args)


def measure(bench: PlannedBenchmark, plan: RunPlan, workdir: Path,
            on_process: Callable[[], None] = lambda: None) -> pyperf.Benchmark:
    """Probe, then run pyperf for one benchmark; BenchmarkFailed if either
    fails, BenchmarkRefused if the driver refuses the probe's request."""
    workdir.mkdir(parents=True)
    try:
        with DriverProcess(bench.id.impl, bench.driver, bench.placement.prefix) as driver:
            driver.hello()
            probe = driver.run(bench.case.workload, bench.case.params, 1, bench.procs)
    except DriverRefused as exc:
        raise BenchmarkRefused(str(exc)) from None
    except (DriverError, UserError) as exc:
        raise BenchmarkFailed(str(exc)) from None
    if probe.procs and probe.procs != bench.procs:
        raise BenchmarkFailed(f"the {bench.id.impl} driver ran with {probe.procs} Ps when asked "
                              f"for {bench.procs}")
    error_file, spec_path, output = workdir / "error.json", workdir / "spec.json", workdir / "out.json"
    spec_path.write_text(json.dumps(_spec(bench, plan, probe.ops, error_file)))
    cmd = worker_command(spec_path, output, bench, plan.pyperf_args)
    status, text = _run_pyperf(cmd, on_process)
    if status == 0 and output.exists():
        return pyperf.BenchmarkSuite.load(str(output)).get_benchmarks()[0]
    if status == ERROR_EXIT and error_file.exists():
        raise BenchmarkFailed(json.loads(error_file.read_text())["message"])
    tail = "\n".join("    " + line for line in text.splitlines()[-OUTPUT_TAIL_LINES:])
    raise BenchmarkFailed(f"pyperf ended with {describe_status(status)}; its output ended with:\n{tail}")


def _run_pyperf(cmd: list[str], on_process: Callable[[], None]) -> tuple[int, str]:
    """Run the pyperf manager; it prints a dot per finished worker process
    (before its first newline), which becomes on_process(). It leads a
    process group of its own, its workers and their drivers, so that an
    interrupt of this process alone still stops them all."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    chunks: list[bytes] = []
    counting = True
    try:
        while chunk := os.read(proc.stdout.fileno(), 65536):
            chunks.append(chunk)
            if counting:
                head, newline, _ = chunk.partition(b"\n")
                for _ in range(head.count(b".")):
                    on_process()
                counting = not newline
        return proc.wait(), b"".join(chunks).decode("utf-8", "replace")
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        proc.stdout.close()


# --- the end: a table per workload ---------------------------------------------

@dataclass(frozen=True)
class Cell:
    """One implementation's figure: the median of its per-process means and
    their median absolute deviation."""

    median: float
    spread: float
    processes: int


@dataclass
class Row:
    key: str                                  # the benchmark without its impl
    cells: dict[str, Cell]
    ratios: dict[str, RatioInterval]          # impl -> its figure / the first impl's


@dataclass
class WorkloadSummary:
    workload: str
    op_unit: str
    impls: list[str]
    rows: list[Row]
    lines: list[str]                          # "tgo ran 1.23 times faster than gmp on ..."


def _key(bench_id: BenchmarkId) -> str:
    head = BenchmarkId(bench_id.workload, bench_id.params, "x", "x", 1).name.rsplit(" ", 3)[0]
    return f"{head} {bench_id.placement} p{bench_id.procs}"


def summarize(results: ResultSet) -> list[WorkloadSummary]:
    """Per workload, each benchmark's implementations side by side, and
    ratios with Hodges-Lehmann 95% intervals over per-process means
    (stats.hodges_lehmann_ratio); for an rpc open loop, over per-process
    median p99s, as `tgobench compare` judges it."""
    by_workload: dict[str, WorkloadSummary] = {}
    rows: dict[tuple[str, str], Row] = {}
    means_of: dict[tuple[str, str], list[float]] = {}
    open_loops: dict[str, list[BenchmarkResult]] = {}  # row key -> its benchmarks
    for bench in results.benchmarks:
        workload = bench.id.workload
        summary = by_workload.setdefault(workload, WorkloadSummary(
            workload, bench.metadata.get("tgobench_op_unit", "op"), [], [], []))
        if bench.id.impl not in summary.impls:
            summary.impls.append(bench.id.impl)
        latency = latency_samples(bench)
        key = f"{_key(bench.id)} {OPEN_LOOP_LABEL}" if latency else _key(bench.id)
        if (workload, key) not in rows:
            rows[(workload, key)] = Row(key, {}, {})
            summary.rows.append(rows[(workload, key)])
        if bench.id.open_loop:
            open_loops.setdefault(key, []).append(bench)
        means = means_of[(key, bench.id.impl)] = latency or bench.run_means
        center = statistics.median(means)
        rows[(workload, key)].cells[bench.id.impl] = Cell(
            center, statistics.median(abs(m - center) for m in means), len(means))
    for summary in by_workload.values():
        for row in summary.rows:
            impls = [impl for impl in summary.impls if impl in row.cells]
            if len(impls) < 2:
                continue
            first = impls[0]
            for other in impls[1:]:
                interval = hodges_lehmann_ratio(means_of[(row.key, first)], means_of[(row.key, other)])
                row.ratios[other] = interval
                if row.key not in open_loops:
                    summary.lines.append(_verdict(first, other, interval, row.key))
            if row.key in open_loops:
                summary.lines.append(_open_loop_line(open_loops[row.key]))
    return list(by_workload.values())


def _open_loop_line(benches: list[BenchmarkResult]) -> str:
    """An open loop's summary: p99 latency and send lag per implementation
    (medians over all values, and it says so, since its row in the table
    shows the median of per-process medians), not a time ratio, which would
    compare schedules; the row compares the p99s."""
    parts = []
    for b in benches:
        p99 = b.median_percentile("latency_ns", "p99")
        lag = b.median_percentile("send_lag_ns", "p99")
        figure = format_value(p99 / 1e9, "second") if p99 is not None else "-"
        if lag is not None:
            figure += f" (senders late {format_value(lag / 1e9, 'second')})"
        parts.append(f"{b.id.impl} {figure}")
    return (f"p99 latency on {_key(benches[0].id)}, median over all values: " + ", ".join(parts)
            + "; its time per request is set by the rate")


def _verdict(first: str, other: str, interval: RatioInterval, key: str) -> str:
    """`interval` is other's time over first's: above 1, first is faster."""
    if interval.ratio >= 1:
        fast, slow, ratio, low, high = first, other, interval.ratio, interval.low, interval.high
    else:
        fast, slow, ratio = other, first, 1 / interval.ratio
        low = 1 / interval.high if interval.high > 0 else 0.0
        high = 1 / interval.low if interval.low > 0 else math.inf
    if not interval.bounded:
        return (f"{fast} ran {ratio:.2f} times faster than {slow} on {key} "
                "(too few processes for a 95% interval)")
    ci = f"95% CI {low:.2f}-{high:.2f}"
    if low <= 1 <= high:
        # "ran 1.00 times faster" would read as a finding; the interval says there is none
        return f"no significant difference between {fast} and {slow} on {key} (time ratio {ratio:.2f}, {ci})"
    return f"{fast} ran {ratio:.2f} times faster than {slow} on {key} ({ci})"


def format_cell(cell: Cell) -> str:
    return f"{format_value(cell.median, 'second')} ± {format_value(cell.spread, 'second')}"


def format_ratio(interval: RatioInterval) -> str:
    if interval.bounded:
        return f"{interval.ratio:.2f} [{interval.low:.2f}, {interval.high:.2f}]"
    return f"{interval.ratio:.2f}"


# --- reporters -----------------------------------------------------------------

def _plan_notes(plan: RunPlan) -> list[str]:
    notes = [f"skipped: {text}" for text in plan.skipped]
    notes += [f"warning: {w.message}\n  fix: {w.fix}" for w in plan.system.warnings]
    return notes


def _outcome_notes(outcome: RunOutcome) -> list[str]:
    notes = []
    for bench_id, message in outcome.failed:
        notes.append(f"{'REFUSED' if bench_id in outcome.refused else 'FAILED'} "
                     f"{bench_id.name}: {message}")
    if outcome.interrupted:
        notes.append("interrupted: " + (f"{len(outcome.missing)} benchmark(s) not measured: "
                                        + ", ".join(b.name for b in outcome.missing)
                                        if outcome.missing else "nothing was left to measure"))
    if outcome.finished:
        notes.append(f"wrote {len(outcome.finished)} benchmark(s) to {outcome.output}")
    elif outcome.output.exists():  # appending: the file is as it was
        notes.append(f"no benchmark finished; {outcome.output} is unchanged")
    else:
        notes.append("no benchmark finished; no result file written")
    return notes


class PlainReporter:
    """One line per event, for logs and CI."""

    def __init__(self, write: Callable[[str], None] = print):
        self.write = write
        self.total = 0
        self.start = 0.0

    def planned(self, plan: RunPlan) -> None:
        self.total = len(plan.benchmarks)
        self.start = time.monotonic()
        for note in _plan_notes(plan):
            self.write(note)
        self.write(f"running {self.total} benchmark(s) of suite {plan.suite.name} "
                   f"into {plan.output}")

    def started(self, index: int, bench: PlannedBenchmark) -> None:
        self.bench_start = time.monotonic()
        self.write(f"[{index}/{self.total}] {bench.id.name}")

    def process_done(self, index: int) -> None:
        pass

    def finished(self, index: int, bench: PlannedBenchmark, error: str | None) -> None:
        took = time.monotonic() - self.bench_start
        self.write(f"[{index}/{self.total}] {bench.id.name}: {'failed' if error else 'done'} "
                   f"in {took:.1f} s")

    def done(self, outcome: RunOutcome) -> None:
        self.write(f"finished in {time.monotonic() - self.start:.1f} s")
        for note in _outcome_notes(outcome):
            self.write(note)


class RichReporter:
    """A progress bar: benchmark k of n, the current one, elapsed and ETA."""

    def __init__(self, console):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("ETA"), TimeRemainingColumn(),
                                 console=console, transient=True)
        self.overall = None
        self.processes = 1

    def planned(self, plan: RunPlan) -> None:
        for note in _plan_notes(plan):
            self.console.print(note, markup=False, highlight=False)
        self.processes = max(1, plan.suite.pyperf.processes)
        self.console.print(f"running {len(plan.benchmarks)} benchmark(s) of suite "
                           f"{plan.suite.name} into {plan.output}", markup=False, highlight=False)
        self.progress.start()
        self.overall = self.progress.add_task("benchmarks", total=len(plan.benchmarks))

    def started(self, index: int, bench: PlannedBenchmark) -> None:
        self.progress.update(self.overall, description=escape(bench.id.name))
        self.current = 0

    def process_done(self, index: int) -> None:
        # pyperf's worker processes of this benchmark, as a fraction of one step
        self.current += 1
        fraction = min(self.current / (self.processes + 1), 0.95)
        self.progress.update(self.overall, completed=index - 1 + fraction)

    def finished(self, index: int, bench: PlannedBenchmark, error: str | None) -> None:
        self.progress.update(self.overall, completed=index)
        mark = "[red]failed[/red]" if error else "[green]done[/green]"
        self.progress.console.print(f"{mark} {escape(bench.id.name)}", highlight=False)

    def done(self, outcome: RunOutcome) -> None:
        self.progress.stop()
        for note in _outcome_notes(outcome):
            self.console.print(note, markup=False, highlight=False)


def print_summary(console, summaries: list[WorkloadSummary]) -> None:
    """The end of a run: per workload, median ± MAD of per-process means for
    each implementation, the ratios, then one line per comparison."""
    from rich.table import Table
    from rich.text import Text

    for summary in summaries:
        caption = "median of per-process means ± MAD; ratio [95% CI]"
        if any(row.key.endswith(OPEN_LOOP_LABEL) for row in summary.rows):
            caption += f"; rows marked {OPEN_LOOP_LABEL}: median of per-process median p99s ± MAD"
        table = Table(title=f"{summary.workload} (time per {summary.op_unit})", title_justify="left",
                      caption=caption,
                      caption_justify="left", box=None, pad_edge=False)
        table.add_column("benchmark")
        for impl in summary.impls:
            table.add_column(impl, justify="right")
        others = summary.impls[1:]
        for impl in others:
            table.add_column(f"{impl}/{summary.impls[0]}", justify="right")
        for row in summary.rows:
            cells = [format_cell(row.cells[i]) if i in row.cells else "-" for i in summary.impls]
            ratios = [format_ratio(row.ratios[i]) if i in row.ratios else "-" for i in others]
            table.add_row(Text(row.key), *cells, *ratios)
        console.print(table)
        for line in summary.lines:
            console.print(line, markup=False, highlight=False)
        console.print()
