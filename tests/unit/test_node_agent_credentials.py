"""ServiceAccount credentials for the node agent's Pods: the automount rule, the files, refresh,
and the environment of a real local process started by the Pod worker (fake API server)."""

from __future__ import annotations

import os
import pathlib
import stat
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from shadowgate.devstack.node_agent_container import WorkerSettings
from shadowgate.devstack.node_agent_credentials import (
    PENDING_REASON,
    TOKEN_TTL_S,
    ClusterAccess,
    CredentialsPending,
    PodCredentials,
    Projector,
    service_account_name,
    should_automount,
    strip_admin,
)
from shadowgate.devstack.node_agent_kube import Gone
from shadowgate.devstack.node_agent_state import AgentState
from shadowgate.devstack.node_agent_worker import PodWorker

ACCESS = ClusterAccess(server="https://127.0.0.1:6443", ca_pem=b"-----BEGIN CERTIFICATE-----\nx\n")


class FakeTokens:
    """ServiceAccounts by (namespace, name); each TokenRequest returns a new token."""

    def __init__(
        self, accounts: dict[tuple[str, str], dict[str, Any]], error: Exception | None = None
    ) -> None:
        self.accounts, self.error = accounts, error
        self.requests: list[tuple[str, str, str, str, int]] = []
        self.reads = 0

    def read_service_account(self, namespace: str, name: str) -> Mapping[str, Any]:
        self.reads += 1
        if self.error is not None:
            raise self.error
        if (namespace, name) not in self.accounts:
            raise Gone(name)
        return self.accounts[(namespace, name)]

    def request_token(self, namespace: str, service_account: str, pod: str, pod_uid: str, ttl_s: int) -> str:
        if self.error is not None:
            raise self.error
        if (namespace, service_account) not in self.accounts:
            raise Gone(service_account)
        self.requests.append((namespace, service_account, pod, pod_uid, ttl_s))
        return f"token-{len(self.requests)}"


def make_pod(sa: str | None = None, automount: bool | None = None, code: str = "pass") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "nodeName": "shadowgate-local",
        "containers": [{"name": "c", "image": "i", "command": [sys.executable, "-c", code]}],
    }
    if sa is not None:
        spec["serviceAccountName"] = sa
    if automount is not None:
        spec["automountServiceAccountToken"] = automount
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "uid-1"}, "spec": spec, "status": {}}


@pytest.mark.parametrize(
    ("pod_value", "account_value", "expected"),
    [
        pytest.param(None, None, True, id="default-mounts"),
        pytest.param(False, None, False, id="pod-opts-out"),
        pytest.param(None, False, False, id="account-opts-out"),
        pytest.param(True, False, True, id="pod-overrides-account"),
        pytest.param(False, True, False, id="pod-opt-out-wins"),
    ],
)
def test_automount_rule(pod_value: bool | None, account_value: bool | None, expected: bool) -> None:
    account = {} if account_value is None else {"automountServiceAccountToken": account_value}
    assert should_automount(make_pod(automount=pod_value), account) is expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({}, "default", id="default"),
        pytest.param({"serviceAccountName": "router"}, "router", id="named"),
        pytest.param({"serviceAccount": "old"}, "old", id="deprecated-field"),
    ],
)
def test_service_account_name(spec: dict[str, Any], expected: str) -> None:
    assert service_account_name({"spec": spec}) == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({"KUBECONFIG": "/elsewhere", "HOME": "/h"}, {"HOME": "/h"}, id="kubeconfig-dropped"),
        pytest.param({"MY_CONFIG": "/state/kubeconfig", "A": "b"}, {"A": "b"}, id="alias-of-admin-file"),
        pytest.param(
            {"STATE": "/state", "PATH": "/bin"}, {"STATE": "/state", "PATH": "/bin"}, id="others-kept"
        ),
    ],
)
def test_strip_admin(environ: dict[str, str], expected: dict[str, str]) -> None:
    assert strip_admin(environ, (pathlib.Path("/state/kubeconfig"),)) == expected


def mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_projection_writes_private_files_a_real_client_loads(tmp_path: pathlib.Path) -> None:
    api = FakeTokens({("ns", "router"): {}})
    creds = PodCredentials(api, ACCESS, tmp_path / "pod")
    env = creds.project(make_pod("router"))
    assert env == {"KUBECONFIG": str(tmp_path / "pod" / "kubeconfig")}
    assert api.requests == [("ns", "router", "p", "uid-1", TOKEN_TTL_S)]
    sa_dir = tmp_path / "pod" / "serviceaccount"
    files = [tmp_path / "pod" / "kubeconfig", sa_dir / "token", sa_dir / "ca.crt", sa_dir / "namespace"]
    assert [mode(f) for f in files] == [0o600] * 4
    assert (sa_dir / "token").read_text() == "token-1"
    assert (sa_dir / "namespace").read_text() == "ns"
    assert (sa_dir / "ca.crt").read_bytes() == ACCESS.ca_pem
    cfg = client.Configuration()
    config.load_kube_config(config_file=env["KUBECONFIG"], client_configuration=cfg)
    assert cfg.host == ACCESS.server
    assert cfg.api_key == {"BearerToken": "Bearer token-1"}
    assert pathlib.Path(str(cfg.ssl_ca_cert)).read_bytes() == ACCESS.ca_pem
    doc = yaml.safe_load((tmp_path / "pod" / "kubeconfig").read_text())
    assert doc["contexts"][0]["context"]["namespace"] == "ns"


@pytest.mark.parametrize(
    ("pod", "accounts", "reads"),
    [
        pytest.param(make_pod(automount=False), {}, 0, id="pod-opt-out-needs-no-account"),
        pytest.param(
            make_pod(), {("ns", "default"): {"automountServiceAccountToken": False}}, 1, id="account"
        ),
    ],
)
def test_opted_out_pod_gets_nothing(
    tmp_path: pathlib.Path, pod: dict[str, Any], accounts: dict[tuple[str, str], dict[str, Any]], reads: int
) -> None:
    api = FakeTokens(accounts)
    creds = PodCredentials(api, ACCESS, tmp_path / "pod")
    (tmp_path / "pod" / "serviceaccount").mkdir(parents=True)
    (tmp_path / "pod" / "kubeconfig").write_text("stale")
    assert creds.project(pod) == {}
    assert api.requests == [] and api.reads == reads
    assert not (tmp_path / "pod" / "kubeconfig").exists()
    assert not (tmp_path / "pod" / "serviceaccount").exists()


@pytest.mark.parametrize(
    ("pod", "error", "message"),
    [
        pytest.param(
            make_pod("missing"), None, 'serviceaccount "missing" not found in namespace "ns"', id="absent"
        ),
        pytest.param(
            make_pod("missing", automount=True), None, '"missing" not found', id="absent-pod-opted-in"
        ),
        pytest.param(make_pod(), RuntimeError("connection refused"), "connection refused", id="api-down"),
    ],
)
def test_no_token_means_the_pod_waits(
    tmp_path: pathlib.Path, pod: dict[str, Any], error: Exception | None, message: str
) -> None:
    creds = PodCredentials(FakeTokens({("ns", "default"): {}}, error), ACCESS, tmp_path / "pod")
    with pytest.raises(CredentialsPending) as exc:
        creds.project(pod)
    assert exc.value.reason == PENDING_REASON
    assert message in str(exc.value)
    assert not (tmp_path / "pod" / "kubeconfig").exists()


def test_refresh_at_80_percent_and_retry_after_failure(tmp_path: pathlib.Path) -> None:
    now = [1000.0]
    api = FakeTokens({("ns", "default"): {}})
    creds = PodCredentials(api, ACCESS, tmp_path / "pod", ttl_s=100, retry_s=5, clock=lambda: now[0])
    pod = make_pod()
    creds.project(pod)
    token = tmp_path / "pod" / "serviceaccount" / "token"
    assert not creds.refresh_due(1079.9) and creds.refresh_due(1080.0)
    now[0] = 1080.0
    creds.refresh(pod)
    assert token.read_text() == "token-2" and creds.refresh_at == 1160.0
    api.accounts.clear()  # the account was deleted: the old token stays, a retry is scheduled
    now[0] = 1160.0
    creds.refresh(pod)
    assert token.read_text() == "token-2" and creds.refresh_at == 1165.0
    creds.remove()
    assert not token.exists() and creds.refresh_at is None and not creds.refresh_due(1e9)


