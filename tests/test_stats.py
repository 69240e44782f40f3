"""tgobench.stats against scipy called directly, against the textbook
definitions, and on synthetic samples whose truth is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import scipy.stats

from tgobench import stats


def lognormal(rng: np.random.Generator, size, sigma: float = 0.03, ratio: float = 1.0):
    """Timings around 1 µs scaled by `ratio`, log-normal noise."""
    return 1e-6 * ratio * np.exp(rng.normal(0.0, sigma, size))


# --- Mann-Whitney -----------------------------------------------------------

@pytest.mark.parametrize("sizes", [(3, 3), (5, 9), (12, 12), (20, 7), (40, 40), (150, 120)])
def test_mann_whitney_is_scipys_two_sided_test(sizes):
    rng = np.random.default_rng(sum(sizes))
    base, new = lognormal(rng, sizes[0]), lognormal(rng, sizes[1], ratio=1.02)
    result = stats.mann_whitney(base, new)
    expected_method = "exact" if sizes[0] * sizes[1] <= stats.EXACT_LIMIT else "asymptotic"
    direct = scipy.stats.mannwhitneyu(new, base, alternative="two-sided", method=expected_method)
    assert result.method == expected_method
    assert result.u == direct.statistic
    assert result.p == pytest.approx(direct.pvalue, rel=1e-12)


def test_mann_whitney_counts_pairs_where_new_is_larger():
    result = stats.mann_whitney([1.0, 2.0, 3.0], [2.5, 4.0])
    assert result.u == 2 + 3  # 2.5 beats 1 and 2; 4 beats all three


def test_ties_get_an_exact_permutation_test():
    base, new = [1.0, 2.0, 2.0, 3.0], [2.0, 3.0, 4.0, 4.0]
    result = stats.mann_whitney(base, new)
    direct = scipy.stats.mannwhitneyu(new, base, alternative="two-sided",
                                      method=scipy.stats.PermutationMethod(n_resamples=70))
    assert result.method == "permutation"
    assert result.p == pytest.approx(direct.pvalue)


def test_many_ties_fall_back_to_the_tie_corrected_normal_approximation():
    base = np.repeat([1.0, 2.0, 3.0], 10)
    new = np.repeat([2.0, 3.0, 4.0], 10)
    result = stats.mann_whitney(base, new)
    assert result.method == "asymptotic"
    assert result.p == pytest.approx(
        scipy.stats.mannwhitneyu(new, base, method="asymptotic").pvalue)


def test_a_batch_gives_the_same_p_values_as_one_test_at_a_time():
    rng = np.random.default_rng(3)
    base, new = lognormal(rng, (4, 6, 10)), lognormal(rng, (4, 6, 8), ratio=1.05)
    batch = stats.mann_whitney(base, new)
    assert batch.p.shape == (4, 6)
    for i in range(4):
        for j in range(6):
            assert batch.p[i, j] == pytest.approx(stats.mann_whitney(base[i, j], new[i, j]).p)


@pytest.mark.parametrize("bad", [[], [1.0, math.nan], [1.0, -2.0], [0.0, 1.0], [math.inf]])
def test_samples_must_be_positive_finite_timings(bad):
    with pytest.raises(ValueError):
        stats.mann_whitney(bad, [1.0, 2.0])


# --- smallest possible p ----------------------------------------------------

def test_three_against_three_can_never_be_significant_and_four_against_four_barely():
    assert stats.smallest_p(3, 3) == pytest.approx(0.1)
    assert stats.smallest_p(4, 4) == pytest.approx(2 / 70)
    assert stats.smallest_p(1, 1) == 1.0


@pytest.mark.parametrize("sizes", [(2, 3), (3, 3), (4, 4), (5, 2), (6, 9), (10, 10)])
def test_smallest_p_is_the_p_of_complete_separation(sizes):
    n_base, n_new = sizes
    separated = scipy.stats.mannwhitneyu(np.arange(n_new) + 100.0, np.arange(n_base) + 1.0,
                                         method="exact").pvalue
    assert stats.smallest_p(n_base, n_new) == pytest.approx(separated)
    assert stats.smallest_p(n_base, n_new) == pytest.approx(
        min(1.0, 2 / scipy.special.comb(n_base + n_new, n_base)))
    asymptotic = scipy.stats.mannwhitneyu(np.arange(n_new) + 100.0, np.arange(n_base) + 1.0,
                                          method="asymptotic").pvalue
    assert stats.smallest_p(n_base, n_new, "asymptotic") == pytest.approx(asymptotic)


def test_fewest_processes_is_the_first_size_that_can_reach_alpha():
    assert stats.fewest_processes(0.05) == 4      # 2/70 < 0.05 <= 2/20
    assert stats.fewest_processes(0.05 / 2) == 5  # 2/70 >= 0.025 > 2/252
    for alpha in (0.05, 0.01, 0.001):
        n = stats.fewest_processes(alpha)
        assert stats.smallest_p(n, n) < alpha <= stats.smallest_p(n - 1, n - 1)


# --- corrections ------------------------------------------------------------

def _holm_by_definition(p: list[float], alpha: float) -> set[int]:
    """Holm's procedure as stated: reject in order of p while p_(k) <= alpha / (m - k + 1)."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    rejected = set()
    for k, i in enumerate(order):
        if p[i] >= alpha / (len(p) - k):
            break
        rejected.add(i)
    return rejected


