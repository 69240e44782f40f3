"""Suites: named lists of benchmarks in TOML (suites/*.toml, shipped as
package data, or a user's own file).

    description = "what the suite is for"
    threshold = 0.05              # regression threshold, a fraction (5%)
    impls = ["tgo", "gmp"]        # defaults for every benchmark below
    placements = ["all"]          # all, cpus:0-3, numa:node0, numa:interleave
    procs = []                    # Ps to sweep; empty: the placement's CPUs

    [pyperf]                      # calibration defaults; --fast/--rigorous scale them
    processes = 6
    values = 3
    warmups = 1
    min_time = 0.05               # seconds a value should take at least (at most 10)

    [[benchmark]]
    workload = "spawn"
    params = { tasks = 10000 }    # a list value sweeps: { tasks = [1000, 100000] }
    # impls, placements, procs, threshold override the suite's defaults

A suite is checked against the drivers' hello before anything runs; a
benchmark of a workload that tgobench knows but a driver does not have yet
(rpc and mixed, while they are written) is skipped with a notice.
"""

from __future__ import annotations

import itertools
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from tgobench.drivers import DriverInfo
from tgobench.errors import UserError
from tgobench.resources import data_dir
from tgobench.results import NAME_SEPARATORS, THRESHOLD_LIMIT, format_param

# Every workload of the contract: a driver lacking one of these is behind, not
# wrong, so its benchmarks are skipped rather than refused.
KNOWN_WORKLOADS = ("spawn", "spawn-tree", "yield", "chan", "fib", "skew", "parked", "stress",
                   "rpc", "mixed")
DEFAULT_THRESHOLD = 0.05
_SUITE_KEYS = {"description", "threshold", "impls", "placements", "procs", "pyperf", "benchmark"}
_ENTRY_KEYS = {"workload", "params", "impls", "placements", "procs", "threshold"}
_BENCHMARK_TABLE_FIX = 'write each benchmark as [[benchmark]] (two brackets) then workload = "spawn"'
MAX_PROCS = 256        # the drivers' TGO_MAX_PROCS
MAX_LOOPS = 1_000_000  # the drivers' PROTO_MAX_LOOPS
# Each [pyperf] setting's lowest and highest value. The upper bounds refuse
# the absurd, which pyperf would try for hours: it calibrates loops until a
# value takes min_time, so min_time = inf never ends.
_PYPERF_BOUNDS: dict[str, tuple[float, float]] = {
    "processes": (1, 100), "values": (1, 100), "warmups": (0, 100),
    "loops": (0, MAX_LOOPS),  # 0: calibrate
    "min_time": (0, 10),      # seconds, above the lowest
}


@dataclass(frozen=True)
class PyperfSettings:
    """pyperf's Runner defaults for a suite: --fast and --rigorous scale
    processes and values from these."""

    processes: int = 20
    values: int = 3
    warmups: int = 1
    min_time: float = 0.1
    loops: int = 0  # 0: calibrate


@dataclass(frozen=True)
class BenchmarkEntry:
    """One [[benchmark]] table: where it is, and what it asks for."""

    index: int  # 1-based
    line: int   # of its [[benchmark]] header; 0 when not from a file
    workload: str
    params: dict[str, Any]  # a list value is a sweep
    impls: tuple[str, ...]
    placements: tuple[str, ...]
    procs: tuple[int, ...]  # empty: the placement's CPUs
    threshold: float


@dataclass
class Suite:
    name: str
    path: Path | None
    description: str
    threshold: float
    pyperf: PyperfSettings
    entries: list[BenchmarkEntry]

    def where(self, entry: BenchmarkEntry) -> str:
        """How an error names an entry: file:line (benchmark N, workload W)."""
        place = f"{self.path}:{entry.line}" if self.path and entry.line else f"suite {self.name}"
        return f"{place} (benchmark {entry.index}, workload {entry.workload!r})"


@dataclass(frozen=True)
class BenchmarkCase:
    """One benchmark to measure, checked against its driver: the suite
    entry it came from, the explicitly given params (typed, for the name)
    and every param with defaults filled in (for the driver and metadata)."""

    entry: BenchmarkEntry
    workload: str
    given: dict[str, Any]
    params: dict[str, Any]
    impl: str
    placement: str
    procs: int | None  # None: the placement's default
    op_unit: str


