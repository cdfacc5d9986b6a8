"""parse_gates: every accepted shape, and every rejection names the gate and the field."""

from __future__ import annotations

from typing import Any

import pytest
from shadowgate.core.gates import parsing, specs
from shadowgate.core.gates.specs import GatePhase, GateSpecError, Kind, Source

NOCLICK = 'sum(increase(shadowgate_router_noclicks_total{route="{route}",variant="{variant}"}[{window}]))'


def _prop(**kw: Any) -> dict[str, Any]:
    return {
        "name": "ctr",
        "kind": "proportion",
        "events": NOCLICK,
        "trials": NOCLICK,
        "direction": "lower",
        **kw,
    }


def _lat(**kw: Any) -> dict[str, Any]:
    return {
        "name": "lat",
        "kind": "latency",
        "query": "histogram_quantile({quantile}, sum by (le) (rate(x_bucket[{window}])))",
        "countQuery": "sum(increase(x_count[{window}]))",
        "quantiles": {"p99": {"maxSeconds": 0.3}},
        **kw,
    }


@pytest.mark.parametrize(
    ("raw", "gate", "field", "words"),
    [
        pytest.param({"preset": "nope"}, "<gates>", "gates.preset", "unknown preset", id="unknown-preset"),
        pytest.param({"presett": "x"}, "<gates>", "gates.presett", "unknown field", id="unknown-top-key"),
        pytest.param("x", "<gates>", "gates", "list or a mapping", id="not-a-list"),
        pytest.param(
            {"preset": "mangaassist", "overrides": {"nope": {}}},
            "nope",
            "gates.overrides",
            "no such gate",
            id="override-unknown-gate",
        ),
        pytest.param(
            {"preset": "mangaassist", "overrides": {"cost": {"kind": "threshold"}}},
            "cost",
            "gates.overrides",
            "cannot change",
            id="override-kind",
        ),
        pytest.param(
            {"preset": "mangaassist", "overrides": {"latency": {"quantiles": {"p99": {"maxRatio": -1}}}}},
            "latency",
            "quantiles.p99.maxRatio",
            "must be >",
            id="override-bad-value",
        ),
        pytest.param(
            {"preset": "mangaassist", "overrides": {"factuality": {"min": 0.5, "max": 0.1}}},
            "factuality",
            "min",
            "above max",
            id="override-min-above-max",
        ),
        pytest.param(
            {"preset": "mangaassist", "disable": ["x"]},
            "x",
            "gates.disable",
            "no such gate",
            id="disable-unknown",
        ),
        pytest.param(
            [{"name": "Bad_Name", "kind": "threshold"}], "<gate 0>", "name", "DNS label", id="bad-name"
        ),
        pytest.param([{"name": "a"}], "a", "kind", "required", id="missing-kind"),
        pytest.param([{"name": "a", "kind": "magic"}], "a", "kind", "one of", id="unknown-kind"),
        pytest.param([_prop(name="a"), _prop(name="a")], "a", "name", "duplicate", id="duplicate-name"),
        pytest.param([_prop(phases=["prod"])], "ctr", "phases", "unknown phase", id="unknown-phase"),
        pytest.param(
            [_prop(source="evaluation")], "ctr", "source", "reads from", id="proportion-from-evaluation"
        ),
        pytest.param(
            [_prop(events=NOCLICK.replace("{route}", "{rout}"))],
            "ctr",
            "events",
            "unknown template variable {rout}",
            id="bad-template-variable",
        ),
        pytest.param(
            [_prop(trials="sum(increase(x[{window}])")], "ctr", "trials", "unbalanced", id="unbalanced"
        ),
        pytest.param([_prop(direction="up")], "ctr", "direction", "one of", id="bad-direction"),
        pytest.param([_prop(alpha=0)], "ctr", "alpha", "> 0", id="alpha-zero"),
        pytest.param([_prop(alpha=0.7)], "ctr", "alpha", "<= 0.5", id="alpha-big"),
        pytest.param([_prop(tau=-1)], "ctr", "tau", "> 0", id="tau-negative"),
        pytest.param([_prop(minSamples=0)], "ctr", "minSamples", ">= 1", id="min-samples-zero"),
        pytest.param([_prop(minSamples=1.5)], "ctr", "minSamples", "integer", id="min-samples-float"),
        pytest.param(
            [_prop(hypothesis="non-inferiority")], "ctr", "margin", "needs a margin", id="ni-no-margin"
        ),
        pytest.param([_prop(margin=0.01)], "ctr", "margin", "takes no margin", id="superiority-margin"),
        pytest.param([_prop(minSample=10)], "ctr", "minSample", "unknown field", id="typo-field"),
        pytest.param([_prop(critical="yes")], "ctr", "critical", "true or false", id="critical-not-bool"),
        pytest.param([_prop(failureLimit=0)], "ctr", "failureLimit", ">= 1", id="failure-limit-zero"),
        pytest.param(
            [{"name": "t", "kind": "threshold", "metric": "x", "min": 2, "max": 1}],
            "t",
            "min",
            "above max",
            id="min-above-max",
        ),
        pytest.param(
            [{"name": "t", "kind": "threshold", "metric": "x"}], "t", "max", "min and/or max", id="no-bounds"
        ),
        pytest.param(
            [{"name": "t", "kind": "threshold", "max": 1}], "t", "metric", "exactly one", id="no-metric"
        ),
        pytest.param(
            [{"name": "t", "kind": "threshold", "metric": "x", "metrics": {"y": {"max": 1}}}],
            "t",
            "metric",
            "exactly one",
            id="metric-and-metrics",
        ),
        pytest.param(
            [{"name": "t", "kind": "threshold", "source": "evaluation", "metrics": {"a b": {"max": 1}}}],
            "t",
            "metrics",
            "dotted key path",
            id="bad-key-path",
        ),
        pytest.param(
            [
                {
                    "name": "t",
                    "kind": "relative",
                    "source": "evaluation",
                    "direction": "higher",
                    "metrics": {"a.b": {"min": 1, "max": 0}},
                }
            ],
            "t",
            "metrics.a.b.min",
            "above max",
            id="nested-min-above-max",
        ),
        pytest.param(
            [{"name": "t", "kind": "relative", "direction": "higher", "metrics": {"x": {"floor": 1}}}],
            "t",
            "metrics.x.floor",
            "unknown field",
            id="nested-unknown-field",
        ),
        pytest.param(
            [{"name": "t", "kind": "threshold", "metric": "x", "max": float("nan")}],
            "t",
            "max",
            "finite",
            id="nan-bound",
        ),
        pytest.param(
            [{"name": "w", "kind": "weighted", "metric": "err", "weights": {"a": 1}}],
            "w",
            "metric",
            "{key}",
            id="weighted-no-key",
        ),
        pytest.param(
            [{"name": "w", "kind": "weighted", "metric": "err{key}", "weights": {"a": 0}}],
            "w",
            "weights.a",
            "positive",
            id="weighted-zero-weight",
        ),
        pytest.param([_lat(query="x")], "lat", "query", "{quantile}", id="latency-no-quantile"),
        pytest.param([_lat(alpha=0)], "lat", "alpha", "> 0", id="latency-alpha-zero"),
        pytest.param([_lat(alpha=0.6)], "lat", "alpha", "<= 0.5", id="latency-alpha-too-big"),
        pytest.param(
            [_lat(quantiles={"p100": {"maxSeconds": 1}})], "lat", "quantiles.p100", "named like", id="p100"
        ),
        pytest.param(
            [_lat(quantiles={"p99": {}})], "lat", "quantiles.p99", "maxRatio and/or", id="latency-no-bound"
        ),
        pytest.param(
            [_lat(countQuery="x{quantile}")],
            "lat",
            "countQuery",
            "unknown template variable",
            id="count-quantile",
        ),
        pytest.param(
            [{"name": "c", "kind": "check", "checks": []}], "c", "checks", "non-empty list", id="no-checks"
        ),
        pytest.param(
            [{"name": "c", "kind": "check", "source": "prometheus", "checks": ["a"]}],
            "c",
            "source",
            "reads from",
            id="check-from-prometheus",
        ),
    ],
)
def test_rejects_with_gate_and_field(raw: Any, gate: str, field: str, words: str) -> None:
    with pytest.raises(GateSpecError) as err:
        parsing.parse_gates(raw)
    assert err.value.gate == gate
    assert err.value.field == field
    assert words in str(err.value)
    assert gate in str(err.value) and field in str(err.value)


