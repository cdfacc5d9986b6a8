"""The node agent: the local stack's scheduler and kubelet, running Pods as local processes.

Run as ``python -m shadowgate.devstack.node_agent --kubeconfig K --state-dir D`` (the stack
starts and stops it). It registers the Node ``shadowgate-local`` and renews its Lease,
binds every unscheduled Pod to it, and gives each Pod on it a ``PodWorker`` (see
``node_agent_worker``) that runs the first container's command on the Pod's own loopback
address. One watch over all Pods drives everything; it re-lists after a 410 and
reconnects after any error, so an API-server restart is survived. On SIGTERM the agent
stops its Pods' processes; a SIGKILLed agent leaves them running, and the next agent
adopts them from the state file.
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import shutil
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from shadowgate.devstack import node_agent_spec as podspec
from shadowgate.devstack import node_agent_subnets as subnets
from shadowgate.devstack.layout import StackLayout
from shadowgate.devstack.node_agent_credentials import (
    ClusterAccess,
    Projector,
    pod_folder,
    remove_files,
    strip_admin,
)
from shadowgate.devstack.node_agent_kube import Expired, Gone, KubeApi
from shadowgate.devstack.node_agent_mounts import VOLUMES_DIR
from shadowgate.devstack.node_agent_node import NODE_NAME, AgentSettings, NodeHeartbeat
from shadowgate.devstack.node_agent_process import adopt
from shadowgate.devstack.node_agent_state import AgentState, recorded_subnet
from shadowgate.devstack.node_agent_worker import PodWorker, WorkerSettings

log = logging.getLogger("shadowgate.node_agent")

DEFAULT_SCHEDULER = "default-scheduler"
FINISHED = ("Succeeded", "Failed")


class NodeAgent:
    def __init__(
        self, api: KubeApi, state: AgentState, settings: AgentSettings, worker: WorkerSettings
    ) -> None:
        self._api, self._state, self._cfg, self._worker_cfg = api, state, settings, worker
        self._workers: dict[str, PodWorker] = {}
        # Pods whose deletion a worker already finished: late events for them start nothing.
        self._finalized: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = False

    def run(self, stop: threading.Event) -> None:
        heartbeat = NodeHeartbeat(self._api, self._cfg)
        for target, name in ((heartbeat.run, "heartbeat"), (self._watch_loop, "watch")):
            threading.Thread(target=target, args=(stop,), name=name, daemon=True).start()
        stop.wait()
        self._api.close_watch()
        self.shutdown()

    def shutdown(self) -> None:
        """Stop every Pod's process (in parallel, each within its grace) and wait for them."""
        with self._lock:
            self._stopping = True
            workers = list(self._workers.values())
        log.info("stopping %d pod(s)", len(workers))
        for w in workers:
            w.shutdown()
        for w in workers:
            w.join(self._worker_cfg.shutdown_grace_s + 5)

    # The Pod watch.

    def _watch_loop(self, stop: threading.Event) -> None:
        delay = 0.5
        while not stop.is_set():
            try:
                pods, rv = self._api.list_pods()
                self._sync(pods)
                delay = 0.5
                while not stop.is_set():
                    for kind, pod in self._api.watch_pods(rv, self._cfg.watch_timeout_s):
                        rv = str(pod.get("metadata", {}).get("resourceVersion") or rv)
                        if kind != "BOOKMARK":
                            self._handle(kind, pod)
            except Expired:
                log.info("pod watch expired; listing again")
            except Exception as exc:
                log.warning("pod watch failed (reconnecting in %.1fs): %s", delay, exc)
                stop.wait(delay)
                delay = min(delay * 2, 5.0)

    def _sync(self, pods: Sequence[Mapping[str, Any]]) -> None:
        """After a (re)list: handle every Pod, and stop what belongs to Pods that are gone."""
        present = {str(p["metadata"]["uid"]) for p in pods}
        self._finalized.clear()  # a fresh view: a Pod still there still needs finalizing
        for pod in pods:
            if pod.get("spec", {}).get("nodeName") == self._cfg.node_name and pod.get("status", {}).get(
                "podIP"
            ):
                self._state.ips.reserve(str(pod["status"]["podIP"]))
        for pod in pods:
            self._handle("ADDED", pod)
        with self._lock:
            vanished = [w for uid, w in self._workers.items() if uid not in present]
        for w in vanished:
            w.gone()
        for uid, rec in self._state.items():
            if uid not in present and uid not in self._workers:
                # A Pod deleted while no agent ran: its process may still be alive.
                live = adopt(rec.pid, rec.pid_start) if rec.pid is not None else None
                if live is not None:
                    log.info("stopping orphaned process %d of %s/%s", rec.pid, rec.namespace, rec.name)
                    live.stop(self._worker_cfg.shutdown_grace_s)
                folder = pod_folder(self._worker_cfg.logs_dir, rec.namespace, rec.name, uid)
                remove_files(folder)
                shutil.rmtree(folder / VOLUMES_DIR, ignore_errors=True)  # its emptyDirs
                self._state.forget(uid)

    def _handle(self, kind: str, pod: Mapping[str, Any]) -> None:
        meta, spec = podspec.meta(pod), podspec.spec(pod)
        uid = str(meta.get("uid"))
        with self._lock:
            worker = self._workers.get(uid)
            if worker is not None and worker.done:
                del self._workers[uid]
                worker = None
        if kind == "DELETED":
            if worker is not None:
                worker.gone()
            self._finalized.discard(uid)
            return
        node = spec.get("nodeName")
        if not node:
            scheduler = spec.get("schedulerName") or DEFAULT_SCHEDULER
            if scheduler == DEFAULT_SCHEDULER and not meta.get("deletionTimestamp"):
                self._bind(pod)
            return
        if node != self._cfg.node_name:
            return
        deleting = bool(meta.get("deletionTimestamp"))
        if deleting:
            if worker is None and uid in self._finalized:
                return  # its worker already stopped it and finished the deletion
            self._finalized.add(uid)
        if worker is not None:
            worker.update(pod)
            return
        finished = (pod.get("status") or {}).get("phase") in FINISHED
        if finished and not deleting and self._state.get(uid) is None:
            return  # a finished Pod from an earlier agent: nothing to run
        worker = PodWorker(pod, self._api, self._state, self._worker_cfg)
        with self._lock:
            if self._stopping:
                return
            self._workers[uid] = worker
            worker.start()

    def _bind(self, pod: Mapping[str, Any]) -> None:
        meta = podspec.meta(pod)
        ns, name, uid = str(meta["namespace"]), str(meta["name"]), str(meta["uid"])
        for attempt in range(3):
            try:
                self._api.bind(ns, name, uid, self._cfg.node_name)
                log.info("bound %s/%s to %s", ns, name, self._cfg.node_name)
                return
            except Gone:
                return
            except Exception as exc:
                if getattr(exc, "status", None) == 409:
                    return  # already bound (or a namesake replaced it)
                log.warning("binding %s/%s failed (%d): %s", ns, name, attempt, exc)
                time.sleep(0.5)


