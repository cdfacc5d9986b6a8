"""Shared set-up for the operator and CRD integration tests (no tests in this module).

- ``install_crd``: the Candidate CRD from ``crds/``, waited until Established.
- ``operator_kubeconfig``: a ServiceAccount bound to a ClusterRole built from
  ``charts/shadowgate/files/operator-rules.yaml``, and a kubeconfig holding its TokenRequest
  token, so the operator runs with exactly the chart's rights, not as admin.
- ``OperatorProcess``: ``kopf run -m shadowgate.controller.main`` as a real subprocess (so a
  test can ``kill -9`` it).
- ``FAKE_MODEL_SERVER``: a stand-in model server each production and candidate Pod runs, as
  ``python -c`` in a container of the control-plane image (which has Python but no torch): it
  binds all of the Pod's addresses on 8080, answers ``/ping`` (the readiness probe) and exits at
  start when its ``--archive`` names a path containing ``unreachable``, like a server that
  cannot load.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from shadowgate.devstack import images
from shadowgate.devstack.stack import Stack

ROOT = pathlib.Path(__file__).resolve().parents[2]
CRD = ROOT / "crds" / "candidate.yaml"
RULES = ROOT / "charts" / "shadowgate" / "files" / "operator-rules.yaml"
GROUP, VERSION, PLURAL = "shadowgate.dev", "v1alpha1", "candidates"
OPERATOR_NS = "shadowgate-system"

FAKE_MODEL_SERVER = r"""
import http.server, os, sys
archive = sys.argv[sys.argv.index("--archive") + 1] if "--archive" in sys.argv else ""
for a in sys.argv:
    if a.startswith("--archive="):
        archive = a.split("=", 1)[1]
if "unreachable" in archive:
    sys.exit(f"cannot open archive {archive}")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = archive.encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer((os.environ.get("POD_IP", "0.0.0.0"), 8080), H).serve_forever()
