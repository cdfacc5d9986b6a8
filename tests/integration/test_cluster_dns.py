"""The cluster DNS on the test stack: the built CoreDNS answers ``*.svc.cluster.local`` from the
API server with the least privilege ``dns.coredns_rbac`` grants (a second CoreDNS this module
starts on the node's loopback), and the node's own ``kube-dns`` answers through its ClusterIP.

CoreDNS runs with a ServiceAccount token bound only to that ClusterRole rather than as admin,
so a rule the kubernetes plugin needs and the role lacks fails the fixture: the plugin never
syncs and /ready never turns 200. Queries go through dnspython, a real resolver library, so
the RCODEs checked are what any client sees; the stdlib probe the stack uses is checked
against it.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import pathlib
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
import yaml
from kubernetes import client, utils
from shadowgate.devstack import binaries, health
from shadowgate.devstack import dns as cluster_dns
from shadowgate.devstack.components import free_port
from shadowgate.devstack.layout import StackLayout
from shadowgate.devstack.stack import Stack
from test_operator_support import eventually

pytestmark = pytest.mark.integration


def cluster_ip_of(service: client.V1Service) -> str:
    assert service.spec is not None and service.spec.cluster_ip, service
    return str(service.spec.cluster_ip)


def create(api: client.ApiClient, doc: dict[str, Any]) -> bool:
    """Create ``doc`` as a user's manifest would be; False when it exists already."""
    try:
        utils.create_from_dict(api, doc)
    except utils.FailToCreateError as err:
        if all(e.status == 409 for e in err.api_exceptions):
            return False
        raise
    return True


def coredns_binary(stack: Stack) -> pathlib.Path:
    binary = stack.bin_dir / cluster_dns.BINARY
    if not os.access(binary, os.X_OK):
        # A checkout older than the binary cache: build it (cached ones are skipped; the
        # script's flock serializes it with any other build).
        subprocess.run([str(binaries.repo_root() / binaries.BUILD_SCRIPT)], check=True)
    return binary


def token_kubeconfig(path: pathlib.Path, server: str, ca: pathlib.Path, token: str) -> pathlib.Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca.read_bytes()).decode(),
                },
            }
        ],
        "users": [{"name": "coredns", "user": {"token": token}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "coredns"}}],
        "current-context": "local",
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(doc, out)
    return path


@pytest.fixture(scope="module")
def coredns_identity(kube_api: client.ApiClient) -> Iterator[str]:
    """A ServiceAccount token bound to CoreDNS' ClusterRole and nothing else."""
    core = client.CoreV1Api(kube_api)
    rbac = client.RbacAuthorizationV1Api(kube_api)
    suffix = uuid.uuid4().hex[:8]
    namespace = f"t-dns-{suffix}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="coredns"))
    )
    role, binding = cluster_dns.coredns_rbac(
        {"kind": "ServiceAccount", "name": "coredns", "namespace": namespace}
    )
    # Own names, so a ClusterRole the stack itself may one day create is never touched.
    name = f"{cluster_dns.CLUSTER_ROLE}-{suffix}"
    role["metadata"]["name"] = binding["metadata"]["name"] = binding["roleRef"]["name"] = name
    assert create(kube_api, role) and create(kube_api, binding)
    # No audiences: the token is for the API server's own audience.
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    status = core.create_namespaced_service_account_token("coredns", namespace, request).status
    assert status is not None and status.token
    try:
        yield status.token
    finally:
        rbac.delete_cluster_role_binding(name)
        rbac.delete_cluster_role(name)
        core.delete_namespace(namespace)


@pytest.fixture(scope="module")
def coredns(
    stack: Stack, coredns_identity: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[cluster_dns.DNSConfig]:
    """The built CoreDNS on 127.0.0.1 at free ports, stopped (and checked gone) afterwards."""
    binary = coredns_binary(stack)
    layout = StackLayout(tmp_path_factory.mktemp("coredns"))
    kubeconfig = token_kubeconfig(
        layout.root / "kubeconfig", stack.api_server, stack.layout.pki_file("ca.crt"), coredns_identity
    )
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(free_port())
    port, health_port, ready_port = sorted(ports)
    config = cluster_dns.DNSConfig(
        bind="127.0.0.1",
        port=port,
        kubeconfig=kubeconfig,
        health_port=health_port,
        ready_port=ready_port,
        log_queries=True,
    )
    cluster_dns.write_corefile(layout, config)
    spec = cluster_dns.coredns(layout, binary.parent, config)
    log_path = layout.root / "coredns.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(spec.argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail() -> str:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])

    try:

        def serving() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"coredns exited with {proc.returncode}:\n{log_tail()}")
            # /ready first (the kubernetes plugin synced, so RBAC sufficed), then an answer:
            # CoreDNS binds its DNS sockets only after /ready already says 200.
            return health.get(spec.health.url)[0] == 200 and cluster_dns.answers(config, timeout=0.5)

        try:
            eventually(serving, 30, "coredns to serve", every=0.2)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{log_tail()}") from err
        yield config
        assert proc.poll() is None, f"coredns died during the tests:\n{log_tail()}"
        assert "forbidden" not in log_path.read_text().lower(), log_tail()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def query(
    config: cluster_dns.DNSConfig, name: str, rdtype: str = "A", *, tcp: bool = False
) -> dns.message.Message:
    message = dns.message.make_query(name, rdtype)
    send = dns.query.tcp if tcp else dns.query.udp
    # 5 s: long enough that a hang shows up as an exception, not as a slow pass.
    return send(message, config.bind, port=config.port, timeout=5.0)


