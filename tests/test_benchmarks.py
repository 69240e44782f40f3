"""benchmarks/floors.c as native.py --floors builds, runs and reads it: every
operation priced, the handoff left out with one CPU, and chan's floor the
sum of the operations a round trip is counted to do, counts that callgrind
confirms on each driver (x86-64). And native.py --instructions: a count per
operation that does not depend on the run lengths it is taken from, and
clear errors without valgrind or when a run fails; each workload reaches the
runtime through calls, in both drivers alike."""

from __future__ import annotations

import collections
import os
import platform
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import IMPLS, REPO, driver_path
from tgobench.errors import UserError

sys.path.insert(0, str(REPO / "benchmarks"))
import native  # noqa: E402


@pytest.fixture(scope="module")
def floors_exe(tmp_path_factory):
    return native.build_floors(tmp_path_factory.mktemp("floors"))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the handoff needs two CPUs")
def test_every_operation_is_priced(floors_exe):
    floors = native.measure_floors(floors_exe)
    assert set(floors) == set(native.FLOOR_LABELS)
    assert all(ns > 0 for ns in floors.values())


def test_one_cpu_prices_no_handoff(floors_exe, monkeypatch):
    cpu = min(os.sched_getaffinity(0))
    real_run = native.subprocess.run
    monkeypatch.setattr(native.subprocess, "run", lambda *a, **kw: real_run(
        *a, preexec_fn=lambda: os.sched_setaffinity(0, {cpu}), **kw))
    floors = native.measure_floors(floors_exe)
    assert set(floors) == set(native.FLOOR_LABELS) - {"handoff"}


def test_chan_floor_is_the_sum_of_the_counted_operations(capsys):
    native.print_floors({"switch": [9.0, 10.0, 11.0], "lock": [5.0], "exchange": [4.0],
                         "cas": [5.0]})
    out = capsys.readouterr().out
    # 4*5 + 2*5 + 2*4 + 2*10, each policy
    assert "tgo 58 (4 lock, 2 cas, 2 exchange, 2 switch)" in out
    assert "gmp 58 (4 lock, 2 cas, 2 exchange, 2 switch)" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert rows["switch"].endswith("10 [9-11]")
    assert rows["handoff"].endswith(" -")              # not measured: no figure


def test_counted_operations_are_ones_floors_prices():
    priced = set(native.FLOOR_LABELS)
    assert all(set(ops) <= priced for ops in native.CHAN_ROUND_TRIP.values())
    assert set(native.CHAN_ROUND_TRIP) == {"tgo", "gmp"}


def disassemble(exe) -> str:
    """objdump's disassembly of exe, without the raw bytes."""
    return subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(exe)], check=True,
                          capture_output=True, text=True).stdout


def counted_instructions(disassembly: str) -> dict[int, str]:
    """The instructions to count in objdump's disassembly, by address: the
    first of tgo__ctx_switch ("switch"), and each locked one by mnemonic
    (a lock prefix, or xchg with a memory operand, locked implicitly)."""
    found, at_switch = {}, False
    for line in disassembly.splitlines():
        if line.endswith(" <tgo__ctx_switch>:"):
            at_switch = True
            continue
        m = re.match(r"\s+([0-9a-f]+):\s+(lock\s+)?(\w+)\s+(\S+)", line)
        if m and at_switch:
            found[int(m.group(1), 16)], at_switch = "switch", False
        elif m and (m.group(2) or (m.group(3).startswith("xchg") and "(" in m.group(4))):
            found[int(m.group(1), 16)] = m.group(3)
    return found


def chan_counts(exe, rounds: int, tmp_path) -> collections.Counter:
    """How many times callgrind saw each counted instruction execute in one
    chan loop of `rounds` round trips on one P."""
    out = tmp_path / f"callgrind.{rounds}"
    subprocess.run(["valgrind", "--tool=callgrind", "--dump-instr=yes", "--compress-pos=no",
                    "--compress-strings=no", f"--callgrind-out-file={out}", str(exe), "run",
                    "chan", "--rounds", str(rounds), "--procs", "1", "--loops", "1"],
                   check=True, capture_output=True, timeout=300)
    counted = counted_instructions(disassemble(exe))
    assert "switch" in counted.values(), "no tgo__ctx_switch in the driver's disassembly"
    counts: collections.Counter = collections.Counter()
    after_calls = False
    for line in out.read_text().splitlines():
        if line.startswith("calls="):
            after_calls = True     # the next cost line is a call's, not an instruction's
            continue
        m = re.match(r"0x([0-9a-f]+) \d+ (\d+)", line)
        if m:
            if not after_calls and int(m.group(1), 16) in counted:
                counts[counted[int(m.group(1), 16)]] += int(m.group(2))
            after_calls = False
    return counts


@pytest.mark.skipif(platform.machine() != "x86_64" or not shutil.which("valgrind"),
                    reason="counts x86-64 locked instructions with valgrind")