def test_holm_adjusted_values_of_a_textbook_example():
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    # sorted: 0.005*4, 0.01*3, 0.03*2, 0.04*1 -> 0.02, 0.03, 0.06, max(0.04, 0.06)
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_rejects_what_the_step_down_procedure_rejects():
    rng = np.random.default_rng(11)
    for _ in range(200):
        p = (rng.uniform(0, 0.1, rng.integers(1, 9)) ** 2).tolist()
        adjusted = stats.holm(p)
        assert {i for i, a in enumerate(adjusted) if a < 0.05} == _holm_by_definition(p, 0.05)
        assert np.all(adjusted >= np.asarray(p)) and np.all(adjusted <= 1)


def test_holm_works_along_the_last_axis_of_a_batch():
    p = np.array([[0.01, 0.04, 0.03], [0.5, 0.001, 0.02]])
    assert np.array_equal(stats.holm(p), np.stack([stats.holm(row) for row in p]))


def test_benjamini_hochberg_is_scipys():
    p = [0.01, 0.04, 0.03, 0.005, 0.6]
    assert stats.benjamini_hochberg(p) == pytest.approx(
        scipy.stats.false_discovery_control(p, method="bh"))
    assert np.all(stats.benjamini_hochberg(p) <= stats.holm(p))


def test_a_a_comparisons_flag_changes_at_about_alpha_after_holm():
    """2000 comparisons of 5 benchmarks, 10 workers a side, no real change:
    Holm keeps the chance of any significant benchmark near alpha (a little
    under: the exact test is discrete), where uncorrected tests would flag
    about 1 - 0.95^5 = 23% of them."""
    rng = np.random.default_rng(2024)
    comparisons, benchmarks, workers = 2000, 5, 10
    base = lognormal(rng, (comparisons, benchmarks, workers))
    new = lognormal(rng, (comparisons, benchmarks, workers))
    p = stats.mann_whitney(base, new).p
    any_flagged = np.mean(np.any(stats.holm(p) < 0.05, axis=-1))
    spread = math.sqrt(0.05 * 0.95 / comparisons)
    assert 0.05 - 5 * spread < any_flagged < 0.05 + 3 * spread
    assert np.mean(p < 0.05) == pytest.approx(0.05, abs=4 * math.sqrt(0.05 * 0.95 / p.size))
    assert np.mean(np.any(p < 0.05, axis=-1)) > 0.18


# --- Hodges-Lehmann ratio and interval --------------------------------------

