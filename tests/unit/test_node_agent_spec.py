"""The node agent's reading of Pod manifests: probes, env, argv, and the errors it reports."""

from __future__ import annotations

from typing import Any

import pytest
from shadowgate.devstack import node_agent_spec as podspec


def make_pod(container: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    base = {"name": "server", "image": "ignored:1", "command": ["python"], "args": ["-m", "http.server"]}
    return {
        "metadata": {
            "name": "web-1",
            "namespace": "ns1",
            "uid": "u-1",
            "labels": {"app": "web"},
            "annotations": {"note": "hi"},
        },
        "spec": {"containers": [{**base, **(container or {})}], "nodeName": "shadowgate-local", **spec},
    }


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param(
            {"httpGet": {"port": 8080, "path": "/ping"}},
            podspec.Probe(kind="http", port=8080, path="/ping"),
            id="http-defaults",
        ),
        pytest.param(
            {
                "httpGet": {"port": "http", "path": "ready", "httpHeaders": [{"name": "X", "value": "1"}]},
                "periodSeconds": 1,
                "failureThreshold": 2,
                "successThreshold": 2,
                "initialDelaySeconds": 3,
                "timeoutSeconds": 4,
            },
            podspec.Probe(
                kind="http",
                port=8081,
                path="/ready",
                period_s=1.0,
                timeout_s=4.0,
                initial_delay_s=3.0,
                failure_threshold=2,
                success_threshold=2,
                headers=(("X", "1"),),
            ),
            id="http-named-port-and-timing",
        ),
        pytest.param(
            {"httpGet": {"port": "9000"}}, podspec.Probe(kind="http", port=9000), id="numeric-string"
        ),
        pytest.param({"tcpSocket": {"port": "metrics"}}, podspec.Probe(kind="tcp", port=8082), id="tcp"),
    ],
)
def test_parse_probe(probe: dict[str, Any] | None, expected: podspec.Probe | None) -> None:
    container = {
        "name": "c",
        "ports": [{"name": "http", "containerPort": 8081}, {"name": "metrics", "containerPort": 8082}],
    }
    assert podspec.parse_probe(container, probe) == expected


@pytest.mark.parametrize(
    ("probe", "message"),
    [
        pytest.param({"exec": {"command": ["true"]}}, "exec probe is not supported", id="exec"),
        pytest.param({"grpc": {"port": 1}}, "grpc probe is not supported", id="grpc"),
        pytest.param({"httpGet": {"port": "nope"}}, "no port named 'nope'", id="unknown-port-name"),
        pytest.param({"httpGet": {"port": 1, "scheme": "HTTPS"}}, "HTTPS is not supported", id="https"),
    ],
)
def test_parse_probe_refuses(probe: dict[str, Any], message: str) -> None:
    with pytest.raises(podspec.PodSpecError, match=message) as err:
        podspec.parse_probe({"name": "c", "ports": []}, probe)
    assert err.value.reason == podspec.CONFIG_ERROR


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        pytest.param("--host=$(POD_IP)", {"POD_IP": "127.1.0.1"}, "--host=127.1.0.1", id="defined"),
        pytest.param("$(MISSING)x", {}, "$(MISSING)x", id="undefined-kept"),
        pytest.param("$$(POD_IP)", {"POD_IP": "1"}, "$(POD_IP)", id="escaped"),
        pytest.param("$HOME and $(A)$(B)", {"A": "a", "B": "b"}, "$HOME and ab", id="shell-syntax-untouched"),
    ],
)
def test_expand(text: str, env: dict[str, str], expected: str) -> None:
    assert podspec.expand(text, env) == expected


def test_container_env_resolves_literals_field_refs_and_references() -> None:
    container = {
        "env": [
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "URL", "value": "http://$(IP):8080"},
            {"name": "EMPTY"},
        ]
    }
    env = podspec.container_env(make_pod(), container, "127.1.0.7", "127.0.0.1")
    assert env == {
        "IP": "127.1.0.7",
        "NAME": "web-1",
        "NS": "ns1",
        "APP": "web",
        "URL": "http://127.1.0.7:8080",
        "EMPTY": "",
    }


