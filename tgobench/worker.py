"""The pyperf side of one benchmark:

    python -m tgobench.worker --tgobench-spec SPEC.json [pyperf options]

The runner starts this once per benchmark; it becomes pyperf's manager,
which calibrates loops and warmups and re-executes this same module as its
worker processes (`--worker ...`). That is why it is a module of its own:
pyperf re-executes the program it was started as, and the worker flags it
adds are not the tgobench CLI's. Each worker process keeps one driver process
(started under the placement's prefix) for all its values, and reports the
time the driver measured, not its own; a benchmark whose spec says
fresh_driver (runner.FRESH_DRIVER_WORKLOADS) gets a new driver for every
value instead, warmups included.

pyperf divides the time a call returns by loops x inner_loops. The driver
reports elapsed_ns and ops over all loops; inner_loops is the ops of one loop
as the runner measured it beforehand, and the returned time is scaled by
(inner_loops x loops / ops) so each value is exactly elapsed_ns / ops even
for a workload whose op count varies (an open-loop rpc run), while the raw
time pyperf calibrates loops by stays the real elapsed time.

The driver's metrics of each value are stored in the run's metadata
(tgobench_metrics) through a pyperf hook, the one way pyperf lets code add
metadata to the run it is computing.

Failures: the worker writes what went wrong as JSON to the spec's error_file
and exits with ERROR_EXIT; the runner reads it. pyperf's own failures
(calibration, timeouts) end in sys.exit with its message on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyperf

from tgobench.drivers import DriverError, DriverProcess
from tgobench.errors import UserError
from tgobench.results import encode_json

METRICS_HOOK = "tgobench_metrics"
ERROR_EXIT = 3


class Session:
    """This process's driver, started on the first timed call (the manager
    process never times anything, so never starts one)."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.driver: DriverProcess | None = None
        self.metrics: list[dict] = []

    def time(self, loops: int) -> float:
        spec = self.spec
        if spec["fresh_driver"]:
            self.close()
        if self.driver is None:
            self.driver = DriverProcess(spec["impl"], spec["driver"], spec["prefix"])
            info = self.driver.hello()
            if info.version != spec["driver_version"]:
                raise UserError(f"the {spec['impl']} driver changed during the run: version "
                                f"{info.version}, was {spec['driver_version']}",
                                "do not rebuild drivers while a benchmark runs")
        answer = self.driver.run(spec["workload"], spec["params"], loops, spec["procs"])
        self.metrics.append(answer.metrics)
        nominal_ops = spec["ops_per_loop"] * loops
        return answer.elapsed_ns / 1e9 * nominal_ops / answer.ops

    def close(self) -> None:
        if self.driver is not None:
            self.driver.close()
            self.driver = None


class MetricsHook:
    """pyperf hook that stores the driver metrics of the values computed
    while it was active into the run's metadata. pyperf makes one per batch
    of values (warmups, then values), so the last batch's metrics stay: the
    metrics of the run's values, one object each, in order."""

    name = METRICS_HOOK
    session: Session | None = None

    @classmethod
    def load(cls):
        return cls

    def __init__(self):
        self.first = len(self.session.metrics)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return None

    def teardown(self, metadata: dict) -> None:
        metadata[METRICS_HOOK] = encode_json(self.session.metrics[self.first:])


def _forward_spec(cmd: list[str], args) -> None:
    cmd.extend(("--tgobench-spec", args.tgobench_spec))


def _write_error(spec: dict, kind: str, message: str, **details) -> None:
    Path(spec["error_file"]).write_text(json.dumps(dict(kind=kind, message=message, **details)))


def main(argv: list[str] | None = None) -> int:
    spec_arg = _spec_path(sys.argv[1:] if argv is None else argv)
    spec = json.loads(Path(spec_arg).read_text())
    settings = spec["pyperf"]
    runner = pyperf.Runner(processes=settings["processes"], values=settings["values"],
                           warmups=settings["warmups"], min_time=settings["min_time"],
                           loops=settings["loops"], program_args=("-m", "tgobench.worker"),
                           add_cmdline_args=_forward_spec, hooks=[MetricsHook])
    runner.argparser.add_argument("--tgobench-spec", required=True)
    args = runner.parse_args(argv)
    session = Session(spec)
    MetricsHook.session = session
    try:
        runner.bench_time_func(spec["name"], session.time, inner_loops=spec["ops_per_loop"],
                               metadata=spec["metadata"])
    except DriverError as exc:
        _write_error(spec, "driver", str(exc), status=exc.status, stderr_tail=exc.stderr_tail)
        return ERROR_EXIT
    except UserError as exc:
        _write_error(spec, "user", exc.problem, fix=exc.fix)
        return ERROR_EXIT
    except RuntimeError as exc:
        if args.worker:
            raise
        # A worker failed; it wrote why to error_file unless it died first.
        if not Path(spec["error_file"]).exists():
            _write_error(spec, "worker", str(exc))
        return ERROR_EXIT
    finally:
        session.close()
    return 0


def _spec_path(argv: list[str]) -> str:
    for i, arg in enumerate(argv):
        if arg == "--tgobench-spec" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--tgobench-spec="):
            return arg.split("=", 1)[1]
    print("tgobench.worker: --tgobench-spec FILE is required (the runner gives it)", file=sys.stderr)
    raise SystemExit(2)


if __name__ == "__main__":
    sys.exit(main())
