"""Rendering the examples for the local stack, without changing what they say.

The examples are written for a real cluster: the published model-server image and archives
under ``file:///models/``. On the local node, rendering changes exactly what a cluster would
provide differently: the image becomes the one built from the repo's Dockerfile and imported
into the node (``imagePullPolicy: Never``), and ``/models`` is a read-only hostPath volume
holding the locally built archives (until archives come from object storage). Archive URIs
stay ``file:///models/<name>``, as written; Candidates also get the demo's shorter clocks
from ``settings.Timings``. Everything else is applied as written.
"""

from __future__ import annotations

import copy
import json
import pathlib
from collections.abc import Mapping
from typing import Any

import yaml

from shadowgate.demo.settings import EXAMPLES, Timings

PRODUCTION = EXAMPLES / "mangaassist" / "production.yaml"
GOOD = EXAMPLES / "candidate-iyashikei.yaml"
DEGRADED = EXAMPLES / "candidate-degraded.yaml"
# Which locally built archive (training.build_all) each example's Candidate deploys.
CANDIDATE_ARCHIVES = {GOOD.name: "retriever-iyashikei", DEGRADED.name: "retriever-degraded"}
MODELS_MOUNT = "/models"
MODELS_VOLUME = "models"


def archive_uri(archive: pathlib.Path) -> str:
    """Where a model server Pod finds a built archive: under the ``/models`` volume."""
    return f"file://{MODELS_MOUNT}/{archive.name}"


class RenderError(ValueError):
    """An example does not have the shape the demo renders; names the file and field."""


def archive_version(archive: pathlib.Path) -> str:
    return str(json.loads((archive / "MANIFEST.json").read_text())["version"])


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def production(
    archives: Mapping[str, pathlib.Path],
    image: str,
    models_dir: pathlib.Path,
    path: pathlib.Path = PRODUCTION,
) -> list[dict[str, Any]]:
    """The production example for the local node: ``image`` (imported, never pulled) and
    ``models_dir`` on the node mounted at ``/models``, where its ``--model`` archive must be."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for doc in docs:
        if doc.get("kind") != "Deployment":
            continue
        try:
            pod = doc["spec"]["template"]["spec"]
            container = pod["containers"][0]
        except (KeyError, IndexError, TypeError) as exc:
            raise RenderError(f"{path}: Deployment {doc['metadata']['name']} has no container") from exc
        args = list(container.get("args") or [])
        if "--model" not in args:
            raise RenderError(f"{path}: the model-server container has no --model argument")
        uri = args[args.index("--model") + 1]
        name = pathlib.PurePosixPath(uri.removeprefix("file://")).name
        if name not in archives or archive_uri(archives[name]) != uri:
            raise RenderError(
                f"{path}: --model {uri} names no built archive under {MODELS_MOUNT} (have {sorted(archives)})"
            )
        container["image"] = image
        container["imagePullPolicy"] = "Never"
        mounts = [m for m in container.get("volumeMounts") or [] if m.get("name") != MODELS_VOLUME]
        container["volumeMounts"] = [
            *mounts,
            {"name": MODELS_VOLUME, "mountPath": MODELS_MOUNT, "readOnly": True},
        ]
        volumes = [v for v in pod.get("volumes") or [] if v.get("name") != MODELS_VOLUME]
        host_path = {"path": str(models_dir), "type": "Directory"}
        pod["volumes"] = [*volumes, {"name": MODELS_VOLUME, "hostPath": host_path}]
        doc["metadata"].setdefault("annotations", {})["shadowgate.dev/version"] = archive_version(
            archives[name]
        )
    return docs


def candidate(path: pathlib.Path, archive: pathlib.Path, timings: Timings | None) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    if not isinstance(doc, dict) or doc.get("kind") != "Candidate":
        raise RenderError(f"{path}: not a Candidate manifest")
    spec = doc.setdefault("spec", {})
    spec["model"] = {
        **spec.get("model", {}),
        "archiveUri": archive_uri(archive),
        "version": archive_version(archive),
    }
    if timings is not None:
        doc["spec"] = deep_merge(spec, timings.spec_overrides())
    return dict(doc)


def dump(docs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)
