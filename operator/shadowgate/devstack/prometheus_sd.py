"""Kubernetes service discovery for the local stack's Prometheus, mirroring the chart's monitors.

A cluster with the Prometheus Operator scrapes shadowgate through the chart's PodMonitor
(model-server Pods) and ServiceMonitor (the operator's and the routers' Services). The local
stack runs plain Prometheus, so this module writes the two scrape jobs the Prometheus Operator
would generate from them: the same selection, the same target labels, the same label
precedence. The PodMonitor's relabelings are read from the chart's own file
(``charts/shadowgate/files/pod-relabelings.yaml``), never copied, so the gates' label names
cannot drift between the local stack and a real cluster.

Debian's ``prometheus`` package is built without Kubernetes discovery (a Debian patch removes
it), so these jobs need a Prometheus built with it; ``find_kubernetes_sd_prometheus`` finds one.
"""

from __future__ import annotations

import functools
import pathlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from shadowgate.core import labels

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
POD_RELABELINGS = REPO_ROOT / "charts" / "shadowgate" / "files" / "pod-relabelings.yaml"
METRICS_PORT = "metrics"
POD_JOB = "kubernetes-pods"
SERVICE_JOB = "kubernetes-services"
# The chart labels every object it renders with this; its ServiceMonitor selects on it.
PART_OF = "app.kubernetes.io/part-of"
_INVALID = re.compile(r"[^a-zA-Z0-9_]")

# PodMonitor / ServiceMonitor field names -> Prometheus relabel_config keys.
_RELABEL_KEYS = {
    "sourceLabels": "source_labels",
    "separator": "separator",
    "targetLabel": "target_label",
    "regex": "regex",
    "modulus": "modulus",
    "replacement": "replacement",
    "action": "action",
}


class RelabelingError(ValueError):
    """The shared relabelings file is not a list of PodMonitor relabelings."""


def meta_label(key: str, kind: str = "pod", *, present: bool = False) -> str:
    """The discovery meta label of a Kubernetes label key (Prometheus's sanitizing rule);
    ``present``: the one that is ``"true"`` whenever the object has the label at all."""
    return f"__meta_kubernetes_{kind}_label{'present' if present else ''}_{_INVALID.sub('_', key)}"


@functools.cache
def _load(path: pathlib.Path) -> tuple[Mapping[str, Any], ...]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise RelabelingError(f"{path}: expected a YAML list of PodMonitor relabelings")
    for rule in doc:
        unknown = sorted(set(rule) - set(_RELABEL_KEYS))
        if unknown:
            raise RelabelingError(f"{path}: unknown relabeling field(s) {unknown} in {rule}")
    return tuple(doc)


def pod_relabelings(path: pathlib.Path = POD_RELABELINGS) -> list[dict[str, Any]]:
    """The chart's PodMonitor relabelings, as the file spells them (camelCase)."""
    return [dict(rule) for rule in _load(path)]


