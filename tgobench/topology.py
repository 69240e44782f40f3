"""The machine's topology as the runtime sees it: CPUs, NUMA nodes, and the
locality level between every two CPUs (0 SMT sibling, 1 shared L2, 2 shared
LLC, 3 same node, 4 remote), the levels the tgo policy steals by.

sysfs is parsed by one implementation only, the runtime's
(tgobench/native/src/topology.c): this module asks a C driver, with
`hello` for this machine or the `topology` op for another sysfs tree (the
fixtures under tests/fixtures/sysfs/), and keeps the answer as plain data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from tgobench.errors import UserError

LEVEL_NAMES = ("smt", "l2", "llc", "node", "remote")
SMT, L2, LLC, NODE, REMOTE = range(len(LEVEL_NAMES))

# Drivers that answer the topology op; any one of them will do.
_C_DRIVERS = ("tgobench-driver-tgo", "tgobench-driver-gmp")
_DRIVER_TIMEOUT_S = 60


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


def _find_c_driver() -> Path:
    """A C driver executable: TGOBENCH_DRIVER_DIR, else the running Python's
    scripts directory, else PATH."""
    env_dir = os.environ.get("TGOBENCH_DRIVER_DIR")
    dirs = [Path(env_dir)] if env_dir else [Path(sysconfig.get_path("scripts"))]
    for name in _C_DRIVERS:
        for d in dirs:
            if os.access(d / name, os.X_OK):
                return d / name
    if not env_dir:
        for name in _C_DRIVERS:
            found = shutil.which(name)
            if found:
                return Path(found)
    where = f"TGOBENCH_DRIVER_DIR={env_dir}" if env_dir else "the Python scripts directory or PATH"
    raise UserError(f"no C driver ({' or '.join(_C_DRIVERS)}) in {where}",
                    "install tgobench with `pip install .`, or set TGOBENCH_DRIVER_DIR to the "
                    "directory of built drivers")


def _ask(driver: Path, argv: list[str], request: dict | None) -> dict:
    stdin = json.dumps(request) + "\n" if request is not None else None
    proc = subprocess.run([str(driver), *argv], input=stdin, capture_output=True, text=True,
                          timeout=_DRIVER_TIMEOUT_S)
    lines = proc.stdout.splitlines()
    if not lines:
        raise RuntimeError(f"{driver} {' '.join(argv)} exited {proc.returncode} without an "
                           f"answer; stderr: {proc.stderr.strip()}")
    return json.loads(lines[0])


def read(sysfs_root: str | Path | None = None, driver: Path | None = None) -> Topology:
    """This machine's topology (sysfs_root None: the driver's own view of
    /sys, from `hello`), or that of the sysfs tree at sysfs_root."""
    driver = driver or _find_c_driver()
    if sysfs_root is None:
        answer = _ask(driver, ["hello"], None)
        if not answer.get("ok"):
            raise RuntimeError(f"{driver} hello failed: {answer.get('error')}")
        if answer.get("topology") is not None:
            return Topology.from_answer(answer["topology"])
        sysfs_root = "/sys"  # hello could not read it: ask again for the reason
    answer = _ask(driver, ["serve"], {"op": "topology", "sysfs_root": str(sysfs_root)})
    if not answer.get("ok"):
        raise UserError(f"cannot read a topology under {sysfs_root}: {answer.get('error')}",
                        "give the root of a sysfs tree: the directory that holds "
                        "devices/system/cpu (on Linux, /sys)")
    return Topology.from_answer(answer)
