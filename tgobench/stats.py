"""Statistics for comparing two sets of benchmark timings.

Pure functions on numpy arrays: no files, no output, nothing about the CLI.
`tgobench.compare` applies them to the per-worker-process means of two result
files; they stand alone so that reports, CI scripts and tests can call them.

The samples are per-worker-process means, never the individual values: the
values of one worker share its address-space layout, its CPU placement and
its warm caches, so they are correlated and would make every test
overconfident; the workers are the independent repetitions (Kalibera and
Jones, "Rigorous Benchmarking in Reasonable Time", ISMM 2013).

Timings are compared on the log scale. A scheduler change scales a time
rather than adding a constant to it, so "new = baseline times a factor" is the
model: a shift of the logarithms. Every function here takes timings
(positive numbers, smaller is better) and speaks of ratios new/baseline.

Choices, and why:

- Test: the two-sided Mann-Whitney U test (`scipy.stats.mannwhitneyu`). It
  assumes no distribution, and one worker that was descheduled for a second
  moves it by one rank, not by a second. Exact when there are no ties (the
  usual case for means of timings), an exact permutation test when there are
  ties and few enough arrangements to enumerate, the normal approximation
  with tie correction otherwise. A lone value on one side always gets the
  exact permutation test (n + 1 arrangements, enumerated here, since scipy's
  needs two values a side): there the approximation is far off.
- Interval: the Hodges-Lehmann estimate of the log shift with its
  distribution-free interval, found by inverting that same test. Rejected:
  the BCa bootstrap of the ratio of medians. With the 3 to 20 workers a
  benchmark has, the bootstrap distribution of a median takes a handful of
  values, its jackknife acceleration is often undefined (scipy reports
  degenerate data), and its coverage falls short of nominal; it would also
  need a seed to be reproducible, and could disagree with the test. The
  inverted interval holds its level exactly for any continuous noise under
  the scale model, needs no seed, and excludes 1 exactly when the test rejects
  at the same level. When the sample sizes make the level unreachable, it is
  unbounded, and says so.
- Multiple comparisons: Holm's step-down correction for the gate (it controls
  the chance of any false regression in the whole comparison and assumes
  nothing about how the benchmarks depend on each other); Benjamini-Hochberg
  (`scipy.stats.false_discovery_control`) only for highlighting.
- Minimum detectable change: the power of the very test used, found by
  simulation with normal noise on the log scale whose spread is a robust
  estimate from the two samples, unbiased at their sizes (both simulations
  seeded, so reproducible). Rejected: Noether's normal
  approximation alone, which with 6 workers a side declares every change
  undetectable although the exact test detects a large one almost surely.
  Beyond 50 workers a side, where simulating costs more and the normal
  approximation of U is accurate, Noether's formula is used.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import scipy.special
import scipy.stats

# Largest n_baseline * n_new for which the exact null distribution of U is
# used; scipy computes it quickly well beyond the 100 workers a side this
# allows.
EXACT_LIMIT = 10_000
# Largest number of distinct arrangements an exact permutation test (used when
# there are ties) enumerates.
PERMUTATION_LIMIT = 20_000

_EXACT = "exact"
_PERMUTATION = "permutation"
_ASYMPTOTIC = "asymptotic"


@dataclass(frozen=True)
class MannWhitney:
    """The outcome of a two-sided Mann-Whitney U test of new against baseline.

    `u` counts the (new, baseline) pairs in which new is larger (ties count
    one half); `u / (n_baseline * n_new)` estimates P(new > baseline). `method`
    is how the p-value was computed: "exact", "permutation" or "asymptotic".
    Arrays when the test was run on a batch."""

    u: float | np.ndarray
    p: float | np.ndarray
    method: str


@dataclass(frozen=True)
class RatioInterval:
    """A ratio new/baseline with its confidence interval. `low` is 0 and `high`
    is infinite when the samples are too small for any interval at this
    confidence."""

    ratio: float
    low: float
    high: float
    confidence: float

    @property
    def bounded(self) -> bool:
        return self.low > 0 and math.isfinite(self.high)


def _as_samples(values) -> np.ndarray:
    samples = np.asarray(values, dtype=float)
    if samples.ndim == 0 or samples.shape[-1] == 0:
        raise ValueError("a sample needs at least one value")
    if not np.all(np.isfinite(samples)) or np.any(samples <= 0):
        raise ValueError("timings must be positive and finite")
    return samples


def _has_ties(baseline: np.ndarray, new: np.ndarray) -> bool:
    pooled = np.sort(_pool(baseline, new), axis=-1)
    return bool(np.any(pooled[..., 1:] == pooled[..., :-1]))


def _pool(baseline: np.ndarray, new: np.ndarray) -> np.ndarray:
    shape = np.broadcast_shapes(baseline.shape[:-1], new.shape[:-1])
    return np.concatenate([np.broadcast_to(baseline, shape + baseline.shape[-1:]),
                           np.broadcast_to(new, shape + new.shape[-1:])], axis=-1)


def _method(n_baseline: int, n_new: int, ties: bool) -> str:
    if not ties and n_baseline * n_new <= EXACT_LIMIT:
        return _EXACT
    # A lone value on one side has only n + 1 arrangements, always enumerated
    # (`_lone_value_p`). The normal approximation is no substitute there: with
    # ties its tie-corrected variance collapses, and one value against 20
    # equal ones would get p = 2e-5 where the exact p is 2/21.
    if min(n_baseline, n_new) == 1 or (
            ties and scipy.special.comb(n_baseline + n_new, n_baseline) <= PERMUTATION_LIMIT):
        return _PERMUTATION
    return _ASYMPTOTIC


def _u_and_p(base: np.ndarray, new: np.ndarray, method: str):
    """U and the two-sided p-value along the last axis by `method`."""
    n_base, n_new = base.shape[-1], new.shape[-1]
    lone = method == _PERMUTATION and min(n_base, n_new) == 1
    if lone:
        # scipy's permutation method needs two values a side; U does not
        # depend on the method, so any method gives it.
        scipy_method = _ASYMPTOTIC
    elif method == _PERMUTATION:
        arrangements = int(scipy.special.comb(n_base + n_new, n_base, exact=True))
        # As many resamples as there are arrangements makes scipy enumerate
        # them all: the test is exact, and no seed is involved.
        scipy_method = scipy.stats.PermutationMethod(n_resamples=arrangements)
    else:
        scipy_method = method
    result = scipy.stats.mannwhitneyu(new, base, alternative="two-sided", axis=-1,
                                      method=scipy_method)
    return result.statistic, _lone_value_p(base, new) if lone else result.pvalue


def _lone_value_p(base: np.ndarray, new: np.ndarray) -> np.ndarray:
    # Under the null hypothesis the lone value is equally likely to be any of
    # the n + 1 pooled values, and U is monotonic in it (strictly across
    # distinct values): the arrangements at least as extreme as the observed
    # one in one direction are those whose lone value is at or below it, in
    # the other those at or above it. Twice the smaller share, at most 1, is
    # the two-sided convention of scipy's permutation test, which gives the
    # p-values of other tied samples.
    lone = base if base.shape[-1] == 1 else new
    pooled = _pool(base, new)
    at_or_below = np.count_nonzero(pooled <= lone, axis=-1)
    at_or_above = np.count_nonzero(pooled >= lone, axis=-1)
    return np.minimum(1.0, 2.0 * np.minimum(at_or_below, at_or_above) / pooled.shape[-1])


def mann_whitney(baseline, new) -> MannWhitney:
    """Two-sided Mann-Whitney U test (Mann and Whitney, 1947) of `new` against
    `baseline`, through `scipy.stats.mannwhitneyu`.

    The last axis holds the samples; leading axes are a batch of independent
    tests, computed in one call. The method follows the module's rule: exact
    without ties, exact permutation with ties (scipy's exact method ignores
    ties), otherwise the normal approximation with tie and continuity
    correction. A lone value on one side gets the exact permutation p-value,
    ties or not, from its n + 1 arrangements."""
    base = _as_samples(baseline)
    other = _as_samples(new)
    method = _method(base.shape[-1], other.shape[-1], _has_ties(base, other))
    u, p = _u_and_p(base, other, method)
    if np.ndim(u) == 0:
        u, p = float(u), float(p)
    return MannWhitney(u, p, method)


def smallest_p(n_baseline: int, n_new: int, method: str = _EXACT) -> float:
    """The smallest two-sided p-value the Mann-Whitney test can return for
    these sample sizes: the p of complete separation, every new value above
    every baseline value.

    For the exact and permutation methods this is 2 / C(n_baseline + n_new,
    n_baseline): complete separation in one direction is one arrangement out
    of C equally likely ones under the null hypothesis, and the two-sided p
    doubles it. With 3 workers against 3 that is 0.1, so no outcome can be
    significant at 0.05; with 4 against 4 it is 0.029. For the asymptotic
    method it is the normal approximation's p at U = 0 without ties (ties
    inside a group would shrink the variance and the p a little)."""
    if n_baseline < 1 or n_new < 1:
        raise ValueError("sample sizes must be at least 1")
    if method == _ASYMPTOTIC:
        separated = scipy.stats.mannwhitneyu(np.arange(n_new) + n_baseline, np.arange(n_baseline),
                                             alternative="two-sided", method=_ASYMPTOTIC)
        return float(separated.pvalue)
    return min(1.0, 2.0 / scipy.special.comb(n_baseline + n_new, n_baseline))


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm, "A simple sequentially
    rejective multiple test procedure", Scand. J. Statist. 1979), along the last
    axis.

    The k-th smallest of m p-values is multiplied by m - k + 1, and the
    adjusted values are made non-decreasing in that order; rejecting every
    adjusted p below alpha keeps the family-wise error rate at alpha under any
    dependence between the tests. scipy has no Holm correction, so it is
    computed here with numpy. Adjusted values never decrease when any raw
    p-value increases."""
    p = np.asarray(pvalues, dtype=float)
    if p.shape[-1] == 0:
        return p.copy()
    m = p.shape[-1]
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1) * (m - np.arange(m))
    adjusted_ranked = np.minimum(np.maximum.accumulate(ranked, axis=-1), 1.0)
    adjusted = np.empty_like(adjusted_ranked)
    np.put_along_axis(adjusted, order, adjusted_ranked, axis=-1)
    return adjusted


