"""The main job, step by step (issue 9). ``Demo`` exposes each step so the e2e test can add
faults between them; ``run`` is the whole scenario as ``shadowgate demo`` runs it.

1. platform (stack, archives, the chart with its operator and router Deployments, golden set);
2. production (baseline retriever, its Service and route table) and simulated users;
3. the good Candidate -> Promoted; 4. the degraded one -> RolledBack;
5. summary table and rollout reports; 6. stack down unless ``keep_up``.
"""

from __future__ import annotations

import contextlib
import pathlib
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

from kubernetes import client

from shadowgate.demo import manifests
from shadowgate.demo.platform import Platform
from shadowgate.demo.settings import Settings, Timings
from shadowgate.demo.traffic import Traffic, TrafficTotals
from shadowgate.demo.watch import CandidateWatch, RouteSample, Transition, gate_evidence

Progress = Callable[[str], None]
Tick = Callable[[CandidateWatch], None]
TERMINAL = {"Promoted", "RolledBack", "Failed", "Aborted"}


@dataclass(frozen=True)
class CandidateResult:
    name: str
    phase: str
    reason: str
    message: str
    history: tuple[str, ...]
    status: dict[str, Any]
    samples: tuple[RouteSample, ...]
    transitions: tuple[Transition, ...]
    wall_s: float
    # Decisive failing analysis (status.failedAt) -> first poll that saw canary weight 0.
    rollback_s: float | None = None

    @property
    def deciding_gates(self) -> list[dict[str, Any]]:
        wanted = "Fail" if self.phase == "RolledBack" else "Pass"
        return [g for g in self.status.get("gates") or [] if g.get("verdict") == wanted]


@dataclass(frozen=True)
class DemoResult:
    candidates: tuple[CandidateResult, ...]
    traffic: TrafficTotals
    production_archive: str
    reports: tuple[pathlib.Path, ...]
    wall_s: float
    summary: str
    dashboard_missing: tuple[str, ...] = field(default_factory=tuple)


