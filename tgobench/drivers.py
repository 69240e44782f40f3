"""Drivers: finding the executable of an implementation, and talking to it.

A driver is an executable per implementation that speaks protocol version 1:
one JSON object per line on stdin, exactly one JSON line answered on stdout
per line read, stderr free for diagnostics, exit 0 at EOF. `hello` describes
the driver (impl, version, workloads and their params, topology); `run` runs a
workload `loops` times and returns the time measured inside the driver.

Where a driver comes from, in order: `--impl name=/path/to/driver`; a provider
registered for the name (an implementation built on demand, such as `go`);
`$TGOBENCH_DRIVER_DIR/tgobench-driver-NAME`; the running Python's scripts
directory (where `pip install .` puts the C drivers); PATH.

Two kinds of failure: a driver that answers `{"ok": false, "error": ...}` has
refused a request and explains why, which becomes DriverRefused (a UserError)
carrying its message; a driver that dies, hangs or answers garbage is broken,
which raises DriverError with its exit status and the tail of its stderr.
"""

from __future__ import annotations

import importlib
import json
import os
import reprlib
import selectors
import shutil
import subprocess
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from tgobench.errors import UserError
from tgobench.results import metrics_problem, value_problem

PROTOCOL_VERSION = 1
BUILTIN_IMPLS = ("tgo", "gmp")
EXECUTABLE_PREFIX = "tgobench-driver-"
HELLO_TIMEOUT_S = 30.0
STDERR_TAIL_LINES = 20

# Implementations whose driver is made on demand rather than installed: name
# -> "module:function", the function taking no argument and returning the
# driver's path (or raising UserError saying what to install).
PROVIDERS: dict[str, str] = {"go": "tgobench.godriver:driver_path"}


class DriverError(Exception):
    """A driver that crashed, hung or broke the protocol. Not the user's
    mistake: the message says what happened, with the driver's own words."""

    def __init__(self, impl: str, what: str, status: int | None = None, stderr_tail: str = ""):
        self.impl = impl
        self.what = what
        self.status = status
        self.stderr_tail = stderr_tail
        super().__init__(self._message())

    def _message(self) -> str:
        text = f"the {self.impl} driver {self.what}"
        if self.status is not None:
            text += f" ({describe_status(self.status)})"
        if self.stderr_tail:
            text += "\n  its stderr ended with:\n" + "\n".join(
                "    " + line for line in self.stderr_tail.splitlines())
        return text


class DriverRefused(UserError):
    """A driver's `{"ok": false, "error": ...}`: it judged the request bad
    input, and its words say why."""


def describe_status(status: int) -> str:
    if status < 0:
        import signal
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


# --- finding drivers ---------------------------------------------------------

def parse_impls(text: str) -> dict[str, Path | None]:
    """`--impl tgo,gmp,mine=/path/to/driver` as {name: explicit path or None}."""
    impls: dict[str, Path | None] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, eq, path = item.partition("=")
        name = name.strip()
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise UserError(f"bad implementation name {name!r} in --impl {text!r}",
                            "give names like tgo,gmp or name=/path/to/driver")
        if eq:
            driver = Path(path).expanduser()
            if not (driver.is_file() and os.access(driver, os.X_OK)):
                raise UserError(f"driver {path!r} given for {name} is not an executable file",
                                "give the path of a driver executable that speaks "
                                "the tgobench protocol")
            impls[name] = driver.resolve()
        else:
            impls[name] = None
    if not impls:
        raise UserError(f"--impl {text!r} names no implementation", "give e.g. --impl tgo,gmp")
    return impls


def search_dirs() -> list[tuple[str, Path]]:
    """Where installed drivers are looked for, in order, with what each is."""
    dirs = []
    if os.environ.get("TGOBENCH_DRIVER_DIR"):
        dirs.append(("$TGOBENCH_DRIVER_DIR", Path(os.environ["TGOBENCH_DRIVER_DIR"])))
    dirs.append(("the Python scripts directory", Path(sysconfig.get_path("scripts"))))
    return dirs


