"""The demo's settings: where things live and the timings that let gates decide in minutes.

Production settings differ (docs/walkthrough.md): analysis every 30 s, steps of 10-30 minutes
and thousands of decided impressions per step. The demo shortens the clocks and the sample
floors only; the statistics (the mSPRT's alpha, the latency ratios) stay the preset's.
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass, field
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"


def default_state_dir() -> pathlib.Path:
    env = os.environ.get("SHADOWGATE_DEMO_STATE_DIR")
    return pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "shadowgate" / "demo-stack"


def default_models_dir() -> pathlib.Path:
    env = os.environ.get("SHADOWGATE_MODELS_DIR")
    return pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "shadowgate" / "models"


@dataclass(frozen=True)
class Timings:
    """Spec values the demo writes over the examples' production-like ones."""

    # The examples' own interval: shorter windows made the cost gate (CPU per request, no
    # sample floor) judge a just-started candidate on 2 s of data, including its warm-up.
    analysis_interval_s: int = 5
    shadow_duration_s: int = 15
    shadow_min_requests: int = 100
    canary_steps: tuple[int, ...] = (25, 50)
    step_duration_s: int = 15
    step_min_samples: int = 80
    # The no-click gate's own floor (the preset's is 500 decided impressions per arm).
    quality_min_samples: int = 150
    # The latency gate's absolute p95/p99 ceilings are a production SLO (0.25 s / 0.5 s on
    # dedicated nodes). On this shared 2-core machine production itself runs at p95 1-1.9 s, so
    # an absolute ceiling only measures the neighbours: the demo sets it out of reach, and the
    # candidate-versus-primary ratios (1.2x p95, 1.3x p99) decide.
    latency_p95_max_s: float = 10.0
    # The cost gate (CPU-seconds per 1,000 requests versus primary) cannot be measured here: an
    # idle model server burns ~0.2 cores on this shared machine, so CPU per request is mostly
    # overhead divided by the arm's traffic share (a 25 % canary looks ~3x as costly), and
    # production's own value swings 12.6-21.9 ms between consecutive 10 s windows. The demo
    # leaves it out rather than loosen it; docs/walkthrough.md explains.
    disabled_gates: tuple[str, ...] = ("cost",)
    # Latency compares a young candidate with a long-running production server on a machine
    # whose load average is 10-20. The gate fails only when the candidate is shown slower
    # (confidence bounds on both arms), and here three such analyses in a row are needed.
    latency_failure_limit: int = 3

    def spec_overrides(self) -> dict[str, Any]:
        return {
            "analysis": {"interval": f"{self.analysis_interval_s}s"},
            "shadow": {"duration": f"{self.shadow_duration_s}s", "minRequests": self.shadow_min_requests},
            "canary": {
                "steps": list(self.canary_steps),
                "stepDuration": f"{self.step_duration_s}s",
                "minSamples": self.step_min_samples,
            },
            "gates": {
                "disable": list(self.disabled_gates),
                "overrides": {
                    "user-visible-quality": {"minSamples": self.quality_min_samples},
                    "latency": {
                        "failureLimit": self.latency_failure_limit,
                        # p99 of a few hundred requests is decided by two or three of them, and
                        # its upper bound needs 740 (docs/gates.md): over its limit, it would hold
                        # the short demo steps. The demo keeps p95; null deletes the preset's p99.
                        "quantiles": {
                            "p95": {"maxSeconds": self.latency_p95_max_s},
                            "p99": None,
                        },
                    },
                },
            },
        }


@dataclass(frozen=True)
class Settings:
    state_dir: pathlib.Path = field(default_factory=default_state_dir)
    models_dir: pathlib.Path = field(default_factory=default_models_dir)
    out_dir: pathlib.Path = ROOT / "artifacts" / "demo"
    namespace: str = "mangaassist"
    release: str = "shadowgate"
    route: str = "retriever"
    keep_up: bool = False
    # Delete the stack's state folder on the way down (the e2e test's own stack): containerd's
    # copy of the model-server image alone is about 9 GB. The demo keeps it for a warm re-run.
    purge: bool = False
    # Simulated users: requests per second through the router (open loop).
    rate: float = 15.0
    seed: int = 0
    # The router credits a no-click once an impression's attribution window passes.
    attribution_window_s: float = 3.0
    # A mirrored copy slower than this counts as failed and never reaches the candidate; the
    # router's 1 s default dropped half the copies on this loaded machine, which starved the
    # candidate of requests and doubled its CPU per request.
    mirror_timeout_s: float = 5.0
    operator_tick_s: float = 0.5
    # The chart's router Deployment for the route. One replica: the simulated users talk to one
    # router address (the local stack has no kube-proxy to spread a Service), and a click must
    # reach the router that served the impression it credits.
    router_replicas: int = 1
    # helm --wait for the operator and router Pods (kopf starts in 10-30 s on a loaded machine).
    chart_timeout_s: float = 300.0
    phase_timeout_s: float = 420.0
    timings: Timings = field(default_factory=Timings)
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def __post_init__(self) -> None:
        problems = []
        if not self.rate > 0:
            problems.append(f"rate must be > 0, got {self.rate}")
        if not self.attribution_window_s > 0:
            problems.append(f"attribution window must be > 0 s, got {self.attribution_window_s}")
        if not self.namespace or not self.namespace.replace("-", "").isalnum():
            problems.append(f"namespace must be a DNS label, got {self.namespace!r}")
        if problems:
            raise ValueError("; ".join(problems))
