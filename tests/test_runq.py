"""A thief's take of a P's runnext (runq.c's tgo__runnext_steal), with the
owner acting during the thief's pause, through tests/c/runnext_check.c: Go's
check takes a task that the owner ran and put back meanwhile, as a
ping-pong's wake-ups do; the check that also compares the owner's count of
puts (tgo's) leaves it."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import REPO, build_with_source

EXPECTED = {
    "nothing": {"go": ("A", None), "counted": ("A", None)},
    "ran it": {"go": (None, None), "counted": (None, None)},
    "ran it, then it was woken again": {"go": ("A", None), "counted": (None, "A")},
    "ran it, and it woke B": {"go": (None, "B"), "counted": (None, "B")},
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict:
    exe = build_with_source(REPO / "tests" / "c" / "runnext_check.c", "runq.c",
                            tmp_path_factory.mktemp("runnext") / "runnext_check")
    return json.loads(subprocess.run([str(exe)], capture_output=True, text=True,
                                     check=True).stdout)


@pytest.mark.parametrize("owner_action", EXPECTED)
@pytest.mark.parametrize("check", ["go", "counted"])
def test_what_a_thief_takes_after_its_pause(outcomes, owner_action, check):
    stolen, left = EXPECTED[owner_action][check]
    assert outcomes[owner_action][check] == {"stolen": stolen, "left": left}
