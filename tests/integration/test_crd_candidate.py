"""The Candidate CRD on the real API server: bad manifests are rejected with field messages,
defaults are filled, and the API is discoverable (short name, category, printer columns, explain)."""

from __future__ import annotations

import copy
import json
import pathlib
import subprocess
from typing import Any

import pytest
import yaml
from kubernetes import client
from shadowgate.devstack.stack import Stack
from test_operator_support import GROUP, PLURAL, VERSION, candidate, install_crd

pytestmark = pytest.mark.integration

VALID: dict[str, Any] = {
    "target": {"deployment": "retriever", "route": "retriever"},
    "model": {"archiveUri": "file:///models/adapter.tar.gz", "version": "1.1.0"},
    "shadow": {"duration": "30s", "mirrorPercent": 50},
    "canary": {"steps": [10, 50, 100], "stepDuration": "30s", "minSamples": 200},
    "analysis": {"interval": "5s"},
}


@pytest.fixture(scope="module")
def crd(kube_api: client.ApiClient) -> None:
    install_crd(kube_api)


def with_changes(path: str, value: Any) -> dict[str, Any]:
    spec = copy.deepcopy(VALID)
    node = spec
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    if value is _DELETE:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return spec


_DELETE = object()


def problem(err: client.ApiException) -> str:
    """The API server's message, JSON-decoded (the raw body escapes quotes)."""
    return str(json.loads(err.body)["message"])


BAD = [
    pytest.param(with_changes("model", _DELETE), "spec.model: Required value", id="missing-model"),
    pytest.param(
        with_changes("model.version", _DELETE), "spec.model.version: Required value", id="missing-version"
    ),
    pytest.param(
        with_changes("canary.steps", [50, 10]),
        "canary steps must be strictly increasing",
        id="steps-decreasing",
    ),
    pytest.param(
        with_changes("canary.steps", [10, 10, 50]),
        "canary steps must be strictly increasing",
        id="steps-repeated",
    ),
    pytest.param(
        with_changes("canary.steps", [10, 150]),
        "spec.canary.steps[1]: Invalid value: 150",
        id="step-over-100",
    ),
    pytest.param(with_changes("canary.steps", []), "spec.canary.steps: Invalid value", id="no-steps"),
    pytest.param(
        with_changes("shadow", {"mirrorPercent": 20}),
        "a shadow phase needs duration or minRequests",
        id="mirror-percent-without-shadow-phase",
    ),
    pytest.param(with_changes("shadow.duration", "soon"), "spec.shadow.duration", id="bad-duration"),
    pytest.param(
        with_changes("analysis.interval", "500ms"),
        "analysis.interval must be at least 1s",
        id="interval-too-short",
    ),
    pytest.param(
        with_changes("canary.stepDuration", "2s"),
        "canary.stepDuration must be at least analysis.interval",
        id="step-shorter-than-interval",
    ),
    pytest.param(
        with_changes("approve", True) | {"abort": True},
        "approve and abort cannot both be true",
        id="approve-and-abort",
    ),
    pytest.param(
        with_changes("target.provider", "istio"),
        'spec.target.provider: Unsupported value: "istio"',
        id="unknown-provider",
    ),
    pytest.param(
        with_changes("target.deployment", "Bad_Name"), "spec.target.deployment", id="bad-target-name"
    ),
    pytest.param(
        with_changes("model.replicas", 0), "spec.model.replicas: Invalid value: 0", id="zero-replicas"
    ),
    pytest.param(
        with_changes("model.archiveUri", "ftp://x/y"), "spec.model.archiveUri", id="bad-archive-scheme"
    ),
    pytest.param(
        with_changes("baseline", {"version": "1.0.0"}),
        "baseline needs both archiveUri and version",
        id="half-a-baseline",
    ),
    pytest.param(
        with_changes("policy", {"inconclusive": {"action": "ignore"}}),
        "spec.policy.inconclusive.action: Unsupported value",
        id="bad-inconclusive-action",
    ),
    pytest.param(
        with_changes("policy", {"failureLimit": 0}),
        "spec.policy.failureLimit: Invalid value: 0",
        id="zero-failure-limit",
    ),
    pytest.param(
        with_changes("gates", {"extra": [{"name": "x", "kind": "vibes"}]}),
        'spec.gates.extra[0].kind: Unsupported value: "vibes"',
        id="unknown-gate-kind",
    ),
    pytest.param(
        with_changes("gates", {"preset": "nope"}),
        'spec.gates.preset: Unsupported value: "nope"',
        id="unknown-preset",
    ),
    pytest.param(
        with_changes("gates", {"extra": [{"name": "x", "kind": "threshold", "metric": "m"}]}),
        "a threshold gate needs min, max or metrics",
        id="threshold-without-bound",
    ),
    pytest.param(
        with_changes("gates", {"extra": [{"name": "x", "kind": "check"}, {"name": "x", "kind": "check"}]}),
        "spec.gates.extra[1]: Duplicate value",
        id="duplicate-gate-names",
    ),
    pytest.param(
        with_changes("model.resources", {"requests": {"cpu": "half a core"}}),
        "spec.model.resources.requests.cpu",
        id="bad-resource-quantity",
    ),
    pytest.param(
        with_changes("shadow", _DELETE) | {"canary": None, "evaluation": None},
        "automatic promotion needs at least one of evaluation, shadow or canary",
        id="no-evidence-at-all",
    ),
]


