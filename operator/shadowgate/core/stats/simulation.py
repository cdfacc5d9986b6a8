"""Monte Carlo of a proportion gate under continuous monitoring (pure numpy).

Simulates ``reps`` independent rollouts: at every look each arm gains a Binomial batch of
trials, and the gate's sequential rule (``sequential.decide_arrays``, the very function
the gate runs) is applied to the cumulative counts, only once both arms have
``min_samples``. The first look at which "worse" or "better" fires decides that rollout.
Used by the statistical test suite and for planning (how many impressions a given lift
needs); docs/gates.md reports its numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shadowgate.core.stats import sequential


@dataclass(frozen=True)
class Design:
    base_rate: float
    cand_rate: float
    looks: int  # number of looks
    cand_per_look: int  # trials added to the candidate arm between looks
    base_per_look: int
    lower_is_better: bool = True
    margin: float = 0.0  # fail_at = pass_at = margin (0 for superiority)
    alpha: float = 0.05
    tau: float = 0.04
    min_samples: int = 500


@dataclass(frozen=True)
class Result:
    reps: int
    fail_rate: float  # share of rollouts the gate failed
    pass_rate: float  # share it passed
    # Candidate-arm trials at the decision, over the rollouts that decided that way
    # (NaN when none did).
    fail_n_median: float
    pass_n_median: float
    fail_rate_by: dict[int, float]  # candidate-arm trials -> cumulative share failed by then
    pass_rate_by: dict[int, float]


def simulate(design: Design, reps: int, seed: int, checkpoints: tuple[int, ...] = ()) -> Result:
    rng = np.random.default_rng(seed)
    d = design
    ce = np.cumsum(rng.binomial(d.cand_per_look, d.cand_rate, (reps, d.looks)), axis=1)
    be = np.cumsum(rng.binomial(d.base_per_look, d.base_rate, (reps, d.looks)), axis=1)
    ct = np.arange(1, d.looks + 1) * d.cand_per_look
    bt = np.arange(1, d.looks + 1) * d.base_per_look
    worse, better, *_ = sequential.decide_arrays(
        ce, ct, be, bt,
        lower_is_better=d.lower_is_better, fail_at=d.margin, pass_at=d.margin, alpha=d.alpha, tau=d.tau,
    )  # fmt: skip
    eligible = np.minimum(ct, bt) >= d.min_samples
    worse &= eligible
    better &= eligible
    never = d.looks
    first_worse = np.where(worse.any(axis=1), worse.argmax(axis=1), never)
    first_better = np.where(better.any(axis=1), better.argmax(axis=1), never)
    failed = first_worse < first_better
    passed = first_better < first_worse
    stop = np.minimum(first_worse, first_better)

    def median_n(mask: np.ndarray) -> float:
        return float(np.median(ct[stop[mask]])) if mask.any() else float("nan")

    def share_by(mask: np.ndarray, n: int) -> float:
        return float(np.mean(mask & (ct[np.minimum(stop, never - 1)] <= n) & (stop < never)))

    return Result(
        reps=reps,
        fail_rate=float(failed.mean()),
        pass_rate=float(passed.mean()),
        fail_n_median=median_n(failed),
        pass_n_median=median_n(passed),
        fail_rate_by={n: share_by(failed, n) for n in checkpoints},
        pass_rate_by={n: share_by(passed, n) for n in checkpoints},
    )