def test_the_estimate_is_the_median_of_all_pairwise_ratios():
    rng = np.random.default_rng(5)
    base, new = lognormal(rng, 9), lognormal(rng, 14, ratio=1.1)
    ratios = np.divide.outer(new, base).ravel()
    assert stats.hodges_lehmann_ratio(base, new).ratio == pytest.approx(np.median(ratios))


def test_the_interval_excludes_one_exactly_when_the_test_rejects():
    rng = np.random.default_rng(6)
    disagreements = 0
    for trial in range(120):
        n_base, n_new = rng.integers(4, 16, 2)
        base = lognormal(rng, n_base)
        new = lognormal(rng, n_new, ratio=float(rng.choice([1.0, 1.01, 1.03])))
        interval = stats.hodges_lehmann_ratio(base, new, 0.95)
        excludes_one = not interval.low <= 1 <= interval.high
        disagreements += excludes_one != (stats.mann_whitney(base, new).p < 0.05)
    assert disagreements == 0


def test_the_interval_ends_are_pairwise_ratios_and_hold_the_estimate():
    rng = np.random.default_rng(7)
    base, new = lognormal(rng, 8), lognormal(rng, 8, ratio=1.04)
    interval = stats.hodges_lehmann_ratio(base, new)
    ratios = np.divide.outer(new, base).ravel()
    assert np.isclose(ratios, interval.low).any() and np.isclose(ratios, interval.high).any()
    assert interval.low < interval.ratio < interval.high


def test_three_against_three_has_no_95_percent_interval_and_four_against_four_has():
    base, new = [1.0, 1.1, 1.2], [2.0, 2.1, 2.2]
    interval = stats.hodges_lehmann_ratio(base, new)
    assert (interval.low, interval.high, interval.bounded) == (0.0, math.inf, False)
    assert interval.ratio == pytest.approx(np.median(np.divide.outer(new, base)))
    # At 90% complete separation (p = 0.1) is already excluded: an interval exists.
    assert stats.hodges_lehmann_ratio(base, new, 0.85).bounded
    base4, new4 = [1.0, 1.1, 1.2, 1.3], [2.0, 2.1, 2.2, 2.3]
    interval4 = stats.hodges_lehmann_ratio(base4, new4)
    ratios = np.divide.outer(new4, base4)
    assert interval4.low == pytest.approx(ratios.min())
    assert interval4.high == pytest.approx(ratios.max())


def test_samples_tied_within_each_side_get_the_interval_of_their_one_ratio():
    # latencies read from one histogram bucket: every gap between pairwise
    # ratios is rejected, the ratio itself is not
    interval = stats.hodges_lehmann_ratio([100e-6] * 6, [200e-6] * 6)
    assert (interval.low, interval.ratio, interval.high) == pytest.approx((2, 2, 2))
    assert stats.hodges_lehmann_ratio([100e-6] * 6, [100e-6] * 6).low == pytest.approx(1)
    partly = stats.hodges_lehmann_ratio([100e-6] * 6, [100e-6] * 3 + [200e-6] * 3)
    assert 1 <= partly.low <= partly.ratio <= partly.high <= 2


@pytest.mark.parametrize("sizes", [(8, 11), (20, 20), (5, 30)])
def test_the_interval_covers_the_true_ratio_at_its_nominal_rate(sizes):
    """Coverage of the 95% interval over 300 seeded comparisons with a true
    ratio of 1.1 and heavy-ish (t with 4 degrees of freedom) log noise. The
    exact interval is conservative: at least 95% up to sampling error,
    and not far above it."""
    rng = np.random.default_rng(sizes[0] * 100 + sizes[1])
    trials, covered = 300, 0
    for _ in range(trials):
        base = np.exp(0.03 * rng.standard_t(4, sizes[0]))
        new = 1.1 * np.exp(0.03 * rng.standard_t(4, sizes[1]))
        interval = stats.hodges_lehmann_ratio(base, new, 0.95)
        covered += interval.low <= 1.1 <= interval.high
    spread = math.sqrt(0.95 * 0.05 / trials)
    assert 0.95 - 3 * spread <= covered / trials <= 0.995


