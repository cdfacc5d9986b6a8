"""The chart on the real local cluster: ``helm install`` works, the chart's ServiceAccount
(TokenRequest token) may do what the operator needs and nothing it must not, an operator run as a
local process with that identity reconciles a Candidate, and ``helm uninstall`` cleans up.

Here the operator's Deployment is mostly installed with 0 replicas and the operator runs as a
process on the node under the chart's identity, so the RBAC is what is exercised in isolation.
The peering and router tests, the demo and the e2e test run the chart's own operator and router
Deployments as containers of the control-plane image under the same ServiceAccounts."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import pathlib
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client
from shadowgate.devstack import images

pytestmark = pytest.mark.integration

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "shadowgate"
RULES = yaml.safe_load((CHART / "files" / "operator-rules.yaml").read_text())
GROUP, VERSION = "shadowgate.dev", "v1alpha1"


def helm(stack: Any, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        [str(pathlib.Path(stack.bin_dir) / "helm"), *args, "--kubeconfig", stack.kubeconfig],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if check:
        assert res.returncode == 0, f"helm {' '.join(args)}: {res.stdout}\n{res.stderr}"
    return res


def install(stack: Any, release: str, namespace: str) -> None:
    helm(
        stack, "install", release, str(CHART), "--namespace", namespace,
        "--set-json", f'watchNamespaces=["{namespace}"]',
        # The control-plane image built from Dockerfile.control-plane and imported into the node.
        "--set-json", f"image={json.dumps(images.chart_image_values())}",
        "--set-json", "operator.replicas=0",
        "--set-json", 'router.routes=[{"name":"retriever","replicas":0}]',
        "--wait", "--timeout", "120s",
    )  # fmt: skip


def make_namespace(api: client.ApiClient) -> str:
    name = f"t-chart-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


@pytest.fixture(scope="module")
def release(stack: Any, kube_api: client.ApiClient) -> Iterator[tuple[str, str]]:
    namespace = make_namespace(kube_api)
    name = f"sg{uuid.uuid4().hex[:6]}"
    try:
        install(stack, name, namespace)
        yield name, namespace
    finally:
        helm(stack, "uninstall", name, "--namespace", namespace, "--wait", check=False)
        client.CoreV1Api(kube_api).delete_namespace(namespace)


def sa_kubeconfig(stack: Any, api: client.ApiClient, namespace: str, sa: str, path: pathlib.Path) -> None:
    """A kubeconfig whose user is the ServiceAccount, with a TokenRequest token."""
    token_request: Any = client.CoreV1Api(api).create_namespaced_service_account_token(
        sa,
        namespace,
        client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
        ),
    )
    token = token_request.status.token
    admin = yaml.safe_load(pathlib.Path(stack.kubeconfig).read_text())
    cluster = admin["clusters"][0]["cluster"]
    if "certificate-authority" in cluster:
        ca = base64.b64encode(pathlib.Path(cluster["certificate-authority"]).read_bytes()).decode()
    else:
        ca = cluster["certificate-authority-data"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "local", "cluster": {"server": cluster["server"], "certificate-authority-data": ca}}
        ],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "local", "user": sa, "namespace": namespace}}],
        "current-context": "sa",
    }
    path.write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def sa_api(
    stack: Any, kube_api: client.ApiClient, release: tuple[str, str]
) -> Iterator[tuple[client.ApiClient, pathlib.Path]]:
    from kubernetes import config

    name, namespace = release
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "sa.kubeconfig"
        sa_kubeconfig(stack, kube_api, namespace, f"{name}-shadowgate", path)
        api = config.new_client_from_config(config_file=str(path))
        try:
            yield api, path
        finally:
            api.close()


def can(api: client.ApiClient, verb: str, group: str, resource: str, namespace: str | None) -> bool:
    sub = None
    if "/" in resource:
        resource, sub = resource.split("/", 1)
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(
                verb=verb, group=group, resource=resource, subresource=sub, namespace=namespace
            )
        )
    )
    answer: Any = client.AuthorizationV1Api(api).create_self_subject_access_review(review)
    return bool(answer.status.allowed)


def test_install_created_the_objects(kube_api: client.ApiClient, release: tuple[str, str]) -> None:
    name, namespace = release
    full = f"{name}-shadowgate"
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    dep: Any = apps.read_namespaced_deployment(f"{full}-operator", namespace)
    assert dep.spec.template.spec.service_account_name == full
    assert dep.spec.template.spec.containers[0].security_context.read_only_root_filesystem is True
    assert apps.read_namespaced_deployment(f"{full}-router-retriever", namespace)
    core.read_namespaced_service_account(full, namespace)
    core.read_namespaced_service(f"{full}-operator-metrics", namespace)
    cm: Any = core.read_namespaced_config_map(f"{full}-dashboard", namespace)
    assert cm.metadata.labels["grafana_dashboard"] == "1"
    rbac = client.RbacAuthorizationV1Api(kube_api)
    assert rbac.read_namespaced_role(f"{full}-operator", namespace).rules
    rbac.read_cluster_role(f"{full}-operator")
    objects = client.CustomObjectsApi(kube_api)
    objects.get_namespaced_custom_object("kopf.dev", "v1", namespace, "kopfpeerings", "shadowgate")
    ext = client.ApiextensionsV1Api(kube_api)
    for crd in ("candidates.shadowgate.dev", "kopfpeerings.kopf.dev", "clusterkopfpeerings.kopf.dev"):
        got: Any = ext.read_custom_resource_definition(crd)
        conditions = got.status.conditions or []
        assert any(c.type == "Established" and c.status == "True" for c in conditions), crd


def _rule_params(scope: str) -> list[Any]:
    return [
        pytest.param(verb, group, resource, id=f"{scope}-{verb}-{group or 'core'}-{resource}")
        for rule in RULES[scope]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    ]


@pytest.mark.parametrize(("verb", "group", "resource"), _rule_params("namespaced"))
def test_identity_may_do_namespaced_rule(
    sa_api: Any, release: tuple[str, str], verb: str, group: str, resource: str
) -> None:
    assert can(sa_api[0], verb, group, resource, release[1])


@pytest.mark.parametrize(("verb", "group", "resource"), _rule_params("cluster"))
def test_identity_may_do_cluster_rule(sa_api: Any, verb: str, group: str, resource: str) -> None:
    assert can(sa_api[0], verb, group, resource, None)


@pytest.mark.parametrize(
    ("verb", "group", "resource", "where"),
    [
        pytest.param("get", "", "secrets", "own", id="no-secrets"),
        pytest.param("list", "", "secrets", None, id="no-secrets-cluster"),
        pytest.param("list", GROUP, "candidates", "default", id="no-candidates-outside-watched"),
        pytest.param("delete", "apps", "deployments", "kube-system", id="no-deployments-outside-watched"),
        pytest.param("create", "rbac.authorization.k8s.io", "rolebindings", "own", id="no-rbac-escalation"),
        pytest.param("delete", "", "namespaces", None, id="no-namespace-delete"),
        pytest.param("create", "", "pods/exec", "own", id="no-exec"),
    ],
)
def test_identity_may_not(
    sa_api: Any, release: tuple[str, str], verb: str, group: str, resource: str, where: str | None
) -> None:
    namespace = release[1] if where == "own" else where
    assert not can(sa_api[0], verb, group, resource, namespace)


def test_identity_really_lists_candidates_and_is_refused_secrets(
    sa_api: Any, release: tuple[str, str]
) -> None:
    api, namespace = sa_api[0], release[1]
    client.CustomObjectsApi(api).list_namespaced_custom_object(GROUP, VERSION, namespace, "candidates")
    with pytest.raises(client.ApiException) as err:
        client.CoreV1Api(api).list_namespaced_secret(namespace)
    assert err.value.status == 403


OPERATOR_MODULE = yaml.safe_load((CHART / "values.yaml").read_text())["operator"]["module"]


def test_operator_with_the_chart_identity_reconciles_a_candidate(
    stack: Any, kube_api: client.ApiClient, sa_api: Any, release: tuple[str, str], tmp_path: pathlib.Path
) -> None:
    assert importlib.util.find_spec(OPERATOR_MODULE) is not None, f"{OPERATOR_MODULE} does not exist yet"
    _, namespace = release
    env = {
        **os.environ,
        "KUBECONFIG": str(sa_api[1]),
        "SHADOWGATE_PROMETHEUS_URL": stack.prometheus_url,
        "SHADOWGATE_METRICS_PORT": "0",
    }
    log = (tmp_path / "operator.log").open("w")
    kopf = pathlib.Path(sys.executable).parent / "kopf"
    # The chart's own peering object, joined the way the chart's Deployment joins it.
    argv = [str(kopf), "run", "-m", OPERATOR_MODULE, f"--namespace={namespace}", "--peering=shadowgate"]
    argv.append(f"--priority={random.randint(1, 1 << 24)}")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Candidate",
            "metadata": {"name": "no-target", "namespace": namespace},
            "spec": {
                "target": {"deployment": "missing-production", "route": "retriever"},
                "model": {"archiveUri": "file:///models/retriever.tar.gz", "version": "1.1.0"},
                "canary": {"steps": [10, 50]},
            },
        }
        objects = client.CustomObjectsApi(kube_api)
        objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "candidates", body)
        # A missing production Deployment ends in Failed (issue 5) without touching anything.
        deadline, phase = time.monotonic() + 90, None
        while time.monotonic() < deadline and proc.poll() is None:
            got: Any = objects.get_namespaced_custom_object(
                GROUP, VERSION, namespace, "candidates", "no-target"
            )
            phase = (got.get("status") or {}).get("phase")
            if phase == "Failed":
                break
            time.sleep(0.5)
        log.flush()
        output = (tmp_path / "operator.log").read_text()
        assert phase == "Failed", f"phase {phase}; operator log:\n{output[-4000:]}"
        assert got["status"]["history"], got["status"]
        # A word-bounded 403: the random namespace suffix (hex) may contain the digits 403.
        assert not re.search(r"\b403\b|Forbidden", output), output[-4000:]
        # The rollout report reads the status the real operator wrote.
        res = subprocess.run(
            [sys.executable, "-m", "shadowgate", "report", "no-target", "-n", namespace, "--prometheus",
             stack.prometheus_url, "--kubeconfig", stack.kubeconfig, "--out", str(tmp_path / "report")],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        page = (tmp_path / "report" / f"{namespace}-no-target.html").read_text()
        for entry in got["status"]["history"]:
            assert entry["reason"] in page
        assert "Failed" in page
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_uninstall_removes_cluster_scoped_objects(stack: Any, kube_api: client.ApiClient) -> None:
    namespace = make_namespace(kube_api)
    name = f"sg{uuid.uuid4().hex[:6]}"
    rbac = client.RbacAuthorizationV1Api(kube_api)
    try:
        install(stack, name, namespace)
        rbac.read_cluster_role(f"{name}-shadowgate-operator")
        helm(stack, "uninstall", name, "--namespace", namespace, "--wait")
        with pytest.raises(client.ApiException) as err:
            rbac.read_cluster_role(f"{name}-shadowgate-operator")
        assert err.value.status == 404
        # CRDs stay (Helm never deletes crds/): Candidates outlive an uninstall.
        client.ApiextensionsV1Api(kube_api).read_custom_resource_definition("candidates.shadowgate.dev")
    finally:
        client.CoreV1Api(kube_api).delete_namespace(namespace)


def test_bad_values_are_rejected_by_the_server_side_install(stack: Any) -> None:
    res = helm(
        stack,
        "install",
        "bad",
        str(CHART),
        "--namespace",
        "default",
        "--set-json",
        "operator.replicas=-1",
        "--dry-run",
        check=False,
    )
    assert res.returncode != 0
    assert "/operator/replicas': minimum" in res.stderr


def test_two_operator_pods_from_the_chart_are_peered(stack: Any, kube_api: client.ApiClient) -> None:
    """The chart's own operator Deployment, 2 replicas, as containers of the control-plane image
    on the real node (its command: sh, od, kopf with peering). Both become Ready through kopf's
    health endpoint, both join the peering object, and a Candidate is handled exactly once."""
    assert importlib.util.find_spec(OPERATOR_MODULE) is not None, f"{OPERATOR_MODULE} does not exist yet"
    namespace = make_namespace(kube_api)
    name = f"sg{uuid.uuid4().hex[:6]}"
    try:
        install(stack, name, namespace)
        # No credentials are handed over: kubelet gives each Pod a token for the chart's
        # ServiceAccount, so this runs under exactly the chart's RBAC.
        helm(
            stack, "upgrade", name, str(CHART), "--namespace", namespace, "--reuse-values",
            "--set-json", "operator.replicas=2",
            "--set-json", f"operator.prometheusUrl={json.dumps(stack.in_cluster_prometheus_url)}",
            "--wait", "--timeout", "120s",
        )  # fmt: skip
        dep: Any = client.AppsV1Api(kube_api).read_namespaced_deployment(
            f"{name}-shadowgate-operator", namespace
        )
        assert dep.status.ready_replicas == 2
        objects = client.CustomObjectsApi(kube_api)
        deadline = time.monotonic() + 30
        peers: dict[str, Any] = {}
        while time.monotonic() < deadline and len(peers) < 2:
            peering: Any = objects.get_namespaced_custom_object(
                "kopf.dev", "v1", namespace, "kopfpeerings", "shadowgate"
            )
            peers = peering.get("status") or {}
            time.sleep(0.5)
        assert len(peers) == 2, peering
        assert len({p["priority"] for p in peers.values()}) == 2, peers  # distinct: one acts, one waits
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Candidate",
            "metadata": {"name": "no-target", "namespace": namespace},
            "spec": {
                "target": {"deployment": "missing-production", "route": "retriever"},
                "model": {"archiveUri": "file:///models/retriever.tar.gz", "version": "1.1.0"},
                "canary": {"steps": [10, 50]},
            },
        }
        objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "candidates", body)
        deadline = time.monotonic() + 90
        got: Any = {}
        while time.monotonic() < deadline:
            got = objects.get_namespaced_custom_object(GROUP, VERSION, namespace, "candidates", "no-target")
            if (got.get("status") or {}).get("phase") == "Failed":
                break
            time.sleep(0.5)
        assert got["status"]["phase"] == "Failed", got.get("status")
        time.sleep(5)  # a second, unpeered operator would add its own transitions by now
        final: Any = objects.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "candidates", "no-target"
        )
        history = final["status"]["history"]
        into_failed = [h for h in history if h["to"] == "Failed"]
        assert len(into_failed) == 1, history
    finally:
        helm(stack, "uninstall", name, "--namespace", namespace, "--wait", check=False)
        client.CoreV1Api(kube_api).delete_namespace(namespace)


def test_router_from_the_chart_serves_on_the_local_stack(stack: Any, kube_api: client.ApiClient) -> None:
    """The chart's router Deployment, a container on the real node with the router's own ServiceAccount:
    it syncs route tables with its read-only Role (so /readyz turns 200 and the Pod Ready) and
    answers on the Pod's address."""
    namespace = make_namespace(kube_api)
    name = f"sg{uuid.uuid4().hex[:6]}"
    try:
        install(stack, name, namespace)
        helm(
            stack, "upgrade", name, str(CHART), "--namespace", namespace, "--reuse-values",
            "--set-json", 'router.routes=[{"name":"retriever","replicas":1}]',
            "--wait", "--timeout", "120s",
        )  # fmt: skip
        pods: Any = client.CoreV1Api(kube_api).list_namespaced_pod(
            namespace, label_selector="app.kubernetes.io/name=shadowgate-router"
        )
        ready = [
            p
            for p in pods.items
            if p.metadata.deletion_timestamp is None
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        ]
        assert len(ready) == 1, [
            (p.metadata.name, p.status.phase, p.metadata.deletion_timestamp) for p in pods.items
        ]
        pod = ready[0]
        port = pod.spec.containers[0].ports[0].container_port
        resp = httpx.get(f"http://{pod.status.pod_ip}:{port}/r/nowhere/x", timeout=5)
        assert resp.status_code == 404 and "error" in resp.json()  # a real router, no such route
        assert httpx.get(f"http://{pod.status.pod_ip}:{port}/metrics", timeout=5).status_code == 200
    finally:
        helm(stack, "uninstall", name, "--namespace", namespace, "--wait", check=False)
        client.CoreV1Api(kube_api).delete_namespace(namespace)
