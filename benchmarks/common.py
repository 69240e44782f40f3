"""What the benchmark scripts share: their options, finding the drivers (the
C ones, and Go's where it builds), building a helper program in C, the
interleaved order of repetitions, the median [min-max] cell of repeated
figures and the ratio of two medians, the machine line, and how a user
mistake ends a script (exit 2, the problem and its fix)."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tgobench import godriver, system  # noqa: E402
from tgobench.drivers import EXECUTABLE_PREFIX, find_driver  # noqa: E402
from tgobench.errors import UserError  # noqa: E402

POLICIES = ("tgo", "gmp")
REQUEST_TIMEOUT_S = 600.0


def add_common_options(parser: argparse.ArgumentParser, reps_help: str) -> None:
    parser.add_argument("--reps", type=int, default=5, help=reps_help)
    parser.add_argument("--driver-dir", type=Path,
                        help="directory holding tgobench-driver-tgo and -gmp "
                             "(default: as tgobench finds them)")
    parser.add_argument("--procs", type=int, help="Ps per runtime (default: the driver's)")
    parser.add_argument("--no-go", action="store_true", help="leave the Go driver out")


def check_reps(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.reps < 1:
        parser.error("--reps must be at least 1")


def policy_drivers(driver_dir: Path | None) -> dict[str, Path]:
    """The tgo and gmp drivers, from driver_dir or where tgobench finds them."""
    executables = {p: find_driver(p, driver_dir / (EXECUTABLE_PREFIX + p) if driver_dir else None)
                   for p in POLICIES}
    for path in executables.values():
        if not os.access(path, os.X_OK):
            raise UserError(f"{path} is not an executable driver",
                            "build the drivers (meson/ninja) and pass their directory")
    return executables


def implementation_drivers(args: argparse.Namespace) -> tuple[dict[str, Path], str]:
    """The tgo and gmp drivers, and the Go driver unless --no-go or it cannot be
    built; with a note on the Go driver for the machine line."""
    executables = policy_drivers(args.driver_dir)
    if args.no_go:
        return executables, "left out (--no-go)"
    try:
        executables["go"] = godriver.build().path
    except UserError as exc:
        return executables, f"not available: {exc.problem}"
    return executables, "built by tgobench.godriver"


def build_c(sources: list[Path], exe: Path, option: str) -> Path:
    """Compile sources into exe with cc -O2; `option` is the script option
    that asked for it, named in the fix when there is no compiler."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise UserError(f"{option} needs a C compiler to build {sources[0].name}",
                        f"install gcc (apt-get install gcc), or leave out {option}")
    built = subprocess.run([cc, "-O2", "-pthread", "-o", str(exe), *map(str, sources)],
                           capture_output=True, text=True, check=False)
    if built.returncode != 0:
        raise UserError(f"building {sources[0]} failed:\n{built.stderr.strip()}",
                        f"fix the compiler setup, or leave out {option}")
    return exe


def interleaved(impls: tuple[str, ...], reps: int) -> Iterator[str]:
    """The implementations to measure, reps times over, rotating which goes
    first so that drift on a shared machine falls on all; each announced on
    stderr."""
    for rep in range(reps):
        for impl in impls[rep % len(impls):] + impls[:rep % len(impls)]:
            print(f"rep {rep + 1}/{reps}: {impl} ...", file=sys.stderr, flush=True)
            yield impl


def go_line(go_note: str, hellos: dict[str, dict]) -> str:
    compiler = f" ({hellos['go'].get('compiler', '?')})" if "go" in hellos else ""
    return f"Go driver: {go_note}{compiler}"


def ratio(a: float | None, b: float | None) -> str:
    """a / b to two decimals, or - when either is missing or b is 0."""
    return f"{a / b:.2f}" if a is not None and b else "-"


def report_error(exc: UserError) -> int:
    print(f"error: {exc.problem}" + (f"\n  fix: {exc.fix}" if exc.fix else ""), file=sys.stderr)
    return 2


def spread(values: list[float], fmt: Callable[[float], str]) -> tuple[float, str]:
    """The median of repeated values, and the cell `median [min-max]`."""
    median = statistics.median(values)
    return median, f"{fmt(median)} [{fmt(min(values))}-{fmt(max(values))}]"


def machine_line(hello: dict) -> str:
    return (f"machine: {platform.node()}, {system.cpu_model(Path('/'))}, "
            f"kernel {platform.release()}, {os.cpu_count()} CPUs; "
            f"procs {hello['procs_used']}; compiler {hello.get('compiler', '?')}")
