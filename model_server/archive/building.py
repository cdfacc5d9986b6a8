"""Build an archive from files: copy them in, checksum every one, write the manifest, and
optionally pack the directory as ``.tar.gz`` or ``.zip`` (chosen by the output's name)."""

from __future__ import annotations

import pathlib
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Mapping
from typing import Any

import orjson

from model_server.archive import manifest as manifests
from model_server.archive import opening
from model_server.errors import ArchiveError


def build_archive(
    out: pathlib.Path,
    *,
    name: str,
    version: str,
    handler: str,
    files: Mapping[str, pathlib.Path],
    extra_files: tuple[pathlib.Path, ...] = (),
    batch: manifests.BatchSettings | None = None,
    config: Mapping[str, Any] | None = None,
    description: str = "",
) -> pathlib.Path:
    """Write an archive to ``out`` (a directory, ``*.tar.gz``/``*.tgz`` or ``*.zip``).

    ``files`` maps manifest keys (``weights``, ``index``, ``catalog``, ``adapter``...) to
    source paths; each is stored under its base name. ``extra_files`` are stored and
    checksummed without a key (handlers that find files by name). The manifest is validated
    before anything is written, so a bad name or batch setting fails fast.
    """
    sources: dict[str, pathlib.Path] = {}
    for src in [*files.values(), *extra_files]:
        if not src.is_file():
            raise ArchiveError(f"missing file: {src} does not exist or is not a file")
        if src.name in sources and sources[src.name] != src:
            raise ArchiveError(f"two files share the name {src.name!r}: {sources[src.name]} and {src}")
        if src.name == manifests.MANIFEST_FILE:
            raise ArchiveError(f"{manifests.MANIFEST_FILE} is written by the builder; do not pass it")
        sources[src.name] = src
    draft = {
        "name": name,
        "version": version,
        "handler": handler,
        "description": description,
        "files": {key: src.name for key, src in files.items()},
        "batch": (batch or manifests.BatchSettings()).model_dump(),
        "config": dict(config or {}),
        "sha256": {arcname: opening.sha256_of(src) for arcname, src in sorted(sources.items())},
    }
    manifest = manifests.parse_manifest(orjson.dumps(draft))
    out_name = out.name
    packed = out_name.endswith((".tar.gz", ".tgz", ".zip"))
    with tempfile.TemporaryDirectory() as tmp:
        stage = pathlib.Path(tmp) / f"{manifest.name}-{manifest.version}" if packed else out
        if not packed and out.exists() and any(out.iterdir()):
            raise ArchiveError(f"output directory {out} exists and is not empty")
        stage.mkdir(parents=True, exist_ok=True)
        for arcname, src in sources.items():
            shutil.copyfile(src, stage / arcname)
        (stage / manifests.MANIFEST_FILE).write_bytes(
            orjson.dumps(manifest.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n"
        )
        if packed:
            out.parent.mkdir(parents=True, exist_ok=True)
            _pack(stage, out)
    return out


def _pack(stage: pathlib.Path, out: pathlib.Path) -> None:
    members = sorted(stage.iterdir())
    if out.name.endswith(".zip"):
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for member in members:
                zf.write(member, arcname=member.name)
    else:
        with tarfile.open(out, "w:gz") as tar:
            for member in members:
                tar.add(member, arcname=member.name)
