"""`tgobench run`: planning refuses before anything runs; measuring writes
each finished benchmark; a driver that dies leaves a valid file; the end
table. Mostly against the fake driver, end to end against the real ones."""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tgobench import results, runner
from tgobench.compare import format_value
from tgobench.errors import UserError
from tgobench.results import BenchmarkId
from tgobench.runner import RunRequest
from tgobench.stats import RatioInterval, hodges_lehmann_ratio
from tests.conftest import TGOBENCH_COMMAND, run_tgobench, tgobench_env

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Few, short pyperf processes: these tests check behaviour, not numbers.
FAST = ["--processes", "2", "--values", "2"]

TWO_WORKLOADS = """
threshold = 0.2
impls = ["tgo", "gmp"]
[pyperf]
processes = 2
values = 2
min_time = 0.001
[[benchmark]]
workload = "spawn"
params = { tasks = 200 }
[[benchmark]]
workload = "yield"
params = { tasks = 2, yields = 50 }
impls = ["tgo"]
"""


@pytest.fixture
def fake_env(fake_driver_dir, monkeypatch):
    monkeypatch.setenv("TGOBENCH_DRIVER_DIR", str(fake_driver_dir))
    monkeypatch.delenv("TGOBENCH_FAKE_DIE", raising=False)
    return fake_driver_dir


@pytest.fixture
def suite_file(tmp_path) -> Path:
    path = tmp_path / "two.toml"
    path.write_text(TWO_WORKLOADS)
    return path


cli = run_tgobench  # the real CLI, importing the same tgobench as this test, from any cwd


class Recorder:
    """A reporter that records events and can interrupt the run."""

    def __init__(self, interrupt_at: int | None = None):
        self.events: list[tuple] = []
        self.interrupt_at = interrupt_at

    def planned(self, plan):
        self.events.append(("planned", len(plan.benchmarks)))

    def started(self, index, bench):
        if index == self.interrupt_at:
            raise KeyboardInterrupt
        self.events.append(("started", index, bench.id.name))

    def process_done(self, index):
        self.events.append(("process", index))

    def finished(self, index, bench, error):
        self.events.append(("finished", index, error))

    def done(self, outcome):
        self.events.append(("done",))


def test_plan_names_benchmarks_and_places_them(fake_env, suite_file, tmp_path):
    plan = runner.plan(RunRequest(suite=str(suite_file), output=tmp_path / "r.json"))
    procs = len(os.sched_getaffinity(0))
    assert [b.id.name for b in plan.benchmarks] == [
        f"spawn[tasks=200] tgo all p{procs}", f"spawn[tasks=200] gmp all p{procs}",
        f"yield[tasks=2,yields=50] tgo all p{procs}"]
    assert all(b.placement.prefix == () for b in plan.benchmarks)
    assert plan.benchmarks[0].threshold == 0.2
    assert not (tmp_path / "r.json").exists()  # planning writes nothing


def test_plan_applies_placement_and_procs(fake_env, suite_file, tmp_path):
    if not (shutil.which("numactl") and shutil.which("taskset")):
        pytest.skip("numactl and taskset are needed")
    plan = runner.plan(RunRequest(suite=str(suite_file), cpus=["0"], numa=["node0"], procs=[1],
                                  output=tmp_path / "r.json"))
    spawn = [b for b in plan.benchmarks if b.id.workload == "spawn" and b.id.impl == "tgo"]
    assert [(b.id.placement, b.placement.prefix, b.procs) for b in spawn] == [
        ("cpus:0", ("taskset", "-c", "0"), 1),
        ("numa:node0", ("numactl", "--cpunodebind=0", "--membind=0"), 1)]
    command = runner.worker_command(Path("spec"), Path("out"), spawn[1], [])
    assert command[command.index("--affinity") + 1] == spawn[1].placement.cpulist
    assert "TGOBENCH_DRIVER_DIR" in command[command.index("--inherit-environ") + 1]


def test_missing_node_is_refused_before_anything_runs(fake_env, suite_file, tmp_path):
    with pytest.raises(UserError) as error:
        runner.plan(RunRequest(suite=str(suite_file), numa=["node7"], output=tmp_path / "r.json"))
    assert "no NUMA node 7" in str(error.value) and "node0" in str(error.value)


