"""Self-contained HTML reports of result files.

A report is built in two stages, data before presentation: `build_report`
turns loaded result sets (and, optionally, a comparison) into plain
`Section`s holding plotly figures and tables; `render_report` writes them
through the jinja2 templates in `reports/templates/` with autoescaping on.
plotly.js is inlined once, so the file opens offline and as a CI artifact.

Every figure is built here in Python. Text that comes from result files
(benchmark and implementation names, parameters) reaches the page only
through autoescaped template variables or through `_svg_text`, which turns
it into the entities plotly prints literally; figure JSON is embedded with
`<`, `>` and `&` escaped, so no name can close a script element.

Each implementation keeps one colour on every chart (`impl_colours`).
A section without data is left out, and the page lists why.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

import jinja2
import plotly.graph_objects as go
import plotly.offline
from markupsafe import Markup
from plotly.subplots import make_subplots

from tgobench import __version__, compare
from tgobench.compare import BenchmarkComparison, Comparison
from tgobench.errors import UserError
from tgobench.resources import data_dir
from tgobench.results import BenchmarkResult, ResultSet

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
_KNOWN_IMPL_COLOURS = {"tgo": "#0072B2", "gmp": "#D55E00", "go": "#009E73"}
_OTHER_IMPL_COLOURS = ["#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442", "#999999"]
# Steal levels get a sequential palette of their own, unlike any implementation's colour.
_STEAL_LEVELS = ("smt", "l2", "llc", "node", "remote")
_STEAL_LEVEL_COLOURS = ("#c7c4e2", "#9e9ac8", "#807dba", "#6a51a3", "#3f007d")
# Latency percentiles of the rpc workload, drawn at 1/(1-p) on a log axis so
# that the tail gets the room; "max" has no such position and sits one decade on.
_PERCENTILES = (("p50", 2.0, "p50"), ("p90", 10.0, "p90"), ("p99", 100.0, "p99"),
                ("p999", 1000.0, "p99.9"), ("max", 10000.0, "max"))
# Verdicts are told apart by shape; red is kept for regressions and thresholds.
_REGRESSION_COLOUR = "#B2182B"
_VERDICT_MARKS = {"regression": ("x", _REGRESSION_COLOUR),
                  compare.SLOWER: ("triangle-right", "#333333"),
                  compare.FASTER: ("triangle-left", "#333333"),
                  compare.NO_CHANGE: ("circle", "#808080"),
                  compare.TOO_FEW: ("circle-open", "#808080")}
_CHART_HEIGHT = 420
NOT_MEASURED = "not measured in these results"
# pyperf's metadata that tells how quiet and how configured the machine was.
_SYSTEM_KEYS = (("cpu_affinity", "CPU affinity"), ("isolated_cpus", "isolated CPUs"),
                ("cpu_freq", "CPU frequency"), ("cpu_config", "CPU configuration"),
                ("aslr", "ASLR"), ("load_avg_1min", "load average (1 min)"),
                ("runnable_threads", "runnable threads"), ("timer", "timer"),
                ("python_version", "Python"), ("perf_version", "pyperf"))


@dataclass
class Figure:
    """One plotly chart: its page id and its JSON, escaped for a script element."""
    id: str
    json: Markup


@dataclass
class Table:
    """A table; a cell is a string, or a list of strings shown one per line."""
    columns: list[str]
    rows: list[list[str | list[str]]]
    caption: str = ""


@dataclass
class Section:
    key: str
    title: str
    how_to_read: str
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    title: str
    sources: list[str]
    sections: list[Section]
    omitted: list[tuple[str, str]]  # (section title, why it is not in the page)
    generated: str = field(default_factory=lambda: datetime.now(timezone.utc)
                           .strftime("%Y-%m-%d %H:%M UTC"))


@dataclass(frozen=True)
class _Entry:
    """One benchmark of one result file, with the labels the page uses."""
    source: str
    result: BenchmarkResult
    variant: str

    @property
    def impl(self) -> str:
        return self.result.id.impl or "unnamed"

    @property
    def workload(self) -> str:
        return self.result.id.workload

    @property
    def is_time(self) -> bool:
        """Values in seconds (pyperf unit "second"), as tgobench writes them;
        a plain pyperf file may measure something else (bytes)."""
        return self.result.unit == "second"

    @property
    def shown_values(self) -> list[float]:
        """The values as the page shows them: ns per op for times, else in
        the file's own unit."""
        return [v * self._scale for v in self.result.values]

    @property
    def shown_means(self) -> list[float]:
        """The mean of each worker process, as shown_values."""
        return [m * self._scale for m in self.result.run_means]

    @property
    def _scale(self) -> float:
        return 1e9 if self.is_time else 1.0

    @property
    def op_unit(self) -> str:
        return str(self.result.metadata.get("tgobench_op_unit") or "op")

    @property
    def axis_unit(self) -> str:
        return f"ns per {self.op_unit}" if self.is_time else self.result.unit

    def format(self, shown: float) -> str:
        """One of shown_values, with its unit."""
        return _ns(shown) if self.is_time else f"{shown:.3g} {self.result.unit}"


