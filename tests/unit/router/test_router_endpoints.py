"""Service -> ready Pod resolution (pure parts of the Kubernetes source) and round-robin."""

from __future__ import annotations

from types import SimpleNamespace as NS
from typing import Any

import pytest

from router.backends import ServiceInfo, service_info
from router.backends_pods import PodInfo, endpoints_for, pod_info
from router.endpoints import Endpoints
from router.table import ServiceBackend, UrlBackend

B = ServiceBackend("ns", "retr", 8080)


def kpod(
    ip: str | None = "127.1.0.5",
    ready: str = "True",
    phase: str = "Running",
    deleting: bool = False,
    labels: dict[str, str] | None = None,
    ports: list[Any] | None = None,
) -> Any:
    return NS(
        metadata=NS(labels=labels if labels is not None else {"app": "retr"},
                    deletion_timestamp="now" if deleting else None),
        spec=NS(containers=[NS(ports=ports or [NS(name="http", container_port=9000)])]),
        status=NS(pod_ip=ip, phase=phase, conditions=[NS(type="Ready", status=ready)]),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("pod", "ready"),
    [
        pytest.param(kpod(), True, id="ready"),
        pytest.param(kpod(ready="False"), False, id="not-ready"),
        pytest.param(kpod(ip=None), False, id="no-ip"),
        pytest.param(kpod(deleting=True), False, id="terminating"),
        pytest.param(kpod(phase="Failed"), False, id="failed"),
    ],
)
def test_pod_readiness(pod: Any, ready: bool) -> None:
    assert pod_info(pod).ready is ready


def svc(target: int | str, selector: dict[str, str] | None = None) -> ServiceInfo:
    spec = NS(
        selector={"app": "retr"} if selector is None else selector,
        ports=[NS(name="http", port=8080, target_port=target)],
    )
    return service_info(NS(spec=spec))


@pytest.mark.parametrize(
    ("service", "pods", "expected"),
    [
        pytest.param(svc(8081), {"a": pod_info(kpod())}, (("127.1.0.5", 8081),), id="int-target-port"),
        pytest.param(svc("http"), {"a": pod_info(kpod())}, (("127.1.0.5", 9000),), id="named-target-port"),
        pytest.param(svc("grpc"), {"a": pod_info(kpod())}, (), id="named-port-missing"),
        pytest.param(svc(8081), {"a": pod_info(kpod(labels={"app": "other"}))}, (), id="selector-mismatch"),
        pytest.param(svc(8081, selector={}), {"a": pod_info(kpod())}, (), id="no-selector"),
        pytest.param(svc(8081), {"a": pod_info(kpod(ready="False"))}, (), id="not-ready"),
        pytest.param(None, {"a": pod_info(kpod())}, (), id="no-service"),
    ],
)
def test_endpoints_for(
    service: ServiceInfo | None, pods: dict[str, PodInfo], expected: tuple[Any, ...]
) -> None:
    assert endpoints_for(B, service, pods) == expected


def test_round_robin_and_replace() -> None:
    e = Endpoints()
    assert e.resolve(B) is None
    assert e.resolve(UrlBackend("127.0.0.1", 80, "")) == ("127.0.0.1", 80)
    e.replace({B: (("127.1.0.6", 1), ("127.1.0.5", 1))})
    picks = [e.resolve(B) for _ in range(4)]
    assert picks == [("127.1.0.5", 1), ("127.1.0.6", 1)] * 2
    e.replace({B: ()})
    assert e.resolve(B) is None
