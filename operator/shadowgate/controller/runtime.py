"""What a reconcile needs from the outside world, built once at start-up and passed in.

``Runtime`` holds the Kubernetes helpers, the analyzer, the sample counter, metrics, the
model-server flags, the clock and the Event sink; ``Subject`` is one Candidate being
reconciled. Unit tests build a ``Runtime`` from plain fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shadowgate.controller.analysis import Analyzer
from shadowgate.controller.candidate import CandidateSpec
from shadowgate.controller.metrics import Metrics
from shadowgate.controller.samples import SampleCounter
from shadowgate.controller.workload import Flags, workload_name
from shadowgate.core.lifecycle import spec as defaults
from shadowgate.core.lifecycle.spec import LifecycleSpec
from shadowgate.kube.base import ConfigMaps, CustomObjects, Deployments, Services
from shadowgate.traffic.base import RouteTarget, TrafficProvider
from shadowgate.traffic.factory import provider_for

# (object body, "Normal" | "Warning", reason, message)
EventSink = Callable[[dict[str, Any], str, str, str], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Runtime:
    deployments: Deployments
    services: Services
    configmaps: ConfigMaps
    objects: CustomObjects
    analyzer: Analyzer
    samples: SampleCounter | None
    metrics: Metrics
    events: EventSink
    flags: Flags = field(default_factory=Flags)
    clock: Callable[[], datetime] = _utcnow
    # Watch-cached readers for observing (None: read directly). Writes always go direct.
    cached_deployments: Deployments | None = None
    cached_configmaps: ConfigMaps | None = None

    def traffic(self, provider: str) -> TrafficProvider:
        return provider_for(provider, self.configmaps, self.objects)

    def observing_traffic(self, provider: str) -> TrafficProvider:
        """A provider for existence checks, reading through the cache."""
        return provider_for(provider, self.cached_configmaps or self.configmaps, self.objects)

    @property
    def reader(self) -> Deployments:
        return self.cached_deployments or self.deployments


@dataclass(frozen=True)
class Subject:
    """The Candidate being reconciled: its spec parsed once (``candidate.admit``), as the
    controller's typed ``spec`` and the core's ``lifecycle``."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: CandidateSpec
    body: dict[str, Any]
    lifecycle: LifecycleSpec
    # Why the gates cannot be evaluated (naming gate and field); "" when they can.
    gate_error: str = ""

    @property
    def workload(self) -> str:
        return workload_name(self.name)

    def route_target(self) -> RouteTarget:
        target = self.spec.target
        return RouteTarget(
            namespace=self.namespace,
            route=target.route,
            primary_service=target.production_service,
            candidate_service=self.workload,
            sticky_key=self.spec.canary.sticky_key if self.spec.canary else defaults.STICKY_KEY,
            salt=self.name,
        )
