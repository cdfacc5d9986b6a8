"""A Candidate's spec at the edge: pydantic parses what the API server admitted.

The CRD's schema already rejected malformed manifests with field messages; this model turns the
admitted dict into typed values (durations into seconds) and the lifecycle's frozen view. A
resource that still fails here (written while the CRD was older, say) ends in Failed/InvalidSpec
with the pydantic message rather than crashing a reconcile.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shadowgate.core.lifecycle.phases import InconclusiveAction, Promotion
from shadowgate.core.lifecycle.spec import LifecycleSpec

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(text: str) -> float:
    """A Go duration (``1m30s``, ``500ms``) in seconds."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r}: use a Go duration such as 30s, 2m or 1h30m")
    return sum(float(n) * _UNITS[u] for n, u in parts)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Target(_Model):
    deployment: str
    route: str
    service: str | None = None
    provider: Literal["router", "gateway"] = "router"

    @property
    def production_service(self) -> str:
        return self.service or self.deployment


class Model(_Model):
    archive_uri: str = Field(alias="archiveUri")
    version: str
    handler: str | None = None
    replicas: int = Field(default=1, ge=1)
    resources: dict[str, dict[str, Any]] | None = None


class Baseline(_Model):
    archive_uri: str | None = Field(default=None, alias="archiveUri")
    version: str | None = None


class GoldenSet(_Model):
    config_map: str = Field(alias="configMap")


class Evaluation(_Model):
    golden_set: GoldenSet = Field(alias="goldenSet")


class Shadow(_Model):
    duration: str | None = None
    min_requests: int | None = Field(default=None, alias="minRequests", ge=0)
    mirror_percent: int = Field(default=100, alias="mirrorPercent", ge=1, le=100)


class Canary(_Model):
    steps: list[int]
    step_duration: str = Field(default="60s", alias="stepDuration")
    min_samples: int = Field(default=0, alias="minSamples", ge=0)
    sticky_key: str = Field(default="X-User-Id", alias="stickyKey")


class Analysis(_Model):
    interval: str = "30s"


class Inconclusive(_Model):
    action: InconclusiveAction = InconclusiveAction.HOLD
    limit: int = Field(default=10, ge=1)


class Policy(_Model):
    failure_limit: int = Field(default=1, alias="failureLimit", ge=1)
    inconclusive: Inconclusive = Inconclusive()
    promotion: Promotion = Promotion.AUTO
    deploy_timeout: str = Field(default="5m", alias="deployTimeout")
    promote_timeout: str = Field(default="5m", alias="promoteTimeout")


class CandidateSpec(_Model):
    target: Target
    model: Model
    baseline: Baseline = Baseline()
    evaluation: Evaluation | None = None
    shadow: Shadow | None = None
    canary: Canary | None = None
    gates: dict[str, Any] = Field(default_factory=dict)
    analysis: Analysis = Analysis()
    policy: Policy = Policy()
    paused: bool = False
    approve: bool = False
    abort: bool = False

    @field_validator("analysis", "policy", "baseline", mode="before")
    @classmethod
    def _none_is_default(cls, value: Any) -> Any:
        return {} if value is None else value

    def fingerprint(self) -> str:
        """Hash of everything but the manual controls: a change restarts the analysis."""
        data = self.model_dump(mode="json", by_alias=True, exclude={"paused", "approve", "abort"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def lifecycle(self) -> LifecycleSpec:
        shadow, canary = self.shadow, self.canary
        return LifecycleSpec(
            fingerprint=self.fingerprint(),
            canary_steps=tuple(canary.steps) if canary else (),
            step_min_duration_s=seconds(canary.step_duration) if canary else 0.0,
            step_min_samples=canary.min_samples if canary else 0,
            evaluation_enabled=self.evaluation is not None,
            shadow_enabled=shadow is not None,
            shadow_duration_s=seconds(shadow.duration) if shadow and shadow.duration else 0.0,
            shadow_min_requests=(shadow.min_requests or 0) if shadow else 0,
            mirror_percent=shadow.mirror_percent if shadow else 100,
            analysis_interval_s=seconds(self.analysis.interval),
            deploy_timeout_s=seconds(self.policy.deploy_timeout),
            promote_timeout_s=seconds(self.policy.promote_timeout),
            failure_limit=self.policy.failure_limit,
            inconclusive_action=self.policy.inconclusive.action,
            inconclusive_limit=self.policy.inconclusive.limit,
            promotion=self.policy.promotion,
            paused=self.paused,
            approve=self.approve,
            abort=self.abort,
        )


def parse(spec: dict[str, Any]) -> CandidateSpec:
    """Parse and cross-check; raises ``ValueError`` (pydantic's included) naming the field."""
    parsed = CandidateSpec.model_validate(dict(spec))
    parsed.lifecycle()  # durations and step order
    return parsed
