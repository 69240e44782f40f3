"""HTML reports: built from result files, opened in headless Chromium, every
chart drawn, no script errors, names shown as text, missing data explained."""

from __future__ import annotations

import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pyperf
import pytest
from typer.testing import CliRunner

from tgobench import compare, report, results
from tgobench.cli import app
from tgobench.errors import UserError
from tgobench.results import BenchmarkId, ResultWriter, benchmark_metadata, encode_json

MACHINE = {"cpu_model": "Test CPU @ 2.0GHz", "cpus": 2, "numa_nodes": 1, "kernel": "6.1.0",
           "machine_id": "test-machine"}
WARNING = {"message": "CPU scaling governor is powersave", "fix": "run `tgobench system tune`"}
UNITS = {"spawn": "task", "yield": "switch", "parked": "task", "rpc": "request"}
# Relative cost of each implementation, so the fixture has visible differences.
COST = {"tgo": 1.0, "gmp": 1.15, "go": 1.3}


def _metrics(workload: str, impl: str, ns: float, rng: random.Random,
             open_loop: bool = False) -> dict:
    metrics: dict = {"peak_rss_kib": int(20000 * COST.get(impl, 1.0) + rng.randint(0, 500))}
    if impl != "go":  # the Go driver reports no scheduler counters
        tasks = 10000
        metrics["counters"] = {
            "tasks_run": tasks, "switches": 2 * tasks, "parks": rng.randint(5, 50), "shared_takes": rng.randint(0, 100),
            "steals": {"smt": rng.randint(0, 300), "l2": rng.randint(0, 200),
                       "llc": rng.randint(0, 100), "node": 0, "remote": 0}}
    if workload == "parked":
        metrics["rss_kib_per_task"] = 1.3 * COST.get(impl, 1.0) + rng.random() * 0.1
    if workload == "rpc":
        metrics["throughput_per_s"] = 1e9 / ns
        p50 = ns * 4
        metrics["latency_ns"] = {"p50": p50, "p90": p50 * 2, "p99": p50 * 5 * COST.get(impl, 1.0),
                                 "p999": p50 * 12 * COST.get(impl, 1.0), "max": p50 * 40}
        if open_loop:  # tgo's senders on time at the median: a 0 a log axis cannot draw
            lat = metrics["latency_ns"]
            metrics["send_lag_ns"] = {"p50": 0 if impl == "tgo" else lat["p50"] / 4,
                                      "p99": lat["p99"] / 2, "max": lat["max"] / 2}
        else:  # tgo starts half its 4 clients late; Go's driver cannot tell the share
            metrics["active_conns"] = 2.0 if impl == "tgo" else 3.96
            if impl != "go":  # a share of replies on the serving P
                metrics["same_p_share"] = 1.0 if impl == "tgo" else 0.5
    return metrics


def _benchmark(bench_id: BenchmarkId, rng: random.Random, *, workers: int = 3,
               values: int = 3) -> pyperf.Benchmark:
    base_ns = {"spawn": 300, "yield": 40, "parked": 500, "rpc": 20000}.get(bench_id.workload, 100)
    ns = base_ns * COST.get(bench_id.impl, 1.0) * (2 / bench_id.procs if bench_id.procs else 1)
    common = benchmark_metadata(
        bench_id, params=dict(bench_id.params), op_unit=UNITS.get(bench_id.workload, "op"),
        suite="quick", threshold=0.05, tgobench_version="0.1.0", driver_version="0.1.0",
        compiler="go 1.27" if bench_id.impl == "go" else "gcc 12.2.0", machine=MACHINE,
        warnings=[WARNING])
    runs = []
    for _ in range(workers):
        run_ns = [ns * rng.uniform(0.95, 1.05) for _ in range(values)]
        open_loop = dict(bench_id.params).get("mode") == "open"
        metrics = [_metrics(bench_id.workload, bench_id.impl, v, rng, open_loop) for v in run_ns]
        metadata = dict(common, name=bench_id.name, unit="second", loops=1,
                        tgobench_metrics=encode_json(metrics))
        runs.append(pyperf.Run([v / 1e9 for v in run_ns], warmups=[(1, run_ns[0] / 1e9)],
                               metadata=metadata, collect_metadata=False))
    return pyperf.Benchmark(runs)


