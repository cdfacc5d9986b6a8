"""One Pod's container as a local process: start, probe, exit, restart with backoff.

``ContainerRun`` is the kubelet's container state machine without threads or API calls:
the Pod worker calls ``step`` on each tick and turns ``snapshot`` into the Pod status. It
records every start and exit in the agent's state file, so a restarted agent knows the
pid to adopt and the restart count to carry on from.
"""

from __future__ import annotations

import logging
import pathlib
import shutil
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shadowgate.devstack import node_agent_mounts as mounts
from shadowgate.devstack import node_agent_process as proc
from shadowgate.devstack import node_agent_spec as podspec
from shadowgate.devstack import node_agent_targets as targets
from shadowgate.devstack.node_agent_credentials import PodCredentials, Projector, pod_folder
from shadowgate.devstack.node_agent_probes import ProbeTracker
from shadowgate.devstack.node_agent_state import AgentState, PodRecord
from shadowgate.devstack.node_agent_status import Snapshot, Terminated, rfc3339

log = logging.getLogger(__name__)

FINISHED = ("Succeeded", "Failed")

# (type "Normal" or "Warning", reason, message): what ``kubectl describe pod`` lists as Events.
EventSink = Callable[[str, str, str], None]


def no_events(kind: str, reason: str, message: str) -> None:
    pass


@dataclass(frozen=True)
class WorkerSettings:
    host_ip: str
    logs_dir: pathlib.Path
    file_sd_dir: pathlib.Path
    base_env: Mapping[str, str] = field(default_factory=dict)
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    backoff_reset_s: float = 60.0  # a process that ran this long restarts without delay growth
    shutdown_grace_s: float = 5.0
    tick_s: float = 0.2
    retry_s: float = 1.0  # pause after a failed API call
    resync_s: float = 30.0  # re-check the stored status against what we report
    # ServiceAccount tokens for the Pods; None: Pods get no API credentials at all.
    credentials: Projector | None = None


