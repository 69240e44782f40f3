"""Timers while the netpoller's P runs a task: a timer is served while a P
is idle, however long the busy P computes. tests/c/poller.c lets the P
blocked in the netpoller leave for a 30 ms computation while the other P
is futex-parked and a second timer is due; before the poller handed its
part on (and before a new earliest timer woke an idle P where no P was
polling), gmp's sleeper woke 28 ms late in 20 of 20 rounds. Runs on both
policies, plain and under ASan+UBSan and TSan."""

from __future__ import annotations

from tests.conftest import program_fixture, run_program

ROUNDS = 20
TIMEOUT_S = 60
poller_exe = program_fixture("poller")


def test_a_timer_is_served_while_the_poller_computes(poller_exe):
    exe, _ = poller_exe
    done = run_program([str(exe), str(ROUNDS)], "poller", "a round never ended", TIMEOUT_S)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"ok {ROUNDS}\n", ""), \
        done.stderr[-4000:]
