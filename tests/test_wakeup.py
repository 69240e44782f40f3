"""A task queued while the other P goes idle runs there: tests/c/wakeup.c
queues a task (a yield, or a BATCH spawn) at a random moment of the other
P's way to its park, then busy-waits for it to run on that P. A put that
ends with a plain store lets the waker read "no P idle" while the idle P's
rescan misses the task, and that P sleeps beside it: before every put that
a wakep follows ended with a full fence, tgo lost 71 of 3.2 million such
rounds, and this test's 50,000 yields lost 2. Runs on both policies, plain
and under ASan+UBSan and TSan (fewer rounds there: they are slower, and
look for races rather than for the rare interleaving)."""

from __future__ import annotations

import pytest

from tests.conftest import program_fixture, run_program

ROUNDS = {"plain": 50_000, "asan": 20_000, "tsan": 1_000}
TIMEOUT_S = 120
wakeup_exe = program_fixture("wakeup")


@pytest.mark.parametrize("case, seed", [("yield", 1), ("batch", 2)])
def test_a_task_queued_while_a_p_goes_idle_runs_there(wakeup_exe, case, seed):
    exe, kind = wakeup_exe
    rounds = ROUNDS[kind]
    done = run_program([str(exe), case, str(rounds), str(seed)], f"wakeup {case}",
                       "the rounds did not end", TIMEOUT_S)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"ok {case} {rounds}\n", ""), \
        done.stderr[-4000:]
