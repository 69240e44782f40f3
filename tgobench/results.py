"""Result files: pyperf BenchmarkSuite JSON with tgobench's metadata.

A result file is a plain pyperf file, so `python -m pyperf show` and
`python -m pyperf compare_to` read it. tgobench adds metadata keys, all
prefixed `tgobench_`; those holding structured data store it as a JSON string
because pyperf accepts only str, int and float metadata values.

One pyperf benchmark per (workload, params, impl, placement, procs), named
`{workload}[{k=v,...}] {impl} {placement} p{procs}`: the params in the name are
the ones the suite or the user gave explicitly, sorted by name.

Values are seconds per operation (elapsed_ns / ops / 1e9, pyperf unit
"second"): the driver times the measured part of each loop itself.

Format history (`tgobench_format`):

1 - (tgobench 0.1.0) first version. Benchmark metadata: tgobench_format,
    tgobench_impl, tgobench_workload, tgobench_params (JSON object: every
    param with defaults filled in), tgobench_placement ("all", "cpus:0-3",
    "numa:node0", "numa:interleave"), tgobench_procs, tgobench_op_unit,
    tgobench_suite, tgobench_threshold (fraction, 0.05 = 5%),
    tgobench_version, tgobench_driver_version, tgobench_compiler,
    tgobench_machine (JSON: cpu_model, cpus, numa_nodes, kernel, machine_id),
    tgobench_warnings (JSON list of {"message", "fix"}). Run metadata:
    tgobench_metrics (JSON list: the driver's `metrics` object for each value
    of the run, in order).

The reading side (BenchmarkId, BenchmarkResult, ResultSet, load) is what
compare and report use; the writing side (benchmark_metadata, ResultWriter)
is the runner's.
"""

from __future__ import annotations

import errno
import gzip
import io
import json
import math
import os
import reprlib
import statistics
import sys
import tempfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import pyperf

from tgobench.errors import UserError

FORMAT_VERSION = 1

# Metadata keys whose values are JSON text, decoded when a file is loaded.
_JSON_KEYS = ("tgobench_params", "tgobench_machine", "tgobench_warnings")

# Benchmark metadata that must agree before runs of two files are merged into
# one benchmark: runs measured by different code or machines are not samples
# of the same thing, and pyperf keeps only the metadata all runs share, so a
# key that differed (the suite's threshold) would vanish.
_MERGE_CHECKED_KEYS = ("tgobench_format", "tgobench_params", "tgobench_driver_version",
                       "tgobench_compiler", "tgobench_op_unit", "tgobench_suite",
                       "tgobench_threshold", "unit")

# What a message about a damaged file tells the user to do.
_DAMAGED_FIX = ("the file is damaged: restore it from the artifact it came from, or re-run "
                "`tgobench run` to measure again")

# Above this a value is damage, not a measurement (a petabyte, or 31 million
# years per operation); the bound also keeps sums of values from overflowing.
_LARGEST_VALUE = 1e15

# The thresholds a suite and `compare --threshold` accept: fractions below this.
THRESHOLD_LIMIT = 10.0

# The counters report reads besides steals (report._counter_rates).
_COUNTERS_READ = ("switches", "shared_takes", "parks")

# Drivers nest metrics two deep (counters.steals.llc); the bound keeps a
# hostile file from exhausting the stack of the check.
_METRIC_NESTING = 8

# What a benchmark name separates its params with: a value holding one would
# be written into a name that BenchmarkId.parse cannot read back.
NAME_SEPARATORS = ",[]="


