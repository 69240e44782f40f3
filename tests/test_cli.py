"""The command line as a whole (each command's behaviour is tested beside
its module): `python -m tgobench` is the same program as `tgobench`."""

from __future__ import annotations

import re
import subprocess
import sys

import tgobench
from tests.conftest import tgobench_env


def python_m_tgobench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tgobench", *args], capture_output=True,
                          text=True, env=tgobench_env())


def test_python_m_tgobench_prints_the_version():
    done = python_m_tgobench("--version")
    assert (done.returncode, done.stdout) == (0, f"tgobench {tgobench.__version__}\n")


def test_python_m_tgobench_lists_every_command_under_its_name():
    done = python_m_tgobench("--help")
    assert done.returncode == 0, done.stderr
    assert "Usage: tgobench" in done.stdout
    for command in ("run", "compare", "report", "ci", "baseline", "list", "system", "topology"):
        # a row of the command table: its name, then the gap before its help
        assert re.search(rf"^\W*{command}\s{{2,}}\S", done.stdout, re.M), (command, done.stdout)


def test_run_whose_result_file_cannot_be_summarised_exits_2_naming_the_problem(monkeypatch,
                                                                                 tmp_path):
    from typer.testing import CliRunner

    from tgobench import cli, results, runner
    from tgobench.errors import UserError
    from tgobench.results import BenchmarkId

    out = tmp_path / "r.json"
    measured = BenchmarkId.make("spawn", {}, "tgo", "all", 1)
    monkeypatch.setattr(runner, "plan", lambda request: None)
    monkeypatch.setattr(runner, "execute",
                        lambda plan, reporter: runner.RunOutcome(out, finished=[measured]))

    def unreadable(path):
        raise UserError(f"{path} holds a value that is nan", "re-run it")
    monkeypatch.setattr(results, "load", unreadable)
    done = CliRunner().invoke(cli.app, ["run", "--workload", "spawn", "-o", str(out), "--plain"])
    assert done.exit_code == 2, done.output
    assert done.stderr == f"error: {out} holds a value that is nan\n  fix: re-run it\n"
