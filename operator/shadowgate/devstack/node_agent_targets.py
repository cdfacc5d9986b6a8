"""Prometheus file_sd targets for Pod ports named ``metrics``.

One file per Pod, ``pod-<namespace>-<name>.json`` in the stack's file_sd folder, holding
one target group per metrics port. Files are replaced atomically (write + rename) because
Prometheus re-reads the folder on change and must never see half a file.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
from collections.abc import Mapping
from typing import Any

from shadowgate.core import labels as target_labels
from shadowgate.devstack.node_agent_spec import Pod, meta, spec

METRICS_PORT_NAME = "metrics"
# The Pod labels the wire contract copies onto every scraped series.
COPIED_POD_LABELS = ("app.kubernetes.io/name", "shadowgate.dev/variant", "shadowgate.dev/target")
# Under the names the chart's PodMonitor gives them, so the gate presets' queries match; any
# other copied label keeps Prometheus's sanitized name.
_RENAMED = {
    target_labels.POD_LABEL_VARIANT: target_labels.VARIANT,
    target_labels.POD_LABEL_TARGET: target_labels.TARGET,
}

_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def sanitize_label(name: str) -> str:
    """A Kubernetes label key as a Prometheus label name (Prometheus's own rule)."""
    out = _INVALID.sub("_", name)
    return "_" + out if out[:1].isdigit() else out


def target_groups(pod: Pod, pod_ip: str) -> list[dict[str, Any]]:
    """The file_sd content for a Pod: empty when no container declares a ``metrics`` port."""
    labels: dict[str, str] = {
        "namespace": str(meta(pod).get("namespace", "")),
        "pod": str(meta(pod).get("name", "")),
    }
    pod_labels: Mapping[str, str] = meta(pod).get("labels") or {}
    for key in COPIED_POD_LABELS:
        if key in pod_labels:
            labels[_RENAMED.get(key) or sanitize_label(key)] = str(pod_labels[key])
    groups = []
    for container in spec(pod).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == METRICS_PORT_NAME:
                groups.append({"targets": [f"{pod_ip}:{int(port['containerPort'])}"], "labels": dict(labels)})
    return groups


def target_path(file_sd_dir: pathlib.Path, namespace: str, name: str) -> pathlib.Path:
    return file_sd_dir / f"pod-{namespace}-{name}.json"


def write_targets(file_sd_dir: pathlib.Path, pod: Pod, pod_ip: str) -> pathlib.Path | None:
    """Write (or replace) the Pod's file; None when it has no metrics port."""
    groups = target_groups(pod, pod_ip)
    if not groups:
        return None
    path = target_path(file_sd_dir, str(meta(pod).get("namespace")), str(meta(pod).get("name")))
    file_sd_dir.mkdir(parents=True, exist_ok=True)
    # A dot-file: Prometheus only reads *.json, so it never sees the partial temp file.
    tmp = file_sd_dir / f".{path.name}.tmp"
    tmp.write_text(json.dumps(groups, indent=1))
    os.replace(tmp, path)
    return path


def remove_targets(file_sd_dir: pathlib.Path, namespace: str, name: str, pod_ip: str) -> None:
    """Remove the Pod's file, unless it now belongs to a namesake Pod at another address.

    A force-deleted Pod's successor with the same name may already run (and have written
    its file) while the old process is still being stopped.
    """
    path = target_path(file_sd_dir, namespace, name)
    try:
        groups = json.loads(path.read_text())
    except FileNotFoundError:
        return
    except ValueError:
        groups = []
    owners = {t.rsplit(":", 1)[0] for g in groups for t in g.get("targets", [])}
    if not owners or pod_ip in owners:
        path.unlink(missing_ok=True)