def test_preset_has_the_ten_gates() -> None:
    gates = parsing.parse_gates({"preset": "mangaassist"})
    names = [g.header.name for g in gates]
    assert names == [
        "user-visible-quality",
        "business-weighted-harm",
        "rare-class-recall",
        "factuality",
        "spoiler-safety",
        "latency",
        "cost",
        "rollback",
        "offline-quality",
        "no-slice-regression",
    ]
    by = {g.header.name: g for g in gates}
    uvq = by["user-visible-quality"]
    assert isinstance(uvq, specs.ProportionSpec) and uvq.direction is specs.Direction.LOWER
    assert uvq.hypothesis is specs.Hypothesis.SUPERIORITY
    offline = by["offline-quality"]
    assert isinstance(offline, specs.RelativeSpec)
    slice_check = next(c for c in offline.checks if c.metric == "retrieval.slices.iyashikei.recall@3")
    assert slice_check.min == 0.78 and slice_check.margin is not None and slice_check.margin < 0
    assert by["rollback"].header.source is Source.OPERATOR and by["rollback"].header.critical


@pytest.mark.parametrize(
    ("raw", "gate", "check"),
    [
        pytest.param(
            {
                "preset": "mangaassist",
                "overrides": {"user-visible-quality": {"minSamples": 2000, "alpha": 0.01}},
            },
            "user-visible-quality",
            lambda g: g.min_samples == 2000 and g.alpha == 0.01 and g.tau == 0.04,
            id="override-scalar",
        ),
        pytest.param(
            {
                "preset": "mangaassist",
                "overrides": {
                    "offline-quality": {"metrics": {"retrieval.slices.iyashikei.recall@3": {"min": 0.8}}}
                },
            },
            "offline-quality",
            lambda g: [c.min for c in g.checks if "iyashikei" in c.metric] == [0.8] and len(g.checks) == 3,
            id="override-deep-merge",
        ),
        pytest.param(
            {"preset": "mangaassist", "overrides": {"latency": {"quantiles": {"p95": None}}}},
            "latency",
            lambda g: [b.quantile for b in g.bounds] == [0.99],
            id="override-null-deletes",
        ),
        pytest.param(
            {"preset": "mangaassist", "overrides": {"cost": {"phases": ["canary"], "critical": True}}},
            "cost",
            lambda g: g.header.phases == frozenset({GatePhase.CANARY}) and g.header.critical,
            id="override-header",
        ),
        pytest.param(
            {"preset": "mangaassist", "extra": [_prop(name="ni", hypothesis="non-inferiority", margin=0.01)]},
            "ni",
            lambda g: g.hypothesis is specs.Hypothesis.NON_INFERIORITY and g.margin == 0.01,
            id="extra-gate",
        ),
        pytest.param(
            [
                {
                    "name": "t",
                    "kind": "threshold",
                    "source": "evaluation",
                    "metric": "safety.spoiler_rate",
                    "max": 0,
                }
            ],
            "t",
            lambda g: g.header.phases == frozenset({GatePhase.EVALUATION}) and g.checks[0].max == 0.0,
            id="list-form-evaluation-defaults",
        ),
        pytest.param(
            [_lat(quantiles={"p99.9": {"maxRatio": 2}, "0.5": {"maxSeconds": 0.1}})],
            "lat",
            lambda g: [b.quantile for b in g.bounds] == [pytest.approx(0.999), 0.5],
            id="quantile-names",
        ),
        pytest.param([_lat()], "lat", lambda g: g.alpha == 0.01, id="latency-alpha-default"),
        pytest.param([_lat(alpha=0.05)], "lat", lambda g: g.alpha == 0.05, id="latency-alpha"),
    ],
)
def test_accepts(raw: Any, gate: str, check: Any) -> None:
    gates = {g.header.name: g for g in parsing.parse_gates(raw)}
    assert check(gates[gate])


