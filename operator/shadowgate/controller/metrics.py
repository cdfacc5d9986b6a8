"""The operator's own metrics (docs/architecture.md, "Operator metrics").

A dedicated registry, so tests and the benchmark can run several operators in one process
without clashing, served by ``serve`` on the port given at start-up.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.lifecycle.status import Status
from shadowgate.core.verdicts import Verdict


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.candidates = Gauge("shadowgate_candidates", "Candidates by phase.", ["phase"], registry=r)
        self.weight = Gauge(
            "shadowgate_candidate_weight",
            "Percent of traffic on the candidate.",
            ["namespace", "candidate", "target"],
            registry=r,
        )
        self.gate_value = Gauge(
            "shadowgate_gate_value", "Latest gate value.", ["namespace", "candidate", "gate"], registry=r
        )
        self.gate_verdict = Gauge(
            "shadowgate_gate_verdict",
            "1 for the gate's latest verdict, 0 for the others.",
            ["namespace", "candidate", "gate", "verdict"],
            registry=r,
        )
        self.transitions = Counter("shadowgate_transitions", "Phase transitions.", ["from", "to"], registry=r)
        self.reconcile_duration = Histogram(
            "shadowgate_reconcile_duration_seconds",
            "Reconcile latency.",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.reconcile_errors = Counter("shadowgate_reconcile_errors", "Failed reconciles.", registry=r)
        self.rollback = Histogram(
            "shadowgate_rollback_seconds",
            "From a decisive gate failure to candidate weight 0.",
            registry=r,
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
        )
        # The dashboard's rollout timeline and the RolledBack alert read the phase gauge; the gate
        # panels draw each value against its bound (docs/architecture.md, "Operator metrics").
        self.phase = Gauge(
            "shadowgate_candidate_phase",
            "1 for the Candidate's current phase, 0 for the phases it left.",
            ["namespace", "candidate", "target", "phase"],
            registry=r,
        )
        self.gate_threshold = Gauge(
            "shadowgate_gate_threshold",
            "The bound a gate's value is compared with.",
            ["namespace", "candidate", "gate"],
            registry=r,
        )
        self._phases: dict[tuple[str, str], Phase] = {}
        self._left: dict[tuple[str, str], set[Phase]] = {}
        self._targets: dict[tuple[str, str], str] = {}

    def observe(self, namespace: str, name: str, target: str, before: Status, after: Status) -> None:
        self._phases[(namespace, name)] = after.phase
        for phase in Phase:
            self.candidates.labels(str(phase)).set(sum(1 for p in self._phases.values() if p is phase))
        self.weight.labels(namespace, name, target).set(after.weight)
        self._targets[(namespace, name)] = target
        left = self._left.setdefault((namespace, name), set())
        if before.phase is not after.phase:
            left.add(before.phase)
        for phase in left - {after.phase}:
            self.phase.labels(namespace, name, target, str(phase)).set(0)
        self.phase.labels(namespace, name, target, str(after.phase)).set(1)
        seen = set(before.history)
        for entry in after.history:
            if entry not in seen:
                self.transitions.labels(entry.from_phase, entry.to_phase).inc()
                # Weight 0 is applied in the reconcile that records RollingBack (actions run
                # before the status patch), so the entry's time is when traffic left the candidate.
                if entry.to_phase == str(Phase.ROLLING_BACK) and after.failed_at is not None:
                    self.rollback.observe(max(0.0, (entry.time - after.failed_at).total_seconds()))
        for gate in after.gates:
            if gate.evaluated == (after.last_analysis or gate.evaluated):
                if gate.result.evidence.value is not None:
                    self.gate_value.labels(namespace, name, gate.result.gate).set(gate.result.evidence.value)
                if gate.result.evidence.threshold is not None:
                    self.gate_threshold.labels(namespace, name, gate.result.gate).set(
                        gate.result.evidence.threshold
                    )
                for verdict in Verdict:
                    hit = 1.0 if gate.result.verdict is verdict else 0.0
                    self.gate_verdict.labels(namespace, name, gate.result.gate, str(verdict)).set(hit)

    def forget(self, namespace: str, name: str) -> None:
        self._phases.pop((namespace, name), None)
        self._left.pop((namespace, name), None)
        target = self._targets.pop((namespace, name), None)
        for phase in Phase:  # a deleted Candidate leaves the timeline (and ends the RolledBack alert)
            if target is not None:
                with contextlib.suppress(KeyError):
                    self.phase.remove(namespace, name, target, str(phase))
        for phase in Phase:
            self.candidates.labels(str(phase)).set(sum(1 for p in self._phases.values() if p is phase))


def serve(metrics: Metrics, port: int, host: str = "127.0.0.1") -> None:
    start_http_server(port, addr=host, registry=metrics.registry)
