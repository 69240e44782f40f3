"""Where each policy puts a task by its hint (tests/c/hint_order.c): W, with
the hint, and three plain tasks A1..A3 run on one P, and the order they run
in shows the queue each went to; or they wait on one P for another P to
steal them. gmp ignores hints, as Go has none; tgo runs a NETIO wake-up
first (the urgent queue, DESIGN 3.2) and a BATCH task after everything
else, whether spawned or woken, and a thief takes the BATCH task first."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import build_with_runtime, run_to_end

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 30

# Each new task goes to next and pushes the one before it to the ring's
# tail: spawning W, A1, A2, A3 leaves A3 in next, then W A1 A2 on the ring.
# A wake-up (W, after A1..A3) goes to next in turn, pushing A3 behind A2.
GO_ORDER = {"spawn": ["A3", "W", "A1", "A2"], "wake": ["W", "A1", "A2", "A3"]}
TGO_ORDER = {
    ("spawn", "none"): GO_ORDER["spawn"],
    ("spawn", "netio"): GO_ORDER["spawn"],      # a spawn is no network wake-up
    ("spawn", "batch"): ["A3", "A1", "A2", "W"],
    ("wake", "none"): GO_ORDER["wake"],
    ("wake", "netio"): ["W", "A3", "A1", "A2"],  # urgent, ahead of next
    ("wake", "batch"): ["A3", "A1", "A2", "W"],
}
# Spawned A1, A2, A3, then W: W in next, which a thief takes last, and
# A1 at the ring's head, which it takes first; a BATCH W on the batch ring.
GO_FIRST_STOLEN = "A1"
TGO_FIRST_STOLEN = {"none": "A1", "netio": "A1", "batch": "W"}


@pytest.fixture(scope="module")
def hint_order(tmp_path_factory):
    built = {}

    def run(policy: str, mode: str, hint: str) -> dict[str, list[str]]:
        if policy not in built:
            built[policy] = build_with_runtime(
                ROOT / "tests" / "c" / "hint_order.c", policy,
                tmp_path_factory.mktemp(policy) / "hint_order", "-O1", "-g")
        done = run_to_end([str(built[policy]), mode, hint],
                          f"hint_order {mode} {hint} under {policy}",
                          "a task was never run or stolen, or W never woke", TIMEOUT_S)
        assert (done.returncode, done.stderr) == (0, ""), done
        lines = dict(line.split(maxsplit=1) for line in done.stdout.splitlines())
        return {word: names.split() for word, names in lines.items()}

    return run


@pytest.mark.parametrize("mode, hint", sorted(TGO_ORDER))
def test_tgo_orders_tasks_by_hint(hint_order, mode, hint):
    assert hint_order("tgo", mode, hint) == {"order": TGO_ORDER[mode, hint]}


@pytest.mark.parametrize("mode, hint", sorted(TGO_ORDER))
def test_gmp_ignores_hints_as_go_has_none(hint_order, mode, hint):
    assert hint_order("gmp", mode, hint) == {"order": GO_ORDER[mode]}


@pytest.mark.parametrize("hint", sorted(TGO_FIRST_STOLEN))
def test_a_tgo_thief_takes_batch_work_first(hint_order, hint):
    ran = hint_order("tgo", "steal", hint)
    assert ran["first-elsewhere"] == [TGO_FIRST_STOLEN[hint]]
    assert sorted(ran["order"]) == ["A1", "A2", "A3", "W"]


@pytest.mark.parametrize("hint", sorted(TGO_FIRST_STOLEN))
def test_a_gmp_thief_takes_the_ring_head_whatever_the_hint(hint_order, hint):
    ran = hint_order("gmp", "steal", hint)
    assert ran["first-elsewhere"] == [GO_FIRST_STOLEN]
    assert sorted(ran["order"]) == ["A1", "A2", "A3", "W"]
