"""Picks the traffic provider a Candidate asks for (``spec.target.provider``)."""

from __future__ import annotations

from shadowgate.kube.base import ConfigMaps, CustomObjects
from shadowgate.traffic.base import TrafficProvider
from shadowgate.traffic.httproute import HTTPRouteProvider
from shadowgate.traffic.router_table import RouterTableProvider


def provider_for(name: str, configmaps: ConfigMaps, objects: CustomObjects) -> TrafficProvider:
    if name == "router":
        return RouterTableProvider(configmaps)
    if name == "gateway":
        return HTTPRouteProvider(objects)
    raise ValueError(f"unknown traffic provider {name!r}: expected router or gateway")
