"""The parts of a Candidate's spec that the lifecycle decides on, and every spec default.

The controller parses the custom resource (pydantic, at the edge) once per reconcile into
``LifecycleSpec``: durations in seconds, gates parsed into frozen gate specs. The defaults
below are the only copy in the operator: the pydantic models and ``LifecycleSpec`` read them,
and ``tests/unit/test_spec_schema.py`` fails when the CRD's ``default`` / ``minimum`` /
``maximum`` drift from them (the API server applies the CRD's, so they must agree).

``fingerprint`` covers everything except the manual controls, so flipping ``paused``,
``approve`` or ``abort`` is not mistaken for a new rollout (all three bump the
generation, as any spec edit does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from shadowgate.core.gates.specs import GateSpec
from shadowgate.core.lifecycle.phases import InconclusiveAction, Promotion

# Defaults, in the CRD's own units (Go durations as strings).
PROVIDER: Final = "router"
REPLICAS = 1
MIRROR_PERCENT = 100
STEP_DURATION = "60s"
STEP_MIN_SAMPLES = 0
STICKY_KEY = "X-User-Id"
ANALYSIS_INTERVAL = "30s"
FAILURE_LIMIT = 1
INCONCLUSIVE_ACTION = InconclusiveAction.HOLD
INCONCLUSIVE_LIMIT = 10
PROMOTION = Promotion.AUTO
DEPLOY_TIMEOUT = "5m"
PROMOTE_TIMEOUT = "5m"

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(text: str) -> float:
    """A Go duration (``1m30s``, ``500ms``) in seconds."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r}: use a Go duration such as 30s, 2m or 1h30m")
    return sum(float(n) * _UNITS[u] for n, u in parts)


@dataclass(frozen=True)
class LifecycleSpec:
    """Defaults describe a spec that left the field out (no canary, no shadow, no evaluation)."""

    fingerprint: str
    canary_steps: tuple[int, ...] = ()
    step_min_duration_s: float = seconds(STEP_DURATION)
    step_min_samples: int = STEP_MIN_SAMPLES
    evaluation_enabled: bool = False
    shadow_enabled: bool = False
    shadow_duration_s: float = 0.0
    shadow_min_requests: int = 0
    mirror_percent: int = MIRROR_PERCENT
    analysis_interval_s: float = seconds(ANALYSIS_INTERVAL)
    deploy_timeout_s: float = seconds(DEPLOY_TIMEOUT)
    promote_timeout_s: float = seconds(PROMOTE_TIMEOUT)
    failure_limit: int = FAILURE_LIMIT
    inconclusive_action: InconclusiveAction = INCONCLUSIVE_ACTION
    inconclusive_limit: int = INCONCLUSIVE_LIMIT
    # Consecutive analyses with a QueryError (a source or query outage) before the inconclusive
    # action applies; None: they count only towards ``inconclusive_limit``, like any Inconclusive.
    query_error_limit: int | None = None
    promotion: Promotion = PROMOTION
    paused: bool = False
    approve: bool = False
    abort: bool = False
    # Every gate of the spec, parsed once; each analysis evaluates those of its phase.
    gates: tuple[GateSpec, ...] = ()

    def __post_init__(self) -> None:
        # The CRD rejects these already; the check keeps the pure core honest when it is
        # driven by something other than the API server (tests, the benchmark).
        previous = 0
        for weight in self.canary_steps:
            if not previous < weight <= 100:
                raise ValueError(f"canary steps must be strictly increasing in (0, 100]: {self.canary_steps}")
            previous = weight
        if self.failure_limit < 1:
            raise ValueError("failure_limit must be at least 1")
        if self.inconclusive_limit < 1:
            raise ValueError("inconclusive_limit must be at least 1")
        if self.query_error_limit is not None and self.query_error_limit < 1:
            raise ValueError("query_error_limit must be at least 1")
        if not 1 <= self.mirror_percent <= 100:
            raise ValueError("mirror_percent must be in [1, 100]")

    @property
    def gate_limits(self) -> dict[str, int]:
        """Failure limits set on individual gates, overriding ``failure_limit``."""
        return {
            g.header.name: g.header.failure_limit for g in self.gates if g.header.failure_limit is not None
        }