def _ts(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Demo:
    def __init__(self, settings: Settings, progress: Progress = print) -> None:
        self.settings = settings
        self.progress = progress
        self.platform = Platform(settings, progress)
        self.traffic: Traffic | None = None
        self.started = time.monotonic()
        self.results: list[CandidateResult] = []

    def __enter__(self) -> Demo:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def step(self, text: str) -> None:
        self.progress(f"== {text} ({time.monotonic() - self.started:.0f}s)")

    # --- 1 and 2 -------------------------------------------------------------------------
    def platform_up(self) -> None:
        self.step("1. platform: local stack, model archives, chart (operator + router Pods), golden set")
        self.platform.up()

    def production_up(self) -> None:
        self.step("2. production: baseline retriever, its route, simulated users")
        assert self.platform.archives is not None
        docs = self.production_docs()
        rendered = self.platform.work / "production.yaml"
        rendered.write_text(manifests.dump(docs))
        self.platform.kubectl("apply", "-n", self.settings.namespace, "-f", str(rendered))
        self.wait_production_available(timeout_s=180)
        self.progress(f"production retriever Available, serving {self.production_archive()}")
        self.traffic = Traffic(
            self.platform.router_url, self.settings.route, self.settings.rate, self.settings.seed
        )
        self.wait_route_ready()
        self.traffic.start()
        self.progress(
            f"simulated users: {self.settings.rate:g} req/s through "
            f"{self.platform.router_url}/r/{self.settings.route}"
        )

    def production_docs(self) -> list[dict[str, Any]]:
        p = self.platform
        assert p.archives is not None and p.models_on_node is not None
        return manifests.production(p.archives, p.model_server_image, p.models_on_node)

    def wait_production_available(self, timeout_s: float) -> None:
        apps = client.AppsV1Api(self.platform.kube())
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            dep: Any = apps.read_namespaced_deployment("retriever", self.settings.namespace)
            st = dep.status
            if (
                (st.available_replicas or 0) >= 1
                and (st.updated_replicas or 0) >= 1
                and (st.observed_generation or 0) >= (dep.metadata.generation or 0)
            ):
                return
            time.sleep(0.5)
        raise TimeoutError(f"production retriever not Available after {timeout_s:.0f} s")

    def wait_route_ready(self, timeout_s: float = 60.0) -> None:
        """The router has the route and a ready primary endpoint (one request answers 200)."""
        import httpx

        url = f"{self.platform.router_url}/r/{self.settings.route}/predictions/retriever"
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                resp = httpx.post(url, json={"query": "healing slice of life manga", "k": 3}, timeout=10)
                if resp.status_code == 200:
                    return
                last = f"{resp.status_code} {resp.text[:200]}"
            time.sleep(0.5)
        raise TimeoutError(f"route {self.settings.route} not serving through the router: {last}")

    def production_archive(self) -> str:
        apps = client.AppsV1Api(self.platform.kube())
        dep: Any = apps.read_namespaced_deployment("retriever", self.settings.namespace)
        container = dep.spec.template.spec.containers[0]
        args = list(container.args or [])
        return args[args.index("--model") + 1] if "--model" in args else ""

    # --- 3 and 4 -------------------------------------------------------------------------
    def run_candidate(
        self,
        example: pathlib.Path,
        on_tick: Tick | None = None,
        name: str | None = None,
        timings: Timings | None = None,
        without: tuple[str, ...] = (),
    ) -> CandidateResult:
        """Apply ``example`` (rendered for the local stack) and follow it to a final phase.
        ``name``, ``timings`` and ``without`` (spec sections to leave out, e.g. ``evaluation``
        or ``shadow``, which removes that phase) are for the e2e test's fault-injection runs;
        ``on_tick`` runs every poll with the watch."""
        assert self.platform.archives is not None
        archive = self.platform.archives[manifests.CANDIDATE_ARCHIVES[example.name]]
        doc = manifests.candidate(example, archive, timings or self.settings.timings)
        if name:
            doc["metadata"]["name"] = name
        for section in without:
            doc["spec"].pop(section, None)
        name = str(doc["metadata"]["name"])
        rendered = self.platform.work / f"{name}.yaml"
        rendered.write_text(manifests.dump([doc]))
        self.step(f"kubectl apply -f {example.relative_to(manifests.EXAMPLES.parent)} ({name})")
        self._delete_old(name)
        watch = CandidateWatch(
            self.platform.kube(), self.settings.namespace, name, self.settings.route, self.progress
        )
        watch.start()
        began = time.monotonic()
        self.platform.kubectl("apply", "-n", self.settings.namespace, "-f", str(rendered))
        try:
            deadline = time.monotonic() + self.settings.phase_timeout_s
            while True:
                status = dict(watch.status)
                if status.get("phase") in TERMINAL:
                    break
                if watch.gone:
                    raise RuntimeError(f"Candidate {name} was deleted while it was being followed")
                if time.monotonic() > deadline:
                    watch.wait_for(TERMINAL, 0)  # raises with the current state
                if on_tick is not None:
                    on_tick(watch)
                time.sleep(watch.every_s)
        finally:
            watch.stop()
        status = dict(watch.status)
        result = CandidateResult(
            name=name,
            phase=str(status.get("phase")),
            reason=str(status.get("reason", "")),
            message=str(status.get("message", "")),
            history=tuple(h["to"] for h in status.get("history") or []),
            status=status,
            samples=tuple(watch.samples),
            transitions=tuple(watch.transitions),
            wall_s=time.monotonic() - began,
            rollback_s=_rollback_seconds(status, watch.samples),
        )
        self.results.append(result)
        if result.rollback_s is not None:
            self.progress(
                f"{name}: canary weight 0 observed {result.rollback_s:.2f} s after the decisive analysis "
                f"(status.failedAt {status.get('failedAt')})"
            )
        self.progress(
            f"{name}: {result.phase} ({result.reason}) after {result.wall_s:.0f} s; "
            f"production serves {self.production_archive()}"
        )
        return result

    def _delete_old(self, name: str, timeout_s: float = 180.0) -> None:
        """A second run re-applies the same Candidate; a finished one would not start again.
        Deletion waits for the operator's finalizer (it restores routing first)."""
        objects = client.CustomObjectsApi(self.platform.kube())
        args = ("shadowgate.dev", "v1alpha1", self.settings.namespace, "candidates", name)
        try:
            objects.delete_namespaced_custom_object(*args)
        except client.ApiException as err:
            if err.status == 404:
                return
            raise
        self.progress(f"deleting the previous {name} (waiting for the operator's finalizer)")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                objects.get_namespaced_custom_object(*args)
            except client.ApiException as err:
                if err.status == 404:
                    return
                raise
            time.sleep(0.5)
        raise TimeoutError(f"the previous Candidate {name} was not deleted within {timeout_s:.0f} s")

    def reset_production(self) -> None:
        """Back to the baseline archive, so a warm re-run starts where a fresh one does."""
        assert self.platform.archives is not None
        baseline = manifests.archive_uri(self.platform.archives["retriever-baseline"])
        if self.production_archive() != baseline:
            self.progress(f"resetting production to the baseline ({baseline})")
            docs = self.production_docs()
            rendered = self.platform.work / "production.yaml"
            rendered.write_text(manifests.dump(docs))
            self.platform.kubectl("apply", "-n", self.settings.namespace, "-f", str(rendered))
            self.wait_production_available(timeout_s=180)

    # --- 5 -------------------------------------------------------------------------------
    def reports(self) -> list[pathlib.Path]:
        out = self.settings.out_dir
        out.mkdir(parents=True, exist_ok=True)
        stack = self.platform.the_stack()
        made: list[pathlib.Path] = []
        for result in self.results:
            res = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "shadowgate",
                    "report",
                    result.name,
                    "-n",
                    self.settings.namespace,
                    "--prometheus",
                    stack.prometheus_url,
                    "--kubeconfig",
                    stack.kubeconfig,
                    "--out",
                    str(out),
                ],
                capture_output=True,
                text=True,
                check=False,
                timeout=180,
            )
            if res.returncode != 0:
                self.progress(f"report for {result.name} failed: {res.stderr.strip()[-500:]}")
                continue
            made += sorted(out.glob(f"{self.settings.namespace}-{result.name}.*"))
        for path in made:
            self.progress(f"report: {path}")
        return made

    def summary(self) -> str:
        rows = [("CANDIDATE", "PHASE", "REASON", "PATH", "DECIDING GATES", "WALL")]
        for r in self.results:
            gates = gate_evidence({"gates": r.deciding_gates}) or "-"
            rows.append((r.name, r.phase, r.reason, " > ".join(r.history), gates, f"{r.wall_s:.0f}s"))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 2)]
        lines = []
        for row in rows:
            head = "  ".join(cell.ljust(w) for cell, w in zip(row[:-2], widths, strict=False))
            lines.append(f"{head}  {row[-1]:>5}  {row[-2]}")
        if self.traffic is not None:
            t = self.traffic.totals()
            by = "  ".join(
                f"{v}: {t.impressions.get(v, 0)} shown, no-click {t.no_click_rate(v):.3f}"
                for v in sorted(t.impressions)
                if t.no_click_rate(v) is not None
            )
            lines.append(f"users: {t.requests} requests, {t.failed} failed {t.failures or ''}; {by}")
        return "\n".join(lines)

    def close(self) -> None:
        if self.traffic is not None:
            self.traffic.stop()
        self.step("6. shutting down" + (" (stack kept up: --keep-up)" if self.settings.keep_up else ""))
        self.platform.down()


def _rollback_seconds(status: dict[str, Any], samples: list[RouteSample]) -> float | None:
    failed_at = _ts(status.get("failedAt"))
    if failed_at is None or not any(s.weight > 0 for s in samples):
        return None  # never failed, or never served users (e.g. failed offline evaluation)
    for sample in samples:
        if (
            sample.at >= failed_at - 1
            and sample.weight == 0
            and sample.phase in {"RollingBack", "RolledBack"}
        ):
            return max(0.0, sample.at - failed_at)
    return None


def run(settings: Settings, progress: Progress = print) -> DemoResult:
    with Demo(settings, progress) as demo:
        demo.platform_up()
        demo.production_up()
        demo.run_candidate(manifests.GOOD)
        demo.run_candidate(manifests.DEGRADED)
        assert demo.traffic is not None
        totals = demo.traffic.stop()
        demo.step("5. summary and rollout reports")
        reports = demo.reports()
        summary = demo.summary()
        progress(summary)
        return DemoResult(
            candidates=tuple(demo.results),
            traffic=totals,
            production_archive=demo.production_archive(),
            reports=tuple(reports),
            wall_s=time.monotonic() - demo.started,
            summary=summary,
        )
