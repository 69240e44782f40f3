"""tgo_read after a short read: the next read waits for an edge instead of
calling read() for its EAGAIN (netpoll.c), and must still see the end of
file that came with the data, every datagram already queued, and every byte
of a stream read in odd sizes. tests/c/netread.c is linked with the
runtime's sources and each policy, plain and under ASan+UBSan and TSan; a
lost wakeup hangs, and the timeout names the seed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import runtime_sources

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "tgobench" / "native" / "src"
ROUNDS = 6
TIMEOUT_S = 120
PAIRS, MIN_STREAM = 16, 20000  # netread.c's PAIRS and STREAM_BYTES
SANITIZERS = {"plain": [], "asan": ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
              "tsan": ["-fsanitize=thread"]}


@pytest.fixture(scope="module", params=[(policy, kind) for policy in ("tgo", "gmp")
                                        for kind in SANITIZERS], ids=lambda p: "-".join(p))
def netread_exe(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    policy, kind = request.param
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (cc) on PATH")
    machine = subprocess.run([cc, "-dumpmachine"], capture_output=True, text=True).stdout
    if machine.split("-")[0] != "x86_64":
        pytest.skip("the test links the x86-64 context switch")
    exe = tmp_path_factory.mktemp(f"netread-{policy}-{kind}") / "netread"
    subprocess.run(
        [cc, "-O1", "-g", "-std=gnu11", "-D_GNU_SOURCE", *SANITIZERS[kind],
         "-I", str(ROOT / "tgobench/native/include"), "-I", str(SRC),
         *map(str, runtime_sources("ctx_x86_64.S")), str(SRC / f"sched_{policy}.c"),
         str(ROOT / "tests" / "c" / "netread.c"), "-o", str(exe), "-pthread"],
        check=True)
    return exe


@pytest.mark.parametrize("procs, seed", [(1, 11), (2, 12), (2, 13), (4, 14)])
def test_reads_after_a_short_read_see_every_byte_datagram_and_end_of_file(netread_exe, procs, seed):
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1", ASAN_OPTIONS="detect_leaks=0")
    try:
        done = subprocess.run([str(netread_exe), str(procs), str(ROUNDS), str(seed)],
                              capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"netread hung for {TIMEOUT_S} s (procs {procs}, seed {seed}): "
                    "a read waited for an edge that never came")
    assert done.returncode == 0, f"procs {procs}, seed {seed}:\n{done.stderr[-4000:]}"
    assert done.stderr == "", done.stderr[-4000:]
    checked = int(done.stdout.split()[1])
    # two stream cases of PAIRS connections each, at least MIN_STREAM bytes each, per round
    assert checked >= ROUNDS * 2 * PAIRS * MIN_STREAM, done.stdout
