"""Distribution-free confidence bounds for a percentile, by order statistics.

Of n independent latencies, the number below the true q-quantile xi_q is Binomial(n, q).
So the k-th smallest, X_(k), is above xi_q unless k or more fall below it:

    P(X_(k) >= xi_q) = P(Binomial(n, q) <= k - 1)

The smallest k with that probability >= 1 - alpha makes X_(k) a one-sided (1 - alpha)
upper bound; symmetrically the largest j with P(Binomial(n, q) >= j) >= 1 - alpha makes
X_(j) a lower bound. No shape is assumed, which matters for latency (skewed, multimodal).

A latency gate reads percentiles from Prometheus histograms, not raw samples, so it turns a
rank k into the level k / n and asks ``histogram_quantile`` for that level: the order
statistic up to the histogram's bucket interpolation. ``levels`` returns those levels;
``None`` means the sample is too small for that side to have a bound below the largest
observation (which a histogram cannot report): at alpha = 0.005 a p95 upper bound needs
n >= 146 and a p99 one n >= 740.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The cumulative sums walk only mean +- (12 sd + 30): the binomial mass outside is below
# 1e-30 even for the skewed, Poisson-like tails of p99 at small n, far below any alpha a
# gate accepts, and n in the millions stays cheap.
_WINDOW_SD = 12.0
_WINDOW_PAD = 30


@dataclass(frozen=True)
class Levels:
    """Quantile levels (rank / n) whose order statistics bound xi_q: ``lower`` <= xi_q <=
    ``upper``, each side with probability >= 1 - alpha. ``None``: no bound exists at n."""

    lower: float | None
    upper: float | None


def _log_pmf(k: int, n: int, q: float) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(q)
        + (n - k) * math.log1p(-q)
    )


def _cdf_table(n: int, q: float) -> tuple[int, list[float]]:
    """(first, cdf) with cdf[i] = P(Binomial(n, q) <= first + i), over the window that holds
    all but a negligible mass (see _WINDOW_SD)."""
    sd = math.sqrt(n * q * (1.0 - q))
    first = max(0, math.floor(n * q - _WINDOW_SD * sd) - _WINDOW_PAD)
    last = min(n, math.ceil(n * q + _WINDOW_SD * sd) + _WINDOW_PAD)
    total, cdf = 0.0, []
    for k in range(first, last + 1):
        total += math.exp(_log_pmf(k, n, q))
        cdf.append(min(total, 1.0))
    return first, cdf


def levels(n: int, q: float, alpha: float) -> Levels:
    """The levels of the order statistics that bound the ``q``-quantile of ``n`` samples,
    each one-sided at confidence ``1 - alpha``."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q}")
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    if n < 1:
        return Levels(None, None)
    first, cdf = _cdf_table(n, q)

    def at_most(k: int) -> float:  # P(B <= k)
        if k < first:
            return 0.0
        return cdf[k - first] if k - first < len(cdf) else 1.0

    # Upper: smallest k in 1..n with P(B <= k - 1) >= 1 - alpha.
    upper = next((k for k in range(max(1, first), n + 1) if at_most(k - 1) >= 1.0 - alpha), None)
    # Lower: largest j in 1..n with P(B >= j) = 1 - P(B <= j - 1) >= 1 - alpha.
    lower = None
    for j in range(min(n, first + len(cdf)), 0, -1):
        if 1.0 - at_most(j - 1) >= 1.0 - alpha:
            lower = j
            break
    return Levels(
        None if lower is None else lower / n,
        # Level 1 would be the largest observation, which histogram_quantile reports as the
        # top finite bucket's bound, not an observation: no finite upper bound then.
        None if upper is None or upper >= n else upper / n,
    )
