"""The mixture SPRT's pieces against independent oracles (scipy, statsmodels), and the gate
agreeing with the vectorised rule the simulations run."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats
from shadowgate.core.gates import observations as obs
from shadowgate.core.gates import parsing
from shadowgate.core.gates.evaluating import evaluate
from shadowgate.core.stats import sequential
from shadowgate.core.verdicts import Verdict
from statsmodels.stats import proportion as sm_proportion


@pytest.mark.parametrize(
    ("x", "s2", "tau"),
    [
        pytest.param(0.04, 1.2e-4, 0.04, id="clear-effect"),
        pytest.param(0.0, 1.2e-4, 0.04, id="no-effect"),
        pytest.param(-0.02, 1.2e-4, 0.04, id="opposite-effect"),
        pytest.param(0.01, 4.8e-4, 0.02, id="small-n"),
        pytest.param(0.03, 2.4e-5, 0.1, id="wide-prior"),
    ],
)
def test_one_sided_log_lr_matches_numerical_mixture(x: float, s2: float, tau: float) -> None:
    # Lambda+ = integral over theta > 0 of the Gaussian likelihood ratio N(x; theta, s2)/N(x; 0, s2)
    # against a half-normal(tau) mixing density.
    def integrand(theta: float) -> float:
        return math.exp((2 * theta * x - theta * theta) / (2 * s2)) * 2 * stats.norm.pdf(theta, scale=tau)

    oracle, _ = integrate.quad(integrand, 0, 20 * tau, limit=200)
    ours = float(sequential.one_sided_log_lr(x, s2, tau))
    assert ours == pytest.approx(math.log(oracle), abs=1e-6)


@pytest.mark.parametrize(
    ("ce", "cn", "be", "bn"),
    [
        pytest.param(1760, 4000, 1600, 4000, id="equal-arms"),
        pytest.param(300, 1000, 3600, 9000, id="ten-percent-canary"),
        pytest.param(52, 500, 40, 500, id="rare-events"),
    ],
)
def test_wald_z_matches_statsmodels(ce: int, cn: int, be: int, bn: int) -> None:
    # Our smoothed rates differ from x/n by O(1/n); the Wald statistic must agree closely.
    ours = (sequential.smoothed_rate(ce, cn) - sequential.smoothed_rate(be, bn)) / np.sqrt(
        sequential.difference_variance(ce, cn, be, bn)
    )
    oracle = sm_proportion.test_proportions_2indep(ce, cn, be, bn, method="wald", compare="diff").statistic
    assert float(ours) == pytest.approx(oracle, rel=0.01, abs=0.01)


@pytest.mark.parametrize("z", [-40.0, -3.0, -0.5, 0.0, 1.0, 2.5, 8.0])
def test_normal_cdf_matches_scipy(z: float) -> None:
    assert float(sequential.normal_cdf(z)) == pytest.approx(stats.norm.cdf(z), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(
    ("two_sided", "reference"),
    [pytest.param(True, 2389, id="two-sided"), pytest.param(False, 1882, id="one-sided")],
)
def test_fixed_horizon_matches_statsmodels_and_reference(two_sided: bool, reference: int) -> None:
    ours = sequential.fixed_horizon_n(0.40, 0.44, alpha=0.05, power=0.8, two_sided=two_sided)
    oracle = sm_proportion.samplesize_proportions_2indep_onetail(
        0.04, 0.40, 0.8, alpha=0.05, alternative="two-sided" if two_sided else "larger"
    )
    assert ours == pytest.approx(oracle, rel=1e-6)
    assert math.ceil(ours) == reference


def test_p_value_is_one_over_lambda() -> None:
    t = sequential.two_proportions(
        1760, 4000, 1600, 4000, lower_is_better=True, fail_at=0.0, pass_at=0.0, alpha=0.05, tau=0.04
    )
    llr = float(sequential.one_sided_log_lr(t.harm, t.std_error**2, 0.04))
    assert t.p_worse == pytest.approx(math.exp(-llr))
    assert t.worse == (t.p_worse <= 0.05)


def test_gate_agrees_with_the_vectorised_rule_the_simulations_run() -> None:
    spec = parsing.parse_gates({"preset": "mangaassist"})[0]
    rng = np.random.default_rng(7)
    n = rng.integers(500, 6000, size=300)
    ce, be = rng.binomial(n, 0.42), rng.binomial(n, 0.40)
    worse, better, *_ = sequential.decide_arrays(
        ce, n, be, n, lower_is_better=True, fail_at=0.0, pass_at=0.0, alpha=0.05, tau=0.04
    )
    for i in range(len(n)):
        verdict = evaluate(spec, obs.Counts(int(ce[i]), int(n[i]), int(be[i]), int(n[i]))).verdict
        expected = Verdict.FAIL if worse[i] else Verdict.PASS if better[i] else Verdict.INCONCLUSIVE
        assert verdict is expected
    assert worse.any() and not worse.all()  # the sample covers both sides of the boundary
