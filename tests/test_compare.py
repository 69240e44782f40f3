"""tgobench.compare and `tgobench compare`: matching, verdicts and the gate
on synthetic samples of known truth, golden outputs, and the command's exit
statuses on good and bad input."""

from __future__ import annotations

import json
import dataclasses
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from typer.testing import CliRunner

from tgobench import compare, stats
from tgobench.cli import app
from tgobench.errors import UserError
from tgobench.results import BenchmarkId, BenchmarkResult, ResultSet

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "compare"
REPO = Path(__file__).resolve().parent.parent
MACHINE = {"cpu_model": "Fixture CPU", "cpus": 2, "numa_nodes": 1, "kernel": "6.18.0",
           "machine_id": "fixture-a"}


def bench(workload: str, run_means, impl: str = "tgo", unit: str = "second",
          threshold: float | None = 0.05, params: dict | None = None,
          all_params: dict | None = None) -> BenchmarkResult:
    bench_id = BenchmarkId.make(workload, params or {}, impl, "all", 2)
    means = [float(m) for m in run_means]
    return BenchmarkResult(bench_id, means, means, {"tgobench_params": all_params or params or {}},
                           [], unit, threshold)


def result_set(name: str, *benchmarks: BenchmarkResult, machine: dict | None = None,
               warnings: list[dict] | None = None) -> ResultSet:
    return ResultSet(Path(name), list(benchmarks), dict(MACHINE if machine is None else machine),
                     warnings or [])


def timings(rng: np.random.Generator, workers: int, ratio: float = 1.0, sigma: float = 0.03):
    return 1e-6 * ratio * np.exp(rng.normal(0, sigma, workers))


# --- statistics through compare ---------------------------------------------

def test_tied_samples_are_judged_in_the_direction_of_the_test():
    # Five of twelve processes doubled: significant, though the median of
    # the pairwise ratios is 1, and U says which side is the larger.
    slower = compare.compare_files(result_set("a.json", bench("rpc", [100e-6] * 12)),
                                   result_set("b.json", bench("rpc", [100e-6] * 7 + [200e-6] * 5)))
    assert slower.benchmarks[0].verdict == compare.SLOWER
    assert slower.benchmarks[0].ratio == pytest.approx(1.0)
    faster = compare.compare_files(result_set("a.json", bench("rpc", [100e-6] * 7 + [200e-6] * 5)),
                                   result_set("b.json", bench("rpc", [100e-6] * 12)))
    assert faster.benchmarks[0].verdict == compare.FASTER


def test_every_value_doubled_with_ties_is_a_regression():
    comparison = compare.compare_files(result_set("a.json", bench("rpc", [100e-6] * 6)),
                                       result_set("b.json", bench("rpc", [200e-6] * 6)))
    doubled = comparison.benchmarks[0]
    assert (doubled.verdict, doubled.regression) == (compare.SLOWER, True)
    assert (doubled.ci_low, doubled.ci_high) == pytest.approx((2, 2))


def test_p_values_and_verdicts_agree_with_scipy_called_directly():
    rng = np.random.default_rng(1)
    plan = {"spawn": 1.10, "yield": 1.0, "chan": 0.95, "fib": 1.01}
    base = {w: timings(rng, 15) for w in plan}
    new = {w: timings(rng, 12, ratio) for w, ratio in plan.items()}
    comparison = compare.compare_files(
        result_set("a.json", *(bench(w, base[w]) for w in plan)),
        result_set("b.json", *(bench(w, new[w]) for w in plan)))
    raw = [scipy.stats.mannwhitneyu(new[w], base[w], alternative="two-sided", method="exact").pvalue
           for w in plan]
    m = len(raw)
    order = np.argsort(raw)
    holm = np.empty(m)
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * raw[i]))
        holm[i] = running
    for b, p, p_holm, workload in zip(comparison.benchmarks, raw, holm, plan):
        assert b.p == pytest.approx(p) and b.p_holm == pytest.approx(p_holm)
        expected = (compare.NO_CHANGE if p_holm >= 0.05 else
                    compare.SLOWER if np.median(np.divide.outer(new[workload], base[workload])) > 1
                    else compare.FASTER)
        assert b.verdict == expected
        assert b.baseline.median == pytest.approx(np.median(base[workload]))
    assert [b.verdict for b in comparison.benchmarks][:1] == [compare.SLOWER]
    assert comparison.benchmarks[0].regression