def test_existing_output_is_refused_unless_appending(fake_env, suite_file, tmp_path):
    out = tmp_path / "r.json"
    shutil.copy(FIXTURES / "results" / "quick-v1.json", out)
    with pytest.raises(UserError, match="already exists"):
        runner.plan(RunRequest(suite=str(suite_file), output=out))
    with pytest.raises(UserError, match="the file holds the results of suite 'quick'"):
        runner.plan(RunRequest(suite=str(suite_file), output=out, append=True))


def test_append_adds_runs_and_refuses_a_file_they_cannot_join_before_measuring(
        fake_env, suite_file, tmp_path):
    out = tmp_path / "r.json"
    first = runner.plan(RunRequest(suite=str(suite_file), output=out, pyperf_args=FAST))
    assert runner.execute(first, Recorder()).complete
    again = runner.plan(RunRequest(suite=str(suite_file), output=out, append=True,
                                   pyperf_args=FAST))
    assert runner.execute(again, Recorder()).complete
    assert [len(b.run_means) for b in results.load(out).benchmarks] == [4, 4, 4]
    assert results.load(out).benchmarks[0].threshold == 0.2

    before = out.read_text()
    suite_file.write_text(TWO_WORKLOADS.replace("threshold = 0.2", "threshold = 0.1"))
    with pytest.raises(UserError, match="tgobench_threshold differs") as error:
        runner.plan(RunRequest(suite=str(suite_file), output=out, append=True))
    assert "-o" in error.value.fix
    assert out.read_text() == before


def test_a_benchmark_the_file_refuses_after_measuring_fails_alone(fake_env, suite_file, tmp_path,
                                                                  monkeypatch):
    plan = runner.plan(RunRequest(suite=str(suite_file), output=tmp_path / "r.json",
                                  pyperf_args=FAST))
    add = plan.writer.add

    def refuse_spawn(bench):
        if bench.get_name().startswith("spawn"):
            raise UserError("cannot add runs of it", "write to another file")
        add(bench)
    monkeypatch.setattr(plan.writer, "add", refuse_spawn)
    outcome = runner.execute(plan, Recorder())
    assert [b.impl for b, _ in outcome.failed] == ["tgo", "gmp"]
    assert all("cannot add runs of it" in message and "write to another file" in message
               for _, message in outcome.failed)
    assert [b.workload for b in outcome.finished] == ["yield"]


def test_suite_and_workload_together_are_refused(fake_env):
    with pytest.raises(UserError, match="either --suite or --workload"):
        runner.plan(RunRequest(suite="quick", workload="spawn"))


def test_fast_and_rigorous_together_are_refused(fake_env):
    with pytest.raises(UserError, match="either --fast or --rigorous"):
        runner.plan(RunRequest(suite="quick", pyperf_args=["--fast", "--rigorous"]))


def test_run_writes_each_benchmark_with_metrics(fake_env, suite_file, tmp_path):
    out = tmp_path / "r.json"
    plan = runner.plan(RunRequest(suite=str(suite_file), output=out, pyperf_args=FAST))
    recorder = Recorder()
    outcome = runner.execute(plan, recorder)
    assert outcome.complete and len(outcome.finished) == 3
    loaded = results.load(out)
    assert [b.name for b in loaded.benchmarks] == [b.id.name for b in plan.benchmarks]
    spawn = loaded.benchmarks[0]
    assert len(spawn.run_means) == 2 and len(spawn.values) == 4 and len(spawn.metrics) == 4
    assert spawn.metrics[0]["counters"]["tasks_run"] % 200 == 0
    assert spawn.metadata["tgobench_params"] == {"tasks": 200, "stack_size": 65536}
    assert spawn.metadata["tgobench_suite"] == "two" and spawn.metadata["inner_loops"] == 200
    assert spawn.metadata["tgobench_machine"]["machine_id"] == plan.system.machine["machine_id"]
    assert recorder.events[0] == ("planned", 3) and recorder.events[-1] == ("done",)
    assert ("process", 1) in recorder.events  # pyperf's worker processes are seen as they end