@dataclass
class Expansion:
    cases: list[BenchmarkCase]
    skipped: list[str] = field(default_factory=list)  # notices, one per skipped piece


def available() -> list[str]:
    """Names of the suites shipped with tgobench."""
    return sorted(p.stem for p in data_dir("suites").glob("*.toml"))


def load(name_or_path: str) -> Suite:
    """A shipped suite by name, or a user's file by path."""
    path = Path(name_or_path)
    if not (name_or_path.endswith(".toml") or path.exists()):
        path = data_dir("suites") / f"{name_or_path}.toml"
        if not path.exists():
            raise UserError(f"no suite named {name_or_path!r}",
                            f"shipped suites: {', '.join(available())}; or give the path of "
                            f"a suite file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read suite file {path}: {exc.strerror or exc}",
                        "check the path") from None
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        raise UserError(f"suite file {path} is not UTF-8 text: line {line} has byte "
                        f"0x{exc.object[exc.start]:02x}",
                        "save it as UTF-8, as TOML requires") from None
    return parse(text, path.stem, path)


def parse(text: str, name: str, path: Path | None = None) -> Suite:
    where = str(path) if path else f"suite {name}"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{where} is not valid TOML: {exc}", "fix the syntax at that line") from None
    except ValueError:  # tomllib's int() refuses an integer of thousands of digits
        raise UserError(f"{where} holds an integer too long to read",
                        "write numbers of a sane size") from None
    _unknown_keys(data, _SUITE_KEYS, where, "the suite")
    threshold = _threshold(data.get("threshold", DEFAULT_THRESHOLD), where)
    impls = _strings(data.get("impls", ["tgo", "gmp"]), "impls", where)
    placements = _strings(data.get("placements", ["all"]), "placements", where)
    procs = _procs(data.get("procs", []), where)
    settings = _pyperf(data.get("pyperf", {}), where)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise UserError(f"{where}: description must be a string", 'write description = "what it is for"')
    headers = [i + 1 for i, line in enumerate(text.splitlines())
               if re.match(r"\s*\[\[\s*benchmark\s*\]\]", line)]
    entries = []
    for index, table in enumerate(_benchmark_tables(data, where), start=1):
        line = headers[index - 1] if index - 1 < len(headers) else 0
        here = f"{path}:{line} (benchmark {index})" if path and line else f"{where} (benchmark {index})"
        if not isinstance(table, dict):
            raise UserError(f"{here}: benchmark must be an array of tables, got {table!r}",
                            _BENCHMARK_TABLE_FIX)
        _unknown_keys(table, _ENTRY_KEYS, here, "a benchmark")
        workload = table.get("workload")
        if not isinstance(workload, str) or not workload:
            raise UserError(f"{here} has no workload", 'give it one, e.g. workload = "spawn"')
        entries.append(BenchmarkEntry(
            index, line, workload, _params(table.get("params", {}), here),
            _strings(table.get("impls", impls), "impls", here),
            _strings(table.get("placements", placements), "placements", here),
            _procs(table.get("procs", procs), here),
            _threshold(table.get("threshold", threshold), here)))
    return Suite(name, path, description, threshold, settings, entries)


def adhoc(workload: str, params: Sequence[str], impls: Sequence[str] = ("tgo", "gmp"),
          threshold: float = DEFAULT_THRESHOLD) -> Suite:
    """The suite of `tgobench run --workload W --param k=v ...`."""
    values: dict[str, Any] = {}
    for item in params:
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            raise UserError(f"--param {item!r} is not NAME=VALUE", "write e.g. --param tasks=100000")
        if key in values:
            raise UserError(f"--param {key} is given twice ({key}={values[key]} and {key}={value})",
                            f"give each parameter once; to sweep {key}, write a suite file with "
                            f"params = {{ {key} = [VALUE, ...] }} and run it with --suite FILE")
        values[key] = value
    entry = BenchmarkEntry(1, 0, workload, values, tuple(impls), ("all",), (), threshold)
    return Suite("adhoc", None, f"{workload}, ad hoc", threshold, PyperfSettings(), [entry])