def test_ten_percent_slowdowns_with_20_workers_a_side_are_flagged_nearly_always():
    """100 seeded comparisons, each of one benchmark 10% slower and three
    unchanged, 20 workers a side, 3% noise, the default 5% threshold."""
    rng = np.random.default_rng(10)
    flagged = false_alarms = 0
    for _ in range(100):
        names = ["slow", "same1", "same2", "same3"]
        base = result_set("a.json", *(bench(n, timings(rng, 20)) for n in names))
        new = result_set("b.json", *(bench(n, timings(rng, 20, 1.10 if n == "slow" else 1.0))
                                     for n in names))
        comparison = compare.compare_files(base, new)
        flagged += comparison.benchmarks[0].regression
        false_alarms += sum(b.regression for b in comparison.benchmarks[1:])
        assert compare.exit_status(comparison) == int(bool(comparison.regressions))
    assert flagged >= 97
    assert false_alarms == 0


def test_a_a_comparisons_fail_the_gate_no_more_often_than_alpha():
    """300 seeded A/A comparisons of 3 benchmarks, 8 workers a side, with
    threshold 0 so that the gate is the test alone: any significant change
    happens at about alpha at most (Holm), a regression about half as often."""
    rng = np.random.default_rng(20)
    trials, changed, regressed = 300, 0, 0
    for _ in range(trials):
        names = ["a", "b", "c"]
        comparison = compare.compare_files(
            result_set("a.json", *(bench(n, timings(rng, 8)) for n in names)),
            result_set("b.json", *(bench(n, timings(rng, 8)) for n in names)), threshold=0.0)
        changed += compare.exit_status(comparison, "any-change")
        regressed += compare.exit_status(comparison, "regression")
    limit = 0.05 + 3 * math.sqrt(0.05 * 0.95 / trials)
    assert changed / trials <= limit
    assert regressed <= changed
    assert regressed / trials <= limit / 2 + 0.02


def test_unequal_sample_sizes_are_compared():
    rng = np.random.default_rng(3)
    comparison = compare.compare_files(result_set("a.json", bench("spawn", timings(rng, 5))),
                                       result_set("b.json", bench("spawn", timings(rng, 30, 1.3))))
    (b,) = comparison.benchmarks
    assert (b.baseline.processes, b.new.processes) == (5, 30)
    assert b.regression and b.ci_low > 1.05 and math.isfinite(b.ci_high)
    assert b.p == pytest.approx(scipy.stats.mannwhitneyu(b.new.run_means, b.baseline.run_means).pvalue)


def test_three_workers_a_side_are_too_few_however_large_the_change():
    comparison = compare.compare_files(result_set("a.json", bench("spawn", [1.0, 1.1, 1.2])),
                                       result_set("b.json", bench("spawn", [5.0, 5.1, 5.2])))
    (b,) = comparison.benchmarks
    assert b.verdict == compare.TOO_FEW and not b.regression
    assert b.best_p_holm == pytest.approx(0.1)
    assert b.detectable_change == math.inf
    assert compare.exit_status(comparison) == 0
    assert any("at least 4 worker processes" in w.fix for w in comparison.warnings)


def test_four_workers_suffice_alone_but_not_with_holm_over_two_benchmarks():
    base4, new4 = [1.0, 1.1, 1.2, 1.3], [5.0, 5.1, 5.2, 5.3]
    alone = compare.compare_files(result_set("a.json", bench("spawn", base4)),
                                  result_set("b.json", bench("spawn", new4)))
    assert alone.benchmarks[0].verdict == compare.SLOWER  # p = 2/70 < 0.05
    assert alone.benchmarks[0].regression
    # Two benchmarks: Holm's best case is 2 * 2/70 = 0.057, so neither can pass.
    two = compare.compare_files(result_set("a.json", bench("spawn", base4), bench("yield", base4)),
                                result_set("b.json", bench("spawn", new4), bench("yield", new4)))
    assert [b.verdict for b in two.benchmarks] == [compare.TOO_FEW, compare.TOO_FEW]
    assert two.benchmarks[0].best_p_holm == pytest.approx(4 / 70)
    # A benchmark with many workers lowers the other's best case: 2/70 at Holm's last step.
    rng = np.random.default_rng(4)
    mixed = compare.compare_files(
        result_set("a.json", bench("spawn", base4), bench("yield", timings(rng, 20))),
        result_set("b.json", bench("spawn", new4), bench("yield", timings(rng, 20, 1.5))))
    assert mixed.benchmarks[0].best_p_holm == pytest.approx(2 / 70)
    assert mixed.benchmarks[0].verdict != compare.TOO_FEW


