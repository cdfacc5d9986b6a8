"""The product's images, built from the repo's Dockerfiles, run for real in a containerd.

Each test builds its image (or finds it cached: ``shadowgate.devstack.images``), imports it into
a throwaway containerd with its own root, state and socket, and runs the image's entry points
with ``ctr run`` the way the chart's Pods run them: as the image's user (uid 10001), on a
read-only root filesystem with tmpfs at /tmp and $HOME (the chart's emptyDirs), with no network.
Afterwards the containerd, its shims, mounts and folders are gone.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from shadowgate.devstack import images
from shadowgate.devstack import images_tools as tools

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="containerd and buildah need root here"),
]

CONFIG = """version = 2
root = "{root}/root"
state = "{root}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{root}/containerd.sock"
[ttrpc]
  address = "{root}/containerd.sock.ttrpc"
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{pause}"
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    # Root here lacks CAP_SYS_RESOURCE: without this every sandbox fails in runc.
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          Root = "{root}/state/runc-cri"
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      conf_dir = "{root}/cni"
  [plugins."io.containerd.internal.v1.opt"]
    path = "{root}/root/opt"
"""
SHIM_DIR = pathlib.Path("/run/containerd/s")


@dataclass(frozen=True)
class Containerd:
    root: pathlib.Path
    socket: pathlib.Path

    def ctr(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        cmd = ["ctr", "--address", str(self.socket), "-n", images.CONTAINERD_NAMESPACE, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)

    def run(self, image: str, *command: str) -> subprocess.CompletedProcess[str]:
        """``command`` in a fresh container of ``image``, as the chart runs a Pod's container."""
        cid = f"sg-imgtest-{uuid.uuid4().hex[:10]}"
        scratch = "type=tmpfs,src=tmpfs,dst={},options=rw:nosuid:nodev:mode=1777"
        return self.ctr(
            "run", "--rm", "--read-only", "--runc-root", str(self.root / "state" / "runc"),
            "--fifo-dir", str(self.root / "fifo"),
            # An empty cgroup path: runc makes /<id> in each hierarchy and removes it with the task.
            "--cgroup", "",
            "--mount", scratch.format("/tmp"), "--mount", scratch.format("/home/shadowgate"),
            image, cid, *command,
        )  # fmt: skip


def _stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def _shims_of(socket: pathlib.Path) -> list[int]:
    """Pids of the runc shims this containerd started (their command line names its socket)."""
    pids = []
    for entry in pathlib.Path("/proc").glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and str(socket).encode() in argv:
            pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    for program in ("containerd", "ctr", "runc"):
        assert shutil.which(program), f"{program} is not installed (hack/bootstrap.sh installs it)"
    root = tmp_path_factory.mktemp("containerd")
    # The runc shim keeps its sockets in /run/containerd/s whatever the state folder: remove what
    # this test made there, and only that.
    shared = [d for d in (SHIM_DIR, SHIM_DIR.parent) if not d.exists()]
    pause = images.ensure("pause", log=print)
    (root / "config.toml").write_text(CONFIG.format(root=root, pause=pause.name))
    log = (root / "containerd.log").open("wb")
    proc = subprocess.Popen(
        ["containerd", "--config", str(root / "config.toml")],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
    daemon = Containerd(root, root / "containerd.sock")
    try:
        deadline = time.monotonic() + 30
        while daemon.ctr("version", timeout=10).returncode != 0:
            assert proc.poll() is None, f"containerd exited: {(root / 'containerd.log').read_text()[-2000:]}"
            assert time.monotonic() < deadline, "containerd did not answer on its socket within 30 s"
            time.sleep(0.2)
        yield daemon
    finally:
        for line in daemon.ctr("tasks", "ls", "-q", timeout=30).stdout.split():
            daemon.ctr("tasks", "kill", "-s", "KILL", line, timeout=30)
            daemon.ctr("tasks", "delete", "-f", line, timeout=30)
        for line in daemon.ctr("containers", "ls", "-q", timeout=30).stdout.split():
            daemon.ctr("containers", "delete", line, timeout=30)
        shims = _shims_of(daemon.socket)
        _stop(proc)
        log.close()
        for pid in shims:
            with contextlib.suppress(ProcessLookupError):  # it left with its task
                os.kill(pid, signal.SIGKILL)
        tools.unmount_all(root)
        shutil.rmtree(root, ignore_errors=True)
        for folder in shared:
            with contextlib.suppress(OSError):
                folder.rmdir()
        assert not tools.mounts_under(root), "containerd's mounts outlived the test"


def _import(containerd: Containerd, *built: images.BuiltImage) -> None:
    start = time.monotonic()
    imported = images.import_images(containerd.socket, built, log=print)
    print(f"imported {[i.name for i in imported]} in {time.monotonic() - start:.1f} s")
    assert images.import_images(containerd.socket, built, log=print) == []  # warm: nothing again


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_the_control_plane_image_runs_the_operator_and_router_entry_points(containerd: Containerd) -> None:
    image = images.ensure("control-plane", log=print)
    _import(containerd, images.ensure("pause", log=print), image)
    name = image.name
    helped = _ok(containerd.run(name, "shadowgate", "--help"))
    assert "operator" in helped and "report" in helped
    assert "demo" not in helped  # the dev tooling is not in the image, and the CLI says nothing of it
    assert "usage: shadowgate-router" in _ok(containerd.run(name, "shadowgate-router", "--help"))
    assert _ok(containerd.run(name, "kopf", "--version")).startswith("kopf, version")
    assert _ok(
        containerd.run(name, "python", "-c", "import os; print(os.getuid(), os.getgid())")
    ).split() == [
        "10001",
        "10001",
    ]
    for absent in ("torch", "shadowgate.devstack", "shadowgate.demo", "model_server"):
        result = containerd.run(name, "python", "-c", f"import {absent}")
        assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr, absent
    assert containerd.run(name, "sh", "-c", "echo x > /opt/x").returncode != 0  # read-only root


def test_the_model_server_image_runs_the_model_server_with_torch(containerd: Containerd) -> None:
    image = images.ensure("model-server", log=print)
    _import(containerd, image)
    assert "usage: model-server" in _ok(containerd.run(image.name, "model-server", "--help"))
    probe = "import os, torch; print(os.getuid(), torch.cuda.is_available())"
    assert _ok(containerd.run(image.name, "python", "-c", probe)).split() == ["10001", "False"]
    assert containerd.run(image.name, "shadowgate", "--help").returncode != 0  # not in this image
