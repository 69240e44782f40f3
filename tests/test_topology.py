"""The topology reader (tgobench/native/src/topology.c), through a C driver's
`topology` op over the sysfs trees in tests/fixtures/sysfs/, and the Python
side (tgobench/topology.py, `tgobench topology`)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tgobench import topology
from tgobench.errors import UserError
from tgobench.topology import L2, LLC, SMT, Topology

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SYSFS = FIXTURES / "sysfs"


@pytest.fixture
def tgo_driver(driver_dir: Path) -> Path:
    return driver_dir / "tgobench-driver-tgo"


def read_tree(driver, name_or_root: str | Path) -> dict:
    """The driver's answer to the topology op for a fixture tree (by name)
    or a tree at a path."""
    root = SYSFS / name_or_root if isinstance(name_or_root, str) else name_or_root
    answer = driver.request({"op": "topology", "sysfs_root": str(root)})
    assert answer["ok"] is True, answer
    return answer


def assert_well_formed(answer: dict) -> None:
    n = answer["cpus"]
    levels = answer["levels"]
    assert len(answer["node_of"]) == n and len(levels) == n
    for a in range(n):
        assert levels[a][a] == -1
        for b in range(n):
            assert levels[a][b] == levels[b][a]


# ---- through the driver -------------------------------------------------

def test_this_machines_shape(driver) -> None:
    answer = read_tree(driver, "vm-2cpu")
    assert_well_formed(answer)
    assert (answer["cpus"], answer["nodes"], answer["node_of"]) == (2, 1, [0, 0])
    assert answer["levels"] == [[-1, 2], [2, -1]]  # private L2, one shared L3


def test_two_sockets_smt2(driver) -> None:
    answer = read_tree(driver, "2socket-smt2")
    assert_well_formed(answer)
    assert (answer["cpus"], answer["nodes"]) == (32, 2)
    socket0 = set(range(0, 8)) | set(range(16, 24))
    assert answer["node_of"] == [0 if c in socket0 else 1 for c in range(32)]
    level = answer["levels"]
    assert level[0][16] == 0 and level[8][24] == 0 and level[15][31] == 0  # n, n+16
    assert level[0][1] == 2 and level[0][17] == 2 and level[9][26] == 2    # one socket's L3
    assert level[0][8] == 4 and level[7][8] == 4 and level[16][31] == 4    # other socket
    # L2 is per core, so no pair is at level 1; every pair is at some level
    assert all(lvl in (0, 2, 4) for row in level for lvl in row if lvl != -1)


def test_amd_ccx_llc_groups(driver) -> None:
    answer = read_tree(driver, "amd-ccx-smt2")
    assert_well_formed(answer)
    assert (answer["cpus"], answer["nodes"], set(answer["node_of"])) == (32, 1, {0})
    level = answer["levels"]
    assert level[0][16] == 0 and level[3][19] == 0
    assert level[0][3] == 2 and level[0][19] == 2 and level[4][7] == 2 and level[12][31] == 2
    assert level[3][4] == 3 and level[0][20] == 3 and level[1][30] == 3  # other CCX, same node
    topo = Topology.from_answer(answer)
    ccxs = {tuple(topo.group(c, LLC)) for c in range(32)}
    assert len(ccxs) == 4
    assert tuple(range(4, 8)) + tuple(range(20, 24)) in ccxs


def test_l2_shared_by_a_cluster(driver) -> None:
    level = read_tree(driver, "l2-clusters")["levels"]
    assert level[0][3] == 1 and level[5][6] == 1
    assert level[3][4] == 2 and level[0][7] == 2


def test_vm_without_cache_or_node_dirs(driver) -> None:
    answer = read_tree(driver, "vm-4cpu-nocache")
    assert (answer["cpus"], answer["nodes"], answer["node_of"]) == (4, 1, [0, 0, 0, 0])
    # nothing is known to be shared: same node, and no nearer
    assert answer["levels"] == [[-1 if a == b else 3 for b in range(4)] for a in range(4)]


def write_files(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_holes_in_present_and_a_memory_only_node(driver, tmp_path: Path) -> None:
    root = write_files(tmp_path, {
        "devices/system/cpu/present": "0-1,4-5\n",
        "devices/system/cpu/cpu0/topology/thread_siblings_list": "0,4\n",
        "devices/system/cpu/cpu4/topology/thread_siblings_list": "0,4\n",
        "devices/system/node/node0/cpulist": "0-1,4\n",
        "devices/system/node/node2/cpulist": "\n",
    })
    answer = read_tree(driver, root)
    assert_well_formed(answer)
    assert (answer["cpus"], answer["nodes"]) == (6, 3)
    assert answer["node_of"] == [0, 0, -1, -1, 0, -1]   # 2, 3 absent; 5 on no node
    level = answer["levels"]
    assert level[0][4] == 0 and level[0][1] == 3 and level[1][5] == 4
    assert level[0][2] == -1 and level[3][5] == -1
    topo = Topology.from_answer(answer)
    assert topo.node_cpus == ((0, 1, 4), (), ())
    assert [p.cpu for p in topo.places()] == [0, 1, 4, 5]


def test_online_when_present_is_missing(driver, tmp_path: Path) -> None:
    root = write_files(tmp_path, {"devices/system/cpu/online": "0-2\n"})
    answer = read_tree(driver, root)
    assert (answer["cpus"], answer["nodes"]) == (3, 1)
    assert answer["levels"][0][2] == 3


@pytest.mark.parametrize("bad", ["0-\n", "3-1\n", ",1\n", "1,\n", "zero\n", "0 1\n", "\n"])
def test_malformed_cpu_list_is_an_error(driver, tmp_path: Path, bad: str) -> None:
    root = write_files(tmp_path, {"devices/system/cpu/present": bad})
    answer = driver.request({"op": "topology", "sysfs_root": str(root)})
    assert answer["ok"] is False
    assert "EINVAL" in answer["error"] or "nvalid" in answer["error"]


def test_missing_root_is_an_error_and_the_driver_keeps_serving(
        driver, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-sysfs"
    failed = driver.request({"op": "topology", "sysfs_root": str(missing)})
    served = driver.request({"op": "topology", "sysfs_root": str(SYSFS / "vm-2cpu")})
    assert failed["ok"] is False
    assert str(missing) in failed["error"] and "ENOENT" in failed["error"]
    assert served["ok"] is True and served["cpus"] == 2


def test_hello_reads_this_machines_sys(driver) -> None:
    hello = driver.request({"op": "hello"})
    sys_tree = driver.request({"op": "topology", "sysfs_root": "/sys"})
    assert {k: hello["topology"][k] for k in ("cpus", "nodes", "node_of", "levels")} == \
        {k: sys_tree[k] for k in ("cpus", "nodes", "node_of", "levels")}
    assert sys_tree["cpus"] >= len(topology.allowed_cpus())


# ---- the Python module over the driver -------------------------------------

def test_read_a_tree_through_the_module(tgo_driver: Path) -> None:
    topo = topology.read(SYSFS / "2socket-smt2", driver=tgo_driver)
    assert topo.node_cpus[1] == tuple(range(8, 16)) + tuple(range(24, 32))
    place = topo.places()[17]
    assert place.cpu == 17 and place.node == 0 and place.smt_siblings == [1]
    assert place.l2_group == [1, 17]
    assert place.llc_group == list(range(8)) + list(range(16, 24))


def test_read_a_missing_tree_is_a_user_error(tgo_driver: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError) as e:
        topology.read(tmp_path / "absent", driver=tgo_driver)
    assert "absent" in e.value.problem and e.value.fix


def test_read_this_machine(tgo_driver: Path) -> None:
    topo = topology.read(driver=tgo_driver)
    assert set(topology.allowed_cpus()) <= set(range(topo.cpus))
    assert sum(len(cpus) for cpus in topo.node_cpus) == len(topo.places())


def run_cli(driver: Path, *args: str) -> subprocess.CompletedProcess:
    code = "from tgobench.cli import app; app()"
    env = dict(os.environ, PYTHONPATH=str(FIXTURES.parent.parent), COLUMNS="120",
               TGOBENCH_DRIVER_DIR=str(driver.parent))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_cli_prints_the_table(tgo_driver: Path) -> None:
    out = run_cli(tgo_driver, "topology", "--sysfs-root", str(SYSFS / "amd-ccx-smt2"))
    assert out.returncode == 0, out.stderr
    table = [line.split() for line in out.stdout.splitlines()]
    rows = {cells[0]: cells for cells in table if len(cells) == 5 and cells[0].isdigit() and cells[1] != "CPUs,"}
    assert len(rows) == 32
    assert rows["21"] == ["21", "0", "5", "5,21", "4-7,20-23"]
    assert "32 CPUs, 1 NUMA node" in out.stdout


def test_cli_missing_tree_exits_2(tgo_driver: Path, tmp_path: Path) -> None:
    out = run_cli(tgo_driver, "topology", "--sysfs-root", str(tmp_path / "absent"))
    assert out.returncode == 2
    assert "absent" in out.stderr and "fix:" in out.stderr


# ---- no driver needed -----------------------------------------------------

def test_fixture_trees_match_their_generator(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_sysfs", FIXTURES / "make_sysfs.py")
    make_sysfs = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = make_sysfs  # dataclasses look their module up
    spec.loader.exec_module(make_sysfs)
    make_sysfs.generate(tmp_path)
    assert make_sysfs.trees_differ(tmp_path, SYSFS) == []


@pytest.mark.parametrize("cpus, text", [
    ([], ""), ([3], "3"), ([0, 1, 2, 3], "0-3"), ([8, 0, 2, 1, 3, 10, 9], "0-3,8-10"),
    ([0, 2, 4], "0,2,4"), ({16, 0}, "0,16"),
])
def test_format_cpulist(cpus: list[int], text: str) -> None:
    assert topology.format_cpulist(cpus) == text


def test_allowed_cpus_is_the_affinity_mask() -> None:
    assert topology.allowed_cpus() == sorted(os.sched_getaffinity(0))


def test_groups_from_an_answer() -> None:
    # two cores with SMT2 (0,2 and 1,3) under one LLC, a second node with CPU 4
    levels = [[-1, 2, 0, 2, 4], [2, -1, 2, 0, 4], [0, 2, -1, 2, 4], [2, 0, 2, -1, 4],
              [4, 4, 4, 4, -1]]
    topo = Topology.from_answer({"cpus": 5, "nodes": 2, "node_of": [0, 0, 0, 0, 1],
                                 "levels": levels})
    assert topo.group(0, SMT) == [0, 2] and topo.group(1, L2) == [1, 3]
    assert topo.group(3, LLC) == [0, 1, 2, 3] and topo.group(4, LLC) == [4]
    assert topo.node_cpus == ((0, 1, 2, 3), (4,))
    assert topo.places()[3].smt_siblings == [1]


def test_an_inconsistent_answer_is_rejected() -> None:
    with pytest.raises(ValueError):
        Topology.from_answer({"cpus": 3, "nodes": 1, "node_of": [0, 0], "levels": [[-1]]})
