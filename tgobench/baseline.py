"""Baselines: the result file each machine's new runs are judged against.

    baselines/<machine-id>/<suite>.json             the baseline
    baselines/<machine-id>/<suite>.candidate.json   a run recorded by `tgobench ci`
                                                    when the machine had no baseline

A baseline belongs to one machine, because numbers from different CPUs,
core counts, NUMA layouts or kernels are not comparable; the machine id
(tgobench.system.machine_id, shown by `tgobench system`) is recorded in every
result file, so a saved file is filed under the machine it ran on unless
told otherwise. It belongs to one suite, because the gate matches benchmarks
by name and a suite decides the names.

A candidate is never used as a baseline: a person looks at it and promotes
it with `tgobench baseline save`, so that a slow first run cannot become the
standard by itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pyperf

from tgobench import results
from tgobench.errors import UserError

DEFAULT_DIR = Path("baselines")
CANDIDATE_SUFFIX = ".candidate.json"

# A machine id or suite name becomes a path component: no separators, no "..".
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


@dataclass(frozen=True)
class StoredBaseline:
    """One file under the baselines directory. `benchmarks` is None and
    `problem` says why when the file cannot be read as a result file."""

    machine_id: str
    suite: str
    candidate: bool
    path: Path
    benchmarks: int | None
    problem: str = ""


@dataclass(frozen=True)
class SavedBaseline:
    path: Path
    machine_id: str
    suite: str
    benchmarks: int
    replaced: bool                 # an earlier baseline of this machine and suite was overwritten
    promoted_candidate: bool       # the file saved was this machine's candidate, now removed


def path_for(root: Path, machine_id: str, suite: str, candidate: bool = False) -> Path:
    """Where the baseline (or candidate) of `suite` on `machine_id` lives."""
    _check_name(machine_id, "machine id",
                "file it under an id of letters, digits, '.', '_' and '-': "
                "tgobench baseline save --machine ID")
    _check_name(suite, "suite name",
                "name the suite file with letters, digits, '.', '_' and '-' only")
    return Path(root) / machine_id / (suite + (CANDIDATE_SUFFIX if candidate else ".json"))


def find(root: Path, machine_id: str, suite: str) -> Path | None:
    """The baseline of `suite` on `machine_id`, or None when there is none."""
    path = path_for(root, machine_id, suite)
    return path if path.is_file() else None


def save(result_path: Path, root: Path = DEFAULT_DIR,
         machine_id: str | None = None) -> SavedBaseline:
    """Store a result file of `tgobench run` or `tgobench ci` as the baseline
    of its suite on its machine (or on `machine_id`). Raises UserError for a
    file that is not a tgobench result of one suite on one machine."""
    loaded = results.load(result_path)
    suite = _only_value(loaded, "suite", lambda b: b.metadata.get("tgobench_suite"))
    if suite is None:
        raise UserError(f"{result_path} does not say which suite it ran (it was not written by "
                        "tgobench run)", "save a result file of `tgobench run --suite NAME`")
    if suite == "adhoc":
        raise UserError(f"{result_path} is an ad hoc run (--workload), not a suite's",
                        "baselines are per suite: save a run of `tgobench run --suite NAME` or "
                        "of `tgobench ci`")
    recorded = _only_value(loaded, "machine", lambda b: (b.metadata.get("tgobench_machine") or {})
                           .get("machine_id"))
    machine_id = recorded if machine_id is None else machine_id
    if machine_id is None:
        raise UserError(f"{result_path} does not record the machine it ran on",
                        "name it: --machine ID (`tgobench system` shows this machine's id)")
    target = path_for(root, machine_id, suite)
    candidate = path_for(root, machine_id, suite, candidate=True)
    replaced = target.exists()
    _copy_run(result_path, target, "baseline")
    promoted = candidate.exists() and candidate.resolve() == Path(result_path).resolve()
    if promoted:
        candidate.unlink()
    return SavedBaseline(target, machine_id, suite, len(loaded.benchmarks), replaced, promoted)


def _copy_run(result_path: Path, target: Path, what: str) -> None:
    """Write the run at result_path to target, atomically; `what` names the
    target in the error."""
    try:
        results.write_atomic(pyperf.BenchmarkSuite.load(str(result_path)), target)
    except OSError as exc:
        raise UserError(f"cannot write {what} {target}: {exc.strerror or exc}",
                        "check that the baselines directory is writable, or give another with "
                        "--baselines DIR") from None


def record_candidate(result_path: Path, root: Path, machine_id: str, suite: str) -> Path:
    """Copy a run to the candidate baseline of `suite` on `machine_id`,
    replacing an older candidate; the candidate's path."""
    target = path_for(root, machine_id, suite, candidate=True)
    _copy_run(result_path, target, "candidate baseline")
    return target


def list_stored(root: Path = DEFAULT_DIR) -> list[StoredBaseline]:
    """Every baseline and candidate under `root`, by machine then suite."""
    root = Path(root)
    if not root.is_dir():
        return []
    stored = []
    for path in sorted(root.glob("*/*.json")):
        candidate = path.name.endswith(CANDIDATE_SUFFIX)
        suite = path.name[:-len(CANDIDATE_SUFFIX)] if candidate else path.stem
        try:
            count: int | None = len(results.load(path).benchmarks)
            problem = ""
        except UserError as exc:
            count, problem = None, exc.problem
        stored.append(StoredBaseline(path.parent.name, suite, candidate, path, count, problem))
    return stored


def _only_value(loaded: results.ResultSet, what: str, get) -> str | None:
    values = {get(bench) for bench in loaded.benchmarks} - {None, ""}
    if len(values) > 1:
        raise UserError(f"{loaded.path} mixes benchmarks of more than one {what}: "
                        f"{', '.join(sorted(map(str, values)))}",
                        f"a baseline holds one suite run on one machine; save each {what}'s "
                        "results from a file of their own")
    return values.pop() if values else None


def _check_name(name: str, what: str, fix: str) -> None:
    if not _SAFE_NAME.match(name or ""):
        raise UserError(f"{what} {name!r} cannot name a baseline file", fix)
