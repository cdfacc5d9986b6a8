"""Open an archive from a URI into a local directory and verify it before any handler runs.

Directories are used in place; ``.tar.gz`` and ``.zip`` files (recognised by their magic
bytes, not their names) are extracted into the store with path-traversal checks; ``http(s)``
archives are downloaded first. Every failure is an ArchiveError with the reason.
"""

from __future__ import annotations

import hashlib
import pathlib
import shutil
import tarfile
import urllib.parse
import uuid
import zipfile
from dataclasses import dataclass

import httpx

from model_server.archive import manifest as manifests
from model_server.errors import ArchiveError

_MAX_DOWNLOAD_BYTES = 4 << 30


@dataclass(frozen=True)
class OpenedArchive:
    manifest: manifests.Manifest
    root: pathlib.Path
    # Set when the server unpacked or downloaded the archive: deleted on unregister.
    scratch: pathlib.Path | None


def open_archive(uri: str, store: pathlib.Path, *, http_timeout_s: float = 60.0) -> OpenedArchive:
    """Fetch, unpack and verify the archive at ``uri``. Blocking: call it off the event loop."""
    scratch: pathlib.Path | None = None
    try:
        source = _local_or_download(uri, store, http_timeout_s)
        if source.downloaded:
            scratch = source.path.parent
        if source.path.is_dir():
            root = source.path
        else:
            scratch = scratch or store / f"x-{uuid.uuid4().hex}"
            root = _find_root(_extract(source.path, scratch / "unpacked"))
        manifest = manifests.read_manifest(root)
        verify_files(root, manifest)
        return OpenedArchive(manifest=manifest, root=root, scratch=scratch)
    except BaseException:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise


def name_hint(uri: str) -> str:
    """A model name for a registration whose manifest could not be read."""
    path = urllib.parse.urlparse(uri).path if "://" in uri else uri
    base = pathlib.PurePosixPath(path.rstrip("/")).name or "model"
    for suffix in (".tar.gz", ".tgz", ".zip", ".mar"):
        base = base.removesuffix(suffix)
    return base or "model"


def sha256_of(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_files(root: pathlib.Path, manifest: manifests.Manifest) -> None:
    """Every declared file exists inside the archive and every listed checksum matches."""
    resolved_root = root.resolve()
    for key, rel in manifest.files.items():
        path = (root / rel).resolve()
        if not path.is_relative_to(resolved_root):
            raise ArchiveError(f"bad manifest: files.{key} {rel!r} points outside the archive")
        if not path.is_file():
            raise ArchiveError(f"missing file: files.{key} is {rel!r}, which is not in the archive")
    for rel, expected in manifest.sha256.items():
        path = root / rel
        if not path.is_file():
            raise ArchiveError(f"missing file: sha256 lists {rel!r}, which is not in the archive")
        actual = sha256_of(path)
        if actual != expected.lower():
            raise ArchiveError(f"checksum mismatch: {rel} has sha256 {actual}, manifest says {expected}")


@dataclass(frozen=True)
class _Source:
    path: pathlib.Path
    downloaded: bool


def _local_or_download(uri: str, store: pathlib.Path, timeout_s: float) -> _Source:
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme in ("http", "https"):
        return _Source(_download(uri, store, timeout_s), downloaded=True)
    if parsed.scheme == "file":
        local = pathlib.Path(urllib.parse.unquote(parsed.path))
    elif parsed.scheme == "" or (len(parsed.scheme) == 1 and uri[1:3] in (":\\", ":/")):
        local = pathlib.Path(uri)
    else:
        raise ArchiveError(
            f"unsupported URI scheme {parsed.scheme!r} in {uri!r} (use a path, file:// or http(s)://)"
        )
    if not local.exists():
        raise ArchiveError(f"missing file: archive {str(local)!r} does not exist")
    return _Source(local, downloaded=False)


def _download(uri: str, store: pathlib.Path, timeout_s: float) -> pathlib.Path:
    target_dir = store / f"d-{uuid.uuid4().hex}"
    target_dir.mkdir(parents=True)
    target = target_dir / "archive"
    try:
        with httpx.stream("GET", uri, timeout=timeout_s, follow_redirects=True) as response:
            if response.status_code != 200:
                raise ArchiveError(f"download failed: GET {uri} answered HTTP {response.status_code}")
            size = 0
            with target.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    size += len(chunk)
                    if size > _MAX_DOWNLOAD_BYTES:
                        raise ArchiveError(
                            f"download failed: {uri} is larger than {_MAX_DOWNLOAD_BYTES} bytes"
                        )
                    out.write(chunk)
    except httpx.HTTPError as exc:
        shutil.rmtree(target_dir, ignore_errors=True)
        raise ArchiveError(f"download failed: GET {uri}: {exc}") from exc
    except BaseException:
        shutil.rmtree(target_dir, ignore_errors=True)
        raise
    return target


def _extract(archive: pathlib.Path, dest: pathlib.Path) -> pathlib.Path:
    dest.mkdir(parents=True, exist_ok=True)
    with archive.open("rb") as stream:
        magic = stream.read(4)
    try:
        if magic[:2] == b"\x1f\x8b" or tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tar:
                # The "data" filter refuses absolute paths, "..", links out of the tree and devices.
                tar.extractall(dest, filter="data")
        elif magic == b"PK\x03\x04":
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    pure = pathlib.PurePosixPath(member)
                    if pure.is_absolute() or ".." in pure.parts:
                        raise ArchiveError(f"bad archive: zip member {member!r} escapes the archive")
                zf.extractall(dest)
        else:
            raise ArchiveError(f"bad archive: {archive.name} is not a directory, .tar.gz or .zip")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ArchiveError(f"bad archive: cannot unpack {archive.name}: {exc}") from exc
    return dest


def _find_root(unpacked: pathlib.Path) -> pathlib.Path:
    """The manifest sits at the top of the archive or inside its single top-level folder."""
    if (unpacked / manifests.MANIFEST_FILE).is_file():
        return unpacked
    children = [c for c in unpacked.iterdir() if not c.name.startswith(".")]
    if len(children) == 1 and children[0].is_dir() and (children[0] / manifests.MANIFEST_FILE).is_file():
        return children[0]
    raise ArchiveError(f"missing file: {manifests.MANIFEST_FILE} not found at the top of the archive")
