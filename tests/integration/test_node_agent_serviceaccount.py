"""ServiceAccount credentials of the node agent's Pods, against the real local stack.

Each Pod here runs a small Python process that reports its environment and what the API
server lets it do with the credentials it was given (the real kubernetes client, the real
RBAC authorizer, real TokenRequest tokens bound to the Pod). The agent itself runs with the
admin kubeconfig; none of that may reach a Pod.
"""

from __future__ import annotations

import base64
import json
import pathlib
import stat
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from node_agent_support import wait_for
from shadowgate.devstack.stack import Stack

pytestmark = pytest.mark.integration


# Reports {env, user, status codes} to argv[1], then stays up; with argv[2] present it exits 1
# as soon as that file exists (so a test decides when the process "crashes").
REPORTER = """
import json, os, pathlib, sys, time
from kubernetes import client, config
report = {"env": dict(os.environ)}
if "KUBECONFIG" in os.environ:
    config.load_kube_config()
    api = client.ApiClient()
    review = client.AuthenticationV1Api(api).create_self_subject_review(
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    report["user"] = review.status.user_info.username
    core, ns = client.CoreV1Api(api), os.environ["POD_NAMESPACE"]
    for key, call in (("configmaps", lambda: core.list_namespaced_config_map(ns)),
                      ("secrets", lambda: core.list_namespaced_secret(ns)),
                      ("kube-system-pods", lambda: core.list_namespaced_pod("kube-system"))):
        try:
            call()
            report[key] = 200
        except client.ApiException as err:
            report[key] = err.status
out = pathlib.Path(sys.argv[1])
out.with_suffix(".tmp").write_text(json.dumps(report))
out.with_suffix(".tmp").replace(out)
crash = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else None
while not (crash and crash.exists()):
    time.sleep(0.1)
sys.exit(1)
"""


def pod_manifest(name: str, args: list[str], sa: str, automount: bool | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceAccountName": sa,
        "terminationGracePeriodSeconds": 2,
        "containers": [
            {
                "name": "reporter",
                "image": "ignored.example/r:1",
                "command": [sys.executable, "-c", REPORTER, *args],
            }
        ],
    }
    if automount is not None:
        spec["automountServiceAccountToken"] = automount
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def create(method: Callable[..., Any], namespace: str, manifest: dict[str, Any]) -> None:
    """Create from a plain manifest (the client accepts dicts; its annotations say models)."""
    method(namespace, manifest, _preload_content=False)


def service_account(core: client.CoreV1Api, namespace: str, name: str) -> None:
    create(core.create_namespaced_service_account, namespace, {"metadata": {"name": name}})


def read_pod(core: client.CoreV1Api, namespace: str, name: str) -> dict[str, Any]:
    resp: Any = core.read_namespaced_pod(name, namespace, _preload_content=False)
    data: dict[str, Any] = json.loads(resp.data)
    return data


