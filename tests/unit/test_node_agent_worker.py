"""The Pod worker with real short-lived local processes and a fake API server."""

from __future__ import annotations

import os
import pathlib
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from shadowgate.devstack.node_agent_process import start_ticks
from shadowgate.devstack.node_agent_state import AgentState
from shadowgate.devstack.node_agent_worker import PodWorker, WorkerSettings, status_digest


class FakeApi:
    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []
        self.deleted: list[tuple[str, str, str]] = []
        self.events: list[tuple[str, str, str]] = []

    def patch_pod_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        self.statuses.append(dict(status))

    def delete_pod_now(self, namespace: str, name: str, uid: str) -> None:
        self.deleted.append((namespace, name, uid))

    def record_event(self, pod: Mapping[str, Any], kind: str, reason: str, message: str, now: str) -> None:
        self.events.append((kind, reason, message))

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.events]

    def container(self) -> dict[str, Any]:
        return dict(self.statuses[-1]["containerStatuses"][0]) if self.statuses else {}


def wait_for(cond: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def make_pod(code: str, uid: str = "uid-1", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": f"p-{uid}", "namespace": "ns", "uid": uid},
        "spec": {
            "nodeName": "shadowgate-local",
            "containers": [{"name": "c", "image": "i", "command": [sys.executable, "-c", code]}],
            **spec,
        },
        "status": {},
    }


@pytest.fixture
def settings(tmp_path: pathlib.Path) -> WorkerSettings:
    return WorkerSettings(
        host_ip="127.0.0.1",
        logs_dir=tmp_path / "logs",
        file_sd_dir=tmp_path / "file_sd",
        base_env={"PATH": os.environ.get("PATH", "")},
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
        tick_s=0.02,
        shutdown_grace_s=2.0,
    )


@pytest.fixture
def workers() -> Iterator[list[PodWorker]]:
    started: list[PodWorker] = []
    yield started
    for w in started:
        w.gone()
        w.join(10)


def run(
    pod: dict[str, Any], api: FakeApi, state: AgentState, settings: WorkerSettings, workers: list[PodWorker]
) -> PodWorker:
    worker = PodWorker(pod, api, state, settings)
    workers.append(worker)
    worker.start()
    return worker


def test_crashing_process_restarts_and_counts(
    tmp_path: pathlib.Path, settings: WorkerSettings, workers: list[PodWorker]
) -> None:
    api = FakeApi()
    run(make_pod("raise SystemExit(3)"), api, AgentState(tmp_path / "s.json"), settings, workers)
    wait_for(lambda: api.container().get("restartCount", 0) >= 2)
    seen_reasons = {
        (s["containerStatuses"][0]["state"].get("waiting") or {}).get("reason") for s in api.statuses
    }
    assert "CrashLoopBackOff" in seen_reasons
    last = api.container()["lastState"]["terminated"]
    assert last["exitCode"] == 3 and last["reason"] == "Error"
    assert {s["phase"] for s in api.statuses} <= {"Running"}
    assert {"Started", "BackOff"} <= set(api.reasons())


@pytest.mark.parametrize(
    ("policy", "code", "phase", "reason"),
    [
        pytest.param("Never", "raise SystemExit(0)", "Succeeded", "Completed", id="never-ok"),
        pytest.param("Never", "raise SystemExit(4)", "Failed", "Error", id="never-fail"),
        pytest.param("OnFailure", "raise SystemExit(0)", "Succeeded", "Completed", id="onfailure-ok"),
        pytest.param(
            "Never", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "Failed", "Error", id="killed"
        ),
    ],
)
def test_terminal_phases(
    tmp_path: pathlib.Path,
    settings: WorkerSettings,
    workers: list[PodWorker],
    policy: str,
    code: str,
    phase: str,
    reason: str,
) -> None:
    api = FakeApi()
    run(make_pod(code, restartPolicy=policy), api, AgentState(tmp_path / "s.json"), settings, workers)
    wait_for(lambda: api.statuses and api.statuses[-1]["phase"] == phase)
    term = api.container()["state"]["terminated"]
    assert term["reason"] == reason
    assert term["exitCode"] == {"Completed": 0}.get(reason, term["exitCode"])
    if "SIGKILL" in code:
        assert term["exitCode"] == 137
    assert api.container()["restartCount"] == 0
    assert {c["type"]: c["status"] for c in api.statuses[-1]["conditions"]}["Ready"] == "False"


@pytest.mark.parametrize(
    ("container", "reason", "message"),
    [
        pytest.param(
            {"command": ["no-such-binary-xyz"]}, "RunContainerError", "not found in $PATH", id="not-on-path"
        ),
        pytest.param({"command": []}, "CreateContainerConfigError", "has no command", id="no-command"),
        pytest.param(
            {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}]},
            "CreateContainerConfigError",
            "configMapKeyRef is not supported",
            id="unsupported-env",
        ),
    ],
)
def test_unrunnable_pod_reports_why(
    tmp_path: pathlib.Path,
    settings: WorkerSettings,
    workers: list[PodWorker],
    container: dict[str, Any],
    reason: str,
    message: str,
) -> None:
    pod = make_pod("pass")
    pod["spec"]["containers"][0].update(container)
    api = FakeApi()
    run(pod, api, AgentState(tmp_path / "s.json"), settings, workers)
    wait_for(lambda: api.statuses)
    waiting = api.container()["state"]["waiting"]
    assert waiting["reason"] == reason and message in waiting["message"]
    assert api.statuses[-1]["phase"] == "Pending"
    time.sleep(0.3)  # several retries (back-off 0.05 s doubling) happen meanwhile
    failed = [m for kind, r, m in api.events if r == "Failed"]
    assert len(failed) == 1 and failed[0].startswith(reason) and api.events[0][0] == "Warning"


