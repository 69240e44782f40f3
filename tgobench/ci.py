"""`tgobench ci`: the one command a nightly job runs. It runs a suite, judges
the run against this machine's baseline with the regression gate of
tgobench.compare, and leaves everything a person needs in one directory:

    DIR/<suite>.json     the results of this run (pyperf JSON)
    DIR/report.html      the self-contained report: baseline and this run
    DIR/summary.md       the verdict in Markdown (also appended to $GITHUB_STEP_SUMMARY)
    DIR/verdicts.json    the verdict and every benchmark's comparison as data

Exit status: 1 when a benchmark regressed or failed to run, 0 otherwise, 2 on
bad input (the CLI maps UserError), 130 when interrupted.

A machine without a baseline passes, never silently: the summary says so,
and the run is recorded as the machine's candidate baseline
(baselines/<machine-id>/<suite>.candidate.json, see tgobench.baseline) for a
person to promote.

Fault injection: TGOBENCH_SLOW_SWITCH_NS=N makes the C runtime busy-wait N ns
on every switch into a task (read by each run of the drivers; 0 or unset is
off). `--slow-switch-ns N` sets it for the drivers of this run, so that the
gate can be shown to catch a genuinely slower runtime. The runner forwards
TGOBENCH_* variables to pyperf's worker processes. A run with fault injection
says so in its summary and is never recorded as a candidate baseline.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from tgobench import baseline, compare, results, runner
from tgobench.compare import Comparison
from tgobench.errors import UserError

SLOW_SWITCH_VAR = "TGOBENCH_SLOW_SWITCH_NS"
FORMAT_VERSION = 1
REPORT_NAME = "report.html"
SUMMARY_NAME = "summary.md"
VERDICTS_NAME = "verdicts.json"

# Outcomes, as verdicts.json names them.
PASSED = "passed"
REGRESSION = "regression"
NO_BASELINE = "no baseline"
FAILED = "failed"
INTERRUPTED = "interrupted"


@dataclass
class CiRequest:
    suite: str = "nightly"
    output_dir: Path | None = None          # default: results/ci-SUITE-TIMESTAMP
    baselines: Path = baseline.DEFAULT_DIR
    slow_switch_ns: int | None = None       # None: leave TGOBENCH_SLOW_SWITCH_NS as it is


@dataclass
class CiPlan:
    run: runner.RunPlan
    output_dir: Path
    baselines: Path
    machine_id: str
    baseline_path: Path | None
    baseline_results: results.ResultSet | None
    slow_switch_ns: int                     # what the drivers will see; 0: off
    set_slow_switch: bool                   # this run sets the variable (else it was inherited)

    @property
    def suite(self) -> str:
        return self.run.suite.name


@dataclass
class CiOutcome:
    status: str
    exit_status: int
    run: runner.RunOutcome
    comparison: Comparison | None
    candidate: Path | None
    notices: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    summary_markdown: str = ""


def plan(request: CiRequest) -> CiPlan:
    """Everything checked before the suite runs: the suite and drivers (as
    `tgobench run` checks them), the output directory, the fault-injection
    setting, this machine's baseline, loaded so that a damaged one, or one
    that shares no benchmark with the suite, is refused now rather than after
    the run; else that a candidate can be recorded; and that the step summary
    can be written. UserError on the first problem."""
    slow_ns, set_slow = _slow_switch_setting(request.slow_switch_ns)
    output_dir = request.output_dir
    if output_dir is None:
        output_dir = runner.default_output(f"ci-{Path(request.suite).stem}").with_suffix("")
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise UserError(f"{output_dir} exists and is not a directory",
                        "give -o a directory for the results, report and summary")
    result_file = output_dir / f"{Path(request.suite).stem}.json"
    for existing in (result_file, output_dir / REPORT_NAME, output_dir / SUMMARY_NAME,
                     output_dir / VERDICTS_NAME):
        if existing.exists():
            raise UserError(f"{output_dir} already holds a ci run ({existing.name})",
                            "give -o a new directory for each run")
    run_plan = runner.plan(runner.RunRequest(suite=request.suite, output=result_file))
    name = run_plan.suite.name
    machine_id = run_plan.system.machine["machine_id"]
    found = baseline.find(request.baselines, machine_id, name)
    loaded = results.load(found) if found else None
    if loaded is not None:
        _check_shares_benchmarks(loaded, run_plan)
    else:
        results.check_writable(baseline.path_for(request.baselines, machine_id, name,
                                                 candidate=True),
                               "the candidate baseline", "give a writable --baselines DIR")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        _check_appendable(Path(step_summary))
    return CiPlan(run_plan, output_dir, Path(request.baselines), machine_id, found, loaded,
                  slow_ns, set_slow)


def _check_shares_benchmarks(loaded: results.ResultSet, run_plan: runner.RunPlan) -> None:
    planned = {bench.id for bench in run_plan.benchmarks}
    if not any(bench.id in planned for bench in loaded.benchmarks):
        raise UserError(f"the baseline {loaded.path} has none of the benchmarks of suite "
                        f"{run_plan.suite.name}: the suite changed since it was recorded",
                        f"move {loaded.path} aside; the next run passes and records a candidate "
                        "to promote with `tgobench baseline save`")


def _check_appendable(step_summary: Path) -> None:
    try:
        with open(step_summary, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise UserError(f"cannot append to the step summary {step_summary} "
                        f"(GITHUB_STEP_SUMMARY): {exc.strerror or exc}",
                        "point GITHUB_STEP_SUMMARY at a writable file, or unset it") from None


def execute(ci_plan: CiPlan, reporter: runner.Reporter,
            step_summary: str | None = None) -> CiOutcome:
    """Run the suite, judge it, and write the report, summary and verdicts.
    `step_summary`: a file the Markdown summary is appended to (CI's step
    summary); by default $GITHUB_STEP_SUMMARY when set."""
    with _environment(SLOW_SWITCH_VAR, str(ci_plan.slow_switch_ns) if ci_plan.set_slow_switch
                      else None):
        run = runner.execute(ci_plan.run, reporter)
    measured = results.load(run.output) if run.finished else None
    outcome = _judge(ci_plan, run, measured)
    _write(ci_plan, outcome, measured, step_summary if step_summary is not None
           else os.environ.get("GITHUB_STEP_SUMMARY"))
    return outcome


# --- judging -------------------------------------------------------------------

def _judge(ci_plan: CiPlan, run: runner.RunOutcome, measured: results.ResultSet | None
           ) -> CiOutcome:
    notices = []
    if ci_plan.slow_switch_ns:
        notices.append(f"Fault injection is on: {SLOW_SWITCH_VAR}={ci_plan.slow_switch_ns} makes "
                       f"the C runtime busy-wait {ci_plan.slow_switch_ns} ns on every switch into "
                       "a task. These numbers test the gate; they do not measure the code.")
    if run.interrupted:
        return CiOutcome(INTERRUPTED, 130, run, None, None,
                         notices + ["Interrupted: the suite did not finish; nothing was judged."])
    if run.failed:
        notices.append(f"{len(run.failed)} benchmark(s) failed to run: "
                       + "; ".join(f"`{bench.name}`: {message.splitlines()[0]}"
                                   for bench, message in run.failed))
    if measured is None:
        return CiOutcome(FAILED, 1, run, None, None, notices + ["No benchmark finished."])
    if ci_plan.baseline_results is None:
        return _without_baseline(ci_plan, run, notices)
    try:
        comparison = compare.compare_files(ci_plan.baseline_results, measured)
    except UserError as exc:  # e.g. every benchmark the baseline shares failed to run
        return CiOutcome(FAILED, 1, run, None, None,
                         notices + [f"Nothing was compared: {exc.problem}."])
    if comparison.regressions:
        status = REGRESSION
    else:
        status = FAILED if run.failed else PASSED
    return CiOutcome(status, 0 if status == PASSED else 1, run, comparison, None, notices)


def _without_baseline(ci_plan: CiPlan, run: runner.RunOutcome, notices: list[str]) -> CiOutcome:
    where = baseline.path_for(ci_plan.baselines, ci_plan.machine_id, ci_plan.suite)
    if ci_plan.slow_switch_ns:
        why = "it ran with fault injection"
    elif run.failed:
        why = "some of its benchmarks failed"
    else:
        why = ""
    candidate = None
    if why:
        notices.append(f"No baseline for machine `{ci_plan.machine_id}` ({where} does not exist), "
                       f"so nothing was compared; this run is not recorded as a candidate "
                       f"because {why}.")
    else:
        try:
            candidate = baseline.record_candidate(run.output, ci_plan.baselines,
                                                  ci_plan.machine_id, ci_plan.suite)
        except UserError as exc:  # checked in plan(); the run itself is kept
            return CiOutcome(FAILED, 1, run, None, None, notices + [f"{exc.problem}."])
        notices.append(f"No baseline for machine `{ci_plan.machine_id}` ({where} does not exist), "
                       f"so nothing was compared and the gate passes. This run is recorded as the "
                       f"candidate baseline `{candidate}`: look at it, then promote it with "
                       f"`tgobench baseline save {candidate}` and commit `{where}`.")
    # With a baseline, the comparison lists the system check's warnings.
    notices += [f"System check: {w.message}. Fix: {w.fix}" for w in ci_plan.run.system.warnings]
    status = FAILED if run.failed else NO_BASELINE
    return CiOutcome(status, 1 if run.failed else 0, run, None, candidate, notices)


# --- writing -------------------------------------------------------------------

def _write(ci_plan: CiPlan, outcome: CiOutcome, measured: results.ResultSet | None,
           step_summary: str | None) -> None:
    ci_plan.output_dir.mkdir(parents=True, exist_ok=True)
    if measured is not None:
        outcome.files.append(outcome.run.output)
        from tgobench import report
        sets = ([ci_plan.baseline_results] if ci_plan.baseline_results and outcome.comparison
                else []) + [measured]
        outcome.files.append(report.render_report(sets, ci_plan.output_dir / REPORT_NAME,
                                                  outcome.comparison))
    outcome.summary_markdown = render_markdown(ci_plan, outcome)
    summary_path = ci_plan.output_dir / SUMMARY_NAME
    compare.write_output(summary_path, outcome.summary_markdown)
    verdicts_path = ci_plan.output_dir / VERDICTS_NAME
    compare.write_output(verdicts_path, json.dumps(to_json(ci_plan, outcome), indent=2) + "\n")
    outcome.files += [summary_path, verdicts_path]
    if step_summary:
        try:
            with open(step_summary, "a", encoding="utf-8") as fp:
                fp.write(outcome.summary_markdown + "\n")
        except OSError as exc:  # checked in plan(); the verdict stands, in summary.md
            outcome.notices.append(f"Could not append the summary to the step summary "
                                   f"{step_summary}: {exc.strerror or exc}.")


def headline(ci_plan: CiPlan, outcome: CiOutcome) -> str:
    """One line: what the gate decided, and why."""
    if outcome.status == REGRESSION:
        names = ", ".join(b.name for b in outcome.comparison.regressions)
        return (f"REGRESSION: {len(outcome.comparison.regressions)} benchmark(s) slower than "
                f"the baseline beyond their threshold: {names}")
    if outcome.status == PASSED:
        return f"passed: no regression against {ci_plan.baseline_path}"
    if outcome.status == NO_BASELINE:
        return (f"passed without a baseline: none for machine {ci_plan.machine_id}; "
                f"candidate recorded at {outcome.candidate}")
    if outcome.status == INTERRUPTED:
        return "interrupted: nothing judged"
    return f"FAILED: {_failures(outcome)}; see the notices"


def _failures(outcome: CiOutcome) -> str:
    return (f"{len(outcome.run.failed)} benchmark(s) failed to run" if outcome.run.failed
            else "no benchmark finished")


def render_markdown(ci_plan: CiPlan, outcome: CiOutcome) -> str:
    """The step summary: the verdict, the notices, then the comparison table."""
    out = [f"## tgobench ci: {ci_plan.suite} on `{ci_plan.machine_id}`", ""]
    if outcome.status == REGRESSION:
        out.append(f"**Regression** in {len(outcome.comparison.regressions)} benchmark(s): "
                   + ", ".join(f"`{b.name}`" for b in outcome.comparison.regressions))
    elif outcome.status == PASSED:
        out.append(f"**Passed**: no regression against the baseline `{ci_plan.baseline_path}`.")
    elif outcome.status == NO_BASELINE:
        out.append("**Passed without a baseline**: nothing was compared.")
    elif outcome.status == INTERRUPTED:
        out.append("**Interrupted**.")
    else:
        out.append(f"**Failed**: {_failures(outcome)}.")
    out.append("")
    for notice in outcome.notices:
        out += [f"> {notice}", ""]
    if outcome.comparison:
        out.append(compare.render_markdown(outcome.comparison))
    return "\n".join(out).rstrip("\n") + "\n"


def to_json(ci_plan: CiPlan, outcome: CiOutcome) -> dict[str, Any]:
    return {
        "tgobench_ci_format": FORMAT_VERSION,
        "suite": ci_plan.suite,
        "machine_id": ci_plan.machine_id,
        "status": outcome.status,
        "exit_status": outcome.exit_status,
        "results": str(outcome.run.output) if outcome.run.finished else None,
        "baseline": str(ci_plan.baseline_path) if ci_plan.baseline_path else None,
        "candidate": str(outcome.candidate) if outcome.candidate else None,
        "slow_switch_ns": ci_plan.slow_switch_ns,
        "failed": [{"name": bench.name, "message": message}
                   for bench, message in outcome.run.failed],
        "notices": outcome.notices,
        "comparison": compare.to_json(outcome.comparison) if outcome.comparison else None,
    }


# --- fault injection -----------------------------------------------------------

def _slow_switch_setting(option: int | None) -> tuple[int, bool]:
    """The slow-switch delay the drivers will see, and whether this run sets
    it; the variable may also come from the environment."""
    if option is not None:
        if option < 0:
            raise UserError(f"--slow-switch-ns {option}: a delay cannot be negative",
                            "give 0 (off) or a number of nanoseconds, e.g. 2000")
        return option, True
    inherited = os.environ.get(SLOW_SWITCH_VAR, "")
    if not inherited:
        return 0, False
    if not inherited.isdigit():
        raise UserError(f"{SLOW_SWITCH_VAR}={inherited!r} is not a number of nanoseconds",
                        f"unset {SLOW_SWITCH_VAR}, or set it to a whole number (0 is off)")
    return int(inherited), False


@contextmanager
def _environment(name: str, value: str | None) -> Iterator[None]:
    """Set `name` for the block (None leaves it alone), then restore it."""
    if value is None:
        yield
        return
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before
