"""A runnable task runs while every P has work of its own: tests/c/starve.c
keeps every P busy with tasks that never block (yield loops, or a channel
ping-pong that stays in one P's queues, between plain or NETIO-hinted tasks)
until a sleeping task or a task reading a socket has woken, or tasks that
spilled to the shared queue or a BATCH task have run, or keeps a woken
task's own P busy until another P has taken it. A runtime that looks at
timers, fds, its shared queue or BATCH work only when a P runs out of work,
that runs other work only once no NETIO task is ready, or whose thieves
never take a P's next task, hangs there; the timeout names the case. Every
case runs on both policies, plain and under ASan+UBSan (LeakSanitizer too)
and TSan."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import program_fixture, run_program

TIMEOUT_S = 30
BUSY = ("yield", "chan", "netio")
CASES = tuple(f"{busy}-{wait}" for busy in BUSY for wait in ("sleep", "read"))
QUEUED_CASES = tuple(f"{busy}-{queued}" for busy in BUSY
                     for queued in ("spill", "batch", "woken-batch"))


starve_exe = program_fixture("starve")


def run_case(built: tuple[Path, str], procs: int, case: str, hang: str) -> None:
    """starve CASE on procs Ps, which must print "ok CASE"; hang says what a
    run that does not end within TIMEOUT_S failed to do."""
    exe, _ = built
    done = run_program([str(exe), str(procs), case], f"{case} on {procs} Ps", hang, TIMEOUT_S)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"ok {case}\n", "")


@pytest.mark.parametrize("procs", [1, 2, 3])
@pytest.mark.parametrize("case", CASES)
def test_a_sleeper_and_a_reader_wake_while_every_p_is_busy(starve_exe, case, procs):
    run_case(starve_exe, procs, case,
             "the waiting task was never woken while the other tasks kept every P busy")


@pytest.mark.parametrize("procs", [1, 2, 3])
@pytest.mark.parametrize("case", QUEUED_CASES)
def test_spilled_and_batch_tasks_run_while_every_p_is_busy(starve_exe, case, procs):
    """gmp's slice ends after 10 ms (Go's sysmon), so that a ping-pong that
    inherits it cannot keep the ring and the global queue waiting; tgo
    serves its pool and batch ring in its fairness turns, which come ahead
    of the urgent queue that a NETIO ping-pong never leaves empty."""
    run_case(starve_exe, procs, case,
             "a task in the shared queue, or a BATCH task, never ran while the other "
             "tasks kept every P busy")


@pytest.mark.parametrize("procs", [2, 3])
def test_a_task_woken_onto_a_busy_p_is_taken_by_another(starve_exe, procs):
    """The waker spins after the wake-up, so its P never gets to the task it
    is to run next (runnext): an idle P takes it after the pause."""
    run_case(starve_exe, procs, "wake-spin",
             "no P took the woken task from the spinning waker's P")
