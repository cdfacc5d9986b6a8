"""evaluate(spec, observation): a table per gate kind, with the evidence each verdict carries."""

from __future__ import annotations

import math
from typing import Any

import pytest
from shadowgate.core.gates import observations as obs
from shadowgate.core.gates import parsing, presets
from shadowgate.core.gates.evaluating import evaluate
from shadowgate.core.gates.specs import GateSpec
from shadowgate.core.verdicts import InconclusiveReason as R
from shadowgate.core.verdicts import Verdict as V

P, F, INC = V.PASS, V.FAIL, V.INCONCLUSIVE


def _gate(name: str, **overrides: Any) -> GateSpec:
    raw = {"preset": "mangaassist", "overrides": {name: overrides} if overrides else {}}
    return next(g for g in parsing.parse_gates(raw) if g.header.name == name)


def _one(raw: dict[str, Any]) -> GateSpec:
    return parsing.parse_gates([raw])[0]


SPOILER = _gate("spoiler-safety")
FACT = _gate("factuality")
OFFLINE = _gate("offline-quality")
RARE = _gate("rare-class-recall")
HARM = _one(
    {
        "name": "harm",
        "kind": "weighted",
        "source": "evaluation",
        "metric": "c.{key}.miss",
        "weights": {"a": 9, "b": 1},
        "margin": 0.01,
        "max": 0.2,
    }
)
COST = _gate("cost")
COST_Q = presets.CPU_PER_1000
UVQ = _gate("user-visible-quality")
NI = _one(
    {
        "name": "ni",
        "kind": "proportion",
        "events": "e",
        "trials": "t",
        "direction": "lower",
        "hypothesis": "non-inferiority",
        "margin": 0.02,
        "minSamples": 100,
    }
)
CTR = _one({"name": "ctr", "kind": "proportion", "events": "e", "trials": "t", "direction": "higher"})
LAT = _gate("latency")
ROLLBACK = _gate("rollback")
SAMPLED = _one(
    {"name": "s", "kind": "threshold", "source": "evaluation", "metric": "m", "min": 0.5, "minSamples": 100}
)

ISL = "retrieval.slices.iyashikei.recall@3"
RARE_KEYS = [
    f"classification.classes.{c}.recall" for c in ("order_problem", "refund_request", "age_restricted")
]
BUSINESS = _gate("business-weighted-harm")
WREC = _one(
    {
        "name": "wrec",
        "kind": "weighted",
        "source": "evaluation",
        "metric": "r.{key}",
        "weights": {"a": 9, "b": 1},
        "direction": "higher",
    }
)


def _rare(a: float, b: float, c: float, base: float) -> obs.Values:
    return obs.Values(dict(zip(RARE_KEYS, (a, b, c), strict=True)), {k: base for k in RARE_KEYS})


GOOD = {"retrieval.global.recall@3": 0.70, "retrieval.global.ndcg@10": 0.60, ISL: 0.81}
BASE = {"retrieval.global.recall@3": 0.69, "retrieval.global.ndcg@10": 0.60, ISL: 0.62}


def _lat(
    c95: float | None,
    c99: float | None,
    b95: float | None,
    b99: float | None,
    n: int = 1000,
    bn: int = 1000,
    spread: float | None = 0.03,
) -> obs.Quantiles:
    """Confidence bounds ``spread`` (relative) below the candidate's and above the
    baseline's percentiles; None: the source had no bounds (too few requests)."""

    def by(values: dict[float, float | None], factor: float) -> dict[float, float | None]:
        return {} if spread is None else {q: None if v is None else v * factor for q, v in values.items()}

    cand, base = {0.95: c95, 0.99: c99}, {0.95: b95, 0.99: b99}
    return obs.Quantiles(
        obs.QuantileArm(cand, n, lower=by(cand, 1 - (spread or 0))),
        obs.QuantileArm(base, bn, upper=by(base, 1 + (spread or 0))),
    )