def _benchmark_tables(data: dict, where: str) -> list:
    tables = data.get("benchmark", [])
    if not isinstance(tables, list):
        raise UserError(f"{where}: benchmark must be an array of tables, got {tables!r}",
                        _BENCHMARK_TABLE_FIX)
    if not tables:
        raise UserError(f"{where} lists no benchmark",
                        "add [[benchmark]] tables, each with a workload")
    return tables


def _unknown_keys(table: dict, allowed: set[str], where: str, what: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise UserError(f"{where}: unknown key {', '.join(unknown)} in {what}",
                        f"allowed keys: {', '.join(sorted(allowed))}")


def _strings(value: Any, key: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v for v in value):
        raise UserError(f"{where}: {key} must be a non-empty list of names",
                        f'write e.g. {key} = ["{"tgo" if key == "impls" else "all"}"]')
    return tuple(value)


def _procs(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool)
                                              and 1 <= v <= MAX_PROCS for v in value):
        raise UserError(f"{where}: procs must be a list of integers from 1 to {MAX_PROCS}, "
                        f"the most Ps a driver runs",
                        "write e.g. procs = [1, 2], or leave it out to use the placement's CPUs")
    return tuple(value)


def _params(value: Any, where: str) -> dict[str, Any]:
    """A benchmark's params: each a value, or a non-empty list of values to sweep."""
    if not isinstance(value, dict):
        raise UserError(f"{where}: params must be a table", "write params = { tasks = 1000 }")
    for name, values in value.items():
        sweep = values if isinstance(values, list) else [values]
        if not sweep:
            raise UserError(f"{where}: params.{name} is an empty list of values to sweep",
                            f"put at least one value in the list, or leave {name} out for its "
                            f"default")
        if any(isinstance(v, (list, dict)) for v in sweep):
            raise UserError(f"{where}: params.{name} must be a value or a list of values, "
                            f"got {values!r}",
                            f"write {name} = VALUE, or {name} = [VALUE, ...] to sweep")
    return dict(value)


def _threshold(value: Any, where: str) -> float:
    if (not isinstance(value, (int, float)) or isinstance(value, bool)
            or not 0 < value < THRESHOLD_LIMIT):
        raise UserError(f"{where}: threshold must be a fraction above 0 and below "
                        f"{THRESHOLD_LIMIT:g}, got {value!r}",
                        "write e.g. threshold = 0.05 for 5%")
    return float(value)


def _pyperf(table: Any, where: str) -> PyperfSettings:
    if not isinstance(table, dict):
        raise UserError(f"{where}: [pyperf] must be a table", "write [pyperf] then processes = 6 ...")
    _unknown_keys(table, set(_PYPERF_BOUNDS), where, "[pyperf]")
    defaults = PyperfSettings()
    settings = {}
    for key, (lowest, highest) in _PYPERF_BOUNDS.items():
        value = table.get(key, getattr(defaults, key))
        if not _pyperf_value_ok(key, value, lowest, highest):
            raise UserError(f"{where}: [pyperf] {key} = {value!r} is not valid",
                            f"{key} must be {_pyperf_range(key, lowest, highest)}")
        settings[key] = float(value) if key == "min_time" else value
    return PyperfSettings(**settings)


def _pyperf_value_ok(key: str, value: Any, lowest: float, highest: float) -> bool:
    if isinstance(value, bool):
        return False
    if key == "min_time":
        return isinstance(value, (int, float)) and math.isfinite(value) and lowest < value <= highest
    return isinstance(value, int) and lowest <= value <= highest


def _pyperf_range(key: str, lowest: float, highest: float) -> str:
    if key == "min_time":
        return f"a number of seconds above {lowest} and at most {highest}, e.g. min_time = 0.1"
    return f"an integer from {lowest} to {highest}" + (", 0 to calibrate" if key == "loops" else "")


# --- checking against the drivers ----------------------------------------------

