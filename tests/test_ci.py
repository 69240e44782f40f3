"""`tgobench ci`: the gate's outcomes and the files it leaves, against the
fake driver; then the proof against the real drivers that it passes a run
of the same build and fails a build slowed by fault injection."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tgobench import baseline, ci, results
from tgobench.errors import UserError
from tgobench.runner import PlainReporter

# Fake drivers: a yield of a few ns per op; TGOBENCH_FAKE_SLOW_NS adds to it.
FAKE_SUITE = """
threshold = 3.0
impls = ["tgo", "gmp"]
[pyperf]
processes = 6
values = 2
min_time = 0.005
[[benchmark]]
workload = "yield"
params = { tasks = 2, yields = 50 }
"""
FAKE_NAMES = ["yield[tasks=2,yields=50] tgo all p2", "yield[tasks=2,yields=50] gmp all p2"]

# The real drivers, kept short: two workloads that switch on every operation,
# one P so that the two threads of a 2-Ps run do not fight other work for the
# machine's CPUs, and six worker processes per benchmark: Holm over four
# benchmarks asks the first of 0.05/4, and Mann-Whitney's two-sided p at 6
# against 6 is 2/924 for complete separation, 4/924 with one process out of
# place (at 5 against 5 that one process would already cost significance).
#
# Why the run of the same build cannot fail: a regression needs a significant
# difference (Holm-corrected p < 0.05) *and* the 95% interval of the ratio
# entirely above 1 + threshold. Per-process samples do not see drift between
# two runs: on this shared 2-CPU machine, runs of one build a minute apart
# have differed by up to 2.2 times when other work came and went. So the
# threshold is 5.0: the second run would have to be surely more than six times
# slower. The knob's 2000 ns per switch makes these operations, normally
# 30-200 ns, 15 to 100 times slower, so its intervals stay far above 6.
REAL_SUITE = """
threshold = 5.0
impls = ["tgo", "gmp"]
procs = [1]
[pyperf]
processes = 6
values = 2
warmups = 1
min_time = 0.005
[[benchmark]]
workload = "yield"
params = { tasks = 4, yields = 2000 }
[[benchmark]]
workload = "chan"
params = { rounds = 2000 }
"""
REAL_NAMES = ["yield[tasks=4,yields=2000] tgo all p1", "yield[tasks=4,yields=2000] gmp all p1",
              "chan[rounds=2000] tgo all p1", "chan[rounds=2000] gmp all p1"]
SLOW_SWITCH_NS = "2000"


@pytest.fixture
def fake_env(fake_driver_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("TGOBENCH_DRIVER_DIR", str(fake_driver_dir))
    for name in ("TGOBENCH_FAKE_DIE", "TGOBENCH_FAKE_SLOW_NS", "GITHUB_STEP_SUMMARY",
                 ci.SLOW_SWITCH_VAR):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "gate.toml").write_text(FAKE_SUITE)
    return fake_driver_dir


def run_ci(where: Path, out: str, slow_switch_ns: int | None = None) -> ci.CiOutcome:
    """The library's ci in `where`: suite gate.toml, baselines in bl/."""
    ci_plan = ci.plan(ci.CiRequest(str(where / "gate.toml"), where / out, where / "bl",
                                   slow_switch_ns))
    return ci.execute(ci_plan, PlainReporter(lambda line: None), step_summary="")


def machine_id() -> str:
    from tgobench import system
    return system.machine()["machine_id"]


def verdicts(out: Path) -> dict:
    return json.loads((out / ci.VERDICTS_NAME).read_text())


# --- against the fake driver -------------------------------------------------------