CASES = [
    # threshold
    ("spoiler-zero", SPOILER, obs.Values({"safety.spoiler_rate": 0.0}), P, None, 0.0),
    ("spoiler-any", SPOILER, obs.Values({"safety.spoiler_rate": 0.004}), F, None, 0.004),
    ("fact-under", FACT, obs.Values({"safety.ungrounded_item_rate": 0.01}), P, None, 0.01),
    ("fact-over", FACT, obs.Values({"safety.ungrounded_item_rate": 0.05}), F, None, 0.05),
    ("fact-missing", FACT, obs.Values({}), INC, R.NO_DATA, None),
    ("fact-nan", FACT, obs.Values({"safety.ungrounded_item_rate": math.nan}), INC, R.NO_DATA, None),
    (
        "min-samples-short",
        SAMPLED,
        obs.Values({"m": 0.9}, candidate_samples=50),
        INC,
        R.INSUFFICIENT_SAMPLES,
        None,
    ),
    ("min-samples-ok", SAMPLED, obs.Values({"m": 0.9}, candidate_samples=500), P, None, 0.9),
    # relative, several metrics with floors (the seed's iyashikei bar)
    ("offline-seed-pass", OFFLINE, obs.Values(GOOD, BASE), P, None, 0.70),
    ("offline-slice-below-floor", OFFLINE, obs.Values({**GOOD, ISL: 0.77}, BASE), F, None, 0.77),
    (
        "offline-slice-not-above-baseline",
        OFFLINE,
        obs.Values({**GOOD, ISL: 0.80}, {**BASE, ISL: 0.795}),
        F,
        None,
        0.80,
    ),
    (
        "offline-global-regress",
        OFFLINE,
        obs.Values({**GOOD, "retrieval.global.ndcg@10": 0.55}, BASE),
        F,
        None,
        0.55,
    ),
    ("offline-baseline-missing", OFFLINE, obs.Values(GOOD, {}), INC, R.NO_DATA, None),
    ("rare-equal", RARE, _rare(0.92, 0.92, 0.92, base=0.92), P, None, 0.92),
    ("rare-one-example-lost", RARE, _rare(0.92, 0.88, 0.92, base=0.92), F, None, 0.88),
    ("rare-below-floor-though-improved", RARE, _rare(0.96, 0.96, 0.76, base=0.70), F, None, 0.76),
    (
        "rare-class-missing",
        RARE,
        obs.Values({RARE_KEYS[0]: 0.9}, {k: 0.9 for k in RARE_KEYS}),
        INC,
        R.NO_DATA,
        None,
    ),
    # the golden set's business cost per example, lower is better, 0.01 allowed
    (
        "harm-lower",
        BUSINESS,
        obs.Values({"classification.harm": 0.30}, {"classification.harm": 0.42}),
        P,
        None,
        0.30,
    ),
    (
        "harm-higher",
        BUSINESS,
        obs.Values({"classification.harm": 0.45}, {"classification.harm": 0.42}),
        F,
        None,
        0.45,
    ),
    # weighted, higher is better: weighted recall
    (
        "weighted-recall-up",
        WREC,
        obs.Values({"r.a": 0.9, "r.b": 0.5}, {"r.a": 0.8, "r.b": 0.9}),
        P,
        None,
        0.86,
    ),
    (
        "weighted-recall-down",
        WREC,
        obs.Values({"r.a": 0.7, "r.b": 1.0}, {"r.a": 0.8, "r.b": 0.9}),
        F,
        None,
        0.73,
    ),
    # relative ratio (cost, lower is better, 25 % allowed)
    (
        "cost-ratio-ok",
        COST,
        obs.Values({COST_Q: 1.2}, {COST_Q: 1.0}),
        P,
        None,
        1.2,
    ),
    (
        "cost-ratio-over",
        COST,
        obs.Values({COST_Q: 1.3}, {COST_Q: 1.0}),
        F,
        None,
        1.3,
    ),
    (
        "cost-baseline-zero",
        COST,
        obs.Values({COST_Q: 1.3}, {COST_Q: 0.0}),
        INC,
        R.NO_DATA,
        None,
    ),
    # weighted harm: 9:1 weights make a miss on "a" count nine times a miss on "b"
    (
        "harm-shift-to-cheap-class",
        HARM,
        obs.Values({"c.a.miss": 0.0, "c.b.miss": 0.5}, {"c.a.miss": 0.05, "c.b.miss": 0.0}),
        P,
        None,
        0.05,
    ),
    (
        "harm-shift-to-costly-class",
        HARM,
        obs.Values({"c.a.miss": 0.05, "c.b.miss": 0.0}, {"c.a.miss": 0.0, "c.b.miss": 0.3}),
        F,
        None,
        0.045,
    ),
    (
        "harm-over-max",
        HARM,
        obs.Values({"c.a.miss": 0.25, "c.b.miss": 0.25}, {"c.a.miss": 0.3, "c.b.miss": 0.3}),
        F,
        None,
        0.25,
    ),
    (
        "harm-missing-key",
        HARM,
        obs.Values({"c.a.miss": 0.0}, {"c.a.miss": 0.0, "c.b.miss": 0.0}),
        INC,
        R.NO_DATA,
        None,
    ),
    # proportion (no-click, lower is better, superiority)
    ("uvq-too-few", UVQ, obs.Counts(100, 400, 200, 400), INC, R.INSUFFICIENT_SAMPLES, 0.25),
    ("uvq-worse", UVQ, obs.Counts(1760, 4000, 1600, 4000), F, None, 0.44),
    ("uvq-better", UVQ, obs.Counts(1440, 4000, 1600, 4000), P, None, 0.36),
    ("uvq-equal", UVQ, obs.Counts(1600, 4000, 1600, 4000), INC, R.NOT_DECISIVE, 0.40),
    ("uvq-small-effect", UVQ, obs.Counts(410, 1000, 400, 1000), INC, R.NOT_DECISIVE, 0.41),
    # non-inferiority with a 2-point margin: equal rates are not worse by 2 points
    ("ni-equal-passes", NI, obs.Counts(8000, 20000, 8000, 20000), P, None, 0.40),
    ("ni-much-worse-fails", NI, obs.Counts(4800, 10000, 4000, 10000), F, None, 0.48),
    # proportion, higher is better (click-through)
    ("ctr-lower-fails", CTR, obs.Counts(1440, 4000, 1600, 4000), F, None, 0.36),
    ("ctr-higher-passes", CTR, obs.Counts(1760, 4000, 1600, 4000), P, None, 0.44),
    # latency: ratio with slack, and the ceiling
    ("lat-ok", LAT, _lat(0.050, 0.090, 0.045, 0.080), P, None, 0.050),
    ("lat-p99-ratio", LAT, _lat(0.050, 0.120, 0.045, 0.080), F, None, 0.120),
    ("lat-ceiling", LAT, _lat(0.050, 0.600, 0.045, 0.590), F, None, 0.600),
    ("lat-slack", LAT, _lat(0.0030, 0.004, 0.0010, 0.002), P, None, 0.003),
    # over a limit on the point estimates but not shown: the candidate's lower bound (p99
    # 117.6 ms) is under the limit at the baseline's upper bound (1.3 x 92.8 ms)
    ("lat-over-not-shown", LAT, _lat(0.050, 0.120, 0.045, 0.090, spread=0.02), INC, R.NOT_DECISIVE, 0.120),
    ("lat-over-no-bounds", LAT, _lat(0.050, 0.120, 0.045, 0.080, spread=None), INC, R.NOT_DECISIVE, 0.120),
    ("lat-ceiling-not-shown", LAT, _lat(0.050, 0.510, 0.045, 0.450), INC, R.NOT_DECISIVE, 0.510),
    ("lat-ceiling-no-baseline-data", LAT, _lat(0.050, 0.600, 0.045, None), F, None, 0.600),
    ("lat-no-baseline-data", LAT, _lat(0.050, 0.090, 0.045, None), INC, R.NO_DATA, None),
    ("lat-few-requests", LAT, _lat(0.05, 0.09, 0.045, 0.08, n=50), INC, R.INSUFFICIENT_SAMPLES, None),
    ("lat-nan", LAT, _lat(None, 0.09, 0.045, 0.08), INC, R.NO_DATA, None),
    (
        "lat-no-baseline",
        LAT,
        obs.Quantiles(obs.QuantileArm({0.95: 0.1, 0.99: 0.2}, 1000)),
        INC,
        R.INSUFFICIENT_SAMPLES,
        None,
    ),
    # check
    (
        "rollback-ok",
        ROLLBACK,
        obs.Checks({"router-accepts-zero-weight": True, "primary-healthy": True}),
        P,
        None,
        None,
    ),
    (
        "rollback-broken",
        ROLLBACK,
        obs.Checks({"router-accepts-zero-weight": False, "primary-healthy": True}),
        F,
        None,
        None,
    ),
    ("rollback-pending", ROLLBACK, obs.Checks({"primary-healthy": True}), INC, R.NO_DATA, None),
    # sources that could not measure, or measured the wrong shape
    ("unavailable-query-error", UVQ, obs.Unavailable(R.QUERY_ERROR, "boom"), INC, R.QUERY_ERROR, None),
    ("unavailable-no-data", LAT, obs.Unavailable(R.NO_DATA, "no series"), INC, R.NO_DATA, None),
    ("wrong-shape", UVQ, obs.Values({}), INC, R.QUERY_ERROR, None),
]