def write_results(path: Path, ids: list[BenchmarkId], seed: int = 1) -> Path:
    rng = random.Random(seed)
    writer = ResultWriter(path)
    for bench_id in ids:
        writer.add(_benchmark(bench_id, rng))
    return path


def quick_ids(impls=("tgo", "gmp", "go")) -> list[BenchmarkId]:
    ids = []
    for impl in impls:
        ids += [BenchmarkId.make("spawn", {"tasks": 10000}, impl, "all", procs) for procs in (1, 2)]
        ids.append(BenchmarkId.make("yield", {"tasks": 4, "yields": 2000}, impl, "all", 2))
        ids.append(BenchmarkId.make("parked", {"tasks": 1000}, impl, "all", 2))
        ids.append(BenchmarkId.make("rpc", {"conns": 4, "requests": 50}, impl, "all", 2))
        ids.append(BenchmarkId.make("rpc", {"conns": 4, "mode": "open", "rate": 1000}, impl,
                                    "all", 2))
    return ids


# ---------------------------------------------------------------- the page in a browser

def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    return found


def _browse(page: Path, *args: str) -> str:
    """Chromium's DOM of `page` after its scripts ran (virtual time, so no waiting)."""
    done = subprocess.run(
        [_chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
         "--virtual-time-budget=20000", *args, page.as_uri()],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _drawn_charts(dom: str) -> dict[str, int]:
    """For each chart div, how many plotly SVGs it holds. Each chart div is
    followed at once by its JSON script, so its contents end there."""
    drawn = {}
    for match in re.finditer(r'<div class="chart[^"]*" id="(chart-\d+)"', dom):
        chart = match.group(1)
        end = dom.index(f'id="{chart}-data"', match.end())
        drawn[chart] = dom.count('class="main-svg"', match.end(), end)
    return drawn


def _js_errors(dom: str) -> str | None:
    found = re.search(r'<html[^>]*\sdata-js-errors="([^"]*)"', dom)
    return found.group(1) if found else None


REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def quick_result(driver_dir, tmp_path_factory) -> Path:
    """A result file of the real quick suite, run by the real command (fewer
    processes than the suite asks, to spare a small machine)."""
    path = tmp_path_factory.mktemp("quick") / "quick.json"
    env = dict(os.environ, TGOBENCH_DRIVER_DIR=str(driver_dir),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", "from tgobench.cli import app; app()", "run",
                           "--suite", "quick", "--processes", "3", "--values", "2", "--plain",
                           "-o", str(path)], env=env, capture_output=True, text=True, timeout=600)
    # A benchmark that failed is reported by the run and left out of the file;
    # the report is about what the file holds.
    assert path.exists(), done.stdout + done.stderr
    return path


def _assert_every_chart_drawn(result, tmp_path, shot_name: str, height: int) -> report.Report:
    """Render the report of `result` in Chromium: no script error, every
    figure drawn; saves a screenshot for a person to look at."""
    page = report.render_report([result], tmp_path / "report.html")
    built = report.build_report([result])
    figures = sum(len(section.figures) for section in built.sections)

    dom = _browse(page, "--dump-dom")

    assert _js_errors(dom) is None
    drawn = _drawn_charts(dom)
    assert len(drawn) == figures > 0
    assert all(count >= 1 for count in drawn.values()), drawn
    shot = tmp_path / shot_name
    _browse(page, f"--screenshot={shot}", f"--window-size=1366,{height}")
    assert shot.stat().st_size > 0
    print(f"report screenshot: {shot}")
    return built


def test_report_of_the_quick_suite_in_a_browser(quick_result, tmp_path):
    built = _assert_every_chart_drawn(results.load(quick_result), tmp_path, "quick-report.png",
                                      7000)
    assert {"environment", "distributions", "comparison", "counters", "claims"} <= \
        {section.key for section in built.sections}


