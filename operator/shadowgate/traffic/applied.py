"""Whether the data plane has APPLIED the routing the operator wrote (pure).

Writing weight 0 is not the same as serving weight 0: the router (or the Gateway) applies a
route some time after the write, or never, if it is stopped or cut off from the API server. The
rollback gate's ``router-accepts-zero-weight`` check therefore asks for proof: the version the
route's source holds now (the router table's ``version``, the HTTPRoute's ``generation``, both at
least what the operator last wrote) and each data-plane replica's report of the version it
applies. ``decide`` passes only when at least one replica reports and every one applies that
version or a later one; anything less is "not shown yet" (None), which the gate turns into
Inconclusive, never into Pass and never into a decisive Fail that would roll the Candidate back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Report:
    """One data-plane replica's answer: the route version it applies (None: none it can name)."""

    replica: str
    version: int | None


@dataclass(frozen=True)
class RouteEvidence:
    """What the traffic provider can say about a route's applied state.

    ``written``: the version the route's source holds now, None when it has none.
    ``reports``: the replicas' answers when the provider can read them itself (a Gateway's
    ``status.parents``); None when they live in the data plane's metrics (the built-in router's
    ``shadowgate_router_table_version``), which the analysis reads from Prometheus.
    ``missing``: why there is no evidence at all (the route is gone, the read failed).
    """

    written: int | None
    reports: tuple[Report, ...] | None = None
    missing: str = ""


def decide(written: int | None, reports: Sequence[Report]) -> tuple[bool | None, str]:
    """(True, why) when every reporting replica applies ``written`` or later; else (None, why not)."""
    if written is None:
        return None, "the route's written version is unknown"
    if not reports:
        return None, f"no data-plane replica reports the route (written version {written})"
    behind = [r for r in reports if r.version is None or r.version < written]
    if behind:
        shown = ", ".join(f"{r.replica}={'none' if r.version is None else r.version}" for r in behind)
        return None, f"{len(behind)} of {len(reports)} replicas behind written version {written}: {shown}"
    return True, f"{len(reports)} replicas apply version {written} or later"