@pytest.mark.parametrize(
    ("container", "message"),
    [
        pytest.param(
            {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
            "valueFrom.secretKeyRef is not supported",
            id="secret-ref",
        ),
        pytest.param(
            {"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.hostname"}}}]},
            "fieldRef 'spec.hostname' is not supported",
            id="unknown-field",
        ),
        pytest.param(
            {"envFrom": [{"configMapRef": {"name": "c"}}]}, "envFrom is not supported", id="env-from"
        ),
    ],
)
def test_container_env_refuses(container: dict[str, Any], message: str) -> None:
    with pytest.raises(podspec.PodSpecError, match=message):
        podspec.container_env(make_pod(), container, "127.1.0.7", "127.0.0.1")


def test_process_env_layers_agent_env_pod_vars_and_container_env() -> None:
    env = podspec.process_env(
        make_pod(), {"POD_NAME": "override", "A": "1"}, "127.1.0.9", {"PATH": "/venv/bin", "A": "base"}
    )
    assert env == {
        "PATH": "/venv/bin",
        "A": "1",
        "POD_IP": "127.1.0.9",
        "POD_NAME": "override",
        "POD_NAMESPACE": "ns1",
    }


def test_run_spec_reads_first_container() -> None:
    pod = make_pod(
        {
            "command": ["python", "-m"],
            "args": ["srv", "--host", "$(POD_IP)", "--name=$(ME)"],
            "env": [{"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "readinessProbe": {"httpGet": {"port": 8080, "path": "/ping"}, "periodSeconds": 1},
            "workingDir": "/tmp",
        },
        restartPolicy="OnFailure",
        terminationGracePeriodSeconds=3,
    )
    spec = podspec.run_spec(pod, "127.1.0.3", "127.0.0.1")
    # The agent's POD_IP is part of the process env, so $(POD_IP) expands like a declared variable.
    assert spec.argv == ("python", "-m", "srv", "--host", "127.1.0.3", "--name=web-1")
    assert spec.env == (("ME", "web-1"),)
    assert (spec.restart_policy, spec.grace_s, spec.working_dir, spec.container) == (
        "OnFailure",
        3.0,
        "/tmp",
        "server",
    )
    assert spec.readiness == podspec.Probe(kind="http", port=8080, path="/ping", period_s=1.0)
    assert spec.liveness is None


@pytest.mark.parametrize(
    ("pod", "message"),
    [
        pytest.param(make_pod({"command": []}), "has no command", id="no-command"),
        pytest.param(
            make_pod(restartPolicy="Sometimes"), "restartPolicy 'Sometimes'", id="bad-restart-policy"
        ),
        pytest.param(
            {"metadata": {"name": "x", "namespace": "n"}, "spec": {"containers": []}},
            "no containers",
            id="no-containers",
        ),
    ],
)
def test_run_spec_refuses(pod: dict[str, Any], message: str) -> None:
    with pytest.raises(podspec.PodSpecError, match=message):
        podspec.run_spec(pod, "127.1.0.3", "127.0.0.1")


@pytest.mark.parametrize(
    ("metadata", "spec", "expected"),
    [
        pytest.param({}, {}, 30.0, id="default"),
        pytest.param({}, {"terminationGracePeriodSeconds": 5}, 5.0, id="spec"),
        pytest.param(
            {"deletionGracePeriodSeconds": 0}, {"terminationGracePeriodSeconds": 5}, 0.0, id="deletion-wins"
        ),
    ],
)
def test_grace_seconds(metadata: dict[str, Any], spec: dict[str, Any], expected: float) -> None:
    assert podspec.grace_seconds({"metadata": metadata, "spec": spec}) == expected


@pytest.mark.parametrize(
    ("policy", "code", "expected"),
    [
        pytest.param("Always", 0, True, id="always-ok"),
        pytest.param("Always", 1, True, id="always-fail"),
        pytest.param("OnFailure", 0, False, id="onfailure-ok"),
        pytest.param("OnFailure", 2, True, id="onfailure-fail"),
        pytest.param("Never", 2, False, id="never"),
    ],
)
def test_should_restart(policy: str, code: int, expected: bool) -> None:
    assert podspec.should_restart(policy, code) is expected
