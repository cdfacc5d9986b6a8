"""Probe bookkeeping: when a probe is due and what its results add up to.

A kubelet does not flip readiness on one result: ``successThreshold`` passes in a row make
a container ready, ``failureThreshold`` failures in a row make it unready (or, for
liveness, get it restarted). ``ProbeTracker`` keeps those counters; the check itself is
passed in, so the counting is tested without sockets.
"""

from __future__ import annotations

from collections.abc import Callable

from shadowgate.devstack.node_agent_process import check as http_or_tcp_check
from shadowgate.devstack.node_agent_spec import Probe

Check = Callable[[Probe, str], tuple[bool, str]]


class ProbeTracker:
    def __init__(self, probe: Probe, now: float, check: Check = http_or_tcp_check) -> None:
        self.probe = probe
        self.next_due = now + probe.initial_delay_s
        self.successes = 0
        self.failures = 0
        self.last_message = ""
        self._check = check

    def due(self, now: float) -> bool:
        return now >= self.next_due

    def run(self, ip: str, now: float, current: bool) -> bool:
        """Probe once and return the new verdict (``current`` while the thresholds are not met)."""
        ok, message = self._check(self.probe, ip)
        self.next_due = now + self.probe.period_s
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            return True if self.successes >= self.probe.success_threshold else current
        self.successes, self.failures = 0, self.failures + 1
        self.last_message = message
        return False if self.failures >= self.probe.failure_threshold else current