def test_report_draws_every_chart_without_script_errors(tmp_path):
    result = results.load(write_results(tmp_path / "quick.json", quick_ids()))
    _assert_every_chart_drawn(result, tmp_path, "report.png", 9000)


def test_names_with_markup_appear_as_text(tmp_path):
    hostile = "<script>document.title='injected'</script>"
    ids = [BenchmarkId.make(hostile, {}, impl, "all", 2) for impl in ("tgo", hostile)]
    result = results.load(write_results(tmp_path / "hostile.json", ids))
    page = report.render_report([result], tmp_path / "report.html")

    dom = _browse(page, "--dump-dom")

    assert "<title>tgobench report</title>" in dom
    assert _js_errors(dom) is None
    assert "&lt;script&gt;document.title='injected'&lt;/script&gt;" in dom
    drawn = _drawn_charts(dom)
    assert drawn and all(count >= 1 for count in drawn.values()), drawn
    # plotly prints the name in its legends as text too, not as an element
    legend_texts = re.findall(r'class="legendtext"[^>]*>(.*?)</text>', dom)
    assert "&lt;script&gt;document.title='injected'&lt;/script&gt;" in legend_texts


def test_result_without_rpc_or_sweep_leaves_those_sections_out(tmp_path):
    ids = [BenchmarkId.make(w, {"tasks": 100}, impl, "all", 2)
           for w in ("spawn", "yield") for impl in ("tgo", "gmp")]
    result = results.load(write_results(tmp_path / "small.json", ids))

    built = report.build_report([result])
    keys = [section.key for section in built.sections]
    assert "latency" not in keys and "scaling" not in keys
    assert {"environment", "distributions", "counters", "claims"} <= set(keys)
    why = dict(built.omitted)
    assert "no rpc benchmark" in why["RPC latency percentiles"]
    assert "single procs count" in why["Scaling over procs"]

    page = report.render_report([result], tmp_path / "report.html")
    dom = _browse(page, "--dump-dom")
    assert _js_errors(dom) is None
    assert 'id="latency"' not in dom and 'id="scaling"' not in dom
    assert "no rpc benchmark with latency figures in these results" in dom
    assert all(count >= 1 for count in _drawn_charts(dom).values())


def _plain_pyperf_file(path: Path, name: str, unit: str, values: list[float]) -> Path:
    """A pyperf file of three runs of `values`, written by pyperf alone."""
    runs = [pyperf.Run(values, metadata={"name": name, "unit": unit, "loops": 1},
                       collect_metadata=False) for _ in range(3)]
    pyperf.BenchmarkSuite([pyperf.Benchmark(runs)]).dump(str(path))
    return path


def test_plain_pyperf_file_renders(tmp_path):
    path = _plain_pyperf_file(tmp_path / "plain.json", "telco", "second", [0.001, 0.0011])

    built = report.build_report([results.load(path)])

    assert [s.key for s in built.sections] == ["environment", "distributions", "claims"]
    page = report.render_report([results.load(path)], tmp_path / "report.html")
    assert "telco" in page.read_text()


def test_values_in_another_unit_than_seconds_keep_their_unit(tmp_path):
    # only seconds are shown as ns per op; a plain pyperf file may count bytes
    path = _plain_pyperf_file(tmp_path / "memory.json", "mem_usage", "byte", [1000.0, 1010.0])

    built = report.build_report([results.load(path)])

    section = next(s for s in built.sections if s.key == "distributions")
    layout = json.loads(str(section.figures[0].json))["layout"]
    assert layout["title"]["text"] == "mem_usage: byte"
    assert layout["yaxis"]["title"]["text"] == "byte"
    assert json.loads(str(section.figures[0].json))["data"][0]["y"] == [1000.0, 1010.0] * 3
    assert section.tables[0].rows == [["mem_usage", section.tables[0].rows[0][1], "unnamed", "3",
                                       "6", "1e+03 byte", "1e+03 byte – 1e+03 byte"]]


