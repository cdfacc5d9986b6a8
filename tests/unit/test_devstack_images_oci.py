"""One-layer OCI archives: the layout ctr and buildah read, content-addressed and reproducible."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pathlib
import tarfile
from typing import Any

import pytest
from shadowgate.devstack import images_oci as oci


@pytest.fixture
def rootfs(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "pause").write_bytes(b"\x7fELF static")
    (root / "bin" / "pause").chmod(0o755)
    (root / "etc").mkdir()
    (root / "etc" / "motd").write_text("hi\n")
    return root


def _blobs(archive: pathlib.Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert "oci-layout" in names
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        blobs = {
            n.removeprefix("blobs/sha256/"): tar.extractfile(n).read()  # type: ignore[union-attr]
            for n in names
            if n.startswith("blobs/sha256/")
        }
    return index, blobs


@pytest.mark.parametrize("compress", [False, True], ids=["uncompressed", "gzip"])
def test_the_archive_is_a_content_addressed_one_layer_image(
    rootfs: pathlib.Path, tmp_path: pathlib.Path, compress: bool
) -> None:
    config = oci.ImageConfig(entrypoint=("/bin/pause",), env=(), user="65535:65535")
    packed = oci.pack_rootfs(rootfs, "localhost/t/pause:1", tmp_path / "out.tar", config, compress=compress)
    index, blobs = _blobs(packed.path)
    for digest, data in blobs.items():
        assert hashlib.sha256(data).hexdigest() == digest  # every blob is named by its content
    (entry,) = index["manifests"]
    assert entry["annotations"] == dict.fromkeys(oci.NAME_ANNOTATIONS, "localhost/t/pause:1")
    assert entry["digest"] == packed.digest == oci.manifest_digest(packed.path)
    manifest = json.loads(blobs[packed.digest.removeprefix("sha256:")])
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == (oci.LAYER_GZIP if compress else oci.LAYER_TAR)
    raw = blobs[layer["digest"].removeprefix("sha256:")]
    assert layer["size"] == len(raw)
    plain = gzip.decompress(raw) if compress else raw
    cfg = json.loads(blobs[manifest["config"]["digest"].removeprefix("sha256:")])
    assert cfg["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(plain).hexdigest()]
    assert cfg["config"]["Entrypoint"] == ["/bin/pause"] and cfg["config"]["User"] == "65535:65535"
    with tarfile.open(fileobj=io.BytesIO(plain)) as layer_tar:
        members = {m.name.lstrip("./"): m for m in layer_tar.getmembers()}
    assert members["bin/pause"].mode & 0o777 == 0o755
    assert members["etc/motd"].uid == 0 or members["etc/motd"].uname == ""


def test_packing_the_same_tree_twice_gives_the_same_digest(
    rootfs: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    a = oci.pack_rootfs(rootfs, "n:1", tmp_path / "a.tar", oci.ImageConfig())
    b = oci.pack_rootfs(rootfs, "n:1", tmp_path / "b.tar", oci.ImageConfig())
    assert a.digest == b.digest
    (rootfs / "etc" / "motd").write_text("changed\n")
    assert oci.pack_rootfs(rootfs, "n:1", tmp_path / "c.tar", oci.ImageConfig()).digest != a.digest


def test_the_index_is_found_after_the_blobs(tmp_path: pathlib.Path) -> None:
    """buildah writes index.json last; the reader does not depend on the order."""
    archive = tmp_path / "buildah.tar"
    index = {"manifests": [{"digest": "sha256:" + "a" * 64}]}
    with tarfile.open(archive, "w") as tar:
        for name, data in (("blobs/sha256/x", b"x" * 10_000), ("index.json", json.dumps(index).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert oci.manifest_digest(archive) == "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("index", "message"),
    [
        pytest.param({"manifests": []}, "exactly one manifest", id="no-manifest"),
        pytest.param({"manifests": [{"digest": "md5:x"}]}, "no sha256 digest", id="bad-digest"),
        pytest.param(None, "no index.json", id="no-index"),
    ],
)
def test_a_wrong_archive_is_named(tmp_path: pathlib.Path, index: object, message: str) -> None:
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as tar:
        data = json.dumps(index).encode() if index is not None else b""
        info = tarfile.TarInfo("index.json" if index is not None else "other")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(oci.ArchiveError, match=message):
        oci.manifest_digest(archive)


def test_not_an_archive_and_not_a_folder_are_named(tmp_path: pathlib.Path) -> None:
    (tmp_path / "junk.tar").write_text("not a tar")
    with pytest.raises(oci.ArchiveError, match="not a readable OCI archive"):
        oci.manifest_digest(tmp_path / "junk.tar")
    with pytest.raises(oci.ArchiveError, match="is not a folder"):
        oci.pack_rootfs(tmp_path / "missing", "n:1", tmp_path / "o.tar", oci.ImageConfig())
