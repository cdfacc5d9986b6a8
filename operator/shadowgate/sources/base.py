"""The one interface every metric source implements, and the context a query runs in.

A source turns a gate spec into an observation for the current candidate. It never
raises for a measurement problem: it returns ``observations.Unavailable`` with reason
``NoData`` or ``QueryError`` so the gate becomes Inconclusive and the operator keeps going.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shadowgate.core.gates import observations, specs


@dataclass(frozen=True)
class QueryContext:
    """Who and what is being measured. These fill the PromQL template variables
    (``templates.VARIABLES``): ``{namespace}``, ``{target}``, ``{route}``,
    ``{candidate}``, ``{window}``, and per arm ``{variant}``.

    ``window`` is a PromQL duration covering the phase so far (e.g. ``"900s"``), so
    ``increase(...[{window}])`` counts every impression since the phase began.
    ``at`` is the evaluation time (unix seconds) or None for "now".
    """

    namespace: str
    target: str
    candidate: str
    route: str = ""
    window: str = "5m"
    candidate_variant: str = "canary"
    baseline_variant: str = "primary"
    at: float | None = None

    def variables(self, variant: str) -> dict[str, str]:
        return {
            "namespace": self.namespace,
            "target": self.target,
            "route": self.route,
            "candidate": self.candidate,
            "window": self.window,
            "variant": variant,
        }


class MetricSource(Protocol):
    """Measures one gate. Implementations: ``prometheus.PrometheusSource`` and the
    offline-evaluation source (``evaluation.py``)."""

    async def observe(self, spec: specs.GateSpec, context: QueryContext) -> observations.Observation:
        """Return the observation ``evaluating.evaluate(spec, ...)`` expects for the spec's kind
        (see ``observations``), or ``observations.Unavailable``; never raise for bad data."""
        ...
