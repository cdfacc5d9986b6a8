"""The node agent's calls to the API server, through the ``kubernetes`` client.

Every call asks for the raw response (``_preload_content=False``) and works on plain JSON
dicts: the agent reads a few fields of Pods and Nodes and must not fail on a field the
client's generated models do not know. A 404 becomes ``Gone``; a watch that fell too far
behind (410) becomes ``Expired``, after which the caller lists again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from shadowgate.devstack.node_agent_status import NODE_LEASE_NAMESPACE

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"


class Gone(Exception):
    """The object no longer exists (HTTP 404)."""


class Expired(Exception):
    """The watch's resourceVersion is too old (HTTP 410): list again."""


class PodApi(Protocol):
    """What a Pod worker needs from the API server (a fake stands in for unit tests)."""

    def patch_pod_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None: ...

    def delete_pod_now(self, namespace: str, name: str, uid: str) -> None: ...

    def record_event(
        self, pod: Mapping[str, Any], kind: str, reason: str, message: str, now: str
    ) -> None: ...


def _body(resp: Any) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(resp.data or b"{}")
        return data
    finally:
        resp.release_conn()


class KubeApi:
    """Typed wrappers over the client's generated API classes, returning JSON dicts."""

    def __init__(self, api_client: client.ApiClient, timeout_s: float = 10.0) -> None:
        self._core = client.CoreV1Api(api_client)
        self._leases = client.CoordinationV1Api(api_client)
        self._version = client.VersionApi(api_client)
        self._timeout = timeout_s
        self._watch: Any = None  # the open watch response, so ``close_watch`` can interrupt it

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return _body(method(*args, _preload_content=False, _request_timeout=self._timeout, **kwargs))
        except ApiException as exc:
            if exc.status == 404:
                raise Gone(str(exc.reason)) from exc
            raise

    def server_version(self) -> str:
        return str(self._call(self._version.get_code).get("gitVersion", "v0.0.0"))

    # Pods

    def list_pods(self) -> tuple[list[dict[str, Any]], str]:
        data = self._call(self._core.list_pod_for_all_namespaces)
        return list(data.get("items") or []), str(data["metadata"]["resourceVersion"])

    def watch_pods(self, resource_version: str, timeout_s: int) -> Iterator[tuple[str, dict[str, Any]]]:
        """(event type, object) pairs after ``resource_version``, BOOKMARKs included."""
        try:
            resp: Any = self._core.list_pod_for_all_namespaces(
                watch=True,
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=timeout_s,
                _preload_content=False,
                # Read timeout beyond the server-side one: a silent, dead connection still ends.
                _request_timeout=(self._timeout, timeout_s + 15),
            )
        except ApiException as exc:
            if exc.status == 410:
                raise Expired(str(exc.reason)) from exc
            raise
        self._watch = resp
        try:
            for line in iter_resp_lines(resp):
                if not line:
                    continue
                event = json.loads(line)
                kind, obj = str(event.get("type")), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise Expired(str(obj.get("message")))
                    raise RuntimeError(f"watch error: {obj.get('message')}")
                yield kind, obj
        finally:
            self._watch = None
            resp.close()
            resp.release_conn()

    def close_watch(self) -> None:
        """Unblock a watch read from another thread (at shutdown; else exit waits on the socket)."""
        resp = self._watch
        if resp is not None:
            resp.shutdown()

    def bind(self, namespace: str, name: str, uid: str, node: str) -> None:
        """Schedule the Pod onto ``node``; the uid guards against a recreated namesake."""
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace, "uid": uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        self._call(self._core.create_namespaced_pod_binding, name, namespace, body)

    def patch_pod_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        self._call(
            self._core.patch_namespaced_pod_status,
            name,
            namespace,
            {"status": dict(status)},
            _content_type=MERGE_PATCH,
        )

    def delete_pod_now(self, namespace: str, name: str, uid: str) -> None:
        """Finish a graceful deletion, as the kubelet does once the containers stopped."""
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
        try:
            self._call(self._core.delete_namespaced_pod, name, namespace, body=body, grace_period_seconds=0)
        except ApiException as exc:
            if exc.status != 409:  # the uid precondition failed: a namesake, not ours
                raise

    def record_event(self, pod: Mapping[str, Any], kind: str, reason: str, message: str, now: str) -> None:
        """A core/v1 Event about the Pod, as a kubelet records them (``kubectl describe pod``)."""
        meta = pod["metadata"]
        container = ((pod.get("spec") or {}).get("containers") or [{}])[0].get("name", "")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid", ""),
                "fieldPath": f"spec.containers{{{container}}}",
            },
            "type": kind,
            "reason": reason,
            "message": message[:1000],
            "source": {
                "component": "shadowgate-node-agent",
                "host": str((pod.get("spec") or {}).get("nodeName", "")),
            },
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        self._call(self._core.create_namespaced_event, meta["namespace"], body)

    # ServiceAccount tokens for the Pods (node_agent_credentials)

    def read_service_account(self, namespace: str, name: str) -> dict[str, Any]:
        return self._call(self._core.read_namespaced_service_account, name, namespace)

    def request_token(self, namespace: str, service_account: str, pod: str, pod_uid: str, ttl_s: int) -> str:
        """A TokenRequest token for the account, bound to the Pod (invalid once the Pod is gone)."""
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": ttl_s,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod, "uid": pod_uid},
            },
        }
        data = self._call(
            self._core.create_namespaced_service_account_token, service_account, namespace, body
        )
        return str(data["status"]["token"])

    # The Node and its heartbeat

    def get_node(self, name: str) -> dict[str, Any]:
        return self._call(self._core.read_node, name)

    def create_node(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        return self._call(self._core.create_node, dict(manifest))

    def patch_node_status(self, name: str, status: Mapping[str, Any]) -> dict[str, Any]:
        return self._call(
            self._core.patch_node_status, name, {"status": dict(status)}, _content_type=MERGE_PATCH
        )

    def put_lease(self, manifest: Mapping[str, Any]) -> None:
        """Renew the Lease (a merge patch of its spec), creating it the first time."""
        name = manifest["metadata"]["name"]
        try:
            self._call(
                self._leases.patch_namespaced_lease,
                name,
                NODE_LEASE_NAMESPACE,
                {"spec": dict(manifest["spec"])},
                _content_type=MERGE_PATCH,
            )
        except Gone:
            self._call(self._leases.create_namespaced_lease, NODE_LEASE_NAMESPACE, dict(manifest))
