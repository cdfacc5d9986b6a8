"""What the node agent runs for a Pod: pure reading of the Pod manifest.

The Pod is the plain JSON dict the API server serves (camelCase keys). Nothing here does
I/O, so the rules a kubelet applies (probe defaults, ``$(VAR)`` expansion, downward-API
env) are unit-tested without a cluster. A manifest the agent cannot run raises
``PodSpecError`` with the reason a kubelet would report (``CreateContainerConfigError``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shadowgate.devstack import node_agent_mounts as mounts

Pod = Mapping[str, Any]

CONFIG_ERROR = "CreateContainerConfigError"
DEFAULT_GRACE_S = 30.0


class PodSpecError(ValueError):
    """The Pod asks for something the node agent cannot do; the message says what."""

    def __init__(self, message: str, reason: str = CONFIG_ERROR) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Probe:
    """An ``httpGet`` or ``tcpSocket`` probe with the kubelet's defaults filled in."""

    kind: str  # "http" or "tcp"
    port: int
    path: str = "/"
    period_s: float = 10.0
    timeout_s: float = 1.0
    initial_delay_s: float = 0.0
    failure_threshold: int = 3
    success_threshold: int = 1
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RunSpec:
    """The first container of a Pod, as a local process."""

    container: str
    image: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    working_dir: str | None
    restart_policy: str
    grace_s: float
    readiness: Probe | None
    liveness: Probe | None
    # Local folders standing in for the container's emptyDir mounts (node_agent_mounts).
    scratch_dirs: tuple[str, ...] = ()


def meta(pod: Pod) -> Mapping[str, Any]:
    return pod.get("metadata") or {}


def spec(pod: Pod) -> Mapping[str, Any]:
    return pod.get("spec") or {}


def pod_key(pod: Pod) -> str:
    return f"{meta(pod).get('namespace', '')}/{meta(pod).get('name', '')}"


def first_container(pod: Pod) -> Mapping[str, Any]:
    containers = spec(pod).get("containers") or []
    if not containers:
        raise PodSpecError(f"pod {pod_key(pod)} has no containers")
    first: Mapping[str, Any] = containers[0]
    return first


def restart_policy(pod: Pod) -> str:
    return str(spec(pod).get("restartPolicy") or "Always")


def grace_seconds(pod: Pod) -> float:
    """The deletion's grace period if the Pod is being deleted, else the spec's."""
    for value in (
        meta(pod).get("deletionGracePeriodSeconds"),
        spec(pod).get("terminationGracePeriodSeconds"),
    ):
        if value is not None:
            return max(0.0, float(value))
    return DEFAULT_GRACE_S


def resolve_port(container: Mapping[str, Any], port: int | str) -> int:
    """A probe's port: a number, a numeric string, or the name of a container port."""
    if isinstance(port, int):
        return port
    if port.isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise PodSpecError(f"container {container.get('name')!r} has no port named {port!r}")


def parse_probe(container: Mapping[str, Any], probe: Mapping[str, Any] | None) -> Probe | None:
    """A probe from the manifest; ``exec`` and ``grpc`` probes are refused, not ignored."""
    if not probe:
        return None
    timing = Probe(
        kind="",
        port=0,
        period_s=float(probe.get("periodSeconds") or 10),
        timeout_s=float(probe.get("timeoutSeconds") or 1),
        initial_delay_s=float(probe.get("initialDelaySeconds") or 0),
        failure_threshold=int(probe.get("failureThreshold") or 3),
        success_threshold=int(probe.get("successThreshold") or 1),
    )
    if http := probe.get("httpGet"):
        scheme = str(http.get("scheme") or "HTTP").upper()
        if scheme != "HTTP":
            raise PodSpecError(f"httpGet probe scheme {scheme} is not supported (only HTTP)")
        headers = tuple((str(h["name"]), str(h["value"])) for h in http.get("httpHeaders") or [])
        path = str(http.get("path") or "/")
        if not path.startswith("/"):
            path = "/" + path
        port = resolve_port(container, http["port"])
        return dataclasses.replace(timing, kind="http", port=port, path=path, headers=headers)
    if tcp := probe.get("tcpSocket"):
        return dataclasses.replace(timing, kind="tcp", port=resolve_port(container, tcp["port"]))
    kinds = sorted(k for k in probe if k in ("exec", "grpc"))
    raise PodSpecError(f"{'/'.join(kinds) or 'this'} probe is not supported (use httpGet or tcpSocket)")


