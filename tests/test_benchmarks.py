"""benchmarks/floors.c as native.py --floors builds, runs and reads it: every
operation priced, the handoff left out with one CPU, and chan's floor the
sum of the operations a round trip is counted to do."""

from __future__ import annotations

import os
import sys

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import native  # noqa: E402


@pytest.fixture(scope="module")
def floors_exe(tmp_path_factory):
    return native.build_floors(tmp_path_factory.mktemp("floors"))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the handoff needs two CPUs")
def test_every_operation_is_priced(floors_exe):
    floors = native.measure_floors(floors_exe)
    assert set(floors) == set(native.FLOOR_LABELS)
    assert all(ns > 0 for ns in floors.values())


def test_one_cpu_prices_no_handoff(floors_exe, monkeypatch):
    cpu = min(os.sched_getaffinity(0))
    real_run = native.subprocess.run
    monkeypatch.setattr(native.subprocess, "run", lambda *a, **kw: real_run(
        *a, preexec_fn=lambda: os.sched_setaffinity(0, {cpu}), **kw))
    floors = native.measure_floors(floors_exe)
    assert set(floors) == set(native.FLOOR_LABELS) - {"handoff"}


def test_chan_floor_is_the_sum_of_the_counted_operations(capsys):
    native.print_floors({"switch": [9.0, 10.0, 11.0], "lock": [5.0], "exchange": [4.0],
                         "cas": [5.0]})
    out = capsys.readouterr().out
    assert "tgo 50 (4 lock, 2 cas, 2 switch)" in out       # 4*5 + 2*5 + 2*10
    assert "gmp 58 (4 lock, 2 cas, 2 exchange, 2 switch)" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert rows["switch"].endswith("10 [9-11]")
    assert rows["handoff"].endswith(" -")              # not measured: no figure


def test_counted_operations_are_ones_floors_prices():
    priced = set(native.FLOOR_LABELS)
    assert all(set(ops) <= priced for ops in native.CHAN_ROUND_TRIP.values())
    assert set(native.CHAN_ROUND_TRIP) == {"tgo", "gmp"}