def find_driver(impl: str, explicit: Path | None = None) -> Path:
    """The driver executable of `impl`; UserError saying where it was looked
    for and how to get one."""
    if explicit is not None:
        return explicit
    if impl in PROVIDERS:
        module, _, function = PROVIDERS[impl].partition(":")
        provider: Callable[[], Path] = getattr(importlib.import_module(module), function)
        return Path(provider())
    executable = EXECUTABLE_PREFIX + impl
    for _, directory in search_dirs():
        candidate = directory / executable
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which(executable)
    if on_path:
        return Path(on_path)
    looked = ", ".join(f"{what} ({path})" for what, path in search_dirs()) + " and PATH"
    if impl in BUILTIN_IMPLS:
        fix = ("install tgobench with `pip install .` (it builds the drivers), or build them "
               "with meson and set TGOBENCH_DRIVER_DIR to the directory holding them")
    else:
        fix = (f"known implementations: {', '.join(known_impls())}; for another driver "
               f"give --impl {impl}=/path/to/driver")
    raise UserError(f"no driver {executable} for implementation {impl!r}: looked in {looked}", fix)


def known_impls() -> list[str]:
    return list(BUILTIN_IMPLS) + [name for name in PROVIDERS if name not in BUILTIN_IMPLS]


# --- what a driver says about itself -------------------------------------------

