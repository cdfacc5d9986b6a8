"""Always-valid sequential test for a difference of two proportions (mixture SPRT).

Johari, Koomen, Pekelis & Walsh, "Peeking at A/B Tests" (KDD 2017). With the normal
approximation, the estimated difference d = p_c - p_b has variance
``s2 = p_c(1-p_c)/n_c + p_b(1-p_b)/n_b`` (plug-in, with rates smoothed as
(x + 0.5)/(n + 1) so a zero count has non-zero variance). Mixing the likelihood ratio of
"true shift theta0 + t" against "theta0" over a half-normal t ~ |N(0, tau^2)| (one side)
gives, for x = d - theta0,

    Lambda+ = 2 * sqrt(s2 / (s2 + tau^2)) * exp(tau^2 x^2 / (2 s2 (s2 + tau^2)))
              * Phi(tau x / sqrt(s2 (s2 + tau^2)))

Lambda+ is (asymptotically) a nonnegative martingale under "shift <= theta0", so by
Ville's inequality P(Lambda+ ever >= 1/alpha) <= alpha however often one looks. A gate
runs two one-sided tests, each at level alpha: "worse" (harm > fail_at) and "better"
(harm < pass_at). The always-valid p-value of each is min(1, 1/Lambda+).

Every function takes numpy arrays (or floats) and broadcasts, so the simulation suite
exercises exactly the code the gate runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

_erfc = np.frompyfunc(math.erfc, 1, 1)


def smoothed_rate(events: ArrayLike, trials: ArrayLike) -> Array:
    """(x + 0.5) / (n + 1): the rate, kept off 0 and 1 so its variance is never zero."""
    return (np.asarray(events, dtype=np.float64) + 0.5) / (np.asarray(trials, dtype=np.float64) + 1.0)


def difference_variance(
    cand_events: ArrayLike, cand_trials: ArrayLike, base_events: ArrayLike, base_trials: ArrayLike
) -> Array:
    """Unpooled variance of p_c - p_b (Wald), from smoothed rates."""
    pc = smoothed_rate(cand_events, cand_trials)
    pb = smoothed_rate(base_events, base_trials)
    nc = np.maximum(np.asarray(cand_trials, dtype=np.float64), 1.0)
    nb = np.maximum(np.asarray(base_trials, dtype=np.float64), 1.0)
    return np.asarray(pc * (1 - pc) / nc + pb * (1 - pb) / nb, dtype=np.float64)


def normal_cdf(z: ArrayLike) -> Array:
    return np.asarray(_erfc(-np.asarray(z, dtype=np.float64) / math.sqrt(2.0)), dtype=np.float64) / 2.0


def one_sided_log_lr(effect: ArrayLike, variance: ArrayLike, tau: float) -> Array:
    """log Lambda+ for ``effect`` = estimate - theta0, mixing over shifts above theta0."""
    x = np.asarray(effect, dtype=np.float64)
    s2 = np.asarray(variance, dtype=np.float64)
    t2 = tau * tau
    log_mix = 0.5 * np.log(s2 / (s2 + t2)) + t2 * x * x / (2.0 * s2 * (s2 + t2))
    z = x * tau / np.sqrt(s2 * (s2 + t2))
    # Phi underflows for very negative z; the statistic is then ~0 and nothing is decided.
    return np.asarray(math.log(2.0) + log_mix + np.log(np.maximum(normal_cdf(z), 1e-300)), dtype=np.float64)


@dataclass(frozen=True)
class ProportionTest:
    """One look at a two-proportion comparison. ``harm`` is the difference oriented so
    that positive means the candidate is worse."""

    cand_rate: float
    base_rate: float
    harm: float
    std_error: float
    p_worse: float  # always-valid p-value of "harm <= fail_at"
    p_better: float  # always-valid p-value of "harm >= pass_at"
    worse: bool
    better: bool


def decide_arrays(
    cand_events: ArrayLike,
    cand_trials: ArrayLike,
    base_events: ArrayLike,
    base_trials: ArrayLike,
    *,
    lower_is_better: bool,
    fail_at: float,
    pass_at: float,
    alpha: float,
    tau: float,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], Array, Array, Array]:
    """Vectorised looks: (worse, better, harm, log_lr_worse, log_lr_better)."""
    sign = 1.0 if lower_is_better else -1.0
    diff = smoothed_rate(cand_events, cand_trials) - smoothed_rate(base_events, base_trials)
    harm = sign * diff
    var = difference_variance(cand_events, cand_trials, base_events, base_trials)
    llr_worse = one_sided_log_lr(harm - fail_at, var, tau)
    llr_better = one_sided_log_lr(pass_at - harm, var, tau)
    bound = math.log(1.0 / alpha)
    return llr_worse >= bound, llr_better >= bound, harm, llr_worse, llr_better


def two_proportions(
    cand_events: int,
    cand_trials: int,
    base_events: int,
    base_trials: int,
    *,
    lower_is_better: bool,
    fail_at: float,
    pass_at: float,
    alpha: float,
    tau: float,
) -> ProportionTest:
    """One look, as plain floats, for the gate's evidence."""
    worse, better, harm, llr_w, llr_b = decide_arrays(
        cand_events,
        cand_trials,
        base_events,
        base_trials,
        lower_is_better=lower_is_better,
        fail_at=fail_at,
        pass_at=pass_at,
        alpha=alpha,
        tau=tau,
    )
    var = difference_variance(cand_events, cand_trials, base_events, base_trials)
    return ProportionTest(
        cand_rate=cand_events / cand_trials if cand_trials else math.nan,
        base_rate=base_events / base_trials if base_trials else math.nan,
        harm=float(harm),
        std_error=math.sqrt(float(var)),
        p_worse=min(1.0, math.exp(-float(llr_w))),
        p_better=min(1.0, math.exp(-float(llr_b))),
        worse=bool(worse),
        better=bool(better),
    )


def fixed_horizon_n(p1: float, p2: float, alpha: float, power: float, two_sided: bool = True) -> float:
    """Fleiss' per-arm sample size for a single look (a reference, not used by gates):
    n = [z_a sqrt(2 pbar qbar) + z_b sqrt(p1 q1 + p2 q2)]^2 / (p1 - p2)^2."""
    from statistics import NormalDist

    z_a = NormalDist().inv_cdf(1 - alpha / (2 if two_sided else 1))
    z_b = NormalDist().inv_cdf(power)
    pbar = (p1 + p2) / 2
    top = z_a * math.sqrt(2 * pbar * (1 - pbar)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return top * top / (p1 - p2) ** 2
