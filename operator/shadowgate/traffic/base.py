"""The one interface every traffic provider implements, and the values it speaks in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shadowgate.core.lifecycle import spec as defaults
from shadowgate.traffic.applied import RouteEvidence


class RouteNotFound(LookupError):
    """The production route does not exist: the target is missing, production is left alone."""


@dataclass(frozen=True)
class RouteTarget:
    """Which route to steer, between which backends."""

    namespace: str
    route: str
    primary_service: str
    candidate_service: str
    port: int = 8080
    sticky_key: str = defaults.STICKY_KEY
    # Mixed into the router's sticky hash, so each rollout draws a fresh user population.
    salt: str = ""


@dataclass(frozen=True)
class Routes:
    primary_weight: int
    canary_weight: int
    mirror_percent: int

    @classmethod
    def production(cls) -> Routes:
        return cls(primary_weight=100, canary_weight=0, mirror_percent=0)


class TrafficProvider(Protocol):
    """Each method is idempotent; a call that changes nothing writes nothing."""

    def reconcile(self, target: RouteTarget) -> None:
        """Check the route exists and can be steered; raise ``RouteNotFound`` if not."""
        ...

    def set_routes(self, target: RouteTarget, routes: Routes) -> None:
        """Send ``canary_weight`` % of traffic to the candidate and mirror ``mirror_percent`` %."""
        ...

    def get_routes(self, target: RouteTarget) -> Routes: ...

    def applied(self, target: RouteTarget) -> RouteEvidence:
        """The route's written version and, where the provider can read them, the data plane's
        reports of what it applies (``applied.decide`` judges them); raise ``RouteNotFound``."""
        ...

    def stickiness(self, target: RouteTarget) -> str:
        """Empty when a canary split is sticky by ``target.sticky_key`` (or there is no split);
        else, for the Candidate's Event, why users may switch variants between requests."""
        ...

    def finalize(self, target: RouteTarget) -> None:
        """Production routing: 100 % primary, no candidate backend, no mirror. A missing route is fine."""
        ...
