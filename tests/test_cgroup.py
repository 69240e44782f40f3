"""The memory the process's cgroups leave, as the runtime reads it
(tgobench/native/src/mem.c): the room under each fixture tree of
tests/fixtures/cgroup (cgroup v1 and v2, namespaced or not, a limit on an
ancestor, usage past the limit, no limit), through tests/c/cgroup_check.c;
and drivers started in a real cgroup with a limit, which refuse what would
outgrow it and serve on where the OOM killer ended them before. The Go
driver reads the same trees in its own tests (cgroup_test.go, run by
test_go_driver)."""

from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path

import pytest
from tests.conftest import (CGROUP_LIMIT_MIB, IMPLS, REPO, Driver, build_with_source,
                            driver_path)

FIXTURES = REPO / "tests" / "fixtures"
TREES = sorted(p.parent for p in (FIXTURES / "cgroup").glob("*/room_kib"))


@pytest.fixture(scope="module")
def cgroup_check(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_with_source(REPO / "tests" / "c" / "cgroup_check.c", "mem.c",
                             tmp_path_factory.mktemp("cgroup") / "cgroup_check")


def room(exe: Path, root: Path) -> str:
    return subprocess.run([str(exe), str(root)], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_there_are_trees_of_both_versions_and_without_a_limit():
    names = {tree.name for tree in TREES}
    assert {"v1-hybrid", "v2-container", "v1-unlimited"} <= names, names


@pytest.mark.parametrize("tree", TREES, ids=lambda tree: tree.name)
def test_room_under_each_fixture_tree(cgroup_check, tree):
    assert room(cgroup_check, tree) == (tree / "room_kib").read_text().strip()


def test_no_cgroup_files_is_no_limit(cgroup_check, tmp_path):
    assert room(cgroup_check, tmp_path) == "none"


def test_fixture_trees_match_their_generator(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    make_cgroup, make_sysfs = (importlib.import_module(m) for m in ("make_cgroup", "make_sysfs"))
    make_cgroup.generate(tmp_path)
    assert make_sysfs.trees_differ(tmp_path, FIXTURES / "cgroup") == []


@pytest.mark.parametrize("impl", IMPLS)
def test_a_driver_in_a_limited_cgroup_refuses_what_outgrows_it_and_serves_on(
        driver_dir, impl, memory_cgroup):
    """1M parked tasks with 64 KiB stacks need about 5 GB, 3M spawned ones
    on one P (which runs none before the last is queued) more: where the
    driver saw only MemAvailable, the OOM killer ended it at the cgroup's
    limit, with whatever it had measured."""
    with Driver(Path("/bin/sh"), *memory_cgroup.enter, str(driver_path(impl, driver_dir))) as d:
        parked = d.request({"op": "run", "workload": "parked", "loops": 1,
                            "params": {"tasks": 1_000_000, "stack_size": 65536}})
        assert parked["ok"] is False, parked
        available = re.search(r"only (\d+) MiB is available", parked["error"])
        assert available and int(available.group(1)) <= CGROUP_LIMIT_MIB, parked
        spawn = d.request({"op": "run", "workload": "spawn", "loops": 1, "procs": 1,
                           "params": {"tasks": 3_000_000}}, timeout=120)
        assert spawn["ok"] is False, spawn
        assert "than the memory available holds" in spawn["error"], spawn
        small = d.request({"op": "run", "workload": "spawn", "params": {"tasks": 1000}})
        assert small["ok"] is True and small["ops"] == 1000, small
        assert d.close() == 0, d.stderr
    assert memory_cgroup.oom_kills() == 0
