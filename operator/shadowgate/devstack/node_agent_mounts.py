"""A container's ``emptyDir`` mounts as folders of the Pod, for a process that has no mount namespace.

A kubelet mounts an emptyDir at the container's ``mountPath``; a local process sees the host's
filesystem instead, where ``/home/shadowgate`` (the image user's home, say) does not exist. The
process finds its scratch space through the paths it is given, so the agent gives each emptyDir
a folder in the Pod's own folder (``<pod dir>/volumes/<volume>``, kept across container restarts
and removed with the Pod, as an emptyDir is) and rewrites every env value, argument and working
directory that is a mount path or lies under one. Paths compiled into a program still reach the
host, so a Pod needing a private ``/tmp`` for those would need a real runtime.

Pure: ``scratch_mounts`` reads the Pod's volumes and the container's mounts, ``rewrite`` maps
one string.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

VOLUMES_DIR = "volumes"


class MountError(ValueError):
    """A mount the agent cannot place; ``run_spec`` reports it as a PodSpecError."""


def scratch_mounts(
    volumes: Sequence[Mapping[str, Any]], container: Mapping[str, Any], root: str
) -> dict[str, str]:
    """``mountPath`` -> local folder for each of the container's emptyDir mounts.

    Mounts of other volume kinds (configMap, secret, projected token...) are left alone, as
    the agent has always left them; a mount naming no volume of the Pod is refused, as the
    API server would refuse it.
    """
    by_name = {str(v.get("name")): v for v in volumes}
    out: dict[str, str] = {}
    for mount in container.get("volumeMounts") or []:
        name = str(mount.get("name") or "")
        volume = by_name.get(name)
        if volume is None:
            raise MountError(f"volumeMount {name!r} names no volume of the Pod")
        if "emptyDir" not in volume:
            continue
        path = posixpath.normpath(str(mount.get("mountPath") or ""))
        if not path.startswith("/"):
            raise MountError(f"volumeMount {name!r}: mountPath {path!r} is not absolute")
        local = posixpath.join(root, name, str(mount.get("subPath") or "").strip("/"))
        out[path] = local.rstrip("/")
    return out


def rewrite(value: str, mounts: Mapping[str, str]) -> str:
    """``value`` with a leading mount path replaced by its folder (the longest mount wins).

    Only a whole path component matches: ``/tmpfoo`` is not under ``/tmp``, and a value
    that merely contains a path (a shell script, a URL) is left as written.
    """
    for path in sorted(mounts, key=len, reverse=True):
        if value == path:
            return mounts[path]
        prefix = path if path.endswith("/") else path + "/"
        if value.startswith(prefix):
            return posixpath.join(mounts[path], value[len(prefix) :])
    return value
