"""The driver client: finding drivers, the protocol, refusals and crashes.
Against the fake driver (tests/fixtures/fake_driver.py), and the real C
drivers where the placement's effect is checked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tgobench import drivers
from tgobench.drivers import DriverError, DriverProcess, ParamInfo
from tgobench.errors import UserError


@pytest.fixture
def fake(fake_driver_dir, monkeypatch):
    monkeypatch.setenv("TGOBENCH_DRIVER_DIR", str(fake_driver_dir))
    return fake_driver_dir / "tgobench-driver-tgo"


def test_hello_describes_the_driver(fake):
    with DriverProcess("tgo", fake) as driver:
        info = driver.hello()
    assert info.impl == "tgo" and info.protocol == 1 and info.version == "0.0.1"
    assert set(info.workloads) == {"spawn", "yield", "parked"}
    tasks = info.workloads["spawn"].params["tasks"]
    assert (tasks.type, tasks.default, tasks.min, tasks.max) == ("int", 1000, 1, 100000000)
    assert info.workloads["yield"].unit == "switch"


def test_run_returns_the_driver_time(fake):
    with DriverProcess("tgo", fake) as driver:
        answer = driver.run("spawn", {"tasks": 100}, loops=3, procs=1)
    assert answer.loops == 3 and answer.ops == 300 and answer.unit == "task"
    assert answer.elapsed_ns == sum(answer.per_loop_ns) and answer.procs == 1
    assert answer.params == {"tasks": 100, "stack_size": 65536}
    assert answer.seconds_per_op == pytest.approx(answer.elapsed_ns / 300 / 1e9)


def test_refusal_is_a_user_error_with_the_drivers_words(fake):
    with DriverProcess("tgo", fake) as driver:
        with pytest.raises(UserError, match="unknown parameter 'tsks' for spawn; known: tasks"):
            driver.run("spawn", {"tsks": 1}, loops=1)
        # the driver keeps serving after a refusal
        assert driver.run("spawn", {"tasks": 10}, loops=1).ops == 10


def test_crash_carries_exit_status_and_stderr(fake, monkeypatch):
    monkeypatch.setenv("TGOBENCH_FAKE_DIE", "spawn:2:7")
    with DriverProcess("tgo", fake) as driver:
        driver.run("spawn", {"tasks": 10}, loops=1)
        with pytest.raises(DriverError) as info:
            driver.run("spawn", {"tasks": 10}, loops=1)
    assert info.value.status == 7
    assert "dying at run 2 of spawn" in info.value.stderr_tail
    assert "died while running run 'spawn' (exit status 7)" in str(info.value)


def test_killed_driver_names_the_signal(fake, monkeypatch):
    monkeypatch.setenv("TGOBENCH_FAKE_DIE", "spawn:1:kill")
    with DriverProcess("tgo", fake) as driver:
        with pytest.raises(DriverError, match="killed by SIGKILL") as info:
            driver.run("spawn", {"tasks": 10}, loops=1)
    assert info.value.status == -9


def test_hung_driver_times_out_and_is_killed(fake, monkeypatch):
    monkeypatch.setenv("TGOBENCH_FAKE_DIE", "spawn:1:hang")
    driver = DriverProcess("tgo", fake)
    with pytest.raises(DriverError, match="did not answer run 'spawn' within 0.5 s; it was killed"):
        driver.run("spawn", {"tasks": 10}, loops=1, timeout=0.5)
    assert driver.close() == -9


def test_garbage_answer_is_a_driver_error(fake, monkeypatch):
    monkeypatch.setenv("TGOBENCH_FAKE_DIE", "spawn:1:garbage")
    with DriverProcess("tgo", fake) as driver:
        with pytest.raises(DriverError, match="not JSON"):
            driver.run("spawn", {"tasks": 10}, loops=1)


def test_close_ends_the_driver_cleanly(fake):
    driver = DriverProcess("tgo", fake)
    driver.hello()
    assert driver.close() == 0


def test_missing_executable_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot start the tgo driver"):
        DriverProcess("tgo", tmp_path / "nothing-here")


def test_other_protocol_version_is_refused(tmp_path):
    script = tmp_path / "old-driver"
    script.write_text(f"#!{sys.executable}\nimport sys, json\nfor line in sys.stdin:\n"
                      "    print(json.dumps({'ok': True, 'impl': 'old', 'protocol': 0}), flush=True)\n")
    script.chmod(0o755)
    with pytest.raises(UserError, match="speaks protocol 0; tgobench speaks 1"):
        drivers.hello("old", script)


def test_prefix_places_the_driver(fake):
    if shutil.which("taskset") is None:
        pytest.skip("taskset is not installed")
    with DriverProcess("tgo", fake, prefix=("taskset", "-c", "0")) as driver:
        info = driver.hello()
        answer = driver.run("spawn", {"tasks": 10}, loops=1)
    assert driver.command[:3] == ["taskset", "-c", "0"]
    assert info.raw["affinity"] == [0] and info.procs == 1
    assert answer.metrics["affinity"] == [0]


def test_real_driver_under_taskset_defaults_to_one_p(driver_dir):
    if shutil.which("taskset") is None:
        pytest.skip("taskset is not installed")
    with DriverProcess("tgo", driver_dir / "tgobench-driver-tgo", ("taskset", "-c", "0")) as driver:
        info = driver.hello()
        answer = driver.run("spawn", {"tasks": 1000}, loops=1)
    assert info.procs == 1 and answer.procs == 1
    assert len(answer.metrics["per_p_tasks_run"]) == 1


def test_find_driver_order(fake_driver_dir, tmp_path, monkeypatch):
    explicit = tmp_path / "mine"
    explicit.symlink_to(fake_driver_dir / "tgobench-driver-tgo")
    assert drivers.find_driver("tgo", explicit) == explicit
    monkeypatch.setenv("TGOBENCH_DRIVER_DIR", str(fake_driver_dir))
    assert drivers.find_driver("gmp") == fake_driver_dir / "tgobench-driver-gmp"
    on_path = tmp_path / "bin"
    on_path.mkdir()
    (on_path / "tgobench-driver-other").symlink_to(fake_driver_dir / "tgobench-driver-tgo")
    monkeypatch.setenv("PATH", f"{on_path}{os.pathsep}{os.environ['PATH']}")
    assert drivers.find_driver("other") == on_path / "tgobench-driver-other"


def test_missing_driver_says_where_it_looked_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TGOBENCH_DRIVER_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError) as info:
        drivers.find_driver("nosuch")
    assert "no driver tgobench-driver-nosuch" in str(info.value) and str(tmp_path) in str(info.value)
    assert "--impl nosuch=/path/to/driver" in info.value.fix


def test_provider_makes_a_driver_on_demand(fake_driver_dir, monkeypatch):
    module = type(sys)("fake_provider")
    module.driver_path = lambda: fake_driver_dir / "tgobench-driver-gmp"
    monkeypatch.setitem(sys.modules, "fake_provider", module)
    monkeypatch.setitem(drivers.PROVIDERS, "built", "fake_provider:driver_path")
    assert drivers.find_driver("built") == fake_driver_dir / "tgobench-driver-gmp"
    assert "built" in drivers.known_impls()


def test_parse_impls(fake_driver_dir):
    path = fake_driver_dir / "tgobench-driver-tgo"
    assert drivers.parse_impls("tgo, gmp") == {"tgo": None, "gmp": None}
    assert drivers.parse_impls(f"tgo,mine={path}") == {"tgo": None, "mine": path.resolve()}
    with pytest.raises(UserError, match="not an executable file"):
        drivers.parse_impls("mine=/nonexistent/driver")
    with pytest.raises(UserError, match="names no implementation"):
        drivers.parse_impls(" , ")


def test_param_conversion_and_checks():
    tasks = ParamInfo("tasks", "int", 1000, 1, 100)
    assert tasks.convert("50") == 50 and tasks.convert("1e2") == 100
    with pytest.raises(ValueError, match="not a int"):
        tasks.convert("1.5")
    assert tasks.problem(50) is None
    assert tasks.problem(101) == "tasks=101 is out of range 1..100"
    assert tasks.problem(True) == "tasks must be int, got True"
    mode = ParamInfo("mode", "str", "closed", choices=("closed", "open"))
    assert mode.problem("half") == "mode must be one of closed, open, got 'half'"
    flag = ParamInfo("flag", "bool", False)
    assert flag.convert("yes") is True and flag.convert("0") is False


def test_list_workloads_cli(fake_driver_dir):
    env = dict(os.environ, TGOBENCH_DRIVER_DIR=str(fake_driver_dir))
    proc = subprocess.run([sys.executable, "-c", "from tgobench.cli import app; app()", "list",
                           "workloads", "--impl", "tgo,gmp,nosuch"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "spawn  (per task; tgo, gmp)" in proc.stdout
    assert "not available: nosuch" in proc.stdout
    assert "tasks" in proc.stdout and "default 1000" in proc.stdout


def test_hello_all_reports_missing_drivers(fake_driver_dir, monkeypatch):
    monkeypatch.setenv("TGOBENCH_DRIVER_DIR", str(fake_driver_dir))
    infos, notices = drivers.hello_all({"tgo": None, "nosuch": None})
    assert list(infos) == ["tgo"] and len(notices) == 1 and notices[0].startswith("nosuch: ")
    assert json.dumps(infos["tgo"].raw)  # plain data


def test_build_names_compiler_and_flags():
    answer = {"ok": True, "impl": "go", "protocol": 1, "compiler": "go1.27", "workloads": {},
              "build_flags": "-trimpath CGO_ENABLED=0"}
    assert drivers.DriverInfo.from_hello(answer, "go").build == "go1.27 [-trimpath CGO_ENABLED=0]"
    del answer["build_flags"]
    assert drivers.DriverInfo.from_hello(answer, "go").build == "go1.27"


def _scripted_driver(tmp_path, hello_answer: dict, run_answer: dict | None = None):
    """A driver that answers every hello with `hello_answer` and every run
    with `run_answer`."""
    script = tmp_path / "scripted-driver"
    script.write_text(f"#!{sys.executable}\nimport json, sys\n"
                      f"HELLO, RUN = {json.dumps(hello_answer)!r}, {json.dumps(run_answer)!r}\n"
                      "for line in sys.stdin:\n"
                      "    op = json.loads(line)['op']\n"
                      "    print(HELLO if op == 'hello' else RUN, flush=True)\n")
    script.chmod(0o755)
    return script


ECHO_HELLO = {"ok": True, "protocol": 1, "impl": "mine", "version": "1", "procs": 2,
              "workloads": {"echo": {"unit": "op", "params": {}}}}
ECHO_RUN = {"ok": True, "workload": "echo", "elapsed_ns": 1000, "loops": 1, "ops": 10, "metrics": {}}


@pytest.mark.parametrize("change, problem", [
    ({"workloads": {"echo": "oops"}}, "workload 'echo' described as 'oops', not an object"),
    ({"workloads": ["echo"]}, "workloads ['echo'], not an object"),
    ({"procs": "two"}, "procs 'two', not a whole number"),
    ({"workloads": {"echo": {"unit": 5}}}, "workload 'echo' whose unit is 5, not text"),
    ({"workloads": {"echo": {"params": {"n": {"type": "number"}}}}},
     "parameter 'n' of workload 'echo' of type 'number'; types are int, float, bool, str"),
    ({"workloads": {"echo": {"params": {"n": {"type": "int", "min": "1"}}}}},
     "parameter 'n' of workload 'echo' whose min is '1', not a number"),
    ({"workloads": {"echo": {"params": {"m": {"choices": "ab"}}}}},
     "parameter 'm' of workload 'echo' whose choices are 'ab', not a list of text")])
def test_malformed_hello_is_a_driver_error_naming_the_field(tmp_path, change, problem):
    script = _scripted_driver(tmp_path, dict(ECHO_HELLO, **change))
    with pytest.raises(DriverError) as info:
        drivers.hello("mine", script)
    assert str(info.value) == f"the mine driver answered 'hello' with {problem}"


def test_list_workloads_of_a_driver_with_a_malformed_hello_exits_2(tmp_path):
    script = _scripted_driver(tmp_path, dict(ECHO_HELLO, workloads={"echo": "oops"}))
    proc = subprocess.run([sys.executable, "-c", "from tgobench.cli import app; app()", "list",
                           "workloads", "--impl", f"mine={script}"],
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "not available: mine: the mine driver answered 'hello' with workload 'echo'" in proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("change, problem", [
    ({"metrics": {"ratio": float("nan")}},
     "with metrics a result file cannot hold: metric ratio is not made of finite numbers: nan"),
    ({"metrics": {"latency_ns": {"p99": float("inf")}}},
     "metric latency_ns is not made of finite numbers"),
    ({"metrics": {"counters": {"steals": 3}}}, "metric counters is not an object of numbers"),
    ({"metrics": [1]}, "with metrics that are not an object: [1]"),
    ({"elapsed_ns": 10**30}, "a time per op too large to be a measurement"),
    ({"elapsed_ns": 10**400}, "a time per op too large to be a measurement"),
    ({"elapsed_ns": float("inf")}, "without a valid")])
def test_run_answer_a_result_file_could_not_hold_is_a_driver_error(tmp_path, change, problem):
    # stored as it is, one such value would make the whole result file unreadable
    script = _scripted_driver(tmp_path, ECHO_HELLO, dict(ECHO_RUN, **change))
    with DriverProcess("mine", script) as driver:
        with pytest.raises(DriverError) as info:
            driver.run("echo", {}, loops=1)
    assert str(info.value).startswith("the mine driver answered run 'echo' ")
    assert problem in str(info.value)
