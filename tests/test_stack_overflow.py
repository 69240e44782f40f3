"""A task that overflows its stack stops the process with a message that
names the overflow, never runs on over someone else's memory: through the
guard page below page-sized stacks, and through the canary checked on every
switch for the 2 KiB class. tests/c/overflow.c is linked with the runtime's
sources and each policy in turn."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import build_with_runtime

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", params=["tgo", "gmp"])
def overflow_exe(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = tmp_path_factory.mktemp(f"overflow-{request.param}") / "overflow"
    return build_with_runtime(ROOT / "tests" / "c" / "overflow.c", request.param, exe,
                              "-O1", "-Wl,-z,now")


def run(exe: Path, stack_size: int, depth: int) -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), str(stack_size), str(depth)], capture_output=True,
                          text=True, timeout=60)


def test_a_task_within_its_stack_runs(overflow_exe):
    out = run(overflow_exe, 2048, 1024)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("returned 0"), out.stdout


@pytest.mark.parametrize("stack_size", [2048, 65536])
def test_an_overflow_stops_the_process_with_a_message(overflow_exe, stack_size):
    out = run(overflow_exe, stack_size, 2 * stack_size + 4096)
    assert out.returncode in (-signal.SIGABRT, -signal.SIGSEGV), (out.returncode, out.stdout)
    assert "stack overflow" in out.stderr, out.stderr
    assert "raise stack_size" in out.stderr, out.stderr
    assert "returned" not in out.stdout
