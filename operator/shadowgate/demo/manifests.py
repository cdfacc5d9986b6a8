"""Rendering the examples for the local stack, without changing what they say.

The examples are written for a real cluster: the image's ``model-server`` and archives under
``file:///models/``. The node agent runs a container's command on a PATH that starts with the
virtualenv's entry points, as the image's PATH does, so ``model-server`` stays as written; the
archives are the locally built ones, so rendering swaps exactly those values (and, for
Candidates, applies the demo's shorter clocks from ``settings.Timings``); everything else is
applied as written.
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


def production(archives: Mapping[str, pathlib.Path], path: pathlib.Path = PRODUCTION) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for doc in docs:
        if doc.get("kind") != "Deployment":
            continue
        try:
            container = doc["spec"]["template"]["spec"]["containers"][0]
        except (KeyError, IndexError, TypeError) as exc:
            raise RenderError(f"{path}: Deployment {doc['metadata']['name']} has no container") from exc
        args = list(container.get("args") or [])
        if "--model" not in args:
            raise RenderError(f"{path}: the model-server container has no --model argument")
        i = args.index("--model") + 1
        name = pathlib.PurePosixPath(args[i].removeprefix("file://")).name
        if name not in archives:
            raise RenderError(f"{path}: --model {args[i]} names no built archive (have {sorted(archives)})")
        args[i] = archives[name].as_uri()
        container["args"] = args
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
        "archiveUri": archive.as_uri(),
        "version": archive_version(archive),
    }
    if timings is not None:
        doc["spec"] = deep_merge(spec, timings.spec_overrides())
    return dict(doc)


def dump(docs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)