@pytest.mark.parametrize(
    ("spec", "observation", "verdict", "reason", "value"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_evaluate(
    spec: GateSpec, observation: obs.Observation, verdict: V, reason: R | None, value: float | None
) -> None:
    result = evaluate(spec, observation)
    assert result.verdict is verdict, result.message
    assert result.reason is reason
    assert result.gate == spec.header.name
    assert result.critical == spec.header.critical
    assert result.message
    if value is not None:
        assert result.evidence.value == pytest.approx(value)


def test_proportion_evidence_is_complete() -> None:
    result = evaluate(UVQ, obs.Counts(1760, 4000, 1600, 4000))
    ev = result.evidence.to_dict()
    assert ev["statistic"] == "msprt"
    assert ev["candidate_samples"] == 4000 and ev["baseline_samples"] == 4000
    assert ev["value"] == pytest.approx(0.44) and ev["baseline_value"] == pytest.approx(0.40)
    assert 0 < ev["statistic_value"] < 0.05  # the always-valid p-value that decided it
    assert "always-valid" in ev["detail"]


def test_relative_evidence_has_baseline_and_limit() -> None:
    result = evaluate(OFFLINE, obs.Values({**GOOD, ISL: 0.80}, {**BASE, ISL: 0.795}))
    assert result.evidence.baseline_value == pytest.approx(0.795)
    assert result.evidence.threshold == pytest.approx(0.805)
    assert ISL in result.message


def _results(recall: float, ndcg: float, iyashikei: float) -> dict[str, Any]:
    """The shape shadowgate.evaluation's evaluator returns for a retriever."""
    return {
        "schema": "shadowgate.dev/evaluation-results/v1",
        "model": {"kind": "retriever"},
        "metrics": {
            "retrieval": {
                "global": {"recall@3": recall, "ndcg@10": ndcg, "n": 400},
                "slices": {"iyashikei": {"recall@3": iyashikei, "n": 60}},
            },
            "safety": {"spoiler_rate": 0.0, "ungrounded_item_rate": 0.0},
        },
    }


def test_values_from_results_reads_key_paths() -> None:
    cand, base = _results(0.70, 0.60, 0.81)["metrics"], _results(0.69, 0.60, 0.62)["metrics"]
    values = obs.values_from_results(list(GOOD), cand, base, samples_key="retrieval.global.n")
    assert values.candidate[ISL] == 0.81 and values.baseline[ISL] == 0.62 and values.candidate_samples == 400
    assert evaluate(OFFLINE, values).verdict is P
    spoilers = obs.values_from_results(["safety.spoiler_rate"], cand)
    assert evaluate(SPOILER, spoilers).verdict is P


@pytest.mark.parametrize(
    ("results", "path", "expected"),
    [
        pytest.param({"a": {"b": 1}}, "a.b", 1.0, id="nested"),
        pytest.param({"a.b": 2}, "a.b", 2.0, id="dotted-key"),
        pytest.param({"a": {"recall@3": 0.5}}, "a.recall@3", 0.5, id="at-sign"),
        pytest.param({"a": {"b": "x"}}, "a.b", None, id="not-a-number"),
        pytest.param({"a": {"b": True}}, "a.b", None, id="bool"),
        pytest.param({"a": {"b": 1}}, "a.c", None, id="missing"),
        pytest.param({"a": 1}, "a.b", None, id="through-a-leaf"),
        pytest.param({"a": {"b": float("nan")}}, "a.b", None, id="nan"),
    ],
)
def test_lookup(results: dict[str, Any], path: str, expected: float | None) -> None:
    assert obs.lookup(results, path) == expected