@dataclass(frozen=True)
class ParamInfo:
    name: str
    type: str  # "int", "float", "bool" or "str"
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""

    def describe(self) -> str:
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        if self.min is not None and self.max is not None:
            return f"{self.type} in {self.min}..{self.max}"
        return self.type

    def convert(self, text: str) -> Any:
        """A value given as text on the command line, in this param's type."""
        try:
            if self.type == "int":
                try:
                    return int(text.replace("_", ""))
                except ValueError:
                    number = float(text)  # 1e6, as people write it
                    if not number.is_integer():
                        raise
                    return int(number)
            if self.type == "float":
                return float(text)
            if self.type == "bool":
                lowered = text.lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off"):
                    return False
                raise ValueError(text)
            return text
        except ValueError:
            raise ValueError(f"{self.name}={text!r} is not a {self.type}") from None

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value` for this param, or None."""
        if self.type == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif self.type == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif self.type == "bool":
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            return f"{self.name} must be {self.type}, got {value!r}"
        if self.choices and value not in self.choices:
            return f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}"
        if self.type in ("int", "float"):
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                return f"{self.name}={value} is out of range {_num(self.min)}..{_num(self.max)}"
        return None


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class WorkloadInfo:
    name: str
    unit: str
    help: str
    params: dict[str, ParamInfo]


@dataclass
class DriverInfo:
    """A driver's answer to hello."""

    impl: str
    version: str
    protocol: int
    procs: int
    compiler: str
    workloads: dict[str, WorkloadInfo]
    topology: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)

    @property
    def build(self) -> str:
        """The compiler and, where the driver tells them, its build flags."""
        flags = self.raw.get("build_flags") or self.raw.get("cflags")
        return f"{self.compiler} [{flags}]" if flags else self.compiler

    @classmethod
    def from_hello(cls, answer: dict, expected_impl: str) -> DriverInfo:
        """The driver's hello answer as data: UserError if it speaks another
        protocol, DriverError naming the field if the answer is malformed."""
        protocol = answer.get("protocol")
        if protocol != PROTOCOL_VERSION:
            raise UserError(f"the {expected_impl} driver speaks protocol {protocol!r}; "
                            f"tgobench speaks {PROTOCOL_VERSION}",
                            "use a driver built for this version of tgobench")
        try:
            workloads = {name: _workload_info(name, desc)
                         for name, desc in _object(answer, "workloads", "workloads").items()}
            procs = answer.get("procs") or 0
            if not isinstance(procs, int) or isinstance(procs, bool) or procs < 0:
                raise ValueError(f"procs {reprlib.repr(procs)}, not a whole number")
            topology = _object(answer, "topology", "topology")
        except ValueError as exc:
            raise DriverError(expected_impl, f"answered 'hello' with {exc}") from None
        return cls(str(answer.get("impl") or expected_impl), str(answer.get("version", "")),
                   protocol, procs, str(answer.get("compiler", "")), workloads, topology, answer)


_PARAM_TYPES = ("int", "float", "bool", "str")


def _workload_info(name: str, desc: Any) -> WorkloadInfo:
    """One workload of a hello answer; ValueError saying what is malformed."""
    if not isinstance(desc, dict):
        raise ValueError(f"workload {name!r} described as {reprlib.repr(desc)}, not an object")
    unit = desc.get("unit", "op")
    if not isinstance(unit, str):
        raise ValueError(f"workload {name!r} whose unit is {reprlib.repr(unit)}, not text")
    params = {pname: _param_info(name, pname, pdesc)
              for pname, pdesc in _object(desc, "params", f"workload {name!r} with params").items()}
    return WorkloadInfo(name, unit, str(desc.get("help", "")), params)


def _param_info(workload: str, name: str, desc: Any) -> ParamInfo:
    """One parameter of a hello answer; ValueError saying what is malformed."""
    where = f"parameter {name!r} of workload {workload!r}"
    if not isinstance(desc, dict):
        raise ValueError(f"{where} described as {reprlib.repr(desc)}, not an object")
    kind = desc.get("type", "str")
    if kind not in _PARAM_TYPES:
        raise ValueError(f"{where} of type {reprlib.repr(kind)}; types are "
                         f"{', '.join(_PARAM_TYPES)}")
    for bound in ("min", "max"):
        value = desc.get(bound)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise ValueError(f"{where} whose {bound} is {reprlib.repr(value)}, not a number")
    choices = desc.get("choices") or []
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise ValueError(f"{where} whose choices are {reprlib.repr(choices)}, not a list of text")
    return ParamInfo(name, kind, desc.get("default"), desc.get("min"), desc.get("max"),
                     tuple(choices), str(desc.get("help", "")))


def _object(holder: dict, key: str, what: str) -> dict:
    """holder[key], a JSON object, {} where absent or null."""
    value = holder.get(key) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{what} {reprlib.repr(value)}, not an object")
    return value


@dataclass
class RunAnswer:
    """A driver's answer to run: elapsed_ns over all loops, timed inside the
    driver; ops over all loops."""

    workload: str
    elapsed_ns: int
    loops: int
    ops: int
    unit: str
    procs: int
    params: dict
    metrics: dict
    per_loop_ns: list[int]

    @property
    def seconds_per_op(self) -> float:
        return self.elapsed_ns / self.ops / 1e9


# --- talking to a driver -----------------------------------------------------

class DriverProcess:
    """One running driver, started under a placement's command prefix
    (taskset/numactl). Use as a context manager, or call close()."""

    def __init__(self, impl: str, executable: Path | str, prefix: Sequence[str] = (),
                 env: dict[str, str] | None = None):
        self.impl = impl
        self.command = [*prefix, str(executable)]
        self._stderr = tempfile.TemporaryFile(prefix="tgobench-driver-stderr-")
        try:
            self._proc = subprocess.Popen(self.command, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=self._stderr,
                                          env=env, close_fds=True)
        except OSError as exc:
            self._stderr.close()
            raise UserError(f"cannot start the {impl} driver ({' '.join(self.command)}): "
                            f"{exc.strerror or exc}",
                            "check that the driver and the placement's tool exist and are "
                            "executable") from None
        self._buffer = b""
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._proc.stdout, selectors.EVENT_READ)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def __enter__(self) -> DriverProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        self._stderr.flush()
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - 16384))
        text = self._stderr.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    def _broken(self, what: str) -> DriverError:
        status = self._proc.poll()
        if status is None:
            self._proc.kill()
            status = self._proc.wait()
            what += "; it was killed"
            status_shown = None
        else:
            status_shown = status
        return DriverError(self.impl, what, status_shown, self.stderr_tail())

    def request(self, message: dict, timeout: float | None = None) -> dict:
        """Send one request, return its answer (ok or not)."""
        line = (json.dumps(message) + "\n").encode()
        try:
            self._proc.stdin.write(line)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._proc.wait()
            raise self._broken(f"died before reading the request {message.get('op')!r}") from None
        raw = self._read_line(timeout, message)
        try:
            answer = json.loads(raw)
        except ValueError:
            raise self._broken(f"answered {message.get('op')!r} with a line that is not JSON: "
                               f"{raw[:200]!r}") from None
        if not isinstance(answer, dict):
            raise self._broken(f"answered {message.get('op')!r} with {raw[:200]!r}, not an object")
        return answer

    def _read_line(self, timeout: float | None, message: dict) -> str:
        deadline = None if timeout is None else time.monotonic() + timeout
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise self._broken(f"did not answer {_describe(message)} within {timeout:g} s")
            if not self._selector.select(remaining):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                self._proc.wait()
                raise self._broken(f"died while running {_describe(message)}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("utf-8", "replace")

    def checked(self, message: dict, timeout: float | None = None) -> dict:
        """Send a request; a refusal becomes DriverRefused with the driver's words."""
        answer = self.request(message, timeout)
        if answer.get("ok") is False or "error" in answer:
            raise DriverRefused(f"the {self.impl} driver refused {_describe(message)}: "
                                f"{answer.get('error', 'no reason given')}")
        return answer

    def hello(self, timeout: float = HELLO_TIMEOUT_S) -> DriverInfo:
        return DriverInfo.from_hello(self.checked({"op": "hello"}, timeout), self.impl)

    def run(self, workload: str, params: dict, loops: int, procs: int | None = None,
            timeout: float | None = None) -> RunAnswer:
        message: dict[str, Any] = {"op": "run", "workload": workload, "params": params, "loops": loops}
        if procs:
            message["procs"] = procs
        answer = self.checked(message, timeout)
        metrics = answer.get("metrics") or {}
        if not isinstance(metrics, dict):
            raise self._broken(f"answered {_describe(message)} with metrics that are not an "
                               f"object: {reprlib.repr(metrics)}")
        try:
            result = RunAnswer(str(answer.get("workload", workload)), int(answer["elapsed_ns"]),
                               int(answer["loops"]), int(answer["ops"]),
                               str(answer.get("unit", "op")), int(answer.get("procs") or 0),
                               dict(answer.get("params") or params), metrics,
                               list(answer.get("per_loop_ns") or []))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise self._broken(f"answered {_describe(message)} without a valid {exc}") from None
        if result.elapsed_ns <= 0 or result.ops <= 0:
            raise self._broken(f"answered {_describe(message)} with elapsed_ns={result.elapsed_ns} "
                               f"and ops={result.ops}; both must be positive")
        # Checked by the rules load reads a result file by: one value or
        # metric it refuses would make the whole file unreadable.
        try:
            problem = value_problem(result.seconds_per_op)
        except OverflowError:  # an elapsed_ns too large for a float
            problem = "too large to be a measurement"
        if problem:
            raise self._broken(f"answered {_describe(message)} with elapsed_ns={result.elapsed_ns} "
                               f"and ops={result.ops}, a time per op {problem}")
        problem = metrics_problem(metrics)
        if problem:
            raise self._broken(f"answered {_describe(message)} with metrics a result file cannot "
                               f"hold: {problem}")
        return result

    def close(self, timeout: float = 10.0) -> int:
        """End the driver (EOF on stdin); returns its exit status."""
        if self._proc.poll() is None:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self._selector.close()
        self._stderr.close()
        return self._proc.returncode


def _describe(message: dict) -> str:
    if message.get("op") == "run":
        return f"run {message.get('workload')!r}"
    return repr(message.get("op"))


def hello(impl: str, executable: Path | str, prefix: Sequence[str] = ()) -> DriverInfo:
    """Start a driver, ask hello, end it."""
    with DriverProcess(impl, executable, prefix) as driver:
        return driver.hello()


def hello_all(impls: dict[str, Path | None]) -> tuple[dict[str, DriverInfo], list[str]]:
    """hello from each implementation whose driver can be found; the others
    come back as notices saying why not."""
    infos: dict[str, DriverInfo] = {}
    notices: list[str] = []
    for name, explicit in impls.items():
        try:
            infos[name] = hello(name, find_driver(name, explicit))
        except (UserError, DriverError) as exc:
            notices.append(f"{name}: {exc}")
    return infos, notices