def test_a_significant_change_under_the_threshold_is_reported_not_failed():
    rng = np.random.default_rng(5)
    comparison = compare.compare_files(
        result_set("a.json", bench("spawn", timings(rng, 30, sigma=0.005))),
        result_set("b.json", bench("spawn", timings(rng, 30, 1.02, sigma=0.005))))
    (b,) = comparison.benchmarks
    assert b.verdict == compare.SLOWER and not b.regression and b.mark == "~"
    assert compare.exit_status(comparison, "regression") == 0
    assert compare.exit_status(comparison, "any-change") == 1
    assert compare.exit_status(comparison, "never") == 0
    faster = compare.compare_files(
        result_set("a.json", bench("spawn", timings(rng, 30, sigma=0.005))),
        result_set("b.json", bench("spawn", timings(rng, 30, 0.8, sigma=0.005))))
    assert faster.benchmarks[0].verdict == compare.FASTER
    assert compare.exit_status(faster, "regression") == 0
    assert compare.exit_status(faster, "any-change") == 1


def test_thresholds_come_from_the_file_unless_overridden():
    rng = np.random.default_rng(6)
    base, new = timings(rng, 20), timings(rng, 20, 1.12, sigma=0.01)
    def one(threshold_in_file, override=None):
        return compare.compare_files(
            result_set("a.json", bench("spawn", base, threshold=threshold_in_file)),
            result_set("b.json", bench("spawn", new, threshold=threshold_in_file)),
            threshold=override).benchmarks[0]
    assert one(0.05).threshold == 0.05 and one(0.05).regression
    assert one(0.25).threshold == 0.25 and not one(0.25).regression
    assert one(0.25, override=0.02).threshold == 0.02 and one(0.25, override=0.02).regression
    assert one(None).threshold == compare.DEFAULT_THRESHOLD


def test_noise_that_hides_the_threshold_is_reported_with_the_workers_needed():
    rng = np.random.default_rng(7)
    comparison = compare.compare_files(
        result_set("a.json", bench("chan", timings(rng, 10, sigma=0.1))),
        result_set("b.json", bench("chan", timings(rng, 10, sigma=0.1))))
    (b,) = comparison.benchmarks
    assert b.threshold_hidden and b.detectable_change > 0.05
    spread = stats.log_spread(b.baseline.run_means, b.new.run_means)
    assert b.processes_needed == stats.processes_needed(0.05, spread, 0.05)
    (warning,) = [w for w in comparison.warnings if "noise hides" in w.message]
    assert f"about {b.processes_needed} worker processes per side" in warning.fix


def test_noise_no_number_of_workers_would_beat_says_so():
    rng = np.random.default_rng(12)
    comparison = compare.compare_files(
        result_set("a.json", bench("chan", timings(rng, 10, sigma=1.0), threshold=0.01)),
        result_set("b.json", bench("chan", timings(rng, 10, sigma=1.0), threshold=0.01)))
    assert comparison.benchmarks[0].processes_needed is None
    (warning,) = [w for w in comparison.warnings if "noise hides" in w.message]
    assert "more than 1000 worker processes" in warning.fix


def test_a_zero_threshold_asks_for_no_detectable_size():
    rng = np.random.default_rng(13)
    comparison = compare.compare_files(
        result_set("a.json", bench("chan", timings(rng, 10, sigma=0.1))),
        result_set("b.json", bench("chan", timings(rng, 10, sigma=0.1))), threshold=0.0)
    assert not comparison.benchmarks[0].threshold_hidden
    assert not [w for w in comparison.warnings if "noise hides" in w.message]


# --- matching -----------------------------------------------------------------

def test_benchmarks_on_one_side_only_are_listed():
    rng = np.random.default_rng(8)
    comparison = compare.compare_files(
        result_set("a.json", bench("spawn", timings(rng, 6)), bench("skew", timings(rng, 6))),
        result_set("b.json", bench("spawn", timings(rng, 6)), bench("parked", timings(rng, 6))))
    assert [b.name for b in comparison.benchmarks] == ["spawn tgo all p2"]
    assert comparison.only_in_baseline == ("skew tgo all p2",)
    assert comparison.only_in_new == ("parked tgo all p2",)
    messages = " ".join(w.message for w in comparison.warnings)
    assert "only in a.json: skew tgo all p2" in messages
    assert "only in b.json: parked tgo all p2" in messages


def test_nothing_in_common_is_a_user_error_naming_both_files():
    with pytest.raises(UserError) as caught:
        compare.compare_files(result_set("a.json", bench("spawn", [1.0, 2.0])),
                              result_set("b.json", bench("yield", [1.0, 2.0])))
    assert "a.json and b.json have no benchmark in common" in caught.value.problem
    assert caught.value.fix


