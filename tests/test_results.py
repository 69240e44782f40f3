"""Result files: the reading API, its errors, and the atomic, merging writer."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pyperf
import pytest

from tgobench import results
from tgobench.errors import UserError
from tgobench.results import BenchmarkId, ResultWriter, benchmark_metadata, encode_json

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "results"
QUICK_V1 = FIXTURES / "quick-v1.json"
YIELD_TGO = "yield[tasks=4,yields=2000] tgo all p2"  # benchmarks[1] of QUICK_V1
MACHINE = {"cpu_model": "Test CPU", "cpus": 2, "numa_nodes": 1, "kernel": "6.18.0",
           "machine_id": "test-machine"}


def make_bench(bench_id: BenchmarkId, runs: list[list[float]], *, machine=MACHINE,
               params=None, driver_version="0.1.0", threshold=0.05, suite="test",
               warnings=({"message": "m", "fix": "f"},),
               metrics_of=lambda index, values: [{"peak_rss_kib": 1000 + index, "value": i}
                                                 for i in range(len(values))]) -> pyperf.Benchmark:
    common = benchmark_metadata(bench_id, params=params or {"tasks": 1000}, op_unit="task",
                                suite=suite, threshold=threshold, tgobench_version="0.1.0",
                                driver_version=driver_version, compiler="gcc 12.2.0",
                                machine=machine, warnings=list(warnings))
    pyperf_runs = []
    for index, values in enumerate(runs):
        metrics = metrics_of(index, values)
        metadata = dict(common, name=bench_id.name, unit="second", loops=1,
                        tgobench_metrics=encode_json(metrics))
        pyperf_runs.append(pyperf.Run(values, warmups=[(1, values[0])], metadata=metadata,
                                      collect_metadata=False))
    return pyperf.Benchmark(pyperf_runs)


SPAWN_TGO = BenchmarkId.make("spawn", {"tasks": 1000}, "tgo", "all", 2)


def test_name_spells_every_part_of_the_id():
    bench_id = BenchmarkId.make("spawn", {"tasks": 1000000}, "tgo", "numa:node0", 2)
    assert bench_id.name == "spawn[tasks=1000000] tgo numa:node0 p2"
    assert BenchmarkId.make("yield", {}, "gmp", "all", 2).name == "yield gmp all p2"


def test_name_sorts_params_and_spells_bools():
    bench_id = BenchmarkId.make("rpc", {"size": 64, "conns": 8, "fast": True}, "go", "cpus:0-1", 1)
    assert bench_id.name == "rpc[conns=8,fast=true,size=64] go cpus:0-1 p1"


def test_parse_inverts_name():
    for bench_id in (BenchmarkId.make("spawn", {"tasks": 1000}, "tgo", "numa:interleave", 4),
                     BenchmarkId.make("spawn-tree", {"fanout": 4, "depth": 3}, "gmp", "all", 1),
                     BenchmarkId.make("chan", {}, "go", "cpus:0,2-3", 2)):
        assert BenchmarkId.parse(bench_id.name) == bench_id


@pytest.mark.parametrize("name", ["spawn", "spawn tgo all", "spawn tgo all 2", "spawn[x] tgo all p2"])
def test_parse_refuses_other_names(name):
    with pytest.raises(ValueError):
        BenchmarkId.parse(name)


def test_without_impl_matches_across_implementations():
    tgo = BenchmarkId.make("spawn", {"tasks": 10}, "tgo", "all", 2)
    gmp = BenchmarkId.make("spawn", {"tasks": 10}, "gmp", "all", 2)
    assert tgo != gmp
    assert tgo.without_impl() == gmp.without_impl()
    assert tgo.without_impl().impl == ""


def test_fixture_loads_with_identity_run_means_and_metrics():
    result = results.load(QUICK_V1)
    names = [bench.name for bench in result.benchmarks]
    assert names == ["spawn[tasks=10000] tgo all p2", "yield[tasks=4,yields=2000] tgo all p2",
                     "spawn[tasks=10000] gmp all p2", "yield[tasks=4,yields=2000] gmp all p2"]
    spawn = result.get("spawn[tasks=10000] tgo all p2")
    assert spawn.id == BenchmarkId("spawn", (("tasks", "10000"),), "tgo", "all", 2)
    assert len(spawn.run_means) == 3 and len(spawn.values) == 9
    assert spawn.run_means[0] == pytest.approx(sum(spawn.values[:3]) / 3)
    assert len(spawn.metrics) == 9 and spawn.metrics[0]["counters"]["tasks_run"] == 10000
    assert spawn.unit == "second" and spawn.threshold == 0.05
    assert spawn.metadata["tgobench_params"] == {"tasks": 10000, "stack_size": 65536}
    assert spawn.metadata["tgobench_op_unit"] == "task"
    assert result.machine["machine_id"] == "fixture-2c1n-0123abcd"
    assert result.warnings and set(result.warnings[0]) == {"message", "fix"}


def test_fixture_is_read_by_pyperf_itself():
    for args in (["show", str(QUICK_V1)], ["compare_to", str(QUICK_V1), str(QUICK_V1)]):
        proc = subprocess.run([sys.executable, "-m", "pyperf", *args], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""


def test_plain_pyperf_file_loads_with_name_as_workload(tmp_path):
    path = tmp_path / "plain.json"
    run = pyperf.Run([0.5, 0.6], metadata={"name": "bench one", "unit": "second"},
                     collect_metadata=False)
    pyperf.BenchmarkSuite([pyperf.Benchmark([run])]).dump(str(path))
    bench = results.load(path).benchmarks[0]
    assert bench.id == BenchmarkId("bench one", (), "", "", 0)
    assert bench.name == "bench one"
    assert bench.run_means == [pytest.approx(0.55)]
    assert bench.threshold is None and bench.metrics == [{}, {}]


def test_a_percentile_is_summarised_by_its_median_in_each_process(tmp_path):
    path = tmp_path / "r.json"
    p99s = [[100, 200, 600], [50], [10, 30]]
    ResultWriter(path).add(make_bench(
        SPAWN_TGO, [[1e-7] * len(p) for p in p99s],
        metrics_of=lambda index, values: [{"latency_ns": {"p50": 1, "p99": p}} for p in p99s[index]]))
    bench = results.load(path).get(SPAWN_TGO.name)
    assert bench.run_lengths == [3, 1, 2]
    assert bench.run_medians_of("latency_ns", "p99") == [200, 50, 20]
    assert bench.run_medians_of("latency_ns", "p999") is None
    assert bench.run_medians_of("send_lag_ns", "p99") is None


def test_a_percentile_missing_from_one_value_gives_no_samples(tmp_path):
    path = tmp_path / "r.json"
    ResultWriter(path).add(make_bench(
        SPAWN_TGO, [[1e-7, 1e-7], [1e-7]],
        metrics_of=lambda index, values: [{"latency_ns": {"p99": 5}} if index else {}
                                          for _ in values]))
    assert results.load(path).get(SPAWN_TGO.name).run_medians_of("latency_ns", "p99") is None


def test_missing_file_names_it(tmp_path):
    with pytest.raises(UserError, match="does not exist") as info:
        results.load(tmp_path / "nope.json")
    assert "nope.json" in str(info.value)


def test_not_json_is_not_a_result_file(tmp_path):
    path = tmp_path / "junk.json"
    path.write_text("hello")
    with pytest.raises(UserError, match="junk.json is not a result file"):
        results.load(path)


def test_json_without_benchmarks_is_not_a_result_file(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"name": "x"}')
    with pytest.raises(UserError, match="no list of benchmarks"):
        results.load(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    path = tmp_path / "locked.json"
    path.write_text("{}")
    path.chmod(0)
    with pytest.raises(UserError, match="cannot read"):
        results.load(path)


def _damaged(tmp_path, mutate) -> Path:
    data = json.loads(QUICK_V1.read_text())
    mutate(data)
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("bad, message", [(float("nan"), "is nan"), (-1e-7, "not positive"),
                                          (0.0, "not positive"), ("1", "not a number")])
def test_bad_values_name_the_benchmark(tmp_path, bad, message):
    def mutate(data):
        data["benchmarks"][1]["runs"][0]["values"][0] = bad
    path = _damaged(tmp_path, mutate)
    with pytest.raises(UserError, match=message) as info:
        results.load(path)
    assert "yield[tasks=4,yields=2000] tgo all p2" in str(info.value)


def test_benchmark_without_values_is_refused(tmp_path):
    def mutate(data):
        for run in data["benchmarks"][0]["runs"]:
            run.pop("values")
    with pytest.raises(UserError, match="has no values"):
        results.load(_damaged(tmp_path, mutate))


def test_newer_format_is_refused(tmp_path):
    def mutate(data):
        data["metadata"]["tgobench_format"] = 99
    with pytest.raises(UserError, match="newer"):
        results.load(_damaged(tmp_path, mutate))


def test_metrics_must_match_values(tmp_path):
    def mutate(data):
        data["benchmarks"][0]["runs"][0]["metadata"]["tgobench_metrics"] = "[{}]"
    with pytest.raises(UserError, match="one object per value"):
        results.load(_damaged(tmp_path, mutate))


def test_every_golden_result_file_loads():
    for path in sorted(FIXTURES.parent.glob("*/*.json")):
        assert results.load(path).benchmarks, path


def _assert_damaged(path: Path, *fragments: str) -> UserError:
    """load refuses `path` with a message naming the file and `fragments`,
    and the fix for a damaged file."""
    with pytest.raises(UserError) as info:
        results.load(path)
    assert str(path) in info.value.problem
    for fragment in fragments:
        assert fragment in info.value.problem
    assert "restore it from the artifact" in info.value.fix
    assert "re-run `tgobench run`" in info.value.fix
    return info.value


def test_truncated_gzip_file_is_refused_as_damaged(tmp_path):
    path = tmp_path / "r.json.gz"
    packed = gzip.compress(QUICK_V1.read_bytes())
    path.write_bytes(packed[:len(packed) // 2])
    _assert_damaged(path, "cannot be decompressed", "cut short")


def test_file_that_is_not_gzip_is_not_blamed_on_permissions(tmp_path):
    path = tmp_path / "r.json.gz"
    path.write_bytes(QUICK_V1.read_bytes())
    error = _assert_damaged(path, "cannot be decompressed")
    assert "permission" not in error.fix


@pytest.mark.parametrize("holder", [lambda data: data, lambda data: data["benchmarks"][1],
                                    lambda data: data["benchmarks"][1]["runs"][0]],
                         ids=["file", "benchmark", "run"])
def test_metadata_that_is_not_an_object_is_refused(tmp_path, holder):
    path = _damaged(tmp_path, lambda data: holder(data).__setitem__("metadata", []))
    _assert_damaged(path, "metadata", "is not a JSON object")


def test_benchmark_name_that_is_not_text_is_refused(tmp_path):
    path = _damaged(tmp_path, lambda data: data["benchmarks"][1]["metadata"].update(name=5))
    _assert_damaged(path, "name is not text: 5")


@pytest.mark.parametrize("key, bad", [
    ("tgobench_machine", "[1]"), ("tgobench_machine", '{"machine_id": 5}'),
    ("tgobench_warnings", '["x"]'), ("tgobench_warnings", '{"message": "m", "fix": "f"}'),
    ("tgobench_params", "[1]"), ("tgobench_threshold", "abc"), ("tgobench_threshold", -1),
    ("tgobench_threshold", 1e9), ("tgobench_suite", 5), ("tgobench_op_unit", 5),
    ("tgobench_format", "1"), ("tgobench_compiler", 5)])
def test_metadata_of_the_wrong_shape_is_refused_naming_the_key(tmp_path, key, bad):
    path = _damaged(tmp_path, lambda data: data["benchmarks"][1]["metadata"].update({key: bad}))
    _assert_damaged(path, f"benchmark {YIELD_TGO} has metadata {key} that is not")


def test_warnings_of_one_run_of_the_wrong_shape_are_refused(tmp_path):
    def mutate(data):
        data["benchmarks"][1]["runs"][0]["metadata"]["tgobench_warnings"] = '["x"]'
    _assert_damaged(_damaged(tmp_path, mutate), YIELD_TGO, "tgobench_warnings")


@pytest.mark.parametrize("huge", [1e308, 10 ** 30, float("inf")])
def test_value_too_large_to_be_a_measurement_is_refused(tmp_path, huge):
    # two of them would overflow the sum of the run's mean
    def mutate(data):
        data["benchmarks"][1]["runs"][0]["values"][:2] = [huge, huge]
    _assert_damaged(_damaged(tmp_path, mutate), YIELD_TGO, "too large to be a measurement")


def _with_metrics(tmp_path, metrics: list) -> Path:
    def mutate(data):
        data["benchmarks"][1]["runs"][0]["metadata"]["tgobench_metrics"] = json.dumps(metrics)
    return _damaged(tmp_path, mutate)


def test_metrics_that_are_not_objects_are_refused(tmp_path):
    _assert_damaged(_with_metrics(tmp_path, [5, 5, 5]), YIELD_TGO,
                    "where a value's metrics object belongs")


@pytest.mark.parametrize("metric", [{"peak_rss_kib": "x"}, {"peak_rss_kib": float("nan")},
                                    {"latency_ns": {"p99": True}}])
def test_metric_that_is_not_a_finite_number_is_refused(tmp_path, metric):
    _assert_damaged(_with_metrics(tmp_path, [metric] * 3), YIELD_TGO,
                    f"metric {next(iter(metric))} is not made of finite numbers")


@pytest.mark.parametrize("counters", [5, {"switches": None}, {"switches": 10, "parks": [1]},
                                      {"switches": 10, "steals": [1]},
                                      {"switches": 10, "steals": {"llc": None}}])
def test_counters_report_cannot_divide_are_refused(tmp_path, counters):
    _assert_damaged(_with_metrics(tmp_path, [{"counters": counters}] * 3), YIELD_TGO,
                    "metric counters is not an object of numbers")


def test_latency_percentile_that_is_not_positive_is_refused(tmp_path):
    # compare takes an open loop's p99 latencies as its timings
    _assert_damaged(_with_metrics(tmp_path, [{"latency_ns": {"p50": 0, "p99": 5}}] * 3),
                    YIELD_TGO, "latency_ns holds a percentile that is not positive")


def test_null_metric_from_a_driver_still_loads(tmp_path):
    # the C driver writes null for a figure it could not compute
    metrics = [{"latency_ns": {"p99": None},
                "counters": {"switches": 10, "sched_lat_p99_ns": None}}]
    bench = results.load(_with_metrics(tmp_path, metrics * 3)).get(YIELD_TGO)
    assert bench.metrics[0]["latency_ns"] == {"p99": None}
    assert bench.median_percentile("latency_ns", "p99") is None


def test_writer_keeps_each_finished_benchmark(tmp_path):
    path = tmp_path / "out" / "r.json"
    writer = ResultWriter(path)
    writer.add(make_bench(SPAWN_TGO, [[1e-7, 1.1e-7]]))
    assert [b.name for b in results.load(path).benchmarks] == [SPAWN_TGO.name]
    gmp = BenchmarkId.make("spawn", {"tasks": 1000}, "gmp", "all", 2)
    writer.add(make_bench(gmp, [[2e-7]]))
    loaded = results.load(path)
    assert [b.name for b in loaded.benchmarks] == [SPAWN_TGO.name, gmp.name]
    assert loaded.get(gmp.name).metrics == [{"peak_rss_kib": 1000, "value": 0}]
    assert writer.written == [SPAWN_TGO.name, gmp.name]
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temporary left
    assert path.stat().st_mode & 0o044  # readable like any other new file


def test_writer_refuses_to_overwrite(tmp_path):
    path = tmp_path / "r.json"
    ResultWriter(path).add(make_bench(SPAWN_TGO, [[1e-7]]))
    with pytest.raises(UserError, match="already exists") as info:
        ResultWriter(path)
    assert "--append" in info.value.fix


def test_append_adds_runs_to_the_same_benchmark(tmp_path):
    path = tmp_path / "r.json"
    ResultWriter(path).add(make_bench(SPAWN_TGO, [[1e-7, 1e-7]]))
    ResultWriter(path, append=True).add(make_bench(SPAWN_TGO, [[3e-7, 3e-7]]))
    bench = results.load(path).get(SPAWN_TGO.name)
    assert bench.run_means == [pytest.approx(1e-7), pytest.approx(3e-7)]
    assert len(bench.metrics) == 4


def test_gz_name_is_written_as_gzip_and_appended_to(tmp_path):
    # pyperf and load both read a *.gz file as gzip
    path = tmp_path / "r.json.gz"
    ResultWriter(path).add(make_bench(SPAWN_TGO, [[1e-7, 1e-7]]))
    assert json.loads(gzip.decompress(path.read_bytes()))["benchmarks"]
    ResultWriter(path, append=True).add(make_bench(SPAWN_TGO, [[3e-7, 3e-7]]))
    assert results.load(path).get(SPAWN_TGO.name).run_means == [pytest.approx(1e-7),
                                                                 pytest.approx(3e-7)]
    assert len(pyperf.BenchmarkSuite.load(str(path)).get_benchmark(SPAWN_TGO.name).get_runs()) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["r.json.gz"]  # no temporary left


@pytest.mark.parametrize("change, key", [({"machine": dict(MACHINE, machine_id="other")}, "machine"),
                                         ({"params": {"tasks": 1000, "stack_size": 2048}},
                                          "tgobench_params"),
                                         ({"driver_version": "0.2.0"}, "tgobench_driver_version"),
                                         ({"threshold": 0.1}, "tgobench_threshold"),
                                         ({"suite": "other"}, "tgobench_suite")])
def test_append_refuses_runs_of_something_else(tmp_path, change, key):
    path = tmp_path / "r.json"
    ResultWriter(path).add(make_bench(SPAWN_TGO, [[1e-7]]))
    writer = ResultWriter(path, append=True)
    with pytest.raises(UserError, match=key):
        writer.add(make_bench(SPAWN_TGO, [[1e-7]], **change))
    assert len(results.load(path).get(SPAWN_TGO.name).values) == 1


def test_append_keeps_the_warnings_of_every_run(tmp_path):
    # pyperf's benchmark metadata holds only what all runs share
    path = tmp_path / "r.json"
    load_high, turbo = {"message": "load 3.2", "fix": "wait"}, {"message": "turbo", "fix": "off"}
    ResultWriter(path).add(make_bench(SPAWN_TGO, [[1e-7]], warnings=[load_high]))
    ResultWriter(path, append=True).add(make_bench(SPAWN_TGO, [[1e-7]], warnings=[turbo]))
    loaded = results.load(path)
    assert loaded.warnings == [load_high, turbo]
    assert loaded.get(SPAWN_TGO.name).metadata["tgobench_warnings"] == [load_high, turbo]
    assert loaded.get(SPAWN_TGO.name).threshold == 0.05


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    writer = ResultWriter(path)
    writer.add(make_bench(SPAWN_TGO, [[1e-7]]))
    before = path.read_text()

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        writer.add(make_bench(BenchmarkId.make("yield", {}, "tgo", "all", 2), [[1e-8]]))
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_metadata_values_are_pyperf_compatible():
    metadata = benchmark_metadata(SPAWN_TGO, params={"tasks": 1000}, op_unit="task", suite="",
                                  threshold=0.1, tgobench_version="0.1.0", driver_version="",
                                  compiler="", machine={}, warnings=[])
    pyperf.Run([1.0], metadata=dict(metadata, name="x"), collect_metadata=False)
    assert metadata["tgobench_suite"] == "adhoc" and metadata["tgobench_compiler"] == "unknown"
    assert metadata["tgobench_format"] == 1 and metadata["tgobench_procs"] == 2
    assert metadata["tgobench_threshold"] == 0.1


def test_append_refuses_a_run_of_another_suite_before_measuring(tmp_path):
    path = tmp_path / "r.json"
    ResultWriter(path).add(make_bench(SPAWN_TGO, [[1e-7]], suite="quick"))
    before = path.read_text()
    fib = BenchmarkId.make("fib", {"n": 11}, "tgo", "all", 2)
    writer = ResultWriter(path, append=True)
    with pytest.raises(UserError) as info:
        writer.check_can_add(fib.name, make_bench(fib, [[1e-7]], suite="adhoc").get_metadata())
    assert "tgobench_suite is 'adhoc'" in info.value.problem
    assert "holds the results of suite 'quick'" in info.value.problem
    assert "write to a new file with -o" in info.value.fix
    assert path.read_text() == before


def test_writer_refuses_to_add_a_benchmark_of_another_suite(tmp_path):
    path = tmp_path / "r.json"
    writer = ResultWriter(path)
    writer.add(make_bench(SPAWN_TGO, [[1e-7]], suite="quick"))
    gmp = BenchmarkId.make("spawn", {"tasks": 1000}, "gmp", "all", 2)
    with pytest.raises(UserError, match="tgobench_suite is 'adhoc'"):
        writer.add(make_bench(gmp, [[1e-7]], suite="adhoc"))
    assert [b.name for b in results.load(path).benchmarks] == [SPAWN_TGO.name]


def test_append_takes_another_benchmark_of_the_same_suite(tmp_path):
    path = tmp_path / "r.json"
    ResultWriter(path).add(make_bench(SPAWN_TGO, [[1e-7]]))
    gmp = BenchmarkId.make("spawn", {"tasks": 1000}, "gmp", "all", 2)
    writer = ResultWriter(path, append=True)
    writer.check_can_add(gmp.name, make_bench(gmp, [[1e-7]]).get_metadata())
    writer.add(make_bench(gmp, [[2e-7]]))
    assert [b.name for b in results.load(path).benchmarks] == [SPAWN_TGO.name, gmp.name]


def test_append_refuses_a_file_not_written_by_tgobench(tmp_path):
    path = tmp_path / "plain.json"
    run = pyperf.Run([0.5, 0.6], metadata={"name": "bench one", "unit": "second"},
                     collect_metadata=False)
    pyperf.BenchmarkSuite([pyperf.Benchmark([run])]).dump(str(path))
    before = path.read_text()
    with pytest.raises(UserError) as info:
        ResultWriter(path, append=True)
    assert "not a tgobench result file" in info.value.problem
    assert "bench one" in info.value.problem
    assert "write to a new file with -o" in info.value.fix
    assert path.read_text() == before
