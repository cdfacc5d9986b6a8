"""Order-statistic confidence bounds for percentiles: exact against a brute-force binomial,
coverage by simulation, and the sample sizes below which a side has no bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shadowgate.core.stats import quantiles


def _cdf(k: int, n: int, q: float) -> float:
    return sum(math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(0, k + 1))


@pytest.mark.parametrize(
    ("n", "q", "alpha"), [(20, 0.5, 0.05), (233, 0.95, 0.005), (800, 0.99, 0.01), (50, 0.9, 0.1)]
)
def test_ranks_are_the_extreme_ones_that_keep_the_confidence(n: int, q: float, alpha: float) -> None:
    got = quantiles.levels(n, q, alpha)
    assert got.lower is not None and got.upper is not None
    j, k = round(got.lower * n), round(got.upper * n)
    # X_(k) >= xi_q with P(B <= k - 1) >= 1 - alpha, and k - 1 would not do.
    assert _cdf(k - 1, n, q) >= 1 - alpha > _cdf(k - 2, n, q)
    # X_(j) <= xi_q with P(B >= j) >= 1 - alpha, and j + 1 would not do.
    assert 1 - _cdf(j - 1, n, q) >= 1 - alpha > 1 - _cdf(j, n, q)


def test_bounds_cover_the_true_percentile() -> None:
    # Lognormal latencies (skewed, like real ones); the true p95 is known in closed form.
    rng = np.random.default_rng(7)
    n, q, alpha, reps = 233, 0.95, 0.05, 4000
    true = math.exp(1.6448536269514722 * 0.5)
    lv = quantiles.levels(n, q, alpha)
    assert lv.lower is not None and lv.upper is not None
    samples = np.sort(rng.lognormal(0.0, 0.5, size=(reps, n)), axis=1)
    low = samples[:, round(lv.lower * n) - 1]
    high = samples[:, round(lv.upper * n) - 1]
    # Each side misses at most alpha of the time (3 standard errors of slack for the simulation).
    slack = 3 * math.sqrt(alpha * (1 - alpha) / reps)
    assert np.mean(low > true) <= alpha + slack
    assert np.mean(high < true) <= alpha + slack
    # ...and is not trivially wide: each side misses at least a fifth of its alpha.
    assert np.mean(low > true) >= alpha / 5 and np.mean(high < true) >= alpha / 5


@pytest.mark.parametrize(
    ("q", "alpha", "needed"), [(0.95, 0.005, 146), (0.99, 0.005, 740), (0.99, 0.01, 662)]
)
def test_an_upper_bound_needs_enough_requests(q: float, alpha: float, needed: int) -> None:
    assert quantiles.levels(needed - 1, q, alpha).upper is None
    assert quantiles.levels(needed, q, alpha).upper is not None


def test_small_and_large_samples() -> None:
    assert quantiles.levels(0, 0.95, 0.01) == quantiles.Levels(None, None)
    assert quantiles.levels(1, 0.5, 0.05) == quantiles.Levels(None, None)
    big = quantiles.levels(10_000_000, 0.5, 0.005)
    assert big.lower is not None and big.upper is not None
    # Normal approximation: +- 2.576 sd of the rank, sd = sqrt(n q (1 - q)) = 1581.
    assert abs((0.5 - big.lower) * 10_000_000 - 2.576 * 1581.1) < 5
    assert abs((big.upper - 0.5) * 10_000_000 - 2.576 * 1581.1) < 5


@pytest.mark.parametrize(("q", "alpha"), [(0.0, 0.01), (1.0, 0.01), (0.95, 0.0), (0.95, 0.5)])
def test_bad_arguments_are_named(q: float, alpha: float) -> None:
    with pytest.raises(ValueError, match=r"(q|alpha) must"):
        quantiles.levels(100, q, alpha)
