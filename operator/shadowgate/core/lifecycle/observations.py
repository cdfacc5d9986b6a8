"""What one reconcile saw, and the actions it may ask the controller to apply."""

from __future__ import annotations

from dataclasses import dataclass

from shadowgate.core.lifecycle.production import Template
from shadowgate.core.lifecycle.spec import LifecycleSpec
from shadowgate.core.verdicts import GateResult


@dataclass(frozen=True)
class Workload:
    """The candidate's model-server Deployment as the controller found it."""

    exists: bool = False
    available: bool = False
    # Set when Kubernetes already says it will not become ready (ProgressDeadlineExceeded).
    failure: str = ""


@dataclass(frozen=True)
class Observations:
    spec: LifecycleSpec
    generation: int
    # A spec the API server admitted but the operator cannot run (e.g. gates that cannot be
    # evaluated): the Candidate fails with InvalidSpec and this message, naming the field.
    spec_error: str = ""
    target_found: bool = True
    target_reason: str = "TargetNotFound"
    target_message: str = ""
    # Candidates for the same target created before this one that still hold or wait for it.
    queue_ahead: int = 0
    candidate: Workload = Workload()
    # The production Deployment serves the candidate's model and that rollout is Available.
    production_promoted: bool = False
    # Production's promoted fields as they are now, and what a promotion of this candidate
    # would write over them (both recorded in status when the promotion starts).
    production: Template | None = None
    production_promotion: Template | None = None
    # In Promoting: why production's rollout is not Available (evidence for a timeout).
    production_rollout: str = ""
    # None when no analysis ran this reconcile (not due, or not an analysing phase).
    # An empty tuple means the phase has no gates.
    gates: tuple[GateResult, ...] | None = None
    # Shadow: mirrored requests since the phase began; Canary: decided samples in the step.
    samples: int | None = None


# Actions. Each is idempotent: applying it twice has the effect of applying it once.


@dataclass(frozen=True)
class EnsureWorkload:
    """Create or update the candidate's Deployment and Service."""


@dataclass(frozen=True)
class DeleteWorkload:
    """Remove the candidate's Deployment and Service (gone already is fine)."""


@dataclass(frozen=True)
class SetRoutes:
    primary_weight: int
    canary_weight: int
    mirror_percent: int


@dataclass(frozen=True)
class RestoreRoutes:
    """Production routing: 100 % primary, no candidate backend, no mirror."""


@dataclass(frozen=True)
class PromoteProduction:
    """Point the production Deployment at the candidate's model (archive and version):
    write ``template`` when given, else derive it from production as it is now."""

    template: Template | None = None


@dataclass(frozen=True)
class RevertProduction:
    """Write back what production served before the promotion."""

    template: Template


@dataclass(frozen=True)
class EmitEvent:
    reason: str
    message: str
    warning: bool = False


@dataclass(frozen=True)
class RecordRollback:
    """Traffic is back at weight 0 after a decisive failure observed at ``failed_at``."""

    failed_at: str


Action = (
    EnsureWorkload
    | DeleteWorkload
    | SetRoutes
    | RestoreRoutes
    | PromoteProduction
    | RevertProduction
    | EmitEvent
    | RecordRollback
)
