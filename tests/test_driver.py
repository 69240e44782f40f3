"""The C drivers (tgobench/native/driver/): the JSON-lines protocol (hello,
run, topology, errors that keep the driver serving) and the one-shot command
line, for both policies."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tgobench
from tgobench import placement
from tests.conftest import IMPLS, WORKLOAD_SPECS, Driver, driver_path, fib

CPU_WORKLOADS = {"spawn", "spawn-tree", "yield", "chan", "fib", "skew", "parked"}


# Small parameters per workload, and the operations one loop must count.
SMALL = {
    "spawn": ({"tasks": 1000}, 1000),
    "spawn-tree": ({"fanout": 3, "depth": 4}, 1 + 3 + 9 + 27 + 81),
    "yield": ({"tasks": 4, "yields": 500}, 4 * 500),
    "chan": ({"rounds": 500}, 500),
    "fib": ({"n": 12}, 2 * fib(13) - 1),
    "skew": ({"tasks": 200, "units": 50}, 200),
    "parked": ({"tasks": 1000}, 1000),
    "stress": ({"seed": 7, "tasks": 300, "chans": 4}, 300),
    "rpc": ({"conns": 2, "requests": 20, "size": 64, "mode": "closed"}, 40),
    "mixed": ({"tasks": 2, "cycles": 3, "burst": 100, "sleep_us": 10}, 6),
}

COUNTERS = {"tasks_spawned", "tasks_run", "switches", "steals", "steal_attempts",
            "shared_takes", "shared_puts", "parks", "wakeups", "netpoll_wakeups",
            "timer_wakeups", "sched_lat_samples", "sched_lat_p50_ns", "sched_lat_p99_ns",
            "sched_lat_max_ns"}
STEAL_LEVELS = ["smt", "l2", "llc", "node", "remote"]

SMALL_SPAWN = {"op": "run", "workload": "spawn", "params": {"tasks": 10}}


@pytest.fixture(scope="module")
def hellos(driver_dir) -> dict[str, dict]:
    answers = {}
    for impl in IMPLS:
        with Driver(driver_path(impl, driver_dir)) as d:
            answers[impl] = d.request({"op": "hello"})
            assert d.close() == 0
    return answers


def assert_works(d: Driver) -> None:
    """The driver still serves after whatever it was sent."""
    answer = d.request(SMALL_SPAWN)
    assert answer["ok"] is True, answer
    assert answer["ops"] == 10


def assert_error(answer: dict, *fragments: str) -> None:
    assert answer["ok"] is False, answer
    assert set(answer) == {"ok", "error"}
    for fragment in fragments:
        assert fragment in answer["error"], answer["error"]


# ---- hello -----------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
def test_hello_describes_the_driver(hellos, impl):
    hello = hellos[impl]
    assert hello["ok"] is True
    assert hello["impl"] == impl
    assert hello["version"] == tgobench.__version__
    assert hello["protocol"] == 1
    assert isinstance(hello["procs"], int) and hello["procs"] >= 1
    assert hello["compiler"].startswith(("gcc", "clang"))
    assert CPU_WORKLOADS <= set(hello["workloads"]) <= set(WORKLOAD_SPECS)


@pytest.mark.parametrize("impl", IMPLS)
def test_hello_workload_specs_follow_the_specs(hellos, impl):
    for name, desc in hellos[impl]["workloads"].items():
        unit, spec_params = WORKLOAD_SPECS[name]
        assert desc["unit"] == unit, name
        assert desc["help"], name
        params = desc["params"]
        assert set(params) == set(spec_params) | {"stack_size"}, name
        for pname, (default, lo, hi) in spec_params.items():
            spec = params[pname]
            assert spec["default"] == default, (name, pname)
            if lo is not None:
                assert (spec["min"], spec["max"]) == (lo, hi), (name, pname)
            assert spec["help"], (name, pname)
            if spec["type"] == "str":
                assert spec["default"] in spec["choices"]
            else:
                assert spec["type"] in ("int", "float", "bool")
                if spec["type"] != "bool":
                    assert spec["min"] <= spec["default"] <= spec["max"]
        assert params["stack_size"] == {
            "type": "int", "default": 65536, "min": 2048, "max": 64 * 1024 * 1024,
            "help": params["stack_size"]["help"]}


@pytest.mark.parametrize("impl", IMPLS)
def test_hello_topology_is_the_topology_op_on_sys(hellos, impl, driver_dir):
    topo = hellos[impl]["topology"]
    n = topo["cpus"]
    assert n >= 1 and 1 <= topo["nodes"] <= n
    assert len(topo["node_of"]) == n and len(topo["levels"]) == n
    for a in range(n):
        assert topo["levels"][a][a] == -1
        assert all(-1 <= level <= 4 for level in topo["levels"][a])
    with Driver(driver_path(impl, driver_dir)) as d:
        answer = d.request({"op": "topology", "sysfs_root": "/sys"})
        assert d.close() == 0
    assert answer.pop("ok") is True
    assert answer == topo


# ---- run -------------------------------------------------------------------


def test_every_workload_has_small_params(hellos):
    missing = set(hellos["tgo"]["workloads"]) - set(SMALL)
    assert not missing, f"add small test params for {missing} to SMALL"


@pytest.mark.parametrize("workload", sorted(SMALL))
def test_run_each_workload(driver, hellos, workload):
    impl = driver.path.name.rsplit("-", 1)[1]
    desc = hellos[impl]["workloads"].get(workload)
    if desc is None:
        pytest.skip(f"{workload} is not in this driver's registry")
    params, ops_per_loop = SMALL[workload]
    answer = driver.request({"op": "run", "workload": workload, "params": params, "loops": 2})
    assert answer["ok"] is True, answer
    assert answer["workload"] == workload
    assert answer["unit"] == desc["unit"]
    assert answer["loops"] == 2
    assert answer["ops"] == 2 * ops_per_loop
    assert answer["procs"] == hellos[impl]["procs"]
    defaults = {name: spec["default"] for name, spec in desc["params"].items()}
    assert answer["params"] == {**defaults, **params}
    assert len(answer["per_loop_ns"]) == 2
    assert all(ns > 0 for ns in answer["per_loop_ns"])
    assert sum(answer["per_loop_ns"]) == answer["elapsed_ns"]

    metrics = answer["metrics"]
    assert metrics["peak_rss_kib"] > 0
    counters = metrics["counters"]
    assert set(counters) == COUNTERS
    assert list(counters["steals"]) == STEAL_LEVELS
    flat = [v for k, v in counters.items() if k != "steals"] + list(counters["steals"].values())
    assert all(isinstance(v, int) and v >= 0 for v in flat)
    per_p = metrics["per_p_tasks_run"]
    assert len(per_p) == answer["procs"]
    assert sum(per_p) == counters["tasks_run"]
    if workload in ("spawn", "spawn-tree", "fib", "skew", "parked", "stress"):
        assert counters["tasks_spawned"] >= answer["ops"]
    if workload == "fib":
        assert metrics["result"] == fib(params["n"])
    if workload == "skew":
        assert metrics["balance"] >= 1.0
    if workload == "parked":
        assert metrics["rss_kib_per_task"] > 0
    if workload == "rpc":
        lat = metrics["latency_ns"]
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]
        assert metrics["throughput_per_s"] > 0
        assert metrics["fds_after"] == metrics["fds_before"]


def test_run_with_small_stacks_and_fewer_procs(driver):
    answer = driver.request({"op": "run", "workload": "spawn", "procs": 1, "loops": 3,
                             "params": {"tasks": 2000, "stack_size": 2048}})
    assert answer["ok"] is True, answer
    assert answer["procs"] == 1
    assert answer["params"] == {"tasks": 2000, "stack_size": 2048}
    assert answer["ops"] == 6000
    assert len(answer["metrics"]["per_p_tasks_run"]) == 1


def test_peak_rss_is_the_runs_own(driver):
    big = driver.request({"op": "run", "workload": "parked", "params": {"tasks": 20000}})
    small = driver.request({"op": "run", "workload": "spawn", "params": {"tasks": 10}})
    assert big["ok"] and small["ok"]
    # The peak is reset before each run, so a small run after a big one
    # does not inherit the big one's peak.
    assert small["metrics"]["peak_rss_kib"] < big["metrics"]["peak_rss_kib"] / 2


def test_integral_float_is_an_integer(driver):
    answer = driver.request({"op": "run", "workload": "spawn", "params": {"tasks": 1e3},
                             "loops": 1.0})
    assert answer["ok"] is True, answer
    assert answer["params"]["tasks"] == 1000 and isinstance(answer["params"]["tasks"], int)


def test_failed_loop_is_an_error_and_the_driver_goes_on(driver):
    # More than 1e8 nodes: the workload refuses; the answer says why.
    answer = driver.request({"op": "run", "workload": "spawn-tree",
                             "params": {"fanout": 64, "depth": 30}})
    assert_error(answer, "spawn-tree", "1e8", "loop 1 of 1")
    assert_works(driver)


# ---- bad input ---------------------------------------------------------------


def run(params=None, **extra) -> str:
    request = {"op": "run", "workload": "spawn", **extra}
    if params is not None:
        request["params"] = params
    return json.dumps(request)


BAD_LINES = {
    "not json": ("hello there", ["not JSON", "column 1"]),
    "empty line": ("", ["not JSON"]),
    "truncated": ('{"op": "hello"', ["not JSON", "column 15"]),
    "trailing comma": ('{"op": "hello",}', ["not JSON"]),
    "too deep": ("[" * 1000, ["not JSON", "nesting"]),
    "lone surrogate": ('{"op": "\\ud800"}', ["not JSON", "surrogate"]),
    "duplicate key": ('{"op": "hello", "op": "run"}', ["duplicate key 'op'"]),
    "array": ("[1, 2]", ["JSON object", "an array"]),
    "string": ('"hello"', ["JSON object", "a string"]),
    "number": ("42", ["JSON object"]),
    "no op": ("{}", ['"op"', "hello, run, topology"]),
    "op not a string": ('{"op": 3}', ['"op"']),
    "unknown op": ('{"op": "frobnicate"}', ["unknown op 'frobnicate'", "hello, run, topology"]),
    "hello extra key": ('{"op": "hello", "verbose": true}', ["unknown key 'verbose'"]),
    "no workload": ('{"op": "run"}', ['"workload"', "spawn"]),
    "unknown workload": (json.dumps({"op": "run", "workload": "spwan"}),
                         ["unknown workload 'spwan'", "known: spawn, "]),
    "unknown request key": (run({}, loop=3), ["unknown key 'loop'", "loops"]),
    "params not an object": (run([1000]), ['"params" must be an object', "an array"]),
    "unknown param": (run({"taks": 10}), ["unknown parameter 'taks'", "known: tasks, stack_size"]),
    "string for int": (run({"tasks": "1000"}), ["tasks of spawn must be an integer",
                                                 "the string '1000'"]),
    "float for int": (run({"tasks": 1.5}), ["tasks of spawn must be an integer", "1.5"]),
    "bool for int": (run({"tasks": True}), ["must be an integer", "got true"]),
    "null for int": (run({"tasks": None}), ["must be an integer", "got null"]),
    "negative size": (run({"tasks": -5}), ["tasks of spawn is -5", "1..100000000"]),
    "zero size": (run({"tasks": 0}), ["out of range", "1..100000000"]),
    "absurd size": (run({"tasks": 10**12}), ["out of range", "1..100000000"]),
    "beyond int64": (run({"tasks": 10**30}), ["out of range"]),
    "huge float": (run({"tasks": 1e300}), ["out of range"]),
    "loops 0": (run({}, loops=0), ["loops is 0", "1..1000000"]),
    "loops negative": (run({}, loops=-1), ["loops is -1"]),
    "loops fraction": (run({}, loops=2.5), ["loops must be an integer"]),
    "loops string": (run({}, loops="3"), ["loops must be an integer"]),
    "loops absurd": (run({}, loops=10**7), ["loops is 10000000", "1..1000000"]),
    "procs 0": (run({}, procs=0), ["procs is 0", "1..256"]),
    "procs absurd": (run({}, procs=100000), ["procs is 100000", "1..256"]),
    "stack_size 3000": (run({"stack_size": 3000}), ["stack_size 3000", "multiple of 4096"]),
    "stack_size tiny": (run({"stack_size": 1024}), ["stack_size is 1024", "2048..67108864"]),
    "stack_size huge": (run({"stack_size": 2**30}), ["out of range", "2048..67108864"]),
    "fanout range": (json.dumps({"op": "run", "workload": "spawn-tree",
                                 "params": {"fanout": 65}}), ["fanout of spawn-tree is 65",
                                                              "1..64"]),
    "topology without root": ('{"op": "topology"}', ['"sysfs_root"']),
    "topology of nothing": ('{"op": "topology", "sysfs_root": "/nonexistent/sysfs"}',
                            ["/nonexistent/sysfs"]),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_input_gets_an_error_and_the_driver_goes_on(driver, case):
    line, fragments = BAD_LINES[case]
    assert_error(driver.request_line(line), *fragments)
    assert_works(driver)


def test_overlong_line_is_refused_without_buffering(driver):
    line = json.dumps({"op": "hello", "pad": "x" * (1 << 20)})
    assert_error(driver.request_line(line), "longer than 1048576 bytes")
    assert_works(driver)


@pytest.mark.parametrize("impl", IMPLS)
def test_one_answer_line_per_input_line(driver_dir, impl):
    lines = [b'{"op":"hello"}', b"", b"\xff\xfe not utf-8", b'{"op":"run","workload":"spawn",'
             b'"params":{"tasks":5}}\r', b'"\xc3\x28"', b"\x00", b"   ", b'{"op":"hello"}']
    proc = subprocess.run([str(driver_path(impl, driver_dir))], input=b"\n".join(lines),
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    answers = [json.loads(out) for out in proc.stdout.decode().splitlines()]
    assert [a["ok"] for a in answers] == [True, False, False, True, False, False, False, True]
    assert "byte 0xff" in answers[2]["error"] and "UTF-8" in answers[4]["error"]
    assert answers[3]["ops"] == 5


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["op", "workload", "params", "loops", "procs", "tasks",
                                       "stack_size", "x"]), children, max_size=4),
    max_leaves=12)
# what a client may send: raw lines (any text but a line break or a lone
# surrogate, which no UTF-8 pipe carries) and JSON values
protocol_inputs = st.lists(
    st.one_of(st.text(alphabet=st.characters(blacklist_characters="\n\r",
                                              blacklist_categories=("Cs",)),
                      max_size=40).map(lambda s: ("raw", s)),
              json_values.map(lambda v: ("json", v))),
    max_size=12)


def assert_each_input_answered(d: Driver, inputs: list, impl: str) -> None:
    """One answer per input, an error object when not ok; the driver still
    serves and exits cleanly."""
    for kind, value in inputs:
        answer = d.request_line(value) if kind == "raw" else d.request(value)
        assert isinstance(answer["ok"], bool)
        if not answer["ok"]:
            assert isinstance(answer["error"], str) and answer["error"]
    assert d.request({"op": "hello"})["impl"] == impl
    assert d.close() == 0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(protocol_inputs)
def test_any_input_gets_one_answer_and_the_driver_goes_on(driver_dir, inputs):
    with Driver(driver_path("tgo", driver_dir)) as d:
        assert_each_input_answered(d, inputs, "tgo")


# ---- one-shot command line -----------------------------------------------------


def cli(impl, driver_dir, *args, stdin=""):
    return subprocess.run([str(driver_path(impl, driver_dir)), *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("impl", IMPLS)
def test_cli_run_prints_the_answer(driver_dir, impl):
    proc = cli(impl, driver_dir, "--procs", "1", "run", "spawn", "--tasks", "300", "--loops", "2",
               "--stack-size=2048")
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    answer = json.loads(line)
    assert answer["ok"] is True
    assert (answer["ops"], answer["loops"], answer["procs"]) == (600, 2, 1)
    assert answer["params"] == {"tasks": 300, "stack_size": 2048}


@pytest.mark.parametrize("impl", IMPLS)
def test_cli_failed_run_exits_1_with_the_error_line(driver_dir, impl):
    proc = cli(impl, driver_dir, "run", "spawn-tree", "--fanout", "64", "--depth", "30")
    assert proc.returncode == 1
    answer = json.loads(proc.stdout)
    assert answer["ok"] is False and "1e8" in answer["error"]


@pytest.mark.parametrize("args, fragment", [
    (["run", "spwan"], "unknown workload 'spwan'"),
    (["run"], "workload name"),
    (["run", "spawn", "--taks", "5"], "unknown option '--taks'"),
    (["run", "spawn", "--tasks"], "needs a value"),
    (["run", "spawn", "--tasks", "abc"], "must be an integer"),
    (["run", "spawn", "--tasks", "0"], "1..100000000"),
    (["run", "spawn", "--stack-size", "3000"], "multiple of 4096"),
    (["run", "spawn", "--loops", "0"], "loops is 0"),
    (["run", "spawn", "1000"], "unexpected argument '1000'"),
    (["--procs", "0", "hello"], "--procs must be an integer in 1..256"),
    (["--bogus"], "unknown option '--bogus'"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["hello", "extra"], "hello takes no arguments"),
])
def test_cli_usage_errors_exit_2(driver_dir, args, fragment):
    proc = cli("tgo", driver_dir, *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert fragment in proc.stderr


@pytest.mark.parametrize("impl", IMPLS)
def test_cli_hello_is_the_protocol_hello(driver_dir, hellos, impl):
    proc = cli(impl, driver_dir, "hello")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == hellos[impl]


def test_cli_help(driver_dir):
    proc = cli("tgo", driver_dir, "--help")
    assert proc.returncode == 0
    assert "run WORKLOAD" in proc.stdout and "spawn-tree" in proc.stdout
    proc = cli("tgo", driver_dir, "run", "spawn", "--help")
    assert proc.returncode == 0
    assert "--tasks" in proc.stdout and "--stack-size" in proc.stdout


def test_cli_procs_sets_hello_procs(driver_dir):
    proc = cli("gmp", driver_dir, "--procs", "3", "hello")
    assert json.loads(proc.stdout)["procs"] == 3


def test_cli_serve_at_eof_exits_0_silently(driver_dir):
    proc = cli("tgo", driver_dir, "serve")
    assert (proc.returncode, proc.stdout) == (0, "")


# ---- workers -----------------------------------------------------------------------


def thread_masks(pid: int) -> list[set[int]]:
    masks = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        status = (task / "status").read_text()
        cpus = next(line.split(":")[1].strip() for line in status.splitlines()
                    if line.startswith("Cpus_allowed_list"))
        masks.append(set(placement.parse_cpulist(cpus)))
    return masks


def worker_masks(impl: str, driver_dir, procs: int, env: dict) -> list[set[int]]:
    """The CPU masks of a driver's threads while a run is under way: once its
    main thread and `procs` workers exist, and once each worker has pinned
    itself, or a second later when they do not (the open loop lasts 3 s from
    the workers' start; a loaded machine may be slow to start them)."""
    cmd = [str(driver_path(impl, driver_dir)), "--procs", str(procs), "run", "rpc", "--mode",
           "open", "--conns", "2", "--rate", "200", "--duration-ms", "3000"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env) as proc:
        deadline = time.monotonic() + 20.0
        while len(thread_masks(proc.pid)) < procs + 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        settled = time.monotonic() + 1.0
        while (sum(len(m) == 1 for m in thread_masks(proc.pid)) < procs
               and time.monotonic() < settled):
            time.sleep(0.02)
        masks = thread_masks(proc.pid)
        assert proc.wait(timeout=60) == 0
    assert len(masks) >= procs + 1, masks
    return masks


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning to one CPU changes nothing")
@pytest.mark.parametrize("impl, env, pinned", [
    ("tgo", {}, True),
    ("tgo", {"TGOBENCH_PIN": "0"}, False),
    ("gmp", {}, False),
])
def test_tgo_pins_one_worker_per_cpu_unless_told_not_to(driver_dir, impl, env, pinned):
    allowed = os.sched_getaffinity(0)
    masks = worker_masks(impl, driver_dir, len(allowed), {**os.environ, **env})
    singles = [m for m in masks if len(m) == 1]
    if pinned:
        # one worker on each CPU of the mask (procs defaults to its size)
        assert sorted(min(m) for m in singles) == sorted(allowed), masks
    else:
        assert singles == [] and all(m == allowed for m in masks), masks


# ---- sanitizers -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("impl", IMPLS)
def test_bad_input_under_asan(sanitizer_build, impl):
    directory = sanitizer_build("asan")
    with Driver(driver_path(impl, directory)) as d:
        for case in sorted(BAD_LINES):
            line, fragments = BAD_LINES[case]
            assert_error(d.request_line(line), *fragments)
        assert_works(d)
        assert d.close() == 0, d.stderr
    assert "Sanitizer" not in d.stderr and "runtime error" not in d.stderr, d.stderr