def relabel_configs(relabelings: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """PodMonitor relabelings as Prometheus ``relabel_configs`` (the same rules, snake_case keys)."""
    out = []
    for rule in relabelings:
        converted = {_RELABEL_KEYS[k]: v for k, v in rule.items()}
        if "source_labels" in converted:
            converted["source_labels"] = list(converted["source_labels"])
        out.append(converted)
    return out


def kubernetes_sd(
    role: str, *, api_server: str, ca_file: pathlib.Path, cert_file: pathlib.Path, key_file: pathlib.Path
) -> dict[str, Any]:
    """One ``kubernetes_sd_configs`` entry that talks to the stack's API server with a client cert."""
    return {
        "role": role,
        "api_server": api_server,
        "tls_config": {"ca_file": str(ca_file), "cert_file": str(cert_file), "key_file": str(key_file)},
    }


def _keep(source: str, regex: str) -> dict[str, Any]:
    return {"source_labels": [source], "regex": regex, "action": "keep"}


def _copy(source: str, target: str) -> dict[str, Any]:
    return {"source_labels": [source], "target_label": target}


def pod_monitor_job(
    sd: Mapping[str, Any], interval: str, relabelings: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The chart's PodMonitor as a scrape job: model-server Pods by their ``metrics`` port.

    ``sd`` is a ``kubernetes_sd`` entry of role ``pod``. The pod role already makes one target per
    declared container port, at ``<Pod IP>:<port>`` (IPv6 bracketed), so the address needs no
    rewrite: keeping the ``metrics`` port is the PodMonitor's ``port: metrics``. The Pod label
    keep is its selector, the phase drop is what the Prometheus Operator adds to every PodMonitor,
    and the rest is the chart's relabelings, verbatim. Scraped labels do not win (honorLabels is
    false), as in the chart.
    """
    shared = pod_relabelings() if relabelings is None else relabelings
    selector = meta_label(labels.POD_LABEL_VARIANT, present=True)
    return {
        "job_name": POD_JOB,
        "scrape_interval": interval,
        "scrape_timeout": interval,
        "honor_labels": False,
        "kubernetes_sd_configs": [dict(sd)],
        "relabel_configs": [
            _keep("__meta_kubernetes_pod_container_port_name", METRICS_PORT),
            _keep(selector, "true"),
            {
                "source_labels": ["__meta_kubernetes_pod_phase"],
                "regex": "(Failed|Succeeded)",
                "action": "drop",
            },
            *relabel_configs(shared),
        ],
    }


def service_monitor_job(sd: Mapping[str, Any], interval: str) -> dict[str, Any]:
    """The chart's ServiceMonitor as a scrape job: the operator's and the routers' ``metrics`` ports.

    ``sd`` is a ``kubernetes_sd`` entry of role ``endpointslice`` (the Services' EndpointSlices,
    as kube-proxy sees them). Target labels are the Prometheus Operator's for a ServiceMonitor
    (``labels.SERVICE_TARGET_LABELS``, ``job`` = the Service's name); the process's own labels win,
    as the chart's ``honorLabels: true`` says, so the operator's ``namespace`` stays the
    Candidate's. Every shadowgate Service of any release and namespace is kept.
    """
    relabel: list[dict[str, Any]] = [
        _keep(meta_label(PART_OF, "service"), "shadowgate"),
        _keep("__meta_kubernetes_endpointslice_port_name", METRICS_PORT),
        _copy("__meta_kubernetes_namespace", labels.NAMESPACE),
        _copy("__meta_kubernetes_service_name", "service"),
        _copy("__meta_kubernetes_pod_name", labels.POD),
        _copy("__meta_kubernetes_pod_container_name", "container"),
        {"target_label": "endpoint", "replacement": METRICS_PORT},
        _copy("__meta_kubernetes_service_name", "job"),
    ]
    return {
        "job_name": SERVICE_JOB,
        "scrape_interval": interval,
        "scrape_timeout": interval,
        "honor_labels": True,
        "kubernetes_sd_configs": [dict(sd)],
        "relabel_configs": relabel,
    }


def has_kubernetes_sd(promtool: str) -> bool:
    """Whether ``promtool`` (and so the Prometheus of the same build) accepts ``kubernetes_sd_configs``."""
    probe = {"scrape_configs": [{"job_name": "probe", "kubernetes_sd_configs": [{"role": "pod"}]}]}
    with tempfile.TemporaryDirectory(prefix="sg-promtool-") as tmp:
        path = pathlib.Path(tmp) / "probe.yml"
        path.write_text(yaml.safe_dump(probe))
        try:
            proc = subprocess.run(
                [promtool, "check", "config", str(path)],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
    return proc.returncode == 0


def find_kubernetes_sd_prometheus(dirs: Iterable[pathlib.Path | str]) -> tuple[str, str] | None:
    """``(prometheus, promtool)`` from the first folder of ``dirs`` holding both, built with
    Kubernetes discovery, else from ``PATH``; None when there is none."""
    candidates = [(pathlib.Path(d) / "prometheus", pathlib.Path(d) / "promtool") for d in dirs]
    on_path = shutil.which("prometheus"), shutil.which("promtool")
    if on_path[0] and on_path[1]:
        candidates.append((pathlib.Path(on_path[0]), pathlib.Path(on_path[1])))
    for prometheus, promtool in candidates:
        if prometheus.is_file() and promtool.is_file() and has_kubernetes_sd(str(promtool)):
            return str(prometheus), str(promtool)
    return None