"""


def eventually(
    check: Callable[[], Any], timeout: float = 60.0, what: str = "condition", every: float = 0.25
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what} not reached in {timeout} s (last: {last!r})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def install_crd(api: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(api)
    body = yaml.safe_load(CRD.read_text())
    try:
        current = ext.read_custom_resource_definition(body["metadata"]["name"])
        body["metadata"]["resourceVersion"] = current.metadata.resource_version
        ext.replace_custom_resource_definition(body["metadata"]["name"], body)
    except client.ApiException as err:
        if err.status != 404:
            raise
        ext.create_custom_resource_definition(body)

    def established() -> bool:
        crd = ext.read_custom_resource_definition(body["metadata"]["name"])
        return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])

    eventually(established, 30, "CRD Established")


def _ensure(create: Callable[[], Any]) -> None:
    try:
        create()
    except client.ApiException as err:
        if err.status != 409:
            raise


def operator_kubeconfig(api: client.ApiClient, admin_kubeconfig: str, out: pathlib.Path) -> pathlib.Path:
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    _ensure(lambda: core.create_namespace({"metadata": {"name": OPERATOR_NS}}))
    _ensure(
        lambda: core.create_namespaced_service_account(
            OPERATOR_NS, {"metadata": {"name": "shadowgate-operator"}}
        )
    )
    rules = yaml.safe_load(RULES.read_text())
    role = {"metadata": {"name": "shadowgate-operator-test"}, "rules": rules["namespaced"] + rules["cluster"]}
    try:
        rbac.replace_cluster_role("shadowgate-operator-test", role)
    except client.ApiException as err:
        if err.status != 404:
            raise
        rbac.create_cluster_role(role)
    binding = {
        "metadata": {"name": "shadowgate-operator-test"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "shadowgate-operator-test",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "shadowgate-operator", "namespace": OPERATOR_NS}],
    }
    _ensure(lambda: rbac.create_cluster_role_binding(binding))
    token = core.create_namespaced_service_account_token(
        "shadowgate-operator", OPERATOR_NS, {"spec": {"expirationSeconds": 7200}}
    ).status.token
    admin = yaml.safe_load(pathlib.Path(admin_kubeconfig).read_text())
    cluster = admin["clusters"][0]["cluster"]
    if "certificate-authority" in cluster:
        ca = pathlib.Path(cluster.pop("certificate-authority")).read_bytes()
        cluster["certificate-authority-data"] = base64.b64encode(ca).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "local", "user": "operator"}}],
        "current-context": "operator",
    }
    out.write_text(yaml.safe_dump(config))
    return out


class OperatorProcess:
    def __init__(self, kubeconfig: pathlib.Path, prometheus_url: str, log: pathlib.Path) -> None:
        self.kubeconfig, self.prometheus_url, self.log = kubeconfig, prometheus_url, log
        self.metrics_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "SHADOWGATE_TICK_SECONDS": "0.5",
            "SHADOWGATE_METRICS_PORT": str(self.metrics_port),
            "SHADOWGATE_PROMETHEUS_URL": self.prometheus_url,
        }
        env.pop("KUBERNETES_SERVICE_HOST", None)
        cmd = [sys.executable, "-m", "kopf", "run", "-m", "shadowgate.controller.main", "--standalone", "-A"]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


def production_deployment(script: pathlib.Path, archive: str, name: str = "retriever") -> dict[str, Any]:
    labels = {
        "app.kubernetes.io/name": name,
        "shadowgate.dev/variant": "primary",
        "shadowgate.dev/target": name,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "annotations": {"shadowgate.dev/version": "1.0.0"}},
        "spec": {
            "replicas": 1,
            "selector": {
                "matchLabels": {"app.kubernetes.io/name": name, "shadowgate.dev/variant": "primary"}
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "model-server",
                            "image": images.dev_name("control-plane"),
                            "imagePullPolicy": "Never",
                            "command": ["python", "-c", script.read_text()],
                            "args": ["--archive", archive, "--variant", "primary"],
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {
                                "httpGet": {"path": "/ping", "port": 8080},
                                "periodSeconds": 1,
                            },
                        }
                    ],
                },
            },
        },
    }


def production_service(name: str = "retriever") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app.kubernetes.io/name": name, "shadowgate.dev/variant": "primary"},
            "ports": [{"name": "http", "port": 8080, "targetPort": 8080}],
        },
    }


def route_table(route: str, name: str = "retriever") -> dict[str, Any]:
    import json

    table = {"route": route, "version": 1, "kind": "retriever", "primary": {"service": name, "port": 8080}}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"shadowgate-route-{route}", "labels": {"shadowgate.dev/route-table": "true"}},
        "data": {"route.json": json.dumps(table)},
    }


def candidate(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Candidate", "metadata": {"name": name}, "spec": spec}


BASE_ARCHIVE = "file:///models/retriever-base"
GOOD_ARCHIVE = "file:///models/retriever-adapter"


class Evidence:
    """Counters and a gauge on loopback, scraped by the stack's Prometheus every second."""

    def __init__(self, stack: Stack) -> None:
        self.registry = CollectorRegistry()
        self.error_ratio = Gauge(
            "sgtest_error_ratio", "Test gate value.", ["test_ns"], registry=self.registry
        )
        self.mirrored = Counter(
            "shadowgate_router_mirror", "Mirrored.", ["route", "variant", "result"], registry=self.registry
        )
        self.clicks = Counter(
            "shadowgate_router_clicks", "Clicks.", ["route", "variant"], registry=self.registry
        )
        self.port = free_port()
        start_http_server(self.port, addr="127.0.0.1", registry=self.registry)
        stack.add_scrape_target("sgtest-operator", f"127.0.0.1:{self.port}")
        self._routes: set[str] = set()
        self._stop = threading.Event()
        threading.Thread(target=self._feed, daemon=True).start()

    def _feed(self) -> None:
        # Steady traffic: every route under test gets mirrored requests and canary clicks.
        while not self._stop.wait(0.2):
            for route in list(self._routes):
                self.mirrored.labels(route, "shadow", "completed").inc(2)
                self.clicks.labels(route, "canary").inc(2)

    def traffic(self, route: str) -> None:
        self._routes.add(route)

    def stop(self) -> None:
        self._stop.set()


@pytest.fixture(name="evidence", scope="module")
def evidence_fixture(stack: Stack) -> Iterator[Evidence]:
    ev = Evidence(stack)
    yield ev
    ev.stop()


