"""Where every file of one local stack lives inside its state directory.

One frozen value names all paths, so the stack, the demo and tests agree on them
without passing a dozen arguments around. Nothing here touches the disk.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass

STATE_DIR_ENV = "SHADOWGATE_STATE_DIR"

# The real node's components in start order; ``down`` stops them in reverse.
COMPONENTS: tuple[str, ...] = (
    "etcd",
    "containerd",
    "kube-apiserver",
    "relay",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "coredns",
    "prometheus",
)


def default_state_dir(environ: Mapping[str, str] | None = None) -> pathlib.Path:
    """``$SHADOWGATE_STATE_DIR``, else ``~/.cache/shadowgate/stack`` (XDG_CACHE_HOME honoured)."""
    env = os.environ if environ is None else environ
    explicit = env.get(STATE_DIR_ENV)
    if explicit:
        return pathlib.Path(explicit).expanduser().resolve()
    cache = env.get("XDG_CACHE_HOME") or str(pathlib.Path(env.get("HOME", "~")) / ".cache")
    return (pathlib.Path(cache).expanduser() / "shadowgate" / "stack").resolve()


@dataclass(frozen=True)
class StackLayout:
    """Paths inside one state directory (``root``)."""

    root: pathlib.Path

    @property
    def state_file(self) -> pathlib.Path:
        return self.root / "stack.json"

    @property
    def lock_file(self) -> pathlib.Path:
        return self.root / ".lock"

    @property
    def kubeconfig(self) -> pathlib.Path:
        return self.root / "kubeconfig"

    @property
    def pki(self) -> pathlib.Path:
        return self.root / "pki"

    @property
    def logs(self) -> pathlib.Path:
        return self.root / "logs"

    @property
    def run(self) -> pathlib.Path:
        return self.root / "run"

    @property
    def etcd_data(self) -> pathlib.Path:
        return self.root / "etcd"

    @property
    def controller_manager_certs(self) -> pathlib.Path:
        return self.root / "kube-controller-manager"

    @property
    def prometheus_dir(self) -> pathlib.Path:
        return self.root / "prometheus"

    @property
    def prometheus_config(self) -> pathlib.Path:
        return self.prometheus_dir / "prometheus.yml"

    @property
    def prometheus_data(self) -> pathlib.Path:
        return self.prometheus_dir / "data"

    @property
    def file_sd_dir(self) -> pathlib.Path:
        """Prometheus reads every ``*.json`` here (file_sd); writers replace files atomically."""
        return self.prometheus_dir / "file_sd"

    def log(self, component: str) -> pathlib.Path:
        return self.logs / f"{component}.log"

    def pid_file(self, component: str) -> pathlib.Path:
        return self.run / f"{component}.pid"

    def pki_file(self, name: str) -> pathlib.Path:
        return self.pki / name
