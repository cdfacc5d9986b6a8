"""Start-up settings (from the environment) and the real ``Runtime`` built from them."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import kopf

from shadowgate.controller import metrics
from shadowgate.controller.analysis import EngineAnalyzer
from shadowgate.controller.runtime import Runtime
from shadowgate.controller.samples import PrometheusSamples
from shadowgate.controller.workload import Flags
from shadowgate.core.gates import specs
from shadowgate.kube import client as kube
from shadowgate.sources import evaluation
from shadowgate.sources.prometheus import PrometheusSource
from shadowgate.sources.router_versions import PrometheusRouterVersions, RouterVersions


@dataclass(frozen=True)
class Settings:
    tick_s: float = 2.0
    metrics_port: int = 8090
    metrics_host: str = "127.0.0.1"
    prometheus_url: str = ""
    archive_flag: str = "--archive"
    handler_flag: str = "--handler"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        try:
            return cls(
                tick_s=float(env.get("SHADOWGATE_TICK_SECONDS", "2")),
                metrics_port=int(env.get("SHADOWGATE_METRICS_PORT", "8090")),
                metrics_host=env.get("SHADOWGATE_METRICS_HOST", "127.0.0.1"),
                prometheus_url=env.get("SHADOWGATE_PROMETHEUS_URL", ""),
                archive_flag=env.get("SHADOWGATE_ARCHIVE_FLAG", "--archive"),
                handler_flag=env.get("SHADOWGATE_HANDLER_FLAG", "--handler"),
            )
        except ValueError as exc:
            raise SystemExit(f"shadowgate operator: bad setting: {exc}") from exc


def tune(settings: kopf.OperatorSettings) -> None:
    """kopf defaults are for minutes-long reconciles; the demo decides in seconds."""
    settings.persistence.finalizer = "shadowgate.dev/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="shadowgate.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="shadowgate.dev", key="last-handled-configuration"
    )
    settings.watching.reconnect_backoff = 1.0
    settings.watching.server_timeout = 60
    settings.watching.client_timeout = 90
    # Fast first retries, but long enough in total (~85 s) to ride out an API-server restart:
    # while RBAC re-initialises, watches get 403/429 for several seconds, and a watcher that
    # exhausts its retries stops for good.
    settings.networking.error_backoffs = (0.5, 1, 1, 2, 3, 5, 8, 13, 21, 30)
    settings.networking.request_timeout = 30
    # Handlers are sync and spend their time waiting on the API server, not on the CPU.
    settings.execution.max_workers = 20
    settings.posting.level = 20  # INFO: our Events, not kopf's handler chatter


class LazyRuntime:
    """Builds the Runtime on first use (after kopf has started), once."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._runtime: Runtime | None = None

    def get(self) -> Runtime:
        with self._lock:
            if self._runtime is None:
                self._runtime = build(self._settings)
            return self._runtime

    def serve_metrics(self) -> None:
        metrics.serve(self.get().metrics, self._settings.metrics_port, self._settings.metrics_host)


def _post_event(body: dict[str, Any], kind: str, reason: str, message: str) -> None:
    kopf.event(cast(kopf.Body, body), type=kind, reason=reason, message=message[:1000])


def build(settings: Settings) -> Runtime:
    api = kube.connect(pool_size=32)
    sources: dict[specs.Source, Any] = {}
    samples = None
    router_versions: Callable[[], RouterVersions] | None = None
    if settings.prometheus_url:
        samples = PrometheusSamples(settings.prometheus_url)
        sources[specs.Source.PROMETHEUS] = functools.partial(PrometheusSource, settings.prometheus_url)
        # The rollback gate's router check reads the routers' applied table versions here.
        router_versions = functools.partial(PrometheusRouterVersions, settings.prometheus_url)
    # Golden-set results are cached for the operator's lifetime: each Pod is evaluated once.
    cache = evaluation.ResultsCache()
    sources[specs.Source.EVALUATION] = lambda: evaluation.EvaluationSource(
        evaluation.KubernetesResolver(api), cache=cache
    )
    return Runtime(
        deployments=kube.ClientDeployments(api),
        services=kube.ClientServices(api),
        configmaps=kube.ClientConfigMaps(api),
        objects=kube.ClientCustomObjects(api),
        analyzer=EngineAnalyzer(sources, router_versions),
        samples=samples,
        metrics=metrics.Metrics(),
        events=_post_event,
        flags=Flags(archive=settings.archive_flag, handler=settings.handler_flag),
    )
