"""A wait group may be freed by any waiter once its Wait has returned:
tests/c/waitgroup.c frees it from a second waiter whose Wait began while a
Done was releasing the first. Before the Done's last touch of the group
became the store that clears its word, the second waiter returned on the
zero count and freed the group while the Done was still unlocking it; the
runtime stopped in the first rounds ("wait group freed with tasks waiting
on it"). Runs on both policies, plain and under ASan+UBSan and TSan.

A count that leaves 0..INT32_MAX stops the process with a message that
says how; before, an Add of 2^32 was taken as 0, and one past INT32_MAX
was reported as a negative count."""

from __future__ import annotations

import pytest

from tests.conftest import program_fixture, run_program

ROUNDS = {"plain": 20_000, "asan": 20_000, "tsan": 1_000}
TIMEOUT_S = 120
waitgroup_exe = program_fixture("waitgroup")


def test_a_second_waiter_frees_the_group_as_its_wait_returns(waitgroup_exe):
    exe, kind = waitgroup_exe
    rounds = ROUNDS[kind]
    done = run_program([str(exe), str(rounds)], "waitgroup", "a waiter was never released",
                       TIMEOUT_S)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"ok {rounds}\n", ""), \
        done.stderr[-4000:]


MISUSES = {
    "negative": "wait group counter went negative (-1): more Done than Add",
    "overflow": "wait group counter overflowed: an Add of 1 took it past 2147483647",
    "wide": "wait group Add of 4294967296: a delta must lie within +-2147483647",
}


@pytest.mark.parametrize("how", sorted(MISUSES))
def test_a_count_out_of_range_stops_the_process_with_its_message(waitgroup_exe, how):
    exe, _ = waitgroup_exe
    done = run_program([str(exe), how], "waitgroup", "the misuse was not caught", TIMEOUT_S)
    assert done.returncode != 0 and done.stdout == ""
    assert f"tgo runtime: fatal: {MISUSES[how]}\n" in done.stderr, done.stderr[-4000:]
