"""proportion: a rate from counts per arm under the always-valid sequential test (docs/gates.md)."""

from __future__ import annotations

from shadowgate.core.gates import observations as obs
from shadowgate.core.gates import outcomes, reading, templates
from shadowgate.core.gates.fields import Fields
from shadowgate.core.gates.kinds.base import GateKind
from shadowgate.core.gates.outcomes import INSUFFICIENT, Outcome
from shadowgate.core.gates.plans import CountsPlan, Plan
from shadowgate.core.gates.specs import Direction, GatePhase, Header, Hypothesis, Kind, ProportionSpec, Source
from shadowgate.core.stats import sequential
from shadowgate.core.verdicts import Evidence, InconclusiveReason, Verdict


def parse(f: Fields, header: Header) -> ProportionSpec:
    events = reading.metric(f, "events", f.string("events"), header.source, templates.VARIABLES)
    trials = reading.metric(f, "trials", f.string("trials"), header.source, templates.VARIABLES)
    hypothesis = f.choice("hypothesis", Hypothesis, Hypothesis.SUPERIORITY)
    margin = f.number("margin", 0.0, low=0.0, high=1.0)
    if hypothesis is Hypothesis.NON_INFERIORITY and margin == 0.0:
        raise f.error("margin", "non-inferiority needs a margin > 0 (in rate units, e.g. 0.01)")
    if hypothesis is Hypothesis.SUPERIORITY and margin != 0.0:
        raise f.error("margin", "a superiority gate takes no margin; use hypothesis: non-inferiority")
    return ProportionSpec(
        header,
        events,
        trials,
        f.choice("direction", Direction),
        hypothesis,
        margin,
        f.number("alpha", 0.05, low=0.0, high=0.5, open_low=True),
        f.number("tau", 0.04, low=0.0, high=1.0, open_low=True),
        f.integer("minSamples", 500, low=1),
    )


def plan(spec: ProportionSpec) -> Plan:
    return CountsPlan(spec.events, spec.trials)


def evaluate(spec: ProportionSpec, counts: obs.Counts) -> list[Outcome]:
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
        why = f"{n} samples in the smaller arm < minSamples {spec.min_samples}"
        return [outcomes.inconclusive(INSUFFICIENT, why, ev)]
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
        shown = outcomes.with_(ev, statistic_value=t.p_worse, detail=detail)
        return [Outcome(Verdict.FAIL, f"shown worse: {detail}", shown)]
    if t.better:
        shown = outcomes.with_(ev, statistic_value=t.p_better, detail=detail)
        return [Outcome(Verdict.PASS, f"shown {goal}: {detail}", shown)]
    p = min(t.p_worse, t.p_better)
    return [
        outcomes.inconclusive(
            InconclusiveReason.NOT_DECISIVE,
            f"not decided yet: {detail}",
            outcomes.with_(ev, statistic_value=p, detail=detail),
        )
    ]


KIND = GateKind(
    kind=Kind.PROPORTION,
    spec=ProportionSpec,
    observation=obs.Counts,
    sources=frozenset({Source.PROMETHEUS}),
    default_source=Source.PROMETHEUS,
    parse=parse,
    plan=plan,
    evaluate=evaluate,
    live_phases=(GatePhase.CANARY,),  # clicks are credited only to the variant that served
)
