"""``Stack``: bring the local stack up, report on it, and take it down.

The CLI (``shadowgate dev``), the pytest fixtures and the demo all go through this class.
``up`` is idempotent: a healthy running stack is reported, not restarted; a stack with a
dead component is stopped and started again, naming the dead component's log. Components
start in dependency order and each must pass its health check before the next one that
needs it starts; any that exits meanwhile aborts ``up`` with its log path and last lines.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pathlib
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace

from shadowgate.devstack import (
    binaries,
    certs,
    components,
    health,
    images,
    kubeconfig,
    node_components,
    node_lifecycle,
    processes,
    prometheus,
    prometheus_sd,
    state,
)
from shadowgate.devstack.components import ComponentSpec
from shadowgate.devstack.layout import COMPONENTS, StackLayout, default_state_dir
from shadowgate.devstack.processes import STACK_ID_ENV

Log = Callable[[str], None]


class StackError(RuntimeError):
    """The stack could not be started, inspected or stopped; the message says which part and why."""


class ComponentCrashed(StackError):
    def __init__(self, name: str, log: str) -> None:
        tail = _tail(pathlib.Path(log))
        super().__init__(f"{name} exited during start-up; its log is {log}\n--- last lines ---\n{tail}")
        self.component = name
        self.log = log


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int
    port: int | None
    running: bool
    healthy: bool
    detail: str
    log: str


@dataclass(frozen=True)
class UpResult:
    already_running: bool
    seconds: float
    kubeconfig: str
    api_server: str
    prometheus_url: str
    restarted_because: str = ""
    # The node's network namespace.
    netns: str = ""


@dataclass(frozen=True)
class DownResult:
    stopped: tuple[str, ...]


def _tail(path: pathlib.Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as err:
        return f"(cannot read log: {err})"


class Stack:
    """One local stack, living in ``state_dir`` (default: ``$SHADOWGATE_STATE_DIR`` or the cache)."""

    def __init__(
        self,
        state_dir: pathlib.Path | str | None = None,
        *,
        start_timeout_s: float = 120.0,
        log: Log | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._environ = dict(os.environ if environ is None else environ)
        root = pathlib.Path(state_dir).resolve() if state_dir else default_state_dir(self._environ)
        if root.exists() and not root.is_dir():
            raise StackError(f"state directory {root} exists and is not a directory")
        self.layout = StackLayout(root)
        self._timeout = start_timeout_s
        self._log: Log = log or (lambda _msg: None)
        self._targets = prometheus.ScrapeTargets(self.layout)

    # --- what callers read -------------------------------------------------------------
    @property
    def state_dir(self) -> pathlib.Path:
        return self.layout.root

    @property
    def kubeconfig(self) -> str:
        return str(self.layout.kubeconfig)

    def _running_state(self) -> state.StackState:
        current = state.load(self.layout)
        if not current.components:
            raise StackError(f"no stack is running in {self.state_dir}; run `shadowgate dev up`")
        return current

    @property
    def api_server(self) -> str:
        return f"https://127.0.0.1:{self._running_state().ports['kube-apiserver']}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self._running_state().ports['prometheus']}"

    @property
    def in_cluster_prometheus_url(self) -> str:
        """Prometheus as a Pod reaches it: the ``prometheus`` Service in kube-system."""
        return "http://prometheus.kube-system.svc:9090"

    @property
    def bin_dir(self) -> pathlib.Path:
        return pathlib.Path(self._running_state().bin_dir)

    def env(self) -> dict[str, str]:
        """Variables that point tools at this stack (PATH puts the pinned kubectl/helm first)."""
        return {
            "KUBECONFIG": self.kubeconfig,
            "SHADOWGATE_PROMETHEUS_URL": self.prometheus_url,
            "SHADOWGATE_STATE_DIR": str(self.state_dir),
            "PATH": f"{self.bin_dir}{os.pathsep}{self._environ.get('PATH', '')}",
        }

    def add_scrape_target(self, job: str, address: str, labels: dict[str, str] | None = None) -> None:
        self._targets.add(job, address, labels)

    def remove_scrape_target(self, job: str, address: str) -> None:
        self._targets.remove(job, address)

    # --- lifecycle ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        with open(self.layout.lock_file, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def real_node(self) -> node_components.RealNode:
        """The running real node (its namespace, paths and binaries); StackError otherwise."""
        current = self._running_state()
        if current.node != "real":
            raise StackError(
                f"the stack in {self.state_dir} was started by an older version without a real node;"
                " run `shadowgate dev down`, then `shadowgate dev up`"
            )
        return node_components.RealNode(self.layout, pathlib.Path(current.bin_dir), current.ports)

    def _netns(self) -> str:
        current = state.load(self.layout)
        return self.real_node().net.netns if current.node == "real" and current.components else ""

    @staticmethod
    def _order(current: state.StackState) -> tuple[str, ...]:
        # A state file from an older version may record components that no longer exist (the
        # node agent's stand-in); they are stopped too, last started first.
        legacy = tuple(n for n in current.components if n not in COMPONENTS)
        return (*COMPONENTS, *legacy)

    def _specs(self, current: state.StackState) -> dict[str, ComponentSpec]:
        real = node_components.RealNode(self.layout, pathlib.Path(current.bin_dir), current.ports)
        return {
            "etcd": node_components.etcd(real),
            "containerd": node_components.containerd(real),
            "kube-apiserver": node_components.kube_apiserver(real),
            "relay": node_components.relay(real),
            "kube-controller-manager": node_components.kube_controller_manager(real),
            "kube-scheduler": node_components.kube_scheduler(real),
            "kubelet": node_components.kubelet(real),
            "kube-proxy": node_components.kube_proxy(real),
            "coredns": node_components.coredns(real),
            "prometheus": node_components.prometheus(real, current.prometheus_binary),
        }

    def status(self) -> list[ComponentStatus]:
        """Each recorded component with pid, port, whether it runs and answers its health check."""
        current = state.load(self.layout)
        specs = self._specs(current) if current.components else {}
        out = []
        for name in self._order(current):
            record = current.components.get(name)
            if record is None:
                continue
            spec = specs.get(name) or ComponentSpec(name, record.argv, components.HealthCheck("process"))
            running = processes.is_running(record)
            healthy, detail = health.probe(spec.health, self.layout) if running else (False, "")
            if not running:
                detail = f"not running (crashed or killed); see {record.log}"
            out.append(ComponentStatus(name, record.pid, spec.port, running, healthy, detail, record.log))
        return out

    def _unhealthy_after_grace(self, grace_s: float = 15.0) -> list[ComponentStatus]:
        """Components that are dead, or alive but still failing health checks after ``grace_s``.

        A busy API server can miss one readiness probe; restarting a running stack for that
        would disrupt whoever uses it, so live processes get a grace period.
        """
        deadline = time.monotonic() + grace_s
        while True:
            bad = [s for s in self.status() if not (s.running and s.healthy)]
            if not bad or any(not s.running for s in bad) or time.monotonic() > deadline:
                return bad
            time.sleep(0.5)

    def up(self) -> UpResult:
        """Start the stack, or report the one already running. Raises ``StackError`` on failure."""
        started_at = time.monotonic()
        with self._locked():
            current = state.load(self.layout)
            restarted_because = ""
            if current.components:
                bad = self._unhealthy_after_grace()
                if not bad:
                    return UpResult(
                        True, 0.0, self.kubeconfig, self.api_server, self.prometheus_url, "", self._netns()
                    )
                restarted_because = "; ".join(f"{s.name}: {s.detail} (log {s.log})" for s in bad)
                self._log(f"restarting the stack: {restarted_because}")
                current = self._stop_all(current)
            self._start(current)
        return UpResult(
            False,
            time.monotonic() - started_at,
            self.kubeconfig,
            self.api_server,
            self.prometheus_url,
            restarted_because,
            self._netns(),
        )

    def _start(self, previous: state.StackState) -> None:
        bin_dir = binaries.ensure(self._log, self._environ)
        found = prometheus_sd.find_kubernetes_sd_prometheus([bin_dir])
        if found is None:
            raise StackError(
                f"no Prometheus with Kubernetes discovery in {bin_dir} (hack/build-binaries.sh builds it)"
            )
        created = certs.ensure_pki(self.layout)
        if created:
            self._log(f"generated {', '.join(created)} in {self.layout.pki}")
        current = replace(
            previous,
            stack_id=uuid.uuid4().hex,
            ports=components.allocate_ports(previous.ports),
            bin_dir=str(bin_dir),
            prometheus_binary=found[0],
            node="real",
            components={},
        )
        state.save(self.layout, current)
        real = node_components.RealNode(self.layout, bin_dir, current.ports)
        kubeconfig.write(self.layout, real.api_server)
        pause = images.ensure("pause", self._log, self._environ)
        control_plane = images.ensure("control-plane", self._log, self._environ)
        specs = self._specs(current)
        env = {**self._environ, STACK_ID_ENV: current.stack_id, "KUBECONFIG": self.kubeconfig}
        try:
            node_lifecycle.prepare(real, pause.name, found[0])
            current = self._spawn(current, specs["etcd"], env)
            current = self._spawn(current, specs["containerd"], env)
            self._wait(current, specs["etcd"])
            current = self._spawn(current, specs["kube-apiserver"], env)
            current = self._spawn(current, specs["relay"], env)
            self._wait(current, specs["containerd"])
            # Imported while the API server starts; kubelet needs the pause image for any Pod.
            images.import_images(real.paths.containerd_socket, [pause, control_plane], self._log)
            images.tag_dev(real.paths.containerd_socket, control_plane, "control-plane")
            self._wait(current, specs["kube-apiserver"])
            self._wait(current, specs["relay"])
            kubelet_start = time.time()
            for name in COMPONENTS[4:]:
                current = self._spawn(current, specs[name], env)
            node_lifecycle.apply_cluster_objects(real)
            for name in COMPONENTS[4:]:
                self._wait(current, specs[name])
            node_lifecycle.wait_node_ready(real, kubelet_start, self._timeout, self._log)
            self._wait_default_service_account(current)
        except BaseException:
            self._log("start-up failed; stopping what was started")
            self._stop_all(current)
            raise

    @contextlib.contextmanager
    def joined(self) -> Iterator[None]:
        """Run the calling thread inside the real node's network namespace for the block: it
        and every thread or process it starts there reach Pod IPs, ClusterIPs, cluster DNS's
        address and the node's daemons directly, as a process on a cluster's node would."""
        from shadowgate.devstack import netns

        with netns.joined(self.real_node().net):
            yield

    def publish(self, source: pathlib.Path, name: str) -> pathlib.Path:
        """Copy the folder ``source`` to the node as ``name``, readable by any container user,
        and return its path on the node (for a read-only hostPath volume). Replaces a previous
        copy; the node's ``down`` removes it."""
        target = self.real_node().paths.share_dir / name
        staging = target.with_name(f".{name}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging, symlinks=False)
        for folder, _dirs, files in os.walk(staging):
            os.chmod(folder, 0o755)
            for f in files:
                os.chmod(os.path.join(folder, f), 0o644)
        staging.parent.chmod(0o755)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        return target

    def load_image(self, kind: str) -> str:
        """Build (or find cached) one of the product's images and import it into the running
        node's containerd, also as ``images.dev_name(kind)``; returns its content-tagged name."""
        real = self.real_node()
        built = images.ensure(kind, self._log, self._environ)
        images.import_images(real.paths.containerd_socket, [built], self._log)
        images.tag_dev(real.paths.containerd_socket, built, kind)
        return built.name

    def restart(self, name: str) -> None:
        """Stop one running component and start it again with the same command line and port
        (fault-injection tests restart the API server this way); does not wait for it."""
        with self._locked():
            current = self._running_state()
            record = current.components[name]
            processes.stop(record)
            env = {**self._environ, STACK_ID_ENV: current.stack_id, "KUBECONFIG": self.kubeconfig}
            restarted = processes.spawn(
                record.name, record.argv, pathlib.Path(record.log), env, self.layout.root
            )
            processes.write_pid_file(self.layout.pid_file(record.name), restarted)
            self._log(f"restarted {name} (pid {restarted.pid})")
            state.save(self.layout, current.with_component(restarted))

    def _spawn(
        self, current: state.StackState, spec: ComponentSpec, env: Mapping[str, str]
    ) -> state.StackState:
        self.layout.etcd_data.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.layout.controller_manager_certs.mkdir(parents=True, exist_ok=True)
        record = processes.spawn(spec.name, spec.argv, self.layout.log(spec.name), env, self.layout.root)
        processes.write_pid_file(self.layout.pid_file(spec.name), record)
        self._log(f"started {spec.name} (pid {record.pid}{f', port {spec.port}' if spec.port else ''})")
        updated = current.with_component(record)
        state.save(self.layout, updated)
        return updated

    def _wait(self, current: state.StackState, spec: ComponentSpec) -> None:
        record = current.components[spec.name]
        start = time.monotonic()
        deadline = start + self._timeout
        detail = ""
        while time.monotonic() < deadline:
            if not processes.is_running(record):
                raise ComponentCrashed(spec.name, record.log)
            ok, detail = health.probe(spec.health, self.layout)
            if ok:
                self._log(f"{spec.name} ready (waited {time.monotonic() - start:.1f} s)")
                return
            time.sleep(0.1)
        raise StackError(
            f"{spec.name} not ready after {self._timeout:.0f} s ({detail}); its log is {record.log}"
        )

    def _wait_default_service_account(self, current: state.StackState) -> None:
        # Pods are rejected until the ServiceAccount controller has made `default`; wait for it
        # so callers can create Pods as soon as `up` returns.
        url = f"https://127.0.0.1:{current.ports['kube-apiserver']}/api/v1/namespaces/default/serviceaccounts/default"
        ctx = health.admin_ssl_context(self.layout)
        deadline = time.monotonic() + self._timeout
        start = time.monotonic()
        while time.monotonic() < deadline:
            if health.get(url, ctx)[0] == 200:
                self._log(f"default ServiceAccount present (waited {time.monotonic() - start:.1f} s)")
                return
            time.sleep(0.1)
        raise StackError("the default ServiceAccount never appeared; see the kube-controller-manager log")

    def _stop_all(self, current: state.StackState) -> state.StackState:
        real = current.node == "real" and bool(current.bin_dir)
        node = (
            node_components.RealNode(self.layout, pathlib.Path(current.bin_dir), current.ports)
            if real
            else None
        )
        if node is not None and "kubelet" in current.components:
            # No controller may replace the Pods being drained, and kubelet must still run to
            # stop them (unmounts, CNI DEL).
            for name in ("kube-controller-manager", "kube-scheduler"):
                record = current.components.get(name)
                if record is not None:
                    processes.stop(record)
            if processes.is_running(current.components["kubelet"]):
                node_lifecycle.drain(node, self._log)
        for name in reversed(self._order(current)):
            record = current.components.get(name)
            if record is not None:
                processes.stop(record)
                self.layout.pid_file(name).unlink(missing_ok=True)
        left = (
            processes.kill_strays(current.stack_id, [r.pid for r in current.components.values()])
            if (current.stack_id)
            else []
        )
        if node is not None:
            node_lifecycle.cleanup(node, self._log)
        stopped = current.stopped()
        state.save(self.layout, stopped)
        if left:
            raise StackError(f"processes still alive after stopping the stack: {left}")
        return stopped

    def down(self, purge: bool = False) -> DownResult:
        """Stop every process this stack started and verify none is left; ``purge`` deletes the state."""
        with self._locked():
            current = state.load(self.layout)
            names = tuple(n for n in reversed(self._order(current)) if n in current.components)
            self._stop_all(current)
        if purge and self.layout.state_file.exists():
            shutil.rmtree(self.state_dir)
        return DownResult(names)