_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: defined names are replaced, unknown ones kept, ``$$`` is ``$``."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _REF.sub(sub, text)


_FIELD_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def field_value(pod: Pod, path: str, pod_ip: str, host_ip: str) -> str:
    """The downward API's ``fieldRef`` values the agent supports."""
    simple = {
        "metadata.name": meta(pod).get("name"),
        "metadata.namespace": meta(pod).get("namespace"),
        "metadata.uid": meta(pod).get("uid"),
        "spec.nodeName": spec(pod).get("nodeName"),
        "spec.serviceAccountName": spec(pod).get("serviceAccountName"),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return str(simple[path] or "")
    if match := _FIELD_SUBSCRIPT.match(path):
        return str((meta(pod).get(match.group(1)) or {}).get(match.group(2), ""))
    raise PodSpecError(f"env fieldRef {path!r} is not supported")


def container_env(pod: Pod, container: Mapping[str, Any], pod_ip: str, host_ip: str) -> dict[str, str]:
    """The container's declared env in order (later entries may refer to earlier ones)."""
    if container.get("envFrom"):
        raise PodSpecError("envFrom is not supported by the node agent; list env entries")
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        name = str(item["name"])
        source = item.get("valueFrom")
        if source is None:
            env[name] = expand(str(item.get("value") or ""), env)
        elif "fieldRef" in source:
            env[name] = field_value(pod, str(source["fieldRef"]["fieldPath"]), pod_ip, host_ip)
        else:
            kind = next(iter(source), "valueFrom")
            raise PodSpecError(f"env {name}: valueFrom.{kind} is not supported (only fieldRef)")
    return env


def process_env(
    pod: Pod, container_vars: Mapping[str, str], pod_ip: str, base: Mapping[str, str]
) -> dict[str, str]:
    """The whole environment of the local process.

    The agent's own environment comes first (PATH with the project's venv, HOME,
    HF_HUB_OFFLINE), because a local process has no image to supply those; then
    POD_IP/POD_NAME/POD_NAMESPACE; then the container's env, which wins.
    """
    env = dict(base)
    env["POD_IP"] = pod_ip
    env["POD_NAME"] = str(meta(pod).get("name", ""))
    env["POD_NAMESPACE"] = str(meta(pod).get("namespace", ""))
    env.update(container_vars)
    return env


def run_spec(pod: Pod, pod_ip: str, host_ip: str, scratch_root: str | None = None) -> RunSpec:
    """Everything needed to start the Pod's first container, or ``PodSpecError``.

    With ``scratch_root`` the container's emptyDir mounts become folders under it, and env
    values, arguments and the working directory that name a mount path point there instead.
    """
    container = first_container(pod)
    name = str(container.get("name") or "main")
    try:
        volumes = spec(pod).get("volumes") or []
        scratch = mounts.scratch_mounts(volumes, container, scratch_root) if scratch_root is not None else {}
    except mounts.MountError as exc:
        raise PodSpecError(str(exc)) from exc
    env = {k: mounts.rewrite(v, scratch) for k, v in container_env(pod, container, pod_ip, host_ip).items()}
    command = [str(c) for c in container.get("command") or []]
    if not command:
        raise PodSpecError(
            f"container {name!r} has no command: the node agent ignores the image and runs "
            "command + args as a local process"
        )
    # The agent's POD_* variables are in the process env, so $(POD_IP) in args expands too.
    visible = process_env(pod, env, pod_ip, {})
    argv = [
        mounts.rewrite(expand(a, visible), scratch)
        for a in command + [str(a) for a in container.get("args") or []]
    ]
    working_dir = container.get("workingDir") or None
    policy = restart_policy(pod)
    if policy not in ("Always", "OnFailure", "Never"):
        raise PodSpecError(f"restartPolicy {policy!r} is not one of Always, OnFailure, Never")
    return RunSpec(
        container=name,
        image=str(container.get("image") or ""),
        argv=tuple(argv),
        env=tuple(env.items()),
        working_dir=mounts.rewrite(str(working_dir), scratch) if working_dir else None,
        restart_policy=policy,
        grace_s=grace_seconds(pod),
        readiness=parse_probe(container, container.get("readinessProbe")),
        liveness=parse_probe(container, container.get("livenessProbe")),
        scratch_dirs=tuple(sorted(set(scratch.values()))),
    )


def should_restart(policy: str, exit_code: int) -> bool:
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)