# ---------------------------------------------------------------- public API

def render_report(result_sets: Sequence[ResultSet], path: str | os.PathLike,
                  comparison: Comparison | None = None) -> Path:
    """Write the HTML report of `result_sets` to `path`, with `comparison`, or
    without one the comparison `default_comparison` finds."""
    report = build_report(result_sets, comparison)
    return _write_page(report, path)


def render_comparison(comparison: Comparison, path: str | os.PathLike) -> Path:
    """Write the HTML page of one comparison (tgobench compare --html) to `path`."""
    sources = [comparison.path] if comparison.impls and comparison.path else \
        [comparison.baseline, comparison.new]
    sections = [comparison_section(comparison)]
    _number_figures(sections)
    return _write_page(Report("tgobench comparison", sources, sections, omitted=[]), path)


def build_report(result_sets: Sequence[ResultSet], comparison: Comparison | None = None) -> Report:
    """The report of `result_sets` as plain data: sections, and why others are left out."""
    entries = _entries(result_sets)
    why_no_comparison = ""
    if comparison is None:
        comparison, why_no_comparison = default_comparison(result_sets)
    colours = impl_colours(e.impl for e in entries)
    builders = [
        ("Environment", lambda: environment_section(result_sets, entries),
         "the result files hold no benchmarks"),
        ("Distributions", lambda: distributions_section(entries, colours),
         "the result files hold no benchmarks"),
        ("Comparison", lambda: comparison_section(comparison) if comparison else None,
         why_no_comparison),
        ("RPC latency percentiles", lambda: latency_section(entries, colours),
         "no rpc benchmark with latency figures in these results"),
        ("Scaling over procs", lambda: scaling_section(entries, colours),
         "every benchmark ran at a single procs count; a suite that sweeps procs adds this chart"),
        ("Memory per task", lambda: memory_section(entries, colours),
         "no parked or peak-RSS figures in these results"),
        ("Scheduler counters", lambda: counters_section(entries, colours),
         "no scheduler counters in these results (the Go driver reports none)"),
        ("The seed's claims", lambda: claims_section(entries), ""),
    ]
    sections, omitted = [], []
    for title, build, why in builders:
        section = build()
        if section is None:
            omitted.append((title, why))
        else:
            sections.append(section)
    sources = [_source_label(rs, result_sets) for rs in result_sets]
    _number_figures(sections)
    return Report(title="tgobench report", sources=sources, sections=sections, omitted=omitted)


def impl_colours(impls: Iterable[str]) -> dict[str, str]:
    """One colour per implementation: fixed for tgo, gmp and go, assigned in name order for others."""
    colours = dict(_KNOWN_IMPL_COLOURS)
    others = sorted(set(impls) - set(colours))
    for i, impl in enumerate(others):
        colours[impl] = _OTHER_IMPL_COLOURS[i % len(_OTHER_IMPL_COLOURS)]
    return colours


# ---------------------------------------------------------------- sections

def environment_section(result_sets: Sequence[ResultSet], entries: list[_Entry]) -> Section | None:
    if not entries:
        return None
    machines = Table(["file", "CPU", "CPUs", "NUMA nodes", "kernel", "machine id", "suite",
                      "placements", "procs", "benchmarks"], [])
    for rs in result_sets:
        m = rs.machine or {}
        metas = [b.metadata for b in rs.benchmarks]
        machines.rows.append([
            _source_label(rs, result_sets), _text(m.get("cpu_model")), _text(m.get("cpus")),
            _text(m.get("numa_nodes")), _text(m.get("kernel")), _text(m.get("machine_id")),
            _joined(md.get("tgobench_suite") for md in metas),
            _joined(b.id.placement for b in rs.benchmarks),
            _joined(b.id.procs for b in rs.benchmarks if b.id.procs),
            str(len(rs.benchmarks))])
    versions = Table(["implementation", "driver version", "compiler", "tgobench version"], [])
    seen = set()
    for e in entries:
        md = e.result.metadata
        row = [e.impl, _text(md.get("tgobench_driver_version")), _text(md.get("tgobench_compiler")),
               _text(md.get("tgobench_version"))]
        if tuple(row) not in seen:
            seen.add(tuple(row))
            versions.rows.append(row)
    versions.rows.sort()
    system = Table(["recorded by pyperf"] + [_source_label(rs, result_sets) for rs in result_sets], [],
                   caption="The system as each worker process saw it (ranges over the benchmarks)")
    for key, label in _SYSTEM_KEYS:
        cells = [_spread(b.metadata.get(key) for b in rs.benchmarks) for rs in result_sets]
        if any(cell != "—" for cell in cells):
            system.rows.append([label] + cells)
    section = Section("environment", "Environment",
                      "Where and with what these numbers were measured; a warning below means "
                      "the machine was not quiet or not tuned, and its numbers deserve less trust.",
                      tables=[machines, versions] + ([system] if system.rows else []))
    warnings = Table(["file", "warning", "fix"], [])
    for rs in result_sets:
        for w in rs.warnings or []:
            warnings.rows.append([_source_label(rs, result_sets), _text(w.get("message")),
                                  _text(w.get("fix"))])
    if warnings.rows:
        warnings.caption = "System check warnings"
        section.tables.append(warnings)
    else:
        section.notes.append("The system check found nothing to warn about.")
    return section


