"""The ``kube.base`` Protocols implemented with the official ``kubernetes`` client.

Objects go out and come back as API-shaped dicts (``sanitize_for_serialization``), so the rest
of the operator never touches the client's model classes.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from shadowgate.kube.base import Conflict, NotFound, Obj


def connect(pool_size: int = 32) -> client.ApiClient:
    """An API client from in-cluster credentials, else ``KUBECONFIG``. ``pool_size``: urllib3's
    default pool of 4 connections serialises the controller's worker threads on the API server."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = pool_size
    return client.ApiClient(configuration)


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except ApiException as exc:
        if exc.status == 404:
            raise NotFound(str(exc.reason)) from exc
        if exc.status == 409:
            raise Conflict(str(exc.reason)) from exc
        raise


def _plain(api: client.ApiClient, obj: Any) -> Obj:
    out: Obj = api.sanitize_for_serialization(obj)
    return out


class ClientConfigMaps:
    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._core = client.CoreV1Api(api)

    def get(self, namespace: str, name: str) -> Obj:
        return _plain(self._api, _call(self._core.read_namespaced_config_map, name, namespace))

    def update_data(self, namespace: str, name: str, data: dict[str, str], resource_version: str) -> None:
        # A merge patch carrying resourceVersion is a conditional update: 409 if it moved.
        body = {"metadata": {"resourceVersion": resource_version}, "data": data}
        _call(self._core.patch_namespaced_config_map, name, namespace, body)


class ClientDeployments:
    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._apps = client.AppsV1Api(api)

    def get(self, namespace: str, name: str) -> Obj:
        return _plain(self._api, _call(self._apps.read_namespaced_deployment, name, namespace))

    def apply(self, namespace: str, body: Obj) -> None:
        name = body["metadata"]["name"]
        try:
            current = self.get(namespace, name)
        except NotFound:
            try:
                _call(self._apps.create_namespaced_deployment, namespace, body)
                return
            except Conflict:
                current = self.get(namespace, name)
        if _same(current, body):
            return
        merged = dict(body)
        merged["metadata"] = {**body["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}
        _call(self._apps.replace_namespaced_deployment, name, namespace, merged)

    def patch(self, namespace: str, name: str, patch: Obj) -> None:
        _call(self._apps.patch_namespaced_deployment, name, namespace, patch)

    def delete(self, namespace: str, name: str) -> None:
        try:
            _call(
                self._apps.delete_namespaced_deployment,
                name,
                namespace,
                body=client.V1DeleteOptions(propagation_policy="Background"),
            )
        except NotFound:
            return


class ClientServices:
    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._core = client.CoreV1Api(api)

    def get(self, namespace: str, name: str) -> Obj:
        return _plain(self._api, _call(self._core.read_namespaced_service, name, namespace))

    def apply(self, namespace: str, body: Obj) -> None:
        try:
            _call(self._core.create_namespaced_service, namespace, body)
        except Conflict:
            # Exists: the selector and ports are all we set; patch them back if someone drifted them.
            spec = {"selector": body["spec"]["selector"], "ports": body["spec"]["ports"]}
            _call(self._core.patch_namespaced_service, body["metadata"]["name"], namespace, {"spec": spec})

    def delete(self, namespace: str, name: str) -> None:
        try:
            _call(self._core.delete_namespaced_service, name, namespace)
        except NotFound:
            return


class ClientCustomObjects:
    def __init__(self, api: client.ApiClient) -> None:
        self._objects = client.CustomObjectsApi(api)

    def get(self, group: str, version: str, plural: str, namespace: str, name: str) -> Obj:
        out: Obj = _call(self._objects.get_namespaced_custom_object, group, version, namespace, plural, name)
        return out

    def replace(self, group: str, version: str, plural: str, namespace: str, name: str, body: Obj) -> None:
        _call(self._objects.replace_namespaced_custom_object, group, version, namespace, plural, name, body)


def _same(current: Obj, wanted: Obj) -> bool:
    """Whether ``current`` already carries every label and spec field ``wanted`` sets."""
    labels = current["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (wanted["metadata"].get("labels") or {}).items()):
        return False
    return _contains(current.get("spec") or {}, wanted.get("spec") or {})


def _contains(have: Any, want: Any) -> bool:
    # The API server fills defaults (imagePullPolicy, terminationMessagePath...), so equality
    # is "everything we asked for is there", not "nothing else is".
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_contains(have.get(k), v) for k, v in want.items())
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(have) == len(want)
            and all(_contains(h, w) for h, w in zip(have, want, strict=True))
        )
    return bool(have == want)
