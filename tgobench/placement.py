"""Placements: where a driver process runs, and the command prefix that puts
it there.

    all               the whole affinity mask tgobench itself was given
    cpus:0-3          `taskset -c 0-3`
    numa:node0        `numactl --cpunodebind=0 --membind=0`: node 0's CPUs and memory
    numa:interleave   `numactl --interleave=all`: every CPU, pages spread over nodes

A placement is planned from a Topology before anything runs, and refused
(UserError) when this machine cannot honour it: a node it lacks, CPUs outside
the allowed set, or the tool missing. The driver's Ps default to the number
of CPUs the placement lets it use.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from typing import Callable, Sequence

from tgobench.errors import UserError
from tgobench.topology import Topology, allowed_cpus, format_cpulist

# The Debian package that provides each tool.
TOOL_PACKAGES = {"taskset": "util-linux", "numactl": "numactl"}
# Linux's largest NR_CPUS and MAX_NUMNODES: no machine has a CPU or node beyond.
MAX_CPUS = 8192
MAX_NUMA_NODES = 1024
CPULIST_FIX = "write CPUs as the kernel does, e.g. 0-3 or 0,2,4-5"


@dataclass(frozen=True)
class PlacementRequest:
    """A placement as asked for, before it is checked against a machine."""

    kind: str  # "all", "cpus", "numa" or "interleave"
    cpus: tuple[int, ...] = ()
    node: int | None = None

    @property
    def label(self) -> str:
        if self.kind == "cpus":
            return f"cpus:{format_cpulist(self.cpus)}"
        if self.kind == "numa":
            return f"numa:node{self.node}"
        if self.kind == "interleave":
            return "numa:interleave"
        return "all"


@dataclass(frozen=True)
class Placement:
    """A placement this machine can honour: the prefix to start the driver
    with and the CPUs the driver may use."""

    label: str
    prefix: tuple[str, ...]
    cpus: tuple[int, ...]

    @property
    def default_procs(self) -> int:
        return len(self.cpus)

    @property
    def cpulist(self) -> str:
        return format_cpulist(self.cpus)


def parse_cpulist(text: str) -> tuple[int, ...]:
    """"0-3,8" -> (0, 1, 2, 3, 8); UserError if it is not a CPU list."""
    cpus: set[int] = set()
    for item in _list_items(text, f"CPU list {text!r}", CPULIST_FIX):
        match = re.fullmatch(r"(\d+)\s*(?:-\s*(\d+))?", item)
        if not match:
            raise UserError(f"{text!r} is not a CPU list", CPULIST_FIX)
        first = _cpu_number(match.group(1), text)
        last = _cpu_number(match.group(2) or match.group(1), text)
        if last < first:
            raise UserError(f"{text!r} is not a CPU list: {item} runs backwards", CPULIST_FIX)
        cpus.update(range(first, last + 1))
    return tuple(sorted(cpus))


def _list_items(text: str, what: str, fix: str) -> list[str]:
    """The comma-separated items of `text`, stripped. An empty one is
    refused: it is a typo, and skipping it could run what was not asked."""
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise UserError(f"{what} names nothing", fix)
    if not all(items):
        raise UserError(f"{what} has an empty item", fix)
    return items


def _cpu_number(digits: str, text: str) -> int:
    """A CPU number below MAX_CPUS: checked before any range is built, as
    0-99999999999 would not fit in memory."""
    cpu = _bounded_int(digits, MAX_CPUS)
    if cpu is None:
        raise UserError(f"{text!r} names CPU {digits}, which cannot exist: Linux numbers CPUs "
                        f"below {MAX_CPUS}",
                        f"choose among the CPUs this process may use: {format_cpulist(allowed_cpus())}")
    return cpu


def _bounded_int(digits: str, limit: int) -> int | None:
    """int(digits) if it is below `limit`, else None. The length is compared
    first: int() refuses strings of thousands of digits."""
    if len(digits.lstrip("0")) > len(str(limit)) or int(digits) >= limit:
        return None
    return int(digits)


def parse(text: str) -> PlacementRequest:
    """A placement as written in a suite or on the command line: all,
    cpus:0-3, numa:node0, numa:interleave (also node0 and interleave)."""
    text = text.strip()
    if text == "all":
        return PlacementRequest("all")
    if text.startswith("cpus:"):
        return PlacementRequest("cpus", cpus=parse_cpulist(text[len("cpus:"):]))
    numa = text[len("numa:"):] if text.startswith("numa:") else text
    if numa == "interleave":
        return PlacementRequest("interleave")
    match = re.fullmatch(r"node(\d+)", numa)
    if match:
        node = _bounded_int(match.group(1), MAX_NUMA_NODES)
        if node is None:
            raise UserError(f"placement {text!r}: Linux numbers NUMA nodes below {MAX_NUMA_NODES}",
                            "`tgobench topology` lists this machine's nodes")
        return PlacementRequest("numa", node=node)
    raise UserError(f"unknown placement {text!r}",
                    "placements are all, cpus:LIST (e.g. cpus:0-3), numa:nodeN, numa:interleave")


def from_options(cpus: Sequence[str] = (), numa: Sequence[str] = ()) -> list[PlacementRequest]:
    """The placements of `--cpus LIST` (repeatable) and `--numa node0,interleave`."""
    requests = [PlacementRequest("cpus", cpus=parse_cpulist(text)) for text in cpus]
    for text in numa:
        for item in _list_items(text, f"--numa {text!r}", "name nodes, e.g. --numa node0,interleave"):
            requests.append(parse(item if item.startswith("numa:") else "numa:" + item))
    return requests


def plan(request: PlacementRequest, topology: Topology, allowed: Sequence[int],
         which: Callable[[str], str | None] = shutil.which) -> Placement:
    """Check `request` against the machine and make its command prefix."""
    allowed_set = set(allowed)
    if request.kind == "all":
        return Placement("all", (), tuple(sorted(allowed_set)))
    if request.kind == "cpus":
        outside = [cpu for cpu in request.cpus if cpu not in allowed_set]
        if outside:
            raise UserError(f"placement {request.label}: CPU {format_cpulist(outside)} "
                            f"{'is' if len(outside) == 1 else 'are'} not among the CPUs this "
                            f"process may use ({format_cpulist(allowed)})",
                            f"choose CPUs within {format_cpulist(allowed)}")
        _require_tool("taskset", request.label, which)
        cpulist = format_cpulist(request.cpus)
        return Placement(request.label, ("taskset", "-c", cpulist), request.cpus)
    if request.kind == "interleave":
        _require_tool("numactl", request.label, which)
        return Placement(request.label, ("numactl", "--interleave=all"), tuple(sorted(allowed_set)))
    node = request.node
    existing = [n for n in range(topology.nodes) if topology.node_cpus[n]]
    if node is None or node not in existing:
        have = ", ".join(f"node{n} (CPUs {format_cpulist(topology.node_cpus[n])})" for n in existing)
        raise UserError(f"placement {request.label}: this machine has no NUMA node {node}; "
                        f"it has {have}",
                        f"use one of {', '.join(f'--numa node{n}' for n in existing)}, "
                        f"or --numa interleave")
    usable = tuple(cpu for cpu in topology.node_cpus[node] if cpu in allowed_set)
    if not usable:
        raise UserError(f"placement {request.label}: none of node{node}'s CPUs "
                        f"({format_cpulist(topology.node_cpus[node])}) are among the CPUs this "
                        f"process may use ({format_cpulist(allowed)})",
                        "choose a node whose CPUs are allowed, or run tgobench with a wider "
                        "affinity mask")
    _require_tool("numactl", request.label, which)
    return Placement(request.label, ("numactl", f"--cpunodebind={node}", f"--membind={node}"),
                     usable)


def _require_tool(tool: str, label: str, which: Callable[[str], str | None]) -> None:
    if which(tool) is None:
        raise UserError(f"placement {label} needs {tool}, which is not installed",
                        f"install it: sudo apt-get install {TOOL_PACKAGES[tool]}")
