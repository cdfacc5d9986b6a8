"""The candidate's Deployment and Service, and the promotion of production, as pure dict builders.

The candidate's Pods are production's Pod template with the candidate's archive, version,
resources and replicas, started as variant ``canary`` (docs/architecture.md). Labels that
production's Deployment or Service select on are changed so the candidate's Pods can never
join production's Service: if production selects on ``shadowgate.dev/variant``, that label is
enough (it becomes ``canary``); otherwise the selected keys are dropped from the candidate.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Any

from shadowgate.controller.candidate import CandidateSpec
from shadowgate.kube.base import Obj

VARIANT = "shadowgate.dev/variant"
TARGET = "shadowgate.dev/target"
CANDIDATE = "shadowgate.dev/candidate"
VERSION = "shadowgate.dev/version"
ARCHIVE = "shadowgate.dev/archive"


@dataclass(frozen=True)
class Flags:
    """How the model server is told its archive and handler (``docs/model-server.md``)."""

    archive: str = "--archive"
    handler: str = "--handler"


def workload_name(candidate: str) -> str:
    """Deployment and Service name: ``<candidate>-cand``, hashed down to a 63-char DNS label."""
    name = f"{candidate}-cand"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(candidate.encode()).hexdigest()[:8]
    return f"{candidate[:49]}-{digest}-cand"


def with_flag(argv: list[str], flag: str, value: str) -> tuple[list[str], bool]:
    """``argv`` with ``flag``'s value replaced (``--f v`` or ``--f=v``); False if absent."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == flag and i + 1 < len(out):
            out[i + 1] = value
            return out, True
        if arg.startswith(flag + "="):
            out[i] = f"{flag}={value}"
            return out, True
    return out, False


def flag_value(container: Obj, flag: str) -> str | None:
    argv = list(container.get("command") or []) + list(container.get("args") or [])
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return str(argv[i + 1])
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def set_flag(container: Obj, flag: str, value: str) -> None:
    """Set ``flag`` wherever the container passes it (command or args), else append to args."""
    for key in ("command", "args"):
        argv, found = with_flag(list(container.get(key) or []), flag, value)
        if found:
            container[key] = argv
            return
    container["args"] = [*(container.get("args") or []), flag, value]


def _set_env(container: Obj, name: str, value: str) -> None:
    env = [e for e in container.get("env") or [] if e.get("name") != name]
    container["env"] = [*env, {"name": name, "value": value}]


def candidate_labels(production: Obj, production_service: Obj | None, name: str, spec: CandidateSpec) -> Obj:
    template = production["spec"]["template"]["metadata"].get("labels") or {}
    selected = set((production["spec"].get("selector") or {}).get("matchLabels") or {})
    if production_service is not None:
        selected |= set((production_service.get("spec") or {}).get("selector") or {})
    labels = dict(template)
    if VARIANT not in selected:
        for key in selected:
            labels.pop(key, None)
    labels.update(
        {VARIANT: "canary", TARGET: spec.target.deployment, CANDIDATE: name, VERSION: spec.model.version}
    )
    return labels


def candidate_deployment(
    production: Obj, production_service: Obj | None, name: str, uid: str, spec: CandidateSpec, flags: Flags
) -> Obj:
    labels = candidate_labels(production, production_service, name, spec)
    template = copy.deepcopy(production["spec"]["template"])
    template["metadata"] = {"labels": labels, "annotations": {ARCHIVE: spec.model.archive_uri}}
    container = template["spec"]["containers"][0]
    set_flag(container, flags.archive, spec.model.archive_uri)
    if spec.model.handler:
        set_flag(container, flags.handler, spec.model.handler)
    _set_env(container, "SHADOWGATE_VARIANT", "canary")
    if spec.model.resources is not None:
        container["resources"] = spec.model.resources
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": workload_name(name), "labels": labels, "ownerReferences": [_owner(name, uid)]},
        "spec": {
            "replicas": spec.model.replicas,
            "selector": {"matchLabels": {CANDIDATE: name, VARIANT: "canary"}},
            "template": template,
        },
    }


def candidate_service(production: Obj, name: str, uid: str) -> Obj:
    container = production["spec"]["template"]["spec"]["containers"][0]
    ports = [
        {
            "name": p.get("name", f"p{p['containerPort']}"),
            "port": p["containerPort"],
            "targetPort": p["containerPort"],
        }
        for p in container.get("ports") or []
    ] or [{"name": "http", "port": 8080, "targetPort": 8080}]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": workload_name(name),
            "labels": {CANDIDATE: name},
            "ownerReferences": [_owner(name, uid)],
        },
        "spec": {"selector": {CANDIDATE: name, VARIANT: "canary"}, "ports": ports},
    }


def _owner(name: str, uid: str) -> Obj:
    return {
        "apiVersion": "shadowgate.dev/v1alpha1",
        "kind": "Candidate",
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": False,
    }


def promotion_patch(production: Obj, spec: CandidateSpec, flags: Flags) -> Obj:
    """A strategic-merge patch that points production at the candidate's model."""
    container = copy.deepcopy(production["spec"]["template"]["spec"]["containers"][0])
    set_flag(container, flags.archive, spec.model.archive_uri)
    if spec.model.handler:
        set_flag(container, flags.handler, spec.model.handler)
    change: dict[str, Any] = {"name": container["name"]}
    for key in ("command", "args"):
        if key in container:
            change[key] = container[key]
    meta = {"annotations": {VERSION: spec.model.version, ARCHIVE: spec.model.archive_uri}}
    return {
        "metadata": meta,
        "spec": {"template": {"metadata": meta, "spec": {"containers": [change]}}},
    }


def serves(production: Obj, spec: CandidateSpec, flags: Flags) -> bool:
    container = production["spec"]["template"]["spec"]["containers"][0]
    return flag_value(container, flags.archive) == spec.model.archive_uri


def available(deployment: Obj) -> bool:
    """Rolled out and Available: the latest spec is observed and every replica is new and ready."""
    meta, spec, status = deployment["metadata"], deployment.get("spec") or {}, deployment.get("status") or {}
    replicas = int(spec.get("replicas", 1))
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return False
    if (
        int(status.get("updatedReplicas") or 0) < replicas
        or int(status.get("availableReplicas") or 0) < replicas
    ):
        return False
    if int(status.get("replicas") or 0) > replicas:  # old Pods still terminating
        return False
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    return (conditions.get("Available") or {}).get("status") == "True"


def failure(deployment: Obj) -> str:
    for c in (deployment.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded":
            return f"ProgressDeadlineExceeded: {c.get('message', '')}".strip()
    return ""


def production_model(production: Obj, flags: Flags) -> dict[str, str]:
    """What production serves now: the baseline."""
    container = production["spec"]["template"]["spec"]["containers"][0]
    annotations = production["metadata"].get("annotations") or {}
    out = {"archiveUri": flag_value(container, flags.archive) or "", "version": annotations.get(VERSION, "")}
    return {k: v for k, v in out.items() if v}
