"""How the node agent runs the image's Pods as local processes: the chart's own operator and
router Pods resolve to the project's entry points on the agent's PATH, their probes are ones the
agent evaluates, and the chart's emptyDir mounts become per-Pod folders the env points at."""

from __future__ import annotations

import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
from typing import Any

import pytest
import yaml
from shadowgate.devstack import node_agent_mounts as mounts
from shadowgate.devstack import node_agent_spec as podspec
from shadowgate.devstack.node_agent import pod_base_env
from shadowgate.devstack.node_agent_process import resolve_executable
from test_chart import _helm

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "shadowgate"
RELEASE = "sg"
POD_IP = "127.9.0.7"


@pytest.mark.parametrize(
    ("value", "want"),
    [
        pytest.param("/home/app", "/pod/volumes/home", id="the-mount-itself"),
        pytest.param("/home/app/.cache", "/pod/volumes/home/.cache", id="under-the-mount"),
        pytest.param("/tmp/matplotlib", "/pod/volumes/tmp/matplotlib", id="under-tmp"),
        pytest.param("/tmpfoo", "/tmpfoo", id="not-a-path-component"),
        pytest.param("/home/app2", "/home/app2", id="sibling-of-the-mount"),
        pytest.param("/var/data/x", "/pod/volumes/deep/x", id="longest-mount-wins"),
        pytest.param("/var/other", "/pod/volumes/var/other", id="shorter-mount"),
        pytest.param("exec run --dir=/tmp/x", "exec run --dir=/tmp/x", id="embedded-path-left-alone"),
        pytest.param("http://host/tmp", "http://host/tmp", id="url-left-alone"),
        pytest.param("", "", id="empty"),
    ],
)
def test_rewrite(value: str, want: str) -> None:
    table = {
        "/home/app": "/pod/volumes/home",
        "/tmp": "/pod/volumes/tmp",
        "/var": "/pod/volumes/var",
        "/var/data": "/pod/volumes/deep",
    }
    assert mounts.rewrite(value, table) == want


@pytest.mark.parametrize(
    ("volumes", "volume_mounts", "want"),
    [
        pytest.param(
            [{"name": "tmp", "emptyDir": {}}, {"name": "home", "emptyDir": {"sizeLimit": "1Gi"}}],
            [{"name": "tmp", "mountPath": "/tmp"}, {"name": "home", "mountPath": "/home/app/"}],
            {"/tmp": "/r/tmp", "/home/app": "/r/home"},
            id="empty-dirs",
        ),
        pytest.param(
            [{"name": "scratch", "emptyDir": {}}],
            [{"name": "scratch", "mountPath": "/work", "subPath": "a/b"}],
            {"/work": "/r/scratch/a/b"},
            id="sub-path",
        ),
        pytest.param(
            [{"name": "cfg", "configMap": {"name": "x"}}, {"name": "tok", "projected": {"sources": []}}],
            [{"name": "cfg", "mountPath": "/etc/cfg"}, {"name": "tok", "mountPath": "/var/run/secrets"}],
            {},
            id="other-kinds-ignored",
        ),
        pytest.param([], [], {}, id="none"),
    ],
)
def test_scratch_mounts(volumes: list[Any], volume_mounts: list[Any], want: dict[str, str]) -> None:
    assert mounts.scratch_mounts(volumes, {"volumeMounts": volume_mounts}, "/r") == want


@pytest.mark.parametrize(
    ("volumes", "volume_mounts", "message"),
    [
        pytest.param(
            [], [{"name": "gone", "mountPath": "/x"}], "volumeMount 'gone' names no volume", id="no-volume"
        ),
        pytest.param(
            [{"name": "v", "emptyDir": {}}],
            [{"name": "v", "mountPath": "relative/dir"}],
            "mountPath 'relative/dir' is not absolute",
            id="relative-mount-path",
        ),
    ],
)
def test_bad_mounts_are_a_config_error(volumes: list[Any], volume_mounts: list[Any], message: str) -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
        "spec": {
            "containers": [{"name": "c", "command": ["true"], "volumeMounts": volume_mounts}],
            "volumes": volumes,
        },
    }
    with pytest.raises(podspec.PodSpecError, match=re.escape(message)) as err:
        podspec.run_spec(pod, POD_IP, "127.0.0.1", "/r")
    assert err.value.reason == podspec.CONFIG_ERROR


def _scratch_pod() -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "command": ["tool"],
                    "args": ["--cache=/unmapped", "/cache/$(POD_NAME)"],
                    "workingDir": "/cache",
                    "env": [{"name": "HOME", "value": "/cache"}, {"name": "CFG", "value": "/cache/cfg.json"}],
                    "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
                }
            ],
            "volumes": [{"name": "cache", "emptyDir": {}}],
        },
    }