@pytest.fixture(name="operator", scope="module")
def operator_fixture(
    stack: Stack, kube_api: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    install_crd(kube_api)
    home = tmp_path_factory.mktemp("operator")
    kubeconfig = operator_kubeconfig(kube_api, stack.kubeconfig, home / "kubeconfig")
    proc = OperatorProcess(kubeconfig, stack.prometheus_url, home / "operator.log")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
        print(proc.logs())


@pytest.fixture(name="server_script", scope="module")
def server_script_fixture(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("model-server") / "fake_model_server.py"
    path.write_text(FAKE_MODEL_SERVER)
    return path


class Env:
    def __init__(
        self, api: client.ApiClient, namespace: str, script: pathlib.Path, evidence: Evidence
    ) -> None:
        self.ns, self.script, self.evidence = namespace, script, evidence
        self.objects = client.CustomObjectsApi(api)
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.route = namespace  # router metrics are not per namespace: one route per test

    def production(self) -> None:
        self.apps.create_namespaced_deployment(self.ns, production_deployment(self.script, BASE_ARCHIVE))
        self.core.create_namespaced_service(self.ns, production_service())
        self.core.create_namespaced_config_map(self.ns, route_table(self.route))
        eventually(
            lambda: (
                (self.apps.read_namespaced_deployment("retriever", self.ns).status.available_replicas or 0)
                >= 1
            ),
            60,
            "production Available",
        )

    def spec(self, gate_metric: str = "sgtest_error_ratio", **changes: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "target": {"deployment": "retriever", "route": self.route},
            "model": {"archiveUri": GOOD_ARCHIVE, "version": "1.1.0"},
            "shadow": {"duration": "3s", "minRequests": 5},
            "canary": {"steps": [20, 60], "stepDuration": "3s", "minSamples": 5},
            "analysis": {"interval": "1s"},
            "policy": {"deployTimeout": "60s"},
            "gates": {
                "extra": [
                    {
                        "name": "error-ratio",
                        "kind": "threshold",
                        "metric": f'max({gate_metric}{{test_ns="{{namespace}}"}})',
                        "max": 0.2,
                    }
                ]
            },
        }
        spec.update(changes)
        return spec

    def create(self, name: str, spec: dict[str, Any]) -> None:
        self.objects.create_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, candidate(name, spec))

    def patch(self, name: str, spec: dict[str, Any]) -> None:
        self.objects.patch_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name, {"spec": spec})

    def get(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = self.objects.get_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name)
        return out

    def status(self, name: str) -> dict[str, Any]:
        return self.get(name).get("status") or {}

    def wait_phase(self, name: str, *phases: str, timeout: float = 90) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            status = self.status(name)
            return status if status.get("phase") in phases else None

        try:
            result: dict[str, Any] = eventually(reached, timeout, f"{name} in {phases}")
        except AssertionError as err:
            raise AssertionError(f"{err}; status: {json.dumps(self.status(name))[:3000]}") from None
        return result

    def table(self) -> dict[str, Any]:
        cm = self.core.read_namespaced_config_map(f"shadowgate-route-{self.route}", self.ns)
        out: dict[str, Any] = json.loads(cm.data["route.json"])
        return out

    def production_archive(self) -> str:
        args: list[str] = (
            self.apps.read_namespaced_deployment("retriever", self.ns).spec.template.spec.containers[0].args
        )
        return args[args.index("--archive") + 1]

    def candidate_deployment_exists(self, name: str) -> bool:
        try:
            self.apps.read_namespaced_deployment(f"{name}-cand", self.ns)
        except client.ApiException as err:
            if err.status == 404:
                return False
            raise
        return True

    def events(self, name: str) -> list[str]:
        items = self.core.list_namespaced_event(self.ns, field_selector=f"involvedObject.name={name}").items
        return [e.reason for e in items]


@pytest.fixture(name="env")
def env_fixture(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    namespace: str,
    server_script: pathlib.Path,
    evidence: Evidence,
) -> Env:
    e = Env(kube_api, namespace, server_script, evidence)
    evidence.traffic(e.route)
    return e


def assert_no_duplicate_transitions(status: dict[str, Any]) -> None:
    pairs = [(h["from"], h["to"], h["generation"]) for h in status["history"]]
    assert len(pairs) == len(set(pairs)), pairs
