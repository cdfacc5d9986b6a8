"""Finds the pinned etcd / Kubernetes / helm binaries, building them when missing.

``hack/build-binaries.sh`` owns the versions and the cache folder; this module only asks it
where that folder is (``--print-dir``) and runs it when a binary is absent. The repository
root comes from ``$SHADOWGATE_REPO`` or from this package's own location (an editable
install). ``$SHADOWGATE_BIN_DIR`` overrides the folder outright.
"""

from __future__ import annotations

import fcntl
import os
import pathlib
import subprocess
from collections.abc import Callable, Mapping

REQUIRED: tuple[str, ...] = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kubectl",
    "helm",
    # The real node's, all built by hack/build-binaries.sh from the same pinned modules.
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "coredns",
    "prometheus",
    "promtool",
)
BUILD_SCRIPT = pathlib.Path("hack") / "build-binaries.sh"


class BinariesError(RuntimeError):
    """The binaries are missing and cannot be built; the message says why."""


def repo_root(environ: Mapping[str, str] | None = None) -> pathlib.Path:
    env = os.environ if environ is None else environ
    candidates = []
    if env.get("SHADOWGATE_REPO"):
        candidates.append(pathlib.Path(env["SHADOWGATE_REPO"]).expanduser())
    # operator/shadowgate/devstack/binaries.py -> the repository root is three folders up.
    candidates.append(pathlib.Path(__file__).resolve().parents[3])
    for root in candidates:
        if (root / BUILD_SCRIPT).is_file():
            return root.resolve()
    raise BinariesError(
        f"cannot find {BUILD_SCRIPT} (looked in {', '.join(map(str, candidates))}); "
        "set SHADOWGATE_REPO to the shadowgate checkout or SHADOWGATE_BIN_DIR to a folder with the binaries"
    )


def bin_dir(environ: Mapping[str, str] | None = None) -> pathlib.Path:
    """The folder the pinned binaries live in (it may not exist yet)."""
    env = os.environ if environ is None else environ
    if env.get("SHADOWGATE_BIN_DIR"):
        return pathlib.Path(env["SHADOWGATE_BIN_DIR"]).expanduser().resolve()
    script = repo_root(env) / BUILD_SCRIPT
    proc = subprocess.run([str(script), "--print-dir"], capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise BinariesError(f"{script} --print-dir failed: {proc.stderr.strip()}")
    return pathlib.Path(proc.stdout.strip())


def missing(directory: pathlib.Path) -> list[str]:
    return [name for name in REQUIRED if not os.access(directory / name, os.X_OK)]


def ensure(log: Callable[[str], None], environ: Mapping[str, str] | None = None) -> pathlib.Path:
    """Return the binary folder, running the build script first if anything is missing."""
    env = os.environ if environ is None else environ
    directory = bin_dir(env)
    absent = missing(directory)
    if not absent:
        return directory
    if env.get("SHADOWGATE_BIN_DIR"):
        raise BinariesError(f"SHADOWGATE_BIN_DIR={directory} lacks {', '.join(absent)}")
    script = repo_root(env) / BUILD_SCRIPT
    log(
        f"building the pinned binaries ({', '.join(absent)} missing) with {script}; "
        "a cold build takes tens of minutes on 2 cores, later runs reuse the cache"
    )
    directory.mkdir(parents=True, exist_ok=True)
    # Two `dev up`s at once must not run two builds into the same output files. (A build
    # started by other means, e.g. bootstrap, is not covered by this lock.)
    with open(directory.parent / ".dev-up-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if missing(directory):
            proc = subprocess.run([str(script)], check=False)
            if proc.returncode != 0:
                raise BinariesError(f"{script} failed with exit code {proc.returncode}")
    absent = missing(directory)
    if absent:
        raise BinariesError(f"after building, {directory} still lacks {', '.join(absent)}")
    return directory
