"""Seeded stress runs of the network workloads (rpc, mixed) on both policies,
1 to 4 Ps, in the release drivers (with idle Ps spinning first, and parking
at once: TGOBENCH_SPIN_NS=0) and in the ASan+UBSan and TSan builds.

Each seed draws a plan of requests: rpc in closed and open loop and mixed,
with random connection counts, message sizes (up to 100 KB, more than a
socket buffer: writers park too), rates, bursts, sleeps and stack sizes.
Inside each run, server tasks block in socket reads while the acceptor
spawns more of them and idle Ps steal the tasks the netpoller readies;
meanwhile a second driver process runs the `stress` workload (spawn trees,
channels) on the same CPUs, so that worker threads are preempted at
arbitrary points. The workloads check every reply byte for byte and every
cycle; here every answer must be ok with the planned number of operations,
the driver must hold the same descriptors after each run, and a run that
does not answer in time is a deadlock (or a lost wakeup), reported with
the command that reproduces it.
"""

from __future__ import annotations

import os
import random
import threading
from pathlib import Path

import pytest
from tests.conftest import IMPLS, Driver, driver_path
from tests.test_stress import DEFAULT_SPIN, SPINS, spin_env, spin_prefix

DEADLOCK_GUARD_S = 60.0
PROCS = (1, 2, 3, 4)
# (seeds, a scale of the plan's sizes, stack sizes) per build; the sanitizer
# builds are many times slower, so they run fewer and smaller plans, and
# their instrumented frames do not fit the 2 KiB class.
PLANS = {
    "release": (range(1, 13), 1.0, (2048, 65536)),
    "asan": (range(1, 4), 0.3, (65536,)),
    "tsan": (range(1, 4), 0.2, (65536,)),
}


def plan(seed: int, scale: float, stacks: tuple[int, ...]) -> list[tuple[str, dict, int]]:
    """(workload, params, expected ops) of the requests of one seed."""
    rng = random.Random(seed)

    def n(lo: int, hi: int) -> int:
        return rng.randint(lo, max(lo, int(hi * scale)))

    stack = lambda: rng.choice(stacks)  # noqa: E731
    size = lambda: rng.choice([1, 64, 4096, 100_000])  # noqa: E731
    conns, requests = n(1, 48), n(2, 30)
    closed = {"conns": conns, "requests": requests, "size": size(), "stack_size": stack()}
    open_conns, rate, duration_ms = n(1, 16), n(500, 20000), n(10, 50)
    opened = {"conns": open_conns, "mode": "open", "rate": rate, "duration_ms": duration_ms,
              "size": rng.choice([1, 64, 4096]), "stack_size": stack()}
    tasks, cycles = n(1, 32), n(2, 10)
    mixed = {"tasks": tasks, "cycles": cycles, "burst": n(0, 2000), "sleep_us": n(0, 100),
             "stack_size": stack()}
    return [("rpc", closed, conns * requests),
            ("rpc", opened, open_due(open_conns, rate, duration_ms)),
            ("mixed", mixed, tasks * cycles)]


def open_due(conns: int, rate: int, duration_ms: int) -> int:
    """Requests an open loop sends: request k of connection c is due at
    (k*conns + c)/rate seconds, and every one due before the end is sent."""
    total = 0
    for c in range(conns):
        k = 0
        while int((k * conns + c) / rate * 1e9) < duration_ms * 1_000_000:
            k += 1
        total += k
    return total


def reproduce(policy: str, procs: int, workload: str, params: dict) -> str:
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in params.items())
    return f"tgobench-driver-{policy} --procs {procs} run {workload} {flags}"


class BackgroundStress:
    """The `stress` workload in another driver process, request after
    request, until stopped: competition for the CPUs."""

    def __init__(self, path: Path) -> None:
        self.driver = Driver(path, timeout=DEADLOCK_GUARD_S)
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        seed = 0
        while not self.stop.is_set():
            seed += 1
            try:
                answer = self.driver.request({"op": "run", "workload": "stress",
                                              "params": {"seed": seed, "tasks": 3000}})
            except BaseException as exc:   # pytest.fail from the thread: keep it for the test
                self.failures.append(f"seed {seed}: {exc}")
                return
            if answer.get("ok") is not True:
                self.failures.append(f"seed {seed}: {answer}")
                return

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(DEADLOCK_GUARD_S)
        code = self.driver.close()
        assert not self.failures, self.failures
        assert code == 0, self.driver.stderr


