"""The Helm chart, rendered with the pinned helm: lint and template are clean at the pinned
Kubernetes version, objects carry the security and RBAC the issue asks for, namespaced mode,
routers and monitoring render as documented, and bad values are rejected with a message."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import subprocess
import tomllib
from typing import Any

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "shadowgate"
KUBE_VERSION = "v1.36.3"
RELEASE = "sg"


def _helm() -> str:
    bin_dir = subprocess.run(
        [str(ROOT / "hack" / "build-binaries.sh"), "--print-dir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    helm = pathlib.Path(bin_dir) / "helm"
    assert helm.exists(), f"helm is not built yet: run hack/build-binaries.sh ({helm})"
    return str(helm)


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_helm(), *args], capture_output=True, text=True, check=False, cwd=ROOT)


def render(*sets: str, api_versions: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    args = [
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        "shadowgate-system",
        "--kube-version",
        KUBE_VERSION,
    ]
    for s in sets:
        args += ["--set-json", s]
    for v in api_versions:
        args += ["--api-versions", v]
    res = helm(*args)
    assert res.returncode == 0, res.stderr
    return [d for d in yaml.safe_load_all(res.stdout) if d]


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def operator_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (dep,) = find(docs, "Deployment", f"{RELEASE}-shadowgate-operator")
    return dep["spec"]["template"]["spec"]["containers"][0]


def test_chart_crd_is_identical_to_repo_crd() -> None:
    repo, chart = ROOT / "crds" / "candidate.yaml", CHART / "crds" / "candidate.yaml"
    assert chart.read_bytes() == repo.read_bytes(), f"re-copy: cp {repo} {chart}"


def test_helm_lint_is_clean() -> None:
    res = helm("lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[WARNING]" not in res.stdout and "[ERROR]" not in res.stdout, res.stdout


def test_default_render_objects() -> None:
    kinds = sorted({d["kind"] for d in render()})
    assert kinds == sorted(
        {
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Service",
            "ConfigMap",
            "ClusterKopfPeering",
        }
    )


def test_monitoring_is_off_by_default() -> None:
    assert not {"ServiceMonitor", "PodMonitor", "PrometheusRule"} & {d["kind"] for d in render()}


def test_operator_security_and_probes() -> None:
    docs = render()
    (dep,) = find(docs, "Deployment", f"{RELEASE}-shadowgate-operator")
    pod = dep["spec"]["template"]["spec"]
    c = operator_container(docs)
    assert dep["spec"]["replicas"] >= 2
    assert pod["securityContext"]["runAsNonRoot"] is True
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["port"] == "health"
    assert c["resources"]["requests"] and c["resources"]["limits"]
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert {"/tmp", env["HOME"]} <= mounts  # writable scratch on a read-only root
    assert pod["serviceAccountName"] == f"{RELEASE}-shadowgate"
    # The operator's settings (shadowgate.controller.config): metrics on the Pod address and port.
    by_name = {e["name"]: e for e in c["env"]}
    assert by_name["SHADOWGATE_METRICS_HOST"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert by_name["SHADOWGATE_METRICS_PORT"]["value"] == str(c["ports"][1]["containerPort"])


def test_operator_runs_peered_with_distinct_priorities() -> None:
    c = operator_container(render())
    script = c["args"][0]
    assert c["command"] == ["sh", "-c"]
    assert script.startswith("exec kopf run -m shadowgate.controller.main ")
    assert "--all-namespaces" in script and "--peering=shadowgate" in script
    assert "--priority=$(od -An -N3 -tu4 /dev/urandom" in script
    # The priority expression really yields an integer in a POSIX shell.
    out = subprocess.run(
        ["sh", "-c", "echo $(od -An -N3 -tu4 /dev/urandom | tr -d ' ')"], capture_output=True, text=True
    )
    assert out.stdout.strip().isdigit()


def test_operator_module_exists() -> None:
    module = yaml.safe_load((CHART / "values.yaml").read_text())["operator"]["module"]
    assert importlib.util.find_spec(module) is not None, f"operator.module {module} is not importable"


def test_router_command_is_a_project_entry_point() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    docs = render('router.routes=[{"name":"retriever"}]')
    (dep,) = find(docs, "Deployment", f"{RELEASE}-shadowgate-router-retriever")
    assert dep["spec"]["template"]["spec"]["containers"][0]["command"][0] in scripts


def _rules(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for d in find(docs, kind) for r in d["rules"]]


def test_rbac_is_the_operator_rules_and_least_privilege() -> None:
    rules = yaml.safe_load((CHART / "files" / "operator-rules.yaml").read_text())
    docs = render()
    assert _rules(docs, "ClusterRole") == rules["cluster"] + rules["namespaced"]
    for rule in _rules(docs, "ClusterRole"):
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
        assert "secrets" not in rule["resources"], rule


def test_namespaced_mode() -> None:
    rules = yaml.safe_load((CHART / "files" / "operator-rules.yaml").read_text())
    docs = render('watchNamespaces=["shop","books"]')
    assert _rules(docs, "ClusterRole") == rules["cluster"]
    roles = find(docs, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["books", "shop"]
    assert all(r["rules"] == rules["namespaced"] for r in roles)
    bindings = find(docs, "RoleBinding")
    assert all(b["subjects"][0]["namespace"] == "shadowgate-system" for b in bindings)
    script = operator_container(docs)["args"][0]
    assert "--namespace=shop --namespace=books" in script and "--all-namespaces" not in script
    assert sorted(p["metadata"]["namespace"] for p in find(docs, "KopfPeering")) == ["books", "shop"]
    assert not find(docs, "ClusterKopfPeering")


def test_router_per_route() -> None:
    docs = render('router.routes=[{"name":"retriever","replicas":3},{"name":"reranker"}]')
    deps = {d["metadata"]["name"]: d for d in find(docs, "Deployment")}
    assert deps[f"{RELEASE}-shadowgate-router-retriever"]["spec"]["replicas"] == 3
    assert deps[f"{RELEASE}-shadowgate-router-reranker"]["spec"]["replicas"] == 2
    svcs = {s["metadata"]["name"] for s in find(docs, "Service")}
    assert {f"{RELEASE}-shadowgate-router-retriever", f"{RELEASE}-shadowgate-router-reranker"} <= svcs
    (role,) = find(docs, "Role", f"{RELEASE}-shadowgate-router")
    assert all(set(r["verbs"]) <= {"get", "list", "watch"} for r in role["rules"])


def test_monitoring_renders_when_enabled() -> None:
    docs = render(
        "monitoring.serviceMonitor.enabled=true",
        "monitoring.podMonitor.enabled=true",
        "monitoring.prometheusRule.enabled=true",
        api_versions=("monitoring.coreos.com/v1",),
    )
    (rule,) = find(docs, "PrometheusRule")
    plain = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yaml").read_text())
    assert rule["spec"]["groups"] == plain["groups"]
    (sm,) = find(docs, "ServiceMonitor")
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"
    assert find(docs, "PodMonitor")


def test_dashboard_configmap() -> None:
    (cm,) = find(render(), "ConfigMap", f"{RELEASE}-shadowgate-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads((ROOT / "deploy" / "grafana" / "shadowgate-dashboard.json").read_text())
    assert json.loads(cm["data"]["shadowgate-dashboard.json"]) == shipped


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("operator.replicas=-1", "/operator/replicas': minimum", id="negative-replicas"),
        pytest.param('operator.replicas="two"', "/operator/replicas': got string", id="replicas-not-int"),
        pytest.param(
            'image.pullPolicy="Sometimes"', "/image/pullPolicy': value must be one of", id="pull-policy-enum"
        ),
        pytest.param(
            'opertor={"replicas":1}', "additional properties 'opertor' not allowed", id="unknown-key"
        ),
        pytest.param('watchNamespaces=["Bad_NS"]', "/watchNamespaces/0'", id="namespace-not-dns1123"),
        pytest.param('router.routes=[{"replicas":1}]', "missing property 'name'", id="route-without-name"),
        pytest.param(
            "securityContext.allowPrivilegeEscalation=true",
            "/securityContext/allowPrivilegeEscalation': value must be false",
            id="privesc",
        ),
        pytest.param(
            'operator.prometheusUrl="prometheus:9090"', "/operator/prometheusUrl'", id="url-without-scheme"
        ),
        pytest.param(
            'monitoring.serviceMonitor.interval="15 seconds"',
            "/monitoring/serviceMonitor/interval'",
            id="bad-duration",
        ),
        pytest.param("operator.healthPort=70000", "/operator/healthPort': maximum", id="port-range"),
        pytest.param(
            'router.backends="endpoints"', "/router/backends': value must be one of", id="backends-enum"
        ),
    ],
)
def test_schema_rejects_bad_values(value: str, message: str) -> None:
    res = helm("template", RELEASE, str(CHART), "--kube-version", KUBE_VERSION, "--set-json", value)
    assert res.returncode != 0
    assert "values don't meet the specifications of the schema" in res.stderr, res.stderr
    assert message in res.stderr, res.stderr


def test_unpeered_replicas_are_rejected() -> None:
    res = helm(
        "template", RELEASE, str(CHART), "--kube-version", KUBE_VERSION,
        "--set-json", "operator.peering.enabled=false", "--set-json", "operator.replicas=2",
    )  # fmt: skip
    assert res.returncode != 0
    assert "needs operator.peering.enabled=true" in res.stderr
