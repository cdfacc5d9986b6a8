"""The parts of a Candidate's spec that the lifecycle decides on.

The controller parses the custom resource (pydantic, at the edge) into this frozen view.
``fingerprint`` covers everything except the manual controls, so flipping ``paused``,
``approve`` or ``abort`` is not mistaken for a new rollout (all three bump the
generation, as any spec edit does).
"""

from __future__ import annotations

from dataclasses import dataclass

from shadowgate.core.lifecycle.phases import InconclusiveAction, Promotion


@dataclass(frozen=True)
class LifecycleSpec:
    fingerprint: str
    canary_steps: tuple[int, ...] = (10, 50)
    step_min_duration_s: float = 60.0
    step_min_samples: int = 0
    evaluation_enabled: bool = False
    shadow_enabled: bool = True
    shadow_duration_s: float = 60.0
    shadow_min_requests: int = 0
    mirror_percent: int = 100
    analysis_interval_s: float = 30.0
    deploy_timeout_s: float = 300.0
    promote_timeout_s: float = 300.0
    failure_limit: int = 1
    inconclusive_action: InconclusiveAction = InconclusiveAction.HOLD
    inconclusive_limit: int = 10
    promotion: Promotion = Promotion.AUTO
    paused: bool = False
    approve: bool = False
    abort: bool = False

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
        if not 0 <= self.mirror_percent <= 100:
            raise ValueError("mirror_percent must be in [0, 100]")