def test_confidence_must_be_a_probability():
    with pytest.raises(ValueError):
        stats.hodges_lehmann_ratio([1.0, 2.0], [1.0, 2.0], 1.5)


# --- spread and power -------------------------------------------------------

def test_log_spread_is_the_pooled_mad_of_the_logs_over_a_constant_of_the_sizes():
    rng = np.random.default_rng(8)
    base, new = lognormal(rng, 7), lognormal(rng, 12, ratio=1.3)

    def pooled_mad(b, n):
        lb, ln = np.log(b), np.log(n)
        return scipy.stats.median_abs_deviation(
            np.concatenate([lb - np.median(lb), ln - np.median(ln)]))

    constant = pooled_mad(base, new) / stats.log_spread(base, new)
    other_base, other_new = lognormal(rng, 7, sigma=0.2), lognormal(rng, 12, sigma=0.1)
    assert pooled_mad(other_base, other_new) / stats.log_spread(other_base, other_new) == \
        pytest.approx(constant, rel=1e-12)
    assert stats.log_spread(new, base) == pytest.approx(stats.log_spread(base, new), rel=1e-12)
    # Large samples hardly pull their residuals in: the constant tends to
    # the normal MAD's, 1 / 1.4826.
    big_base, big_new = lognormal(rng, 500), lognormal(rng, 500)
    assert stats.log_spread(big_base, big_new) == pytest.approx(
        pooled_mad(big_base, big_new) * scipy.stats.norm.ppf(0.75) ** -1, rel=0.01)


def test_one_worker_a_side_has_no_spread_to_see():
    assert stats.log_spread([1.0], [2.0]) == 0.0
    assert stats.log_spread([1.0, 1.0, 1.0], [2.0, 2.0, 2.0]) == 0.0
    assert stats.log_spread([1.0], [2.0, 3.0]) > 0


@pytest.mark.parametrize("sizes", [(3, 3), (6, 6), (10, 10), (20, 20), (6, 10), (2, 5)])
def test_log_spread_is_unbiased_for_normal_noise_at_the_sizes_used(sizes):
    """The mean of the estimate over 4000 seeded pairs of samples is the true
    standard deviation. Centring each sample on its own median, scaled by
    the large-sample constant alone, averaged 0.60 of it at 3 a side, 0.80 at
    6, 0.89 at 10 and 0.95 at 20."""
    rng = np.random.default_rng(sizes[0] * 100 + sizes[1])
    sigma, pairs = 0.03, 4000
    spreads = [stats.log_spread(lognormal(rng, sizes[0], sigma), lognormal(rng, sizes[1], sigma))
               for _ in range(pairs)]
    assert np.mean(spreads) == pytest.approx(sigma, rel=0.02)


@pytest.mark.parametrize("sizes, alpha", [((6, 6), 0.05), ((6, 6), 0.01), ((10, 10), 0.01)])
def test_a_change_of_the_size_reported_from_the_samples_is_found_about_80_percent_of_the_time(
        sizes, alpha):
    """The detectable change as `compare` reports it, from the spread of the
    samples themselves: a change of the typical report's size (the median
    over 2000 seeded pairs of normal samples) is found close to 80% of the
    time, a little less since the estimate's distribution is skewed and its
    median a few % below its mean. With the spread underestimated at these
    sizes it was found 53% to 65% of the time."""
    rng = np.random.default_rng(sizes[0] * 1000 + round(1 / alpha))
    sigma = 0.03
    reported = np.median([
        stats.detectable_change(*sizes, stats.log_spread(lognormal(rng, sizes[0], sigma),
                                                         lognormal(rng, sizes[1], sigma)), alpha)
        for _ in range(2000)])
    trials = 4000
    base = lognormal(rng, (trials, sizes[0]), sigma)
    new = lognormal(rng, (trials, sizes[1]), sigma, ratio=1 + reported)
    test = stats.mann_whitney(base, new)
    power = np.mean((test.p < alpha) & (test.u > sizes[0] * sizes[1] / 2))
    assert power == pytest.approx(0.8, abs=0.07)


