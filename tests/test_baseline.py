"""Baselines: filed by machine and suite, candidates kept apart and promoted
by `save`, and every file that cannot be a baseline refused with the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tgobench import baseline, results, system
from tgobench.errors import UserError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
QUICK = FIXTURES / "results" / "quick-v1.json"        # suite quick, machine fixture-2c1n-0123abcd
PLAIN = FIXTURES / "compare" / "plain.json"           # a pyperf file not written by tgobench
FIXTURE_MACHINE = "fixture-2c1n-0123abcd"


def _rewrite_metadata(source: Path, target: Path, change) -> Path:
    """A copy of a result file with change(metadata) applied to each
    benchmark's metadata (pyperf keeps the keys all benchmarks share at the
    top of the file; they are moved into each benchmark first)."""
    data = json.loads(source.read_text())
    shared = data.pop("metadata", {})
    for bench in data["benchmarks"]:
        bench["metadata"] = {**shared, **bench.get("metadata", {})}
        change(bench["metadata"])
    target.write_text(json.dumps(data))
    return target


def test_save_files_the_result_under_its_machine_and_suite(tmp_path):
    saved = baseline.save(QUICK, tmp_path / "bl")
    assert saved.path == tmp_path / "bl" / FIXTURE_MACHINE / "quick.json"
    assert (saved.machine_id, saved.suite, saved.benchmarks) == (FIXTURE_MACHINE, "quick", 4)
    assert not saved.replaced and not saved.promoted_candidate
    stored = results.load(saved.path)
    assert [b.name for b in stored.benchmarks] == [b.name for b in results.load(QUICK).benchmarks]
    assert baseline.find(tmp_path / "bl", FIXTURE_MACHINE, "quick") == saved.path
    assert baseline.find(tmp_path / "bl", FIXTURE_MACHINE, "nightly") is None


def test_save_again_replaces_and_machine_option_overrides(tmp_path):
    baseline.save(QUICK, tmp_path)
    assert baseline.save(QUICK, tmp_path).replaced
    other = baseline.save(QUICK, tmp_path, machine_id="rack7-epyc")
    assert other.path == tmp_path / "rack7-epyc" / "quick.json"


def test_promoting_the_candidate_removes_it(tmp_path):
    candidate = baseline.record_candidate(QUICK, tmp_path, FIXTURE_MACHINE, "quick")
    assert candidate == tmp_path / FIXTURE_MACHINE / "quick.candidate.json"
    assert baseline.find(tmp_path, FIXTURE_MACHINE, "quick") is None  # a candidate is no baseline
    saved = baseline.save(candidate, tmp_path)
    assert saved.promoted_candidate and not candidate.exists()
    assert saved.path == tmp_path / FIXTURE_MACHINE / "quick.json"


def test_list_shows_baselines_and_candidates_and_unreadable_files(tmp_path):
    assert baseline.list_stored(tmp_path / "none") == []
    baseline.save(QUICK, tmp_path)
    baseline.record_candidate(QUICK, tmp_path, "other-machine", "quick")
    (tmp_path / "other-machine" / "nightly.json").write_text("{not json")
    stored = baseline.list_stored(tmp_path)
    assert [(s.machine_id, s.suite, s.candidate, s.benchmarks) for s in stored] == [
        (FIXTURE_MACHINE, "quick", False, 4),
        ("other-machine", "nightly", False, None),
        ("other-machine", "quick", True, 4)]
    assert "not JSON" in stored[1].problem


def test_plain_pyperf_file_is_refused(tmp_path):
    with pytest.raises(UserError) as err:
        baseline.save(PLAIN, tmp_path)
    assert "does not say which suite" in err.value.problem
    assert not any(tmp_path.iterdir())


def test_adhoc_run_is_refused(tmp_path):
    adhoc = _rewrite_metadata(QUICK, tmp_path / "adhoc.json",
                              lambda md: md.update(tgobench_suite="adhoc"))
    with pytest.raises(UserError, match="ad hoc"):
        baseline.save(adhoc, tmp_path / "bl")


def test_file_mixing_machines_is_refused(tmp_path):
    count = iter(range(100))

    def change(md):
        machine = json.loads(md["tgobench_machine"])
        machine["machine_id"] = f"m{next(count)}"
        md["tgobench_machine"] = json.dumps(machine)

    mixed = _rewrite_metadata(QUICK, tmp_path / "mixed.json", change)
    with pytest.raises(UserError, match="more than one machine"):
        baseline.save(mixed, tmp_path / "bl")


def test_file_without_machine_needs_the_option(tmp_path):
    anonymous = _rewrite_metadata(QUICK, tmp_path / "anon.json",
                                  lambda md: md.update(tgobench_machine="{}"))
    with pytest.raises(UserError) as err:
        baseline.save(anonymous, tmp_path / "bl")
    assert "--machine" in err.value.fix
    assert baseline.save(anonymous, tmp_path / "bl", machine_id="box1").machine_id == "box1"


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden"])
def test_names_that_are_not_one_path_component_are_refused(tmp_path, name):
    with pytest.raises(UserError, match="cannot name a baseline file"):
        baseline.save(QUICK, tmp_path, machine_id=name)


def test_cli_save_and_list(tmp_path, tgobench_cli):
    saved = tgobench_cli("baseline", "save", str(QUICK), "--baselines", "bl", cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    assert f"saved baseline bl/{FIXTURE_MACHINE}/quick.json" in saved.stdout
    listed = tgobench_cli("baseline", "list", "--baselines", "bl", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if FIXTURE_MACHINE in line)
    assert line.split()[1:4] == ["quick", "baseline", "4"]
    assert f"bl/{FIXTURE_MACHINE}/quick.json" in line


def test_cli_list_marks_this_machine(tmp_path, tgobench_cli):
    here = system.machine()["machine_id"]
    baseline.save(QUICK, tmp_path / "baselines", machine_id=here)
    listed = tgobench_cli("baseline", "list", cwd=tmp_path)  # ./baselines by default
    assert f"{here} (this machine)" in listed.stdout


def test_cli_bad_file_exits_2(tmp_path, tgobench_cli):
    proc = tgobench_cli("baseline", "save", "missing.json", "--baselines", "bl", cwd=tmp_path)
    assert proc.returncode == 2
    assert "missing.json does not exist" in proc.stderr
    assert not (tmp_path / "bl").exists()
