"""benchmarks/rpc.py's reading of the drivers' answers: each figure from the
metric it names, whatever its place in the table, and the warning for an
open loop that fell short of its rate."""

from __future__ import annotations

import sys
from types import SimpleNamespace

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import rpc  # noqa: E402


def figure(label: str, unit: str) -> rpc.Figure:
    (found,) = [f for f in rpc.FIGURES if (f.label, f.unit) == (label, unit)]
    return found


def test_each_figure_reads_its_own_metric():
    closed = SimpleNamespace(metrics={
        "throughput_per_s": 150000.0, "active_conns": 327.4, "same_p_share": 0.998,
        "latency_ns": {"p50": 1000, "p99": 4551000}})
    assert figure("closed 1000", "req/s").value(closed) == 150000.0
    assert figure("closed 1000", "p99 µs").value(closed) == 4551.0
    assert figure("active", "conns").value(closed) == 327.4
    assert figure("same P", "%").value(closed) == 99.8
    # Go's driver cannot tell the share: no figure rather than an error
    assert figure("same P", "%").value(SimpleNamespace(metrics={})) is None


def test_an_open_loop_under_95_percent_of_its_rate_is_named():
    def medians(open_rate: float | None) -> dict[int, float | None]:
        # every other figure far below the rate, as the active row is
        return {k: (open_rate if k == rpc.OPEN_RATE else 327.0) for k in range(len(rpc.FIGURES))}

    found = rpc.unsustained({"tgo": medians(20000.0), "gmp": medians(18900.0),
                             "go": medians(19001.0), "bare": medians(None)}, 20000)
    assert found == ["gmp"]