def test_one_descheduled_worker_barely_moves_the_spread():
    rng = np.random.default_rng(9)
    base, new = lognormal(rng, 20, sigma=0.03), lognormal(rng, 20, sigma=0.03)
    spread = stats.log_spread(base, new)
    assert spread == pytest.approx(0.03, rel=0.35)
    with_outlier = np.append(base[:-1], base[-1] * 5)
    assert stats.log_spread(with_outlier, new) == pytest.approx(spread, rel=0.15)


def test_critical_u_is_where_scipys_p_crosses_alpha():
    for n_base, n_new in ((4, 4), (5, 7), (9, 6), (12, 12)):
        crit = stats.critical_u(n_base, n_new, 0.05)
        # Samples with U = crit and U = crit - 1: the first `k` new values
        # are pushed above one more baseline value each.
        def p_at(u):
            base = np.arange(n_base, dtype=float)
            below = [min(n_base, max(0, u - j * n_base)) for j in range(n_new)]
            new = np.array([b - 0.5 + j * 1e-3 for j, b in enumerate(below)])
            result = scipy.stats.mannwhitneyu(new, base, method="exact")
            assert result.statistic == u
            return result.pvalue
        assert p_at(crit) < 0.05 <= p_at(crit - 1)
    assert stats.critical_u(3, 3, 0.05) is None


@pytest.mark.parametrize("sizes, alpha", [((6, 6), 0.05), ((20, 20), 0.01), ((12, 30), 0.05),
                                          ((60, 60), 0.05)])
def test_a_change_of_the_detectable_size_is_found_about_80_percent_of_the_time(sizes, alpha):
    """Simulate comparisons whose true change is the detectable change (fresh
    seeds, not the ones the calculation used) and count how often the test
    rejects; 60 a side goes through Noether's approximation."""
    spread = 0.03
    change = stats.detectable_change(*sizes, spread, alpha)
    assert 0 < change < 0.2
    rng = np.random.default_rng(99)
    trials = 3000
    base = np.exp(rng.normal(0, spread, (trials, sizes[0])))
    new = (1 + change) * np.exp(rng.normal(0, spread, (trials, sizes[1])))
    power = np.mean(stats.mann_whitney(base, new).p < alpha)
    assert power == pytest.approx(0.8, abs=0.04)


def test_too_few_workers_detect_nothing_and_more_workers_detect_less():
    assert stats.detectable_change(3, 3, 0.03, 0.05) == math.inf
    changes = [stats.detectable_change(n, n, 0.03, 0.05) for n in (4, 6, 10, 20, 40, 80)]
    assert all(a > b for a, b in zip(changes, changes[1:]))
    assert stats.detectable_change(20, 20, 0.06, 0.05) > stats.detectable_change(20, 20, 0.03, 0.05)


@pytest.mark.parametrize("change, spread, alpha", [(0.05, 0.02, 0.05), (0.05, 0.08, 0.01),
                                                   (0.02, 0.05, 0.05), (0.5, 0.01, 0.05)])
def test_processes_needed_is_the_fewest_that_detect_the_change(change, spread, alpha):
    n = stats.processes_needed(change, spread, alpha)
    assert n is not None
    assert stats.detectable_change(n, n, spread, alpha) <= change
    assert stats.detectable_change(n - 1, n - 1, spread, alpha) > change


def test_processes_needed_gives_up_beyond_its_limit():
    assert stats.processes_needed(0.001, 0.2, 0.01, limit=100) is None


