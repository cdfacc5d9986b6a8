"""The programs that make the stack's images: debootstrap, gcc, pip (for the wheelhouse) and buildah.

Each runs as a subprocess whose failure raises ``ImageBuildError`` with the command's last
lines of output, so a failed ``buildah bud`` step says which step and why. buildah always gets
its own storage root and runroot (``Buildah``), so it never touches another user's images.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

TAIL_LINES = 40
# debootstrap of the host's own Debian release: python3 is then the same version the host has.
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
# What an image never needs from the debootstrap tree: the package downloads and lists (as the
# official slim images) and the host's resolver and name, which the runtime provides.
BASE_LEFTOVERS = ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "etc/resolv.conf", "etc/hostname")
PAUSE_CFLAGS = ("-static", "-O2", "-s", "-Wall", "-Werror")


class ImageBuildError(RuntimeError):
    """An image could not be built; the message names the step and ends with its output."""


def tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run(
    cmd: Sequence[str],
    what: str,
    log: Callable[[str], None] | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run ``cmd``; return its stdout. Output lines go to ``log`` as they come when it is given
    (a cold build takes minutes, and silence reads as a hang)."""
    if shutil.which(cmd[0]) is None and not os.path.isabs(cmd[0]):
        raise ImageBuildError(f"{what}: {cmd[0]} is not installed (hack/bootstrap.sh installs it)")
    proc = subprocess.Popen(
        list(cmd),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if log else subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=dict(env) if env is not None else None,
    )
    out_lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        out_lines.append(line)
        if log:
            log(line.rstrip())
    err = proc.stderr.read() if proc.stderr else ""
    if proc.wait() != 0:
        shown = tail("".join(out_lines) + err)
        raise ImageBuildError(f"{what} failed (exit {proc.returncode}):\n{shown}")
    return "".join(out_lines)


def host_suite(os_release: pathlib.Path = pathlib.Path("/etc/os-release")) -> str:
    """The host's Debian codename (bookworm): the base image is the same release."""
    try:
        fields = dict(line.split("=", 1) for line in os_release.read_text().splitlines() if "=" in line)
    except OSError as exc:
        raise ImageBuildError(f"cannot read {os_release}: {exc.strerror}") from exc
    if fields.get("ID", "").strip('"') != "debian" or not fields.get("VERSION_CODENAME"):
        raise ImageBuildError(
            f"the base image is debootstrapped from the host's Debian release; {os_release} is not Debian"
        )
    return fields["VERSION_CODENAME"].strip('"')


def mounts_under(folder: pathlib.Path, mountinfo: str | None = None) -> list[str]:
    """Mount points at or below ``folder``, deepest first (the order to unmount them)."""
    text = pathlib.Path("/proc/self/mountinfo").read_text() if mountinfo is None else mountinfo
    root = str(folder).rstrip("/")
    points = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 4:
            point = fields[4].encode().decode("unicode_escape")  # mountinfo octal-escapes spaces
            if point == root or point.startswith(root + "/"):
                points.append(point)
    return sorted(points, key=lambda p: p.count("/"), reverse=True)