def format_param(value: Any) -> str:
    """A parameter value as it appears in a benchmark name."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class BenchmarkId:
    """What a benchmark measures. `params` holds the explicitly given params,
    sorted by name, values as text; a plain pyperf benchmark not written by
    tgobench has its whole name as workload, impl "", placement "", procs 0."""

    workload: str
    params: tuple[tuple[str, str], ...]
    impl: str
    placement: str
    procs: int

    @property
    def name(self) -> str:
        if not self.impl and not self.placement and not self.procs and not self.params:
            return self.workload
        head = self.workload
        if self.params:
            head += "[" + ",".join(f"{k}={v}" for k, v in self.params) + "]"
        return f"{head} {self.impl} {self.placement} p{self.procs}"

    @property
    def open_loop(self) -> bool:
        """rpc at a fixed rate: its time per request is the schedule's (1/rate
        and the last reply's latency); its latency metrics tell implementations
        apart."""
        return self.workload == "rpc" and dict(self.params).get("mode") == "open"

    def without_impl(self) -> BenchmarkId:
        """The same benchmark with the implementation left out: the key that
        matches one implementation's benchmark with another's."""
        return replace(self, impl="")

    @classmethod
    def make(cls, workload: str, params: dict[str, Any], impl: str, placement: str,
             procs: int) -> BenchmarkId:
        return cls(workload, tuple(sorted((k, format_param(v)) for k, v in params.items())),
                   impl, placement, procs)

    @classmethod
    def parse(cls, name: str) -> BenchmarkId:
        """The id a benchmark name spells; raises ValueError if `name` is not
        of tgobench's form."""
        parts = name.rsplit(" ", 3)
        if len(parts) != 4 or not parts[3].startswith("p") or not parts[3][1:].isdigit():
            raise ValueError(f"not a tgobench benchmark name: {name!r}")
        head, impl, placement, procs = parts
        params: list[tuple[str, str]] = []
        workload = head
        if head.endswith("]") and "[" in head:
            workload, _, inner = head[:-1].partition("[")
            for item in inner.split(","):
                key, eq, value = item.partition("=")
                if not eq or not key:
                    raise ValueError(f"bad parameter {item!r} in benchmark name {name!r}")
                params.append((key, value))
        return cls(workload, tuple(sorted(params)), impl, placement, int(procs[1:]))


@dataclass
class BenchmarkResult:
    """One benchmark of a result file.

    `run_means` holds the mean of each worker process's values (warmups and
    calibration runs excluded): values within one process are correlated, so
    these means are the samples a statistical test should see. `metadata` is
    pyperf's benchmark metadata with the JSON-valued tgobench keys decoded;
    `metrics` holds the driver's metrics object for each value, in the order
    of `values`, and `run_lengths` how many of them each process gave."""

    id: BenchmarkId
    run_means: list[float]
    values: list[float]
    metadata: dict[str, Any]
    metrics: list[dict]
    unit: str
    threshold: float | None
    run_lengths: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.id.name

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def metric_values(self, metric: str) -> list[float]:
        """A number metric ("active_conns") of each value that has it."""
        return [float(m[metric]) for m in self.metrics
                if isinstance(m.get(metric), (int, float)) and not isinstance(m[metric], bool)]

    def median_metric(self, metric: str) -> float | None:
        """The median over values of a number metric; None where no value
        has it."""
        found = self.metric_values(metric)
        return statistics.median(found) if found else None

    def median_percentile(self, metric: str, key: str) -> float | None:
        """The median over values of one percentile of a histogram metric
        (metric "latency_ns", key "p99"); None where no value has it."""
        found = [v for v in self._percentiles(metric, key) if v is not None]
        return statistics.median(found) if found else None

    def run_medians_of(self, metric: str, key: str) -> list[float] | None:
        """The median of one percentile of a histogram metric in each worker
        process: the samples to test that percentile by, as `run_means` are
        for time. A median, because one stalled loop's tail would set a mean.
        None unless every value has it."""
        found = self._percentiles(metric, key)
        if not self.run_lengths or sum(self.run_lengths) != len(found) or None in found:
            return None
        medians, start = [], 0
        for length in self.run_lengths:
            medians.append(statistics.median(found[start:start + length]))
            start += length
        return medians

    def _percentiles(self, metric: str, key: str) -> list[float | None]:
        """One percentile of a histogram metric for each value, None where
        that value lacks it."""
        return [m[metric][key] if isinstance(m.get(metric), dict)
                and isinstance(m[metric].get(key), (int, float)) else None
                for m in self.metrics]


