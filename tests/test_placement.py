"""Placement planning on fixture topologies, without running anything."""

from __future__ import annotations

import pytest

from tgobench import placement
from tgobench.errors import UserError
from tgobench.placement import PlacementRequest
from tgobench.topology import Topology


def make_topology(nodes: int, cores_per_node: int, smt: int) -> Topology:
    """Linux's usual numbering: CPU c and c + cores are SMT siblings; node n
    holds cores n*cores_per_node .. and their siblings."""
    cores = nodes * cores_per_node
    cpus = cores * smt
    node_of = tuple((cpu % cores) // cores_per_node for cpu in range(cpus))

    def level(a: int, b: int) -> int:
        if a == b:
            return -1
        if a % cores == b % cores:
            return 0
        return 2 if node_of[a] == node_of[b] else 4
    levels = tuple(tuple(level(a, b) for b in range(cpus)) for a in range(cpus))
    return Topology.from_answer({"cpus": cpus, "nodes": nodes, "node_of": list(node_of),
                                 "levels": [list(row) for row in levels]})


TWO_NODES_SMT = make_topology(nodes=2, cores_per_node=4, smt=2)   # 16 CPUs
ONE_NODE = make_topology(nodes=1, cores_per_node=2, smt=1)        # this VM's shape
EVERY_TOOL = {"taskset": "/usr/bin/taskset", "numactl": "/usr/bin/numactl"}.get


def no_tool(name: str) -> None:
    return None


def test_fixture_topology_has_the_intended_shape():
    assert TWO_NODES_SMT.cpus == 16 and TWO_NODES_SMT.nodes == 2
    assert TWO_NODES_SMT.node_cpus[0] == (0, 1, 2, 3, 8, 9, 10, 11)
    assert TWO_NODES_SMT.node_cpus[1] == (4, 5, 6, 7, 12, 13, 14, 15)


def test_all_uses_the_allowed_cpus_without_prefix():
    where = placement.plan(PlacementRequest("all"), TWO_NODES_SMT, range(16), EVERY_TOOL)
    assert where.label == "all" and where.prefix == ()
    assert where.default_procs == 16 and where.cpulist == "0-15"


def test_all_respects_a_narrower_affinity_mask():
    where = placement.plan(PlacementRequest("all"), TWO_NODES_SMT, [2, 3, 10], EVERY_TOOL)
    assert where.cpus == (2, 3, 10) and where.default_procs == 3


def test_node_binds_cpus_and_memory_to_that_node():
    where = placement.plan(placement.parse("numa:node1"), TWO_NODES_SMT, range(16), EVERY_TOOL)
    assert where.label == "numa:node1"
    assert where.prefix == ("numactl", "--cpunodebind=1", "--membind=1")
    assert where.cpus == (4, 5, 6, 7, 12, 13, 14, 15) and where.default_procs == 8
    assert where.cpulist == "4-7,12-15"


def test_node_counts_only_allowed_cpus():
    where = placement.plan(placement.parse("numa:node0"), TWO_NODES_SMT, [0, 1, 4, 5], EVERY_TOOL)
    assert where.cpus == (0, 1) and where.default_procs == 2


def test_node_without_allowed_cpus_is_refused():
    with pytest.raises(UserError, match="none of node1's CPUs"):
        placement.plan(placement.parse("numa:node1"), TWO_NODES_SMT, [0, 1], EVERY_TOOL)


def test_interleave_spreads_memory_over_every_node():
    where = placement.plan(placement.parse("numa:interleave"), TWO_NODES_SMT, range(16), EVERY_TOOL)
    assert where.prefix == ("numactl", "--interleave=all")
    assert where.default_procs == 16 and where.label == "numa:interleave"


def test_cpus_use_taskset():
    where = placement.plan(placement.parse("cpus:0-3,8"), TWO_NODES_SMT, range(16), EVERY_TOOL)
    assert where.prefix == ("taskset", "-c", "0-3,8")
    assert where.label == "cpus:0-3,8" and where.default_procs == 5


def test_missing_node_names_the_nodes_that_exist():
    with pytest.raises(UserError) as info:
        placement.plan(placement.parse("numa:node1"), ONE_NODE, [0, 1], EVERY_TOOL)
    message = str(info.value)
    assert "no NUMA node 1" in message and "node0 (CPUs 0-1)" in message
    assert "--numa node0" in info.value.fix


def test_cpus_outside_the_allowed_set_are_refused():
    with pytest.raises(UserError) as info:
        placement.plan(placement.parse("cpus:1-3"), ONE_NODE, [0, 1], EVERY_TOOL)
    assert "CPU 2-3 are not among" in str(info.value) and "0-1" in info.value.fix


@pytest.mark.parametrize("text, tool, package", [("numa:node0", "numactl", "numactl"),
                                                 ("numa:interleave", "numactl", "numactl"),
                                                 ("cpus:0", "taskset", "util-linux")])
def test_missing_tool_names_the_debian_package(text, tool, package):
    with pytest.raises(UserError) as info:
        placement.plan(placement.parse(text), ONE_NODE, [0, 1], no_tool)
    assert f"needs {tool}" in str(info.value)
    assert info.value.fix == f"install it: sudo apt-get install {package}"


def test_all_needs_no_tool():
    assert placement.plan(PlacementRequest("all"), ONE_NODE, [0, 1], no_tool).prefix == ()


@pytest.mark.parametrize("text, label", [("all", "all"), ("node0", "numa:node0"),
                                         ("numa:node3", "numa:node3"), ("interleave", "numa:interleave"),
                                         ("cpus:3,0-1", "cpus:0-1,3")])
def test_parse_gives_canonical_labels(text, label):
    assert placement.parse(text).label == label


@pytest.mark.parametrize("text", ["numa:zero", "everything", "cpus:", "cpus:3-1", "cpus:a"])
def test_parse_refuses_nonsense(text):
    with pytest.raises(UserError):
        placement.parse(text)


def test_options_sweep_in_order():
    requests = placement.from_options(cpus=["0", "0-1"], numa=["node0,interleave"])
    assert [r.label for r in requests] == ["cpus:0", "cpus:0-1", "numa:node0", "numa:interleave"]


def test_cpu_beyond_what_linux_can_number_is_refused_before_building_the_range():
    with pytest.raises(UserError) as info:
        placement.parse_cpulist("0-99999999999")
    assert "names CPU 99999999999, which cannot exist: Linux numbers CPUs below 8192" in str(info.value)
    assert info.value.fix.startswith("choose among the CPUs this process may use: ")


def test_cpu_of_thousands_of_digits_is_refused():
    with pytest.raises(UserError, match="which cannot exist"):
        placement.parse_cpulist("9" * 5000)


def test_highest_cpu_linux_can_number_is_accepted():
    assert placement.parse_cpulist("8190-8191") == (8190, 8191)


@pytest.mark.parametrize("text", ["", ",", " , "])
def test_cpu_list_naming_nothing_is_refused(text):
    with pytest.raises(UserError) as info:
        placement.from_options(cpus=[text])
    assert f"CPU list {text!r} names nothing" in str(info.value)
    assert "e.g. 0-3 or 0,2,4-5" in info.value.fix


@pytest.mark.parametrize("text", ["0,,1", "0,", ",1"])
def test_cpu_list_with_an_empty_item_is_refused(text):
    with pytest.raises(UserError) as info:
        placement.parse_cpulist(text)
    assert f"CPU list {text!r} has an empty item" in str(info.value)
    assert "e.g. 0-3 or 0,2,4-5" in info.value.fix


def test_backwards_cpu_range_is_refused():
    with pytest.raises(UserError, match="'3-1' is not a CPU list: 3-1 runs backwards"):
        placement.parse_cpulist("3-1")


@pytest.mark.parametrize("text", [",", ""])
def test_numa_option_naming_nothing_is_refused(text):
    with pytest.raises(UserError) as info:
        placement.from_options(numa=[text])
    assert f"--numa {text!r} names nothing" in str(info.value)
    assert info.value.fix == "name nodes, e.g. --numa node0,interleave"


def test_numa_option_with_an_empty_item_is_refused():
    with pytest.raises(UserError) as info:
        placement.from_options(numa=["node0,,interleave"])
    assert "--numa 'node0,,interleave' has an empty item" in str(info.value)
    assert "--numa node0,interleave" in info.value.fix


def test_numa_node_beyond_what_linux_can_number_is_refused():
    with pytest.raises(UserError) as info:
        placement.parse("numa:node" + "9" * 5000)
    assert "Linux numbers NUMA nodes below 1024" in str(info.value)
    assert "tgobench topology" in info.value.fix