class ContainerRun:
    def __init__(
        self,
        uid: str,
        pod: Mapping[str, Any],
        state: AgentState,
        settings: WorkerSettings,
        clock: Callable[[], float] = time.time,
        events: EventSink = no_events,
    ) -> None:
        self.uid = uid
        self._events = events
        self.namespace = str(podspec.meta(pod)["namespace"])
        self.name = str(podspec.meta(pod)["name"])
        self.pod = pod
        self._state, self._cfg, self._clock = state, settings, clock
        self.proc: proc.LocalProcess | None = None
        self.ip = ""
        self.phase = "Pending"
        self.waiting: tuple[str, str] | None = None
        self.running_since: str | None = None
        self.run_started = 0.0
        self.terminated: Terminated | None = None
        self.last_terminated: Terminated | None = None
        self.ready = False
        self.restarts = 0
        self.ever_started = False
        self.start_time: str | None = None
        self.next_start = 0.0
        self.backoff = settings.backoff_initial_s
        self.readiness: ProbeTracker | None = None
        self.liveness: ProbeTracker | None = None
        self.pod_dir = pod_folder(settings.logs_dir, self.namespace, self.name, uid)
        self.creds: PodCredentials | None = (
            settings.credentials.for_pod(self.pod_dir) if settings.credentials is not None else None
        )

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}"

    def prepare(self) -> None:
        """Take an address and pick up where an earlier agent left off (adopting its process)."""
        reported_status: Mapping[str, Any] = self.pod.get("status") or {}
        rec: PodRecord = self._state.assign_ip(
            self.uid, self.namespace, self.name, reported_status.get("podIP")
        )
        self.ip = rec.ip
        reported = (reported_status.get("containerStatuses") or [{}])[0]
        self.restarts = max(rec.restart_count, int(reported.get("restartCount") or 0))
        self.start_time = rec.start_time or reported_status.get("startTime") or rfc3339(self._clock())
        self.ever_started = rec.started_at is not None
        if rec.pid is not None:
            adopted = proc.adopt(rec.pid, rec.pid_start)
            if adopted is not None:
                log.info("pod %s: adopted running process %d", self.label, rec.pid)
                self.proc, self.phase = adopted, "Running"
                self.running_since, self.run_started = rec.started_at, time.monotonic()
                # Keep the reported readiness so an agent restart causes no readiness blip.
                self.ready = bool(reported.get("ready"))
                self._make_trackers(time.monotonic())
                if self.creds is not None:
                    self.creds.refresh_soon()  # nobody renewed its token while no agent ran
            else:
                self.phase, self.running_since = "Running", rec.started_at
                self.on_exit(proc.UNKNOWN_EXIT, "the process ended while no node agent watched it")
        self._state.update(self.uid, start_time=self.start_time, restart_count=self.restarts)

    def next_wake(self, now: float) -> float:
        due = [now + self._cfg.tick_s]
        if self.proc is None and self.phase not in FINISHED:
            due.append(self.next_start)
        if self.proc is not None:
            due += [t.next_due for t in (self.readiness, self.liveness) if t is not None]
        return min(due)

    def step(self, now: float) -> None:
        if self.phase in FINISHED:
            return
        if self.proc is None:
            if now >= self.next_start:
                self.start(now)
            return
        code = self.proc.exit_code()
        if code is not None:
            self.on_exit(code)
            return
        if self.readiness is not None and self.readiness.due(now):
            self.ready = self.readiness.run(self.ip, now, self.ready)
            if self.readiness.failures == self.readiness.probe.failure_threshold:  # once per failing streak
                self._events("Warning", "Unhealthy", f"Readiness probe failed: {self.readiness.last_message}")
        if self.creds is not None and self.creds.refresh_due(now):
            self.creds.refresh(self.pod)
        if self.liveness is not None and self.liveness.due(now) and not self.liveness.run(self.ip, now, True):
            log.warning("pod %s: liveness failed, restarting", self.label)
            self._events("Warning", "Unhealthy", f"Liveness probe failed: {self.liveness.last_message}")
            code = self.proc.stop(podspec.grace_seconds(self.pod))
            self.on_exit(code, f"liveness probe failed: {self.liveness.last_message}")

    def start(self, now: float) -> None:
        try:
            spec = podspec.run_spec(
                self.pod, self.ip, self._cfg.host_ip, str(self.pod_dir / mounts.VOLUMES_DIR)
            )
            for folder in spec.scratch_dirs:  # kept across restarts, as an emptyDir is
                pathlib.Path(folder).mkdir(parents=True, exist_ok=True)
            # A fresh token for every start, as a kubelet mounts it before the container runs.
            projected = self.creds.project(self.pod) if self.creds is not None else {}
            env = podspec.process_env(self.pod, dict(spec.env), self.ip, {**self._cfg.base_env, **projected})
            started = proc.spawn(spec.argv, env, spec.working_dir, self.pod_dir / f"{spec.container}.log")
        except (podspec.PodSpecError, OSError) as exc:
            reason = exc.reason if isinstance(exc, podspec.PodSpecError) else proc.RUN_ERROR
            log.warning("pod %s: cannot start: %s", self.label, exc)
            if self.waiting != (reason, str(exc)):
                self._events("Warning", getattr(exc, "event_reason", "Failed"), f"{reason}: {exc}")
            self.waiting = (reason, str(exc))
            self._schedule_retry(now)
            return
        if self.ever_started:
            self.restarts += 1
        self.ever_started = True
        self.proc, self.phase, self.waiting = started, "Running", None
        self.running_since, self.run_started = rfc3339(self._clock()), now
        self.ready = spec.readiness is None
        self._make_trackers(now)
        self._state.update(
            self.uid,
            pid=started.pid,
            pid_start=started.ticks,
            started_at=self.running_since,
            restart_count=self.restarts,
        )
        targets.write_targets(self._cfg.file_sd_dir, self.pod, self.ip)
        log.info("pod %s: started pid %d on %s", self.label, started.pid, self.ip)
        command = " ".join(spec.argv)
        command = command if len(command) <= 120 else command[:117] + "..."
        self._events("Normal", "Started", f"Started process {started.pid} on {self.ip}: {command}")

    def _make_trackers(self, now: float) -> None:
        try:
            container = podspec.first_container(self.pod)
            readiness = podspec.parse_probe(container, container.get("readinessProbe"))
            liveness = podspec.parse_probe(container, container.get("livenessProbe"))
        except podspec.PodSpecError:
            readiness = liveness = None
        self.readiness = ProbeTracker(readiness, now) if readiness else None
        self.liveness = ProbeTracker(liveness, now) if liveness else None

    def _schedule_retry(self, now: float) -> None:
        if self.ever_started and now - self.run_started >= self._cfg.backoff_reset_s:
            self.backoff = self._cfg.backoff_initial_s
        self.next_start = now + self.backoff
        self.backoff = min(self.backoff * 2, self._cfg.backoff_max_s)

    def on_exit(self, code: int, message: str = "") -> None:
        ended = rfc3339(self._clock())
        term = Terminated(
            exit_code=code,
            reason="Completed" if code == 0 else "Error",
            started_at=self.running_since or ended,
            finished_at=ended,
            message=message,
        )
        if self.proc is not None:
            self.proc.signal_group(signal.SIGKILL)  # whatever the leader left behind
        self.proc, self.running_since, self.ready = None, None, False
        self._state.update(self.uid, pid=None, pid_start=None)
        log.info("pod %s: process exited with %d", self.label, code)
        if podspec.should_restart(podspec.restart_policy(self.pod), code):
            self.last_terminated = term
            self._schedule_retry(time.monotonic())
            self.waiting = ("CrashLoopBackOff", f"back-off restarting the process (exit code {code})")
            delay = max(0.0, self.next_start - time.monotonic())
            self._events("Warning", "BackOff", f"Process exited with code {code}; restarting in {delay:.1f}s")
        else:
            self.terminated = term
            self.phase = "Succeeded" if code == 0 else "Failed"
            targets.remove_targets(self._cfg.file_sd_dir, self.namespace, self.name, self.ip)

    def release(self) -> None:
        """The Pod is gone: its credentials and emptyDir folders go too (its logs stay)."""
        if self.creds is not None:
            self.creds.remove()
        shutil.rmtree(self.pod_dir / mounts.VOLUMES_DIR, ignore_errors=True)

    def stop(self, grace_s: float) -> None:
        if self.proc is None:
            return
        self._events("Normal", "Killing", f"Stopping process {self.proc.pid} (grace period {grace_s:g}s)")
        code = self.proc.stop(grace_s)
        log.info("pod %s: stopped (exit %d)", self.label, code)
        self.proc = None
        if self._state.get(self.uid) is not None:
            self._state.update(self.uid, pid=None, pid_start=None)

    def snapshot(self) -> Snapshot:
        try:
            container = podspec.first_container(self.pod)
        except podspec.PodSpecError:
            container = {}
        return Snapshot(
            phase=self.phase,
            container=str(container.get("name") or "main"),
            image=str(container.get("image") or ""),
            host_ip=self._cfg.host_ip,
            pod_ip=self.ip,
            start_time=self.start_time,
            running_since=self.running_since,
            pid=self.proc.pid if self.proc else None,
            waiting_reason=self.waiting[0] if self.waiting else None,
            waiting_message=self.waiting[1] if self.waiting else None,
            terminated=self.terminated,
            last_terminated=self.last_terminated,
            ready=self.ready,
            restart_count=self.restarts,
        )
