"""The machine's topology as the runtime sees it: CPUs, NUMA nodes, and the
locality level between every two CPUs (0 SMT sibling, 1 shared L2, 2 shared
LLC, 3 same node, 4 remote), the levels the tgo policy steals by.

sysfs is parsed by one implementation only, the runtime's
(tgobench/native/src/topology.c): this module asks a C driver (both link
the same reader), with `hello` for this machine or the `topology` op for
another sysfs tree (the fixtures under tests/fixtures/sysfs/), and keeps the
answer as plain data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tgobench import drivers
from tgobench.errors import UserError

LEVEL_NAMES = ("smt", "l2", "llc", "node", "remote")
SMT, L2, LLC, NODE, REMOTE = range(len(LEVEL_NAMES))

_DRIVER_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Topology:
    """CPUs and nodes keep the kernel's numbers. A CPU that is not present
    (a hole in the kernel's `present` list) has node -1 and level -1 with
    every other CPU."""

    cpus: int
    nodes: int
    node_of: tuple[int, ...]
    levels: tuple[tuple[int, ...], ...]  # levels[a][b]; -1 on the diagonal
    node_cpus: tuple[tuple[int, ...], ...]  # the CPUs of each node, ascending

    @classmethod
    def from_answer(cls, answer: dict) -> Topology:
        """Build from a driver's topology object (`hello`'s "topology", or
        the answer to the topology op). A malformed one is a driver bug."""
        cpus, nodes = answer["cpus"], answer["nodes"]
        node_of = tuple(int(n) for n in answer["node_of"])
        levels = tuple(tuple(int(level) for level in row) for row in answer["levels"])
        if len(node_of) != cpus or len(levels) != cpus or any(len(r) != cpus for r in levels):
            raise ValueError(f"driver's topology has inconsistent sizes: {answer!r}")
        node_cpus = tuple(tuple(c for c in range(cpus) if node_of[c] == n) for n in range(nodes))
        return cls(cpus=cpus, nodes=nodes, node_of=node_of, levels=levels, node_cpus=node_cpus)

    def present(self, cpu: int) -> bool:
        return self.node_of[cpu] >= 0 or any(level >= 0 for level in self.levels[cpu])

    def level(self, cpu: int, other: int) -> int:
        return self.levels[cpu][other]

    def group(self, cpu: int, max_level: int) -> list[int]:
        """`cpu` and every CPU at most `max_level` away from it, ascending:
        group(c, SMT) is c's core, group(c, LLC) the CPUs sharing its LLC."""
        return [o for o in range(self.cpus)
                if o == cpu or 0 <= self.levels[cpu][o] <= max_level]

    def places(self) -> list[CpuPlace]:
        """One entry per present CPU: where it sits and what it shares."""
        return [CpuPlace(cpu=c, node=self.node_of[c],
                         smt_siblings=[o for o in self.group(c, SMT) if o != c],
                         l2_group=self.group(c, L2), llc_group=self.group(c, LLC))
                for c in range(self.cpus) if self.present(c)]


@dataclass(frozen=True)
class CpuPlace:
    cpu: int
    node: int                # -1: no node lists it
    smt_siblings: list[int]  # the other CPUs of its core
    l2_group: list[int]      # CPUs sharing its L2, itself included
    llc_group: list[int]     # CPUs sharing its last-level cache, itself included


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity mask), ascending."""
    return sorted(os.sched_getaffinity(0))


def format_cpulist(cpus: list[int] | tuple[int, ...] | set[int]) -> str:
    """CPUs as the kernel writes them: [0, 1, 2, 3, 8] -> "0-3,8"."""
    ordered = sorted(cpus)
    ranges: list[str] = []
    start = 0
    for i, cpu in enumerate(ordered):
        if i + 1 == len(ordered) or ordered[i + 1] != cpu + 1:
            first = ordered[start]
            ranges.append(str(first) if first == cpu else f"{first}-{cpu}")
            start = i + 1
    return ",".join(ranges)


def read(sysfs_root: str | Path | None = None, driver: Path | None = None) -> Topology:
    """This machine's topology (sysfs_root None: the C driver's own view of
    /sys, from `hello`), or that of the sysfs tree at sysfs_root. `driver`:
    a C driver executable; by default the installed tgo driver."""
    executable = driver or drivers.find_driver("tgo")
    with drivers.DriverProcess("tgo", executable) as process:
        if sysfs_root is None:
            info = process.hello()
            if info.topology:
                return Topology.from_answer(info.topology)
            sysfs_root = "/sys"  # hello could not read it: ask again for the reason
        answer = process.request({"op": "topology", "sysfs_root": str(sysfs_root)},
                                 timeout=_DRIVER_TIMEOUT_S)
    if not answer.get("ok"):
        raise UserError(answer.get("error", f"cannot read a topology under {sysfs_root}"),
                        "give the root of a sysfs tree: the directory that holds "
                        "devices/system/cpu (on Linux, /sys)")
    return Topology.from_answer(answer)
