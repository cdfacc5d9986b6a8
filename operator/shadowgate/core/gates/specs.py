"""Gate specifications: what a gate measures, where the numbers come from, and its bounds.

A spec is the parsed, validated form of one entry of a Candidate's ``spec.gates``
(see ``parsing.parse_gates`` and docs/gates.md). Every spec carries the same header
(name, critical, phases, source, failure limit) and kind-specific fields. Specs are
frozen: the operator parses them once per reconcile and passes them around freely.

Metric references are strings whose meaning depends on ``source``:
- ``prometheus``: a PromQL template with ``{variable}`` placeholders (``templates.py``);
- ``evaluation``: a dotted key path into the evaluation results JSON,
  e.g. ``retrieval.slices.iyashikei.recall@3``;
- ``operator``: the name of a check the operator performs itself (``rollback``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class GateSpecError(ValueError):
    """A gate spec that cannot be evaluated. The message names the gate and the field."""

    def __init__(self, gate: str, field_path: str, problem: str) -> None:
        self.gate = gate
        self.field = field_path
        self.problem = problem
        super().__init__(f"gate {gate!r}: field {field_path!r}: {problem}")


class Kind(enum.StrEnum):
    THRESHOLD = "threshold"
    RELATIVE = "relative"
    WEIGHTED = "weighted"
    PROPORTION = "proportion"
    LATENCY = "latency"
    CHECK = "check"
    SLICE_REGRESSION = "slice-regression"


class GatePhase(enum.StrEnum):
    EVALUATION = "evaluation"
    SHADOW = "shadow"
    CANARY = "canary"


class Source(enum.StrEnum):
    PROMETHEUS = "prometheus"
    EVALUATION = "evaluation"
    OPERATOR = "operator"


class Direction(enum.StrEnum):
    """Which way is better for the candidate's value."""

    HIGHER = "higher"
    LOWER = "lower"


class Comparison(enum.StrEnum):
    """How a relative gate compares candidate to baseline."""

    DIFFERENCE = "difference"  # candidate - baseline
    RATIO = "ratio"  # candidate / baseline


class Hypothesis(enum.StrEnum):
    """What a proportion gate must show before it passes."""

    SUPERIORITY = "superiority"  # the candidate is better
    NON_INFERIORITY = "non-inferiority"  # the candidate is not worse by more than the margin


@dataclass(frozen=True)
class Header:
    """Fields every gate has."""

    name: str
    kind: Kind
    source: Source
    phases: frozenset[GatePhase]
    critical: bool = False
    # Consecutive Fail verdicts before this gate decides a rollback; None = the policy's
    # default. Critical gates always use 1.
    failure_limit: int | None = None
    description: str = ""
    # The model kinds (e.g. retriever, classifier) the gate applies to; empty = every kind.
    # Offline gates read kind-specific metrics, so a retriever is not held on a classifier's.
    model_kinds: frozenset[str] = frozenset()


@dataclass(frozen=True)
class MetricCheck:
    """Bounds on one metric. ``margin`` (relative gates only) is how far the candidate may
    be worse than the baseline, in the gate's comparison units; a negative margin demands
    an improvement of at least that much."""

    metric: str
    min: float | None = None
    max: float | None = None
    margin: float | None = None


@dataclass(frozen=True)
class ThresholdSpec:
    """Absolute bounds on the candidate's value of one or more metrics."""

    header: Header
    checks: tuple[MetricCheck, ...]
    min_samples: int = 0


@dataclass(frozen=True)
class RelativeSpec:
    """Candidate versus baseline on one or more metrics, with optional absolute floors."""

    header: Header
    checks: tuple[MetricCheck, ...]
    direction: Direction
    comparison: Comparison = Comparison.DIFFERENCE
    min_samples: int = 0


@dataclass(frozen=True)
class WeightedSpec:
    """A business-weighted metric: sum over keys of weight[key] * metric(key), where the
    metric template has a ``{key}`` placeholder, normalised by the total weight, and
    compared with the baseline's. Lower is better by default (a harm: error rates)."""

    header: Header
    metric: str
    weights: tuple[tuple[str, float], ...]
    direction: Direction = Direction.LOWER
    comparison: Comparison = Comparison.DIFFERENCE
    margin: float = 0.0
    max: float | None = None

    def metric_for(self, key: str) -> str:
        return self.metric.replace("{key}", key)


@dataclass(frozen=True)
class ProportionSpec:
    """A rate from counts (events / trials per arm) under an always-valid sequential test.

    ``margin`` is in absolute rate units (0.01 = one percentage point); it is used by
    non-inferiority. ``alpha`` bounds the probability that the confidence sequence ever
    excludes the true difference, over unlimited looks."""

    header: Header
    events: str
    trials: str
    direction: Direction
    hypothesis: Hypothesis = Hypothesis.SUPERIORITY
    margin: float = 0.0
    alpha: float = 0.05
    tau: float = 0.04
    min_samples: int = 500


@dataclass(frozen=True)
class LatencyBound:
    """A percentile's bounds: ratio to the baseline's same percentile, and/or an absolute
    ceiling in seconds. ``slack_seconds`` keeps a ratio from failing on differences too
    small to matter (a 2 ms baseline doubled is still 4 ms)."""

    quantile: float
    max_ratio: float | None = None
    max_seconds: float | None = None
    slack_seconds: float = 0.0


@dataclass(frozen=True)
class LatencySpec:
    """Percentiles from histograms: ``query`` renders one quantile (``{quantile}``) for one
    variant; ``count_query`` renders the number of observations behind it. ``alpha`` is the
    chance, per percentile and analysis, that a candidate no slower than its limit is shown
    over it (split evenly between the candidate's and the baseline's confidence bound)."""

    header: Header
    query: str
    count_query: str
    bounds: tuple[LatencyBound, ...]
    min_samples: int = 200
    alpha: float = 0.01


@dataclass(frozen=True)
class CheckSpec:
    """Named yes/no checks that the operator performs (e.g. the rollback path works)."""

    header: Header
    checks: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class SliceRegressionSpec:
    """No golden-set slice may regress: candidate vs baseline per slice, paired by query
    (``slices.py`` has the statistics). ``family`` is the results section holding per-query
    values (``retrieval``, ``reranking``), ``metric`` a per-query metric (``recall@3``).
    ``margin`` is the largest drop of a slice's mean that still passes, in metric units;
    ``alpha`` the family-wise error of the Holm-corrected sign tests; slices with fewer
    than ``min_queries`` queries are Inconclusive."""

    header: Header
    family: str
    metric: str
    margin: float = 0.0
    alpha: float = 0.05
    min_queries: int = 5


GateSpec = (
    ThresholdSpec
    | RelativeSpec
    | WeightedSpec
    | ProportionSpec
    | LatencySpec
    | CheckSpec
    | SliceRegressionSpec
)


def applicable(specs: list[GateSpec], phase: GatePhase, model_kind: str | None = None) -> list[GateSpec]:
    """The gates that apply in ``phase`` (and to ``model_kind``, when known), in order.
    With ``model_kind`` None every gate of the phase applies, kind-specific ones included."""
    return [
        s
        for s in specs
        if phase in s.header.phases
        and (model_kind is None or not s.header.model_kinds or model_kind in s.header.model_kinds)
    ]