class FakePodApi:
    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []
        self.events: list[tuple[str, str, str]] = []

    def patch_pod_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        self.statuses.append(dict(status))

    def delete_pod_now(self, namespace: str, name: str, uid: str) -> None:
        pass

    def record_event(self, pod: Mapping[str, Any], kind: str, reason: str, message: str, now: str) -> None:
        self.events.append((kind, reason, message))

    def waiting(self) -> dict[str, Any]:
        if not self.statuses:
            return {}
        return dict(self.statuses[-1]["containerStatuses"][0]["state"].get("waiting") or {})


def wait_for(cond: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


# The process writes its KUBECONFIG (or "-") where the test reads it, then stays up.
REPORT = (
    "import os, sys, time; open(sys.argv[1], 'w').write(os.environ.get('KUBECONFIG', '-')); time.sleep(60)"
)


@pytest.mark.parametrize(
    ("automount", "expected"),
    [
        pytest.param(None, "pod", id="projected-kubeconfig"),
        pytest.param(False, "-", id="automount-false-no-kubeconfig"),
    ],
)
def test_worker_process_gets_its_own_kubeconfig_never_the_admin_one(
    tmp_path: pathlib.Path, automount: bool | None, expected: str
) -> None:
    tokens = FakeTokens({("ns", "default"): {}})
    settings = WorkerSettings(
        host_ip="127.0.0.1",
        logs_dir=tmp_path / "logs",
        file_sd_dir=tmp_path / "file_sd",
        base_env=strip_admin({"PATH": os.environ.get("PATH", ""), "KUBECONFIG": "/admin"}, ()),
        tick_s=0.02,
        credentials=Projector(tokens, ACCESS),
    )
    out = tmp_path / "seen"
    pod = make_pod(automount=automount, code=REPORT)
    pod["spec"]["containers"][0]["args"] = [str(out)]
    worker = PodWorker(pod, FakePodApi(), AgentState(tmp_path / "s.json"), settings)
    worker.start()
    try:
        wait_for(out.exists)
        wait_for(lambda: out.read_text() != "")
        seen = out.read_text()
        if expected == "pod":
            assert seen == str(tmp_path / "logs" / "ns_p_uid-1" / "kubeconfig")
            assert "token-1" in pathlib.Path(seen).read_text()
        else:
            assert seen == "-"
    finally:
        worker.gone()
        worker.join(10)
    assert not (tmp_path / "logs" / "ns_p_uid-1" / "kubeconfig").exists()  # removed with the Pod


def test_worker_waits_for_a_missing_account_then_starts(tmp_path: pathlib.Path) -> None:
    tokens = FakeTokens({})
    api = FakePodApi()
    settings = WorkerSettings(
        host_ip="127.0.0.1",
        logs_dir=tmp_path / "logs",
        file_sd_dir=tmp_path / "file_sd",
        base_env={"PATH": os.environ.get("PATH", "")},
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
        tick_s=0.02,
        credentials=Projector(tokens, ACCESS),
    )
    out = tmp_path / "seen"
    pod = make_pod("late", code=REPORT)
    pod["spec"]["containers"][0]["args"] = [str(out)]
    worker = PodWorker(pod, api, AgentState(tmp_path / "s.json"), settings)
    worker.start()
    try:
        wait_for(lambda: api.waiting().get("reason") == PENDING_REASON)
        assert 'serviceaccount "late" not found' in api.waiting()["message"]
        assert api.statuses[-1]["phase"] == "Pending"
        assert ("Warning", "FailedMount") in {(k, r) for k, r, _ in api.events}
        time.sleep(0.3)
        assert not out.exists()  # never started meanwhile, under any other identity
        tokens.accounts[("ns", "late")] = {}
        wait_for(lambda: out.exists() and out.read_text().endswith("kubeconfig"))
    finally:
        worker.gone()
        worker.join(10)