def _traces(built: report.Report):
    for section in built.sections:
        for figure in section.figures:
            yield from json.loads(str(figure.json))["data"]


def test_each_implementation_keeps_its_colour_on_every_chart(tmp_path):
    ids = quick_ids(("tgo", "gmp", "go", "other"))
    built = report.build_report([results.load(write_results(tmp_path / "r.json", ids))])
    colours = report.impl_colours(["other"])

    seen = {}
    for trace in _traces(built):
        colour = trace.get("marker", {}).get("color") or trace.get("line", {}).get("color")
        if trace.get("name") in colours:
            seen.setdefault(trace["name"], set()).add(colour)

    assert set(seen) == {"tgo", "gmp", "go", "other"}
    assert all(found == {colours[impl]} for impl, found in seen.items()), seen
    assert len(set(colours.values())) == len(colours)


def test_every_axis_has_a_title(tmp_path):
    built = report.build_report([results.load(write_results(tmp_path / "r.json", quick_ids()))])
    for section in built.sections:
        for figure in section.figures:
            layout = json.loads(str(figure.json))["layout"]
            axes = [v for k, v in layout.items() if re.fullmatch(r"[xy]axis\d*", k)]
            assert axes and layout["title"]["text"]
            for axis in axes:
                if axis.get("anchor") != "free":
                    assert axis.get("title", {}).get("text") or axis.get("matches") \
                        or axis.get("showticklabels") is False or _shares_y(axis), (figure.id, axis)


def _shares_y(axis: dict) -> bool:
    return axis.get("matches", "").startswith("y")


def test_open_loop_latency_has_its_send_lag_dotted_beside_it(tmp_path):
    built = report.build_report([results.load(write_results(tmp_path / "r.json", quick_ids()))])
    latency = next(s for s in built.sections if s.key == "latency")
    charts = [json.loads(str(f.json))["data"] for f in latency.figures]
    closed, opened = sorted(charts, key=lambda traces: len(traces))
    assert [t["name"] for t in closed] == ["tgo", "gmp", "go"]
    traces = {t["name"]: t for t in opened}
    assert set(traces) == {"tgo", "gmp", "go", "tgo send lag", "gmp send lag", "go send lag"}
    for impl in ("tgo", "gmp", "go"):
        lag, lat = traces[f"{impl} send lag"], traces[impl]
        assert lag["line"]["dash"] == "dot" and lag["line"]["color"] == lat["line"]["color"]
    # tgo's median lag is 0: left off the log axis, still in the table
    assert traces["tgo send lag"]["text"] == ["p99", "max"]
    assert traces["gmp send lag"]["text"] == ["p50", "p99", "max"]
    rows = {(row[0], row[1]): row[2:] for row in latency.tables[0].rows}
    (tgo_lag,) = [cells for (_, impl), cells in rows.items() if impl == "tgo send lag"]
    assert tgo_lag[0] == "0 ns" and tgo_lag[1] == "—"  # p50, and p90, which it has not


def test_closed_loops_show_replies_read_on_the_serving_p_and_connections_in_use(tmp_path):
    built = report.build_report([results.load(write_results(tmp_path / "r.json", quick_ids()))])
    latency = next(s for s in built.sections if s.key == "latency")
    (closed,) = [t for t in latency.tables if "replies read on the P that served them" in t.columns]
    assert closed.columns[-1] == "connections in use"
    assert closed.rows == [["conns=4, requests=50 · all · p2", "tgo", "100.0%", "2"],
                           ["conns=4, requests=50 · all · p2", "gmp", "50.0%", "4"],
                           ["conns=4, requests=50 · all · p2", "go", "—", "4"]]