@pytest.mark.parametrize("impl", IMPLS)
def test_chan_round_trip_does_the_counted_switches_and_locked_instructions(impl, tmp_path):
    """The difference of two loop lengths leaves only what each round trip
    does: two switches, each straight to the other task (through g0 it
    would be four), exchanges for the locks and the runnext puts (tgo: next), and
    compare-and-swaps for the takes. A locked instruction or a switch added
    to the hot path fails here until CHAN_ROUND_TRIP, and so chan's floor,
    counts it. Counted to the hundredth: under valgrind gmp's ping-pong runs
    past 10 ms, where its time slice ends (Go's sysmon) with a few locked
    instructions more, once in thousands of round trips."""
    exe = driver_path(impl)
    short, long = chan_counts(exe, 2000, tmp_path), chan_counts(exe, 4000, tmp_path)
    per_round_trip = {op: round(n / 2000, 2) for op, n in (long - short).items()
                      if round(n / 2000, 2)}
    ops = native.CHAN_ROUND_TRIP[impl]
    assert per_round_trip == {"switch": ops["switch"], "cmpxchg": ops["cas"],
                              "xchg": ops["lock"] + ops.get("exchange", 0)}


def calls_by_function(disassembly: str) -> dict[str, set[str]]:
    """The functions each function of objdump's disassembly calls, by their
    names without the suffixes the compiler adds (".lto_priv.0", ".cold")."""
    calls: dict[str, set[str]] = collections.defaultdict(set)
    caller = ""
    for line in disassembly.splitlines():
        head = re.match(r"[0-9a-f]+ <([^>.]+)[^>]*>:$", line)
        if head:
            caller = head.group(1)
            continue
        call = re.search(r"\scall\s+[0-9a-f]+ <([^>.+@]+)", line)
        if call and caller:
            calls[caller].add(call.group(1))
    return calls


# What a workload calls in the runtime, as any program would through tgo.h.
WORKLOAD_CALLS = {"spawn_loop": {"tgo_spawn"}, "yield_task": {"tgo_yield"},
                  "chan_loop": {"tgo_chan_send", "tgo_chan_recv"}}


@pytest.mark.skipif(not shutil.which("objdump"), reason="reads the drivers with objdump")
@pytest.mark.parametrize("impl", IMPLS)
def test_workloads_call_the_runtime_through_its_api(impl):
    """The workloads are built outside link-time optimisation, so neither
    driver inlines a runtime function into one: under it, gmp's driver
    inlined tgo_spawn into spawn's loop and tgo's did not, as the size of
    unrelated code decided, and the two policies' spawn counts differed by
    that."""
    calls = calls_by_function(disassemble(driver_path(impl)))
    for workload_fn, api in WORKLOAD_CALLS.items():
        assert api <= calls[workload_fn], (workload_fn, sorted(calls[workload_fn]))


def doubled(params: dict, shorter: dict) -> dict:
    """params with the sizes that differ from the shorter run's doubled."""
    return {k: v * 2 if shorter[k] != v else v for k, v in params.items()}


@pytest.mark.skipif(not shutil.which("valgrind"), reason="counts instructions with valgrind")
@pytest.mark.parametrize("impl", IMPLS)
def test_instructions_per_op_do_not_depend_on_the_run_lengths(impl):
    """Start-up and shutdown cancel in the difference: the lengths the
    script uses and twice the longer one give the same count per operation,
    within twice the spread of repeated counts of one length pair (up to
    0.8%: gmp's spawn, 405.0 to 408.2)."""
    exe = driver_path(impl)
    for label, workload, _, (short, long) in native.INSTRUCTION_FIGURES:
        per_op = native.instructions_per_op(exe, workload, (short, long))
        per_op_longer = native.instructions_per_op(exe, workload, (long, doubled(long, short)))
        assert per_op > 50, f"{label}: {per_op} instructions is less than a switch and a take"
        assert per_op_longer == pytest.approx(per_op, rel=0.02), label


def test_instructions_need_valgrind(monkeypatch):
    monkeypatch.setattr(native.shutil, "which", lambda name: None)
    with pytest.raises(UserError) as error:
        native.measure_instructions({})
    assert "valgrind" in error.value.problem
    assert "apt-get install valgrind" in error.value.fix


@pytest.mark.skipif(not shutil.which("valgrind"), reason="runs a driver under valgrind")
def test_a_failed_callgrind_run_names_its_workload():
    with pytest.raises(UserError) as error:
        native.callgrind_run(driver_path("tgo"), "no-such-workload", {})
    assert "no-such-workload" in error.value.problem


def test_instruction_table_gives_each_policy_and_their_ratio(capsys):
    counts = {label: {"tgo": 400.0, "gmp": 500.0} for label, *_ in native.INSTRUCTION_FIGURES}
    native.print_instructions(counts)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("instructions per operation, one P")
    assert [line.split()[0] for line in lines[1:]] == ["spawn", "yield", "chan"]
    assert all(line.endswith("tgo   400.0   gmp   500.0   tgo/gmp 0.80") for line in lines[1:])


def test_without_valgrind_the_script_stops_before_timing_anything(monkeypatch, capsys):
    monkeypatch.setattr(native.shutil, "which", lambda name: None)
    monkeypatch.setattr(native, "measure", lambda *a: pytest.fail("timed before the check"))
    code = native.main(["--instructions", "--no-go", "--reps", "1",
                        "--driver-dir", str(driver_path("tgo").parent)])
    assert code == 2
    assert "--instructions needs valgrind" in capsys.readouterr().err
