"""Step 1, the platform: the local stack, the model archives, the chart, the golden set, and the
operator and router processes running under the chart's ServiceAccounts (never admin).

The local cluster runs no containers and a local process has no in-cluster credentials, so the
chart is installed with ``operator.replicas=0`` and a router route with ``replicas: 0``: it
supplies the CRD, RBAC and identities, and the operator and router run here as processes with a
kubeconfig holding a TokenRequest token for the chart's ServiceAccount (as
``tests/integration/test_chart.py`` does). Both are Prometheus scrape targets.
"""

from __future__ import annotations

import base64
import json
import pathlib
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes import client, config

from shadowgate.demo.processes import ManagedProcess, ProcessSpec, free_port
from shadowgate.demo.settings import ROOT, Settings
from shadowgate.devstack import state
from shadowgate.devstack.stack import Stack

Log = Callable[[str], None]
CHART = ROOT / "charts" / "shadowgate"
GOLDEN_DIR = ROOT / "data" / "golden"
GOLDEN_CONFIGMAP = "mangaassist-golden"


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


def sa_kubeconfig(
    api: client.ApiClient, admin_kubeconfig: str, namespace: str, sa: str, out: pathlib.Path
) -> None:
    """A kubeconfig whose only credential is a TokenRequest token for ``namespace/sa``."""
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=6 * 3600)
    )
    token_request: Any = client.CoreV1Api(api).create_namespaced_service_account_token(sa, namespace, request)
    admin = yaml.safe_load(pathlib.Path(admin_kubeconfig).read_text())
    cluster = dict(admin["clusters"][0]["cluster"])
    if "certificate-authority" in cluster:
        ca = pathlib.Path(cluster.pop("certificate-authority")).read_bytes()
        cluster["certificate-authority-data"] = base64.b64encode(ca).decode()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": cluster}],
                "users": [{"name": sa, "user": {"token": token_request.status.token}}],
                "contexts": [
                    {"name": sa, "context": {"cluster": "local", "user": sa, "namespace": namespace}}
                ],
                "current-context": sa,
            }
        )
    )
    out.chmod(0o600)


@dataclass
class Platform:
    settings: Settings
    log: Log
    stack: Stack | None = None
    api: client.ApiClient | None = None
    operator: ManagedProcess | None = None
    router: ManagedProcess | None = None
    archives: dict[str, pathlib.Path] | None = None
    router_url: str = ""
    operator_metrics: str = ""

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
        res = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=300, check=False)
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
        self.install_chart()
        self.golden_set()
        self.start_operator()
        self.start_router()

    def install_chart(self) -> None:
        s = self.settings
        self.helm(
            "upgrade", "--install", s.release, str(CHART), "--namespace", s.namespace, "--create-namespace",
            "--set-json", f'watchNamespaces=["{s.namespace}"]',
            "--set-json", "operator.replicas=0",
            "--set-json", f'router.routes=[{{"name":"{s.route}","replicas":0}}]',
            "--wait", "--timeout", "120s",
        )  # fmt: skip
        self.log(
            f"chart installed: release {s.release} in namespace {s.namespace} (CRD, RBAC, ServiceAccounts)"
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

    def start_operator(self) -> None:
        s, stack = self.settings, self.the_stack()
        kubeconfig = self.work / "operator.kubeconfig"
        sa_kubeconfig(self.kube(), stack.kubeconfig, s.namespace, self._fullname(), kubeconfig)
        metrics, health = free_port(), free_port()
        env = {
            **s.environ,
            "KUBECONFIG": str(kubeconfig),
            "SHADOWGATE_TICK_SECONDS": str(s.operator_tick_s),
            "SHADOWGATE_METRICS_PORT": str(metrics),
            "SHADOWGATE_PROMETHEUS_URL": stack.prometheus_url,
            # The model server takes its archive as --model (docs/model-server.md).
            "SHADOWGATE_ARCHIVE_FLAG": "--model",
            "SHADOWGATE_STACK_ID": _stack_id(stack),
            "HF_HUB_OFFLINE": "1",
        }
        env.pop("KUBERNETES_SERVICE_HOST", None)
        argv = [
            sys.executable, "-m", "kopf", "run", "-m", "shadowgate.controller.main", "--standalone",
            "--namespace", s.namespace, "--liveness", f"http://127.0.0.1:{health}/healthz",
        ]  # fmt: skip
        self.operator = ManagedProcess(
            ProcessSpec(
                "operator", argv, env, self.work / "operator.log", f"http://127.0.0.1:{health}/healthz"
            )
        )
        self.operator.start()
        self.operator_metrics = f"127.0.0.1:{metrics}"
        stack.add_scrape_target("shadowgate-operator", self.operator_metrics)
        self.log(
            f"operator running (pid {self.operator.pid}) as ServiceAccount {s.namespace}/{self._fullname()}"
        )

    def start_router(self) -> None:
        s, stack = self.settings, self.the_stack()
        kubeconfig = self.work / "router.kubeconfig"
        sa_kubeconfig(self.kube(), stack.kubeconfig, s.namespace, f"{self._fullname()}-router", kubeconfig)
        port = free_port()
        argv = [
            str(pathlib.Path(sys.executable).with_name("shadowgate-router")), "--kube",
            "--kubeconfig", str(kubeconfig), "--namespace", s.namespace,
            "--host", "127.0.0.1", "--port", str(port),
            "--attribution-window", str(s.attribution_window_s),
            "--mirror-timeout", str(s.mirror_timeout_s),
            "--state-file", str(self.work / "router-state.json"),
        ]  # fmt: skip
        env = {**s.environ, "SHADOWGATE_STACK_ID": _stack_id(stack)}
        env.pop("KUBERNETES_SERVICE_HOST", None)
        self.router = ManagedProcess(
            ProcessSpec("router", argv, env, self.work / "router.log", f"http://127.0.0.1:{port}/healthz")
        )
        self.router.start()
        self.router_url = f"http://127.0.0.1:{port}"
        stack.add_scrape_target("shadowgate-router", f"127.0.0.1:{port}")
        self.log(f"router running (pid {self.router.pid}) on {self.router_url}")

    def down(self) -> None:
        for proc in (self.router, self.operator):
            if proc is not None:
                proc.stop()
        if self.api is not None:
            self.api.close()
        if self.stack is not None and not self.settings.keep_up:
            result = self.stack.down()
            self.log(f"stack down: {result}")


def _stack_id(stack: Stack) -> str:
    # dev down kills whatever still carries the stack's id, so a demo killed mid-run leaks nothing.
    return state.load(stack.layout).stack_id
