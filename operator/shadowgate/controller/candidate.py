"""A Candidate's spec at the edge: parsed once per reconcile into what every layer uses.

The CRD's schema already rejected malformed manifests with field messages; ``admit`` turns the
admitted dict into typed values (pydantic, ``CandidateSpec``) and the lifecycle's frozen view
(``LifecycleSpec``: durations in seconds, gates parsed by ``core.gates.parsing``). Defaults come
from ``core.lifecycle.spec`` only. A resource that still fails here (written while the CRD was
older, say) ends in Failed/InvalidSpec with the message rather than crashing a reconcile.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shadowgate.core.gates import parsing
from shadowgate.core.gates.specs import GateSpec, GateSpecError
from shadowgate.core.lifecycle import spec as defaults
from shadowgate.core.lifecycle.phases import InconclusiveAction, Promotion
from shadowgate.core.lifecycle.spec import LifecycleSpec, seconds

__all__ = ["Admitted", "CandidateSpec", "admit", "parse", "seconds"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Target(_Model):
    deployment: str
    route: str
    service: str | None = None
    provider: Literal["router", "gateway"] = defaults.PROVIDER

    @property
    def production_service(self) -> str:
        return self.service or self.deployment


class Model(_Model):
    archive_uri: str = Field(alias="archiveUri")
    version: str
    handler: str | None = None
    replicas: int = Field(default=defaults.REPLICAS, ge=1, le=50)
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
    mirror_percent: int = Field(default=defaults.MIRROR_PERCENT, alias="mirrorPercent", ge=1, le=100)


class Canary(_Model):
    steps: list[int]
    step_duration: str = Field(default=defaults.STEP_DURATION, alias="stepDuration")
    min_samples: int = Field(default=defaults.STEP_MIN_SAMPLES, alias="minSamples", ge=0)
    sticky_key: str = Field(default=defaults.STICKY_KEY, alias="stickyKey")


class Analysis(_Model):
    interval: str = defaults.ANALYSIS_INTERVAL


class Inconclusive(_Model):
    action: InconclusiveAction = defaults.INCONCLUSIVE_ACTION
    limit: int = Field(default=defaults.INCONCLUSIVE_LIMIT, ge=1, le=1000)


class Policy(_Model):
    failure_limit: int = Field(default=defaults.FAILURE_LIMIT, alias="failureLimit", ge=1, le=100)
    query_error_limit: int | None = Field(default=None, alias="queryErrorLimit", ge=1, le=1000)
    inconclusive: Inconclusive = Inconclusive()
    promotion: Promotion = defaults.PROMOTION
    deploy_timeout: str = Field(default=defaults.DEPLOY_TIMEOUT, alias="deployTimeout")
    promote_timeout: str = Field(default=defaults.PROMOTE_TIMEOUT, alias="promoteTimeout")


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

    def lifecycle(self, gates: tuple[GateSpec, ...] = ()) -> LifecycleSpec:
        """The frozen view; ``gates`` are the parsed ``spec.gates`` (``admit`` parses them)."""
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
            mirror_percent=shadow.mirror_percent if shadow else defaults.MIRROR_PERCENT,
            analysis_interval_s=seconds(self.analysis.interval),
            deploy_timeout_s=seconds(self.policy.deploy_timeout),
            promote_timeout_s=seconds(self.policy.promote_timeout),
            failure_limit=self.policy.failure_limit,
            inconclusive_action=self.policy.inconclusive.action,
            inconclusive_limit=self.policy.inconclusive.limit,
            query_error_limit=self.policy.query_error_limit,
            promotion=self.policy.promotion,
            paused=self.paused,
            approve=self.approve,
            abort=self.abort,
            gates=gates,
        )


@dataclass(frozen=True)
class Admitted:
    """One Candidate's spec, parsed once: ``spec`` for the controller's own work (target,
    model, routing), ``lifecycle`` for the core. ``gate_error`` names the gate and field of
    gates the operator cannot evaluate (the Candidate then fails with InvalidSpec, but it can
    still be cleaned up, so it is not an exception); ``lifecycle.gates`` is empty then."""

    spec: CandidateSpec
    lifecycle: LifecycleSpec
    gate_error: str = ""


def admit(raw: dict[str, Any]) -> Admitted:
    """Parse and cross-check; raises ``ValueError`` (pydantic's included) naming the field."""
    spec = CandidateSpec.model_validate(dict(raw))
    try:
        gates, error = tuple(parsing.parse_gates(dict(spec.gates) if spec.gates else None)), ""
    except GateSpecError as exc:
        gates, error = (), str(exc)
    return Admitted(spec, spec.lifecycle(gates), error)


def parse(raw: dict[str, Any]) -> CandidateSpec:
    """``admit(raw).spec``: the typed spec alone."""
    return admit(raw).spec
