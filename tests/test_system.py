"""The system check over fixture /sys and /proc trees, and on this machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tgobench import system

TOOLS = {"taskset": "/usr/bin/taskset", "numactl": "/usr/bin/numactl"}.get


def quiet() -> tuple[float, float, float]:
    return (0.0, 0.0, 0.0)


def make_tree(root: Path, *, governor: str | None = "performance", no_turbo: str | None = "1",
              thp: str = "always [madvise] never", aslr: str = "2", nodes: int = 1,
              model: str = "Test(R) CPU 9000 @ 3.00GHz") -> Path:
    def write(path: str, text: str) -> None:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text + "\n")
    write("proc/cpuinfo", f"processor\t: 0\nmodel name\t: {model}\n\nprocessor\t: 1\n"
                          f"model name\t: {model}\n")
    write("proc/sys/kernel/osrelease", "6.18.0-test")
    write("proc/sys/kernel/randomize_va_space", aslr)
    write("sys/devices/system/cpu/online", "0-3")
    write("sys/devices/system/cpu/isolated", "")
    if governor:
        for cpu in range(4):
            write(f"sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor",
                  governor if cpu < 2 else "performance")
    if no_turbo is not None:
        write("sys/devices/system/cpu/intel_pstate/no_turbo", no_turbo)
    write("sys/kernel/mm/transparent_hugepage/enabled", thp)
    for node in range(nodes):
        (root / f"sys/devices/system/node/node{node}").mkdir(parents=True)
    return root


def messages(report: system.SystemReport) -> str:
    return "\n".join(w.message for w in report.warnings)


def test_a_tuned_machine_has_no_warning(tmp_path):
    report = system.check(make_tree(tmp_path), TOOLS, quiet)
    assert report.warnings == []
    facts = dict(report.facts)
    assert facts["CPU governor"] == "performance on 0-3"
    assert facts["turbo"] == "off" and facts["ASLR"] == "full"
    assert facts["transparent huge pages"] == "madvise"


def test_machine_identity(tmp_path):
    machine = system.check(make_tree(tmp_path, nodes=2), TOOLS, quiet).machine
    assert machine["cpu_model"] == "Test(R) CPU 9000 @ 3.00GHz"
    assert machine["cpus"] == 4 and machine["numa_nodes"] == 2 and machine["kernel"] == "6.18.0-test"
    assert machine["machine_id"].startswith("test-9000-3-00ghz-4c2n-")


def test_machine_id_is_stable_and_follows_each_part():
    base = system.machine_id("Some CPU", 4, 1, "6.18.0")
    assert base == system.machine_id("Some CPU", 4, 1, "6.18.0")
    others = {system.machine_id("Other CPU", 4, 1, "6.18.0"), system.machine_id("Some CPU", 8, 1, "6.18.0"),
              system.machine_id("Some CPU", 4, 2, "6.18.0"), system.machine_id("Some CPU", 4, 1, "6.19.0")}
    assert base not in others and len(others) == 4


def test_powersave_governor_is_warned_with_the_cpus(tmp_path):
    report = system.check(make_tree(tmp_path, governor="powersave"), TOOLS, quiet)
    assert len(report.warnings) == 1
    assert "'powersave' on CPUs 0-1" in report.warnings[0].message
    assert "cpupower frequency-set -g performance" in report.warnings[0].fix


def test_no_cpufreq_is_a_fact_not_a_warning(tmp_path):
    report = system.check(make_tree(tmp_path, governor=None, no_turbo=None), TOOLS, quiet)
    assert report.warnings == []
    assert "not exposed" in dict(report.facts)["CPU governor"]


def test_turbo_on_is_warned(tmp_path):
    report = system.check(make_tree(tmp_path, no_turbo="0"), TOOLS, quiet)
    assert "turbo boost is on" in messages(report)
    assert "no_turbo" in report.warnings[0].fix


def test_thp_always_is_warned(tmp_path):
    report = system.check(make_tree(tmp_path, thp="[always] madvise never"), TOOLS, quiet)
    assert "transparent huge pages are 'always'" in messages(report)


def test_aslr_off_is_warned(tmp_path):
    report = system.check(make_tree(tmp_path, aslr="0"), TOOLS, quiet)
    assert "ASLR is off" in messages(report)


def test_load_is_warned_when_it_competes(tmp_path):
    report = system.check(make_tree(tmp_path), TOOLS, lambda: (3.5, 1.0, 1.0))
    assert "load average is 3.50 on 4 CPUs" in messages(report)


def test_missing_tools_say_what_to_install(tmp_path):
    report = system.check(make_tree(tmp_path), lambda name: None, quiet)
    fixes = {w.fix for w in report.warnings}
    assert fixes == {"sudo apt-get install numactl", "sudo apt-get install util-linux"}
    assert dict(report.facts)["numactl"] == "missing"


def test_warnings_become_plain_dicts_for_result_files(tmp_path):
    report = system.check(make_tree(tmp_path, aslr="0"), TOOLS, quiet)
    assert report.warning_dicts() == [{"message": report.warnings[0].message,
                                       "fix": report.warnings[0].fix}]


def test_this_machine():
    report = system.check()
    assert report.machine["cpus"] >= 1 and report.machine["machine_id"]
    assert all(w.message and w.fix for w in report.warnings)


def test_cli_prints_facts_and_machine_id():
    proc = subprocess.run([sys.executable, "-c", "from tgobench.cli import app; app()", "system"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "machine id" in proc.stdout and system.check().machine["machine_id"] in proc.stdout
    assert "ASLR" in proc.stdout and "numactl" in proc.stdout