def test_process_gets_pod_env_and_log(
    tmp_path: pathlib.Path, settings: WorkerSettings, workers: list[PodWorker]
) -> None:
    out = tmp_path / "env.txt"
    code = (
        f"import os; print('hello'); open({str(out)!r}, 'w')"
        ".write(' '.join(os.environ[k] for k in ('POD_IP', 'POD_NAME', 'POD_NAMESPACE')))"
    )
    api = FakeApi()
    state = AgentState(tmp_path / "s.json")
    run(make_pod(code, restartPolicy="Never"), api, state, settings, workers)
    wait_for(lambda: api.statuses and api.statuses[-1]["phase"] == "Succeeded")
    ip = api.statuses[-1]["podIP"]
    assert ip.startswith("127.1.") and out.read_text() == f"{ip} p-uid-1 ns"
    (log,) = (tmp_path / "logs").glob("*/c.log")
    assert "hello" in log.read_text()


def test_deletion_stops_within_grace_and_finalizes(
    tmp_path: pathlib.Path, settings: WorkerSettings, workers: list[PodWorker]
) -> None:
    # The process ignores SIGTERM, so only the SIGKILL after the grace period ends it.
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('u' + 'p', flush=True); time.sleep(60)"
    )
    api, state = FakeApi(), AgentState(tmp_path / "s.json")
    pod = make_pod(code)
    worker = run(pod, api, state, settings, workers)
    wait_for(lambda: api.container().get("containerID"))
    pid = int(api.container()["containerID"].removeprefix("shadowgate://"))
    wait_for(lambda: "\nup\n" in "".join(p.read_text() for p in (tmp_path / "logs").glob("*/c.log")))
    deleting = {
        **pod,
        "metadata": {**pod["metadata"], "deletionTimestamp": "x", "deletionGracePeriodSeconds": 1},
    }
    began = time.monotonic()
    worker.update(deleting)
    worker.join(10)
    assert worker.done and 0.9 <= time.monotonic() - began < 5
    assert start_ticks(pid) is None
    assert api.deleted == [("ns", "p-uid-1", "uid-1")]
    assert state.get("uid-1") is None
    # It went unready (a status patch) before the process was signalled, and stayed so.
    ready = [{c["type"]: c["status"] for c in st["conditions"]}["Ready"] for st in api.statuses]
    assert "True" in ready and ready[-1] == "False"
    assert api.reasons()[-1] == "Killing"


