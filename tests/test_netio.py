"""The network workloads of the C drivers (workloads/rpc.c, mixed.c,
wl_net.c) on both policies, over the protocol: the rpc echo in closed loop
at 1, 64 and 5000 connections and in open loop at a fixed rate, the mixed
workload, a reply corrupted on the wire (every payload is checked), and
running out of descriptors before and while connecting. After every request
the driver must hold exactly the descriptors it held before, as the
workload reports (fds_before, fds_after) and as /proc/<pid>/fd shows from
outside; after every error it must go on serving.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import (IMPLS, Driver, assert_active_conns, assert_send_lag,
                            assert_wake_latency, driver_path)

RPC_METRICS = {"throughput_per_s", "latency_ns", "fds_before", "fds_after"}
MIXED_METRICS = {"cycles_per_s", "sched_lat_p99_ns"}
DRIVER_METRICS = {"peak_rss_kib", "counters", "per_p_tasks_run"}


def open_fds(d: Driver) -> int:
    return len(os.listdir(f"/proc/{d.proc.pid}/fd"))


_started: set[int] = set()


def run(d: Driver, workload: str, params: dict, loops: int = 1) -> dict:
    """A run request; asserts that the driver's descriptors are the same
    after it as before, whether it succeeded or not."""
    if d.proc.pid not in _started:
        # An answer first: until the process is serving, the dynamic loader
        # (or a wrapping shell) holds descriptors of its own.
        assert d.request({"op": "hello"})["ok"] is True
        _started.add(d.proc.pid)
    before = open_fds(d)
    answer = d.request({"op": "run", "workload": workload, "params": params, "loops": loops})
    assert open_fds(d) == before, f"{workload} {params} leaked descriptors: {answer}"
    return answer


def assert_rpc_ok(answer: dict, ops: int) -> dict:
    assert answer["ok"] is True, answer
    assert answer["unit"] == "request"
    assert answer["ops"] == ops
    metrics = answer["metrics"]
    mode = answer["params"]["mode"]
    own = {"send_lag_ns"} if mode == "open" else {"same_p_share", "active_conns"}
    assert set(metrics) == RPC_METRICS | DRIVER_METRICS | own
    assert_send_lag(metrics, mode)
    if mode == "closed":
        assert 0 <= metrics["same_p_share"] <= 1
        assert_active_conns(metrics, answer["params"]["conns"])
    lat = metrics["latency_ns"]
    assert list(lat) == ["p50", "p90", "p99", "p999", "max"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]
    # the rate of the last loop (the metrics are the last loop's)
    last_ns = answer["per_loop_ns"][-1]
    per_loop_ops = ops // answer["loops"]
    assert metrics["throughput_per_s"] == pytest.approx(per_loop_ops * 1e9 / last_ns, rel=1e-9)
    assert metrics["fds_before"] > 0
    assert metrics["fds_after"] == metrics["fds_before"]
    assert metrics["counters"]["netpoll_wakeups"] > 0
    return metrics


def assert_error(answer: dict, *fragments: str) -> None:
    assert answer["ok"] is False, answer
    for fragment in fragments:
        assert fragment in answer["error"], (fragment, answer["error"])


def assert_serves(d: Driver) -> None:
    """The next request works, with nothing left over from a failed one."""
    answer = run(d, "rpc", {"conns": 4, "requests": 10})
    assert_rpc_ok(answer, 40)


def hard_file_limit() -> int:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return hard if hard != resource.RLIM_INFINITY else 1 << 30


# ---- closed loop ----------------------------------------------------------------------


@pytest.mark.parametrize("conns,requests", [(1, 300), (64, 30), (5000, 2)])
def test_rpc_closed_loop(driver, conns, requests):
    need = 2 * conns + 64
    if hard_file_limit() < need:
        pytest.skip(f"{conns} connections need {need} descriptors; the hard RLIMIT_NOFILE is "
                    f"{hard_file_limit()} (raise it with `ulimit -Hn {need}` as root)")
    answer = run(driver, "rpc", {"conns": conns, "requests": requests, "size": 100}, loops=2)
    assert_rpc_ok(answer, 2 * conns * requests)
    assert answer["params"]["mode"] == "closed"


def test_rpc_on_one_p_serves_every_reply_on_the_clients_p(driver):
    answer = driver.request({"op": "run", "workload": "rpc", "procs": 1,
                             "params": {"conns": 8, "requests": 64}})
    assert_rpc_ok(answer, 8 * 64)
    assert answer["metrics"]["same_p_share"] == 1.0


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs for two pinned Ps")
def test_tgo_runs_a_reader_on_the_p_where_its_data_came_in(driver_dir):
    """tgo wakes the reader of a TCP socket on the P pinned to the CPU the
    kernel received its data on (the writer's, on loopback), so a client and
    its server end up sharing a P, whichever P each started on; a steal
    parts them for one request at most."""
    with Driver(driver_path("tgo", driver_dir)) as d:
        answer = d.request({"op": "run", "workload": "rpc", "procs": 2,
                            "params": {"conns": 64, "requests": 2000}})
        assert_rpc_ok(answer, 64 * 2000)
        assert answer["metrics"]["same_p_share"] > 0.9, answer["metrics"]
        assert d.close() == 0, d.stderr


def test_rpc_large_messages_cross_many_reads_and_writes(driver):
    # 300 KB frames do not fit a loopback socket buffer: writers park on a
    # full buffer and readers assemble a frame from many reads.
    answer = run(driver, "rpc", {"conns": 3, "requests": 4, "size": 300_000})
    assert_rpc_ok(answer, 12)


def test_rpc_on_small_stacks(driver):
    answer = run(driver, "rpc", {"conns": 16, "requests": 20, "stack_size": 2048})
    assert_rpc_ok(answer, 320)


# ---- open loop ------------------------------------------------------------------------


def scheduled(conns: int, rate: int, duration_ms: int) -> list[int]:
    """Due times (ns from the start) of every request of an open loop, as the
    drivers schedule them: request k of connection c at (k*conns + c)/rate s."""
    due = []
    for c in range(conns):
        k = 0
        while (t := int((k * conns + c) / rate * 1e9)) < duration_ms * 1_000_000:
            due.append(t)
            k += 1
    return due


@pytest.mark.parametrize("conns,rate,duration_ms", [(8, 2000, 150), (7, 3000, 101)])
def test_rpc_open_loop_sends_every_scheduled_request(driver, conns, rate, duration_ms):
    due = scheduled(conns, rate, duration_ms)
    # Request n is due at n/rate: the schedule holds rate*duration requests,
    # give or take the one that floating point puts on either side of the end.
    assert abs(len(due) - rate * duration_ms / 1000) <= 1
    answer = run(driver, "rpc", {"conns": conns, "mode": "open", "rate": rate,
                                 "duration_ms": duration_ms, "size": 32})
    assert_rpc_ok(answer, len(due))
    # The loop ends at the last reply, which comes after the last request is due.
    assert answer["elapsed_ns"] >= max(due)
    # Latency runs from the due time, so it is at most the time from the
    # first due request to the end of the loop.
    assert answer["metrics"]["latency_ns"]["max"] <= answer["elapsed_ns"]


def test_rpc_open_loop_latency_counts_from_the_schedule(driver):
    # 50000 requests due within 5 ms on one connection: far more than it can
    # echo in that time, so they queue. The last reply comes long after the
    # last request was due, and its latency, counted from that due time,
    # must show the whole wait (the time it took to send is not the start).
    rate, duration_ms = 10_000_000, 5
    due = scheduled(1, rate, duration_ms)
    answer = run(driver, "rpc", {"conns": 1, "mode": "open", "rate": rate,
                                 "duration_ms": duration_ms, "size": 64})
    metrics = assert_rpc_ok(answer, len(due))
    backlog_ns = answer["elapsed_ns"] - max(due)
    assert backlog_ns > 0
    assert metrics["latency_ns"]["max"] >= 0.9 * backlog_ns


# ---- mixed ----------------------------------------------------------------------------


@pytest.mark.parametrize("params", [
    {"tasks": 8, "cycles": 20, "burst": 500, "sleep_us": 20},
    {"tasks": 3, "cycles": 5, "burst": 0, "sleep_us": 0},
    {"tasks": 16, "cycles": 4, "burst": 100, "sleep_us": 10, "stack_size": 2048},
])
def test_mixed(driver, params):
    answer = run(driver, "mixed", params, loops=2)
    assert answer["ok"] is True, answer
    assert answer["unit"] == "cycle"
    assert answer["ops"] == 2 * params["tasks"] * params["cycles"]
    metrics = answer["metrics"]
    assert set(metrics) == MIXED_METRICS | DRIVER_METRICS
    ops_per_loop = params["tasks"] * params["cycles"]
    assert metrics["cycles_per_s"] == pytest.approx(
        ops_per_loop * 1e9 / answer["per_loop_ns"][-1], rel=1e-9)
    assert_wake_latency(answer, params["sleep_us"])
    if params["sleep_us"]:
        assert metrics["counters"]["timer_wakeups"] >= 2 * ops_per_loop


def test_an_idle_p_waits_for_a_timer_due_within_its_spin_window_spinning(driver):
    # One P, one task sleeping 30 us a cycle: the idle P spins 20 us (the
    # default), then finds the timer 10 us away and spins on instead of
    # sleeping in epoll. A 300 us sleep is beyond the window: it parks, but
    # for a cycle where the host took the CPU away from the spinning P until
    # the timer was near (99 of 100 parked once while other work ran).
    def parks(sleep_us: int) -> int:
        answer = driver.request({"op": "run", "workload": "mixed", "procs": 1, "params": {
            "tasks": 1, "cycles": 100, "burst": 0, "sleep_us": sleep_us}})
        assert answer["ok"] is True, answer
        return answer["metrics"]["counters"]["parks"]

    assert parks(30) == 0
    assert parks(300) >= 90


# ---- failures -------------------------------------------------------------------------


def test_more_connections_than_descriptors_is_an_error(driver):
    answer = run(driver, "rpc", {"conns": 100000})
    assert_error(answer, "rpc: 100000 connections need 200016 descriptors", "the limit is",
                 "use conns <=", "RLIMIT_NOFILE")
    assert_serves(driver)
    answer = run(driver, "mixed", {"tasks": 100000})
    assert_error(answer, "mixed: 100000 tasks need 200016 descriptors", "use tasks <=")
    assert_serves(driver)


def test_buffers_beyond_the_memory_available_are_an_error(driver):
    """9000 connections of 1 MiB messages would touch 36 GB of buffers."""
    answer = run(driver, "rpc", {"conns": 9000, "size": 1 << 20, "requests": 1})
    if answer["ok"]:
        pytest.skip("this machine has the memory for 9000 connections of 1 MiB messages")
    assert_error(answer, "rpc: 9000 connections of 1048576-byte messages need about 36070 MiB "
                 "for their buffers", "MiB is available", "lower conns or size")
    assert_serves(driver)


# bash's `ulimit -n` sets both limits, so the driver cannot raise them; the
# extra descriptors it inherits make it run out while connecting, past the
# check of the limit against the connections asked for.
LIMITED = ('ulimit -n 200 && for fd in $(seq 10 49); do eval "exec $fd</dev/null"; done && '
           'exec "$0" "$1"')


@pytest.mark.parametrize("policy", IMPLS)
def test_running_out_of_descriptors_while_connecting(policy, driver_dir):
    with Driver(Path("/bin/bash"), "-c", LIMITED, str(driver_path(policy, driver_dir))) as d:
        for workload, params, fix in [("rpc", {"conns": 90, "requests": 3}, "use fewer conns"),
                                      ("rpc", {"conns": 90, "mode": "open", "rate": 1000,
                                               "duration_ms": 10}, "use fewer conns"),
                                      ("mixed", {"tasks": 90}, "use fewer tasks")]:
            answer = run(d, workload, params)
            assert_error(answer, f"{workload}: opening connection", "of 90", "EMFILE",
                         "out of file descriptors (limit 200)", fix, "RLIMIT_NOFILE")
            assert_serves(d)
        assert d.close() == 0, d.stderr


CORRUPTING_WRITE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
/* Flip the last byte of the CORRUPT_AT-th write(2) of 5 bytes or more to a
 * socket. */
static _Atomic long writes;
ssize_t write(int fd, const void *buf, size_t len)
{
    static ssize_t (*real)(int, const void *, size_t);
    if (!real)
        real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    const char *at = getenv("CORRUPT_AT");
    struct stat sb;
    if (!at || len < 5 || fstat(fd, &sb) != 0 || !S_ISSOCK(sb.st_mode) ||
        atomic_fetch_add(&writes, 1) != atol(at))
        return real(fd, buf, len);
    char *copy = malloc(len);   /* the heap: task stacks are small */
    memcpy(copy, buf, len);
    copy[len - 1] ^= 0x5a;
    ssize_t n = real(fd, copy, len);
    free(copy);
    return n;
}
"""


@pytest.fixture(scope="module")
def corrupting_write(tmp_path_factory) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the LD_PRELOAD library that corrupts a write")
    directory = tmp_path_factory.mktemp("corrupt")
    (directory / "corrupt.c").write_text(CORRUPTING_WRITE)
    lib = directory / "corrupt.so"
    # -z now: a lazily bound call would resolve on a task's stack, more
    # than the 2 KiB class holds (the drivers are linked the same way).
    subprocess.run([cc, "-shared", "-fPIC", "-O2", "-Wl,-z,now", "-o", str(lib),
                    str(directory / "corrupt.c"), "-ldl"], check=True, capture_output=True)
    return lib


@pytest.mark.parametrize("policy", IMPLS)
@pytest.mark.parametrize("workload,params,corrupt_at", [
    ("rpc", {"conns": 20, "requests": 10}, 0),      # a request: the server echoes it as sent
    ("rpc", {"conns": 20, "requests": 10}, 57),     # a reply, or a request, mid-run
    ("rpc", {"conns": 20, "requests": 10, "stack_size": 2048}, 33),
    ("rpc", {"conns": 20, "mode": "open", "rate": 4000, "duration_ms": 50}, 30),
    ("mixed", {"tasks": 20, "cycles": 5}, 41),
])
def test_a_corrupted_payload_is_an_error(policy, workload, params, corrupt_at, driver_dir,
                                         corrupting_write):
    env = dict(os.environ, LD_PRELOAD=str(corrupting_write), CORRUPT_AT=str(corrupt_at))
    with Driver(driver_path(policy, driver_dir), env=env) as d:
        answer = run(d, workload, params)
        assert_error(answer, f"{workload}: connection", "the reply differs from the request")
        # Every task stopped, every descriptor closed: the driver goes on.
        assert_serves(d)
        assert d.close() == 0, d.stderr


# ---- the same workload as the Go driver -----------------------------------------------


def test_params_match_the_go_driver(driver_dir):
    from tgobench import godriver
    from tgobench.errors import UserError

    try:
        go = godriver.build()
    except UserError as exc:
        pytest.skip(f"no Go driver: {exc}")
    hellos = {}
    for name, path in [("tgo", driver_path("tgo", driver_dir)), ("go", go.path)]:
        with Driver(path) as d:
            hellos[name] = d.request({"op": "hello"})["workloads"]
            assert d.close() == 0
    for workload in ("rpc", "mixed"):
        c, go_w = hellos["tgo"][workload], hellos["go"][workload]
        assert c["unit"] == go_w["unit"]
        c_params = {k: {f: v for f, v in spec.items() if f != "help"}
                    for k, spec in c["params"].items() if k != "stack_size"}
        go_params = {k: {f: v for f, v in spec.items() if f != "help"}
                     for k, spec in go_w["params"].items()}
        assert c_params == go_params, workload
