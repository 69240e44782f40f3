"""Timers and fds while the netpoller's P runs a task: a timer or an fd is
served while a P is idle, however long the busy P computes.
tests/c/poller.c lets the P blocked in the netpoller leave for a 30 ms
computation while the other P is futex-parked and a second event is due.
Before a poller that leaves handed its part on (and a new earliest timer
woke an idle P where no P polled), gmp's waiter ran about 28 ms late in 17
to 20 of 20 rounds, for a timer and for an fd alike; tgo, which wakes an
idle P for every task a timer readies, passed. Runs on both policies, plain
and under ASan+UBSan and TSan."""

from __future__ import annotations

import pytest

from tests.conftest import program_fixture, run_program

ROUNDS = 20
TIMEOUT_S = 60
poller_exe = program_fixture("poller")


@pytest.mark.parametrize("case", ["timer", "fd"])
def test_an_event_is_served_while_the_poller_computes(poller_exe, case):
    exe, _ = poller_exe
    done = run_program([str(exe), case, str(ROUNDS)], "poller", "a round never ended", TIMEOUT_S)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"ok {case} {ROUNDS}\n", ""), \
        done.stderr[-4000:]