@dataclass
class ResultSet:
    """A loaded result file: its benchmarks in file order, the machine they ran
    on, and the system-check warnings recorded with them."""

    path: Path
    benchmarks: list[BenchmarkResult]
    machine: dict = field(default_factory=dict)
    warnings: list[dict] = field(default_factory=list)

    def get(self, name: str) -> BenchmarkResult:
        for bench in self.benchmarks:
            if bench.name == name:
                return bench
        raise KeyError(name)


def load(path: str | os.PathLike) -> ResultSet:
    """Read a result file (tgobench's or any pyperf file). Raises UserError
    naming the file and what is wrong with it: every field the rest of
    tgobench reads is checked here, so that compare, report, ci and baseline
    can take a loaded file's shape for granted."""
    path = Path(path)
    data = _read_json(path)
    _check_raw(path, data)
    try:
        suite = pyperf.BenchmarkSuite.loads(json.dumps(data))
    except (ValueError, TypeError, KeyError) as exc:
        raise _not_a_result_file(path, f"pyperf cannot read it: {exc}") from None
    benchmarks = [_benchmark_result(path, bench) for bench in suite.get_benchmarks()]
    machine: dict = {}
    warnings: list[dict] = []
    for bench in benchmarks:
        machine = machine or bench.metadata.get("tgobench_machine", {})
        for warning in bench.metadata.get("tgobench_warnings", []):
            if warning not in warnings:
                warnings.append(warning)
    return ResultSet(path, benchmarks, machine, warnings)


def _read_json(path: Path) -> Any:
    if not path.exists():
        raise UserError(f"result file {path} does not exist",
                        "check the path; `tgobench run -o FILE` writes one")
    if path.is_dir():
        raise UserError(f"{path} is a directory, not a result file",
                        "give the path of a file that `tgobench run -o FILE` wrote")
    opener = gzip.open if _gzipped(path) else open
    try:
        with opener(path, "rt", encoding="utf-8") as fp:
            return json.load(fp)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        # BadGzipFile is an OSError, but no permission would make it readable
        raise UserError(f"{path} cannot be decompressed: its gzip data is cut short or "
                        f"corrupt ({exc})", _DAMAGED_FIX) from None
    except OSError as exc:
        raise UserError(f"cannot read result file {path}: {exc.strerror or exc}",
                        "check the file's permissions") from None
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than json reads
        raise _not_a_result_file(path, f"it is not JSON ({exc})") from None


def _gzipped(path: Path) -> bool:
    """A result file named *.gz holds gzip data, as pyperf reads and writes
    it."""
    return path.name.endswith(".gz")


def _not_a_result_file(path: Path, why: str) -> UserError:
    return UserError(f"{path} is not a result file: {why}",
                     "give a file written by `tgobench run` or pyperf")


def _benchmark_result(path: Path, bench: pyperf.Benchmark) -> BenchmarkResult:
    name = bench.get_name()
    if not isinstance(name, str):
        raise UserError(f"{path}: a benchmark's name is not text: {reprlib.repr(name)}",
                        _DAMAGED_FIX)
    where = f"{path}: benchmark {name}"
    metadata = _checked_metadata(where, bench.get_metadata())
    if "tgobench_format" in metadata:
        try:
            bench_id = BenchmarkId.parse(name)
        except ValueError as exc:
            raise UserError(f"{path}: {exc}", _DAMAGED_FIX) from None
    else:
        bench_id = BenchmarkId(name, (), "", "", 0)
    run_means: list[float] = []
    run_lengths: list[int] = []
    values: list[float] = []
    metrics: list[dict] = []
    for run in bench.get_runs():
        if not run.values:
            continue
        run_means.append(statistics.fmean(run.values))
        run_lengths.append(len(run.values))
        values.extend(run.values)
        metrics.extend(_metrics_of_run(where, run))
    if "tgobench_format" in metadata:
        metadata["tgobench_warnings"] = _warnings_of_runs(where, bench)
    threshold = metadata.get("tgobench_threshold")
    return BenchmarkResult(bench_id, run_means, values, metadata, metrics, bench.get_unit(),
                           float(threshold) if threshold is not None else None, run_lengths)


