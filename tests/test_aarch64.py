"""The AArch64 context switch (ctx_aarch64.S), cross-compiled and run under
qemu's user-mode emulation: the same driver, both policies, workloads that
switch in every way (spawn, park and wake, yield, fork-join, the seeded
stress mix, the 2 KiB class). Skipped where the cross compiler or qemu is
missing; .ci/run installs both."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import runtime_sources

ROOT = Path(__file__).resolve().parent.parent
NATIVE = ROOT / "tgobench" / "native"
WORKLOADS = [
    ("spawn", {"tasks": 20000}, 20000),
    ("chan", {"rounds": 5000}, 5000),
    ("yield", {"tasks": 4, "yields": 5000}, 20000),
    ("fib", {"n": 15}, 1973),
    ("stress", {"seed": 3, "tasks": 2000}, 2000),
    ("parked", {"tasks": 5000, "stack_size": 2048}, 5000),
]


@pytest.fixture(scope="module", params=["tgo", "gmp"])
def arm_driver(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc, qemu = shutil.which("aarch64-linux-gnu-gcc"), shutil.which("qemu-aarch64")
    if cc is None or qemu is None:
        pytest.skip("needs aarch64-linux-gnu-gcc and qemu-aarch64 (Debian: gcc-aarch64-linux-gnu, "
                    "qemu-user)")
    exe = tmp_path_factory.mktemp(f"arm-{request.param}") / f"tgobench-driver-{request.param}"
    sources = runtime_sources("ctx_aarch64.S") + [NATIVE / "src" / f"sched_{request.param}.c"]
    sources += sorted((NATIVE / "workloads").glob("*.c")) + sorted((NATIVE / "driver").glob("*.c"))
    subprocess.run(
        [cc, "-O2", "-std=gnu11", "-D_GNU_SOURCE", '-DTGOBENCH_VERSION="0.1.0"',
         '-DTGOBENCH_COMPILER="aarch64-linux-gnu-gcc"',
         *(f"-I{NATIVE / d}" for d in ("include", "src", "workloads", "driver")),
         *map(str, sources), "-o", str(exe), "-pthread", "-lm", "-Wl,-z,now", "-static"],
        check=True)
    return exe


@pytest.mark.parametrize("workload,params,ops", WORKLOADS, ids=[w[0] for w in WORKLOADS])
def test_workload_runs_on_aarch64(arm_driver, workload, params, ops):
    flags = [f"--{name.replace('_', '-')}={value}" for name, value in params.items()]
    out = subprocess.run(["qemu-aarch64", str(arm_driver), "--procs", "2", "run", workload, *flags],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    answer = json.loads(out.stdout)
    assert answer["ok"] is True, answer
    assert answer["ops"] == ops
