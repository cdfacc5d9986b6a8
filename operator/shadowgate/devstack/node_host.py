"""What the real node changes on the host, and how it is put back: sysctls, cgroups, mounts.

kubelet writes three host sysctls on start (they are not per namespace); several stacks may
run at once, so the first stack to start saves the values and the last one to stop restores
them (a lock file and a holder list in ``/run/shadowgate``). kubelet makes a ``kubepods``
tree under the stack's own cgroup parent in every cgroup v1 hierarchy; containerd and kubelet
mount overlays, tmpfs volumes and Pod network namespaces. Teardown finds all of these from the
kernel's own tables (``/proc/self/mountinfo``, ``cgroup.procs``), so it also cleans up after a
stack whose processes were killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator
from typing import Any

RUN_DIR = pathlib.Path("/run/shadowgate")
PROC = pathlib.Path("/proc")
# What kubelet 1.36 sets (kubelet/cm/container_manager_linux.go setupKernelTunables).
KUBELET_SYSCTLS: tuple[str, ...] = ("vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops")


@contextlib.contextmanager
def _locked(run_dir: pathlib.Path) -> Iterator[pathlib.Path]:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "sysctls.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield run_dir / "sysctls.json"


def _read(path: pathlib.Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def hold_sysctls(key: str, run_dir: pathlib.Path = RUN_DIR, proc: pathlib.Path = PROC) -> None:
    """Record the host's values before this stack's kubelet starts (unless a stack already did)."""
    with _locked(run_dir) as path:
        doc = _read(path)
        holders = [str(h) for h in doc.get("holders", []) or []]
        if not holders:
            doc["saved"] = {name: (proc / "sys" / name).read_text().strip() for name in KUBELET_SYSCTLS}
        if key not in holders:
            holders.append(key)
        doc["holders"] = holders
        path.write_text(json.dumps(doc, indent=2))


def release_sysctls(key: str, run_dir: pathlib.Path = RUN_DIR, proc: pathlib.Path = PROC) -> bool:
    """Drop this stack's hold; the last holder writes the saved values back. True if restored."""
    with _locked(run_dir) as path:
        doc = _read(path)
        holders = [str(h) for h in doc.get("holders", []) or []]
        if key in holders:
            holders.remove(key)
        if holders:
            doc["holders"] = holders
            path.write_text(json.dumps(doc, indent=2))
            return False
        saved = doc.get("saved") or {}
        for name, value in dict(saved).items():
            with contextlib.suppress(OSError):
                (proc / "sys" / str(name)).write_text(f"{value}\n")
        path.unlink(missing_ok=True)
        return bool(saved)


def cgroup_hierarchies(mountinfo: str) -> list[pathlib.Path]:
    """Mount points of the cgroup v1 hierarchies (one per controller set) and of cgroup2."""
    found = []
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fstype = right.split()[0] if right else ""
        if fstype in ("cgroup", "cgroup2"):
            found.append(pathlib.Path(left.split()[4]))
    return found


def _hierarchies() -> list[pathlib.Path]:
    return cgroup_hierarchies(pathlib.Path("/proc/self/mountinfo").read_text())


def make_cgroup_parent(parent: str) -> None:
    """kubelet requires its ``cgroupRoot`` to exist in every hierarchy before it starts."""
    for mount in _hierarchies():
        with contextlib.suppress(OSError):  # a read-only or foreign hierarchy is not ours to use
            (mount / parent.lstrip("/")).mkdir(exist_ok=True)


def _cgroup_dirs(parent: str) -> list[pathlib.Path]:
    """Every cgroup under ``parent`` in every hierarchy, deepest first."""
    dirs: list[pathlib.Path] = []
    for mount in _hierarchies():
        top = mount / parent.lstrip("/")
        if top.is_dir():
            dirs += [pathlib.Path(d) for d, _, _ in os.walk(top)]
    return sorted(dirs, key=lambda d: len(d.parts), reverse=True)


def cgroup_pids(parent: str) -> set[int]:
    pids: set[int] = set()
    for d in _cgroup_dirs(parent):
        with contextlib.suppress(OSError, ValueError):
            pids |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
    return pids


def remove_cgroups(parent: str, wait_s: float = 10.0) -> list[str]:
    """SIGKILL every process left under ``parent`` (containers whose shim is gone), then remove
    the cgroups leaf-first. Returns what could not be removed."""
    deadline = time.monotonic() + wait_s
    while (pids := cgroup_pids(parent)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    left = []
    for d in _cgroup_dirs(parent):
        try:
            d.rmdir()
        except OSError as err:
            left.append(f"{d}: {err.strerror}")
    return left


def mounts_under(roots: Iterable[pathlib.Path], mountinfo: str) -> list[pathlib.Path]:
    """Mount points at or below any of ``roots``, deepest first (the order to unmount them)."""
    tops = [str(r).rstrip("/") for r in roots]
    found = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        # mountinfo escapes spaces and the like as octal (\040).
        point = fields[4].encode().decode("unicode_escape")
        if any(point == t or point.startswith(t + "/") for t in tops):
            found.append(pathlib.Path(point))
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def unmount_under(roots: Iterable[pathlib.Path]) -> list[str]:
    """Unmount everything below ``roots``; a busy mount is detached lazily. Returns failures."""
    failed = []
    for point in mounts_under(list(roots), pathlib.Path("/proc/self/mountinfo").read_text()):
        res = subprocess.run(["umount", str(point)], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            lazy = subprocess.run(["umount", "-l", str(point)], capture_output=True, text=True, check=False)
            if lazy.returncode != 0:
                failed.append(f"{point}: {lazy.stderr.strip()}")
    return failed


def sandbox_netns_paths(containerd_state: pathlib.Path) -> list[pathlib.Path]:
    """The Pod network namespaces containerd made for this stack's sandboxes, read from the
    OCI specs in its state folder (readable after containerd itself was killed)."""
    found = []
    for config in containerd_state.glob("io.containerd.runtime.v2.task/k8s.io/*/config.json"):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            spec = json.loads(config.read_text())
            for ns in spec.get("linux", {}).get("namespaces", []):
                path = ns.get("path", "")
                if ns.get("type") == "network" and path.startswith(("/var/run/netns/", "/run/netns/")):
                    found.append(pathlib.Path(path))
    return found


def remove_netns_files(paths: Iterable[pathlib.Path]) -> list[str]:
    failed = []
    for path in paths:
        if not path.exists():
            continue
        subprocess.run(["umount", str(path)], capture_output=True, check=False)
        try:
            path.unlink()
        except OSError as err:
            failed.append(f"{path}: {err.strerror}")
    return failed


def container_pid(container_id: str, run_dir: pathlib.Path = RUN_DIR) -> int | None:
    """The host pid of a running container of any local stack's node, from the ``init.pid`` its
    containerd shim writes; ``container_id`` is a Pod status' ``containerd://<id>``. None when
    the id is another runtime's, or the container is not running here."""
    scheme, _, cid = container_id.partition("://")
    if scheme != "containerd" or not cid.isalnum():
        return None
    for pid_file in run_dir.glob(f"*/containerd/io.containerd.runtime.v2.task/k8s.io/{cid}/init.pid"):
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().strip())
            if (PROC / str(pid)).exists():
                return pid
    return None
