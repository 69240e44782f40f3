"""Suite files: parsing, validation against the drivers' hello, expansion."""

from __future__ import annotations

import pytest

from tgobench import suites
from tgobench.drivers import DriverInfo
from tgobench.errors import UserError
from tgobench.resources import data_dir


def info(impl: str, workloads=("spawn", "yield", "chan", "fib", "skew"), stack=True) -> DriverInfo:
    stack_param = {"stack_size": {"type": "int", "default": 65536, "min": 2048, "max": 67108864}}
    params = {
        "spawn": {"tasks": {"type": "int", "default": 1000000, "min": 1, "max": 100000000}},
        "yield": {"tasks": {"type": "int", "default": 4, "min": 1, "max": 1000000},
                  "yields": {"type": "int", "default": 250000, "min": 1, "max": 1000000000}},
        "chan": {"rounds": {"type": "int", "default": 200000, "min": 1, "max": 1000000000}},
        "fib": {"n": {"type": "int", "default": 25, "min": 1, "max": 40}},
        "skew": {"tasks": {"type": "int", "default": 10000, "min": 1, "max": 10000000},
                 "units": {"type": "int", "default": 200, "min": 1, "max": 1000000}},
        "rpc": {"mode": {"type": "str", "default": "closed", "choices": ["closed", "open"]},
                "rate": {"type": "float", "default": 20000.0, "min": 1, "max": 1e7}},
    }
    described = {w: {"unit": "task", "params": dict(params[w], **(stack_param if stack else {}))}
                  for w in workloads}
    return DriverInfo.from_hello({"ok": True, "impl": impl, "version": "0.1.0", "protocol": 1,
                                  "procs": 2, "workloads": described}, impl)


DRIVERS = {"tgo": info("tgo"), "gmp": info("gmp")}


def parse(text: str) -> suites.Suite:
    return suites.parse(text, "test", None)


SMALL = """
threshold = 0.1
[pyperf]
processes = 4
[[benchmark]]
workload = "spawn"
params = { tasks = 1000 }
[[benchmark]]
workload = "yield"
impls = ["tgo"]
procs = [1, 2]
"""


def test_parse_fills_defaults_per_entry():
    suite = parse(SMALL)
    assert suite.threshold == 0.1 and suite.pyperf.processes == 4 and suite.pyperf.values == 3
    spawn, yield_ = suite.entries
    assert spawn.impls == ("tgo", "gmp") and spawn.placements == ("all",) and spawn.procs == ()
    assert spawn.params == {"tasks": 1000} and spawn.threshold == 0.1
    assert yield_.impls == ("tgo",) and yield_.procs == (1, 2)


def test_expand_checks_and_fills_params():
    expansion = suites.expand(parse(SMALL), DRIVERS)
    assert [(c.workload, c.impl, c.procs) for c in expansion.cases] == [
        ("spawn", "tgo", None), ("spawn", "gmp", None), ("yield", "tgo", 1), ("yield", "tgo", 2)]
    spawn = expansion.cases[0]
    assert spawn.given == {"tasks": 1000}
    assert spawn.params == {"tasks": 1000, "stack_size": 65536}
    assert expansion.skipped == []


def test_overrides_replace_the_suites_choices():
    expansion = suites.expand(parse(SMALL), DRIVERS, impls=["gmp"], placements=["numa:node0"],
                              procs=[3])
    assert {(c.impl, c.placement, c.procs) for c in expansion.cases} == {("gmp", "numa:node0", 3)}


def test_list_params_sweep():
    suite = parse('[[benchmark]]\nworkload = "spawn"\nimpls = ["tgo"]\n'
                  'params = { tasks = [10, 20], stack_size = [2048, 4096] }\n')
    cases = suites.expand(suite, DRIVERS).cases
    assert [c.given for c in cases] == [{"stack_size": 2048, "tasks": 10}, {"stack_size": 4096, "tasks": 10},
                                        {"stack_size": 2048, "tasks": 20}, {"stack_size": 4096, "tasks": 20}]


