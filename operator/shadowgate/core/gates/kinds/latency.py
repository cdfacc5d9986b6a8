"""latency: percentiles from histograms, failing only when the candidate is shown over a limit
(one-sided confidence bounds of both arms; docs/gates.md, "Confidence bounds for percentiles")."""

from __future__ import annotations

import math
from dataclasses import dataclass

from shadowgate.core.gates import observations as obs
from shadowgate.core.gates import outcomes, reading, templates
from shadowgate.core.gates.fields import Fields
from shadowgate.core.gates.kinds.base import GateKind
from shadowgate.core.gates.outcomes import INSUFFICIENT, NO_DATA, Outcome
from shadowgate.core.gates.plans import Plan, QuantilesPlan
from shadowgate.core.gates.specs import Header, Kind, LatencyBound, LatencySpec, Source
from shadowgate.core.verdicts import Evidence, InconclusiveReason, Verdict


def _quantile(f: Fields, name: str) -> float:
    try:
        q = float(name[1:]) / 100 if name.startswith("p") else float(name)
    except ValueError:
        q = -1.0
    if not 0.0 < q < 1.0:
        raise f.error(f"quantiles.{name}", "must be named like p95, p99.9 or 0.95")
    return q


def parse(f: Fields, header: Header) -> LatencySpec:
    query = reading.metric(f, "query", f.string("query"), header.source, templates.LATENCY_VARIABLES)
    if "{quantile}" not in query:
        raise f.error("query", "must contain the {quantile} placeholder")
    count_query = reading.metric(f, "countQuery", f.string("countQuery"), header.source, templates.VARIABLES)
    bounds = []
    for name, sub_raw in f.mapping("quantiles").items():
        q = _quantile(f, name)
        sub = f.nested("quantiles", name, sub_raw or {})
        bound = LatencyBound(
            q,
            sub.number("maxRatio", None, low=0.0, open_low=True),
            sub.number("maxSeconds", None, low=0.0, open_low=True),
            sub.number("slackSeconds", 0.0, low=0.0),
        )
        sub.finish()
        if bound.max_ratio is None and bound.max_seconds is None:
            raise f.error(f"quantiles.{name}", "needs maxRatio and/or maxSeconds")
        bounds.append(bound)
    return LatencySpec(
        header,
        query,
        count_query,
        tuple(bounds),
        f.integer("minSamples", 200, low=1),
        f.number("alpha", 0.01, low=0.0, high=0.5, open_low=True),
    )


def plan(spec: LatencySpec) -> Plan:
    return QuantilesPlan(
        spec.query,
        spec.count_query,
        tuple(b.quantile for b in spec.bounds),
        spec.alpha,
        baseline=any(b.max_ratio is not None for b in spec.bounds),
    )


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def _ms(v: float | None) -> str:
    return "none" if v is None else f"{v * 1000:.1f} ms"


@dataclass(frozen=True)
class _Limit:
    """One limit on a percentile: its value from the point estimates, the most generous
    value the data allow (from the baseline's upper bound; None = unknown), and how to say it."""

    name: str
    value: float
    generous: float | None
    evidence: Evidence


def evaluate(spec: LatencySpec, q: obs.Quantiles) -> list[Outcome]:
    """Pass: the candidate's percentile is within its limits. Fail: it is shown over one,
    i.e. its lower confidence bound is above the ceiling, or above the ratio limit taken at
    the baseline's upper bound. In between (over a limit on the point estimate, not shown)
    it is Inconclusive: a few slow requests in a small window never roll a candidate back."""
    base_n = q.baseline.count if q.baseline else None
    needs_baseline = any(b.max_ratio is not None for b in spec.bounds)
    short = [
        n
        for n in (q.candidate.count, base_n if needs_baseline else None)
        if n is not None and n < spec.min_samples
    ]
    if short or (needs_baseline and q.baseline is None):
        n = min(short) if short else 0
        return [outcomes.inconclusive(INSUFFICIENT, f"{n} requests < minSamples {spec.min_samples}")]
    out = []
    for b in spec.bounds:
        label = f"p{b.quantile * 100:g}"
        cand = _finite(q.candidate.values.get(b.quantile))
        if cand is None:
            out.append(outcomes.inconclusive(NO_DATA, f"{label}: no data for the candidate"))
            continue
        ev = Evidence(
            value=cand, candidate_samples=q.candidate.count, baseline_samples=base_n, statistic=label
        )
        limits = []
        if b.max_seconds is not None:
            limits.append(
                _Limit(
                    f"ceiling {_ms(b.max_seconds)}",
                    b.max_seconds,
                    b.max_seconds,
                    outcomes.with_(ev, threshold=b.max_seconds),
                )
            )
        base = _finite(q.baseline.values.get(b.quantile)) if q.baseline else None
        if b.max_ratio is not None and base is not None:
            high = _finite(q.baseline.upper.get(b.quantile)) if q.baseline else None
            ratio, slack = b.max_ratio, b.slack_seconds
            limit = max(base * ratio, base + slack)
            limits.append(
                _Limit(
                    f"limit {_ms(limit)} ({ratio:g}x baseline {_ms(base)})",
                    limit,
                    None if high is None else max(high * ratio, high + slack),
                    outcomes.with_(
                        ev,
                        baseline_value=base,
                        threshold=limit,
                        statistic_value=cand / base if base > 0 else None,
                    ),
                )
            )
        outcome = _latency_outcome(label, cand, _finite(q.candidate.lower.get(b.quantile)), limits)
        if b.max_ratio is not None and base is None and outcome.verdict is not Verdict.FAIL:
            outcome = outcomes.inconclusive(NO_DATA, f"{label}: no data for the baseline")
        out.append(outcome)
    return out


def _latency_outcome(label: str, cand: float, cand_low: float | None, limits: list[_Limit]) -> Outcome:
    bounds = f"{label}={_ms(cand)}, its lower confidence bound {_ms(cand_low)}"
    for lim in limits:
        if cand_low is not None and lim.generous is not None and cand_low > lim.generous:
            detail = f"{bounds} > {_ms(lim.generous)}, the most generous limit the data allow"
            return Outcome(
                Verdict.FAIL,
                f"shown over the {lim.name}: {detail}",
                outcomes.with_(lim.evidence, detail=detail),
            )
    for lim in limits:
        if cand > lim.value:
            if cand_low is None or lim.generous is None:
                detail = f"{bounds}: no confidence bound yet (too few requests)"
            else:
                detail = f"{bounds} <= {_ms(lim.generous)}, the most generous limit the data allow"
            return outcomes.inconclusive(
                InconclusiveReason.NOT_DECISIVE,
                f"over the {lim.name} but not shown: {detail}",
                outcomes.with_(lim.evidence, detail=detail),
            )
    within = "; ".join(lim.name for lim in limits)
    return Outcome(
        Verdict.PASS, f"{label}={_ms(cand)} within {within}", limits[-1].evidence if limits else Evidence()
    )


KIND = GateKind(
    kind=Kind.LATENCY,
    spec=LatencySpec,
    observation=obs.Quantiles,
    sources=frozenset({Source.PROMETHEUS}),
    default_source=Source.PROMETHEUS,
    parse=parse,
    plan=plan,
    evaluate=evaluate,
)
