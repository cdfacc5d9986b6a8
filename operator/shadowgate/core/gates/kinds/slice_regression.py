"""slice-regression: no golden-set slice may regress, paired by query (statistics in ``slices``)."""

from __future__ import annotations

import re

from shadowgate.core.gates import observations as obs
from shadowgate.core.gates import outcomes, slices
from shadowgate.core.gates.fields import Fields
from shadowgate.core.gates.kinds.base import GateKind
from shadowgate.core.gates.outcomes import INSUFFICIENT, NO_DATA, Outcome
from shadowgate.core.gates.plans import PairedPlan, Plan
from shadowgate.core.gates.specs import Header, Kind, SliceRegressionSpec, Source
from shadowgate.core.verdicts import Evidence, InconclusiveReason, Verdict

# Per-query metrics the evaluator reports (shadowgate.evaluation.ranking.query_metrics).
_PER_QUERY_METRIC = re.compile(r"^(recall@[1-9][0-9]*|ndcg@[1-9][0-9]*|mrr)$")
_RANKING_FAMILIES = ("retrieval", "reranking")


def parse(f: Fields, header: Header) -> SliceRegressionSpec:
    family = f.string("family", "retrieval")
    if family not in _RANKING_FAMILIES:
        raise f.error("family", f"must be one of {list(_RANKING_FAMILIES)}, got {family!r}")
    metric = f.string("metric", "recall@3")
    if not _PER_QUERY_METRIC.match(metric):
        raise f.error(
            "metric", f"must be a per-query metric like 'recall@3', 'ndcg@10' or 'mrr', got {metric!r}"
        )
    alpha = f.number("alpha", 0.05, low=0.0, high=0.5, open_low=True)
    return SliceRegressionSpec(
        header,
        family,
        metric,
        f.number("margin", 0.0, low=0.0, high=1.0),
        alpha,
        f.integer("minQueries", slices.default_min_queries(alpha), low=1),
    )


def plan(spec: SliceRegressionSpec) -> Plan:
    return PairedPlan(spec.family, spec.metric)


def evaluate(spec: SliceRegressionSpec, paired: obs.PairedQueries) -> list[Outcome]:
    """One outcome per slice, worst drop first (so a Pass's evidence is the closest call)."""
    groups = slices.by_slice(paired.candidate, paired.baseline, paired.slices)
    if not groups:
        return [outcomes.inconclusive(NO_DATA, f"no query has {spec.metric} for both candidate and baseline")]
    results = slices.compare(groups, spec.min_queries)
    return [_slice_outcome(spec, r) for r in sorted(results, key=lambda r: (-r.drop, r.name))]


def _slice_outcome(spec: SliceRegressionSpec, r: slices.SliceResult) -> Outcome:
    adjusted = "not tested" if r.p_holm is None else f"Holm p={r.p_holm:.3g} (m={r.tested})"
    detail = (
        f"slice {r.name}: {spec.metric} {r.candidate:.3f} vs baseline {r.baseline:.3f} "
        f"(change {r.candidate - r.baseline:+.3f}, margin {spec.margin:g}); "
        f"{r.worse} worse / {r.better} better of {r.n} queries, "
        f"sign-test p={r.p:.3g}, {adjusted}, alpha={spec.alpha:g}"
    )
    ev = Evidence(
        value=r.candidate,
        baseline_value=r.baseline,
        threshold=r.baseline - spec.margin,
        candidate_samples=r.n,
        baseline_samples=r.n,
        statistic="sign-test-holm",
        statistic_value=r.p if r.p_holm is None else r.p_holm,
        detail=detail,
    )
    if r.p_holm is None:
        why = f"{detail}: {r.n} queries < minQueries {spec.min_queries}, too few to tell"
        return outcomes.inconclusive(INSUFFICIENT, why, ev)
    if r.drop <= spec.margin + 1e-12:
        return Outcome(Verdict.PASS, detail, ev)
    if r.p_holm <= spec.alpha:
        return Outcome(Verdict.FAIL, f"{detail}: regressed", ev)
    strictest = spec.alpha / r.tested
    if r.min_p > strictest:
        why = f"too few queries to tell: even all {r.n} worse gives p={r.min_p:.3g} > alpha/m={strictest:.3g}"
        return outcomes.inconclusive(INSUFFICIENT, f"{detail}: dropped, {why}", ev)
    return outcomes.inconclusive(InconclusiveReason.NOT_DECISIVE, f"{detail}: dropped, not significant", ev)


KIND = GateKind(
    kind=Kind.SLICE_REGRESSION,
    spec=SliceRegressionSpec,
    observation=obs.PairedQueries,
    sources=frozenset({Source.EVALUATION}),
    default_source=Source.EVALUATION,
    parse=parse,
    plan=plan,
    evaluate=evaluate,
)