def expand(suite: Suite, drivers: dict[str, DriverInfo], impls: Sequence[str] | None = None,
           placements: Sequence[str] | None = None, procs: Sequence[int] | None = None) -> Expansion:
    """Every benchmark the suite asks for, checked against the drivers'
    hello. `impls`, `placements` and `procs` replace the suite's (the
    command line's --impl, --cpus/--numa and --procs). `drivers` must hold
    every implementation named."""
    expansion = Expansion([])
    for entry in suite.entries:
        entry_impls = tuple(impls) if impls else entry.impls
        entry_placements = tuple(placements) if placements else entry.placements
        entry_procs = tuple(procs) if procs else entry.procs
        for impl in entry_impls:
            if impl not in drivers:
                raise UserError(f"{suite.where(entry)}: unknown implementation {impl!r}",
                                f"known: {', '.join(sorted(drivers))}; another driver is given "
                                f"with --impl {impl}=/path/to/driver")
        having = [impl for impl in entry_impls if entry.workload in drivers[impl].workloads]
        for impl in entry_impls:
            if impl not in having and (having or entry.workload in KNOWN_WORKLOADS):
                expansion.skipped.append(
                    f"{entry.workload} skipped for {impl}: its driver has no workload "
                    f"{entry.workload!r} yet (it has {', '.join(drivers[impl].workloads)})")
        if not having:
            if entry.workload in KNOWN_WORKLOADS:
                continue
            known = sorted({w for impl in entry_impls for w in drivers[impl].workloads})
            raise UserError(f"{suite.where(entry)}: unknown workload {entry.workload!r}",
                            f"known workloads: {', '.join(known)}")
        combos = _param_combinations(suite, entry, [drivers[impl] for impl in having])
        for given in combos:
            for placement in entry_placements:
                for p in entry_procs or (None,):
                    for impl in having:
                        case = _case(suite, entry, drivers[impl], impl, given, placement, p,
                                     expansion.skipped)
                        if case is not None:
                            expansion.cases.append(case)
    return expansion


def _param_combinations(suite: Suite, entry: BenchmarkEntry,
                        infos: list[DriverInfo]) -> list[dict[str, Any]]:
    known = {name for info in infos for name in info.workloads[entry.workload].params}
    for name in entry.params:
        if name not in known:
            raise UserError(f"{suite.where(entry)}: unknown parameter {name!r}",
                            f"{entry.workload} takes: {', '.join(sorted(known)) or 'no parameters'}")
    names = list(entry.params)  # the first written varies slowest
    choices = [entry.params[n] if isinstance(entry.params[n], list) else [entry.params[n]]
               for n in names]
    return [dict(zip(names, combo)) for combo in itertools.product(*choices)]


def _case(suite: Suite, entry: BenchmarkEntry, info: DriverInfo, impl: str, given: dict[str, Any],
          placement: str, procs: int | None, skipped: list[str]) -> BenchmarkCase | None:
    workload = info.workloads[entry.workload]
    typed: dict[str, Any] = {}
    for name, value in given.items():
        param = workload.params.get(name)
        if param is None:
            skipped.append(f"{entry.workload}[{name}={value}] skipped for {impl}: its driver has "
                           f"no parameter {name!r} for {entry.workload}")
            return None
        if isinstance(value, str) and param.type != "str":
            try:
                value = param.convert(value)
            except ValueError as exc:
                raise UserError(f"{suite.where(entry)}: {exc}",
                                f"{name} takes {param.describe()}") from None
        if param.type == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        problem = param.problem(value)
        if problem:
            raise UserError(f"{suite.where(entry)}: {problem}", f"{name} takes {param.describe()}")
        separators = " ".join(repr(c) for c in NAME_SEPARATORS if c in format_param(value))
        if separators:
            raise UserError(f"{suite.where(entry)}: {name}={value!r} holds {separators}, which "
                            f"benchmark names use to separate parameters",
                            f"give {name} a value without any of {' '.join(NAME_SEPARATORS)}")
        typed[name] = value
    full = {name: param.default for name, param in workload.params.items()}
    full.update(typed)
    return BenchmarkCase(entry, entry.workload, typed, full, impl, placement, procs, workload.unit)
