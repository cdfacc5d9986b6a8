"""The image cache's bookkeeping: where it lives, its lock, and one record per built image.

A record (``<kind>/<input hash>.json``) names the image and its archive; it is written last, so
its presence means the archive is whole, and an archive that has since gone or shrunk is a miss.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass

Log = Callable[[str], None]


@dataclass(frozen=True)
class BuiltImage:
    """An image ready for ``ctr images import``; ``digest`` is its manifest's, as ctr lists it."""

    name: str
    archive: pathlib.Path
    digest: str
    size: int  # bytes of the archive


def cache_dir(environ: Mapping[str, str] | None = None) -> pathlib.Path:
    env = os.environ if environ is None else environ
    if env.get("SHADOWGATE_CACHE"):
        root = pathlib.Path(env["SHADOWGATE_CACHE"])
    elif env.get("XDG_CACHE_HOME"):
        root = pathlib.Path(env["XDG_CACHE_HOME"]) / "shadowgate"
    else:
        root = pathlib.Path(env.get("HOME", str(pathlib.Path.home()))) / ".cache" / "shadowgate"
    return root.expanduser() / "images"


@contextlib.contextmanager
def locked(cache: pathlib.Path, log: Log) -> Iterator[None]:
    """Hold the cache's lock: a second builder (a test fixture beside a demo) waits, then finds
    the first one's images in the cache instead of racing it on the same files."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"images: waiting for another build holding {cache / '.lock'}")
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _record_path(cache: pathlib.Path, kind: str, key: str) -> pathlib.Path:
    return cache / kind / f"{key[:32]}.json"


def load_record(cache: pathlib.Path, kind: str, key: str) -> BuiltImage | None:
    """The image built from these inputs, if its record and archive are both still there."""
    try:
        raw = json.loads(_record_path(cache, kind, key).read_text())
        image = BuiltImage(raw["name"], pathlib.Path(raw["archive"]), raw["digest"], int(raw["size"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return image if image.archive.is_file() and image.archive.stat().st_size == image.size else None


def save_record(cache: pathlib.Path, kind: str, key: str, image: BuiltImage) -> None:
    path = _record_path(cache, kind, key)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({**asdict(image), "archive": str(image.archive)}, indent=1) + "\n")
    os.replace(tmp, path)  # the record is written last: its presence means the archive is whole


def prune_kind(cache: pathlib.Path, kind: str, keep: pathlib.Path) -> None:
    """Keep one archive per image: older builds are never imported again and cost GBs."""
    for path in (cache / kind).glob("*.tar"):
        if path != keep:
            path.unlink(missing_ok=True)
    for record in (cache / kind).glob("*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            if pathlib.Path(json.loads(record.read_text())["archive"]) != keep:
                record.unlink()