def stress_io(directory: Path, load_directory: Path, policy: str, build: str,
              spin: str = DEFAULT_SPIN) -> int:
    """Every plan of `build` in one driver process; returns the runs done."""
    seeds, scale, stacks = PLANS[build]
    load = BackgroundStress(driver_path(policy, load_directory))
    runs = 0
    try:
        with Driver(driver_path(policy, directory), env=spin_env(spin),
                    timeout=DEADLOCK_GUARD_S) as driver:
            assert driver.request({"op": "hello"})["ok"] is True  # serving: descriptors settled
            for seed in seeds:
                for procs in PROCS:
                    for workload, params, ops in plan(seed * 10 + procs, scale, stacks):
                        where = (f"{build} build, seed {seed}: {spin_prefix(spin)}"
                                 f"{reproduce(policy, procs, workload, params)}")
                        fds = len(os.listdir(f"/proc/{driver.proc.pid}/fd"))
                        try:
                            answer = driver.request({"op": "run", "workload": workload,
                                                     "procs": procs, "params": params})
                        except pytest.fail.Exception as exc:  # the guard fired or it died
                            pytest.fail(f"{where}: no answer (deadlock, lost wakeup or "
                                        f"crash): {exc}")
                        assert answer.get("ok") is True, f"{where}: {answer}"
                        assert answer["ops"] == ops, where
                        assert answer["procs"] == procs, where
                        assert len(os.listdir(f"/proc/{driver.proc.pid}/fd")) == fds, where
                        runs += 1
            assert driver.close() == 0, driver.stderr
            for marker in ("ERROR: AddressSanitizer", "runtime error:",
                           "WARNING: ThreadSanitizer"):
                assert marker not in driver.stderr, f"{build} build, {policy}:\n{driver.stderr}"
    finally:
        load.finish()
    return runs


@pytest.mark.parametrize("spin", SPINS)
@pytest.mark.parametrize("policy", IMPLS)
def test_stress_io_release(policy, spin, driver_dir):
    seeds, *_ = PLANS["release"]
    runs = stress_io(driver_dir, driver_dir, policy, "release", spin)
    assert runs == 3 * len(seeds) * len(PROCS)


@pytest.mark.parametrize("policy", IMPLS)
@pytest.mark.parametrize("sanitizer", ["asan", "tsan"])
def test_stress_io_sanitized(policy, sanitizer, sanitizer_build, driver_dir):
    seeds, *_ = PLANS[sanitizer]
    runs = stress_io(sanitizer_build(sanitizer), driver_dir, policy, sanitizer)
    assert runs == 3 * len(seeds) * len(PROCS)


@pytest.mark.parametrize("policy", IMPLS)
def test_no_netpoll_wakeup_lost_while_ps_park_at_once(policy, driver_dir):
    """Four Ps on the CPUs there are, parking at once (TGOBENCH_SPIN_NS=0),
    while mixed's sockets and timers ready tasks onto parked Ps' own queues:
    Ps announce themselves idle and are woken thousands of times a loop.
    When a P set its idle bit before counting itself in npidle, a waker could
    read npidle == 0 while a parked P's bit was set, skip the wake-up, and
    leave a task in that P's urgent queue: this run then hung in most tries."""
    params = {"tasks": 32, "cycles": 10, "burst": 2000, "sleep_us": 100}
    load = BackgroundStress(driver_path(policy, driver_dir))
    try:
        with Driver(driver_path(policy, driver_dir), env=spin_env("0"),
                    timeout=DEADLOCK_GUARD_S) as driver:
            answer = driver.request({"op": "run", "workload": "mixed", "procs": 4, "loops": 500,
                                     "params": params})
            where = f"{spin_prefix('0')}{reproduce(policy, 4, 'mixed', params)} --loops 500"
            assert answer.get("ok") is True, f"{where}: {answer}"
            assert answer["ops"] == 500 * 32 * 10, where
            assert driver.close() == 0, driver.stderr
    finally:
        load.finish()
