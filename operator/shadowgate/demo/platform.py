"""Step 1, the platform: the local stack, the images, the model archives, the chart with its
own operator and router Deployments, and the golden set.

The local cluster is a real node (kubelet, containerd, kube-proxy, CoreDNS) in a network
namespace of its own. The demo's process joins that namespace once the stack is up, as a
process on a cluster's node would, so the simulated users reach the router through its
Service's ClusterIP. The chart is installed as production installs it, with the control-plane
image built from Dockerfile.control-plane: 2 operator replicas with kopf peering and a router
Deployment for the route; the model servers run the image built from the Dockerfile. Archives
reach the model server Pods on a read-only hostPath volume (``manifests``). The demo keeps no
process handles; it finds Pods, their containers and their processes through the API server
and containerd's state (``shadowgate.demo.pods``).
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, config

from shadowgate.demo import pods
from shadowgate.demo.settings import ROOT, Settings
from shadowgate.devstack import images, state
from shadowgate.devstack.stack import Stack

Log = Callable[[str], None]
CHART = ROOT / "charts" / "shadowgate"
GOLDEN_DIR = ROOT / "data" / "golden"
GOLDEN_CONFIGMAP = "mangaassist-golden"
# The chart's default operator.peering.name.
PEERING_NAME = "shadowgate"


class PlatformError(RuntimeError):
    """A platform step failed; the message says which and why."""


def build_archives(models_dir: pathlib.Path, log: Log) -> dict[str, pathlib.Path]:
    """The data engineer's one-command build (``python -m training.build_all``); it skips the
    work when its inputs are unchanged, so a warm run costs a hash of the inputs."""
    res = subprocess.run(
        [sys.executable, "-m", "training.build_all", "--out", str(models_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=None,
    )
    if res.returncode != 0:
        raise PlatformError(f"model archive build failed ({res.returncode}):\n{res.stderr[-3000:]}")
    try:
        answer = json.loads(res.stdout[res.stdout.index("{") :])
    except ValueError as exc:
        raise PlatformError(f"model archive build printed no JSON summary: {res.stdout[-1000:]}") from exc
    log("archives " + ("cached" if answer.get("up_to_date") else "built") + f" in {models_dir}")
    return {name: pathlib.Path(path) for name, path in answer["archives"].items()}


@dataclass
class Platform:
    settings: Settings
    log: Log
    stack: Stack | None = None
    api: client.ApiClient | None = None
    archives: dict[str, pathlib.Path] | None = None
    router_url: str = ""
    # The model-server image on the node and the node folder holding the archives.
    model_server_image: str = ""
    models_on_node: pathlib.Path | None = None
    _inside: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def stack_id(self) -> str:
        return _stack_id(self.the_stack())

    @property
    def work(self) -> pathlib.Path:
        return self.settings.state_dir / "demo"

    def kube(self) -> client.ApiClient:
        assert self.api is not None, "platform not up"
        return self.api

    def the_stack(self) -> Stack:
        assert self.stack is not None, "platform not up"
        return self.stack

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return self._tool("kubectl", *args, stdin=stdin)

    def helm(self, *args: str) -> str:
        return self._tool("helm", *args)

    def _tool(self, tool: str, *args: str, stdin: str | None = None) -> str:
        stack = self.the_stack()
        argv = [str(stack.bin_dir / tool), *args, "--kubeconfig", stack.kubeconfig]
        # helm --wait has its own deadline (settings.chart_timeout_s); this one only stops a hung tool.
        timeout = self.settings.chart_timeout_s + 60
        res = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
        if res.returncode != 0:
            raise PlatformError(f"{tool} {' '.join(args)} failed: {res.stderr.strip() or res.stdout.strip()}")
        return res.stdout

    # --- steps ---------------------------------------------------------------------------
    def up(self) -> None:
        s = self.settings
        self.stack = Stack(s.state_dir, environ=s.environ, log=lambda m: self.log(f"  stack: {m}"))
        self.stack.up()
        # From here on this process (and every thread it starts) is inside the node's network.
        self._inside.enter_context(self.stack.joined())
        self.api = config.new_client_from_config(config_file=self.stack.kubeconfig)
        self.log(f"stack up: API server {self.stack.api_server}, Prometheus {self.stack.prometheus_url}")
        self.model_server_image = self.stack.load_image("model-server")
        self.log(f"model-server image {self.model_server_image} on the node")
        self.archives = build_archives(s.models_dir, self.log)
        self.models_on_node = self.stack.publish(s.models_dir, "models")
        self.log(f"archives on the node at {self.models_on_node} (mounted read-only at /models)")
        self.work.mkdir(parents=True, exist_ok=True)  # rendered manifests go here
        self.install_chart()
        self.golden_set()
        self.report_pods()

    def install_chart(self) -> None:
        s = self.settings
        # The chart's values as an operator of a real cluster sets them, plus the demo's clocks.
        operator_env = [
            {"name": "SHADOWGATE_TICK_SECONDS", "value": str(s.operator_tick_s)},
            # The model server takes its archive as --model (docs/model-server.md).
            {"name": "SHADOWGATE_ARCHIVE_FLAG", "value": "--model"},
        ]
        router_args = [
            f"--attribution-window={s.attribution_window_s}",
            f"--mirror-timeout={s.mirror_timeout_s}",
        ]
        route = {"name": s.route, "replicas": s.router_replicas}
        image_values = images.chart_image_values("control-plane")
        prometheus = self.the_stack().in_cluster_prometheus_url
        self.helm(
            "upgrade", "--install", s.release, str(CHART), "--namespace", s.namespace, "--create-namespace",
            "--set-json", f"watchNamespaces={json.dumps([s.namespace])}",
            "--set-json", f"image={json.dumps(image_values)}",
            "--set-json", f"operator.prometheusUrl={json.dumps(prometheus)}",
            "--set-json", f"operator.extraEnv={json.dumps(operator_env)}",
            "--set-json", f"router.extraArgs={json.dumps(router_args)}",
            "--set-json", f"router.routes={json.dumps([route])}",
            "--wait", "--timeout", f"{s.chart_timeout_s:.0f}s",
        )  # fmt: skip
        self.log(
            f"chart installed: release {s.release} in namespace {s.namespace} (CRD, RBAC, ServiceAccounts, "
            f"operator Deployment {self.operator_deployment}, router Deployment {self.router_deployment})"
        )

    @property
    def operator_deployment(self) -> str:
        return f"{self._fullname()}-operator"

    @property
    def router_deployment(self) -> str:
        return f"{self._fullname()}-router-{self.settings.route}"

    @property
    def operator_selector(self) -> str:
        return (
            f"app.kubernetes.io/name=shadowgate-operator,app.kubernetes.io/instance={self.settings.release}"
        )

    @property
    def router_selector(self) -> str:
        s = self.settings
        return (
            f"app.kubernetes.io/name=shadowgate-router,app.kubernetes.io/instance={s.release},"
            f"shadowgate.dev/route={s.route}"
        )

    def operator_pods(self) -> list[pods.PodView]:
        return pods.pods(self.kube(), self.settings.namespace, self.operator_selector)

    def active_operator(self) -> pods.PodView:
        return pods.active_operator(
            self.kube(), self.settings.namespace, self.operator_selector, PEERING_NAME
        )

    def acting_peer(self) -> tuple[str, int] | None:
        return pods.acting_peer(self.kube(), self.settings.namespace, PEERING_NAME)

    def report_pods(self) -> None:
        """Where the chart's Pods run (image, container, process), and the router address the
        simulated users use: its Service's ClusterIP, which kube-proxy spreads over the Pods."""
        s = self.settings
        operators = pods.wait_ready(self.kube(), s.namespace, self.operator_selector, 1, s.chart_timeout_s)
        for p in self.operator_pods():
            self.log(f"operator Pod {p.name}: {p.ip}, image {p.image}, {p.container_id[:25]}, pid {p.pid}")
        self.log(f"{len(operators)} operator Pods Ready, kopf peering {PEERING_NAME!r}")
        routers = pods.wait_ready(self.kube(), s.namespace, self.router_selector, 1, s.chart_timeout_s)
        for p in routers:
            self.log(f"router Pod {p.name}: {p.ip}, image {p.image}, {p.container_id[:25]}, pid {p.pid}")
        service: Any = client.CoreV1Api(self.kube()).read_namespaced_service(
            self.router_deployment, s.namespace
        )
        port = next(p.port for p in service.spec.ports if p.name == "http")
        self.router_url = f"http://{service.spec.cluster_ip}:{port}"
        self.log(f"router Service {self.router_deployment} on {self.router_url}")
        self.log(
            f"inspect a Pod: kubectl --kubeconfig {self.the_stack().kubeconfig} -n {s.namespace}"
            " logs|exec|port-forward <pod>"
        )

    def golden_set(self) -> None:
        data = {p.name: p.read_text() for p in sorted(GOLDEN_DIR.iterdir()) if p.is_file()}
        body: Any = {
            "metadata": {"name": GOLDEN_CONFIGMAP, "labels": {"app.kubernetes.io/part-of": "mangaassist"}},
            "data": data,
        }
        core = client.CoreV1Api(self.kube())
        try:
            core.replace_namespaced_config_map(GOLDEN_CONFIGMAP, self.settings.namespace, body)
        except client.ApiException as err:
            if err.status != 404:
                raise
            core.create_namespaced_config_map(self.settings.namespace, body)
        self.log(f"golden set ConfigMap {GOLDEN_CONFIGMAP}: {', '.join(sorted(data))}")

    def _fullname(self) -> str:
        r = self.settings.release
        return r if "shadowgate" in r else f"{r}-shadowgate"

    def down(self) -> None:
        # The chart's Pods go with the stack (dev down drains the node); a kept-up stack keeps
        # them running. Back to the host's network first: the node's namespace is removed.
        if self.api is not None:
            self.api.close()
        self._inside.close()
        if self.stack is not None and not self.settings.keep_up:
            result = self.stack.down(purge=self.settings.purge)
            self.log(f"stack down: {result}")


def _stack_id(stack: Stack) -> str:
    # dev down kills whatever still carries the stack's id, so a demo killed mid-run leaks nothing.
    return state.load(stack.layout).stack_id