def test_disable_removes_a_preset_gate_and_preset_is_not_mutated() -> None:
    gates = parsing.parse_gates({"preset": "mangaassist", "disable": ["cost"]})
    assert "cost" not in [g.header.name for g in gates]
    parsing.parse_gates({"preset": "mangaassist", "overrides": {"cost": {"margin": 0.5}}})
    cost = next(g for g in parsing.parse_gates({"preset": "mangaassist"}) if g.header.name == "cost")
    assert isinstance(cost, specs.RelativeSpec) and cost.checks[0].margin == 0.25


@pytest.mark.parametrize(
    ("phase", "names"),
    [
        pytest.param(
            GatePhase.EVALUATION,
            {
                "business-weighted-harm",
                "rare-class-recall",
                "factuality",
                "spoiler-safety",
                "offline-quality",
                "no-slice-regression",
            },
            id="evaluation",
        ),
        pytest.param(GatePhase.SHADOW, {"latency", "cost", "rollback"}, id="shadow"),
        pytest.param(GatePhase.CANARY, {"user-visible-quality", "latency", "cost"}, id="canary"),
    ],
)
def test_applicable_by_phase(phase: GatePhase, names: set[str]) -> None:
    gates = parsing.parse_gates({"preset": "mangaassist"})
    assert {g.header.name for g in specs.applicable(gates, phase)} == names


def test_empty_and_kinds() -> None:
    assert parsing.parse_gates(None) == []
    assert parsing.parse_gates([]) == []
    assert {g.header.kind for g in parsing.parse_gates({"preset": "mangaassist"})} == set(Kind) - {
        Kind.WEIGHTED
    }


@pytest.mark.parametrize(
    ("phase", "model_kind", "names"),
    [
        pytest.param(
            GatePhase.EVALUATION,
            "retriever",
            {"factuality", "spoiler-safety", "offline-quality", "no-slice-regression"},
            id="retriever",
        ),
        pytest.param(GatePhase.EVALUATION, "reranker", {"factuality", "spoiler-safety"}, id="reranker"),
        pytest.param(
            GatePhase.EVALUATION,
            "classifier",
            {"business-weighted-harm", "rare-class-recall"},
            id="classifier",
        ),
        pytest.param(
            GatePhase.CANARY,
            "classifier",
            {"user-visible-quality", "latency", "cost"},
            id="online-gates-any-kind",
        ),
    ],
)
def test_applicable_by_model_kind(phase: GatePhase, model_kind: str, names: set[str]) -> None:
    gates = parsing.parse_gates({"preset": "mangaassist"})
    assert {g.header.name for g in specs.applicable(gates, phase, model_kind)} == names
