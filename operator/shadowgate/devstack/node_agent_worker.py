"""One Pod on the node: a thread that runs its container and reports its status.

The watch hands the worker each new version of the Pod (``update``). On every tick the
thread advances the ``ContainerRun`` (start, probe, restart) and patches the Pod status
when what it reports changed. A deletionTimestamp stops the process within the grace
period and then finalizes the deletion, as a kubelet does; ``gone`` (the Pod vanished
from the API) and ``shutdown`` (the agent stops) stop the process too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from shadowgate.devstack import node_agent_spec as podspec
from shadowgate.devstack import node_agent_targets as targets
from shadowgate.devstack.node_agent_container import ContainerRun, WorkerSettings
from shadowgate.devstack.node_agent_kube import Gone, PodApi
from shadowgate.devstack.node_agent_state import AgentState
from shadowgate.devstack.node_agent_status import pod_status, rfc3339

__all__ = ["PodWorker", "WorkerSettings", "status_digest"]

log = logging.getLogger(__name__)


def status_digest(status: Mapping[str, Any]) -> tuple[Any, ...]:
    """The parts of a Pod status that matter, ignoring timestamps and server defaults."""
    conds = tuple(sorted((str(c.get("type")), str(c.get("status"))) for c in status.get("conditions") or []))
    containers = [
        (
            c.get("ready"),
            c.get("started"),
            c.get("restartCount"),
            c.get("containerID"),
            {
                k: ((v or {}).get("reason"), (v or {}).get("message"))
                for k, v in (c.get("state") or {}).items()
            },
            {k: (v or {}).get("exitCode") for k, v in (c.get("lastState") or {}).items()},
        )
        for c in status.get("containerStatuses") or []
    ]
    return (status.get("phase"), status.get("podIP"), conds, repr(containers))


class PodWorker:
    def __init__(
        self,
        pod: Mapping[str, Any],
        api: PodApi,
        state: AgentState,
        settings: WorkerSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.uid = str(podspec.meta(pod)["uid"])
        self._run = ContainerRun(self.uid, pod, state, settings, clock, self._record_event)
        self._pod = pod
        self._api, self._state, self._cfg, self._clock = api, state, settings, clock
        self._cond = threading.Condition()
        self._gone = self._shutdown = False
        self._thread = threading.Thread(target=self._loop, name=f"pod {self._run.label}", daemon=True)
        self._published: dict[str, Any] | None = None
        self._next_publish = self._next_resync = 0.0

    # Called from the agent's threads.

    def start(self) -> None:
        self._thread.start()

    def update(self, pod: Mapping[str, Any]) -> None:
        with self._cond:
            self._pod = pod
            self._cond.notify()

    def gone(self) -> None:
        with self._cond:
            self._gone = True
            self._cond.notify()

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    @property
    def done(self) -> bool:
        return self._thread.ident is not None and not self._thread.is_alive()

    # The worker thread.

    def _loop(self) -> None:
        run = self._run
        try:
            run.prepare()
            while True:
                with self._cond:
                    if not (self._gone or self._shutdown):
                        self._cond.wait(max(0.0, run.next_wake(time.monotonic()) - time.monotonic()))
                    pod, gone, shutdown = self._pod, self._gone, self._shutdown
                run.pod = pod
                if shutdown:
                    # Unready first: with no agent, nothing else would ever say the Pod stopped serving.
                    self._announce_termination(pod)
                    # The record stays (pid cleared): a restarted agent counts the next start as a restart.
                    run.stop(min(podspec.grace_seconds(pod), self._cfg.shutdown_grace_s))
                    return
                if gone or podspec.meta(pod).get("deletionTimestamp"):
                    grace = podspec.grace_seconds(pod)
                    if not gone:
                        self._announce_termination(pod)
                    run.stop(min(grace, self._cfg.shutdown_grace_s) if gone else grace)
                    targets.remove_targets(self._cfg.file_sd_dir, run.namespace, run.name, run.ip)
                    run.release()
                    self._state.forget(self.uid)
                    if not gone:
                        self._finalize()
                    return
                try:
                    run.step(time.monotonic())
                    self._publish(pod)
                except Gone:
                    self.gone()
                except Exception:
                    log.exception("pod %s: step failed", run.label)
                    self._next_publish = time.monotonic() + self._cfg.retry_s
        except Exception:
            log.exception("pod %s: worker stopped by an unexpected error", run.label)

    def _publish(self, pod: Mapping[str, Any]) -> None:
        now = time.monotonic()
        if now < self._next_publish:
            return
        previous = (self._published or pod.get("status") or {}).get("conditions") or []
        status = pod_status(self._run.snapshot(), previous, rfc3339(self._clock()))
        changed = self._published is None or status_digest(status) != status_digest(self._published)
        if not changed and now >= self._next_resync:
            # Someone else may have rewritten the status, or a patch got lost: compare with the stored one.
            self._next_resync = now + self._cfg.resync_s
            changed = status_digest(pod.get("status") or {}) != status_digest(status)
        if not changed:
            return
        try:
            self._api.patch_pod_status(self._run.namespace, self._run.name, status)
        except Gone:
            raise
        except Exception as exc:
            log.warning("pod %s: status patch failed (will retry): %s", self._run.label, exc)
            self._next_publish = now + self._cfg.retry_s
            return
        self._published = status
        self._next_resync = now + self._cfg.resync_s

    def _record_event(self, kind: str, reason: str, message: str) -> None:
        """Best effort: an Event that cannot be written is logged, never fatal."""
        try:
            self._api.record_event(self._pod, kind, reason, message, rfc3339(self._clock()))
        except Exception as exc:
            log.info("pod %s: event %s not recorded: %s", self._run.label, reason, exc)

    def _announce_termination(self, pod: Mapping[str, Any]) -> None:
        """Report the Pod unready before its process is signalled.

        Loopback Pods have no EndpointSlices, so clients (the router) pick backends from Pod
        readiness; going unready first lets them stop sending new requests while the process
        still finishes the ones in flight during its grace period.
        """
        if not self._run.ready:
            return
        self._run.ready = False
        self._next_publish = 0.0
        try:
            self._publish(pod)
        except Exception as exc:
            log.warning("pod %s: could not report it unready before stopping: %s", self._run.label, exc)

    def _finalize(self) -> None:
        for attempt in range(30):
            try:
                self._api.delete_pod_now(self._run.namespace, self._run.name, self.uid)
                return
            except Gone:
                return
            except Exception as exc:
                log.warning("pod %s: finalizing deletion failed (%d): %s", self._run.label, attempt, exc)
                time.sleep(self._cfg.retry_s)