def distributions_section(entries: list[_Entry], colours: dict[str, str]) -> Section | None:
    if not entries:
        return None
    section = Section("distributions", "Distributions per workload",
                      "Each box spans the middle half of the values (one dot per value, time per "
                      "operation unless the file records another unit); lower is faster. Boxes side "
                      "by side differ only in implementation.")
    summary = Table(["workload", "variant", "implementation", "worker processes", "values",
                     "median", "range of worker means"], [])
    for workload, group in _by_workload(entries).items():
        first = group[0]
        unit = first.op_unit
        fig = go.Figure()
        for impl in _impls(group):
            mine = [e for e in group if e.impl == impl]
            xs = [_svg_text(e.variant) for e in mine for _ in e.result.values]
            ys = [v for e in mine for v in e.shown_values]
            fig.add_trace(go.Box(x=xs, y=ys, name=_svg_text(impl), boxpoints="all", jitter=0.4,
                                 pointpos=0, marker=dict(color=colours[impl], size=4, opacity=0.6),
                                 line=dict(color=colours[impl]), legendgroup=impl))
        values = [v for e in group for v in e.shown_values]
        log_y = min(values) > 0 and max(values) / min(values) > 30
        title = f"{workload}: time per {unit}" if first.is_time else f"{workload}: {first.result.unit}"
        _layout(fig, title, "variant (params · placement · procs)",
                first.axis_unit + (" (log scale)" if log_y else ""), boxmode="group")
        if log_y:
            _log_axis(fig.update_yaxes, values)
        section.figures.append(_figure(fig))
        for e in sorted(group, key=lambda e: (e.variant, _impls(group).index(e.impl))):
            means = e.shown_means
            median = e.format(statistics.median(e.shown_values))
            spread = f"{e.format(min(means))} – {e.format(max(means))}" if means else "—"
            summary.rows.append([workload, e.variant, e.impl, str(len(means)),
                                 str(len(e.result.values)),
                                 f"{median} per {unit}" if e.is_time else median, spread])
    summary.caption = ("Medians of all values; comparisons use the mean of each worker process, "
                       "because values inside one worker are correlated.")
    section.tables.append(summary)
    return section


def default_comparison(result_sets: Sequence[ResultSet]) -> tuple[Comparison | None, str]:
    """The comparison a report shows when none is given, or why there is none:
    two files are compared as baseline and new; one file compares tgo with
    the model of Go's scheduler (gmp), else with Go itself."""
    try:
        if len(result_sets) == 2:
            return compare.compare_files(result_sets[0], result_sets[1]), ""
        if len(result_sets) == 1:
            impls = {b.id.impl for b in result_sets[0].benchmarks}
            baseline = next((impl for impl in ("gmp", "go") if impl in impls), None)
            if "tgo" in impls and baseline:
                return compare.compare_impls(result_sets[0], baseline, "tgo"), ""
            return None, ("the file holds no tgo benchmarks with a gmp or go counterpart; "
                          "tgobench compare --impls BASELINE,NEW --html FILE compares others")
        return None, ("a report of more than two files compares none of them; "
                      "run tgobench compare BASELINE NEW --html FILE")
    except UserError as err:
        return None, err.problem