def report(path: pathlib.Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def pod_dir(stack: Stack, namespace: str, pod: dict[str, Any]) -> pathlib.Path:
    meta = pod["metadata"]
    return (
        pathlib.Path(stack.state_dir)
        / "node-agent"
        / "pods"
        / f"{namespace}_{meta['name']}_{meta['uid'][:8]}"
    )


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data


def gone(core: client.CoreV1Api, namespace: str, name: str) -> bool:
    try:
        core.read_namespaced_pod(name, namespace, _preload_content=False)
    except client.ApiException as err:
        return err.status == 404
    return False


def test_pod_acts_as_its_service_account_with_exactly_its_role(
    core: client.CoreV1Api, kube_api: client.ApiClient, namespace: str, stack: Stack, tmp_path: pathlib.Path
) -> None:
    rbac = client.RbacAuthorizationV1Api(kube_api)
    service_account(core, namespace, "reader")
    role = {
        "metadata": {"name": "configmap-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
    }
    create(rbac.create_namespaced_role, namespace, role)
    binding = {
        "metadata": {"name": "reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmap-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
    }
    create(rbac.create_namespaced_role_binding, namespace, binding)
    out = tmp_path / "report.json"
    create(core.create_namespaced_pod, namespace, pod_manifest("reader", [str(out)], "reader"))

    seen = wait_for("the Pod's report", lambda: report(out))
    assert seen["user"] == f"system:serviceaccount:{namespace}:reader"
    assert (seen["configmaps"], seen["secrets"], seen["kube-system-pods"]) == (200, 403, 403)

    pod = read_pod(core, namespace, "reader")
    folder = pod_dir(stack, namespace, pod)
    env: dict[str, str] = seen["env"]
    assert env["KUBECONFIG"] == str(folder / "kubeconfig")
    admin = {stack.kubeconfig, str(pathlib.Path(stack.kubeconfig).resolve())}
    assert not admin & set(env.values()), "the admin kubeconfig reached the Pod's process"
    files = [
        folder / "kubeconfig",
        *(folder / "serviceaccount" / f for f in ("token", "ca.crt", "namespace")),
    ]
    assert [stat.S_IMODE(f.stat().st_mode) for f in files] == [0o600] * 4
    assert (folder / "serviceaccount" / "namespace").read_text() == namespace
    claims = jwt_claims((folder / "serviceaccount" / "token").read_text())
    assert claims["kubernetes.io"]["pod"] == {"name": "reader", "uid": pod["metadata"]["uid"]}
    # Asked for the kubelet's 3607 s, the token is extended (warn-only expiry at 3607 s).
    assert claims["exp"] - claims["iat"] > 3607 and "warnafter" in claims["kubernetes.io"]

    core.delete_namespaced_pod("reader", namespace, _preload_content=False)
    wait_for("the Pod's deletion", lambda: gone(core, namespace, "reader"))
    assert not (folder / "kubeconfig").exists() and not (folder / "serviceaccount").exists()


def test_automount_false_gives_the_process_no_kubeconfig(
    core: client.CoreV1Api, namespace: str, stack: Stack, tmp_path: pathlib.Path
) -> None:
    service_account(core, namespace, "quiet")
    out = tmp_path / "report.json"
    manifest = pod_manifest("quiet", [str(out)], "quiet", automount=False)
    create(core.create_namespaced_pod, namespace, manifest)

    seen = wait_for("the Pod's report", lambda: report(out))
    assert "KUBECONFIG" not in seen["env"] and "user" not in seen
    assert stack.kubeconfig not in seen["env"].values()
    assert not (pod_dir(stack, namespace, read_pod(core, namespace, "quiet")) / "kubeconfig").exists()


def test_pod_of_a_missing_service_account_waits_and_never_runs_as_anyone_else(
    core: client.CoreV1Api, namespace: str, tmp_path: pathlib.Path
) -> None:
    # Admission refuses a Pod whose account is missing, so the account goes away under a running
    # Pod; the process then exits and every restart needs a new token.
    service_account(core, namespace, "ephemeral")
    out, crash = tmp_path / "report.json", tmp_path / "crash"
    manifest = pod_manifest("orphan", [str(out), str(crash)], "ephemeral")
    create(core.create_namespaced_pod, namespace, manifest)
    assert wait_for("the first run's report", lambda: report(out))["user"].endswith(":ephemeral")

    core.delete_namespaced_service_account("ephemeral", namespace, _preload_content=False)
    out.unlink()
    crash.touch()

    def waiting() -> dict[str, Any] | None:
        state = (read_pod(core, namespace, "orphan")["status"].get("containerStatuses") or [{}])[0].get(
            "state"
        )
        found: dict[str, Any] | None = (state or {}).get("waiting")
        return found if found and found.get("reason") == "ContainerCreating" else None

    why = wait_for("the Pod to wait for its account", waiting)
    assert f'serviceaccount "ephemeral" not found in namespace "{namespace}"' in why["message"]
    time.sleep(3)  # retries meanwhile (1 s, 2 s back-off) must not start it
    assert not out.exists() and waiting() is not None

    crash.unlink()
    service_account(core, namespace, "ephemeral")
    assert wait_for("the run after the account came back", lambda: report(out))["user"].endswith(":ephemeral")
