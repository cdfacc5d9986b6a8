"""``evaluate(spec, observation) -> GateResult``: one gate, one look, no I/O.

Every kind reduces to a list of per-metric outcomes that roll up the same way: any Fail
fails the gate, otherwise any Inconclusive makes it Inconclusive (with the first reason),
otherwise it passes. The result's evidence is that of the deciding outcome (the first
Fail, the first Inconclusive, or the first Pass) and its message lists every outcome, so a
person can see all the numbers behind the verdict. Missing or NaN values are NoData,
never zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shadowgate.core.gates import observations as obs
from shadowgate.core.gates import slices
from shadowgate.core.gates.specs import (
    CheckSpec,
    Comparison,
    Direction,
    GateSpec,
    Hypothesis,
    LatencySpec,
    ProportionSpec,
    RelativeSpec,
    SliceRegressionSpec,
    ThresholdSpec,
    WeightedSpec,
)
from shadowgate.core.stats import sequential
from shadowgate.core.verdicts import Evidence, GateResult, InconclusiveReason, Verdict

NO_DATA = InconclusiveReason.NO_DATA
INSUFFICIENT = InconclusiveReason.INSUFFICIENT_SAMPLES


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    message: str
    evidence: Evidence = field(default_factory=Evidence)
    reason: InconclusiveReason | None = None


def _inconclusive(reason: InconclusiveReason, message: str, evidence: Evidence | None = None) -> Outcome:
    return Outcome(Verdict.INCONCLUSIVE, message, evidence or Evidence(), reason)


def _number(values: Mapping[str, float | None], key: str) -> float | None:
    v = values.get(key)
    return None if v is None or not math.isfinite(v) else float(v)


def evaluate(spec: GateSpec, observation: obs.Observation) -> GateResult:
    """The verdict for ``spec`` given what a source observed."""
    header = spec.header
    if isinstance(observation, obs.Unavailable):
        outcomes = [_inconclusive(observation.reason, observation.detail or str(observation.reason))]
    else:
        handler, expected = _HANDLERS[type(spec)]
        if not isinstance(observation, expected):
            got = type(observation).__name__
            outcomes = [
                _inconclusive(
                    InconclusiveReason.QUERY_ERROR,
                    f"source returned {got} for a {header.kind} gate (expected {expected.__name__})",
                )
            ]
        else:
            outcomes = handler(spec, observation)
    return _roll_up(spec, outcomes)


def _roll_up(spec: GateSpec, outcomes: list[Outcome]) -> GateResult:
    for verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.PASS):
        deciding = next((o for o in outcomes if o.verdict is verdict), None)
        if deciding is not None:
            break
    assert deciding is not None, "every gate kind yields at least one outcome"
    return GateResult(
        gate=spec.header.name,
        verdict=deciding.verdict,
        evidence=deciding.evidence,
        reason=deciding.reason,
        critical=spec.header.critical,
        message="; ".join(o.message for o in outcomes),
    )


def _samples_short(spec_min: int, values: obs.Values) -> Outcome | None:
    counts = [n for n in (values.candidate_samples, values.baseline_samples) if n is not None]
    if spec_min and counts and min(counts) < spec_min:
        return _inconclusive(INSUFFICIENT, f"{min(counts)} samples < minSamples {spec_min}")
    return None


def _floors(metric: str, value: float, low: float | None, high: float | None, ev: Evidence) -> Outcome | None:
    if low is not None and value < low:
        return Outcome(Verdict.FAIL, f"{metric}={value:.4g} below min {low:g}", _with(ev, threshold=low))
    if high is not None and value > high:
        return Outcome(Verdict.FAIL, f"{metric}={value:.4g} above max {high:g}", _with(ev, threshold=high))
    return None


def _with(ev: Evidence, **changes: Any) -> Evidence:
    return Evidence(**{**ev.__dict__, **changes})


def _threshold(spec: ThresholdSpec, values: obs.Values) -> list[Outcome]:
    short = _samples_short(spec.min_samples, values)
    if short:
        return [short]
    out = []
    for c in spec.checks:
        v = _number(values.candidate, c.metric)
        if v is None:
            out.append(_inconclusive(NO_DATA, f"{c.metric}: no data"))
            continue
        ev = Evidence(value=v, candidate_samples=values.candidate_samples, statistic="value", detail=c.metric)
        failed = _floors(c.metric, v, c.min, c.max, ev)
        bound = c.max if c.max is not None else c.min
        out.append(
            failed or Outcome(Verdict.PASS, f"{c.metric}={v:.4g} within bounds", _with(ev, threshold=bound))
        )
    return out


def _compare(
    metric: str, cand: float, base: float, direction: Direction, comparison: Comparison, margin: float
) -> Outcome:
    """Candidate vs baseline: fail when the candidate is worse by more than ``margin``."""
    better_higher = direction is Direction.HIGHER
    if comparison is Comparison.RATIO:
        if base <= 0:
            return _inconclusive(NO_DATA, f"{metric}: baseline {base:g} <= 0, ratio undefined")
        stat = cand / base
        harm = (1 - stat) if better_higher else (stat - 1)
        limit = base * (1 - margin) if better_higher else base * (1 + margin)
    else:
        stat = cand - base
        harm = -stat if better_higher else stat
        limit = base - margin if better_higher else base + margin
    ev = Evidence(
        value=cand, baseline_value=base, threshold=limit, statistic=str(comparison), statistic_value=stat
    )
    word = "min" if better_higher else "max"
    text = f"{metric}={cand:.4g} vs baseline {base:.4g} ({word} allowed {limit:.4g})"
    verdict = Verdict.FAIL if harm > margin + 1e-12 else Verdict.PASS
    return Outcome(verdict, text, _with(ev, detail=metric))


def _relative(spec: RelativeSpec, values: obs.Values) -> list[Outcome]:
    short = _samples_short(spec.min_samples, values)
    if short:
        return [short]
    out = []
    for c in spec.checks:
        cand, base = _number(values.candidate, c.metric), _number(values.baseline, c.metric)
        if cand is None or base is None:
            arm = "candidate" if cand is None else "baseline"
            out.append(_inconclusive(NO_DATA, f"{c.metric}: no data for the {arm}"))
            continue
        compared = _compare(c.metric, cand, base, spec.direction, spec.comparison, c.margin or 0.0)
        floor = _floors(c.metric, cand, c.min, c.max, _with(compared.evidence, statistic="value"))
        out.append(floor or compared)
    return out


def _weighted(spec: WeightedSpec, values: obs.Values) -> list[Outcome]:
    totals: dict[str, float] = {}
    for arm, mapping in (("candidate", values.candidate), ("baseline", values.baseline)):
        missing = [k for k, _ in spec.weights if _number(mapping, spec.metric_for(k)) is None]
        if missing:
            return [_inconclusive(NO_DATA, f"no {spec.metric} for the {arm} at keys {missing}")]
        weight = sum(w for _, w in spec.weights)
        totals[arm] = sum(w * (_number(mapping, spec.metric_for(k)) or 0.0) for k, w in spec.weights) / weight
    name = f"weighted {spec.metric}"
    compared = _compare(
        name, totals["candidate"], totals["baseline"], spec.direction, spec.comparison, spec.margin
    )
    floor = _floors(name, totals["candidate"], None, spec.max, compared.evidence)
    return [floor or compared]


def _proportion(spec: ProportionSpec, counts: obs.Counts) -> list[Outcome]:
    ev = Evidence(
        value=counts.candidate_events / counts.candidate_trials if counts.candidate_trials else None,
        baseline_value=counts.baseline_events / counts.baseline_trials if counts.baseline_trials else None,
        threshold=spec.margin,
        candidate_samples=counts.candidate_trials,
        baseline_samples=counts.baseline_trials,
        statistic="msprt",
    )
    n = min(counts.candidate_trials, counts.baseline_trials)
    if n < spec.min_samples:
        return [
            _inconclusive(INSUFFICIENT, f"{n} samples in the smaller arm < minSamples {spec.min_samples}", ev)
        ]
    t = sequential.two_proportions(
        counts.candidate_events,
        counts.candidate_trials,
        counts.baseline_events,
        counts.baseline_trials,
        lower_is_better=spec.direction is Direction.LOWER,
        fail_at=spec.margin,
        pass_at=spec.margin,
        alpha=spec.alpha,
        tau=spec.tau,
    )
    goal = "better" if spec.hypothesis is Hypothesis.SUPERIORITY else f"not worse by {spec.margin:g}"
    detail = (
        f"rate {t.cand_rate:.4f} vs {t.base_rate:.4f}, harm {t.harm:+.4f} (se {t.std_error:.4f}), "
        f"always-valid p(worse)={t.p_worse:.3g} p({goal})={t.p_better:.3g}, "
        f"alpha={spec.alpha:g} tau={spec.tau:g}"
    )
    if t.worse:
        return [
            Outcome(
                Verdict.FAIL, f"shown worse: {detail}", _with(ev, statistic_value=t.p_worse, detail=detail)
            )
        ]
    if t.better:
        return [
            Outcome(
                Verdict.PASS, f"shown {goal}: {detail}", _with(ev, statistic_value=t.p_better, detail=detail)
            )
        ]
    p = min(t.p_worse, t.p_better)
    return [
        _inconclusive(
            InconclusiveReason.NOT_DECISIVE,
            f"not decided yet: {detail}",
            _with(ev, statistic_value=p, detail=detail),
        )
    ]


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


def _latency(spec: LatencySpec, q: obs.Quantiles) -> list[Outcome]:
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
        return [_inconclusive(INSUFFICIENT, f"{n} requests < minSamples {spec.min_samples}")]
    out = []
    for b in spec.bounds:
        label = f"p{b.quantile * 100:g}"
        cand = _finite(q.candidate.values.get(b.quantile))
        if cand is None:
            out.append(_inconclusive(NO_DATA, f"{label}: no data for the candidate"))
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
                    _with(ev, threshold=b.max_seconds),
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
                    _with(
                        ev,
                        baseline_value=base,
                        threshold=limit,
                        statistic_value=cand / base if base > 0 else None,
                    ),
                )
            )
        outcome = _latency_outcome(label, cand, _finite(q.candidate.lower.get(b.quantile)), limits)
        if b.max_ratio is not None and base is None and outcome.verdict is not Verdict.FAIL:
            outcome = _inconclusive(NO_DATA, f"{label}: no data for the baseline")
        out.append(outcome)
    return out


def _latency_outcome(label: str, cand: float, cand_low: float | None, limits: list[_Limit]) -> Outcome:
    bounds = f"{label}={_ms(cand)}, its lower confidence bound {_ms(cand_low)}"
    for lim in limits:
        if cand_low is not None and lim.generous is not None and cand_low > lim.generous:
            detail = f"{bounds} > {_ms(lim.generous)}, the most generous limit the data allow"
            return Outcome(
                Verdict.FAIL, f"shown over the {lim.name}: {detail}", _with(lim.evidence, detail=detail)
            )
    for lim in limits:
        if cand > lim.value:
            if cand_low is None or lim.generous is None:
                detail = f"{bounds}: no confidence bound yet (too few requests)"
            else:
                detail = f"{bounds} <= {_ms(lim.generous)}, the most generous limit the data allow"
            return _inconclusive(
                InconclusiveReason.NOT_DECISIVE,
                f"over the {lim.name} but not shown: {detail}",
                _with(lim.evidence, detail=detail),
            )
    within = "; ".join(lim.name for lim in limits)
    return Outcome(
        Verdict.PASS, f"{label}={_ms(cand)} within {within}", limits[-1].evidence if limits else Evidence()
    )


def _check(spec: CheckSpec, checks: obs.Checks) -> list[Outcome]:
    out = []
    for name in spec.checks:
        ok = checks.results.get(name)
        if ok is None:
            out.append(_inconclusive(NO_DATA, f"{name}: not performed yet"))
        else:
            text = f"{name}: {'ok' if ok else 'FAILED'}" + (
                f" ({checks.detail})" if checks.detail and not ok else ""
            )
            out.append(
                Outcome(Verdict.PASS if ok else Verdict.FAIL, text, Evidence(statistic="check", detail=name))
            )
    return out


def _slice_regression(spec: SliceRegressionSpec, paired: obs.PairedQueries) -> list[Outcome]:
    """One outcome per slice, worst drop first (so a Pass's evidence is the closest call)."""
    groups = slices.by_slice(paired.candidate, paired.baseline, paired.slices)
    if not groups:
        return [_inconclusive(NO_DATA, f"no query has {spec.metric} for both candidate and baseline")]
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
        return _inconclusive(
            INSUFFICIENT, f"{detail}: {r.n} queries < minQueries {spec.min_queries}, too few to tell", ev
        )
    if r.drop <= spec.margin + 1e-12:
        return Outcome(Verdict.PASS, detail, ev)
    if r.p_holm <= spec.alpha:
        return Outcome(Verdict.FAIL, f"{detail}: regressed", ev)
    strictest = spec.alpha / r.tested
    if r.min_p > strictest:
        why = f"too few queries to tell: even all {r.n} worse gives p={r.min_p:.3g} > alpha/m={strictest:.3g}"
        return _inconclusive(INSUFFICIENT, f"{detail}: dropped, {why}", ev)
    return _inconclusive(InconclusiveReason.NOT_DECISIVE, f"{detail}: dropped, not significant", ev)


_HANDLERS: dict[type, tuple[Callable[[Any, Any], list[Outcome]], type]] = {
    ThresholdSpec: (_threshold, obs.Values),
    RelativeSpec: (_relative, obs.Values),
    WeightedSpec: (_weighted, obs.Values),
    ProportionSpec: (_proportion, obs.Counts),
    LatencySpec: (_latency, obs.Quantiles),
    CheckSpec: (_check, obs.Checks),
    SliceRegressionSpec: (_slice_regression, obs.PairedQueries),
}
