"""Production's promoted fields between the Deployment dict and the lifecycle's ``Template``.

``template_of`` reads what a promotion would change, ``promoted`` says what the operator's
promotion writes given what production served before, ``patch_to`` is the strategic-merge
patch that makes production serve a template (promotion and revert alike: a ``None`` deletes
a field or annotation the template does not have), and ``rollout`` describes why a production
rollout is not Available, as evidence for a PromotionTimedOut.
"""

from __future__ import annotations

from typing import Any

from shadowgate.controller.candidate import CandidateSpec
from shadowgate.controller.workload import ARCHIVE, VERSION, Flags, set_flag
from shadowgate.core.lifecycle.production import Template
from shadowgate.kube.base import Obj

MANAGED = (VERSION, ARCHIVE)


def _managed(annotations: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in (annotations or {}).items() if k in MANAGED))


def _argv(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(v) for v in value)


def template_of(deployment: Obj) -> Template:
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    return Template(
        container=str(container["name"]),
        command=_argv(container.get("command")),
        args=_argv(container.get("args")),
        annotations=_managed(deployment["metadata"].get("annotations")),
        pod_annotations=_managed((pod.get("metadata") or {}).get("annotations")),
    )


def promoted(before: Template, spec: CandidateSpec, flags: Flags) -> Template:
    """``before`` with the candidate's archive, handler and version, as a promotion writes it."""
    container: Obj = {"name": before.container}
    if before.command is not None:
        container["command"] = list(before.command)
    if before.args is not None:
        container["args"] = list(before.args)
    set_flag(container, flags.archive, spec.model.archive_uri)
    if spec.model.handler:
        set_flag(container, flags.handler, spec.model.handler)
    ours = {VERSION: spec.model.version, ARCHIVE: spec.model.archive_uri}
    return Template(
        container=before.container,
        command=_argv(container.get("command")),
        args=_argv(container.get("args")),
        annotations=tuple(sorted((dict(before.annotations) | ours).items())),
        pod_annotations=tuple(sorted((dict(before.pod_annotations) | ours).items())),
    )


def patch_to(template: Template) -> Obj:
    def annotations(pairs: tuple[tuple[str, str], ...]) -> dict[str, str | None]:
        present = dict(pairs)
        return {key: present.get(key) for key in MANAGED}

    container = {
        "name": template.container,
        "command": list(template.command) if template.command is not None else None,
        "args": list(template.args) if template.args is not None else None,
    }
    return {
        "metadata": {"annotations": annotations(template.annotations)},
        "spec": {
            "template": {
                "metadata": {"annotations": annotations(template.pod_annotations)},
                "spec": {"containers": [container]},
            }
        },
    }


def rollout(deployment: Obj) -> str:
    """Why the rollout is not Available: replica counts and the conditions that are not well."""
    meta, spec, status = deployment["metadata"], deployment.get("spec") or {}, deployment.get("status") or {}
    want = int(spec.get("replicas", 1))
    parts = [
        f"generation {meta.get('generation')} observed {status.get('observedGeneration')}",
        f"{int(status.get('updatedReplicas') or 0)}/{want} Pods on the new template",
        f"{int(status.get('availableReplicas') or 0)} available",
        f"{int(status.get('unavailableReplicas') or 0)} unavailable",
        f"{int(status.get('replicas') or 0)} Pods in all",
    ]
    for c in status.get("conditions") or []:
        unwell = c.get("status") != "True" or c.get("reason") == "ProgressDeadlineExceeded"
        if unwell:
            parts.append(f"{c.get('type')}={c.get('status')} {c.get('reason', '')}: {c.get('message', '')}")
    return ", ".join(parts)
