"""tgo_read after a short read: the next read waits for an edge instead of
calling read() for its EAGAIN (netpoll.c), and must still see the end of
file that came with the data, every datagram already queued, and every byte
of a stream read in odd sizes. tests/c/netread.c is linked with the
runtime's sources and each policy, plain and under ASan+UBSan and TSan; a
lost wakeup hangs, and the timeout names the seed."""

from __future__ import annotations

import pytest

from tests.conftest import program_fixture, run_program

ROUNDS = 6
TIMEOUT_S = 120
PAIRS, MIN_STREAM = 16, 20000  # netread.c's PAIRS and STREAM_BYTES
netread_exe = program_fixture("netread")


@pytest.mark.parametrize("procs, seed", [(1, 11), (2, 12), (2, 13), (4, 14)])
def test_reads_after_a_short_read_see_every_byte_datagram_and_end_of_file(netread_exe, procs, seed):
    exe, _ = netread_exe
    done = run_program([str(exe), str(procs), str(ROUNDS), str(seed)],
                       f"netread (procs {procs}, seed {seed})",
                       "a read waited for an edge that never came", TIMEOUT_S,
                       ASAN_OPTIONS="detect_leaks=0")
    assert done.returncode == 0, f"procs {procs}, seed {seed}:\n{done.stderr[-4000:]}"
    assert done.stderr == "", done.stderr[-4000:]
    checked = int(done.stdout.split()[1])
    # two stream cases of PAIRS connections each, at least MIN_STREAM bytes each, per round
    assert checked >= ROUNDS * 2 * PAIRS * MIN_STREAM, done.stdout