def comparison_section(comparison: Comparison) -> Section:
    """The ratios new/baseline as a forest plot with each threshold marked, and the verdicts."""
    benches = list(comparison.benchmarks)
    sides = comparison.impls or (Path(comparison.baseline).name, Path(comparison.new).name)
    baseline, new = sides
    confidence = f"{comparison.confidence:.0%}"
    section = Section(
        "comparison", f"Comparison: {new} against {baseline}",
        f"Each row is one benchmark's time ratio {new} / {baseline} (Hodges-Lehmann estimate over "
        f"the worker means) with its {confidence} interval: left of 1 is faster, right of 1 slower. "
        "A regression is a significant slowdown whose whole interval lies right of its red "
        "threshold mark.",
        notes=[comparison.summary()])
    if comparison.impls and comparison.path:
        section.notes.append(f"Both implementations from {comparison.path}.")
    fig = go.Figure()
    labels = [_svg_text(b.name) for b in benches]
    fig.add_trace(go.Scatter(
        x=[1 + b.threshold for b in benches], y=labels, mode="markers", name="regression threshold",
        marker=dict(symbol="line-ns", size=18, line=dict(width=2, color=_REGRESSION_COLOUR)),
        hovertemplate="threshold %{x:.3f}<extra></extra>"))
    for verdict, (symbol, colour) in _VERDICT_MARKS.items():
        mine = [b for b in benches if _verdict(b) == verdict]
        if not mine:
            continue
        above, below = zip(*(_interval_arms(b) for b in mine))
        fig.add_trace(go.Scatter(
            x=[b.ratio for b in mine], y=[_svg_text(b.name) for b in mine], mode="markers",
            name=verdict, marker=dict(symbol=symbol, size=11, color=colour),
            error_x=dict(type="data", symmetric=False, color=colour, thickness=1.5,
                         array=list(above), arrayminus=list(below)),
            text=[compare.format_change(b) for b in mine],
            hovertemplate="%{y}<br>ratio %{x:.3f}, change %{text}<extra>" + verdict + "</extra>"))
    fig.add_vline(x=1, line=dict(color="#555", width=1))
    _layout(fig, f"time ratio {new} / {baseline} with {confidence} intervals",
            f"time ratio {new} / {baseline} (below 1 faster, above 1 slower)", "benchmark",
            height=max(_CHART_HEIGHT, 190 + 34 * len(benches)), legend_title="")
    fig.update_layout(margin=dict(l=20))
    fig.update_yaxes(autorange="reversed", automargin=True, rangemode="normal")
    # Ratios far from 1 read fairly only on a log axis, where 0.5 and 2 lie equally far from 1.
    extent = [x for b in benches for x in (b.ci_low, b.ci_high, b.ratio, 1 + b.threshold)
              if math.isfinite(x) and x > 0]
    if max(extent) / min(extent) > 3:
        _log_axis(fig.update_xaxes, extent)
        fig.update_xaxes(title_text=_svg_text(
            f"time ratio {new} / {baseline} (log scale; below 1 faster, above 1 slower)"))
    else:
        fig.update_xaxes(rangemode="normal")
    section.figures.append(_figure(fig))
    table = Table(["benchmark", baseline, new, f"change [{confidence} CI]", "p (Holm)",
                   "verdict", "smallest detectable change"], [])
    for b in benches:
        table.rows.append([
            b.name, f"{compare.format_value(b.baseline.median, b.unit)} (n={b.baseline.processes})",
            f"{compare.format_value(b.new.median, b.unit)} (n={b.new.processes})",
            compare.format_change(b), compare.format_p(b.p_holm), _verdict(b),
            f"{b.detectable_change:.1%}" if math.isfinite(b.detectable_change) else "none"])
    table.caption = ("Medians of the worker means; p: two-sided Mann-Whitney U, Holm-corrected "
                     "over the benchmarks compared.")
    section.tables.append(table)
    if comparison.warnings:
        section.tables.append(Table(["warning", "fix"],
                                    [[w.message, w.fix] for w in comparison.warnings],
                                    caption="What limits this comparison"))
    return section


def _verdict(bench: BenchmarkComparison) -> str:
    return "regression" if bench.regression else bench.verdict


def _interval_arms(bench: BenchmarkComparison) -> tuple[float, float]:
    """The error bar's arms above and below the ratio; none for the interval
    (0, inf) of too few samples, which an arm down to 0 would draw as bounded."""
    if bench.ci_low <= 0 or not math.isfinite(bench.ci_high):
        return 0.0, 0.0
    return bench.ci_high - bench.ratio, bench.ratio - bench.ci_low


def _percentile_points(e: _Entry, metric: str) -> dict[str, float]:
    """The median over runs of each percentile `metric` (a histogram's
    summary, e.g. latency_ns) reports."""
    points = {}
    for key, _, _ in _PERCENTILES:
        value = e.result.median_percentile(metric, key)
        if value is not None:
            points[key] = value
    return points


def _percentile_trace(points: dict[str, float], name: str, colour: str, dash: str) -> go.Scatter:
    drawn = [(k, x, label) for k, x, label in _PERCENTILES if points.get(k, 0) > 0]  # log axis
    return go.Scatter(
        x=[x for _, x, _ in drawn], y=[points[k] / 1e3 for k, _, _ in drawn],
        mode="lines+markers", name=_svg_text(name), line=dict(color=colour, dash=dash),
        text=[label for _, _, label in drawn],
        hovertemplate="%{text}: %{y:.1f} µs<extra>" + _svg_text(name) + "</extra>")


