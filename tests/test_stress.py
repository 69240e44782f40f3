"""Seeded stress runs of the runtime (workloads/stress.c): random spawn trees
and channel pipelines with yields, sleeps, wait groups and a mutex, on both
policies, 1 to 4 Ps, in the release drivers and in the ASan+UBSan and TSan
builds, with idle Ps spinning first (the default) and parking at once
(TGOBENCH_SPIN_NS=0). The workload itself checks that every task ran exactly
once and that every token arrived; a run that does not answer in time is a
deadlock (or a lost task), reported with the seed, policy and procs that reproduce it:

    tgobench-driver-<policy> --procs <procs> run stress --seed <seed> --tasks <tasks>
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.conftest import IMPLS, Driver, driver_path

DEADLOCK_GUARD_S = 60.0
# Idle Ps spin 20 us by default; with 0 they park at once, so that hand-offs
# race with parking all the time (see test_no_wakeup_lost_...).
DEFAULT_SPIN = "default"
SPINS = (DEFAULT_SPIN, "0")


def spin_env(spin: str) -> dict[str, str] | None:
    """The driver's environment for a spin setting (None: inherit, the default)."""
    return None if spin == DEFAULT_SPIN else {**os.environ, "TGOBENCH_SPIN_NS": spin}


def spin_prefix(spin: str) -> str:
    """The setting as it prefixes a command that reproduces a failure."""
    return "" if spin == DEFAULT_SPIN else f"TGOBENCH_SPIN_NS={spin} "


# (seeds, procs, tasks, chans, stack sizes) per build; the sanitizer builds
# are many times slower, so they run fewer and smaller plans.
PLANS = {
    "release": (range(1, 9), (1, 2, 3, 4), 30000, 8, (2048, 65536)),
    "asan": (range(1, 4), (1, 2, 3, 4), 4000, 6, (65536,)),
    "tsan": (range(1, 4), (1, 2, 3, 4), 1500, 6, (65536,)),
}


def reproduce(policy: str, seed: int, procs: int, tasks: int, chans: int, stack: int,
              spin: str) -> str:
    return (f"seed={seed} policy={policy} procs={procs} (reproduce: {spin_prefix(spin)}"
            f"tgobench-driver-{policy} "
            f"--procs {procs} run stress --seed {seed} --tasks {tasks} --chans {chans} "
            f"--stack-size {stack})")


def stress_all(directory: Path, policy: str, build: str, spin: str) -> int:
    """Every plan of `build` in one driver process; returns the runs done."""
    seeds, all_procs, tasks, chans, stacks = PLANS[build]
    runs = 0
    with Driver(driver_path(policy, directory), env=spin_env(spin),
                timeout=DEADLOCK_GUARD_S) as driver:
        for seed in seeds:
            for procs in all_procs:
                stack = stacks[(seed + procs) % len(stacks)]
                where = reproduce(policy, seed, procs, tasks, chans, stack, spin)
                request = {"op": "run", "workload": "stress", "procs": procs, "loops": 1,
                           "params": {"seed": seed, "tasks": tasks, "chans": chans,
                                      "stack_size": stack}}
                answer, failure = None, None
                try:
                    answer = driver.request(request)
                except pytest.fail.Exception as exc:   # the guard fired or the driver died
                    failure = str(exc)
                if failure is not None:
                    pytest.fail(f"stress {build} build, {where}: no answer (deadlock, lost "
                                f"task or crash): {failure}")
                assert answer.get("ok") is True, f"stress {build} build, {where}: {answer}"
                assert answer["ops"] == tasks, where
                assert answer["procs"] == procs, where
                runs += 1
        assert driver.close() == 0, driver.stderr
        # sanitizers report on stderr and may not change the exit status
        for marker in ("ERROR: AddressSanitizer", "runtime error:", "WARNING: ThreadSanitizer"):
            assert marker not in driver.stderr, f"stress {build} build, {policy}:\n{driver.stderr}"
    return runs


@pytest.mark.parametrize("spin", SPINS)
@pytest.mark.parametrize("policy", IMPLS)
def test_stress_release(policy, spin, driver_dir):
    seeds, all_procs, *_ = PLANS["release"]
    assert stress_all(driver_dir, policy, "release", spin) == len(seeds) * len(all_procs)


@pytest.mark.parametrize("spin", SPINS)
@pytest.mark.parametrize("policy", IMPLS)
@pytest.mark.parametrize("sanitizer", ["asan", "tsan"])
def test_stress_sanitized(policy, sanitizer, spin, sanitizer_build):
    seeds, all_procs, *_ = PLANS[sanitizer]
    runs = stress_all(sanitizer_build(sanitizer), policy, sanitizer, spin)
    assert runs == len(seeds) * len(all_procs)