def addresses(reply: dns.message.Message) -> list[str]:
    return sorted(rr.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A for rr in rrset)


def test_a_service_resolves_to_its_cluster_ip(
    coredns: cluster_dns.DNSConfig, core: client.CoreV1Api, namespace: str
) -> None:
    spec = client.V1ServiceSpec(selector={"app": "web"}, ports=[client.V1ServicePort(port=80)])
    created = core.create_namespaced_service(
        namespace, client.V1Service(metadata=client.V1ObjectMeta(name="web"), spec=spec)
    )
    cluster_ip = cluster_ip_of(created)
    name = f"web.{namespace}.svc.cluster.local"

    def resolved() -> dns.message.Message | None:
        reply = query(coredns, name)
        return reply if addresses(reply) else None

    # A query before CoreDNS' watch delivered the Service is a (5 s) cached NXDOMAIN: poll.
    reply = eventually(resolved, 20, name, every=0.2)
    assert addresses(reply) == [cluster_ip]
    assert reply.flags & dns.flags.AA
    assert all(rrset.ttl <= 5 for rrset in reply.answer)
    assert addresses(query(coredns, name, tcp=True)) == [cluster_ip]
    # The reverse zone answers for the ClusterIP too.
    ptr = query(coredns, ".".join(reversed(cluster_ip.split("."))) + ".in-addr.arpa", "PTR")
    assert [rr.target.to_text() for rrset in ptr.answer for rr in rrset] == [f"{name}."]


def test_the_kubernetes_service_resolves(coredns: cluster_dns.DNSConfig, core: client.CoreV1Api) -> None:
    expected = cluster_ip_of(core.read_namespaced_service("kubernetes", "default"))
    reply = query(coredns, "kubernetes.default.svc.cluster.local")
    assert dns.rcode.to_text(reply.rcode()) == "NOERROR"
    assert addresses(reply) == [expected]


def test_the_stacks_kube_dns_serves_through_its_cluster_ip(
    coredns: cluster_dns.DNSConfig, kube_api: client.ApiClient
) -> None:
    """The node's own cluster DNS: the stack made the ``kube-dns`` Service at the address kubelet
    hands Pods and an EndpointSlice pointing at CoreDNS on the node address; a query to the
    ClusterIP (kube-proxy's DNAT, from inside the node, where this test runs) is answered."""
    core = client.CoreV1Api(kube_api)
    discovery = client.DiscoveryV1Api(kube_api)
    service = core.read_namespaced_service("kube-dns", "kube-system")
    assert cluster_ip_of(service) == cluster_dns.DNS_SERVICE_IP
    stored = discovery.read_namespaced_endpoint_slice("kube-dns-node", "kube-system")
    assert [e.addresses for e in stored.endpoints or []] == [["10.215.0.2"]]
    assert stored.metadata is not None and stored.metadata.labels is not None
    assert stored.metadata.labels["kubernetes.io/service-name"] == "kube-dns"
    via_service = dataclasses.replace(coredns, bind=cluster_dns.DNS_SERVICE_IP, port=53)
    name = "kube-dns.kube-system.svc.cluster.local"
    got = eventually(lambda: addresses(query(via_service, name)), 20, name, every=0.2)
    assert got == [cluster_dns.DNS_SERVICE_IP]
    for tcp in (False, True):
        reply = query(via_service, "kubernetes.default.svc.cluster.local", tcp=tcp)
        assert dns.rcode.to_text(reply.rcode()) == "NOERROR" and addresses(reply), tcp


@pytest.mark.parametrize(
    "name",
    [
        f"missing-{uuid.uuid4().hex[:8]}.default.svc.cluster.local",
        f"web.no-such-namespace-{uuid.uuid4().hex[:8]}.svc.cluster.local",
        # What a Pod's search list makes of an outside name: still final, not a timeout.
        "pypi.org.default.svc.cluster.local",
    ],
)
def test_an_unknown_cluster_name_is_nxdomain(coredns: cluster_dns.DNSConfig, name: str) -> None:
    reply = query(coredns, name)
    assert dns.rcode.to_text(reply.rcode()) == "NXDOMAIN"
    assert reply.flags & dns.flags.AA


@pytest.mark.parametrize(
    ("name", "rdtype", "rcodes"),
    [
        ("example.com", "A", {"REFUSED"}),
        (".", "NS", {"REFUSED"}),
        # A PTR for an address the cluster does not know falls through to nothing.
        ("7.0.99.10.in-addr.arpa", "PTR", {"SERVFAIL", "NXDOMAIN"}),
    ],
)
def test_a_name_outside_the_cluster_fails_at_once(
    coredns: cluster_dns.DNSConfig, name: str, rdtype: str, rcodes: set[str]
) -> None:
    for tcp in (False, True):
        start = time.monotonic()
        reply = query(coredns, name, rdtype, tcp=tcp)
        elapsed = time.monotonic() - start
        assert dns.rcode.to_text(reply.rcode()) in rcodes
        assert not reply.answer
        # No upstream to wait for: an answer in milliseconds (1 s allows for a busy machine).
        assert elapsed < 1.0, f"{name} took {elapsed:.2f}s"


def test_the_stdlib_probe_agrees_with_dnspython(coredns: cluster_dns.DNSConfig) -> None:
    assert cluster_dns.answers(coredns)
    for name in ("cluster.local", "example.com"):
        expected = query(coredns, name, "SOA").rcode()
        assert cluster_dns.query_rcode(coredns.bind, coredns.port, name) == expected