def latency_section(entries: list[_Entry], colours: dict[str, str]) -> Section | None:
    # (entry, latency points, send-lag points: an open loop's, else empty)
    curves = [(e, points, _percentile_points(e, "send_lag_ns")) for e in entries
              if e.workload == "rpc" and (points := _percentile_points(e, "latency_ns"))]
    if not curves:
        return None
    section = Section("latency", "RPC latency percentiles",
                      "Each line is one implementation's request latency at increasing percentiles; "
                      "the tail (p99, p99.9) is stretched to the right and the maximum drawn one step "
                      "further; both axes are log scale. Lower is better; the median over runs is drawn. "
                      "In an open loop a dotted line of the same colour is the send lag: how late "
                      "the senders woke for their requests, a part of that latency (timers and "
                      "the poller rather than the echo).")
    by_variant: dict[str, list] = defaultdict(list)
    for curve in curves:
        by_variant[curve[0].variant].append(curve)
    table = Table(["variant", "implementation"] + [label for _, _, label in _PERCENTILES], [])
    for variant, group in by_variant.items():
        fig = go.Figure()
        for e, points, lag in group:
            fig.add_trace(_percentile_trace(points, e.impl, colours[e.impl], "solid"))
            table.rows.append([variant, e.impl] + [_ns(points[k]) if k in points else "—"
                                                   for k, _, _ in _PERCENTILES])
            if lag:
                fig.add_trace(_percentile_trace(lag, f"{e.impl} send lag", colours[e.impl], "dot"))
                table.rows.append([variant, f"{e.impl} send lag"]
                                  + [_ns(lag[k]) if k in lag else "—" for k, _, _ in _PERCENTILES])
        _layout(fig, f"rpc {variant}: request latency",
                "percentile (log scale of 1/(1 − p))", "latency (µs, log scale)")
        fig.update_xaxes(type="log", tickvals=[x for _, x, _ in _PERCENTILES],
                         ticktext=[label for _, _, label in _PERCENTILES])
        _log_axis(fig.update_yaxes, [v / 1e3 for _, points, lag in group
                                     for v in (*points.values(), *lag.values()) if v > 0])
        section.figures.append(_figure(fig))
    section.tables.append(table)
    closed = [[e.variant, e.impl, _share(e.result.median_metric("same_p_share")),
               _count(e.result.median_metric("active_conns"))] for e, _, _ in curves]
    closed = [row for row in closed if row[2:] != ["—", "—"]]
    if closed:
        section.tables.append(Table(
            ["variant", "implementation", "replies read on the P that served them",
             "connections in use"], closed,
            "A closed loop's share of replies (every 16th is sampled) that the client read on the "
            "P whose server task wrote them: both ends of a connection on one CPU, whose caches "
            "then hold the socket's data (the Go driver cannot tell). Connections in use: on "
            "average over the timed span, each from its first send to its last reply; fewer than "
            "the variant's conns where clients started late, and implementations that differ "
            "here measured different loads. Medians over runs."))
    return section