def test_other_machines_units_and_parameters_are_warned_about():
    rng = np.random.default_rng(9)
    base = result_set("a.json", bench("spawn", timings(rng, 6), params={"tasks": 10},
                                      all_params={"tasks": 10, "stack_size": 65536}),
                      bench("rss", timings(rng, 6), unit="byte"))
    new = result_set("b.json", bench("spawn", timings(rng, 6), params={"tasks": 10},
                                     all_params={"tasks": 10, "stack_size": 8192}),
                     bench("rss", timings(rng, 6)),
                     machine=dict(MACHINE, machine_id="fixture-b", cpus=64))
    comparison = compare.compare_files(base, new)
    messages = [w.message for w in comparison.warnings]
    assert any("different machines" in m and "machine_id" in m and "cpus" in m for m in messages)
    assert any("spawn[tasks=10] tgo all p2 ran with different parameters" in m for m in messages)
    assert any("rss tgo all p2 is measured in byte" in m and "left out" in m for m in messages)
    assert [b.name for b in comparison.benchmarks] == ["spawn[tasks=10] tgo all p2"]


def test_files_of_different_suites_are_warned_about_and_still_compared():
    def of_suite(suite: str | None) -> BenchmarkResult:
        result = bench("spawn", [1.0, 2.0])
        if suite:
            result.metadata["tgobench_suite"] = suite
        return result

    def suite_warnings(base: str | None, new: str | None) -> list[str]:
        comparison = compare.compare_files(result_set("a.json", of_suite(base)),
                                           result_set("b.json", of_suite(new)))
        assert [b.name for b in comparison.benchmarks] == ["spawn tgo all p2"]
        return [w.message for w in comparison.warnings if "different suites" in w.message]

    assert suite_warnings("quick", "nightly") == [
        "the files come from different suites (quick vs nightly)"]
    assert suite_warnings("quick", "quick") == []
    assert suite_warnings(None, "quick") == []  # a plain pyperf file names no suite


def test_system_warnings_recorded_in_the_files_are_carried_once():
    recorded = [{"message": "ASLR is enabled", "fix": "echo 0 > /proc/sys/kernel/randomize_va_space"}]
    comparison = compare.compare_files(
        result_set("a.json", bench("spawn", [1.0, 2.0]), warnings=recorded),
        result_set("b.json", bench("spawn", [1.0, 2.0]), warnings=recorded))
    carried = [w for w in comparison.warnings if "ASLR" in w.message]
    assert [w.message for w in carried] == ["a.json: ASLR is enabled", "b.json: ASLR is enabled"]
    assert carried[0].fix == recorded[0]["fix"]


def test_two_implementations_of_one_file_are_matched_without_the_impl():
    rng = np.random.default_rng(11)
    results = result_set("run.json",
                         bench("spawn", timings(rng, 8, 1.2), impl="gmp"),
                         bench("spawn", timings(rng, 8), impl="tgo"),
                         bench("yield", timings(rng, 8), impl="go"),
                         bench("chan", timings(rng, 8), impl="tgo"))
    comparison = compare.compare_impls(results, "gmp", "tgo")
    assert comparison.impls == ("gmp", "tgo") and comparison.path == "run.json"
    assert [b.name for b in comparison.benchmarks] == ["spawn all p2"]
    assert comparison.benchmarks[0].verdict == compare.FASTER
    assert comparison.benchmarks[0].baseline.name == "spawn gmp all p2"
    assert comparison.only_in_new == ("chan tgo all p2",) and comparison.only_in_baseline == ()


@pytest.mark.parametrize("impls, problem", [(("gmp", "go"), "no benchmark of implementation 'go'"),
                                            (("tgo", "tgo"), "names 'tgo' twice")])
def test_impls_the_file_cannot_compare_are_user_errors(impls, problem):
    results = result_set("run.json", bench("spawn", [1.0, 2.0], impl="gmp"),
                         bench("spawn", [1.0, 2.0], impl="tgo"))
    with pytest.raises(UserError) as caught:
        compare.compare_impls(results, *impls)
    assert problem in caught.value.problem
    if impls[1] == "go":
        assert "it holds gmp, tgo" in caught.value.problem


@pytest.mark.parametrize("alpha, threshold", [(0.0, None), (1.0, None), (0.05, -0.1)])
def test_alpha_and_threshold_are_checked(alpha, threshold):
    with pytest.raises(UserError):
        compare.compare_files(result_set("a.json", bench("spawn", [1.0, 2.0])),
                              result_set("b.json", bench("spawn", [1.0, 2.0])), alpha, threshold)


# --- presentation -------------------------------------------------------------

@pytest.mark.parametrize("value, unit, text", [(95.3e-9, "second", "95.3 ns"),
                                               (999.96e-9, "second", "1.00 us"),
                                               (1.5e-6, "second", "1.50 us"),
                                               (0.0123, "second", "12.3 ms"),
                                               (2.0, "second", "2.00 s"),
                                               (4096.0, "byte", "4.10e+03 byte")])