def benjamini_hochberg(pvalues) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (Benjamini and Hochberg, JRSS B
    1995) along the last axis, by `scipy.stats.false_discovery_control`. They
    control the expected share of false discoveries among the changes
    highlighted, a weaker promise than Holm's: for highlighting, not for
    failing a build."""
    p = np.asarray(pvalues, dtype=float)
    if p.shape[-1] == 0:
        return p.copy()
    return scipy.stats.false_discovery_control(p, axis=-1, method="bh")


def hodges_lehmann_ratio(baseline, new, confidence: float = 0.95) -> RatioInterval:
    """The ratio new/baseline as the Hodges-Lehmann estimate on log times, with
    its distribution-free confidence interval (Hodges and Lehmann, Ann. Math.
    Statist. 1963; Lehmann, "Nonparametrics", 1975, ch. 2; Hollander and
    Wolfe, "Nonparametric Statistical Methods", §4.3).

    The estimate is exp of the median of all n_baseline * n_new differences
    log(new_j) - log(baseline_i): the median of all pairwise ratios. Under the
    scale model it estimates new/baseline for any quantile, the ratio of
    medians included.

    The interval is the set of log shifts d that the two-sided Mann-Whitney
    test (the method of `mann_whitney`, ties left aside since a shifted sample
    meets the other only at the pairwise differences) does not reject at level
    1 - confidence when d is taken off the new sample: its ends are pairwise
    differences. The test is evaluated once per gap between consecutive
    differences, in one batched `scipy.stats.mannwhitneyu` call. Its coverage
    is at least `confidence` for any continuous noise under the scale model.
    When every gap is rejected, the samples are tied (each side's values all
    equal, as latencies read from one histogram bucket can be): the
    differences themselves are then tested, with the tie-aware method, and
    the interval closes on those accepted, e.g. [2, 2] for 100 against 200
    six times a side. When even complete separation is not significant at
    that level (3 against 3 at 95%), no shift is rejected and the interval is
    (0, inf)."""
    if not 0 < confidence < 1:
        raise ValueError("confidence must lie strictly between 0 and 1")
    log_base = np.log(_as_samples(baseline))
    log_new = np.log(_as_samples(new))
    if log_base.ndim != 1 or log_new.ndim != 1:
        raise ValueError("hodges_lehmann_ratio takes one sample a side")
    differences = np.subtract.outer(log_new, log_base).ravel()
    estimate = float(np.exp(np.median(differences)))
    level = 1.0 - confidence
    n_base, n_new = log_base.size, log_new.size
    method = _method(n_base, n_new, ties=False)
    if smallest_p(n_base, n_new, method) < level:
        cuts = np.unique(differences)
        # One shift inside each gap between consecutive differences, and one
        # beyond each end; the p-value is constant within a gap.
        inner = (cuts[1:] + cuts[:-1]) / 2
        spread = max(cuts[-1] - cuts[0], 1.0)
        shifts = np.concatenate([[cuts[0] - spread], inner, [cuts[-1] + spread]])
        accepted = _accepted_shifts(log_base, log_new, shifts, level, method)
        if accepted.any():
            first, last = np.flatnonzero(accepted)[[0, -1]]
            # Gap g lies between cuts[g - 1] and cuts[g].
            low = float(np.exp(cuts[first - 1])) if first > 0 else 0.0
            high = float(np.exp(cuts[last])) if last < cuts.size else math.inf
            return RatioInterval(estimate, low, high, confidence)
        # Every gap rejected: ties, the samples equal within each side (a
        # latency read from one histogram bucket). A shift onto a difference
        # makes ties, so those are tested with the tie-aware method.
        tied = _accepted_shifts(log_base, log_new, cuts, level, _method(n_base, n_new, True))
        if tied.any():
            first, last = np.flatnonzero(tied)[[0, -1]]
            return RatioInterval(estimate, float(np.exp(cuts[first])), float(np.exp(cuts[last])),
                                 confidence)
    return RatioInterval(estimate, 0.0, math.inf, confidence)


def _accepted_shifts(log_base: np.ndarray, log_new: np.ndarray, shifts: np.ndarray,
                     level: float, method: str) -> np.ndarray:
    # Chunked so that a batch holds about a million numbers at most.
    rows = max(1, 1_000_000 // log_new.size)
    accepted = []
    for start in range(0, shifts.size, rows):
        chunk = shifts[start:start + rows]
        shifted = log_new[None, :] - chunk[:, None]
        _, p = _u_and_p(log_base[None, :], shifted, method)
        accepted.append(p >= level)
    return np.concatenate(accepted)


# Seed of the simulations behind the spread's correction and the power
# figures, which makes them reproducible.
POWER_SEED = 20130613
# Standard normal values drawn to find the expected pooled MAD for one pair of
# sample sizes (replicates times the values in each): its relative standard
# error is then about 0.2% at any size.
SPREAD_SIMULATED_VALUES = 400_000
# Simulated pairs of samples behind each power figure.
POWER_REPLICATES = 2000
# Largest n_baseline * n_new for which power is simulated; beyond, Noether's
# approximation is used.
SIMULATION_LIMIT = 2500


def log_spread(baseline, new) -> float:
    """The standard deviation of the log timings that the power calculation
    assumes: the median absolute deviation (MAD) of both samples' residuals
    (each log timing minus its own sample's median), pooled, divided by the
    expected value of that statistic for standard normal samples of the same
    sizes, so that for normal noise it estimates the standard deviation
    without bias at any sample size.

    The usual constant, scipy's `median_abs_deviation(scale="normal")`, holds
    only for large samples: centring each sample on its own median pulls its
    residuals in, the more so the smaller it is, and with it the pooled MAD
    estimates 0.60 of the standard deviation with 3 workers a side, 0.80
    with 6, 0.89 with 10 and 0.95 with 20; a change reported detectable with
    80% power would be found about 56% of the time with 6 workers a side,
    66% with 10 and 74% with 20. The expectation, which has no closed form,
    is simulated (seeded, SPREAD_SIMULATED_VALUES normal values) once per
    pair of sizes.

    Robust on purpose, like the test: one worker descheduled for a second
    would multiply a standard deviation, and with it the detectable change,
    although it moves the Mann-Whitney test by one rank. 0 when more than
    half the residuals are 0, as with one worker a side, where there is no
    spread to see."""
    log_base = np.log(_as_samples(baseline))
    log_new = np.log(_as_samples(new))
    mad = float(_pooled_mad(log_base, log_new))
    if mad == 0:
        return 0.0
    # The statistic does not depend on which sample is which.
    return mad / _normal_pooled_mad(*sorted((log_base.shape[-1], log_new.shape[-1])))


def _pooled_mad(log_base: np.ndarray, log_new: np.ndarray) -> np.ndarray:
    residuals = np.concatenate([log_base - np.median(log_base, axis=-1, keepdims=True),
                                log_new - np.median(log_new, axis=-1, keepdims=True)], axis=-1)
    return scipy.stats.median_abs_deviation(residuals, axis=-1)


@functools.lru_cache(maxsize=512)
def _normal_pooled_mad(n_baseline: int, n_new: int) -> float:
    replicates = -(-SPREAD_SIMULATED_VALUES // (n_baseline + n_new))
    rng = np.random.default_rng(POWER_SEED)
    return float(np.mean(_pooled_mad(rng.standard_normal((replicates, n_baseline)),
                                     rng.standard_normal((replicates, n_new)))))


def critical_u(n_baseline: int, n_new: int, alpha: float) -> int | None:
    """The smallest U (pairs in which new is larger) for which the two-sided
    Mann-Whitney test of `mann_whitney`, on samples without ties, rejects at
    level `alpha`; None when no U does (see `smallest_p`).

    scipy is asked for the p-value of every U from n_baseline * n_new / 2 up,
    in one batch, on constructed samples: the baseline is 0 .. n_baseline - 1
    and each new value sits strictly inside the gap that gives it its share
    of U."""
    pairs = n_baseline * n_new
    method = _method(n_baseline, n_new, ties=False)
    if smallest_p(n_baseline, n_new, method) >= alpha:
        return None
    candidates = np.arange(pairs // 2, pairs + 1)
    index = np.arange(n_new)
    below = np.clip(candidates[:, None] - index[None, :] * n_baseline, 0, n_baseline)
    new = below - 1 + (index[None, :] + 1) / (n_new + 1)
    p = scipy.stats.mannwhitneyu(new, np.arange(n_baseline, dtype=float)[None, :],
                                 alternative="two-sided", axis=-1, method=method).pvalue
    return int(candidates[np.flatnonzero(p < alpha)[0]])


@functools.lru_cache(maxsize=512)
def _simulated_shift(n_baseline: int, n_new: int, alpha: float, power: float) -> float:
    # For one simulated pair of samples, shifting the new one up by k makes
    # U the number of differences baseline_i - new_j below k, so the test
    # rejects once k passes the crit-th smallest difference; the shift that
    # `power` of the pairs reject is the `power` quantile of those.
    crit = critical_u(n_baseline, n_new, alpha)
    if crit is None:
        return math.inf
    rng = np.random.default_rng(POWER_SEED)
    base = rng.standard_normal((POWER_REPLICATES, n_baseline))
    new = rng.standard_normal((POWER_REPLICATES, n_new))
    differences = (base[:, :, None] - new[:, None, :]).reshape(POWER_REPLICATES, -1)
    needed = np.partition(differences, crit - 1, axis=1)[:, crit - 1]
    return float(np.quantile(needed, power))


def _noether_shift(n_baseline, n_new, alpha: float, power: float) -> np.ndarray:
    # Noether: power is reached when |P(new > baseline) - 1/2| is
    # (z(1 - alpha/2) + z(power)) sqrt((N + 1) / (12 n_baseline n_new)); with
    # standard normal noise P(new > baseline) = Phi(k / sqrt 2) for a shift k.
    n_base = np.asarray(n_baseline, dtype=float)
    n_other = np.asarray(n_new, dtype=float)
    z = scipy.stats.norm.ppf(1 - alpha / 2) + scipy.stats.norm.ppf(power)
    excess = z * np.sqrt((n_base + n_other + 1) / (12 * n_base * n_other))
    reachable = (2.0 / scipy.special.comb(n_base + n_other, n_base) < alpha) & (excess < 0.5)
    with np.errstate(invalid="ignore"):
        return np.where(reachable, math.sqrt(2) * scipy.stats.norm.ppf(0.5 + excess), np.inf)


def _standard_shift(n_baseline: int, n_new: int, alpha: float, power: float) -> float:
    if n_baseline * n_new <= SIMULATION_LIMIT:
        return _simulated_shift(n_baseline, n_new, alpha, power)
    return float(_noether_shift(n_baseline, n_new, alpha, power))


def detectable_change(n_baseline: int, n_new: int, spread: float, alpha: float,
                      power: float = 0.8) -> float:
    """The smallest relative change (0.05 = 5%) that the two-sided Mann-Whitney
    test of `mann_whitney` at level `alpha` detects with probability `power`,
    for samples of these sizes with normal noise of standard deviation
    `spread` on the log scale (`log_spread`). Infinite when no change could be
    detected, because the sizes cannot reach a p-value below alpha.

    The shift is `spread` times the shift that standard normal noise needs,
    found by simulation up to n_baseline * n_new = SIMULATION_LIMIT: the
    test's exact rejection region (`critical_u`) applied to POWER_REPLICATES
    seeded pairs of normal samples. Beyond, Noether's approximation (Noether,
    "Sample size determination for some common nonparametric tests", JASA
    1987), accurate at such sizes. The lower tail of the two-sided test, which
    a real slowdown almost never reaches, is not counted."""
    if n_baseline < 1 or n_new < 1:
        raise ValueError("sample sizes must be at least 1")
    return math.expm1(spread * _standard_shift(n_baseline, n_new, alpha, power))


def processes_needed(change: float, spread: float, alpha: float, power: float = 0.8,
                     limit: int = 1000) -> int | None:
    """The fewest workers per side (equal on both sides) for which
    `detectable_change` is at most `change`; None if more than `limit` would be
    needed. The detectable change shrinks as workers are added, so the
    simulated sizes are searched by bisection."""
    shift = math.log1p(change)
    fewest = fewest_processes(alpha, limit)
    if fewest is None or spread * _standard_shift(fewest, fewest, alpha, power) <= shift:
        return fewest
    largest_simulated = math.isqrt(SIMULATION_LIMIT)
    if spread * _standard_shift(largest_simulated, largest_simulated, alpha, power) > shift:
        sizes = np.arange(largest_simulated + 1, limit + 1)
        fits = np.flatnonzero(spread * _noether_shift(sizes, sizes, alpha, power) <= shift)
        return int(sizes[fits[0]]) if fits.size else None
    too_few, enough = fewest, largest_simulated
    while enough - too_few > 1:
        middle = (too_few + enough) // 2
        if spread * _standard_shift(middle, middle, alpha, power) <= shift:
            enough = middle
        else:
            too_few = middle
    return enough


def fewest_processes(alpha: float, limit: int = 1000) -> int | None:
    """The fewest workers per side (equal on both sides) with which the exact
    Mann-Whitney test can reach a p-value below `alpha` at all (see
    `smallest_p`); None beyond `limit`."""
    sizes = np.arange(1, limit + 1)
    fits = np.flatnonzero(2.0 / scipy.special.comb(2 * sizes, sizes) < alpha)
    return int(sizes[fits[0]]) if fits.size else None