def test_parked_gets_a_new_driver_for_every_value_and_the_rest_keep_theirs(fake_env, tmp_path):
    suite = tmp_path / "memory.toml"
    suite.write_text(TWO_WORKLOADS.replace('workload = "yield"', 'workload = "parked"')
                     .replace("params = { tasks = 2, yields = 50 }", "params = { tasks = 100 }"))
    out = tmp_path / "r.json"
    plan = runner.plan(RunRequest(suite=str(suite), output=out, pyperf_args=FAST))
    assert runner.execute(plan, Recorder()).complete
    pids = {b.id.workload + " " + b.id.impl: [m["pid"] for m in b.metrics]
            for b in results.load(out).benchmarks}
    assert len(pids["parked tgo"]) == 4 and len(set(pids["parked tgo"])) == 4
    # 2 processes x 2 values: a spawn value shares its worker's driver
    assert len(pids["spawn tgo"]) == 4 and len(set(pids["spawn tgo"])) == 2


def test_placement_reaches_the_driver(fake_env, tmp_path):
    if shutil.which("taskset") is None:
        pytest.skip("taskset is not installed")
    out = tmp_path / "r.json"
    plan = runner.plan(RunRequest(workload="spawn", params=["tasks=100"], impls="tgo", cpus=["0"],
                                  output=out, pyperf_args=FAST))
    assert runner.execute(plan, Recorder()).complete
    bench = results.load(out).benchmarks[0]
    assert bench.name == "spawn[tasks=100] tgo cpus:0 p1"
    assert {tuple(m["affinity"]) for m in bench.metrics} == {(0,)}