def unmount_all(folder: pathlib.Path) -> None:
    for point in mounts_under(folder):
        if subprocess.run(["umount", point], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def debootstrap(rootfs: pathlib.Path, suite: str, log: Callable[[str], None]) -> None:
    """A minimal Debian tree with Python at ``rootfs``, cleaned for use as an image."""
    cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", suite, str(rootfs)]
    try:
        run(cmd, "debootstrap of the base image", log=None)
    finally:
        # debootstrap can leave ROOTFS/proc (and on failure more) mounted.
        unmount_all(rootfs)
    for pattern in BASE_LEFTOVERS:
        for path in rootfs.glob(pattern):
            if not path.is_dir() or path.is_symlink():  # lists/ keeps its partial/ folder, as apt expects
                path.unlink()


def gcc_version() -> str:
    return run(["gcc", "--version"], "gcc --version").splitlines()[0]


def build_pause(source: pathlib.Path, out: pathlib.Path) -> None:
    if not source.is_file():
        raise ImageBuildError(f"the pause program's source {source} is missing")
    run(["gcc", *PAUSE_CFLAGS, "-o", str(out), str(source)], f"gcc of {source}")


def requirement_sets(pyproject: pathlib.Path) -> tuple[list[str], list[str], list[str]]:
    """(build-system requirements, the project's dependencies, the model-server extra)."""
    try:
        doc = tomllib.loads(pyproject.read_text())
        project = doc["project"]
        return (
            list(doc["build-system"]["requires"]),
            list(project["dependencies"]),
            list(project["optional-dependencies"]["model-server"]),
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise ImageBuildError(f"{pyproject}: cannot read the dependency lists ({exc!r})") from exc


def fill_wheelhouse(
    wheelhouse: pathlib.Path,
    requirements: Sequence[str],
    log: Callable[[str], None],
    index_url: str = "",
    extra_index_url: str = "",
) -> None:
    """Download ``requirements`` (and what they need) into ``wheelhouse`` with the host's pip.

    The build container then installs from this folder with no index (``pip.conf`` mounted in),
    so a rebuilt dependency layer downloads nothing again; files already there are not fetched.
    """
    wheelhouse.mkdir(parents=True, exist_ok=True)
    # The package index is outside the machine: never from inside a node's namespace, which
    # has no route out (a test or the demo may call this after joining one).
    from shadowgate.devstack.netns import host_prefix

    cmd = [*host_prefix(), sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(wheelhouse)]
    cmd += ["--find-links", str(wheelhouse)]
    if index_url:
        cmd += ["--index-url", index_url]
    if extra_index_url:
        cmd += ["--extra-index-url", extra_index_url]
    run([*cmd, *requirements], f"pip download into {wheelhouse}", log=log)


@dataclass(frozen=True)
class Buildah:
    """buildah with its own storage under the image cache."""

    root: pathlib.Path
    runroot: pathlib.Path

    def env(self) -> dict[str, str]:
        # buildah stages a pushed archive (GBs) and pulled layers under $TMPDIR (/var/tmp by
        # default): keep them in the cache, beside the storage they come from.
        tmp = self.root.parent / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return {**os.environ, "TMPDIR": str(tmp)}

    def cmd(self, *args: str) -> list[str]:
        storage = ["--root", str(self.root), "--runroot", str(self.runroot), "--storage-driver", "overlay"]
        return ["buildah", *storage, *args]

    def has_image(self, name: str) -> bool:
        proc = subprocess.run(
            self.cmd("inspect", "--type", "image", name), capture_output=True, check=False, env=self.env()
        )
        return proc.returncode == 0

    def reset(self) -> None:
        """Drop working containers an interrupted build left (their mounts go with them)."""
        subprocess.run(self.cmd("rm", "--all"), capture_output=True, check=False, env=self.env())
        unmount_all(self.root)

    def pull_archive(self, archive: pathlib.Path) -> None:
        run(
            self.cmd("pull", "--quiet", f"oci-archive:{archive}"),
            f"buildah pull of {archive}",
            env=self.env(),
        )

    def bud(
        self,
        *,
        context: pathlib.Path,
        dockerfile: pathlib.Path,
        ignorefile: pathlib.Path,
        build_args: Mapping[str, str],
        volumes: Sequence[str],
        iidfile: pathlib.Path,
        log: Callable[[str], None],
    ) -> str:
        args = ["bud", "--layers", "--pull=never", "--network", "none", "--iidfile", str(iidfile)]
        args += ["--file", str(dockerfile), "--ignorefile", str(ignorefile)]
        for k, v in sorted(build_args.items()):
            args += ["--build-arg", f"{k}={v}"]
        for volume in volumes:
            args += ["--volume", volume]
        run(self.cmd(*args, str(context)), f"buildah bud -f {dockerfile.name}", log=log, env=self.env())
        return iidfile.read_text().strip().removeprefix("sha256:")

    def push(self, image: str, name: str, archive: pathlib.Path) -> None:
        run(self.cmd("tag", image, name), f"buildah tag {name}", env=self.env())
        run(
            self.cmd("push", "--quiet", name, f"oci-archive:{archive}:{name}"),
            f"buildah push of {name}",
            env=self.env(),
        )

    def remove_other_tags(self, repository: str, keep: str) -> None:
        """Untag older builds of ``repository`` and prune what only they used (disk, not cache)."""
        out = run(
            self.cmd("images", "--noheading", "--format", "{{.Name}}:{{.Tag}}"),
            "buildah images",
            env=self.env(),
        )
        for name in out.split():
            if name.startswith(repository + ":") and name != keep:
                run(self.cmd("rmi", name), f"buildah rmi {name}", env=self.env())
        run(self.cmd("rmi", "--prune"), "buildah rmi --prune", env=self.env())