def test_unknown_workload_names_the_line_and_what_exists(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('threshold = 0.05\n\n[[benchmark]]\nworkload = "spawn"\n\n'
                    '[[benchmark]]\nworkload = "spwan"\n')
    with pytest.raises(UserError) as error:
        suites.expand(suites.load(str(path)), DRIVERS)
    assert f"{path}:6 (benchmark 2, workload 'spwan'): unknown workload 'spwan'" in str(error.value)
    assert "chan, fib, skew, spawn, yield" in error.value.fix


def test_unknown_param_lists_the_known_ones():
    suite = parse('[[benchmark]]\nworkload = "spawn"\nparams = { tsks = 5 }\n')
    with pytest.raises(UserError, match="unknown parameter 'tsks'") as error:
        suites.expand(suite, DRIVERS)
    assert error.value.fix == "spawn takes: stack_size, tasks"


@pytest.mark.parametrize("params, message", [("{ tasks = 0 }", "tasks=0 is out of range 1..100000000"),
                                             ('{ tasks = "many" }', "tasks='many' is not a int"),
                                             ("{ tasks = 1.5 }", "tasks must be int, got 1.5")])
def test_bad_param_values_are_refused(params, message):
    suite = parse(f'[[benchmark]]\nworkload = "spawn"\nparams = {params}\n')
    with pytest.raises(UserError, match=message):
        suites.expand(suite, DRIVERS)


def test_unknown_impl_is_refused():
    suite = parse('impls = ["tgo", "rust"]\n[[benchmark]]\nworkload = "spawn"\n')
    with pytest.raises(UserError, match="unknown implementation 'rust'") as error:
        suites.expand(suite, DRIVERS)
    assert "--impl rust=/path/to/driver" in error.value.fix


def test_workloads_not_written_yet_are_skipped_with_a_notice():
    suite = parse('[[benchmark]]\nworkload = "rpc"\n[[benchmark]]\nworkload = "fib"\n')
    expansion = suites.expand(suite, DRIVERS)
    assert [c.workload for c in expansion.cases] == ["fib", "fib"]
    assert len(expansion.skipped) == 2
    assert expansion.skipped[0].startswith("rpc skipped for tgo: its driver has no workload 'rpc' yet")


def test_a_param_one_driver_lacks_skips_that_driver_only():
    drivers = {"tgo": info("tgo"), "go": info("go", stack=False)}
    suite = parse('impls = ["tgo", "go"]\n[[benchmark]]\nworkload = "spawn"\n'
                  'params = { stack_size = 2048 }\n')
    expansion = suites.expand(suite, drivers)
    assert [c.impl for c in expansion.cases] == ["tgo"]
    assert "skipped for go: its driver has no parameter 'stack_size'" in expansion.skipped[0]


def test_text_values_from_the_command_line_are_converted():
    suite = suites.adhoc("rpc", ["mode=open", "rate=5000"])
    expansion = suites.expand(suite, {"tgo": info("tgo", workloads=("rpc",)),
                                      "gmp": info("gmp", workloads=("rpc",))})
    assert expansion.cases[0].given == {"mode": "open", "rate": 5000.0}


def test_adhoc_refuses_a_param_without_value():
    with pytest.raises(UserError, match="is not NAME=VALUE"):
        suites.adhoc("spawn", ["tasks"])


@pytest.mark.parametrize("text, message", [
    ("threshold = 0.05\n", "lists no benchmark"),
    ("[[benchmark]]\nworkload = 'spawn'\nparms = {}\n", "unknown key parms in a benchmark"),
    ("thresold = 0.1\n[[benchmark]]\nworkload = 'spawn'\n", "unknown key thresold in the suite"),
    ("threshold = -1\n[[benchmark]]\nworkload = 'spawn'\n", "threshold must be a fraction"),
    ("[[benchmark]]\nparams = {}\n", "has no workload"),
    ("[[benchmark]]\nworkload = 'spawn'\nprocs = [0]\n", "procs must be a list of integers from 1 to 256"),
    ("[[benchmark]]\nworkload = 'spawn'\nimpls = []\n", "impls must be a non-empty list"),
    ("[pyperf]\nvalues = 0\n[[benchmark]]\nworkload = 'spawn'\n", "[pyperf] values = 0 is not valid"),
    ("[[benchmark]\nworkload = 'spawn'\n", "is not valid TOML"),
])
def test_malformed_suites_are_refused(text, message):
    with pytest.raises(UserError) as error:
        parse(text)
    assert message in str(error.value)


def test_unknown_suite_name_lists_the_shipped_ones():
    with pytest.raises(UserError, match="no suite named 'quik'") as error:
        suites.load("quik")
    assert "quick" in error.value.fix


@pytest.mark.parametrize("name", ["quick", "spawn", "rpc", "mixed", "nightly"])
def test_shipped_suites_validate_against_the_real_drivers(name, driver_dir):
    from tgobench.drivers import hello
    drivers = {impl: hello(impl, driver_dir / f"tgobench-driver-{impl}") for impl in ("tgo", "gmp")}
    suite = suites.load(name)
    expansion = suites.expand(suite, drivers)
    assert expansion.skipped == []  # the C drivers have every workload, rpc and mixed too
    assert expansion.cases and {c.impl for c in expansion.cases} == {"tgo", "gmp"}


def test_shipped_suites_are_the_expected_set():
    assert {"quick", "spawn", "rpc", "mixed", "nightly"} <= set(suites.available())
    assert (data_dir("suites") / "quick.toml").is_file()


ONE_BENCHMARK = "[[benchmark]]\nworkload = 'spawn'\n"


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_pyperf_min_time_that_is_not_finite_is_refused(value):
    with pytest.raises(UserError) as error:
        parse(f"[pyperf]\nmin_time = {value}\n" + ONE_BENCHMARK)
    assert f"[pyperf] min_time = {value} is not valid" in str(error.value)
    assert "min_time must be a number of seconds above 0 and at most 10" in error.value.fix


def test_pyperf_min_time_above_its_bound_is_refused():
    with pytest.raises(UserError) as error:
        parse("[pyperf]\nmin_time = 3600\n" + ONE_BENCHMARK)
    assert "[pyperf] min_time = 3600 is not valid" in str(error.value)
    assert "at most 10" in error.value.fix


@pytest.mark.parametrize("key, value, bound", [("processes", 101, "from 1 to 100"),
                                               ("values", 101, "from 1 to 100"),
                                               ("warmups", 101, "from 0 to 100"),
                                               ("loops", 1000001, "from 0 to 1000000")])
def test_pyperf_counts_above_their_bound_are_refused(key, value, bound):
    with pytest.raises(UserError) as error:
        parse(f"[pyperf]\n{key} = {value}\n" + ONE_BENCHMARK)
    assert f"[pyperf] {key} = {value} is not valid" in str(error.value)
    assert error.value.fix.startswith(f"{key} must be an integer {bound}")


def test_pyperf_settings_at_their_bounds_are_accepted():
    suite = parse("[pyperf]\nprocesses = 100\nvalues = 100\nwarmups = 100\nloops = 1000000\n"
                  "min_time = 10\n" + ONE_BENCHMARK)
    assert suite.pyperf == suites.PyperfSettings(processes=100, values=100, warmups=100,
                                                 min_time=10.0, loops=1000000)


def test_benchmark_array_of_non_tables_is_refused():
    with pytest.raises(UserError) as error:
        parse("benchmark = [1, 2]\n")
    assert "(benchmark 1): benchmark must be an array of tables, got 1" in str(error.value)
    assert "[[benchmark]] (two brackets)" in error.value.fix


def test_benchmark_written_as_a_single_table_is_refused():
    with pytest.raises(UserError) as error:
        parse("[benchmark]\nworkload = 'spawn'\n")
    assert "benchmark must be an array of tables" in str(error.value)
    assert "[[benchmark]] (two brackets)" in error.value.fix


@pytest.mark.parametrize("text, message", [
    ("impls = 5\n" + ONE_BENCHMARK, "impls must be a non-empty list of names"),
    ("placements = { all = 1 }\n" + ONE_BENCHMARK, "placements must be a non-empty list of names"),
    ("procs = 'two'\n" + ONE_BENCHMARK, "procs must be a list of integers"),
    ("threshold = 'five'\n" + ONE_BENCHMARK, "threshold must be a fraction"),
    ("pyperf = 3\n" + ONE_BENCHMARK, "[pyperf] must be a table"),
    ("description = 3\n" + ONE_BENCHMARK, "description must be a string"),
    (ONE_BENCHMARK + "params = [1]\n", "params must be a table"),
    (ONE_BENCHMARK + "workload = 7\n", "is not valid TOML"),  # a key written twice
    ("[[benchmark]]\nworkload = 7\n", "has no workload"),
])
def test_values_of_the_wrong_type_name_the_key(text, message):
    with pytest.raises(UserError) as error:
        parse(text)
    assert message in str(error.value) and error.value.fix


def test_suite_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[[benchmark]]\nworkload = "spawn"  # café\n'.encode("latin-1"))
    with pytest.raises(UserError) as error:
        suites.load(str(path))
    assert f"suite file {path} is not UTF-8 text: line 2 has byte 0xe9" in str(error.value)
    assert "save it as UTF-8" in error.value.fix


def test_integer_too_long_for_python_is_refused():
    with pytest.raises(UserError) as error:
        parse("threshold = " + "9" * 5000 + "\n" + ONE_BENCHMARK)
    assert "holds an integer too long to read" in str(error.value)


def test_procs_above_the_drivers_maximum_is_refused():
    with pytest.raises(UserError) as error:
        parse(ONE_BENCHMARK + "procs = [257]\n")
    assert "procs must be a list of integers from 1 to 256" in str(error.value)
    assert "procs = [1, 2]" in error.value.fix


def test_empty_param_sweep_names_the_param():
    with pytest.raises(UserError) as error:
        parse(ONE_BENCHMARK + "params = { tasks = [] }\n")
    assert "(benchmark 1): params.tasks is an empty list of values to sweep" in str(error.value)
    assert error.value.fix == "put at least one value in the list, or leave tasks out for its default"


@pytest.mark.parametrize("value", ["[[1, 2]]", "{ a = 1 }", "[{ a = 1 }]"])
def test_nested_param_values_are_refused(value):
    with pytest.raises(UserError) as error:
        parse(ONE_BENCHMARK + f"params = {{ tasks = {value} }}\n")
    assert "params.tasks must be a value or a list of values" in str(error.value)
    assert error.value.fix == "write tasks = VALUE, or tasks = [VALUE, ...] to sweep"


@pytest.mark.parametrize("value, held", [("a,b", "','"), ("x[1]", "'[' ']'"), ("k=v", "'='")])
def test_text_value_a_benchmark_name_cannot_hold_is_refused(value, held):
    # BenchmarkId.parse could not read the name back, and the result file would not load
    echo = DriverInfo.from_hello({"protocol": 1, "workloads": {"echo": {"params": {
        "label": {"type": "str", "default": "x"}}}}}, "mine")
    with pytest.raises(UserError) as error:
        suites.expand(suites.adhoc("echo", [f"label={value}"]), {"mine": echo}, impls=["mine"])
    assert error.value.problem == (f"suite adhoc (benchmark 1, workload 'echo'): label={value!r} "
                                   f"holds {held}, which benchmark names use to separate parameters")
    assert error.value.fix == "give label a value without any of , [ ] ="


def test_a_param_given_twice_on_the_command_line_is_refused_pointing_to_sweeps():
    with pytest.raises(UserError, match=r"--param tasks is given twice \(tasks=10 and tasks=20\)") \
            as error:
        suites.adhoc("spawn", ["tasks=10", "stack_size=4096", "tasks=20"])
    assert "params = { tasks = [VALUE, ...] }" in error.value.fix and "--suite FILE" in error.value.fix