@pytest.mark.parametrize(("spec", "message"), BAD)
def test_bad_manifest_is_rejected_with_a_field_message(
    crd: None, kube_api: client.ApiClient, namespace: str, spec: dict[str, Any], message: str
) -> None:
    objects = client.CustomObjectsApi(kube_api)
    spec = {k: v for k, v in spec.items() if v is not None}
    with pytest.raises(client.ApiException) as err:
        objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, candidate("bad", spec))
    assert err.value.status == 422
    assert message in problem(err.value)


def test_valid_manifest_gets_defaults(crd: None, kube_api: client.ApiClient, namespace: str) -> None:
    objects = client.CustomObjectsApi(kube_api)
    created = objects.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, candidate("ok", VALID)
    )
    spec = created["spec"]
    assert spec["target"]["provider"] == "router"
    assert spec["model"]["replicas"] == 1
    assert spec["policy"] == {
        "failureLimit": 1,
        "inconclusive": {"action": "hold", "limit": 10},
        "promotion": "auto",
        "deployTimeout": "5m",
        "promoteTimeout": "5m",
    }
    assert (spec["paused"], spec["approve"], spec["abort"]) == (False, False, False)
    assert spec["canary"]["stickyKey"] == "X-User-Id"


def test_target_is_immutable(crd: None, kube_api: client.ApiClient, namespace: str) -> None:
    objects = client.CustomObjectsApi(kube_api)
    objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, candidate("fixed", VALID))
    with pytest.raises(client.ApiException) as err:
        objects.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "fixed", {"spec": {"target": {"deployment": "other"}}}
        )
    assert err.value.status == 422 and "target is immutable" in problem(err.value)


def test_status_is_a_subresource(crd: None, kube_api: client.ApiClient, namespace: str) -> None:
    objects = client.CustomObjectsApi(kube_api)
    objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, candidate("st", VALID))
    # A spec write cannot set status; only the status subresource can.
    objects.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "st", {"status": {"phase": "Promoted"}}
    )
    assert "status" not in objects.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "st")
    objects.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "st",
        {"status": {"phase": "Canary", "weight": 10, "gatesSummary": "2/3"}},
    )
    assert (
        objects.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "st")["status"]["weight"]
        == 10
    )


def kubectl(stack: Stack, *args: str) -> str:
    binary = stack.bin_dir / "kubectl"
    cmd = [str(binary), "--kubeconfig", stack.kubeconfig, *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def test_short_name_category_and_printer_columns(
    crd: None, stack: Stack, kube_api: client.ApiClient, namespace: str
) -> None:
    objects = client.CustomObjectsApi(kube_api)
    objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, candidate("shown", VALID))
    objects.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "shown",
        {"status": {"phase": "Canary", "weight": 10, "gatesSummary": "2/3"}},
    )
    by_short_name = kubectl(stack, "get", "cand", "-n", namespace)
    header, row = by_short_name.strip().splitlines()
    assert header.split() == ["NAME", "TARGET", "PHASE", "WEIGHT", "GATES", "AGE"]
    assert row.split()[:5] == ["shown", "retriever", "Canary", "10", "2/3"]
    assert "shown" in kubectl(stack, "get", "shadowgate", "-n", namespace)  # the category


def test_kubectl_explain_documents_every_field(crd: None, stack: Stack) -> None:
    out = kubectl(stack, "explain", "candidate.spec", "--recursive")
    for field in (
        "target",
        "archiveUri",
        "mirrorPercent",
        "stickyKey",
        "failureLimit",
        "paused",
        "approve",
        "abort",
    ):
        assert field in out
    assert "strictly increasing" in kubectl(stack, "explain", "candidate.spec.canary.steps")


EXAMPLES = sorted((pathlib.Path(__file__).resolve().parents[2] / "examples").glob("candidate-*.yaml"))


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in EXAMPLES])
def test_examples_are_accepted(
    crd: None, kube_api: client.ApiClient, namespace: str, path: pathlib.Path
) -> None:
    body = yaml.safe_load(path.read_text())
    created = client.CustomObjectsApi(kube_api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body, dry_run="All"
    )
    assert created["metadata"]["name"] == body["metadata"]["name"]