@pytest.mark.parametrize("policy", IMPLS)
@pytest.mark.parametrize("sanitizer", ["asan", "tsan"])
def test_sanitized_drivers_refuse_the_small_stack_class(policy, sanitizer, sanitizer_build):
    """ASan's and TSan's hooks overflow a 2 KiB stack: the sanitized drivers
    refuse it, naming the smallest they run, and serve on."""
    with Driver(driver_path(policy, sanitizer_build(sanitizer)), timeout=DEADLOCK_GUARD_S) as d:
        small = d.request({"op": "run", "workload": "parked",
                           "params": {"tasks": 100, "stack_size": 2048}})
        assert small["ok"] is False, small
        assert "too small for this sanitizer build" in small["error"], small
        assert "use 4096 or more" in small["error"], small
        page = d.request({"op": "run", "workload": "parked",
                          "params": {"tasks": 100, "stack_size": 4096}})
        assert page["ok"] is True and page["ops"] == 100, page


@pytest.mark.parametrize("policy", IMPLS)
def test_the_tsan_driver_refuses_more_tasks_than_tsan_holds(policy, sanitizer_build):
    """TSan counts each task's fiber as a thread and dies past 8128; its
    driver refuses a request that needs more alive at once, or a spawn that
    would be one too many, and serves on."""
    with Driver(driver_path(policy, sanitizer_build("tsan")), timeout=DEADLOCK_GUARD_S) as d:
        parked = d.request({"op": "run", "workload": "parked", "params": {"tasks": 9000}})
        assert parked["ok"] is False, parked
        assert "this build holds at most 7999 tasks alive at once" in parked["error"], parked
        # on one P every task is spawned before any runs
        spawn = d.request({"op": "run", "workload": "spawn", "procs": 1,
                           "params": {"tasks": 20000}})
        assert spawn["ok"] is False, spawn
        for fragment in ("out of memory after 7999 of 20000 tasks",
                         "than the memory available or this sanitizer build (8000 tasks) holds"):
            assert fragment in spawn["error"], spawn
        small = d.request({"op": "run", "workload": "fib", "params": {"n": 10}})
        assert small["ok"] is True and small["ops"] == 177, small
        assert d.close() == 0, d.stderr
        assert "ThreadSanitizer" not in d.stderr, d.stderr


@pytest.mark.parametrize("policy", IMPLS)
def test_fork_join_with_more_ps_than_cpus(policy, driver_dir):
    """fib frees each wait group as soon as its waiter returns, and with more
    Ps than CPUs (tgo pins two Ps on one CPU) a lock holder can be preempted
    by a spinner on its own CPU: both once lost or livelocked tasks here."""
    cpus = len(os.sched_getaffinity(0))
    with Driver(driver_path(policy, driver_dir), timeout=DEADLOCK_GUARD_S) as driver:
        for procs in (cpus + 1, 2 * cpus + 1):
            answer = driver.request({"op": "run", "workload": "fib", "procs": procs,
                                     "loops": 10, "params": {"n": 18}})
            assert answer.get("ok") is True, f"fib on {policy}, procs {procs}: {answer}"
            assert answer["metrics"]["result"] == 2584
        assert driver.close() == 0, driver.stderr


@pytest.mark.parametrize("policy", IMPLS)
def test_no_wakeup_lost_when_idle_ps_park_at_once(policy, driver_dir):
    """With TGOBENCH_SPIN_NS=0 an idle P parks at once instead of spinning, so
    every hand-off between Ps races with the target parking, in a futex or
    in epoll: the window where a wake-up can be lost opens thousands of times
    a run. A lost one leaves a task in a parked P's queue and the run hangs
    (tgo's inbox push once read the target's idle state too early)."""
    with Driver(driver_path(policy, driver_dir), env=spin_env("0"),
                timeout=DEADLOCK_GUARD_S) as driver:
        for procs in (2, 3, 4):
            for workload, params in (("chan", {"rounds": 50000}),
                                     ("stress", {"seed": procs, "tasks": 20000, "chans": 8})):
                answer = driver.request({"op": "run", "workload": workload, "procs": procs,
                                         "loops": 10, "params": params})
                assert answer.get("ok") is True, f"{workload} on {policy}, procs {procs}: {answer}"
        assert driver.close() == 0, driver.stderr
