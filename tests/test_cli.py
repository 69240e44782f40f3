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