def _metrics_of_run(where: str, run: pyperf.Run) -> list[dict]:
    """The driver's metrics object of each of the run's values; empty ones
    where the run has none (a plain pyperf file)."""
    raw = run.get_metadata().get("tgobench_metrics")
    if not raw:
        return [{}] * len(run.values)
    decoded = _decode(where, "tgobench_metrics", raw)
    if not isinstance(decoded, list) or len(decoded) != len(run.values):
        raise UserError(f"{where} has a run whose tgobench_metrics does not hold one object "
                        "per value", _DAMAGED_FIX)
    for metrics in decoded:
        _check_metrics(where, metrics)
    return decoded


def _warnings_of_runs(where: str, bench: pyperf.Benchmark) -> list[dict]:
    """The system warnings of every run, each once: runs added with --append
    may have been warned of different things, and pyperf's benchmark
    metadata keeps only what all runs share."""
    warnings: list[dict] = []
    for run in bench.get_runs():
        raw = run.get_metadata().get("tgobench_warnings")
        decoded = _decode(where, "tgobench_warnings", raw) if raw else []
        _check_shape(where, "tgobench_warnings", decoded)
        for warning in decoded:
            if warning not in warnings:
                warnings.append(warning)
    return warnings


def _decode(where: str, key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        raise UserError(f"{where} has metadata {key} that is not JSON: {reprlib.repr(value)}",
                        _DAMAGED_FIX) from None


# --- checking what was read --------------------------------------------------
#
# A file may be damaged (cut short, edited by hand, written by a buggy tool),
# so load checks, once, the shape of everything compare, report, ci and
# baseline read; what pyperf itself walks is checked before pyperf sees it,
# because pyperf trips over a wrong shape with a bare AttributeError.

def _check_raw(path: Path, data: Any) -> None:
    """Check the containers pyperf walks and every value, so the message can
    name the benchmark."""
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise _not_a_result_file(path, "it has no list of benchmarks")
    if not data["benchmarks"]:
        raise _not_a_result_file(path, "it holds no benchmark")
    suite_metadata = _raw_metadata(data, f"{path}: the file's metadata")
    for index, bench in enumerate(data["benchmarks"], start=1):
        if not isinstance(bench, dict) or not isinstance(bench.get("runs"), list):
            raise _not_a_result_file(path, f"benchmark #{index} has no runs")
        own = _raw_metadata(bench, f"{path}: benchmark #{index}'s metadata")
        metadata = {**suite_metadata, **own}
        where = f"{path}: benchmark {metadata.get('name') or f'#{index}'}"
        version = metadata.get("tgobench_format")
        if _is_whole(version) and version > FORMAT_VERSION:
            raise UserError(f"{where} is in result format {version}, newer than this tgobench "
                            f"reads ({FORMAT_VERSION})", "upgrade tgobench")
        _check_raw_runs(where, bench["runs"])


def _raw_metadata(holder: dict, whose: str) -> dict:
    metadata = holder.get("metadata", {})
    if not isinstance(metadata, dict):
        raise UserError(f"{whose} is not a JSON object: {reprlib.repr(metadata)}", _DAMAGED_FIX)
    return metadata


def _check_raw_runs(where: str, runs: list) -> None:
    count = 0
    for run in runs:
        values = run.get("values", []) if isinstance(run, dict) else None
        if not isinstance(values, list):
            raise UserError(f"{where} has a run without a list of values", _DAMAGED_FIX)
        _raw_metadata(run, f"{where} has a run whose metadata")
        for value in values:
            _check_value(where, value)
        count += len(values)
    if count == 0:
        raise UserError(f"{where} has no values (only calibration or warmups)",
                        "re-run it; an interrupted benchmark is left out of the file, "
                        "never stored without values")


def _check_value(where: str, value: Any) -> None:
    problem = value_problem(value)
    if problem:
        raise UserError(f"{where} has a value {problem}", _DAMAGED_FIX)


def value_problem(value: Any) -> str | None:
    """Why `value` cannot be a value of a result file ("that is nan"), or
    None: the rule load applies, for a writer to apply before storing it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"that is not a number: {reprlib.repr(value)}"
    if isinstance(value, float) and math.isnan(value):
        return "that is nan"
    if value <= 0:
        return f"that is not positive: {value}"
    if value > _LARGEST_VALUE:
        return (f"too large to be a measurement: {reprlib.repr(value)} "
                f"(above {_LARGEST_VALUE:g})")
    return None


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A finite int or float: Python's json reads NaN and Infinity, and
    integers of any size (compared, not converted, so a huge one cannot
    overflow)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and abs(value) <= sys.float_info.max)


def _is_machine(value: Any) -> bool:
    return (isinstance(value, dict)
            and all(_is_text(value.get(key, "")) for key in ("cpu_model", "kernel", "machine_id"))
            and all(_is_whole(value.get(key, 1)) for key in ("cpus", "numa_nodes")))


def _is_warnings(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(w, dict) and _is_text(w.get("message")) and _is_text(w.get("fix"))
        for w in value)


# Every tgobench metadata key, JSON ones decoded, with the shape its readers
# need: the check, and the words that name the shape in the error.
_METADATA_SHAPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "tgobench_format": (lambda v: _is_whole(v) and v >= 1, "a format version from 1"),
    "tgobench_impl": (_is_text, "text"),
    "tgobench_workload": (_is_text, "text"),
    "tgobench_params": (lambda v: isinstance(v, dict), "a JSON object"),
    "tgobench_placement": (_is_text, "text"),
    "tgobench_procs": (lambda v: _is_whole(v) and v >= 1, "a whole number from 1"),
    "tgobench_op_unit": (_is_text, "text"),
    "tgobench_suite": (_is_text, "text"),
    "tgobench_threshold": (lambda v: _is_number(v) and 0 <= v < THRESHOLD_LIMIT,
                           f"a fraction from 0 to below {THRESHOLD_LIMIT:g}"),
    "tgobench_version": (_is_text, "text"),
    "tgobench_driver_version": (_is_text, "text"),
    "tgobench_compiler": (_is_text, "text"),
    "tgobench_machine": (_is_machine, "a JSON object whose cpu_model, kernel and machine_id "
                                      "are text and cpus and numa_nodes whole numbers"),
    "tgobench_warnings": (_is_warnings, 'a JSON list of {"message": text, "fix": text}'),
}


def _checked_metadata(where: str, metadata: dict) -> dict:
    """`metadata` with its JSON-valued keys decoded, each tgobench key
    checked to hold the shape its readers need."""
    for key in _JSON_KEYS:
        if key in metadata:
            metadata[key] = _decode(where, key, metadata[key])
    for key in _METADATA_SHAPES.keys() & metadata.keys():
        _check_shape(where, key, metadata[key])
    return metadata


def _check_shape(where: str, key: str, value: Any) -> None:
    fits, shape = _METADATA_SHAPES[key]
    if not fits(value):
        raise UserError(f"{where} has metadata {key} that is not {shape}: {reprlib.repr(value)}",
                        _DAMAGED_FIX)


def _is_metric(value: Any, depth: int = 0) -> bool:
    """A finite number (or null, for a figure the driver could not measure),
    or a list or object of metrics."""
    if isinstance(value, (list, dict)):
        items = value.values() if isinstance(value, dict) else value
        return depth < _METRIC_NESTING and all(_is_metric(v, depth + 1) for v in items)
    return value is None or _is_number(value)


def _are_counters(value: Any) -> bool:
    """Scheduler counters as report divides and scales them: the counts it
    reads are numbers, and steals an object of numbers by level."""
    if not isinstance(value, dict) or not isinstance(value.get("steals", {}), dict):
        return False
    read = [value.get(key, 0) for key in _COUNTERS_READ] + list(value.get("steals", {}).values())
    return all(map(_is_number, read))


def _check_metrics(where: str, metrics: Any) -> None:
    if not isinstance(metrics, dict):
        raise UserError(f"{where} has a run whose tgobench_metrics holds "
                        f"{reprlib.repr(metrics)} where a value's metrics object belongs",
                        _DAMAGED_FIX)
    problem = metrics_problem(metrics)
    if problem:
        raise UserError(f"{where} has a run whose {problem}", _DAMAGED_FIX)


def metrics_problem(metrics: dict) -> str | None:
    """Why one value's metrics object cannot be stored ("metric ratio is not
    made of finite numbers: nan"), or None: the rule load applies, for a
    writer to apply before storing it. Figures as drivers report them,
    latency percentiles that are timings, and counters report can divide."""
    for key, metric in metrics.items():
        if not _is_metric(metric):
            return f"metric {key} is not made of finite numbers: {reprlib.repr(metric)}"
    latency = metrics.get("latency_ns")
    if isinstance(latency, dict) and any(_is_number(v) and v <= 0 for v in latency.values()):
        # compare takes an open loop's latency percentiles as its timings
        return f"metric latency_ns holds a percentile that is not positive: {reprlib.repr(latency)}"
    if not _are_counters(metrics.get("counters", {})):
        return (f"metric counters is not an object of numbers with steals an object by level: "
                f"{reprlib.repr(metrics['counters'])}")
    return None


# --- writing -----------------------------------------------------------------

def encode_json(value: Any) -> str:
    """JSON text for a metadata value: one line, keys sorted."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def benchmark_metadata(bench_id: BenchmarkId, *, params: dict[str, Any], op_unit: str,
                       suite: str, threshold: float, tgobench_version: str,
                       driver_version: str, compiler: str, machine: dict,
                       warnings: list[dict]) -> dict[str, str | int | float]:
    """The benchmark metadata of format version 1 (see the history above)."""
    return {
        "tgobench_format": FORMAT_VERSION,
        "tgobench_impl": bench_id.impl,
        "tgobench_workload": bench_id.workload,
        "tgobench_params": encode_json(params),
        "tgobench_placement": bench_id.placement,
        "tgobench_procs": bench_id.procs,
        "tgobench_op_unit": op_unit or "op",
        "tgobench_suite": suite or "adhoc",
        "tgobench_threshold": float(threshold),
        "tgobench_version": tgobench_version,
        "tgobench_driver_version": driver_version or "unknown",
        "tgobench_compiler": compiler or "unknown",
        "tgobench_machine": encode_json(machine),
        "tgobench_warnings": encode_json(warnings),
    }


