"""Where an idle P looks first for work another P spilled: tests/c/find_order.c
fills one P's ring until it spills to the shared queue, then lets the other P
look for work, and names the first task that P ran. gmp reads its global
queue before it steals (Go's findRunnable); tgo reads its pool only once
stealing found nothing (DESIGN 3.2), so it takes from the ring."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import build_with_runtime, run_to_end

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 30
RING_SLOTS = 256  # TGO__RUNQ_SIZE, runq.h
TASKS = 300       # find_order.c
SPILLED = set(range(RING_SLOTS // 2)) | {RING_SLOTS}  # the older half, and the task put last
IN_RING = set(range(RING_SLOTS // 2, TASKS - 1)) - SPILLED


def first_task_elsewhere(policy: str, tmp_path: Path) -> int:
    exe = build_with_runtime(ROOT / "tests" / "c" / "find_order.c", policy,
                             tmp_path / "find_order", "-O1", "-g")
    done = run_to_end([str(exe)], f"find_order under {policy}",
                      "the other P never ran a task, or the blocker never left the main "
                      "task's P", TIMEOUT_S)
    assert (done.returncode, done.stderr) == (0, ""), done
    word, index = done.stdout.split()
    assert word == "first-elsewhere", done.stdout
    return int(index)


def test_gmp_takes_spilled_work_from_its_global_queue_before_it_steals(tmp_path):
    assert first_task_elsewhere("gmp", tmp_path) in SPILLED


def test_tgo_steals_from_a_ring_before_it_reads_the_pool(tmp_path):
    assert first_task_elsewhere("tgo", tmp_path) in IN_RING
