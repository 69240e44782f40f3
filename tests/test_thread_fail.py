"""A run starts all its Ps or none: tests/c/thread_fail.c makes the Nth
worker thread's creation fail (pthread_create wrapped at link time) and
expects tgo_run to return -EAGAIN without having run the main task, then
a run with every creation succeeding to finish on all its Ps. Before the
start gate, the main task ran on the Ps that had started, to be reported
as an error afterwards. Under TSan, which bounds the tasks alive at once,
a last run holds as many as the bound allows: a failed run must give back
the place its main task took. Runs on both policies, plain and under
ASan+UBSan and TSan."""

from __future__ import annotations

import pytest

from tests.conftest import program_fixture, run_program

TIMEOUT_S = 120
thread_fail_exe = program_fixture("thread_fail", "-Wl,--wrap=pthread_create")


@pytest.mark.parametrize("procs", [1, 2, 4])
def test_a_failed_thread_creation_runs_nothing_and_the_next_run_works(thread_fail_exe, procs):
    exe, _ = thread_fail_exe
    done = run_program([str(exe), str(procs)], "thread_fail",
                       "a run with a thread that failed to start never returned", TIMEOUT_S)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"ok {procs}\n", ""), \
        done.stderr[-4000:]
