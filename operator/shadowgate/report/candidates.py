"""Read one Candidate from the API server, or from a recorded JSON/YAML file."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import yaml

from shadowgate.report.model import ReportError

GROUP, VERSION, PLURAL = "shadowgate.dev", "v1alpha1", "candidates"


def from_cluster(name: str, namespace: str, kubeconfig: str | None = None) -> dict[str, Any]:
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException

    try:
        api_client = config.new_client_from_config(config_file=kubeconfig)
    except (ConfigException, OSError) as exc:
        raise ReportError(f"cannot load kubeconfig {kubeconfig or '(default)'}: {exc}") from exc
    try:
        with api_client:
            obj = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name
            )
    except ApiException as exc:
        if exc.status == 404:
            raise ReportError(f"Candidate {namespace}/{name} not found") from exc
        raise ReportError(
            f"cannot read Candidate {namespace}/{name}: HTTP {exc.status} {exc.reason}"
        ) from exc
    except OSError as exc:  # urllib3 wraps connection errors in OSError subclasses
        raise ReportError(f"the API server is unreachable: {exc}") from exc
    if not isinstance(obj, dict):
        raise ReportError(f"the API server returned no object for Candidate {namespace}/{name}")
    return obj


def from_file(path: pathlib.Path) -> dict[str, Any]:
    """A Candidate as ``kubectl get candidate X -o json`` (or ``-o yaml``) printed it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc}") from exc
    try:
        obj = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ReportError(
            f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"
        ) from exc
    if not isinstance(obj, dict) or obj.get("kind") != "Candidate":
        raise ReportError(f"{path} does not hold a Candidate object (kind: Candidate)")
    return obj