def test_no_baseline_passes_with_a_notice_and_records_a_candidate(fake_env, tmp_path, tgobench_cli):
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    env = dict(os.environ, GITHUB_STEP_SUMMARY=str(summary))
    proc = tgobench_cli("ci", "--suite", "gate.toml", "-o", "out", "--baselines", "bl", env=env,
                        cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    candidate = tmp_path / "bl" / machine_id() / "gate.candidate.json"
    assert "notice: No baseline for machine" in proc.stdout
    assert f"tgobench baseline save bl/{machine_id()}/gate.candidate.json" in proc.stdout
    assert [b.name for b in results.load(candidate).benchmarks] == FAKE_NAMES
    assert baseline.find(tmp_path / "bl", machine_id(), "gate") is None
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == {"gate.json", "report.html", "summary.md",
                                               "verdicts.json"}
    markdown = (out / "summary.md").read_text()
    assert "**Passed without a baseline**" in markdown and "No baseline for machine" in markdown
    assert summary.read_text() == "earlier step\n" + markdown + "\n"  # appended, not replaced
    assert verdicts(out)["status"] == ci.NO_BASELINE
    assert verdicts(out)["candidate"] == f"bl/{machine_id()}/gate.candidate.json"
    assert verdicts(out)["comparison"] is None


def test_same_build_passes_and_a_slower_one_fails_naming_the_benchmarks(fake_env, tmp_path,
                                                                        monkeypatch):
    first = run_ci(tmp_path, "out1")
    assert first.status == ci.NO_BASELINE, first.notices
    baseline.save(first.candidate, tmp_path / "bl")
    same = run_ci(tmp_path, "out2")
    assert (same.status, same.exit_status) == (ci.PASSED, 0)
    assert not same.comparison.regressions
    assert "**Passed**: no regression" in (tmp_path / "out2" / "summary.md").read_text()

    monkeypatch.setenv("TGOBENCH_FAKE_SLOW_NS", "5000")
    slow = run_ci(tmp_path, "out3")
    assert (slow.status, slow.exit_status) == (ci.REGRESSION, 1)
    assert sorted(verdicts(tmp_path / "out3")["comparison"]["regressions"]) == sorted(FAKE_NAMES)
    headline = (tmp_path / "out3" / "summary.md").read_text().splitlines()[2]
    assert headline.startswith("**Regression** in 2 benchmark(s)")
    assert all(f"`{name}`" in headline for name in FAKE_NAMES)
    assert "baseline" in (tmp_path / "out3" / "report.html").read_text()


def test_fault_injection_is_announced_scoped_to_the_run_and_never_a_candidate(fake_env, tmp_path):
    outcome = run_ci(tmp_path, "out", slow_switch_ns=2000)
    assert ci.SLOW_SWITCH_VAR not in os.environ  # set for the drivers of the run only
    assert outcome.exit_status == 0 and outcome.candidate is None
    assert not (tmp_path / "bl").exists()
    markdown = (tmp_path / "out" / "summary.md").read_text()
    assert f"{ci.SLOW_SWITCH_VAR}=2000" in markdown
    assert "not recorded as a candidate because it ran with fault injection" in markdown
    assert verdicts(tmp_path / "out")["slow_switch_ns"] == 2000


def test_slow_switch_from_the_environment_is_seen_and_checked(fake_env, tmp_path, monkeypatch):
    def request(slow_switch_ns=None):
        return ci.CiRequest(str(tmp_path / "gate.toml"), tmp_path / "out", tmp_path / "bl",
                            slow_switch_ns)

    monkeypatch.setenv(ci.SLOW_SWITCH_VAR, "150")
    ci_plan = ci.plan(request())
    assert (ci_plan.slow_switch_ns, ci_plan.set_slow_switch) == (150, False)
    monkeypatch.setenv(ci.SLOW_SWITCH_VAR, "2us")
    with pytest.raises(UserError, match="not a number of nanoseconds"):
        ci.plan(request())
    with pytest.raises(UserError, match="cannot be negative"):
        ci.plan(request(-1))


def test_a_benchmark_that_fails_to_run_fails_the_gate(fake_env, tmp_path, monkeypatch):
    monkeypatch.setenv("TGOBENCH_FAKE_DIE", "yield:1:kill")  # the probe of every benchmark dies
    outcome = run_ci(tmp_path, "out")
    assert (outcome.status, outcome.exit_status) == (ci.FAILED, 1)
    assert outcome.candidate is None and not (tmp_path / "bl").exists()
    assert "2 benchmark(s) failed to run" in (tmp_path / "out" / "summary.md").read_text()
    assert [f["name"] for f in verdicts(tmp_path / "out")["failed"]] == FAKE_NAMES


@pytest.mark.parametrize("problem", ["unknown suite", "used output", "damaged baseline"])
def test_bad_input_exits_2_before_anything_runs(fake_env, tmp_path, tgobench_cli, problem):
    suite = "gate.toml"
    if problem == "unknown suite":
        suite = "no-such-suite"
    elif problem == "used output":
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "summary.md").write_text("an earlier run\n")
    else:
        damaged = tmp_path / "bl" / machine_id() / "gate.json"
        damaged.parent.mkdir(parents=True)
        damaged.write_text("{}")
    proc = tgobench_cli("ci", "--suite", suite, "-o", "out", "--baselines", "bl", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: ") and "fix:" in proc.stderr
    assert not (tmp_path / "out" / "gate.json").exists()


def test_a_baseline_sharing_no_benchmark_is_refused_before_anything_runs(fake_env, tmp_path,
                                                                          tgobench_cli):
    """A suite changed since its baseline was recorded: found after the run,
    the whole run would end in exit 2 with no report or verdicts."""
    first = run_ci(tmp_path, "out1")
    stale = tmp_path / "bl" / machine_id() / "gate.json"
    stale.parent.mkdir(parents=True, exist_ok=True)
    first.candidate.rename(stale)
    (tmp_path / "gate.toml").write_text(FAKE_SUITE.replace("yields = 50", "yields = 60"))
    proc = tgobench_cli("ci", "--suite", "gate.toml", "-o", "out2", "--baselines", "bl",
                        cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "has none of the benchmarks of suite gate" in proc.stderr
    assert f"move bl/{machine_id()}/gate.json aside" in proc.stderr
    assert not (tmp_path / "out2").exists()


@pytest.mark.parametrize("where", ["baselines", "step summary"])
def test_an_unwritable_candidate_or_step_summary_is_refused_before_anything_runs(
        fake_env, tmp_path, tgobench_cli, where):
    (tmp_path / "a-file").write_text("not a directory\n")
    baselines = "a-file" if where == "baselines" else "bl"
    env = dict(os.environ)
    if where == "step summary":
        env["GITHUB_STEP_SUMMARY"] = str(tmp_path)  # a directory
    proc = tgobench_cli("ci", "--suite", "gate.toml", "-o", "out", "--baselines", baselines,
                        env=env, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    expected = ("the candidate baseline" if where == "baselines"
                else "cannot append to the step summary")
    assert expected in proc.stderr and "fix:" in proc.stderr
    assert not (tmp_path / "out").exists()


# --- the proof, against the real drivers and runtime ---------------------------------

@pytest.mark.slow
def test_gate_passes_the_same_build_and_catches_the_slow_switch_knob(driver_dir, tmp_path,
                                                                    tgobench_cli):
    """The nightly command end to end: without a baseline it passes and leaves
    a candidate; promoted, two more runs of the same build pass; the runtime
    slowed by TGOBENCH_SLOW_SWITCH_NS fails, the summary naming every
    benchmark it slowed."""
    (tmp_path / "gate.toml").write_text(REAL_SUITE)
    env = {k: v for k, v in os.environ.items()
           if k not in ("GITHUB_STEP_SUMMARY", ci.SLOW_SWITCH_VAR)}
    env["TGOBENCH_DRIVER_DIR"] = str(driver_dir)

    def gate(out: str, *extra: str):
        return tgobench_cli("ci", "--suite", "gate.toml", "-o", out, *extra, env=env, cwd=tmp_path)

    first = gate("first")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "notice: No baseline for machine" in first.stdout
    candidate = tmp_path / "baselines" / machine_id() / "gate.candidate.json"
    promote = tgobench_cli("baseline", "save", str(candidate), env=env, cwd=tmp_path)
    assert promote.returncode == 0, promote.stderr

    for out in ("same1", "same2"):
        same = gate(out)
        assert same.returncode == 0, same.stdout + same.stderr
        assert verdicts(tmp_path / out)["status"] == ci.PASSED

    slow = gate("slow", "--slow-switch-ns", SLOW_SWITCH_NS)
    assert slow.returncode == 1, slow.stdout + slow.stderr
    markdown = (tmp_path / "slow" / "summary.md").read_text()
    headline = markdown.splitlines()[2]
    assert headline.startswith(f"**Regression** in {len(REAL_NAMES)} benchmark(s)")
    assert all(f"`{name}`" in headline for name in REAL_NAMES), markdown
    assert f"{ci.SLOW_SWITCH_VAR}={SLOW_SWITCH_NS}" in markdown
    comparison = verdicts(tmp_path / "slow")["comparison"]
    assert all(b["ci_low"] > 6 for b in comparison["benchmarks"])