def test_claims_put_measurements_beside_the_seed(tmp_path):
    built = report.build_report([results.load(write_results(tmp_path / "r.json", quick_ids()))])
    claims = {row[0]: row for row in next(s for s in built.sections if s.key == "claims").tables[0].rows}

    throughput = claims["RPC throughput, tgo over Go's scheduler"][2]
    assert any(line.startswith("tgo/gmp 1.1") for line in throughput), throughput
    # tgo kept 2 of its 4 connections in use, the others 3.96: not the same load
    assert all(line.endswith(f"at unequal loads: 2 connections in use for tgo, 4 for {other}")
               for line, other in zip(sorted(throughput), ("gmp", "go"))), throughput
    # the open loop's rate sets its throughput: only the closed loop is a claim's figure
    assert throughput and not any("mode=open" in line for line in throughput), throughput
    assert claims["OS thread switch"][2] == report.NOT_MEASURED
    assert any(line.startswith("tgo ") and " ns " in line
               for line in claims["Task switch"][2])

    only_spawn = [BenchmarkId.make("spawn", {}, "tgo", "all", 2)]
    built = report.build_report([results.load(write_results(tmp_path / "s.json", only_spawn))])
    claims = next(s for s in built.sections if s.key == "claims").tables[0].rows
    assert [row[2] for row in claims] == [report.NOT_MEASURED] * 5


def test_several_files_tell_their_benchmarks_apart(tmp_path):
    ids = [BenchmarkId.make("spawn", {}, impl, "all", 2) for impl in ("tgo", "gmp")]
    base = results.load(write_results(tmp_path / "base.json", ids, seed=1))
    new = results.load(write_results(tmp_path / "new.json", ids, seed=2))

    built = report.build_report([base, new])

    assert built.sources == ["base.json", "new.json"]
    distributions = next(s for s in built.sections if s.key == "distributions")
    variants = {row[1] for row in distributions.tables[0].rows}
    assert variants == {"all · p2 · base.json", "all · p2 · new.json"}


# ---------------------------------------------------------------- comparisons

def _slower_tgo(tmp_path: Path) -> results.ResultSet:
    """tgo 30% slower than gmp on spawn, equal on yield, 10 workers each."""
    rng = random.Random(7)
    writer = ResultWriter(tmp_path / "slow.json")
    for impl in ("gmp", "tgo"):
        for workload in ("spawn", "yield"):
            bench_id = BenchmarkId.make(workload, {}, impl, "all", 2)
            old = COST[impl]
            COST[impl] = 1.3 if impl == "tgo" and workload == "spawn" else 1.0
            try:
                writer.add(_benchmark(bench_id, rng, workers=10))
            finally:
                COST[impl] = old
    return results.load(writer.path)


def test_comparison_draws_ratios_thresholds_and_verdicts(tmp_path):
    result = _slower_tgo(tmp_path)
    comparison = compare.compare_impls(result, "gmp", "tgo")

    section = report.comparison_section(comparison)

    data = json.loads(str(section.figures[0].json))["data"]
    threshold = next(t for t in data if t["name"] == "regression threshold")
    assert threshold["x"] == [1.05, 1.05]
    regression = next(t for t in data if t["name"] == "regression")
    assert regression["y"] == ["spawn all p2"]
    assert 1.2 < regression["x"][0] < 1.4
    assert regression["error_x"]["arrayminus"][0] > 0
    verdicts = {row[0]: row[5] for row in section.tables[0].rows}
    assert verdicts["spawn all p2"] == "regression"
    assert verdicts["yield all p2"] != "regression"


def test_an_interval_too_few_samples_leave_unbounded_gets_no_bar(tmp_path):
    ids = [BenchmarkId.make("spawn", {}, impl, "all", 2) for impl in ("gmp", "tgo")]
    three = results.load(write_results(tmp_path / "r.json", ids))  # 3 processes a side
    comparison = compare.compare_impls(three, "gmp", "tgo")
    assert (comparison.benchmarks[0].ci_low, comparison.benchmarks[0].ci_high) == (0, math.inf)

    data = json.loads(str(report.comparison_section(comparison).figures[0].json))["data"]
    ratios = next(t for t in data if t["name"] == compare.TOO_FEW)
    assert ratios["error_x"]["array"] == [0] and ratios["error_x"]["arrayminus"] == [0]


def test_report_compares_tgo_with_gmp_by_itself(tmp_path):
    built = report.build_report([_slower_tgo(tmp_path)])

    section = next(s for s in built.sections if s.key == "comparison")
    assert section.title == "Comparison: tgo against gmp"
    assert "1 regression" in section.notes[0]