@pytest.mark.parametrize(
    ("root", "env", "argv", "working_dir", "dirs"),
    [
        pytest.param(
            "/pods/p/volumes",
            {"HOME": "/pods/p/volumes/cache", "CFG": "/pods/p/volumes/cache/cfg.json"},
            ("tool", "--cache=/unmapped", "/pods/p/volumes/cache/p"),
            "/pods/p/volumes/cache",
            ("/pods/p/volumes/cache",),
            id="mapped",
        ),
        pytest.param(
            None,
            {"HOME": "/cache", "CFG": "/cache/cfg.json"},
            ("tool", "--cache=/unmapped", "/cache/p"),
            "/cache",
            (),
            id="without-a-root-as-written",
        ),
    ],
)
def test_run_spec_maps_env_args_and_working_dir(
    root: str | None, env: dict[str, str], argv: tuple[str, ...], working_dir: str, dirs: tuple[str, ...]
) -> None:
    spec = podspec.run_spec(_scratch_pod(), POD_IP, "127.0.0.1", root)
    assert dict(spec.env) == env
    assert spec.argv == argv
    assert spec.working_dir == working_dir
    assert spec.scratch_dirs == dirs


# --- the chart's own Pods ---------------------------------------------------------------


@pytest.fixture(scope="module")
def chart_pods() -> dict[str, dict[str, Any]]:
    """Each Deployment's Pod template as the API server would serve a Pod made from it."""
    res = subprocess.run(
        [_helm(), "template", RELEASE, str(CHART), "--namespace", "demo", "--kube-version", "v1.36.3",
         "--set-json", 'router.routes=[{"name":"retriever"}]'],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = {}
    for doc in yaml.safe_load_all(res.stdout):
        if doc and doc["kind"] == "Deployment":
            name = f"{doc['metadata']['name']}-abc12"
            out[doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]] = {
                "metadata": {
                    **doc["spec"]["template"]["metadata"],
                    "name": name,
                    "namespace": "demo",
                    "uid": "u1",
                },
                "spec": doc["spec"]["template"]["spec"],
            }
    return out


def _agent_env(pod: dict[str, Any], spec: podspec.RunSpec) -> dict[str, str]:
    # The agent's own environment for Pods: the running interpreter's bin folder first on PATH.
    base = pod_base_env({"PATH": "/usr/local/bin:/usr/bin:/bin"}, sys.executable)
    return podspec.process_env(pod, dict(spec.env), POD_IP, base)


VENV_BIN = pathlib.Path(sys.executable).parent


@pytest.mark.parametrize(
    ("app", "program", "probe_ports"),
    [
        # The operator's shell picks a peering priority, then execs kopf.
        pytest.param("shadowgate-operator", "kopf", {8080}, id="operator"),
        pytest.param("shadowgate-router", "shadowgate-router", {8000}, id="router"),
    ],
)
def test_chart_pods_run_the_project_entry_points(
    chart_pods: dict[str, dict[str, Any]],
    tmp_path: pathlib.Path,
    app: str,
    program: str,
    probe_ports: set[int],
) -> None:
    pod = chart_pods[app]
    spec = podspec.run_spec(pod, POD_IP, "127.0.0.1", str(tmp_path / "volumes"))
    env = _agent_env(pod, spec)
    exe = pathlib.Path(resolve_executable(spec.argv[0], env, spec.working_dir))
    if spec.argv[0] == "sh":
        words = shlex.split(spec.argv[2])
        assert words[0] == "exec", spec.argv
        exe = pathlib.Path(str(shutil.which(words[1], path=env["PATH"])))
        assert words[1] == program
    assert exe == VENV_BIN / program, (exe, spec.argv)
    # Probes the agent evaluates (httpGet on a declared port), none refused.
    probes = [p for p in (spec.readiness, spec.liveness) if p is not None]
    assert probes and all(p.kind == "http" for p in probes)
    assert {p.port for p in probes} == probe_ports
    # The image's scratch space (emptyDirs at /tmp and the image user's home) is the Pod's own.
    assert env["HOME"] == str(tmp_path / "volumes" / "home")
    assert env["TMPDIR"] == str(tmp_path / "volumes" / "tmp")
    assert set(spec.scratch_dirs) == {str(tmp_path / "volumes" / v) for v in ("home", "tmp")}
    assert env["POD_IP"] == POD_IP and env["POD_NAME"] == pod["metadata"]["name"]


def test_operator_peering_identity_is_the_pod_name(chart_pods: dict[str, dict[str, Any]]) -> None:
    """kopf reads POD_ID as its peering identity: a container restarted in the same Pod replaces
    its own peering entry instead of leaving a stale one that pauses every replica."""
    pod = chart_pods["shadowgate-operator"]
    env = dict(podspec.run_spec(pod, POD_IP, "127.0.0.1").env)
    assert env["POD_ID"] == pod["metadata"]["name"]


def test_dockerfile_entry_points_resolve_on_the_agent_path() -> None:
    """Every entry point the image promises (its build fails without them) is on the agent's PATH."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    (line,) = [x for x in dockerfile.splitlines() if x.startswith("RUN which ")]
    names = line.removeprefix("RUN which ").split()
    path = pod_base_env({"PATH": os.defpath}, sys.executable)["PATH"]
    for name in names:
        assert shutil.which(name, path=path) == str(VENV_BIN / name), name
