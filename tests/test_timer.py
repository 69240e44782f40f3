"""Timers: a sleep too long to end in the process's life does not end at
once. tests/c/sleep.c sleeps 2^64 - 1000 ns, whose deadline used to wrap
past 2^64 to a time long past. Runs on both policies, plain and under
ASan+UBSan and TSan."""

from __future__ import annotations

from tests.conftest import program_fixture, run_program

TIMEOUT_S = 60
sleep_exe = program_fixture("sleep")


def test_a_sleep_of_centuries_does_not_wrap_into_one_that_is_due(sleep_exe):
    exe, _ = sleep_exe
    done = run_program([str(exe)], "sleep", "the main task never came back", TIMEOUT_S)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok\n", ""), done.stderr[-4000:]