def check_writable(path: str | os.PathLike, what: str, fix: str) -> None:
    """UserError unless `write_atomic` could write `path`, checked before
    anything is measured: a temporary file created and removed beside it,
    or, where its directory is still to be made, the nearest existing one
    writable. `what` names the file in the message."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} {path} is a directory", fix)
    existing = path.parent
    while not existing.exists():
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        if existing == path.parent:
            tempfile.NamedTemporaryFile(dir=existing, prefix=f".{path.name}.",
                                        suffix=".probe").close()
        elif not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    except OSError as exc:
        raise UserError(f"cannot write {what} {path}: {existing}: {exc.strerror or exc}",
                        fix) from None


def write_atomic(suite: pyperf.BenchmarkSuite, path: str | os.PathLike) -> None:
    """Write `suite` to `path` so that a reader sees the old file or the new
    one, never a part: a temporary file in the same directory, flushed to
    disk, then renamed over `path`. A *.gz name gets gzip data, as pyperf
    writes it and `load` reads it."""
    path = Path(path)
    text = io.StringIO()
    suite.dump(text, compact=False)
    data = text.getvalue().encode("utf-8")
    if _gzipped(path):
        data = gzip.compress(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fp:
            fp.write(data)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    # mkstemp creates files readable by the owner only; a result file should
    # get the mode any other new file would.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_mergeable(path: Path, name: str, old_md: dict, new_md: dict,
                     keys: Sequence[str] = _MERGE_CHECKED_KEYS) -> None:
    for key in keys:
        if old_md.get(key) != new_md.get(key):
            raise UserError(
                f"cannot add runs of {name} to {path}: its {key} differs "
                f"({old_md.get(key)!r} in the file, {new_md.get(key)!r} now)",
                "write to another file (-o) and compare the two with `tgobench compare`")
    old_machine = _machine_id(old_md)
    if old_machine != _machine_id(new_md):
        raise UserError(
            f"cannot add runs of {name} to {path}: they ran on another machine "
            f"({old_machine} in the file, {_machine_id(new_md)} now)",
            "write to another file (-o) and compare the two with `tgobench compare`")


def _machine_id(metadata: dict) -> str | None:
    try:
        return json.loads(metadata.get("tgobench_machine", "{}")).get("machine_id")
    except (ValueError, AttributeError):
        return None


def _check_appendable(path: Path, loaded: ResultSet) -> None:
    """Refuse to append to a file tgobench did not write: its benchmarks
    lack the metadata that compare, report and baseline read."""
    foreign = [bench.name for bench in loaded.benchmarks if "tgobench_format" not in bench.metadata]
    if foreign:
        raise UserError(f"cannot append to {path}: it is not a tgobench result file "
                        f"(benchmark {foreign[0]} has no tgobench metadata)",
                        "write to a new file with -o")


class ResultWriter:
    """Collects finished benchmarks into one result file, rewriting it
    atomically after each, so an interrupted run keeps everything that
    finished. With `append`, runs are added to an existing file (benchmarks
    of the same name gain runs, once their metadata is checked to agree)."""

    def __init__(self, path: str | os.PathLike, append: bool = False):
        self.path = Path(path)
        self._suite: pyperf.BenchmarkSuite | None = None
        self.written: list[str] = []
        if self.path.exists():
            if not append:
                raise UserError(f"result file {self.path} already exists",
                                "choose another file with -o, or pass --append to add runs to it")
            _check_appendable(self.path, load(self.path))  # before anything runs
            self._suite = pyperf.BenchmarkSuite.load(str(self.path))

    def check_can_add(self, name: str, metadata: dict) -> None:
        """Raise UserError, before anything is measured, if runs of benchmark
        `name` with this metadata could not join those in the file. Only the
        keys given are checked: pyperf adds some (the unit) as it measures."""
        self._check_same_suite(name, metadata)
        existing = self._existing(name)
        if existing is not None:
            keys = [k for k in _MERGE_CHECKED_KEYS if k in metadata]
            _check_mergeable(self.path, name, existing.get_metadata(), metadata, keys)

    def _check_same_suite(self, name: str, metadata: dict) -> None:
        """A result file holds one suite's run: baseline save and ci take a
        file's benchmarks as that suite's results."""
        suite = metadata.get("tgobench_suite")
        if self._suite is None or suite is None:
            return
        held = {b.get_metadata().get("tgobench_suite") for b in self._suite.get_benchmarks()}
        if held != {suite}:
            raise UserError(
                f"cannot add {name} to {self.path}: its tgobench_suite is {suite!r}, the file "
                f"holds the results of suite {', '.join(sorted(map(repr, held)))}",
                "write to a new file with -o; one result file holds one suite's run")

    def _existing(self, name: str) -> pyperf.Benchmark | None:
        try:
            return self._suite.get_benchmark(name) if self._suite is not None else None
        except KeyError:
            return None

    def add(self, bench: pyperf.Benchmark) -> None:
        """Merge one finished benchmark into the file."""
        self._check_same_suite(bench.get_name(), bench.get_metadata())
        existing = self._existing(bench.get_name())
        if self._suite is None:
            self._suite = pyperf.BenchmarkSuite([bench])
        elif existing is None:
            self._suite.add_benchmark(bench)
        else:
            _check_mergeable(self.path, bench.get_name(), existing.get_metadata(),
                             bench.get_metadata())
            try:
                existing.add_runs(bench)
            except ValueError as exc:
                raise UserError(f"cannot add runs of {bench.get_name()} to {self.path}: {exc}",
                                "write to another file (-o) and compare the two with "
                                "`tgobench compare`") from None
        write_atomic(self._suite, self.path)
        self.written.append(bench.get_name())
