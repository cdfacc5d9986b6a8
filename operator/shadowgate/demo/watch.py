"""Step 5's live output: watch a Candidate and its route table, one line per transition with the
gate evidence (the columns ``kubectl get candidates -w`` shows, plus each gate's verdict and
numbers), and keep a timeline of the routing state for the summary and the e2e assertions.

Polling (every ``every_s``) rather than a watch keeps the timeline simple: each sample pairs
the Candidate's phase with the route table the router is reading at that moment.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

GROUP, VERSION, PLURAL = "shadowgate.dev", "v1alpha1", "candidates"


@dataclass(frozen=True)
class RouteSample:
    at: float
    phase: str
    weight: float
    mirror: float
    canary: str | None
    shadow: str | None


@dataclass(frozen=True)
class Transition:
    at: float
    source: str
    target: str
    reason: str
    message: str
    gates: str


def _backend(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return None
    return str(raw.get("service") or raw.get("url") or "") or None


def gate_evidence(status: dict[str, Any]) -> str:
    """``name=Verdict(value vs threshold, n=samples)`` for every gate evaluated so far."""
    parts = []
    for gate in status.get("gates") or []:
        ev = gate.get("evidence") or {}
        numbers = []
        if ev.get("value") is not None:
            numbers.append(_num(ev["value"]))
            if ev.get("baseline_value") is not None:
                numbers[-1] += f" vs base {_num(ev['baseline_value'])}"
            if ev.get("threshold") is not None:
                numbers.append(f"bound {_num(ev['threshold'])}")
        if ev.get("candidate_samples") is not None:
            numbers.append(f"n={ev['candidate_samples']}")
        why = gate.get("reason") or ""
        inner = ", ".join(numbers + ([why] if why else []))
        parts.append(f"{gate['name']}={gate['verdict']}" + (f"({inner})" if inner else ""))
    return " ".join(parts)


def _same_phase(gate_phase: Any, phase: Any) -> bool:
    # Gate phases are the gates engine's (evaluation, shadow, canary); lifecycle phases are
    # capitalised (Evaluating, Shadow, Canary).
    a, b = str(gate_phase or "").lower(), str(phase or "").lower()
    return a.replace("evaluation", "evaluating") == b.replace("evaluation", "evaluating")


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class CandidateWatch:
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        name: str,
        route: str,
        emit: Callable[[str], None],
        every_s: float = 0.25,
    ) -> None:
        self.objects = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.namespace, self.name, self.route = namespace, name, route
        self.emit, self.every_s = emit, every_s
        self.samples: list[RouteSample] = []
        self.transitions: list[Transition] = []
        self.status: dict[str, Any] = {}
        self.started = time.time()
        self._seen_history = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"watch-{name}", daemon=True)
        self._lock = threading.Lock()
        self.errors: list[str] = []
        self.gone = False

    def start(self) -> CandidateWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.poll()  # the final state, even if the last interval was missed

    def _main(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.poll()
            except Exception as exc:  # an API blip must not end the watch; keep the latest
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def poll(self) -> None:
        try:
            body: Any = self.objects.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, self.name
            )
        except client.ApiException as err:
            if err.status == 404:
                self.gone = bool(self.status)  # seen before, now deleted
                return
            raise
        status: dict[str, Any] = body.get("status") or {}
        cm = self.core.read_namespaced_config_map(f"shadowgate-route-{self.route}", self.namespace)
        table = json.loads((cm.data or {}).get("route.json") or "{}")
        now = time.time()
        with self._lock:
            self.status = status
            self.samples.append(
                RouteSample(
                    at=now,
                    phase=str(status.get("phase") or "Pending"),
                    weight=float(table.get("canaryWeight") or 0),
                    mirror=float(table.get("mirrorPercent") or 0) if table.get("shadow") else 0.0,
                    canary=_backend(table.get("canary")),
                    shadow=_backend(table.get("shadow")),
                )
            )
            history = status.get("history") or []
            # history keeps the last 30 entries; count from the end when it is full.
            fresh = history[self._seen_history :] if len(history) >= self._seen_history else history
            self._seen_history = len(history)
        for entry in fresh:
            self._announce(entry, status, table, now)

    def _announce(
        self, entry: dict[str, Any], status: dict[str, Any], table: dict[str, Any], now: float
    ) -> None:
        # The evidence behind this transition: the gates of the phase being left.
        left = [g for g in status.get("gates") or [] if _same_phase(g.get("phase"), entry.get("from"))]
        gates = gate_evidence({"gates": left})
        self.transitions.append(
            Transition(
                now,
                entry.get("from", ""),
                entry["to"],
                entry.get("reason", ""),
                entry.get("message", ""),
                gates,
            )
        )
        weight = table.get("canaryWeight") or 0
        mirror = table.get("mirrorPercent") or 0 if table.get("shadow") else 0
        self.emit(
            f"[{now - self.started:6.1f}s] {self.name}  {entry.get('from') or 'Pending'} -> {entry['to']}"
            f"  reason={entry.get('reason', '')}  weight={weight} mirror={mirror}"
            f"  gates={status.get('gatesSummary', '')}"
            + (f"\n           {entry.get('message')}" if entry.get("message") else "")
            + (f"\n           evidence: {gates}" if gates else "")
        )

    def phases(self) -> list[str]:
        return [t.target for t in self.transitions]

    def wait_for(self, phases: set[str], timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                status = dict(self.status)
            if status.get("phase") in phases:
                return status
            time.sleep(self.every_s)
        raise TimeoutError(
            f"{self.namespace}/{self.name} did not reach {sorted(phases)} in {timeout_s:.0f} s; "
            f"phase {status.get('phase')!r}, reason {status.get('reason')!r}: {status.get('message', '')}; "
            f"gates: {gate_evidence(status)}"
        )


@dataclass(frozen=True)
class Watched:
    """What a finished watch leaves behind."""

    status: dict[str, Any]
    samples: tuple[RouteSample, ...] = field(default_factory=tuple)
    transitions: tuple[Transition, ...] = field(default_factory=tuple)
