"""Step 1, the platform: the local stack, the model archives, the chart with its own operator
and router Deployments, and the golden set.

The local cluster runs no containers; its node agent runs every Pod as a local process with the
container's command, args and env (PATH puts the project's entry points first, as the image's
PATH does), a TokenRequest token for the Pod's ServiceAccount, the chart's probes, and a
Prometheus target for each port named ``metrics``. So the chart is installed as production
installs it: 2 operator replicas with kopf peering and a router Deployment for the route. The
demo keeps no process handles; it finds Pods, their addresses and their processes through the
API server (``shadowgate.demo.pods``).
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config

from shadowgate.demo import pods
from shadowgate.demo.settings import ROOT, Settings
from shadowgate.devstack import state
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
        self.api = config.new_client_from_config(config_file=self.stack.kubeconfig)
        self.log(f"stack up: API server {self.stack.api_server}, Prometheus {self.stack.prometheus_url}")
        self.archives = build_archives(s.models_dir, self.log)
        self.work.mkdir(parents=True, exist_ok=True)  # rendered manifests go here
        self.install_chart()
        self.golden_set()
        self.report_pods()

    def install_chart(self) -> None:
        s, stack = self.settings, self.the_stack()
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
        self.helm(
            "upgrade", "--install", s.release, str(CHART), "--namespace", s.namespace, "--create-namespace",
            "--set-json", f"watchNamespaces={json.dumps([s.namespace])}",
            "--set-json", f"operator.prometheusUrl={json.dumps(stack.prometheus_url)}",
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
        """Where the chart's Pods run, and the router address the simulated users use."""
        s = self.settings
        operators = pods.wait_ready(self.kube(), s.namespace, self.operator_selector, 1, s.chart_timeout_s)
        listed = ", ".join(f"{p.name} (pid {p.pid}, {p.ip})" for p in self.operator_pods())
        self.log(f"operator Pods: {listed}; {len(operators)} Ready, kopf peering {PEERING_NAME!r}")
        routers = pods.wait_ready(self.kube(), s.namespace, self.router_selector, 1, s.chart_timeout_s)
        router = routers[0]
        if router.metrics_port is None:
            raise PlatformError(f"router Pod {router.name} declares no port named metrics")
        # No kube-proxy on the local stack: clients reach a Pod at its own loopback address.
        self.router_url = f"http://{router.ip}:{router.metrics_port}"
        self.log(f"router Pod {router.name} (pid {router.pid}) on {self.router_url}")
        self.log(f"Pod logs: {self.the_stack().layout.node_agent_dir / 'pods'}/<namespace>_<pod>_<uid>/")

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
        # The chart's Pods go with the stack (dev down stops the node agent and its Pods); a
        # kept-up stack keeps them running.
        if self.api is not None:
            self.api.close()
        if self.stack is not None and not self.settings.keep_up:
            result = self.stack.down()
            self.log(f"stack down: {result}")


def _stack_id(stack: Stack) -> str:
    # dev down kills whatever still carries the stack's id, so a demo killed mid-run leaks nothing.
    return state.load(stack.layout).stack_id
