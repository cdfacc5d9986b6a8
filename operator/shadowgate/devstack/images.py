"""The local node's container images, built without a registry and cached by their inputs.

Four images, each an OCI archive under ``<cache>/images/`` (``$SHADOWGATE_CACHE``, else
``$XDG_CACHE_HOME/shadowgate``, else ``~/.cache/shadowgate``, as hack/build-binaries.sh):

- ``base``: ``debootstrap --variant=minbase`` of the host's Debian release with Python, packed
  here (``images_oci``); it is the ``PYTHON_IMAGE`` the Dockerfiles build on. Not imported.
- ``pause``: the static sandbox program (hack/pause/pause.c), containerd's ``sandbox_image``.
- ``control-plane``: Dockerfile.control-plane (operator, router; no torch).
- ``model-server``: Dockerfile (the model server, torch).

A build is looked up by the hash of everything it reads (``images_context.build_key``); a warm
run hashes the inputs, finds the record and builds, exports and imports nothing. The last two
are built by ``buildah bud`` with its own storage here, offline (``--network none``): pip in the
build installs from a wheelhouse the host's pip filled, so torch is downloaded once, ever.
Their image name's tag is the built image's ID, a hash of the content itself, so inputs that
change nothing the image holds reuse the exported archive. One file lock serializes builders.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shadowgate.devstack import binaries
from shadowgate.devstack import images_context as inputs
from shadowgate.devstack import images_oci as oci
from shadowgate.devstack import images_tools as tools
from shadowgate.devstack.images_cache import (
    BuiltImage,
    Log,
    cache_dir,
    load_record,
    locked,
    prune_kind,
    save_record,
)

REGISTRY = "localhost/shadowgate"
PYPI = "https://pypi.org/simple"
CONTAINERD_NAMESPACE = "k8s.io"  # the namespace kubelet's CRI looks in
PAUSE_SOURCE = pathlib.Path("hack/pause/pause.c")
# In-container pip: the wheelhouse only, no index, so the build needs no network.
PIP_CONF = "[global]\nno-index = true\nfind-links = /wheelhouse\n"


@dataclass(frozen=True)
class BuiltImages:
    pause: BuiltImage
    control_plane: BuiltImage
    model_server: BuiltImage

    def all(self) -> tuple[BuiltImage, ...]:
        return (self.pause, self.control_plane, self.model_server)


@dataclass(frozen=True)
class Recipe:
    """A Dockerfile-built image: where its inputs are and which dependencies its pip needs."""

    kind: str
    dockerfile: str
    ignorefile: str
    model_server_deps: bool


RECIPES = {
    "control-plane": Recipe(
        "control-plane", "Dockerfile.control-plane", "Dockerfile.control-plane.dockerignore", False
    ),
    "model-server": Recipe("model-server", "Dockerfile", ".dockerignore", True),
}


def torch_index(environ: Mapping[str, str] | None = None) -> str:
    # The Dockerfile's default (PyTorch's CPU index) is not reachable here; PyPI's torch works.
    env = os.environ if environ is None else environ
    return env.get("SHADOWGATE_TORCH_INDEX_URL") or PYPI


def _timed(log: Log, what: str, start: float, image: BuiltImage) -> BuiltImage:
    log(f"images: {what} {image.name} in {time.monotonic() - start:.1f} s ({image.size / 1e6:.0f} MB)")
    return image


def ensure_pause(cache: pathlib.Path, repo: pathlib.Path, log: Log) -> BuiltImage:
    source = repo / PAUSE_SOURCE
    try:
        text = source.read_text()
    except OSError as exc:
        raise tools.ImageBuildError(f"the pause program's source {source} is missing") from exc
    key = inputs.key(
        {"kind": "pause", "source": text, "gcc": tools.gcc_version(), "cflags": tools.PAUSE_CFLAGS}
    )
    if cached := load_record(cache, "pause", key):
        return cached
    start = time.monotonic()
    name = f"{REGISTRY}/pause:{key[:16]}"
    with tempfile.TemporaryDirectory(dir=cache, prefix=".pause-") as tmp:
        rootfs = pathlib.Path(tmp) / "rootfs"
        rootfs.mkdir()
        tools.build_pause(source, rootfs / "pause")
        # The uid Kubernetes' own pause image runs as: nobody's, not root.
        config = oci.ImageConfig(entrypoint=("/pause",), env=(), user="65535:65535")
        packed = oci.pack_rootfs(rootfs, name, cache / "pause" / f"{key[:16]}.tar", config)
    image = BuiltImage(name, packed.path, packed.digest, packed.size)
    save_record(cache, "pause", key, image)
    prune_kind(cache, "pause", image.archive)
    return _timed(log, "built", start, image)


def ensure_base(cache: pathlib.Path, log: Log) -> BuiltImage:
    suite = tools.host_suite()
    key = inputs.key(
        {"kind": "base", "suite": suite, "packages": tools.BASE_PACKAGES, "leftovers": tools.BASE_LEFTOVERS}
    )
    if cached := load_record(cache, "base", key):
        return cached
    start = time.monotonic()
    log(f"images: debootstrap {suite} for the base image (about 40 s)")
    name = f"{REGISTRY}/python:{suite}-{key[:12]}"
    with tempfile.TemporaryDirectory(dir=cache, prefix=".base-") as tmp:
        rootfs = pathlib.Path(tmp) / "rootfs"
        try:
            tools.debootstrap(rootfs, suite, log)
            config = oci.ImageConfig(cmd=("python3",), env=(oci.DEFAULT_PATH, "LANG=C.UTF-8"))
            packed = oci.pack_rootfs(rootfs, name, cache / "base" / f"{key[:16]}.tar", config)
        finally:
            tools.unmount_all(rootfs)  # before TemporaryDirectory removes the tree
    image = BuiltImage(name, packed.path, packed.digest, packed.size)
    save_record(cache, "base", key, image)
    prune_kind(cache, "base", image.archive)
    return _timed(log, "built", start, image)


def _wheelhouse(
    cache: pathlib.Path, repo: pathlib.Path, recipe: Recipe, index: str, log: Log
) -> pathlib.Path:
    """The folder pip in the build installs from, filled once per dependency list."""
    build, deps, extra = tools.requirement_sets(repo / "pyproject.toml")
    wanted = build + deps + (extra if recipe.model_server_deps else [])
    house = cache / "wheelhouse"
    house.mkdir(parents=True, exist_ok=True)
    stamp = house / f".filled-{inputs.key({'reqs': wanted, 'index': index})[:24]}"
    if not stamp.exists():
        start = time.monotonic()
        log(f"images: pip download of {recipe.kind}'s {len(wanted)} requirements into {house}")
        if recipe.model_server_deps and index != PYPI:
            # torch from its own index (a local +cpu version sorts above PyPI's), the rest from PyPI.
            tools.fill_wheelhouse(house, wanted, log, index_url=index, extra_index_url=PYPI)
        else:
            tools.fill_wheelhouse(house, wanted, log)
        stamp.touch()
        log(f"images: wheelhouse ready in {time.monotonic() - start:.1f} s")
    return house


def ensure_built(
    kind: str, cache: pathlib.Path, repo: pathlib.Path, log: Log, environ: Mapping[str, str]
) -> BuiltImage:
    recipe = RECIPES[kind]
    base = ensure_base(cache, log)
    args = {"PYTHON_IMAGE": base.name}
    if recipe.model_server_deps:
        args["TORCH_INDEX_URL"] = torch_index(environ)
    dockerfile, ignorefile = repo / recipe.dockerfile, repo / recipe.ignorefile
    key = inputs.build_key(dockerfile, ignorefile, repo, args, base.digest)
    if cached := load_record(cache, kind, key):
        return cached
    start = time.monotonic()
    house = _wheelhouse(cache, repo, recipe, args.get("TORCH_INDEX_URL", PYPI), log)
    buildah = tools.Buildah(cache / "buildah" / "root", cache / "buildah" / "run")
    buildah.reset()
    if not buildah.has_image(base.name):
        buildah.pull_archive(base.archive)
    pip_conf = cache / "pip.conf"
    pip_conf.write_text(PIP_CONF)
    log(f"images: buildah bud {recipe.dockerfile} (inputs {key[:12]})")
    with tempfile.TemporaryDirectory(dir=cache, prefix=f".{kind}-") as tmp:
        image_id = buildah.bud(
            context=repo,
            dockerfile=dockerfile,
            ignorefile=ignorefile,
            build_args=args,
            volumes=[f"{house}:/wheelhouse:ro", f"{pip_conf}:/etc/pip.conf:ro"],
            iidfile=pathlib.Path(tmp) / "iid",
            log=lambda line: log(f"  {line}"),
        )
        built = time.monotonic()
        name = f"{REGISTRY}/{kind}:{image_id[:16]}"
        archive = cache / kind / f"{image_id[:16]}.tar"
        archive.parent.mkdir(exist_ok=True)
        if not archive.is_file():
            partial = pathlib.Path(tmp) / "image.tar"
            buildah.push(image_id, name, partial)
            os.replace(partial, archive)
    log(f"images: {kind} built in {built - start:.1f} s, exported in {time.monotonic() - built:.1f} s")
    image = BuiltImage(name, archive, oci.manifest_digest(archive), archive.stat().st_size)
    # Others edit the tree while it builds: record the image only if the inputs it was keyed
    # by are still the ones on disk, else the next call rebuilds from what is there now.
    if inputs.build_key(dockerfile, ignorefile, repo, args, base.digest) == key:
        save_record(cache, kind, key, image)
    prune_kind(cache, kind, archive)
    buildah.remove_other_tags(f"{REGISTRY}/{kind}", keep=name)
    return _timed(log, "ready", start, image)


def ensure(kind: str, log: Log = print, environ: Mapping[str, str] | None = None) -> BuiltImage:
    """One image (``pause``, ``base``, ``control-plane`` or ``model-server``), built if its inputs changed."""
    env = os.environ if environ is None else environ
    if kind not in ("pause", "base", *RECIPES):
        raise ValueError(f"unknown image {kind!r}: pause, base, control-plane or model-server")
    cache, repo = cache_dir(env), binaries.repo_root(env)
    with locked(cache, log):
        if kind == "pause":
            return ensure_pause(cache, repo, log)
        if kind == "base":
            return ensure_base(cache, log)
        return ensure_built(kind, cache, repo, log, env)


def ensure_images(log: Log = print, environ: Mapping[str, str] | None = None) -> BuiltImages:
    """Every image the local node runs; a warm call only hashes inputs (well under a second)."""
    return BuiltImages(
        pause=ensure("pause", log, environ),
        control_plane=ensure("control-plane", log, environ),
        model_server=ensure("model-server", log, environ),
    )


def dev_name(kind: str) -> str:
    """The stable name an imported image also carries on the node: manifests for the local
    stack (tests, the demo, a developer's own) name this instead of a content-addressed tag."""
    return f"{REGISTRY}/{kind}:dev"


def chart_image_values(kind: str = "control-plane") -> dict[str, str]:
    """The chart's ``image`` values for the local node's imported image (never pulled)."""
    repository, tag = dev_name(kind).rsplit(":", 1)
    return {"repository": repository, "tag": tag, "pullPolicy": "Never"}


def tag_dev(containerd_socket: pathlib.Path | str, image: BuiltImage, kind: str) -> str:
    """Point ``dev_name(kind)`` at ``image`` in containerd; returns the dev name."""
    alias = dev_name(kind)
    if images_in(containerd_socket).get(alias) != image.digest:
        _ctr(containerd_socket, "tag", "--force", image.name, alias)
    return alias


def _ctr(containerd_socket: pathlib.Path | str, *args: str) -> str:
    """``ctr images ARGS`` in the namespace kubelet's CRI reads."""
    argv = ["ctr", "--address", str(containerd_socket), "-n", CONTAINERD_NAMESPACE, "images", *args]
    return tools.run(argv, f"ctr images {' '.join(args)} on {containerd_socket}")


def images_in(containerd_socket: pathlib.Path | str) -> dict[str, str]:
    """Name -> manifest digest of every image in containerd's Kubernetes namespace."""
    return parse_images_ls(_ctr(containerd_socket, "ls"))


def parse_images_ls(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines()[1:]:  # REF TYPE DIGEST SIZE PLATFORMS LABELS
        fields = line.split()
        if len(fields) >= 3 and fields[2].startswith("sha256:"):
            found[fields[0]] = fields[2]
    return found


def import_images(
    containerd_socket: pathlib.Path | str, images: Iterable[BuiltImage], log: Log = print
) -> list[BuiltImage]:
    """Import what containerd does not already hold with the same digest; returns what was imported."""
    present = images_in(containerd_socket)
    imported = []
    for image in images:
        if present.get(image.name) == image.digest:
            continue
        start = time.monotonic()
        _ctr(containerd_socket, "import", str(image.archive))
        got = images_in(containerd_socket).get(image.name)
        if got != image.digest:
            raise tools.ImageBuildError(
                f"ctr images import {image.archive}: containerd holds {image.name} as {got},"
                f" expected {image.digest}"
            )
        log(f"images: imported {image.name} in {time.monotonic() - start:.1f} s")
        imported.append(image)
    return imported