def test_numa_placement_runs_under_numactl(fake_env, tmp_path):
    if shutil.which("numactl") is None:
        pytest.skip("numactl is not installed")
    out = tmp_path / "r.json"
    proc = cli("run", "--workload", "spawn", "--param", "tasks=100", "--impl", "tgo",
               "--numa", "node0", "-o", str(out), *FAST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bench = results.load(out).benchmarks[0]
    assert bench.id.placement == "numa:node0"
    node0 = sorted(os.sched_getaffinity(0))  # one node here: all of it
    assert {tuple(m["affinity"]) for m in bench.metrics} == {tuple(node0)}


def test_driver_killed_mid_run_leaves_the_finished_benchmarks(fake_env, suite_file, tmp_path,
                                                              monkeypatch):
    # the yield probe is request 1 of its driver; pyperf's first worker dies at its 2nd
    monkeypatch.setenv("TGOBENCH_FAKE_DIE", "yield:2:kill")
    out = tmp_path / "r.json"
    proc = cli("run", "--suite", str(suite_file), "-o", str(out), *FAST)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED yield[tasks=2,yields=50] tgo all p" in proc.stdout
    assert "killed by SIGKILL" in proc.stdout and "dying at run 2 of yield" in proc.stdout
    assert "wrote 2 benchmark(s)" in proc.stdout
    loaded = results.load(out)
    assert [b.id.workload for b in loaded.benchmarks] == ["spawn", "spawn"]
    check = subprocess.run([sys.executable, "-m", "pyperf", "show", str(out)], capture_output=True)
    assert check.returncode == 0


def test_failing_probe_is_reported_and_the_rest_runs(fake_env, suite_file, tmp_path, monkeypatch):
    monkeypatch.setenv("TGOBENCH_FAKE_DIE", "spawn:1:5")
    plan = runner.plan(RunRequest(suite=str(suite_file), output=tmp_path / "r.json",
                                  pyperf_args=FAST))
    outcome = runner.execute(plan, Recorder())
    assert [bench_id.impl for bench_id, _ in outcome.failed] == ["tgo", "gmp"]
    assert "exit status 5" in outcome.failed[0][1]
    assert [b.workload for b in outcome.finished] == ["yield"]


def test_interrupt_keeps_what_finished_and_names_what_is_missing(fake_env, suite_file, tmp_path):
    out = tmp_path / "r.json"
    plan = runner.plan(RunRequest(suite=str(suite_file), output=out, pyperf_args=FAST))
    outcome = runner.execute(plan, Recorder(interrupt_at=2))
    assert outcome.interrupted and not outcome.complete
    assert [b.name for b in outcome.missing] == [b.id.name for b in plan.benchmarks[1:]]
    assert [b.name for b in results.load(out).benchmarks] == [plan.benchmarks[0].id.name]


def test_cli_missing_node_exits_2_and_writes_nothing(fake_env, tmp_path):
    out = tmp_path / "q.json"
    proc = cli("run", "--suite", "quick", "--numa", "node1", "-o", str(out))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no NUMA node 1" in proc.stderr and "node0 (CPUs" in proc.stderr
    assert not out.exists() and "running" not in proc.stdout


def test_cli_invalid_suite_exits_2_naming_the_problem(fake_env, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[benchmark]]\nworkload = "spawn"\nparams = { tasks = 0 }\n')
    proc = cli("run", "--suite", str(path), "-o", str(tmp_path / "r.json"))
    assert proc.returncode == 2
    assert f"{path}:1 (benchmark 1, workload 'spawn'): tasks=0 is out of range" in proc.stderr


def test_cli_unknown_param_exits_2(fake_env, tmp_path):
    proc = cli("run", "--workload", "spawn", "--param", "tasks=x", "-o", str(tmp_path / "r.json"))
    assert proc.returncode == 2 and "tasks='x' is not a int" in proc.stderr


@pytest.mark.parametrize("where", ["under a file", "a directory", "in /proc"])
def test_cli_unwritable_result_file_exits_2_before_anything_runs(fake_env, tmp_path, where):
    (tmp_path / "a-file").write_text("not a directory\n")
    out = {"under a file": tmp_path / "a-file" / "r.json", "a directory": tmp_path,
           "in /proc": Path("/proc/r.json")}[where]
    proc = cli("run", "--workload", "spawn", "--param", "tasks=100", "-o", str(out))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"the result file {out}" in proc.stderr and "fix:" in proc.stderr
    assert "running" not in proc.stdout


@pytest.mark.parametrize(("option", "problem"), [
    (("--procs", "0"), "--procs 0: procs must be from 1 to 256"),
    (("--procs", "300"), "--procs 300: procs must be from 1 to 256"),
    (("--numa", ""), "--numa '' names nothing")])
def test_cli_procs_and_numa_out_of_range_exit_2_before_anything_runs(fake_env, tmp_path,
                                                                     option, problem):
    proc = cli("run", "--workload", "spawn", *option, "-o", str(tmp_path / "r.json"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert problem in proc.stderr and "running" not in proc.stdout


@pytest.mark.parametrize("procs", [",", "1,,2", "1,"])
def test_cli_procs_with_an_empty_item_exits_2(fake_env, tmp_path, procs):
    out = tmp_path / "r.json"
    proc = cli("run", "--workload", "spawn", "--procs", procs, "-o", str(out))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"--procs '{procs}' is not a comma-separated list of integers" in proc.stderr
    assert not out.exists()


def _processes_running(marker: str) -> dict[int, int]:
    """pid -> parent pid of the processes whose command line holds `marker`."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_text():
                stat = (entry / "stat").read_text()
                found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return found


def test_an_interrupt_of_the_command_alone_stops_its_workers_and_drivers(fake_env, tmp_path):
    """SIGINT to the tgobench process only, not its process group (as a
    supervisor sends it): the pyperf worker and the driver it started, hung in
    a request, must not run on as orphans."""
    env = tgobench_env(dict(os.environ, TGOBENCH_FAKE_DIE="spawn:2:hang"))  # not the probe's
    # SIGINT as a terminal leaves it, even where the tests run as a background
    # job, which a shell without job control starts with SIGINT ignored
    main = subprocess.Popen([*TGOBENCH_COMMAND, "run", "--workload", "spawn", "--impl", "tgo",
                             "--plain", "-o", str(tmp_path / "r.json")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    marker = str(fake_env)
    deadline = time.monotonic() + 60
    while all(parent == main.pid for parent in _processes_running(marker).values()):
        assert time.monotonic() < deadline and main.poll() is None, "no worker's driver started"
        time.sleep(0.1)
    main.send_signal(signal.SIGINT)
    assert main.wait(timeout=30) == 130
    deadline = time.monotonic() + 10
    while _processes_running(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_running(marker) == {}


def test_default_output_is_under_results():
    from datetime import datetime
    assert runner.default_output("quick", datetime(2025, 1, 2, 3, 4, 5)) == Path(
        "results/quick-20250102-030405.json")


def test_summary_of_the_fixture():
    summaries = runner.summarize(results.load(FIXTURES / "results" / "quick-v1.json"))
    assert [s.workload for s in summaries] == ["spawn", "yield"]
    spawn = summaries[0]
    assert spawn.impls == ["tgo", "gmp"] and spawn.op_unit == "task"
    row = spawn.rows[0]
    assert row.key == "spawn[tasks=10000] all p2"
    assert row.cells["tgo"].processes == 3
    assert row.ratios["gmp"].ratio == pytest.approx(1.26, abs=0.02)
    # three processes a side cannot give a 95% interval: said, not hidden
    assert spawn.lines == ["tgo ran 1.26 times faster than gmp on spawn[tasks=10000] all p2 "
                           "(too few processes for a 95% interval)"]


@pytest.mark.parametrize("low, high, line", [
    (1.10, 1.30, "gmp ran 1.20 times faster than tgo on k (95% CI 1.10-1.30)"),
    (0.50, 0.80, "tgo ran 1.67 times faster than gmp on k (95% CI 1.25-2.00)"),
    (0.97, 1.03, "no significant difference between gmp and tgo on k (time ratio 1.00, 95% CI 0.97-1.03)"),
])
def test_verdict_lines_name_the_faster_side_only_when_the_interval_excludes_one(low, high, line):
    ratio = 0.6 if high < 1 else (1.0 if low < 1 else 1.2)
    interval = RatioInterval(ratio, low, high, 0.95)
    assert runner._verdict("gmp", "tgo", interval, "k") == line


def test_an_open_loop_is_summarised_by_its_latency_not_its_time(tmp_path):
    from tests.test_report import write_results
    ids = [BenchmarkId.make("rpc", params, impl, "all", 2) for impl in ("tgo", "gmp")
           for params in ({"conns": 4, "requests": 50}, {"conns": 4, "mode": "open", "rate": 1000})]
    loaded = results.load(write_results(tmp_path / "rpc.json", ids))
    (summary,) = runner.summarize(loaded)
    closed_row, open_row = summary.rows
    assert "mode=open" in open_row.key and "mode=open" not in closed_row.key
    assert open_row.key.endswith(" (p99 latency)") and "latency" not in closed_row.key
    (closed_line,) = [line for line in summary.lines if closed_row.key in line]
    assert "times faster" in closed_line
    (open_line,) = [line for line in summary.lines if "mode=open" in line]
    assert "times faster" not in open_line and open_line.endswith("set by the rate")
    assert "(p99 latency)" not in open_line
    # its figures are medians over all values, not the row's per-process medians
    assert "median over all values" in open_line
    for impl in ("tgo", "gmp"):
        bench = next(b for b in loaded.benchmarks if b.id.impl == impl and _is_open(b.id))
        p99 = statistics.median(m["latency_ns"]["p99"] for m in bench.metrics)
        lag = statistics.median(m["send_lag_ns"]["p99"] for m in bench.metrics)
        assert (f"{impl} {format_value(p99 / 1e9, 'second')} "
                f"(senders late {format_value(lag / 1e9, 'second')})") in open_line
    # the open loop's row: per-process median p99s in seconds, and their ratio
    tgo, gmp = ([p * 1e-9 for p in next(b for b in loaded.benchmarks
                                        if b.id.impl == impl and _is_open(b.id))
                 .run_medians_of("latency_ns", "p99")] for impl in ("tgo", "gmp"))
    assert open_row.cells["tgo"].median == pytest.approx(statistics.median(tgo))
    assert open_row.ratios["gmp"] == hodges_lehmann_ratio(tgo, gmp)


def _is_open(bench_id: BenchmarkId) -> bool:
    return dict(bench_id.params).get("mode") == "open"


@pytest.mark.slow
def test_quick_suite_end_to_end(driver_dir, tmp_path):
    env = dict(os.environ, TGOBENCH_DRIVER_DIR=str(driver_dir))
    env.pop("TGOBENCH_FAKE_DIE", None)
    proc = cli("run", "--suite", "quick", "-o", "q.json", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "times faster than" in proc.stdout or "no significant difference" in proc.stdout
    loaded = results.load(tmp_path / "q.json")
    assert {b.id.impl for b in loaded.benchmarks} == {"tgo", "gmp"}
    assert all(len(b.metrics) == len(b.values) and b.metrics[0]["counters"] for b in loaded.benchmarks)
    for args in (["show", "q.json"], ["compare_to", "q.json", "q.json"]):
        check = subprocess.run([sys.executable, "-m", "pyperf", *args], capture_output=True,
                               text=True, cwd=tmp_path)
        assert check.returncode == 0 and check.stderr == "", check.stderr


REFUSING_DRIVER = """\
import json, sys, time
HELLO = {"ok": True, "protocol": 1, "impl": "mine", "version": "1", "procs": 1,
         "workloads": {"echo": {"unit": "op", "params": {"n": {"type": "int", "default": 1}}}}}
for line in sys.stdin:
    request = json.loads(line)
    if request["op"] == "hello":
        answer = HELLO
    elif request["params"]["n"] % 2:
        answer = {"ok": False, "error": "n must be even"}
    else:
        start = time.perf_counter_ns()
        sum(range(1000 * request["loops"]))
        answer = {"ok": True, "elapsed_ns": max(1, time.perf_counter_ns() - start),
                  "loops": request["loops"], "ops": 1000 * request["loops"], "metrics": {}}
    print(json.dumps(answer), flush=True)
"""


def test_cli_a_request_the_driver_refuses_at_its_probe_exits_2_keeping_the_rest(tmp_path):
    # n=3 passes the checks of hello (no bounds), so only the driver can judge it
    driver = tmp_path / "mine"
    driver.write_text(f"#!{sys.executable}\n{REFUSING_DRIVER}")
    driver.chmod(0o755)
    suite = tmp_path / "echo.toml"
    suite.write_text('impls = ["mine"]\n[pyperf]\nmin_time = 0.001\n'
                     '[[benchmark]]\nworkload = "echo"\nparams = { n = [2, 3] }\n')
    out = tmp_path / "r.json"
    proc = cli("run", "--suite", str(suite), "--impl", f"mine={driver}", "-o", str(out),
               "--procs", "1", "--processes", "2", "--values", "1", "--plain")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    refused = "echo[n=3] mine all p1: the mine driver refused run 'echo': n must be even"
    assert f"REFUSED {refused}" in proc.stdout
    assert proc.stderr.startswith("error: 1 benchmark(s) refused by their driver as bad input:\n"
                                  f"  {refused}\n  fix: ")
    assert "Traceback" not in proc.stderr
    assert [b.name for b in results.load(out).benchmarks] == ["echo[n=2] mine all p1"]


def test_a_driver_crash_at_the_probe_is_a_failure_not_a_refusal(fake_env, suite_file, tmp_path,
                                                                monkeypatch):
    monkeypatch.setenv("TGOBENCH_FAKE_DIE", "spawn:1:5")
    plan = runner.plan(RunRequest(suite=str(suite_file), output=tmp_path / "r.json",
                                  pyperf_args=FAST))
    outcome = runner.execute(plan, Recorder())
    assert len(outcome.failed) == 2 and outcome.refused == [] and outcome.refusal() is None


def test_a_run_with_nothing_finished_says_whether_its_file_is_there(tmp_path):
    bench_id = BenchmarkId.make("spawn", {"tasks": 10}, "tgo", "all", 2)
    kept = tmp_path / "kept.json"
    kept.write_text("{}")
    appended = runner.RunOutcome(kept, failed=[(bench_id, "the driver died")])
    fresh = runner.RunOutcome(tmp_path / "new.json", failed=[(bench_id, "the driver died")])

    assert runner._outcome_notes(appended)[-1] == f"no benchmark finished; {kept} is unchanged"
    assert runner._outcome_notes(fresh)[-1] == "no benchmark finished; no result file written"
