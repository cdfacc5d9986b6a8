"""Prometheus for the local stack: its generated config and its run-time scrape targets.

Targets are added while the stack runs through file_sd: one JSON file per job in
``layout.file_sd_dir``. Prometheus watches the folder (inotify, plus a 1 s re-read), so no
reload is needed. Files are replaced atomically under an ``flock``, so tests and the demo can
add targets concurrently; this module only ever touches ``job-*.json``. A target's address is
as Prometheus sees it: inside the node's network namespace, where Prometheus runs.

Prometheus finds the cluster's Pods itself: ``render_node_config`` adds the
``kubernetes_sd_configs`` jobs that mirror the chart's PodMonitor and ServiceMonitor
(``shadowgate.devstack.prometheus_sd``), and keeps the file_sd job for processes on the node
that are not Pods (a test's own HTTP server).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from shadowgate.devstack import prometheus_sd
from shadowgate.devstack.layout import StackLayout

SCRAPE_INTERVAL = "1s"
_JOB = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,99}$")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ADDRESS = re.compile(r"^[A-Za-z0-9.\-]+:\d{1,5}$")


def render_config(layout: StackLayout, self_address: str) -> dict[str, Any]:
    """The whole prometheus.yml: itself, plus every file_sd target file."""
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL,
                   "scrape_timeout": SCRAPE_INTERVAL},
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": [self_address]}]},
            {
                # A target group may set its own ``job`` label; it wins over this job_name.
                "job_name": "file_sd",
                "file_sd_configs": [
                    {"files": [str(layout.file_sd_dir / "*.json")], "refresh_interval": "1s"}
                ],
            },
        ],
    }  # fmt: skip


def write_config(layout: StackLayout, self_address: str) -> pathlib.Path:
    return _write(layout, render_config(layout, self_address))


def render_node_config(
    layout: StackLayout,
    self_address: str,
    *,
    api_server: str,
    ca_file: pathlib.Path,
    cert_file: pathlib.Path,
    key_file: pathlib.Path,
) -> dict[str, Any]:
    """prometheus.yml for a stack with a real node: ``render_config``'s jobs plus Kubernetes
    discovery through ``api_server`` (HTTPS, verified with ``ca_file``, authenticated by the client
    certificate ``cert_file``/``key_file``, which must be allowed to list and watch Pods, Services
    and EndpointSlices in every namespace).

    Jobs: ``prometheus`` (itself), ``kubernetes-pods`` (the chart's PodMonitor: model servers),
    ``kubernetes-services`` (the chart's ServiceMonitor: operator and routers), ``file_sd``.
    Everything is scraped every ``SCRAPE_INTERVAL``, not the chart's 15 s, so tests see a
    change within seconds.
    """
    doc = render_config(layout, self_address)

    def sd(role: str) -> dict[str, Any]:
        return prometheus_sd.kubernetes_sd(
            role, api_server=api_server, ca_file=ca_file, cert_file=cert_file, key_file=key_file
        )

    kube = [
        prometheus_sd.pod_monitor_job(sd("pod"), SCRAPE_INTERVAL),
        prometheus_sd.service_monitor_job(sd("endpointslice"), SCRAPE_INTERVAL),
    ]
    self_job, *rest = doc["scrape_configs"]
    doc["scrape_configs"] = [self_job, *kube, *rest]
    return doc


def write_node_config(
    layout: StackLayout,
    self_address: str,
    *,
    api_server: str,
    ca_file: pathlib.Path,
    cert_file: pathlib.Path,
    key_file: pathlib.Path,
) -> pathlib.Path:
    """Write ``render_node_config``'s document to ``layout.prometheus_config``; return its path."""
    doc = render_node_config(
        layout, self_address, api_server=api_server, ca_file=ca_file, cert_file=cert_file, key_file=key_file
    )
    return _write(layout, doc)


def _write(layout: StackLayout, doc: Mapping[str, Any]) -> pathlib.Path:
    layout.file_sd_dir.mkdir(parents=True, exist_ok=True)
    layout.prometheus_data.mkdir(parents=True, exist_ok=True)
    layout.prometheus_config.write_text(yaml.safe_dump(dict(doc), sort_keys=False))
    return layout.prometheus_config


def validate_target(job: str, address: str, labels: Mapping[str, str] | None) -> None:
    """Raise ``ValueError`` naming the bad part of a scrape target."""
    if not _JOB.match(job):
        raise ValueError(f"invalid scrape job name {job!r}: use letters, digits, '_', '.', ':' or '-'")
    if not _ADDRESS.match(address) or not 0 < int(address.rsplit(":", 1)[1]) < 65536:
        raise ValueError(f"invalid scrape address {address!r}: expected host:port, e.g. 127.0.0.1:9100")
    for key, value in (labels or {}).items():
        if not _LABEL.match(key) or key.startswith("__"):
            raise ValueError(f"invalid label name {key!r} for scrape job {job!r}")
        if not isinstance(value, str):
            raise ValueError(
                f"label {key!r} of scrape job {job!r} must be a string, got {type(value).__name__}"
            )


class ScrapeTargets:
    """Adds and removes targets in the file_sd folder of one stack."""

    def __init__(self, layout: StackLayout) -> None:
        self._dir = layout.file_sd_dir

    def path(self, job: str) -> pathlib.Path:
        return self._dir / f"job-{job}.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._dir.mkdir(parents=True, exist_ok=True)
        with open(self._dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _read(self, job: str) -> list[dict[str, Any]]:
        try:
            groups = json.loads(self.path(job).read_text())
        except FileNotFoundError:
            return []
        return list(groups)

    def _write(self, job: str, groups: list[dict[str, Any]]) -> None:
        path = self.path(job)
        if not groups:
            path.unlink(missing_ok=True)
            return
        # Write outside the watched glob (*.json), then rename: Prometheus never sees half a file.
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(groups, indent=1))
        tmp.replace(path)

    def add(self, job: str, address: str, labels: Mapping[str, str] | None = None) -> None:
        """Scrape ``address`` as job ``job`` with extra ``labels``; replaces an earlier entry for it."""
        validate_target(job, address, labels)
        with self._locked():
            groups = [g for g in self._read(job) if address not in g.get("targets", [])]
            groups.append({"targets": [address], "labels": {**dict(labels or {}), "job": job}})
            self._write(job, groups)

    def remove(self, job: str, address: str) -> bool:
        """Stop scraping ``address`` in ``job``; return whether it was there."""
        validate_target(job, address, None)
        with self._locked():
            groups = self._read(job)
            kept = [g for g in groups if address not in g.get("targets", [])]
            self._write(job, kept)
            return len(kept) != len(groups)

    def jobs(self) -> dict[str, list[str]]:
        """Every job this module manages, with its addresses."""
        out: dict[str, list[str]] = {}
        for path in sorted(self._dir.glob("job-*.json")):
            job = path.stem.removeprefix("job-")
            out[job] = [t for g in self._read(job) for t in g.get("targets", [])]
        return out