def _lone_value_p_by_definition(baseline, new) -> float:
    """The exact permutation p-value: U for each of the n + 1 ways to choose
    which pooled value is the lone one, twice the smaller share of those at
    least and at most as extreme as the observed U (scipy's two-sided
    convention for permutation tests), at most 1."""
    pooled = np.concatenate([baseline, new])
    lone_is_baseline = len(baseline) == 1

    def u(b, n):
        return scipy.stats.mannwhitneyu(n, b, method="asymptotic").statistic

    observed = u(baseline, new)
    arrangements = []
    for i in range(pooled.size):
        lone, rest = pooled[i:i + 1], np.delete(pooled, i)
        arrangements.append(u(lone, rest) if lone_is_baseline else u(rest, lone))
    arrangements = np.array(arrangements)
    return min(1.0, 2 * min(np.mean(arrangements <= observed), np.mean(arrangements >= observed)))


@pytest.mark.parametrize(("baseline", "new"), [
    ([1.0], [1.0]), ([2.0], [1.0, 2.0, 2.0]), ([1.0, 3.0, 3.0], [3.0]), ([1.0], [2.0] * 8),
    ([2.0] * 20, [1.0]), ([1.5], [1.0, 1.5, 2.0, 2.0, 3.0, 3.0]), ([3.0], [1.0, 2.0, 2.0, 4.0]),
    ([1.0], [2.0] * 50)])
def test_a_lone_value_with_ties_in_the_samples_gets_the_exact_permutation_p_value(baseline, new):
    """scipy's permutation method needs two values a side, and the normal
    approximation with ties is far off there (one value against 20 equal ones:
    p = 2e-5 where the exact p is 2/21), so the n + 1 arrangements are
    enumerated."""
    test = stats.mann_whitney(baseline, new)
    assert test.method == "permutation"
    assert test.p == pytest.approx(_lone_value_p_by_definition(baseline, new), rel=1e-12)
    assert test.u == scipy.stats.mannwhitneyu(new, baseline).statistic
    interval = stats.hodges_lehmann_ratio(baseline, new)
    assert interval.low <= interval.ratio <= interval.high


def test_a_lone_value_below_equal_ones_is_one_arrangement_in_n_plus_1():
    assert stats.mann_whitney([1.0], [2.0] * 8).p == pytest.approx(2 / 9)
    assert stats.mann_whitney([1e-7], [2e-7] * 20).p == pytest.approx(2 / 21)
    assert stats.mann_whitney([2e-7] * 20, [1e-7]).p == pytest.approx(2 / 21)
    # Complete separation: the smallest p these sizes allow, with or without ties.
    for new in ([2.0] * 20, list(np.linspace(2.0, 3.0, 20))):
        test = stats.mann_whitney([1.0], new)
        assert test.p == pytest.approx(stats.smallest_p(1, 20, test.method))


def test_a_lone_value_against_equal_ones_agrees_with_its_interval():
    """p below alpha exactly when the interval excludes 1: 2/51 against 50
    equal values, 2/21 against 20."""
    significant = stats.mann_whitney([1.0], [2.0] * 50)
    assert significant.p == pytest.approx(2 / 51) and significant.p < 0.05
    interval = stats.hodges_lehmann_ratio([1.0], [2.0] * 50)
    assert (interval.low, interval.ratio, interval.high) == pytest.approx((2, 2, 2))
    assert stats.mann_whitney([1.0], [2.0] * 20).p > 0.05
    assert not stats.hodges_lehmann_ratio([1.0], [2.0] * 20).bounded


def test_a_batch_of_lone_values_gives_the_same_p_values_as_one_test_at_a_time():
    rng = np.random.default_rng(12)
    base = rng.integers(1, 4, (5, 1)).astype(float)
    new = rng.integers(1, 4, (5, 7)).astype(float)
    batch = stats.mann_whitney(base, new)
    assert batch.method == "permutation"
    for i in range(5):
        assert batch.p[i] == pytest.approx(_lone_value_p_by_definition(base[i], new[i]))