def test_values_are_shown_to_three_significant_digits(value, unit, text):
    assert compare.format_value(value, unit) == text


def _golden(name: str, text: str) -> None:
    path = FIXTURES / name
    if os.environ.get("TGOBENCH_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; TGOBENCH_UPDATE_GOLDEN=1 rewrites it"


@pytest.fixture
def in_fixtures(monkeypatch):
    monkeypatch.chdir(FIXTURES)


def test_terminal_table_of_two_files_matches_its_golden_file(in_fixtures):
    comparison = compare.compare_paths(["base.json", "new.json"])
    assert [b.mark for b in comparison.benchmarks] == ["+", "-", "~", " ", "?"]
    _golden("base-vs-new.txt", compare.render_table(comparison))


def test_markdown_of_two_files_matches_its_golden_file(in_fixtures):
    _golden("base-vs-new.md", compare.render_markdown(compare.compare_paths(["base.json", "new.json"])))


def test_terminal_table_of_two_impls_matches_its_golden_file(in_fixtures):
    _golden("impls.txt", compare.render_table(compare.compare_paths(["impls.json"], "gmp,tgo")))


def test_json_holds_every_verdict_and_no_infinity(in_fixtures):
    comparison = compare.compare_paths(["base.json", "new.json"])
    data = json.loads(compare.render_json(comparison))
    assert data["regressions"] == ["spawn[tasks=1000] tgo all p2"]
    assert data["only_in_baseline"] == ["skew tgo all p2"]
    by_name = {b["name"]: b for b in data["benchmarks"]}
    fib = by_name["fib[n=20] tgo all p2"]
    assert fib["verdict"] == "too few samples"
    assert fib["ci_low"] == 0.0 and fib["ci_high"] is None and fib["detectable_change"] is None
    spawn = by_name["spawn[tasks=1000] tgo all p2"]
    assert spawn["regression"] and spawn["ci_low"] > 1.05 and spawn["test_method"] == "exact"
    assert len(spawn["baseline"]["run_means"]) == spawn["baseline"]["processes"] == 12
    assert "Infinity" not in compare.render_json(comparison)


# --- the command ----------------------------------------------------------------

def run_cli(*args: str, cwd: Path = FIXTURES):
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, ["compare", *args])
    finally:
        os.chdir(old)


def test_a_file_compared_with_itself_exits_0():
    result = run_cli("base.json", "base.json")
    assert result.exit_code == 0, result.output
    assert "no regression" in result.stdout


def test_a_regression_exits_1_unless_told_otherwise(tmp_path):
    result = run_cli("base.json", "new.json", "--markdown", str(tmp_path / "summary.md"),
                     "--json", str(tmp_path / "verdicts.json"))
    assert result.exit_code == 1
    assert "1 regression" in result.stdout
    assert "**1 regression**: `spawn[tasks=1000] tgo all p2`" in (tmp_path / "summary.md").read_text()
    assert json.loads((tmp_path / "verdicts.json").read_text())["regressions"] == \
        ["spawn[tasks=1000] tgo all p2"]
    assert run_cli("base.json", "new.json", "--fail-on", "never").exit_code == 0
    assert run_cli("base.json", "new.json", "--threshold", "0.5").exit_code == 0
    assert run_cli("base.json", "new.json", "--threshold", "0.5", "--fail-on",
                   "any-change").exit_code == 1


def test_outputs_go_into_directories_made_for_them(tmp_path):
    summary, verdicts = tmp_path / "md" / "summary.md", tmp_path / "json" / "deep" / "v.json"
    result = run_cli("base.json", "new.json", "--markdown", str(summary), "--json", str(verdicts))
    assert result.exit_code == 1, result.output
    assert "**1 regression**" in summary.read_text()
    assert json.loads(verdicts.read_text())["regressions"] == ["spawn[tasks=1000] tgo all p2"]


def scaled_copy(source: Path, target: Path, factor: float) -> Path:
    data = json.loads(source.read_text())
    for benchmark in data["benchmarks"]:
        for run in benchmark["runs"]:
            if "values" in run:
                run["values"] = [v * factor for v in run["values"]]
    target.write_text(json.dumps(data))
    return target


def test_a_baseline_scaled_down_20_percent_makes_the_new_run_a_regression(tmp_path):
    faster_baseline = scaled_copy(FIXTURES / "base.json", tmp_path / "baseline.json", 0.8)
    summary = tmp_path / "summary.md"
    result = run_cli(str(faster_baseline), "base.json", "--markdown", str(summary))
    assert result.exit_code == 1, result.output
    markdown = summary.read_text()
    for name in ("spawn[tasks=1000] tgo all p2", "yield tgo all p2", "mixed tgo all p2",
                 "skew tgo all p2"):
        assert f"| + | `{name}` |" in markdown
    assert "| ? | `fib[n=20] tgo all p2` |" in markdown  # 3 workers a side


