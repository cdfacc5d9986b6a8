"""Statistical quality of the proportion gate under continuous monitoring (issue 6).

Fixed seeds. Looks every 100 candidate impressions; the preset's parameters
(alpha = 0.05 per one-sided test, tau = 0.04, minSamples = 500). docs/gates.md reports
the numbers these produce. If a target is missed the test fails: nothing is tuned here.
"""

from __future__ import annotations

import numpy as np
import pytest
from shadowgate.core.stats import sequential
from shadowgate.core.stats.simulation import Design, simulate

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "design",
    [
        pytest.param(
            Design(0.40, 0.40, looks=200, cand_per_look=100, base_per_look=100), id="aa-0.40-equal-split"
        ),
        pytest.param(
            Design(0.40, 0.40, looks=200, cand_per_look=50, base_per_look=200), id="aa-0.40-20pct-canary"
        ),
        pytest.param(Design(0.10, 0.10, looks=200, cand_per_look=100, base_per_look=100), id="aa-0.10-rare"),
    ],
)
def test_aa_false_fail_and_false_promote_each_at_most_5pct(design: Design) -> None:
    # 200 looks: up to 20,000 (or 10,000) candidate impressions, far past any rollout.
    result = simulate(design, reps=10_000, seed=20261126)
    assert result.fail_rate <= 0.05, result
    assert result.pass_rate <= 0.05, result


def test_naive_peeking_would_inflate_false_alarms() -> None:
    # The same simulation with a fixed-horizon two-sided z-test at every look: the suite
    # must be able to see the problem the sequential test solves.
    rng = np.random.default_rng(11)
    reps, looks, step = 4_000, 100, 100
    n = np.arange(1, looks + 1) * step
    ce = np.cumsum(rng.binomial(step, 0.4, (reps, looks)), axis=1)
    be = np.cumsum(rng.binomial(step, 0.4, (reps, looks)), axis=1)
    z = (ce / n - be / n) / np.sqrt(sequential.difference_variance(ce, n, be, n))
    alarms = (np.abs(z) > 1.959964)[:, n >= 500].any(axis=1).mean()
    assert alarms > 0.15


def test_no_click_rise_040_to_044_detected_within_4000_per_arm_at_80pct_power() -> None:
    design = Design(0.40, 0.44, looks=40, cand_per_look=100, base_per_look=100)
    result = simulate(design, reps=20_000, seed=1, checkpoints=(2000, 3000, 4000))
    assert result.fail_rate_by[4000] >= 0.80, result
    assert result.pass_rate == 0.0, result


def test_no_click_fall_040_to_036_declared_within_4000_per_arm_at_80pct_power() -> None:
    design = Design(0.40, 0.36, looks=40, cand_per_look=100, base_per_look=100)
    result = simulate(design, reps=20_000, seed=2, checkpoints=(2000, 3000, 4000))
    assert result.pass_rate_by[4000] >= 0.80, result
    assert result.fail_rate == 0.0, result


def test_non_inferiority_passes_equal_rates_and_fails_a_clear_regression() -> None:
    # A 2-point margin is half the 4-point effect above, so it needs about four times the
    # impressions: a fixed-horizon one-sided test would already need ~7,400 per arm.
    checkpoints = (10_000, 20_000)
    equal = simulate(Design(0.40, 0.40, 200, 100, 100, margin=0.02), 5_000, 3, checkpoints)
    worse = simulate(Design(0.40, 0.45, 200, 100, 100, margin=0.02), 5_000, 4, checkpoints)
    assert equal.pass_rate_by[20_000] >= 0.80 and equal.fail_rate <= 0.05, equal
    assert worse.fail_rate_by[10_000] >= 0.80 and worse.pass_rate <= 0.05, worse