def test_report_of_two_files_compares_them(tmp_path):
    ids = [BenchmarkId.make("spawn", {}, "tgo", "all", 2)]
    base = results.load(write_results(tmp_path / "base.json", ids, seed=1))
    new = results.load(write_results(tmp_path / "new.json", ids, seed=2))

    built = report.build_report([base, new])

    assert next(s for s in built.sections if s.key == "comparison").title == \
        "Comparison: new.json against base.json"


def test_comparison_page_draws_its_chart(tmp_path):
    comparison = compare.compare_impls(_slower_tgo(tmp_path), "gmp", "tgo")
    page = report.render_comparison(comparison, tmp_path / "compare.html")

    dom = _browse(page, "--dump-dom")

    assert _js_errors(dom) is None
    assert list(_drawn_charts(dom)) == ["chart-1"] and _drawn_charts(dom)["chart-1"] >= 1
    assert "spawn all p2" in dom and ">regression<" in dom


# ---------------------------------------------------------------- the command

def test_report_command_writes_the_page(tmp_path):
    path = write_results(tmp_path / "r.json", quick_ids(("tgo", "gmp")))
    out = tmp_path / "out" / "report.html"

    done = CliRunner().invoke(app, ["report", str(path), "-o", str(out)])

    assert done.exit_code == 0, done.output
    assert f"wrote {out}" in done.output
    page = out.read_text()
    assert page.count("<script>") == 3  # error recorder, plotly.js, chart drawing: plotly.js once
    assert "<script src" not in page and "<link" not in page  # nothing fetched: works offline


def test_report_command_refuses_a_missing_file(tmp_path):
    done = CliRunner().invoke(app, ["report", str(tmp_path / "none.json"), "-o",
                                    str(tmp_path / "report.html")])

    assert done.exit_code == 2
    assert "does not exist" in done.output
    assert not (tmp_path / "report.html").exists()


def test_report_command_refuses_to_write_over_a_result_file_it_reads(tmp_path):
    path = write_results(tmp_path / "r.json", quick_ids(("tgo", "gmp")))
    before = path.read_bytes()

    done = CliRunner().invoke(app, ["report", str(path), "-o", str(path)])

    assert done.exit_code == 2
    assert f"{path} is the result file {path} being read" in done.output
    assert path.read_bytes() == before


def test_unwritable_output_is_a_user_error(tmp_path):
    result = results.load(write_results(tmp_path / "r.json", quick_ids(("tgo",))))
    (tmp_path / "file").write_text("")

    with pytest.raises(UserError, match="cannot write the report"):
        report.render_report([result], tmp_path / "file" / "report.html")


class _SkewedValues(random.Random):
    """Each worker's three values at 0.5, 0.5 and 5 times the base time: the
    median of all values (0.5) lies outside the range of the workers' means
    (2 each)."""

    def __init__(self) -> None:
        super().__init__(1)
        self.drawn = 0

    def uniform(self, a: float, b: float) -> float:
        self.drawn += 1
        return (0.5, 0.5, 5.0)[(self.drawn - 1) % 3]


def test_each_scaling_point_lies_within_its_bar(tmp_path):
    rng = _SkewedValues()
    writer = ResultWriter(tmp_path / "r.json")
    for procs in (1, 2):
        writer.add(_benchmark(BenchmarkId.make("spawn", {"tasks": 1000}, "tgo", "all", procs), rng))
    loaded = results.load(tmp_path / "r.json")

    section = next(s for s in report.build_report([loaded]).sections if s.key == "scaling")
    (trace,) = json.loads(str(section.figures[0].json))["data"]

    by_procs = {b.id.procs: b for b in loaded.benchmarks}
    assert trace["y"] == pytest.approx([1 / statistics.median(by_procs[p].run_means)
                                        for p in trace["x"]])
    assert min(trace["error_y"]["array"]) >= 0 and min(trace["error_y"]["arrayminus"]) >= 0