def _share(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _count(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def scaling_section(entries: list[_Entry], colours: dict[str, str]) -> Section | None:
    lines: dict[tuple, list[_Entry]] = defaultdict(list)
    for e in entries:
        rid = e.result.id
        if rid.procs and e.is_time:  # a throughput is ops per unit of time
            lines[(e.workload, rid.params, rid.placement, e.impl, e.source)].append(e)
    sweeps = {k: sorted(v, key=lambda e: e.result.id.procs) for k, v in lines.items()
              if len({e.result.id.procs for e in v}) >= 2}
    if not sweeps:
        return None
    section = Section("scaling", "Scaling over procs",
                      "Throughput as the number of Ps (worker threads) grows; a line that rises "
                      "scales, a flat or falling line does not. Each point is the median of the worker "
                      "processes' means; its bar spans the slowest to the fastest of them.")
    by_workload: dict[str, list] = defaultdict(list)
    for key, line in sweeps.items():
        by_workload[key[0]].append((key, line))
    for workload, group in sorted(by_workload.items()):
        unit = group[0][1][0].op_unit
        fig = go.Figure()
        procs_seen = set()
        # Lines are told apart by implementation alone when nothing else differs.
        several = len({(params, placement, source) for (_, params, placement, _, source), _ in group}) > 1
        for (_, params, placement, impl, source), line in group:
            xs = [e.result.id.procs for e in line]
            procs_seen.update(xs)
            # the point and its bar from the same figures, the worker processes'
            # means, so that the point lies within its bar
            rates = [1 / statistics.median(e.result.run_means) for e in line]
            fastest = [1 / min(e.result.run_means) for e in line]
            slowest = [1 / max(e.result.run_means) for e in line]
            label = " · ".join(p for p in (impl, _params_label(params), placement, source) if p) \
                if several else impl
            fig.add_trace(go.Scatter(
                x=xs, y=rates, mode="lines+markers", name=_svg_text(label),
                line=dict(color=colours[impl]),
                error_y=dict(type="data", symmetric=False,
                             array=[f - r for f, r in zip(fastest, rates)],
                             arrayminus=[r - s for r, s in zip(rates, slowest)])))
        _layout(fig, f"{workload}: throughput over procs", "procs (Ps)", f"{unit}s per second")
        fig.update_xaxes(tickvals=sorted(procs_seen))
        section.figures.append(_figure(fig))
    return section


def memory_section(entries: list[_Entry], colours: dict[str, str]) -> Section | None:
    parked = [e for e in entries if e.result.metric_values("rss_kib_per_task")]
    peaks = [e for e in entries if e.result.metric_values("peak_rss_kib")]
    if not parked and not peaks:
        return None
    section = Section("memory", "Memory per task",
                      "Resident memory that each parked task costs (stack, task record, queue slots), "
                      "and the driver's peak resident set per benchmark. Lower is better.")
    if parked:
        fig = go.Figure()
        for impl in _impls(parked):
            mine = [e for e in parked if e.impl == impl]
            xs = [_svg_text(e.variant) for e in mine for _ in e.result.metric_values("rss_kib_per_task")]
            ys = [v for e in mine for v in e.result.metric_values("rss_kib_per_task")]
            fig.add_trace(go.Box(x=xs, y=ys, name=_svg_text(impl), boxpoints="all", pointpos=0,
                                 jitter=0.4, marker=dict(color=colours[impl], size=4),
                                 line=dict(color=colours[impl])))
        _layout(fig, "parked: resident memory per task", "variant (params · placement · procs)",
                "KiB per task", boxmode="group")
        section.figures.append(_figure(fig))
    if peaks:
        fig = go.Figure()
        for impl in _impls(peaks):
            mine = [e for e in peaks if e.impl == impl]
            fig.add_trace(go.Bar(
                x=[_svg_text(f"{e.workload} {e.variant}") for e in mine],
                y=[statistics.median(e.result.metric_values("peak_rss_kib")) / 1024 for e in mine],
                name=_svg_text(impl), marker_color=colours[impl]))
        _layout(fig, "peak resident set of the driver", "benchmark", "MiB (median over runs)",
                barmode="group")
        section.figures.append(_figure(fig))
        section.notes.append("The peak resident set is the driver process's high-water mark, so "
                             "it includes what earlier requests of the same worker process used.")
    return section


def counters_section(entries: list[_Entry], colours: dict[str, str]) -> Section | None:
    """Steals by level, shared-pool takes and parks, each per 1000 switches."""
    rated: list[tuple[_Entry, dict[str, float]]] = []
    for e in entries:
        per_run = [r for r in (_counter_rates(m.get("counters")) for m in e.result.metrics) if r]
        if per_run:
            rated.append((e, {k: statistics.median(r[k] for r in per_run) for k in per_run[0]}))
    if not rated:
        return None
    section = Section("counters", "Scheduler counters",
                      "How each scheduler found work, per 1000 switches (a task dispatched onto a P; "
                      "median over runs): tasks stolen "
                      "by how far the victim was (SMT sibling nearest, remote node farthest), tasks "
                      "taken from the shared pool, and parks of idle Ps.")
    impls = _impls(e for e, _ in rated)
    steals = make_subplots(rows=1, cols=len(impls), shared_yaxes=True,
                           subplot_titles=[_svg_text(i) for i in impls])
    for col, impl in enumerate(impls, start=1):
        mine = [(e, r) for e, r in rated if e.impl == impl]
        for level, colour in zip(_STEAL_LEVELS, _STEAL_LEVEL_COLOURS):
            steals.add_trace(go.Bar(x=[_svg_text(f"{e.workload} {e.variant}") for e, _ in mine],
                                    y=[r[f"steals_{level}"] for _, r in mine],
                                    name=level, marker_color=colour, legendgroup=level,
                                    showlegend=col == 1), row=1, col=col)
    _layout(steals, "tasks stolen, by locality level", None, "tasks stolen per 1000 switches",
            legend_title="victim's level", barmode="stack")
    for col in range(1, len(impls) + 1):
        steals.update_xaxes(title_text="benchmark", row=1, col=col)
        if col > 1:
            steals.update_yaxes(title_text="", row=1, col=col)
    section.figures.append(_figure(steals))
    others = make_subplots(rows=1, cols=2, subplot_titles=["shared-pool takes", "parks"])
    for impl in impls:
        mine = [(e, r) for e, r in rated if e.impl == impl]
        for col, key in enumerate(("shared_takes", "parks"), start=1):
            others.add_trace(go.Bar(x=[_svg_text(f"{e.workload} {e.variant}") for e, _ in mine],
                                    y=[r[key] for _, r in mine], name=_svg_text(impl),
                                    marker_color=colours[impl], legendgroup=impl,
                                    showlegend=col == 1), row=1, col=col)
    _layout(others, "shared-pool takes and parks", None, "per 1000 switches", barmode="group")
    for col in (1, 2):
        others.update_xaxes(title_text="benchmark", row=1, col=col)
    others.update_yaxes(title_text="per 1000 switches", row=1, col=2)
    section.figures.append(_figure(others))
    return section


def claims_section(entries: list[_Entry]) -> Section:
    """The seed's figures next to what these results measured, never invented."""
    table = Table(["claim", "the seed says", "measured here", "how it was measured"], [
        ["RPC throughput, tgo over Go's scheduler", "2.3×", _claim_rpc_throughput(entries),
         "rpc throughput_per_s, median over runs, tgo divided by each other implementation"],
        ["RPC P99 latency", "842 ms → 217 ms", _claim_rpc_p99(entries),
         "rpc latency_ns p99, median over runs"],
        ["Memory of 1M parked tasks", "2140 MB → 1320 MB", _claim_parked_memory(entries),
         "parked rss_kib_per_task × 1,000,000 (MB = 10⁶ bytes), median over runs"],
        ["Task switch", "~20 ns", _claim_switch(entries),
         "yield: time per switch, median of all values"],
        ["OS thread switch", "~1000 ns", NOT_MEASURED,
         "tgobench has no OS-thread workload"],
    ])
    return Section("claims", "The seed's claims",
                   "The figures the seed states without code, next to what these result files "
                   "measured on this machine; differences of setup (load, hardware, sizes) matter.",
                   tables=[table])


# ---------------------------------------------------------------- claims

def _claim_rpc_throughput(entries: list[_Entry]) -> list[str] | str:
    found = []
    for variant, by_impl in _rpc_by_variant(entries).items():
        if any(e.result.id.open_loop for e in by_impl.values()):
            continue  # its rate sets its throughput
        rates = {impl: e.result.median_metric("throughput_per_s") for impl, e in by_impl.items()}
        tgo = rates.get("tgo")
        for other, rate in sorted(rates.items()):
            if other != "tgo" and tgo and rate:
                found.append(f"tgo/{other} {tgo / rate:.2f}× ({variant})"
                             + _unequal_loads(by_impl["tgo"], by_impl[other], other))
    return found or NOT_MEASURED


def _unequal_loads(tgo: _Entry, other: _Entry, other_name: str) -> str:
    """A note for a ratio of two closed loops that kept different numbers of
    connections in use, else nothing."""
    active = compare.different_loads(tgo.result, other.result)
    if active is None:
        return ""
    return (f", at unequal loads: {active[0]:.0f} connections in use for tgo, "
            f"{active[1]:.0f} for {other_name}")


def _claim_rpc_p99(entries: list[_Entry]) -> list[str] | str:
    found = []
    for variant, by_impl in _rpc_by_variant(entries).items():
        p99 = {impl: e.result.median_percentile("latency_ns", "p99") for impl, e in by_impl.items()}
        shown = [f"{impl} {_ns(v)}" for impl, v in sorted(p99.items()) if v is not None]
        if shown:
            found.append(", ".join(shown) + f" ({variant})")
    return found or NOT_MEASURED


def _claim_parked_memory(entries: list[_Entry]) -> list[str] | str:
    found = []
    for e in entries:
        if e.workload == "parked" and e.result.metric_values("rss_kib_per_task"):
            kib_per_task = statistics.median(e.result.metric_values("rss_kib_per_task"))
            megabytes = kib_per_task * 1024 * 1_000_000 / 1e6  # a million tasks, MB of 10^6 bytes
            found.append(f"{e.impl} {megabytes:,.0f} MB (scaled from {e.variant})")
    return found or NOT_MEASURED


def _claim_switch(entries: list[_Entry]) -> list[str] | str:
    found = [f"{e.impl} {_ns(statistics.median(e.shown_values))} ({e.variant})"
             for e in entries if e.workload == "yield" and e.is_time]
    return found or NOT_MEASURED


def _rpc_by_variant(entries: list[_Entry]) -> dict[str, dict[str, _Entry]]:
    found: dict[str, dict[str, _Entry]] = defaultdict(dict)
    for e in entries:
        if e.workload == "rpc":
            found[e.variant][e.impl] = e
    return found


# ---------------------------------------------------------------- helpers

def _entries(result_sets: Sequence[ResultSet]) -> list[_Entry]:
    many = len(result_sets) > 1
    entries = []
    for rs in result_sets:
        source = _source_label(rs, result_sets)
        for b in rs.benchmarks:
            parts = [_params_label(b.id.params), b.id.placement, f"p{b.id.procs}" if b.id.procs else ""]
            if many:
                parts.append(source)
            entries.append(_Entry(source, b, " · ".join(p for p in parts if p) or "default"))
    return entries


def _source_label(rs: ResultSet, result_sets: Sequence[ResultSet]) -> str:
    names = [Path(r.path).name for r in result_sets]
    name = Path(rs.path).name
    return name if names.count(name) == 1 else str(rs.path)


def _params_label(params: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params)


def _by_workload(entries: list[_Entry]) -> dict[str, list[_Entry]]:
    groups: dict[str, list[_Entry]] = defaultdict(list)
    for e in entries:
        groups[e.workload].append(e)
    return dict(sorted(groups.items()))


def _impls(entries: Iterable[_Entry]) -> list[str]:
    """Implementations in a fixed order: tgo, gmp, go, then the others by name."""
    order = list(_KNOWN_IMPL_COLOURS)
    return sorted({e.impl for e in entries},
                  key=lambda i: (order.index(i) if i in order else len(order), i))


def _counter_rates(counters: Any) -> dict[str, float] | None:
    """Counters per 1000 switches (a task dispatched onto a P): tasks finished
    would understate workloads whose few tasks run many times, such as yield."""
    if not isinstance(counters, dict) or not counters.get("switches"):
        return None
    per = 1000.0 / counters["switches"]
    steals = counters.get("steals") or {}
    rates = {f"steals_{level}": steals.get(level, 0) * per for level in _STEAL_LEVELS}
    rates["shared_takes"] = counters.get("shared_takes", 0) * per
    rates["parks"] = counters.get("parks", 0) * per
    return rates


def _layout(fig: go.Figure, title: str, x_title: str | None, y_title: str, *,
            height: int = _CHART_HEIGHT, legend_title: str = "implementation",
            **extra: Any) -> None:
    """Title top left; legend top right, under plotly's tool bar and above any
    subplot titles (positions in pixels from the top, whatever the height)."""
    fig.update_layout(
        title=dict(text=_svg_text(title), x=0, xanchor="left", y=1 - 12 / height, yanchor="top"),
        template="plotly_white", height=height, margin=dict(l=70, r=20, t=110, b=70),
        font=dict(size=13),
        legend=dict(orientation="h", yref="container", yanchor="top", y=1 - 42 / height,
                    xanchor="right", x=1, title_text=legend_title),
        **extra)
    if x_title is not None:
        fig.update_xaxes(title_text=_svg_text(x_title))
    fig.update_yaxes(title_text=_svg_text(y_title), rangemode="tozero")


def _log_axis(update_axes: Any, values: list[float]) -> None:
    """A log axis labelled at 1, 2 and 5 times each power of ten: plotly's own
    log ticks print unlabelled small digits that a reader cannot use."""
    low, high = min(values), max(values)
    ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
             for m in (1, 2, 5)]
    shown = [t for t in ticks if low / 2 <= t <= high * 2]
    update_axes(type="log", tickvals=shown, ticktext=[f"{t:,.4g}" for t in shown], rangemode="normal")


def _figure(fig: go.Figure) -> Figure:
    """Figure JSON safe inside <script type="application/json">: no <, > or & survive."""
    text = fig.to_json()
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return Figure(id="", json=Markup(text))


def _number_figures(sections: list[Section]) -> None:
    n = 0
    for section in sections:
        for fig in section.figures:
            n += 1
            fig.id = f"chart-{n}"


def _svg_text(text: str) -> str:
    """Text that plotly prints as it is: plotly reads <br>, <b> and entities as markup."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _ns(ns: float) -> str:
    """A duration with a unit a person reads at a glance."""
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if abs(ns) >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def _text(value: Any) -> str:
    return "—" if value is None or value == "" else str(value)


def _spread(values: Iterable[Any]) -> str:
    """Numbers as a range, anything else as its distinct values."""
    present = [v for v in values if v not in (None, "")]
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        low, high = min(present), max(present)
        return f"{low:g}" if low == high else f"{low:g} – {high:g}"
    return _joined(present)


def _joined(values: Iterable[Any]) -> str:
    unique = sorted({str(v) for v in values if v not in (None, "")})
    return ", ".join(unique) or "—"


def _write_page(report: Report, path: str | os.PathLike) -> Path:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(data_dir("templates")),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    page = env.get_template("report.html.j2").render(
        report=report, plotly_js=Markup(plotly.offline.get_plotlyjs()), version=__version__)
    target = Path(path)
    # Written beside the target, then renamed: a reader never sees half a page.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UserError(f"cannot write the report {target}: {exc.strerror or exc}",
                        "choose a file in a writable directory") from None
    return target
