"""Comparison of two result files, or of two implementations in one file,
benchmark by benchmark, with verdicts and the regression gate.

Data first: `compare_files` and `compare_impls` match benchmarks and return a
`Comparison` (plain dataclasses, no output); `render_table`, `render_markdown`
and `to_json` present it; `exit_status` turns it into the gate's answer. The
statistics are `tgobench.stats`; read its docstring for the choice of test,
interval and power calculation.

For each benchmark present on both sides:

- samples: the per-worker-process means (`BenchmarkResult.run_means`);
  medians are of those means. An rpc open loop, whose time per request its
  rate sets, is judged by latency instead: each process's median p99;
- ratio new/baseline: Hodges-Lehmann estimate on log times, with its
  distribution-free interval at confidence 1 - alpha (95% by default);
- p: two-sided Mann-Whitney U; `p_holm` corrected by Holm across all the
  benchmarks compared, `p_bh` by Benjamini-Hochberg (for highlighting only);
- verdict: "too few samples" when even complete separation of every
  benchmark's samples could not give a corrected p below alpha (Holm's
  adjusted p-values only grow when a raw p grows, so that best case is exact);
  else "faster" or "slower" when the corrected p is below alpha; else "no
  significant change";
- regression (the gate): slower, and the interval's lower end above 1 +
  threshold. The threshold comes from the result file (the suite's), else
  5%, and a command-line threshold overrides both. A significant change
  smaller than the threshold is reported, never failed;
- detectable change: the smallest change the test would find with 80% power
  at level alpha / m for m benchmarks compared (the level Holm's first step
  demands of a lone change), and how many workers per side would make the
  threshold detectable. It describes the test, not the gate: a slowdown
  fails the gate only once its interval clears the threshold, so the gate
  catches with that power a slowdown of about (1 + threshold) * (1 +
  detectable) - 1, and one of exactly the threshold at most half the time.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from tgobench import stats
from tgobench.errors import UserError
from tgobench.results import THRESHOLD_LIMIT, BenchmarkId, BenchmarkResult, ResultSet, load

DEFAULT_ALPHA = 0.05
DEFAULT_THRESHOLD = 0.05
MIN_ALPHA, MAX_ALPHA = 1e-6, 0.5
POWER = 0.8
FAIL_ON = ("regression", "any-change", "never")

FASTER = "faster"
SLOWER = "slower"
NO_CHANGE = "no significant change"
TOO_FEW = "too few samples"
OPEN_LOOP_LABEL = "(p99 latency)"
# Closed rpc loops whose connections in use differ by more than this share
# of the larger measured different loads (clients that finish early make
# a few percent of difference in any run).
LOAD_TOLERANCE = 0.2

# Terminal and Markdown marks, in the spirit of asv's compare.
_MARKS = {"regression": "+", SLOWER: "~", FASTER: "-", TOO_FEW: "?", NO_CHANGE: " "}
_LEGEND = ("+ regression (significantly slower, interval above +threshold), "
           "~ significantly slower, - significantly faster, "
           "? too few worker processes for significance")


@dataclass(frozen=True)
class CompareWarning:
    """Something that limits what the comparison can say, and how to fix it."""

    message: str
    fix: str


@dataclass(frozen=True)
class Sample:
    """One side of a benchmark comparison: its name in its file and the
    per-worker-process means."""

    name: str
    run_means: tuple[float, ...]

    @property
    def processes(self) -> int:
        return len(self.run_means)

    @property
    def median(self) -> float:
        return float(np.median(self.run_means))


@dataclass(frozen=True)
class BenchmarkComparison:
    """The comparison of one benchmark: both samples, the ratio new/baseline
    with its interval, the p-values and the verdict. `detectable_change` and
    `threshold` are fractions (0.05 = 5%)."""

    name: str
    unit: str
    baseline: Sample
    new: Sample
    ratio: float
    ci_low: float
    ci_high: float
    confidence: float
    u: float
    p: float
    p_holm: float
    p_bh: float
    best_p_holm: float
    method: str
    threshold: float
    verdict: str
    regression: bool
    detectable_change: float
    processes_needed: int | None

    @property
    def change(self) -> float:
        return self.ratio - 1.0

    @property
    def significant(self) -> bool:
        return self.verdict in (FASTER, SLOWER)

    @property
    def threshold_hidden(self) -> bool:
        """The noise is too large for this comparison to detect the threshold
        (a threshold of 0 asks for no particular size of change)."""
        return self.threshold > 0 and not self.detectable_change <= self.threshold

    @property
    def mark(self) -> str:
        return _MARKS["regression" if self.regression else self.verdict]


@dataclass(frozen=True)
class Comparison:
    """A whole comparison. `baseline` and `new` label the sides (file paths, or
    implementation names when `impls` is set and both come from `path`)."""

    baseline: str
    new: str
    alpha: float
    benchmarks: tuple[BenchmarkComparison, ...]
    only_in_baseline: tuple[str, ...]
    only_in_new: tuple[str, ...]
    warnings: tuple[CompareWarning, ...]
    impls: tuple[str, str] | None = None
    path: str | None = None

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha

    @property
    def regressions(self) -> list[BenchmarkComparison]:
        return [b for b in self.benchmarks if b.regression]

    @property
    def changes(self) -> list[BenchmarkComparison]:
        return [b for b in self.benchmarks if b.significant]

    def summary(self) -> str:
        """One line: what the gate found, e.g. `1 regression, 2 faster, 3 no
        significant change (alpha 0.05, Holm over 6 benchmarks)`."""
        counts = {"regression": 0, SLOWER: 0, FASTER: 0, NO_CHANGE: 0, TOO_FEW: 0}
        for bench in self.benchmarks:
            counts["regression" if bench.regression else bench.verdict] += 1
        parts = []
        if counts["regression"]:
            parts.append(_plural(counts["regression"], "regression"))
        if counts[SLOWER]:
            parts.append(f"{counts[SLOWER]} slower but not a regression")
        for verdict in (FASTER, NO_CHANGE, TOO_FEW):
            if counts[verdict]:
                parts.append(f"{counts[verdict]} {verdict}")
        if not counts["regression"]:
            parts.insert(0, "no regression")
        scope = f"alpha {self.alpha:g}, Holm over {_plural(len(self.benchmarks), 'benchmark')}"
        return f"{', '.join(parts)} ({scope})"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# --- matching -----------------------------------------------------------------

def compare_paths(paths: list[str | os.PathLike], impls: str | None = None,
                  alpha: float = DEFAULT_ALPHA, threshold: float | None = None) -> Comparison:
    """What `tgobench compare` does: two files (baseline, new), or one file and
    `impls` "BASELINE,NEW". Raises UserError for bad arguments or files."""
    if impls is None:
        if len(paths) != 2:
            raise UserError(f"compare needs two result files, baseline then new; got {len(paths)}",
                            "tgobench compare BASELINE.json NEW.json, or one file with "
                            "--impls BASELINE,NEW")
        return compare_files(load(paths[0]), load(paths[1]), alpha, threshold)
    names = [name.strip() for name in impls.split(",")]
    if len(names) != 2 or not all(names):
        raise UserError(f"--impls takes two implementations, baseline first, not {impls!r}",
                        "e.g. --impls gmp,tgo")
    if len(paths) != 1:
        raise UserError(f"--impls compares two implementations within one file; got {len(paths)} "
                        "files", "give one result file, or leave out --impls to compare two files")
    return compare_impls(load(paths[0]), names[0], names[1], alpha, threshold)


def compare_files(baseline: ResultSet, new: ResultSet, alpha: float = DEFAULT_ALPHA,
                  threshold: float | None = None) -> Comparison:
    """Compare the benchmarks of two result files, matched by identity
    (workload, explicitly given params, impl, placement, procs; the whole name
    for plain pyperf files). Raises UserError when nothing is in common."""
    _check_options(alpha, threshold)
    base_by_id = {bench.id: bench for bench in baseline.benchmarks}
    new_by_id = {bench.id: bench for bench in new.benchmarks}
    pairs = [(bench.name, bench, new_by_id[bench.id]) for bench in baseline.benchmarks
             if bench.id in new_by_id]
    only_base = tuple(b.name for b in baseline.benchmarks if b.id not in new_by_id)
    only_new = tuple(b.name for b in new.benchmarks if b.id not in base_by_id)
    if not pairs:
        raise UserError(f"{baseline.path} and {new.path} have no benchmark in common "
                        f"({_listing(only_base)} in the first, {_listing(only_new)} in the second)",
                        "compare results of the same suite and implementations, or compare two "
                        "implementations of one file with --impls BASELINE,NEW")
    warnings = (_machine_warnings(baseline, new) + _suite_warnings(baseline, new)
                + _file_warnings([baseline, new]))
    return _compare(str(baseline.path), str(new.path), pairs, only_base, only_new, warnings,
                    alpha, threshold)


def compare_impls(results: ResultSet, baseline_impl: str, new_impl: str,
                  alpha: float = DEFAULT_ALPHA, threshold: float | None = None) -> Comparison:
    """Compare two implementations within one result file: each benchmark of
    `baseline_impl` against the benchmark of `new_impl` that differs from it
    only in the implementation. Raises UserError for an implementation the
    file does not hold, or when the two have nothing in common."""
    _check_options(alpha, threshold)
    impls = sorted({bench.id.impl for bench in results.benchmarks if bench.id.impl})
    if baseline_impl == new_impl:
        raise UserError(f"--impls names {baseline_impl!r} twice",
                        "give two different implementations, baseline first: --impls gmp,tgo")
    for impl in (baseline_impl, new_impl):
        if impl not in impls:
            held = f"it holds {', '.join(impls)}" if impls else "it holds no tgobench implementations"
            fix = (f"name two it holds, baseline first, e.g. --impls {','.join(impls[:2])}"
                   if len(impls) >= 2 else "compare it with a result file of another run instead")
            raise UserError(f"{results.path} has no benchmark of implementation {impl!r}: {held}",
                            fix)
    base = {b.id.without_impl(): b for b in results.benchmarks if b.id.impl == baseline_impl}
    other = {b.id.without_impl(): b for b in results.benchmarks if b.id.impl == new_impl}
    pairs = [(_name_without_impl(key), bench, other[key]) for key, bench in base.items()
             if key in other]
    only_base = tuple(bench.name for key, bench in base.items() if key not in other)
    only_new = tuple(bench.name for key, bench in other.items() if key not in base)
    if not pairs:
        raise UserError(f"{results.path}: implementations {baseline_impl} and {new_impl} have no "
                        "benchmark in common (same workload, params, placement and procs)",
                        "run both implementations in one suite, e.g. `tgobench run --suite quick`")
    return _compare(baseline_impl, new_impl, pairs, only_base, only_new,
                    _file_warnings([results]), alpha, threshold,
                    impls=(baseline_impl, new_impl), path=str(results.path))


def _check_options(alpha: float, threshold: float | None) -> None:
    # Below 1e-6 the interval's confidence 1 - alpha rounds towards 1, where
    # no finite interval exists; above 0.5 a "significant" change is a coin toss.
    if not MIN_ALPHA <= alpha <= MAX_ALPHA:
        raise UserError(f"alpha must lie between {MIN_ALPHA:g} and {MAX_ALPHA:g}, not {alpha:g}",
                        "use e.g. --alpha 0.05")
    if threshold is not None and not 0 <= threshold < THRESHOLD_LIMIT:
        raise UserError(f"threshold must be a fraction from 0 to below {THRESHOLD_LIMIT:g} "
                        f"({THRESHOLD_LIMIT:.0%}), not {threshold:g}",
                        "use e.g. --threshold 0.05 for 5%")


def _name_without_impl(bench_id: BenchmarkId) -> str:
    return " ".join(bench_id.without_impl().name.split())


def _listing(names: tuple[str, ...]) -> str:
    if not names:
        return "nothing"
    shown = ", ".join(names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _machine_warnings(baseline: ResultSet, new: ResultSet) -> list[CompareWarning]:
    def describe(machine: dict) -> str:
        return machine.get("machine_id") or machine.get("cpu_model") or "unknown"

    if not baseline.machine or not new.machine:
        return []
    keys = ("machine_id", "cpu_model", "cpus", "numa_nodes", "kernel")
    differing = [k for k in keys if baseline.machine.get(k) != new.machine.get(k)]
    if not differing:
        return []
    return [CompareWarning(
        f"the files come from different machines ({', '.join(differing)} differ: "
        f"{describe(baseline.machine)} vs {describe(new.machine)})",
        "compare runs from one machine; a difference may be the machine's, not the code's")]


def _suite_warnings(baseline: ResultSet, new: ResultSet) -> list[CompareWarning]:
    """Two suites may run one benchmark with different pyperf settings
    (processes, values, min_time) and thresholds."""
    def suites(results: ResultSet) -> set[str]:
        return {b.metadata["tgobench_suite"] for b in results.benchmarks
                if "tgobench_suite" in b.metadata}

    base_suites, new_suites = suites(baseline), suites(new)
    if not base_suites or not new_suites or base_suites == new_suites:
        return []
    return [CompareWarning(
        f"the files come from different suites ({', '.join(sorted(base_suites))} vs "
        f"{', '.join(sorted(new_suites))})",
        "compare runs of one suite; another suite may calibrate and judge a benchmark "
        "differently")]


def _file_warnings(result_sets: list[ResultSet]) -> list[CompareWarning]:
    """The system-check warnings recorded in the files, once each."""
    seen: list[CompareWarning] = []
    for results in result_sets:
        for recorded in results.warnings:
            warning = CompareWarning(f"{results.path}: {recorded.get('message', '')}",
                                     recorded.get("fix", ""))
            if warning not in seen:
                seen.append(warning)
    return seen


# --- statistics ---------------------------------------------------------------

def _compare(baseline_label: str, new_label: str,
             pairs: list[tuple[str, BenchmarkResult, BenchmarkResult]],
             only_base: tuple[str, ...], only_new: tuple[str, ...],
             warnings: list[CompareWarning], alpha: float, threshold: float | None,
             impls: tuple[str, str] | None = None, path: str | None = None) -> Comparison:
    compared = []
    for name, base, new in pairs:
        if base.unit != new.unit:
            warnings.append(CompareWarning(
                f"{name} is measured in {base.unit} in the baseline and {new.unit} in the new "
                "results; it is left out of the comparison",
                "compare results of the same benchmark"))
            continue
        if base.metadata.get("tgobench_params") != new.metadata.get("tgobench_params"):
            warnings.append(CompareWarning(
                f"{name} ran with different parameters: {base.metadata.get('tgobench_params')} "
                f"in the baseline, {new.metadata.get('tgobench_params')} in the new results",
                "a changed default makes the two measure different work; pass the parameter "
                "explicitly in the suite"))
        if base.id.open_loop:
            name, base, new = _open_loop(name, base, new, warnings)
        else:
            warnings.extend(_load_warnings(name, base, new, baseline_label, new_label))
        compared.append((name, base, new))
    if not compared:
        raise UserError("no benchmark is measured in the same unit on both sides",
                        "compare results of the same suite")
    benchmarks = _judge(compared, alpha, threshold)
    warnings.extend(_sample_warnings(benchmarks, alpha))
    if only_base:
        warnings.append(CompareWarning(
            f"{_plural(len(only_base), 'benchmark')} only in {baseline_label}: {', '.join(only_base)}",
            "a benchmark missing from the new results may have failed; check its run"))
    if only_new:
        warnings.append(CompareWarning(
            f"{_plural(len(only_new), 'benchmark')} only in {new_label}: {', '.join(only_new)}",
            f"a benchmark missing for {baseline_label} may have failed; check its run" if impls
            else "new benchmarks are compared once the baseline holds them"))
    return Comparison(baseline_label, new_label, alpha, tuple(benchmarks), only_base, only_new,
                      tuple(warnings), impls, path)


def _open_loop(name: str, base: BenchmarkResult, new: BenchmarkResult,
               warnings: list[CompareWarning]) -> tuple[str, BenchmarkResult, BenchmarkResult]:
    """An open loop's time per request is set by its rate, so it is judged by
    its p99 latency: each process's median p99 is a sample, as its mean time
    is elsewhere. Results without latency metrics keep their time, with a warning."""
    base_p99, new_p99 = _p99_latency(base), _p99_latency(new)
    if base_p99 and new_p99:
        return f"{name} {OPEN_LOOP_LABEL}", base_p99, new_p99
    warnings.append(CompareWarning(
        f"{name} is an open loop without latency metrics on both sides, so it is judged by its "
        "time per request, which its rate sets: the verdict says little about the implementations",
        "re-run it with `tgobench run`, which records each value's latency percentiles"))
    return name, base, new


def different_loads(base: BenchmarkResult, new: BenchmarkResult) -> tuple[float, float] | None:
    """The connections two closed rpc loops kept in use on average
    (active_conns, medians over values) where they differ by more than
    LOAD_TOLERANCE of the larger: the two measured different loads, since a
    runtime that starts some clients late runs fewer at once. None where
    they match or a side lacks the metric."""
    active = base.median_metric("active_conns"), new.median_metric("active_conns")
    if active[0] is None or active[1] is None:
        return None
    return None if abs(active[0] - active[1]) <= LOAD_TOLERANCE * max(active) else active


def _load_warnings(name: str, base: BenchmarkResult, new: BenchmarkResult,
                   baseline_label: str, new_label: str) -> list[CompareWarning]:
    """Sides that measured different loads: their time per request
    compares unlike work."""
    active = different_loads(base, new)
    if active is None:
        return []
    return [CompareWarning(
        f"{name} had {active[0]:.0f} connections in use on average in {baseline_label} and "
        f"{active[1]:.0f} in {new_label}: the two measured different loads, so its time per "
        "request compares unlike work",
        "read active_conns beside the verdict, or compare at a connection count both keep in "
        "use")]


def latency_samples(bench: BenchmarkResult) -> list[float] | None:
    """An rpc open loop's samples: each process's median p99 latency, in
    seconds. None for any other benchmark, or one without latency metrics."""
    medians = bench.run_medians_of("latency_ns", "p99") if bench.id.open_loop else None
    return [ns * 1e-9 for ns in medians] if medians else None


def _p99_latency(bench: BenchmarkResult) -> BenchmarkResult | None:
    samples = latency_samples(bench)
    if samples is None:
        return None
    return replace(bench, run_means=samples, unit="second",
                   values=[m["latency_ns"]["p99"] * 1e-9 for m in bench.metrics])


def _judge(pairs: list[tuple[str, BenchmarkResult, BenchmarkResult]], alpha: float,
           threshold: float | None) -> list[BenchmarkComparison]:
    tests = [stats.mann_whitney(base.run_means, new.run_means) for _, base, new in pairs]
    raw = np.array([test.p for test in tests])
    p_holm = stats.holm(raw)
    p_bh = stats.benjamini_hochberg(raw)
    best_p_holm = stats.holm([stats.smallest_p(len(base.run_means), len(new.run_means), test.method)
                              for (_, base, new), test in zip(pairs, tests)])
    # Holm tests the smallest p at alpha / m: the level a lone change must reach.
    lone_alpha = alpha / len(pairs)
    judged = []
    for index, ((name, base, new), test) in enumerate(zip(pairs, tests)):
        limit = _threshold(base, new, threshold)
        interval = stats.hodges_lehmann_ratio(base.run_means, new.run_means, 1.0 - alpha)
        spread = stats.log_spread(base.run_means, new.run_means)
        n_base, n_new = len(base.run_means), len(new.run_means)
        if best_p_holm[index] >= alpha:
            verdict = TOO_FEW
        elif p_holm[index] < alpha:
            # The direction is the test's: U counts the pairs in which new is
            # the larger; with ties the estimate can be 1 while U is not even.
            verdict = SLOWER if test.u > n_base * n_new / 2 else FASTER
        else:
            verdict = NO_CHANGE
        regression = verdict == SLOWER and interval.low > 1.0 + limit
        judged.append(BenchmarkComparison(
            name=name, unit=base.unit,
            baseline=Sample(base.name, tuple(base.run_means)),
            new=Sample(new.name, tuple(new.run_means)),
            ratio=interval.ratio, ci_low=interval.low, ci_high=interval.high,
            confidence=interval.confidence, u=test.u, p=test.p, p_holm=float(p_holm[index]),
            p_bh=float(p_bh[index]), best_p_holm=float(best_p_holm[index]), method=test.method,
            threshold=limit, verdict=verdict, regression=regression,
            detectable_change=stats.detectable_change(n_base, n_new, spread, lone_alpha, POWER),
            processes_needed=stats.processes_needed(limit, spread, lone_alpha, POWER)))
    return judged


def _threshold(base: BenchmarkResult, new: BenchmarkResult, override: float | None) -> float:
    if override is not None:
        return override
    for recorded in (new.threshold, base.threshold):
        if recorded is not None:
            return recorded
    return DEFAULT_THRESHOLD


def _sample_warnings(benchmarks: list[BenchmarkComparison], alpha: float) -> list[CompareWarning]:
    warnings = []
    too_few = [b for b in benchmarks if b.verdict == TOO_FEW]
    if too_few:
        # With m benchmarks, Holm lets even the best case pass only below alpha / m.
        fewest = stats.fewest_processes(alpha / len(benchmarks))
        warnings.append(CompareWarning(
            f"{_plural(len(too_few), 'benchmark')} cannot show a significant change at alpha "
            f"{alpha:g} with Holm's correction over {len(benchmarks)}, however large: "
            + ", ".join(f"{b.name} ({b.baseline.processes} vs {b.new.processes} processes)"
                        for b in too_few),
            f"measure with at least {fewest} worker processes per side for any significance "
            f"(tgobench run --processes {fewest}), more to detect a small change"))
    for bench in benchmarks:
        if bench.verdict != TOO_FEW and bench.threshold_hidden:
            fix = (f"measure with about {bench.processes_needed} worker processes per side "
                   f"(tgobench run --processes {bench.processes_needed}; now "
                   f"{bench.baseline.processes} and {bench.new.processes})"
                   if bench.processes_needed else
                   "more than 1000 worker processes per side would be needed: quieten the "
                   "machine first (`tgobench system` lists how)")
            warnings.append(CompareWarning(
                f"{bench.name}: the noise hides a change of {_percent(bench.threshold)}; the "
                f"smallest change these samples detect with {POWER:.0%} power is "
                f"{_percent(bench.detectable_change)}", fix))
    return warnings


# --- exit status --------------------------------------------------------------

def exit_status(comparison: Comparison, fail_on: str = "regression") -> int:
    """1 when the comparison fails the gate, else 0. `fail_on`: "regression"
    (any benchmark slower beyond its threshold), "any-change" (any benchmark
    significantly faster or slower), "never"."""
    if fail_on == "regression":
        return 1 if comparison.regressions else 0
    if fail_on == "any-change":
        return 1 if comparison.changes else 0
    if fail_on == "never":
        return 0
    raise ValueError(f"fail_on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")


# --- presentation -------------------------------------------------------------

def format_value(value: float, unit: str) -> str:
    """A median to three significant digits, times with ns/us/ms/s."""
    if unit != "second":
        return f"{_significant(value)} {unit}"
    rounded = float(f"{value:.3g}")
    for below, scale, suffix in ((1e-6, 1e-9, "ns"), (1e-3, 1e-6, "us"), (1.0, 1e-3, "ms")):
        if rounded < below:
            return f"{_significant(rounded / scale)} {suffix}"
    return f"{_significant(rounded)} s"


def _significant(value: float) -> str:
    return f"{value:#.3g}".rstrip(".")


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.1f}%" if math.isfinite(fraction) else "inf"


def _signed_percent(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.1f}%"


def format_change(bench: BenchmarkComparison) -> str:
    """The change with its interval, e.g. `+12.3% [+9.8%, +14.9%]`."""
    if bench.ci_low > 0 and math.isfinite(bench.ci_high):
        interval = f"[{_signed_percent(bench.ci_low)}, {_signed_percent(bench.ci_high)}]"
    else:
        interval = "[unbounded]"
    return f"{_signed_percent(bench.ratio)} {interval}"


def format_p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _side(sample: Sample, unit: str) -> str:
    return f"{format_value(sample.median, unit)} (n={sample.processes})"


def _title(comparison: Comparison) -> str:
    if comparison.impls:
        return f"{comparison.path}: {comparison.baseline} (baseline) vs {comparison.new}"
    return f"baseline {comparison.baseline} vs new {comparison.new}"


def _rows(comparison: Comparison) -> list[list[str]]:
    return [[bench.mark, bench.name, _side(bench.baseline, bench.unit), _side(bench.new, bench.unit),
             format_change(bench), format_p(bench.p_holm), "regression" if bench.regression else bench.verdict,
             _percent(bench.detectable_change)]
            for bench in comparison.benchmarks]


def _headers(comparison: Comparison) -> list[str]:
    confidence = f"{comparison.confidence:.0%}"
    sides = list(comparison.impls) if comparison.impls else ["baseline", "new"]
    return ["", "benchmark", *sides, f"change [{confidence} CI]",
            "p (Holm)", "verdict", "detectable"]


def render_table(comparison: Comparison) -> str:
    """The terminal table: one aligned row per benchmark, then the warnings
    (the benchmarks found on one side only among them), a legend and the
    summary line."""
    headers = _headers(comparison)
    rows = _rows(comparison)
    widths = [max(len(row[i]) for row in [headers] + rows) for i in range(len(headers))]
    right = {2, 3, 4, 5, 7}

    def line(cells: list[str]) -> str:
        return "  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                         for i, (cell, w) in enumerate(zip(cells, widths))).rstrip()

    out = [_title(comparison), "", line(headers)]
    out += [line(row) for row in rows]
    out.append("")
    if comparison.warnings:
        out.append("warnings:")
        for warning in comparison.warnings:
            out.append(f"  - {warning.message}")
            if warning.fix:
                out.append(f"    fix: {warning.fix}")
        out.append("")
    out.append(_LEGEND)
    out.append(comparison.summary())
    return "\n".join(out) + "\n"


def render_markdown(comparison: Comparison) -> str:
    """Markdown for a CI step summary: the verdict first, then the table and
    the warnings (the benchmarks found on one side only among them)."""
    regressions = comparison.regressions
    out = ["### tgobench compare", "", f"{_md_code(_title(comparison))}", ""]
    if regressions:
        out.append(f"**{_plural(len(regressions), 'regression')}**: "
                   + ", ".join(_md_code(b.name) for b in regressions))
    else:
        out.append("**No regression.**")
    out += ["", comparison.summary(), ""]
    headers = _headers(comparison)
    out.append("| " + " | ".join(_md_cell(h) for h in headers) + " |")
    out.append("|" + "|".join(":--" if i in (0, 1, 6) else "--:" for i in range(len(headers))) + "|")
    for row in _rows(comparison):
        cells = [_md_cell(row[0].strip()), _md_code(row[1])] + [_md_cell(c) for c in row[2:]]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    if comparison.warnings:
        out.append("**Warnings**")
        out.append("")
        for warning in comparison.warnings:
            fix = f" Fix: {_md_cell(warning.fix)}" if warning.fix else ""
            out.append(f"- {_md_cell(warning.message)}.{fix}")
        out.append("")
    out.append(f"<sub>{_md_cell(_LEGEND)}. Change: Hodges-Lehmann estimate of new/baseline over "
               "the per-process means, with its distribution-free interval; p: two-sided "
               "Mann-Whitney U, Holm-corrected; detectable: smallest change found with "
               f"{POWER:.0%} power.</sub>")
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def to_json(comparison: Comparison) -> dict[str, Any]:
    """The comparison as JSON-ready data. Infinite values (an unbounded
    interval, an undetectable change) are null."""
    def sample(s: Sample) -> dict[str, Any]:
        return {"name": s.name, "median": s.median, "processes": s.processes,
                "run_means": list(s.run_means)}

    return {
        "tgobench_compare_format": 1,
        "baseline": comparison.baseline,
        "new": comparison.new,
        "path": comparison.path,
        "impls": list(comparison.impls) if comparison.impls else None,
        "alpha": comparison.alpha,
        "confidence": comparison.confidence,
        "summary": comparison.summary(),
        "regressions": [b.name for b in comparison.regressions],
        "benchmarks": [{
            "name": b.name, "unit": b.unit, "baseline": sample(b.baseline), "new": sample(b.new),
            "ratio": b.ratio, "ci_low": _finite(b.ci_low), "ci_high": _finite(b.ci_high),
            "confidence": b.confidence, "u": b.u, "p": b.p, "p_holm": b.p_holm, "p_bh": b.p_bh,
            "best_p_holm": b.best_p_holm, "test_method": b.method, "threshold": b.threshold,
            "verdict": b.verdict, "regression": b.regression,
            "detectable_change": _finite(b.detectable_change),
            "processes_needed": b.processes_needed,
        } for b in comparison.benchmarks],
        "only_in_baseline": list(comparison.only_in_baseline),
        "only_in_new": list(comparison.only_in_new),
        "warnings": [{"message": w.message, "fix": w.fix} for w in comparison.warnings],
    }


def render_json(comparison: Comparison) -> str:
    return json.dumps(to_json(comparison), indent=2) + "\n"


def write_output(path: str | os.PathLike, text: str) -> None:
    """Write a rendered comparison to `path`, making its directory as the
    HTML report does; UserError when it cannot be written."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}",
                        "choose a file in a writable directory") from None
