"""The system check: what on this machine can make numbers noisy or
misleading, each problem a Warning that carries its fix (in the spirit of
`pyperf system show`), and the machine's identity (CPU model, CPUs, NUMA
nodes, kernel) that every result file records and baselines are keyed by.

Everything is read under a root directory ("/" on a real machine) so that
tests can give a fixture tree of /sys and /proc.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from tgobench.placement import TOOL_PACKAGES, parse_cpulist
from tgobench.topology import format_cpulist


@dataclass(frozen=True)
class SystemWarning:
    """A condition that makes results less trustworthy, and how to fix it."""

    message: str
    fix: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SystemReport:
    machine: dict                               # cpu_model, cpus, numa_nodes, kernel, machine_id
    facts: list[tuple[str, str]] = field(default_factory=list)  # (what, value) for display
    warnings: list[SystemWarning] = field(default_factory=list)

    def warning_dicts(self) -> list[dict]:
        return [warning.to_dict() for warning in self.warnings]


def _read(root: Path, path: str) -> str | None:
    try:
        return (root / path.lstrip("/")).read_text().strip()
    except OSError:
        return None


def cpu_model(root: Path) -> str:
    text = _read(root, "/proc/cpuinfo") or ""
    for key in ("model name", "Hardware", "cpu model", "Processor"):
        match = re.search(rf"^{key}\s*:\s*(.+)$", text, re.MULTILINE)
        if match:
            return " ".join(match.group(1).split())
    return platform.processor() or platform.machine() or "unknown"


def _online_cpus(root: Path) -> list[int]:
    text = _read(root, "/sys/devices/system/cpu/online")
    if text:
        return list(parse_cpulist(text))
    return list(range(os.cpu_count() or 1))


def _numa_nodes(root: Path) -> int:
    node_dir = root / "sys/devices/system/node"
    nodes = [p for p in node_dir.glob("node*") if p.name[4:].isdigit()] if node_dir.is_dir() else []
    return max(1, len(nodes))


def machine_id(model: str, cpus: int, nodes: int, kernel: str) -> str:
    """A stable name for a machine: readable prefix, then a hash of all four
    parts (so two machines that differ only in the kernel differ)."""
    slug = "-".join(re.findall(r"[a-z0-9]+", model.lower().replace("(r)", "").replace("(tm)", "")))
    slug = "-".join(w for w in slug.split("-") if w not in ("cpu", "processor", "with"))[:40].strip("-")
    digest = hashlib.sha256(f"{model}|{cpus}|{nodes}|{kernel}".encode()).hexdigest()[:8]
    return f"{slug or 'cpu'}-{cpus}c{nodes}n-{digest}"


def machine(root: Path | str = "/", kernel: str | None = None) -> dict:
    root = Path(root)
    model = cpu_model(root)
    cpus = len(_online_cpus(root))
    nodes = _numa_nodes(root)
    kernel = kernel or _read(root, "/proc/sys/kernel/osrelease") or platform.release()
    return {"cpu_model": model, "cpus": cpus, "numa_nodes": nodes, "kernel": kernel,
            "machine_id": machine_id(model, cpus, nodes, kernel)}


def check(root: Path | str = "/", which: Callable[[str], str | None] = shutil.which,
          loadavg: Callable[[], tuple[float, float, float]] = os.getloadavg,
          kernel: str | None = None) -> SystemReport:
    """Look at the machine and say what may disturb a benchmark."""
    root = Path(root)
    report = SystemReport(machine(root, kernel))
    cpus = _online_cpus(root)
    report.facts.append(("CPU model", report.machine["cpu_model"]))
    report.facts.append(("CPUs", f"{len(cpus)} online ({format_cpulist(cpus)}), "
                                 f"{report.machine['numa_nodes']} NUMA node(s)"))
    report.facts.append(("kernel", report.machine["kernel"]))
    _check_governor(root, cpus, report)
    _check_turbo(root, report)
    _check_aslr(root, report)
    _check_load(loadavg, len(cpus), report)
    _check_isolated(root, report)
    _check_thp(root, report)
    for tool in ("numactl", "taskset"):
        path = which(tool)
        report.facts.append((tool, path or "missing"))
        if path is None:
            placements = "--numa" if tool == "numactl" else "--cpus"
            report.warnings.append(SystemWarning(
                f"{tool} is not installed: {placements} placements cannot run",
                f"sudo apt-get install {TOOL_PACKAGES[tool]}"))
    report.facts.append(("machine id", report.machine["machine_id"]))
    return report


def _check_governor(root: Path, cpus: list[int], report: SystemReport) -> None:
    governors: dict[str, list[int]] = {}
    for cpu in cpus:
        governor = _read(root, f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor")
        if governor:
            governors.setdefault(governor, []).append(cpu)
    if not governors:
        report.facts.append(("CPU governor", "not exposed (no cpufreq: a VM, or fixed frequency)"))
        return
    report.facts.append(("CPU governor", ", ".join(f"{g} on {format_cpulist(c)}"
                                                   for g, c in governors.items())))
    for governor, on in governors.items():
        if governor != "performance":
            report.warnings.append(SystemWarning(
                f"CPU frequency governor is {governor!r} on CPUs {format_cpulist(on)}: the clock "
                f"follows the load, so timings vary with it",
                "sudo cpupower frequency-set -g performance (or python -m pyperf system tune)"))


def _check_turbo(root: Path, report: SystemReport) -> None:
    no_turbo = _read(root, "/sys/devices/system/cpu/intel_pstate/no_turbo")
    boost = _read(root, "/sys/devices/system/cpu/cpufreq/boost")
    if no_turbo is not None:
        on = no_turbo == "0"
        fix = "echo 1 | sudo tee /sys/devices/system/cpu/intel_pstate/no_turbo"
    elif boost is not None:
        on = boost == "1"
        fix = "echo 0 | sudo tee /sys/devices/system/cpu/cpufreq/boost"
    else:
        report.facts.append(("turbo", "not exposed"))
        return
    report.facts.append(("turbo", "on" if on else "off"))
    if on:
        report.warnings.append(SystemWarning(
            "turbo boost is on: the clock depends on temperature and on how many cores are busy, "
            "which differs between procs settings and between runs", fix))


def _check_aslr(root: Path, report: SystemReport) -> None:
    value = _read(root, "/proc/sys/kernel/randomize_va_space")
    meaning = {"0": "off", "1": "partial", "2": "full"}.get(value or "", "unknown")
    report.facts.append(("ASLR", meaning))
    # Full randomisation is what pyperf expects: each worker process gets
    # its own layout, and the spread across processes shows its effect.
    if value == "0":
        report.warnings.append(SystemWarning(
            "ASLR is off: every process gets the same memory layout, so one lucky or unlucky "
            "layout is measured over and over and the spread understates the truth",
            "echo 2 | sudo tee /proc/sys/kernel/randomize_va_space"))


def _check_load(loadavg: Callable[[], tuple[float, float, float]], ncpus: int,
                report: SystemReport) -> None:
    try:
        load1 = loadavg()[0]
    except OSError:
        report.facts.append(("load average", "unknown"))
        return
    report.facts.append(("load average (1 min)", f"{load1:.2f}"))
    if load1 > max(0.5, ncpus * 0.25):
        report.warnings.append(SystemWarning(
            f"the 1-minute load average is {load1:.2f} on {ncpus} CPUs: other work competes "
            f"with the benchmark for CPUs",
            "run on a quiet machine, or isolate CPUs (isolcpus=) and place the benchmark on "
            "them with --cpus"))


def _check_isolated(root: Path, report: SystemReport) -> None:
    isolated = _read(root, "/sys/devices/system/cpu/isolated")
    report.facts.append(("isolated CPUs", isolated or "none"))


def _check_thp(root: Path, report: SystemReport) -> None:
    text = _read(root, "/sys/kernel/mm/transparent_hugepage/enabled")
    match = re.search(r"\[(\w+)\]", text or "")
    if not match:
        report.facts.append(("transparent huge pages", "not exposed"))
        return
    mode = match.group(1)
    report.facts.append(("transparent huge pages", mode))
    if mode == "always":
        report.warnings.append(SystemWarning(
            "transparent huge pages are 'always': stack slabs may be backed by 2 MiB pages, "
            "which changes RSS per task and first-touch costs",
            "echo madvise | sudo tee /sys/kernel/mm/transparent_hugepage/enabled"))