def test_two_implementations_of_one_file():
    result = run_cli("impls.json", "--impls", "gmp,tgo")
    assert result.exit_code == 0, result.output
    assert "impls.json: gmp (baseline) vs tgo" in result.stdout
    assert "spawn[tasks=1000] all p2" in result.stdout


def test_a_plain_pyperf_file_is_accepted():
    result = run_cli("plain.json", "plain.json")
    assert result.exit_code == 0, result.output
    assert "bench_plain" in result.stdout


def test_html_goes_through_the_report(tmp_path):
    page = tmp_path / "compare.html"
    result = run_cli("base.json", "new.json", "--html", str(page))
    assert result.exit_code == 1
    assert "spawn[tasks=1000] tgo all p2" in page.read_text()


def _edited(tmp_path: Path, edit) -> Path:
    data = json.loads((FIXTURES / "base.json").read_text())
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    return path


def _set_first_value(value):
    def edit(data):
        data["benchmarks"][0]["runs"][1]["values"][0] = value
    return edit


def _empty_benchmark(data):
    for run in data["benchmarks"][0]["runs"]:
        run["values"] = []


BAD_FILES = {
    "missing": (lambda tmp: tmp / "nope.json", "does not exist"),
    "not JSON": (lambda tmp: _write(tmp / "bad.json", "this is not json"), "is not a result file"),
    "not a result file": (lambda tmp: _write(tmp / "bad.json", '{"hello": 1}'),
                          "is not a result file"),
    "empty benchmark": (lambda tmp: _edited(tmp, _empty_benchmark), "has no values"),
    "NaN": (lambda tmp: _edited(tmp, _set_first_value(math.nan)), "nan"),
    "negative": (lambda tmp: _edited(tmp, _set_first_value(-1e-7)), "not positive"),
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_each_bad_file_exits_2_naming_the_file_and_the_problem(tmp_path, case):
    make, problem = BAD_FILES[case]
    path = make(tmp_path)
    for args in ((str(path), "new.json"), ("base.json", str(path))):
        result = run_cli(*args)
        assert result.exit_code == 2, (case, result.output)
        assert str(path) in result.stderr and problem in result.stderr
        assert result.stdout == ""


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_an_unreadable_file_exits_2(tmp_path):
    path = _write(tmp_path / "locked.json", (FIXTURES / "base.json").read_text())
    path.chmod(0)
    result = run_cli(str(path), "new.json")
    assert result.exit_code == 2 and "cannot read result file" in result.stderr


def test_a_directory_given_as_a_file_exits_2(tmp_path):
    result = run_cli(str(tmp_path), "new.json")
    assert result.exit_code == 2
    assert f"{tmp_path} is a directory, not a result file" in result.stderr


@pytest.mark.parametrize("args, problem", [
    (("base.json", "plain.json"), "have no benchmark in common"),
    (("base.json",), "needs two result files"),
    (("base.json", "new.json", "new.json"), "needs two result files"),
    (("impls.json", "--impls", "gmp"), "--impls takes two implementations"),
    (("impls.json", "--impls", "gmp,go"), "no benchmark of implementation 'go'"),
    (("impls.json", "new.json", "--impls", "gmp,tgo"), "within one file"),
    (("base.json", "new.json", "--alpha", "2"), "alpha must lie between 1e-06 and 0.5"),
    (("base.json", "new.json", "--alpha", "1e-17"), "alpha must lie between 1e-06 and 0.5"),
    (("base.json", "new.json", "--threshold", "10"), "from 0 to below 10 (1000%), not 10"),
    (("base.json", "new.json", "--fail-on", "sometimes"), "--fail-on 'sometimes' is not known"),
    (("base.json", "new.json", "--markdown", "/dev/null/x.md"), "cannot write /dev/null/x.md"),
])
def test_bad_arguments_exit_2_with_the_problem(args, problem):
    result = run_cli(*args)
    assert result.exit_code == 2, result.output
    assert problem in result.stderr


@pytest.mark.parametrize("option", ["--markdown", "--json", "--html"])
def test_an_output_that_is_an_input_file_is_refused_and_the_file_kept(tmp_path, option):
    for name in ("base.json", "new.json"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    before = (tmp_path / "new.json").read_bytes()
    result = run_cli("base.json", "new.json", option, "./new.json", cwd=tmp_path)
    assert result.exit_code == 2, result.output
    assert "new.json is the result file new.json being read" in result.stderr
    assert "write the output to another file" in result.stderr
    assert (tmp_path / "new.json").read_bytes() == before


def test_the_real_command_line_keeps_stdout_for_the_table_and_stderr_for_errors():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [sys.executable, "-c", "from tgobench.cli import app; app()", "compare"]
    good = subprocess.run(command + ["base.json", "new.json"], cwd=FIXTURES, env=env,
                          capture_output=True, text=True)
    assert good.returncode == 1 and good.stderr == ""
    assert good.stdout == (FIXTURES / "base-vs-new.txt").read_text()
    bad = subprocess.run(command + ["base.json", "missing.json"], cwd=FIXTURES, env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert "missing.json does not exist" in bad.stderr


# --- on a real run of the quick suite ----------------------------------------------

def tgobench(*args: str, cwd: Path, driver_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), TGOBENCH_DRIVER_DIR=str(driver_dir))
    return subprocess.run([sys.executable, "-c", "from tgobench.cli import app; app()", *args],
                          cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, driver_dir) -> Path:
    """A result file of the quick suite, run by the real drivers."""
    directory = tmp_path_factory.mktemp("quick")
    run = tgobench("run", "--suite", "quick", "-o", "q.json", "--plain", cwd=directory,
                   driver_dir=driver_dir)
    assert (directory / "q.json").is_file(), run.stdout + run.stderr
    return directory / "q.json"


@pytest.mark.slow
def test_quick_run_compares_gmp_with_tgo(quick_run, driver_dir):
    result = tgobench("compare", str(quick_run), "--impls", "gmp,tgo", cwd=quick_run.parent,
                      driver_dir=driver_dir)
    assert result.returncode in (0, 1), result.stderr
    assert result.stdout.startswith(f"{quick_run}: gmp (baseline) vs tgo")
    assert "spawn[tasks=10000] all p2" in result.stdout
    assert "Holm over" in result.stdout.splitlines()[-1]


@pytest.mark.slow
def test_quick_run_compared_with_itself_exits_0(quick_run, driver_dir):
    result = tgobench("compare", str(quick_run), str(quick_run), cwd=quick_run.parent,
                      driver_dir=driver_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no regression" in result.stdout and "regression  " not in result.stdout


@pytest.mark.slow
def test_quick_run_against_its_baseline_scaled_down_20_percent(quick_run, driver_dir, tmp_path):
    """Every benchmark is 25% slower than its scaled-down copy. Whether the
    gate can tell depends on the machine's noise with the quick suite's six
    workers (a loaded machine hides it, and the comparison says so); what
    always holds: the estimate is exact, nothing is called faster, the exit
    status follows the regressions and the Markdown names each. The fixture
    test above shows the exit status 1 deterministically."""
    baseline = scaled_copy(quick_run, tmp_path / "baseline.json", 0.8)
    verdicts, summary = tmp_path / "verdicts.json", tmp_path / "summary.md"
    result = tgobench("compare", str(baseline), str(quick_run), "--markdown", str(summary),
                      "--json", str(verdicts), cwd=tmp_path, driver_dir=driver_dir)
    data = json.loads(verdicts.read_text())
    assert result.returncode == (1 if data["regressions"] else 0), result.stdout + result.stderr
    markdown = summary.read_text()
    headline = next(line for line in markdown.splitlines() if line.startswith("**"))
    for bench in data["benchmarks"]:
        # The log ratios of a sample to itself are symmetric about 0: the
        # Hodges-Lehmann estimate is exactly the scale factor.
        assert bench["ratio"] == pytest.approx(1.25)
        assert bench["verdict"] != compare.FASTER
        assert (f"`{bench['name']}`" in headline) == bench["regression"]
        assert (f"| + | `{bench['name']}` |" in markdown) == bench["regression"]


def open_loop(impl: str, p99_us_per_value: list[list[float]], seconds: float = 1e-4,
              threshold: float = 0.05) -> BenchmarkResult:
    """An rpc open loop whose time per request the rate fixes, with the p99
    latency of each value of each process."""
    bench_id = BenchmarkId.make("rpc", {"mode": "open", "rate": 10000}, impl, "all", 2)
    lengths = [len(p) for p in p99_us_per_value]
    metrics = [{"latency_ns": {"p50": p * 100, "p99": p * 1000}}
               for process in p99_us_per_value for p in process]
    return BenchmarkResult(bench_id, [seconds] * len(lengths), [seconds] * len(metrics),
                           {"tgobench_params": {"mode": "open", "rate": 10000}}, metrics,
                           "second", threshold, lengths)


def test_an_open_loop_is_judged_by_each_processs_p99_latency():
    rng = np.random.default_rng(7)
    gmp = [list(200 * np.exp(rng.normal(0, 0.05, 3))) for _ in range(10)]
    tgo = [list(600 * np.exp(rng.normal(0, 0.05, 3))) for _ in range(10)]
    comparison = compare.compare_files(result_set("a.json", open_loop("tgo", gmp)),
                                       result_set("b.json", open_loop("tgo", tgo)))
    (judged,) = comparison.benchmarks
    assert judged.name.endswith(compare.OPEN_LOOP_LABEL) and "mode=open" in judged.name
    assert judged.baseline.run_means == pytest.approx([np.median(p) * 1e-6 for p in gmp])
    assert 2.5 < judged.ratio < 3.5 and judged.regression
    assert compare.format_value(judged.new.median, judged.unit).endswith(" us")
    assert not [w for w in comparison.warnings if "open loop" in w.message]
    assert compare.exit_status(comparison) == 1


def test_an_open_loop_at_the_same_latency_is_no_change():
    rng = np.random.default_rng(8)
    same = [[list(300 * np.exp(rng.normal(0, 0.05, 3))) for _ in range(10)] for _ in range(2)]
    comparison = compare.compare_files(result_set("a.json", open_loop("tgo", same[0])),
                                       result_set("b.json", open_loop("tgo", same[1])))
    assert comparison.benchmarks[0].verdict == compare.NO_CHANGE


def test_an_open_loop_without_latency_is_judged_by_time_with_a_warning():
    base = open_loop("tgo", [[200]] * 6)
    new = dataclasses.replace(open_loop("tgo", [[200]] * 6), metrics=[{}] * 6)
    comparison = compare.compare_files(result_set("a.json", base), result_set("b.json", new))
    (judged,) = comparison.benchmarks
    assert compare.OPEN_LOOP_LABEL not in judged.name and judged.baseline.median == 1e-4
    (warning,) = [w for w in comparison.warnings if "open loop" in w.message]
    assert "without latency metrics" in warning.message and "tgobench run" in warning.fix


def closed_loop(impl: str, active_conns: list[float | None], conns: int = 1000) -> BenchmarkResult:
    """An rpc closed loop at 10 µs a request whose values kept active_conns
    connections in use (None: a value without the metric, from an older driver)."""
    params = {"conns": conns, "requests": 100}
    metrics = [{} if a is None else {"active_conns": a} for a in active_conns]
    return BenchmarkResult(BenchmarkId.make("rpc", params, impl, "all", 2), [1e-5] * len(metrics),
                           [1e-5] * len(metrics), {"tgobench_params": params}, metrics, "second",
                           0.05, [1] * len(metrics))


def load_warnings(comparison: compare.Comparison) -> list[compare.CompareWarning]:
    return [w for w in comparison.warnings if "connections in use" in w.message]


def test_closed_loops_with_different_connections_in_use_are_warned_about():
    gmp, tgo = closed_loop("gmp", [992, 993, 991, 992]), closed_loop("tgo", [327, 213, 501, 400])
    comparison = compare.compare_impls(result_set("r.json", gmp, tgo), "gmp", "tgo")
    (warning,) = load_warnings(comparison)
    assert "992 connections in use on average in gmp and 364 in tgo" in warning.message
    assert "different loads" in warning.message and "active_conns" in warning.fix
    assert "connections in use" in compare.render_table(comparison)


@pytest.mark.parametrize("base, new", [
    ([60, 61, 60], [52, 60, 59]),      # clients that finish early: within a fifth
    ([992, 992], [None, None]),        # one side from a driver without the metric
])
def test_closed_loops_at_the_same_load_or_without_the_metric_are_not(base, new):
    comparison = compare.compare_files(result_set("a.json", closed_loop("tgo", base, 64)),
                                       result_set("b.json", closed_loop("tgo", new, 64)))
    assert load_warnings(comparison) == []


def test_open_loops_in_result_files_are_compared_by_latency_and_closed_ones_by_time(tmp_path):
    from tests.test_report import write_results
    from tgobench import results
    ids = [BenchmarkId.make("rpc", params, impl, "all", 2) for impl in ("tgo", "gmp")
           for params in ({"conns": 4, "requests": 50}, {"conns": 4, "mode": "open", "rate": 1000})]
    comparison = compare.compare_impls(results.load(write_results(tmp_path / "r.json", ids)),
                                       "gmp", "tgo")
    closed, open_ = comparison.benchmarks
    assert "mode=open" not in closed.name and compare.OPEN_LOOP_LABEL not in closed.name
    assert "mode=open" in open_.name and open_.name.endswith(compare.OPEN_LOOP_LABEL)
    # the fixture's p99 is 20 times its time per request, scaled by the implementation's cost
    assert open_.baseline.median > 10 * closed.baseline.median
    table = compare.render_table(comparison)
    assert f"{open_.name}" in table and "open loop" not in table
