"""Fixtures that give integration tests a real local stack.

``stack`` (session): a Stack (``shadowgate.devstack.stack.Stack``) with a real node (kubelet,
containerd, kube-proxy, CoreDNS in a network namespace of its own) started once per test run
in a fresh temporary state folder, so it never touches a demo stack the developer has
running, and torn down at the end leaving no process. The session's main thread runs inside
the node's namespace (``Stack.joined``), so tests and what they start reach Pods directly. It
offers ``.kubeconfig`` (str), ``.api_server`` and ``.prometheus_url`` (URL str), ``.bin_dir``
and ``.state_dir`` (``pathlib.Path``; ``bin_dir`` holds the pinned kubectl and helm), and
``.add_scrape_target(job, address, labels=None)`` / ``.remove_scrape_target(job, address)``
(file_sd; Prometheus scrapes every 1 s and picks a change up within about 2 s).

``kube_api`` (session): a ``kubernetes.client.ApiClient`` with admin (system:masters) rights.

``namespace`` (function): a fresh namespace name, deleted after the test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client, config
from shadowgate.devstack.owners import claim_stack, reap_abandoned_stacks
from shadowgate.devstack.stack import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state_dir = tmp_path_factory.mktemp("shadowgate-stack")
    reap_abandoned_stacks(tmp_path_factory.getbasetemp())
    claim_stack(state_dir)
    # Only the fixture's own stack: a developer's SHADOWGATE_STATE_DIR must not leak in.
    environ = {k: v for k, v in os.environ.items() if k != "SHADOWGATE_STATE_DIR"}
    local = Stack(state_dir, environ=environ, log=lambda msg: print(f"[stack] {msg}"))
    try:
        local.up()
    except BaseException:
        local.down(purge=True)
        raise
    try:
        # The tests run inside the node's network namespace, as a process on a cluster's node
        # would: what they start (an operator, a router, an HTTP server Prometheus scrapes)
        # reaches Pod IPs, ClusterIPs and the node's daemons, and 127.0.0.1 is the node's.
        with local.joined():
            yield local
    finally:
        # The folder is the session's own: purge it, containerd's copy of the images included
        # (GBs once a test imports the model-server image).
        local.down(purge=True)


@pytest.fixture(scope="session")
def kube_api(stack: Stack) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=stack.kubeconfig)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def namespace(kube_api: client.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    core = client.CoreV1Api(kube_api)
    name = f"t-{uuid.uuid4().hex[:10]}"
    body = client.V1Namespace(
        metadata=client.V1ObjectMeta(
            name=name, labels={"shadowgate.dev/test": "true"}, annotations={"test": request.node.nodeid[:250]}
        )
    )
    core.create_namespace(body)
    try:
        yield name
    finally:
        # Deletion finishes asynchronously (the namespace controller empties it first).
        try:
            core.delete_namespace(name)
        except client.ApiException as err:
            if err.status != 404:
                raise


@pytest.fixture
def core(kube_api: client.ApiClient) -> client.CoreV1Api:
    """The core/v1 API of the test stack, as admin."""
    return client.CoreV1Api(kube_api)


@pytest.fixture
def apps(kube_api: client.ApiClient) -> client.AppsV1Api:
    """The apps/v1 API of the test stack, as admin."""
    return client.AppsV1Api(kube_api)