def pod_base_env(environ: Mapping[str, str], python: str) -> dict[str, str]:
    """The agent's environment for Pod processes, its interpreter's bin folder first on PATH.

    Pods then find the project's console scripts (``model-server``, ``shadowgate-router``)
    however the stack was started, e.g. by ``.venv/bin/shadowgate`` without an activated venv.
    """
    env = dict(environ)
    bin_dir = os.path.dirname(python)
    path = env.get("PATH", os.defpath)
    if bin_dir and bin_dir not in path.split(os.pathsep):
        env["PATH"] = os.pathsep.join([bin_dir, path])
    return env


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m shadowgate.devstack.node_agent",
        description="Schedule and run the local stack's Pods as local processes.",
    )
    parser.add_argument("--kubeconfig", required=True, type=pathlib.Path)
    parser.add_argument("--state-dir", required=True, type=pathlib.Path)
    parser.add_argument("--node-name", default=NODE_NAME)
    parser.add_argument("--heartbeat-seconds", type=float, default=10.0)
    parser.add_argument("--restart-backoff-seconds", type=float, default=1.0, help="first restart delay")
    parser.add_argument("--restart-backoff-max-seconds", type=float, default=30.0)
    parser.add_argument(
        "--subnet-lock-dir",
        type=pathlib.Path,
        default=subnets.DEFAULT_LOCK_DIR,
        help="machine-wide folder where agents lock their 127.S.0.0/16",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.kubeconfig.is_file():
        print(f"node-agent: kubeconfig not found: {args.kubeconfig}", file=sys.stderr)
        return 2
    if args.heartbeat_seconds <= 0 or args.restart_backoff_seconds <= 0:
        print("node-agent: --heartbeat-seconds and --restart-backoff-seconds must be > 0", file=sys.stderr)
        return 2
    from kubernetes import client, config  # imported here: `--help` stays fast

    layout = StackLayout(args.state_dir.resolve())
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(args.kubeconfig), client_configuration=cfg)
    cfg.connection_pool_maxsize = 64  # one status patcher thread per Pod shares the pool
    api = KubeApi(client.ApiClient(cfg))
    state_file = layout.node_agent_dir / "state.json"
    try:
        claim = subnets.claim_subnet(args.subnet_lock_dir, recorded_subnet(state_file))
    except subnets.SubnetsExhausted as exc:
        print(f"node-agent: {exc}", file=sys.stderr)
        return 2
    try:
        state = AgentState(state_file, claim.subnet)
    except (ValueError, TypeError) as exc:
        print(f"node-agent: unreadable state file: {exc}", file=sys.stderr)
        return 2
    try:
        access = ClusterAccess.from_client_configuration(cfg)
    except (OSError, ValueError) as exc:
        claim.release()
        print(f"node-agent: cannot read the API server's CA from {args.kubeconfig}: {exc}", file=sys.stderr)
        return 2
    worker_cfg = WorkerSettings(
        host_ip="127.0.0.1",
        logs_dir=layout.node_agent_dir / "pods",
        file_sd_dir=layout.file_sd_dir,
        # The agent's own (admin) credentials never reach a Pod: each gets its ServiceAccount's.
        base_env=strip_admin(pod_base_env(os.environ, sys.executable), (args.kubeconfig, layout.kubeconfig)),
        credentials=Projector(api, access),
        backoff_initial_s=args.restart_backoff_seconds,
        backoff_max_s=max(args.restart_backoff_max_seconds, args.restart_backoff_seconds),
    )
    settings = AgentSettings(node_name=args.node_name, heartbeat_s=args.heartbeat_seconds)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info(
        "node agent for %s: Pod addresses 127.%d.0.0/16, state in %s",
        settings.node_name,
        claim.subnet,
        layout.node_agent_dir,
    )
    NodeAgent(api, state, settings, worker_cfg).run(stop)
    claim.release()
    log.info("node agent stopped")
    return 0


if __name__ == "__main__":
    code = main()
    # Everything is stopped and saved by now. Skipping interpreter teardown saves seconds
    # (tearing down the kubernetes client's thousands of model classes took 4-5 s of CPU on a
    # busy 2-core machine), which matters inside `dev down`'s 10 s grace period.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
