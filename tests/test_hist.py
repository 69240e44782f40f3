"""The runtime's latency histogram (tgobench/native/src/hist.c), checked
against numpy through tests/c/hist_check.c: percentiles within 0.1% of the
true ones, count and max exact, merge equal to recording everything in one,
reset back to empty."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import build_with_source

ROOT = Path(__file__).resolve().parent.parent
PERCENTILES = [0, 0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100]


@pytest.fixture(scope="module")
def hist_check(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_with_source(ROOT / "tests" / "c" / "hist_check.c", "hist.c",
                             tmp_path_factory.mktemp("hist") / "hist_check")


def run_check(exe: Path, values: np.ndarray, percentiles: list[float] = PERCENTILES) -> dict:
    stdin = "\n".join(str(int(v)) for v in values) + "\n"
    out = subprocess.run([str(exe), *map(str, percentiles)], input=stdin,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def assert_close_to_numpy(reported: list[int], values: np.ndarray,
                          percentiles: list[float] = PERCENTILES) -> None:
    for pct, got in zip(percentiles, reported):
        true = int(np.percentile(values, pct, method="inverted_cdf"))
        assert abs(got - true) <= true * 0.001, f"p{pct}: {got} vs {true}"


DISTRIBUTIONS = {
    "small-exact": lambda rng: rng.integers(0, 2048, 5000),
    "uniform": lambda rng: rng.integers(0, 10_000_000, 20000),
    "lognormal-ns": lambda rng: rng.lognormal(mean=8, sigma=2.5, size=20000).astype(np.uint64),
    "bimodal": lambda rng: np.concatenate([rng.integers(50, 90, 9000),
                                           rng.integers(40_000, 2_000_000, 1000)]),
    "huge": lambda rng: rng.integers(2**60, 2**64 - 1, 3000, dtype=np.uint64),
    "duplicates": lambda rng: rng.choice(np.array([3, 3000, 3_000_000, 3_000_000_000]), 4000),
}


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_percentiles_within_a_tenth_of_a_percent(hist_check: Path, name: str) -> None:
    values = DISTRIBUTIONS[name](np.random.default_rng(20240601))
    result = run_check(hist_check, values)
    whole = result["whole"]
    assert whole["count"] == len(values)
    assert whole["max"] == int(values.max())
    assert whole["percentiles"][0] == int(values.min())
    assert whole["percentiles"][-1] == int(values.max())
    assert_close_to_numpy(whole["percentiles"], values)


def test_values_below_2048_are_exact(hist_check: Path) -> None:
    values = np.random.default_rng(7).integers(0, 2048, 3001)
    reported = run_check(hist_check, values)["whole"]["percentiles"]
    expected = [int(np.percentile(values, p, method="inverted_cdf")) for p in PERCENTILES]
    assert reported == expected


@pytest.mark.parametrize("power", [11, 12, 20, 33, 50, 63])
def test_slot_edges_around_powers_of_two(hist_check: Path, power: int) -> None:
    edge = 2**power
    values = np.array([edge - 1, edge, edge + 1, edge + edge // 3, 2 * edge - 1], dtype=np.uint64)
    for value in values:
        one = run_check(hist_check, np.array([value]), [0, 50, 100])["whole"]
        # min and max are exact, so a single value reads back exactly
        assert one["percentiles"] == [int(value)] * 3
    # the median of [edge-1 .. 2*edge-1] sits mid-slot: within 0.1%
    assert_close_to_numpy(run_check(hist_check, values)["whole"]["percentiles"], values)


def test_merge_equals_recording_everything_in_one(hist_check: Path) -> None:
    values = np.random.default_rng(11).lognormal(mean=10, sigma=3, size=9999).astype(np.uint64)
    result = run_check(hist_check, values)
    assert result["merged"] == result["whole"]


def test_reset_and_empty_histogram_read_zero(hist_check: Path) -> None:
    result = run_check(hist_check, np.array([5, 50_000, 5_000_000_000]))
    assert result["reset"] == {"count": 0, "max": 0, "percentiles": [0] * len(PERCENTILES)}
    empty = run_check(hist_check, np.array([], dtype=np.uint64))
    assert empty["whole"] == empty["reset"]
    assert empty["merged"] == empty["reset"]


def test_zero_is_a_value(hist_check: Path) -> None:
    result = run_check(hist_check, np.array([0, 0, 0]))["whole"]
    assert result["count"] == 3
    assert result["max"] == 0
    assert result["percentiles"] == [0] * len(PERCENTILES)
