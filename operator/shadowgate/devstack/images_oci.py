"""Pack a root filesystem folder as a one-layer OCI image archive, and read archives back.

The local stack has no registry: the base image (a debootstrap tree) and the pause image (one
static binary) are packed here and handed to buildah (``oci-archive:``) or to containerd
(``ctr images import``). Only the image layout that both read is written: ``oci-layout``,
``index.json`` and content-addressed ``blobs/sha256/``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pathlib
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
# ctr import names an image by the first annotation; buildah reads the second.
NAME_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# A fixed creation time: the same rootfs packed twice gives the same image digest.
EPOCH = "1970-01-01T00:00:00Z"
_CHUNK = 1 << 20


class ArchiveError(RuntimeError):
    """An OCI archive could not be written or read; the message names the file and why."""


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an OCI image config the stack's images set."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = (DEFAULT_PATH,)
    workdir: str = "/"
    user: str = ""


@dataclass(frozen=True)
class Packed:
    """What ``pack_rootfs`` wrote: the manifest digest is what containerd reports for the image."""

    path: pathlib.Path
    digest: str
    size: int


def layer_tar_command(rootfs: pathlib.Path) -> list[str]:
    # GNU tar rather than tarfile: a debootstrap tree has device nodes, hard links and
    # capabilities in xattrs, which tar carries faithfully. The same tree gives the same layer:
    # names sorted, and --xattrs' PAX headers without access/change times or tar's PID.
    pax = "exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime"
    return [
        "tar",
        "--numeric-owner",
        "--xattrs",
        "--sort=name",
        f"--pax-option={pax}",
        "-C",
        str(rootfs),
        "-cf",
        "-",
        ".",
    ]


def _sha256_file(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _write_layer(rootfs: pathlib.Path, out: pathlib.Path, compress: bool) -> tuple[str, str]:
    """Write the layer blob to ``out``; return (diff_id hex, blob digest hex)."""
    diff = hashlib.sha256()
    proc = subprocess.Popen(layer_tar_command(rootfs), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    with out.open("wb") as raw:
        # mtime=0 and no file name: the gzip header does not change the digest between runs.
        sink: io.BufferedIOBase = (
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) if compress else raw
        )
        with sink:
            while chunk := proc.stdout.read(_CHUNK):
                diff.update(chunk)
                sink.write(chunk)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.wait() != 0:
        raise ArchiveError(f"tar of {rootfs} failed (exit {proc.returncode}): {err.strip()[-2000:]}")
    return diff.hexdigest(), (_sha256_file(out) if compress else diff.hexdigest())


def _blob(data: bytes) -> tuple[str, bytes]:
    return hashlib.sha256(data).hexdigest(), data


def _json(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def image_documents(
    name: str, config: ImageConfig, diff_id: str, layer_digest: str, layer_size: int, compressed: bool
) -> tuple[tuple[str, bytes], tuple[str, bytes], bytes]:
    """The config blob, the manifest blob and index.json for a one-layer amd64 image."""
    cfg: dict[str, object] = {
        "architecture": "amd64",
        "os": "linux",
        "created": EPOCH,
        "config": {
            "Env": list(config.env),
            "Entrypoint": list(config.entrypoint) or None,
            "Cmd": list(config.cmd) or None,
            "WorkingDir": config.workdir,
            **({"User": config.user} if config.user else {}),
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [{"created": EPOCH, "created_by": "shadowgate.devstack.images_oci"}],
    }
    cfg_blob = _blob(_json(cfg))
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": f"sha256:{cfg_blob[0]}", "size": len(cfg_blob[1])},
        "layers": [
            {
                "mediaType": LAYER_GZIP if compressed else LAYER_TAR,
                "digest": f"sha256:{layer_digest}",
                "size": layer_size,
            }
        ],
    }
    man_blob = _blob(_json(manifest))
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": [
            {
                "mediaType": MANIFEST_TYPE,
                "digest": f"sha256:{man_blob[0]}",
                "size": len(man_blob[1]),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": dict.fromkeys(NAME_ANNOTATIONS, name),
            }
        ],
    }
    return cfg_blob, man_blob, _json(index)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def pack_rootfs(
    rootfs: pathlib.Path, name: str, out: pathlib.Path, config: ImageConfig, *, compress: bool = False
) -> Packed:
    """Pack ``rootfs`` as image ``name`` into the OCI archive ``out`` (written atomically).

    Uncompressed by default: on two cores gzip costs more time than the bytes it saves, since
    the archive only travels between folders on one disk.
    """
    if not rootfs.is_dir():
        raise ArchiveError(f"root filesystem {rootfs} is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".pack-") as tmp:
        layer = pathlib.Path(tmp) / "layer"
        diff_id, layer_digest = _write_layer(rootfs, layer, compress)
        layer_size = layer.stat().st_size
        cfg, man, index = image_documents(name, config, diff_id, layer_digest, layer_size, compress)
        partial = pathlib.Path(tmp) / "image.tar"
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            _add_bytes(tar, "index.json", index)
            for digest, data in (cfg, man):
                _add_bytes(tar, f"blobs/sha256/{digest}", data)
            tar.add(layer, arcname=f"blobs/sha256/{layer_digest}")
        os.replace(partial, out)
    return Packed(out, f"sha256:{man[0]}", out.stat().st_size)


def read_index(archive: pathlib.Path) -> dict[str, object]:
    """index.json of an OCI archive (tarfile seeks over the blobs, so this is quick even for GBs)."""
    try:
        with tarfile.open(archive, "r:") as tar:
            for member in tar:
                if member.name.lstrip("./") == "index.json":
                    stream = tar.extractfile(member)
                    if stream is None:
                        break
                    index = json.loads(stream.read())
                    if isinstance(index, dict):
                        return index
                    break
    except (OSError, tarfile.TarError, json.JSONDecodeError) as exc:
        raise ArchiveError(f"{archive}: not a readable OCI archive ({exc})") from exc
    raise ArchiveError(f"{archive}: no index.json object inside (not an OCI archive)")


def manifest_digest(archive: pathlib.Path) -> str:
    """The digest of the archive's only manifest: what ``ctr images ls`` shows once imported."""
    manifests = read_index(archive).get("manifests")
    if not isinstance(manifests, list) or len(manifests) != 1 or not isinstance(manifests[0], dict):
        raise ArchiveError(f"{archive}: index.json must list exactly one manifest")
    digest = manifests[0].get("digest")
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        raise ArchiveError(f"{archive}: the manifest has no sha256 digest")
    return digest


def single_file_rootfs(files: Sequence[tuple[pathlib.Path, str]], into: pathlib.Path) -> pathlib.Path:
    """A root filesystem of just ``files`` (host path, path in the image), e.g. a static binary."""
    for src, dest in files:
        target = into / dest.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    return into
