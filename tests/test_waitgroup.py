"""A wait group may be freed by any waiter once its Wait has returned:
tests/c/waitgroup.c frees it from a second waiter whose Wait began while a
Done was releasing the first. Before the Done's last touch of the group
became the store that clears its word, the second waiter returned on the
zero count and freed the group while the Done was still unlocking it; the
runtime stopped in the first rounds ("wait group freed with tasks waiting
on it"). Runs on both policies, plain and under ASan+UBSan and TSan."""

from __future__ import annotations

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