def test_restarted_agent_adopts_the_live_process(
    tmp_path: pathlib.Path, settings: WorkerSettings, workers: list[PodWorker]
) -> None:
    pod = make_pod("import time; time.sleep(60)")
    api1 = FakeApi()
    run(pod, api1, AgentState(tmp_path / "s.json"), settings, workers)
    wait_for(lambda: api1.container().get("containerID"))
    cid, ip = api1.container()["containerID"], api1.statuses[-1]["podIP"]
    # A second agent reads the same state file: the "first agent" was SIGKILLed and left its process.
    reported = {**pod, "status": api1.statuses[-1]}
    api2 = FakeApi()
    second = run(reported, api2, AgentState(tmp_path / "s.json"), settings, workers)
    wait_for(lambda: api2.statuses)
    time.sleep(0.2)
    assert api2.container()["containerID"] == cid and api2.statuses[-1]["podIP"] == ip
    assert api2.container()["restartCount"] == 0
    second.gone()
    second.join(10)
    assert start_ticks(int(cid.removeprefix("shadowgate://"))) is None


def test_shutdown_stops_process_and_next_start_counts_a_restart(
    tmp_path: pathlib.Path, settings: WorkerSettings, workers: list[PodWorker]
) -> None:
    pod = make_pod("import time; time.sleep(60)")
    api = FakeApi()
    first = run(pod, api, AgentState(tmp_path / "s.json"), settings, workers)
    wait_for(lambda: api.container().get("containerID"))
    pid = int(api.container()["containerID"].removeprefix("shadowgate://"))
    first.shutdown()
    first.join(10)
    assert start_ticks(pid) is None
    assert {c["type"]: c["status"] for c in api.statuses[-1]["conditions"]}["Ready"] == "False"
    api2 = FakeApi()
    run({**pod, "status": api.statuses[-1]}, api2, AgentState(tmp_path / "s.json"), settings, workers)
    wait_for(lambda: api2.container().get("containerID"))
    assert api2.container()["restartCount"] == 1
    assert api2.container()["containerID"] != f"shadowgate://{pid}"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param({"phase": "Running"}, {"phase": "Running"}, True, id="equal"),
        pytest.param(
            {
                "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": "a", "lastProbeTime": None}
                ]
            },
            {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "b"}]},
            True,
            id="times-ignored",
        ),
        pytest.param(
            {"conditions": [{"type": "Ready", "status": "True"}]},
            {"conditions": [{"type": "Ready", "status": "False"}]},
            False,
            id="ready-flip",
        ),
        pytest.param(
            {"containerStatuses": [{"restartCount": 1}]},
            {"containerStatuses": [{"restartCount": 2}]},
            False,
            id="restart",
        ),
    ],
)
def test_status_digest(a: dict[str, Any], b: dict[str, Any], same: bool) -> None:
    assert (status_digest(a) == status_digest(b)) is same


def test_failing_liveness_restarts_the_process(
    tmp_path: pathlib.Path, settings: WorkerSettings, workers: list[PodWorker]
) -> None:
    # Nothing listens on the probed port, so every liveness check fails.
    pod = make_pod("import time; time.sleep(60)")
    pod["spec"]["containers"][0]["livenessProbe"] = {
        "tcpSocket": {"port": 1},
        "periodSeconds": 0.1,
        "failureThreshold": 2,
    }
    api = FakeApi()
    run(pod, api, AgentState(tmp_path / "s.json"), settings, workers)
    wait_for(lambda: api.container().get("restartCount", 0) >= 1)
    last = api.container()["lastState"]["terminated"]
    assert "liveness probe failed" in last["message"] and last["exitCode"] == 143
    assert any(r == "Unhealthy" and m.startswith("Liveness probe failed") for _, r, m in api.events)
