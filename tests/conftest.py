"""Fixtures shared by the tests: where the built drivers are, a driver
process to talk the protocol with, and the sanitizer builds.

Drivers are found as tgobench finds them: TGOBENCH_DRIVER_DIR, else the
running Python's scripts directory, else PATH.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
IMPLS = ("tgo", "gmp")
ANSWER_TIMEOUT_S = 120.0  # a hung driver fails its test instead of hanging pytest

def runtime_sources(ctx: str) -> list[Path]:
    """The runtime's shared C sources as tgobench/native/meson.build lists them,
    with the context switch `ctx` (ctx_x86_64.S or ctx_aarch64.S): for tests
    that compile the runtime with another compiler or a program of their own."""
    native = REPO / "tgobench" / "native"
    block = re.search(r"runtime_src = ctx_src \+ files\((.*?)\)", (native / "meson.build").read_text(),
                      re.S)
    assert block, "meson.build no longer defines runtime_src = ctx_src + files(...)"
    return [native / "src" / ctx] + [native / f for f in re.findall(r"'([^']+)'", block.group(1))]


def build_with_source(program: Path, source: str, exe: Path) -> Path:
    """Compile `program` (a test's own C, in tests/c) with one of the
    runtime's sources (`source`, as "hist.c") into `exe`, warnings as errors.
    Skips the test where there is no cc."""
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (cc) on PATH")
    native = REPO / "tgobench" / "native"
    subprocess.run(
        [cc, "-O2", "-std=gnu11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror",
         "-I", str(native / "include"), "-I", str(native / "src"), str(program),
         str(native / "src" / source), "-o", str(exe)],
        check=True)
    return exe


def build_with_runtime(program: Path, policy: str, exe: Path, *flags: str) -> Path:
    """Compile `program` (a test's own C, in tests/c) with the runtime's
    sources and `policy` ("tgo", "gmp") into `exe`, with cc and `flags`.
    Skips the test where there is no cc or it targets another machine than
    x86-64, whose context switch it links."""
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (cc) on PATH")
    machine = subprocess.run([cc, "-dumpmachine"], capture_output=True, text=True).stdout
    if machine.split("-")[0] != "x86_64":
        pytest.skip("the test links the x86-64 context switch")
    src = REPO / "tgobench" / "native" / "src"
    subprocess.run(
        [cc, *flags, "-std=gnu11", "-D_GNU_SOURCE", "-I", str(REPO / "tgobench/native/include"),
         "-I", str(src), *map(str, runtime_sources("ctx_x86_64.S")), str(src / f"sched_{policy}.c"),
         str(program), "-o", str(exe), "-pthread"],
        check=True)
    return exe


def build_variant(program: str, variant: tuple[str, str],
                  tmp_path_factory: pytest.TempPathFactory, *flags: str) -> Path:
    """tests/c/<program>.c built with the runtime for `variant`, one of
    PROGRAM_VARIANTS: a policy and a build kind, plain or a sanitizer;
    `flags` go to cc as well."""
    policy, kind = variant
    exe = tmp_path_factory.mktemp(f"{program}-{policy}-{kind}") / program
    return build_with_runtime(REPO / "tests" / "c" / f"{program}.c", policy, exe,
                              "-O1", "-g", *PROGRAM_CFLAGS[kind], *flags)


def program_fixture(program: str, *flags: str):
    """The module fixture `<program>_exe`: tests/c/<program>.c built once for
    each of PROGRAM_VARIANTS, with cc `flags` added, as (executable, build
    kind)."""
    @pytest.fixture(scope="module", params=PROGRAM_VARIANTS, ids="-".join, name=f"{program}_exe")
    def built(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
        return build_variant(program, request.param, tmp_path_factory, *flags), request.param[1]
    return built


def run_program(args: list[str], what: str, hang: str, timeout_s: float,
                **env: str) -> subprocess.CompletedProcess:
    """run_to_end for a test's own program, with ThreadSanitizer stopping
    at its first report and `env` added to the environment."""
    return run_to_end(args, what, hang, timeout_s,
                      env=dict(os.environ, TSAN_OPTIONS="halt_on_error=1", **env))


def run_to_end(args: list[str], what: str, hang: str, timeout_s: float,
               **kwargs) -> subprocess.CompletedProcess:
    """Run a test's own program (args) to its end, its output captured as
    text; one that has not ended within timeout_s fails the test: `what`
    hung, and `hang` says what it failed to do (the deadlock guard)."""
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, **kwargs)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} hung for {timeout_s} s: {hang}")


_INSTALL_HINT = ("install the package (`pip install .`), or build the drivers "
                 "(`meson setup build && ninja -C build`) and set "
                 "TGOBENCH_DRIVER_DIR=build/tgobench/native")
SANITIZE = {"asan": "address,undefined", "tsan": "thread"}  # build kind -> -fsanitize=
# a test's own C program: build kind -> cc flags, and the (policy, kind) pairs it runs under
PROGRAM_CFLAGS = {"plain": [], **{kind: [f"-fsanitize={what}", "-fno-sanitize-recover=all"]
                                  for kind, what in SANITIZE.items()}}
PROGRAM_VARIANTS = [(policy, kind) for policy in ("tgo", "gmp") for kind in PROGRAM_CFLAGS]


def _find_driver_dir() -> Path | None:
    env = os.environ.get("TGOBENCH_DRIVER_DIR")
    if env:
        return Path(env)
    scripts = Path(sysconfig.get_path("scripts"))
    if (scripts / "tgobench-driver-tgo").is_file():
        return scripts
    on_path = shutil.which("tgobench-driver-tgo")
    return Path(on_path).parent if on_path else None


def driver_path(impl: str, directory: Path | None = None) -> Path:
    """The executable of driver `impl` ("tgo", "gmp") in `directory` (by
    default where the drivers are found); fails the test if it is missing."""
    directory = directory or _find_driver_dir()
    if directory is None:
        pytest.fail(f"no tgobench-driver-tgo found: {_INSTALL_HINT}")
    path = directory / f"tgobench-driver-{impl}"
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{path} is missing or not executable: {_INSTALL_HINT}")
    return path


@pytest.fixture(scope="session")
def driver_dir() -> Path:
    return driver_path("tgo").parent


class Driver:
    """A driver process serving the protocol. Lines are read by a thread, so
    that a request can time out; stderr is collected for failure messages."""

    def __init__(self, path: Path, *args: str, env: dict[str, str] | None = None,
                 timeout: float = ANSWER_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.proc = subprocess.Popen([str(self.path), *args, "serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     bufsize=1, env=env)
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self._lines.put),
                         daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self._stderr.append),
                         daemon=True).start()

    @staticmethod
    def _pump(stream, put) -> None:
        for line in stream:
            put(line)
        put(None)

    @property
    def stderr(self) -> str:
        return "".join(s for s in self._stderr if s is not None)

    def request(self, obj, timeout: float | None = None) -> dict:
        """Send obj as one JSON line; return the answer object."""
        return self.request_line(json.dumps(obj), timeout)

    def request_line(self, line: str, timeout: float | None = None) -> dict:
        """Send one raw line (no newline in it); return the answer object."""
        assert "\n" not in line
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pytest.fail(f"{self.path.name} exited ({self.proc.poll()}) before {line[:200]!r}; "
                        f"stderr:\n{self.stderr}")
        try:
            answer = self._lines.get(timeout=timeout or self.timeout)
        except queue.Empty:
            self.proc.kill()
            pytest.fail(f"{self.path.name} gave no answer within {timeout or self.timeout} s "
                        f"to {line[:200]!r}; stderr:\n{self.stderr}")
        if answer is None:
            pytest.fail(f"{self.path.name} exited ({self.proc.wait()}) without answering "
                        f"{line[:200]!r}; stderr:\n{self.stderr}")
        try:
            return json.loads(answer)
        except ValueError:
            pytest.fail(f"{self.path.name} answered a line that is not JSON: {answer[:300]!r}")

    def close(self, timeout: float = 30.0) -> int:
        """End the input; return the exit status (0 expected at EOF)."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"{self.path.name} did not exit within {timeout} s of EOF")

    def __enter__(self) -> Driver:
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture(params=IMPLS)
def driver(request, driver_dir: Path):
    """A started driver of each implementation; checks it exits 0 at EOF."""
    with Driver(driver_path(request.param, driver_dir)) as d:
        yield d
        if d.proc.poll() is None:  # not already failed and killed by the test
            assert d.close() == 0, d.stderr


CGROUP_LIMIT_MIB = 320  # the budget leaves a driver tens of MiB above its 256 MiB reserve


class MemoryCgroup:
    """A memory cgroup of its own with a limit, for drivers started in it
    through the shell prefix `enter` (Driver(Path("/bin/sh"), *enter, path))."""

    def __init__(self, path: Path, v1: bool) -> None:
        self.path, self.v1 = path, v1
        self.enter = ("-c", f'echo $$ > {path}/cgroup.procs && exec "$0" "$@"')

    def oom_kills(self) -> int:
        """Processes the OOM killer ended in this cgroup."""
        text = (self.path / ("memory.oom_control" if self.v1 else "memory.events")).read_text()
        match = re.search(r"^oom_kill (\d+)", text, re.M)
        assert match, f"no oom_kill count in {self.path}: {text!r}"
        return int(match.group(1))


def own_memory_cgroup() -> tuple[Path, bool] | None:
    """This process's memory cgroup directory and whether it is v1, where
    the hierarchy is mounted at the usual place from its root; else None."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return Path("/sys/fs/cgroup/memory" + path), True
        if controllers == "" and (Path("/sys/fs/cgroup" + path) / "memory.max").exists():
            return Path("/sys/fs/cgroup" + path), False
    return None


@pytest.fixture
def memory_cgroup():
    """A new memory cgroup under this process's, limited to CGROUP_LIMIT_MIB;
    skips where one cannot be made (not root, no memory controller to
    write, v2 without it delegated), and removes it after the test."""
    own = own_memory_cgroup()
    if own is None:
        pytest.skip("no memory cgroup of this process to make one under")
    parent, v1 = own
    path = parent / f"tgobench-test-{os.getpid()}"
    try:
        path.mkdir()
    except OSError as exc:
        pytest.skip(f"cannot make a memory cgroup under {parent}: {exc}")
    cgroup = MemoryCgroup(path, v1)
    try:
        limit = path / ("memory.limit_in_bytes" if v1 else "memory.max")
        limit.write_text(str(CGROUP_LIMIT_MIB << 20))
        entered = subprocess.run(["/bin/sh", *cgroup.enter, "true"], capture_output=True,
                                 text=True)
        if entered.returncode != 0:
            raise OSError(entered.stderr.strip())
    except OSError as exc:
        remove_cgroup(path)
        pytest.skip(f"cannot limit the memory cgroup {path} or start a process in it: {exc}")
    yield cgroup
    remove_cgroup(path)


def remove_cgroup(path: Path) -> None:
    """rmdir once its processes are gone, which the kernel may take a moment to see."""
    for _ in range(100):
        try:
            path.rmdir()
            return
        except OSError:
            time.sleep(0.05)
    path.rmdir()


@pytest.fixture(scope="session")
def sanitizer_build():
    """build(kind) -> the directory holding that sanitizer build's drivers.
    kind "asan" is ASan+UBSan, "tsan" ThreadSanitizer; each is built once
    per session into <repo>/build/sanitize-<kind>."""
    built: dict[str, Path] = {}

    def build(kind: str) -> Path:
        if kind not in SANITIZE:
            raise ValueError(f"sanitizer build kind {kind!r}; known: {', '.join(SANITIZE)}")
        if kind in built:
            return built[kind]
        meson, ninja = shutil.which("meson"), shutil.which("ninja")
        if not (meson and ninja):
            pytest.skip("sanitizer builds need meson and ninja: pip install meson ninja")
        build_dir = REPO / "build" / f"sanitize-{kind}"
        steps = [[ninja, "-C", str(build_dir)]]
        if not (build_dir / "build.ninja").exists():
            steps.insert(0, [meson, "setup", str(build_dir), str(REPO), "--buildtype=debugoptimized",
                             f"-Db_sanitize={SANITIZE[kind]}"])
        for cmd in steps:
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                            f"{proc.stdout[-4000:]}{proc.stderr[-4000:]}")
        built[kind] = build_dir / "tgobench" / "native"
        return built[kind]

    return build


FAKE_DRIVER = REPO / "tests" / "fixtures" / "fake_driver.py"


@pytest.fixture
def fake_driver_dir(tmp_path) -> Path:
    """A directory of fake drivers (tests/fixtures/fake_driver.py, speaking
    the protocol in Python) named as tgo and gmp, for the harness's tests."""
    directory = tmp_path / "fake-drivers"
    directory.mkdir()
    for impl in IMPLS:
        (directory / f"tgobench-driver-{impl}").symlink_to(FAKE_DRIVER)
    return directory


# The real `tgobench` command line, run as a new process.
TGOBENCH_COMMAND = [sys.executable, "-c", "from tgobench.cli import app; app()"]


def tgobench_env(env: dict | None = None) -> dict:
    """`env` (default: this process's) with the tgobench under test first on
    PYTHONPATH, so that a new process imports it from any working directory."""
    import tgobench

    env = dict(os.environ if env is None else env)
    package_root = str(Path(tgobench.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


def run_tgobench(*args: str, env: dict | None = None,
                 cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The real `tgobench` command line, importing the tgobench under test
    from any working directory."""
    return subprocess.run([*TGOBENCH_COMMAND, *args], capture_output=True, text=True,
                          env=tgobench_env(env), cwd=cwd)


@pytest.fixture
def tgobench_cli():
    """run(*args, env=None, cwd=None) -> CompletedProcess of `tgobench ARGS`."""
    return run_tgobench


# Every driver's workloads: unit, and per param (default, min, max); None
# where no bound is documented. The C and Go drivers are both held to it.
WORKLOAD_SPECS = {
    "spawn": ("task", {"tasks": (1000000, 1, 100000000)}),
    "spawn-tree": ("task", {"fanout": (4, 1, 64), "depth": (10, 0, 30)}),
    "yield": ("switch", {"tasks": (4, 1, 1000000), "yields": (250000, 1, 10**9)}),
    "chan": ("round trip", {"rounds": (200000, 1, 10**9)}),
    "fib": ("task", {"n": (25, 1, 40)}),
    "skew": ("task", {"tasks": (10000, 1, 10000000), "units": (200, 1, 1000000)}),
    "parked": ("task", {"tasks": (100000, 1, 10000000)}),
    "stress": ("task", {"seed": (1, 0, 2**31), "tasks": (10000, 1, 10000000),
                        "chans": (8, 1, 1024)}),
    "rpc": ("request", {"conns": (64, 1, 100000), "size": (64, 1, 1048576),
                        "requests": (1000, None, None), "mode": ("closed", None, None),
                        "rate": (20000, None, None), "duration_ms": (1000, None, None)}),
    "mixed": ("cycle", {"tasks": (64, None, None), "cycles": (100, None, None),
                        "burst": (2000, None, None), "sleep_us": (50, None, None)}),
}


def fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def assert_wake_latency(answer: dict, sleep_us: int) -> None:
    """mixed's sched_lat_p99_ns: how late tasks ran after their sleep's
    deadline, in ns. A cycle that was that late also slept, within the last
    loop, so the p99 fits in that loop less one sleep; a sleep is never
    over before its deadline is passed, so with sleeps it is above 0."""
    p99, loop_ns = answer["metrics"]["sched_lat_p99_ns"], answer["per_loop_ns"][-1]
    assert (0 < p99 if sleep_us else 0 <= p99) and p99 <= loop_ns - 1000 * sleep_us, \
        (p99, loop_ns, sleep_us)


def assert_active_conns(metrics: dict, conns: int) -> None:
    """A closed loop's active_conns: each connection counts for the share
    of the timed span from its first send to its last reply, so the mean
    lies above 0 and at most conns."""
    assert 0 < metrics["active_conns"] <= conns, metrics


def assert_send_lag(metrics: dict, mode: str) -> None:
    """An open loop's send lag: present only there, and, since no request
    can be answered before it is sent, at most its latency at every
    percentile."""
    if mode != "open":
        assert "send_lag_ns" not in metrics
        return
    lag, lat = metrics["send_lag_ns"], metrics["latency_ns"]
    assert list(lag) == ["p50", "p99", "max"]
    assert 0 <= lag["p50"] <= lag["p99"] <= lag["max"]
    assert all(lag[p] <= lat[p] for p in lag), (lag, lat)
