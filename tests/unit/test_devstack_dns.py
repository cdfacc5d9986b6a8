"""The cluster DNS' Corefile, command line and API objects (nothing started but a UDP stub)."""

from __future__ import annotations

import pathlib
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from shadowgate.devstack import dns
from shadowgate.devstack.binaries import repo_root
from shadowgate.devstack.layout import StackLayout

LAYOUT = StackLayout(pathlib.Path("/state"))
BIN = pathlib.Path("/bin-dir")
KUBECONFIG = pathlib.Path("/state/coredns/kubeconfig")


def node_config(**overrides: object) -> dns.DNSConfig:
    fields: dict[str, object] = {
        "bind": "10.215.0.2",
        "port": 53,
        "kubeconfig": KUBECONFIG,
        "health_port": 8080,
        "ready_port": 8181,
    }
    fields.update(overrides)
    return dns.DNSConfig(**fields)  # type: ignore[arg-type]


def test_corefile_for_the_node() -> None:
    assert dns.render_corefile(node_config()) == (
        "# Written by shadowgate.devstack.dns on every start; edits are lost.\n"
        "cluster.local in-addr.arpa ip6.arpa {\n"
        "    bind 10.215.0.2\n"
        "    errors\n"
        "    health 10.215.0.2:8080\n"
        "    ready 10.215.0.2:8181\n"
        "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
        "        kubeconfig /state/coredns/kubeconfig\n"
        "        pods insecure\n"
        "        fallthrough in-addr.arpa ip6.arpa\n"
        "        ttl 5\n"
        "    }\n"
        "    cache 5\n"
        "    loop\n"
        "}\n"
    )


def test_corefile_has_no_upstream_and_no_root_zone() -> None:
    text = dns.render_corefile(node_config(log_queries=True, reload=True))
    assert "forward" not in text and "grpc" not in text
    # A server block for "." would catch every name; only the cluster's zones are served.
    assert not re.search(r"^\.\s", text, re.MULTILINE)


def test_optional_plugins() -> None:
    text = dns.render_corefile(node_config(log_queries=True, reload=True, reverse_fallthrough=False))
    assert "    log\n" in text and "    reload\n" in text
    assert "fallthrough" not in text
    assert "    log\n" not in dns.render_corefile(node_config())
    assert "reload" not in dns.render_corefile(node_config())


def test_domain_ttl_and_cache() -> None:
    text = dns.render_corefile(node_config(cluster_domain="example.internal.", ttl=30, cache_seconds=10))
    assert text.splitlines()[1] == "example.internal in-addr.arpa ip6.arpa {"
    assert "        ttl 30\n" in text and "    cache 10\n" in text


def test_ipv6_bind_is_bracketed_where_a_port_follows() -> None:
    config = node_config(bind="fd00::2")
    text = dns.render_corefile(config)
    assert "    bind fd00::2\n" in text
    assert "    health [fd00::2]:8080\n" in text and "    ready [fd00::2]:8181\n" in text
    assert dns.coredns(LAYOUT, BIN, config).health.url == "http://[fd00::2]:8181/ready"


def test_kubeconfig_path_is_quoted_or_refused() -> None:
    spaced = dns.render_corefile(node_config(kubeconfig=pathlib.Path("/home/a user/kubeconfig")))
    assert '        kubeconfig "/home/a user/kubeconfig"\n' in spaced
    with pytest.raises(ValueError, match="Corefile"):
        dns.render_corefile(node_config(kubeconfig=pathlib.Path('/odd"dir/kubeconfig')))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bind": "localhost"}, "does not appear to be an IPv4 or IPv6 address"),
        ({"bind": "eth0"}, "does not appear to be an IPv4 or IPv6 address"),
        ({"ready_port": 8080}, "must differ"),
        ({"port": 0}, "1..65535"),
        ({"ttl": 3601}, "ttl"),
        ({"cache_seconds": 0}, "cache_seconds"),
        ({"cluster_domain": "."}, "cluster domain"),
        ({"cluster_domain": "a b"}, "cluster domain"),
    ],
)
def test_config_is_validated(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        node_config(**overrides)


def test_component_spec() -> None:
    spec = dns.coredns(LAYOUT, BIN, node_config())
    assert spec.name == "coredns"
    assert spec.argv == ("/bin-dir/coredns", "-conf", "/state/coredns/Corefile", "-dns.port", "53")
    assert spec.port == 53
    assert (spec.health.kind, spec.health.url) == ("http", "http://10.215.0.2:8181/ready")


def test_write_corefile(tmp_path: pathlib.Path) -> None:
    layout = StackLayout(tmp_path)
    config = node_config(bind="127.0.0.1")
    path = dns.write_corefile(layout, config)
    assert path == dns.corefile_path(layout) == tmp_path / "coredns" / "Corefile"
    assert path.read_text() == dns.render_corefile(config)
    assert sorted(p.name for p in path.parent.iterdir()) == ["Corefile"]


def test_kube_dns_service_is_selectorless() -> None:
    svc = dns.kube_dns_service()
    assert svc["metadata"]["name"] == "kube-dns" and svc["metadata"]["namespace"] == "kube-system"
    assert "selector" not in svc["spec"]
    assert svc["spec"]["clusterIP"] == "10.214.0.10"
    assert svc["spec"]["ports"] == [
        {"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 53},
        {"name": "dns-tcp", "protocol": "TCP", "port": 53, "targetPort": 53},
    ]
    with pytest.raises(ValueError):
        dns.kube_dns_service("not-an-ip")


def test_endpoint_slice_points_the_service_at_the_node() -> None:
    eps = dns.kube_dns_endpoint_slice("10.215.0.2", node_name="shadowgate-node")
    labels = eps["metadata"]["labels"]
    assert labels["kubernetes.io/service-name"] == "kube-dns"
    # Not the EndpointSlice controller's label: that controller would own (and delete) it.
    assert labels["endpointslice.kubernetes.io/managed-by"] == "devstack.shadowgate.dev"
    assert eps["metadata"]["namespace"] == "kube-system"
    assert eps["addressType"] == "IPv4"
    assert eps["endpoints"] == [
        {
            "addresses": ["10.215.0.2"],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "nodeName": "shadowgate-node",
        }
    ]
    # kube-proxy pairs a Service port with a slice port by name.
    service_ports = {(p["name"], p["protocol"]) for p in dns.kube_dns_service()["spec"]["ports"]}
    assert {(p["name"], p["protocol"]) for p in eps["ports"]} == service_ports
    assert dns.kube_dns_endpoint_slice("fd00::2", port=5353)["addressType"] == "IPv6"
    assert {p["port"] for p in dns.kube_dns_endpoint_slice("fd00::2", port=5353)["ports"]} == {5353}
    assert "nodeName" not in dns.kube_dns_endpoint_slice("10.215.0.2")["endpoints"][0]


def test_rbac_grants_what_the_kubernetes_plugin_watches() -> None:
    role, binding = dns.coredns_rbac({"kind": "User", "name": "system:coredns"})
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    core = [("", "services"), ("", "namespaces"), ("", "pods")]
    for group, resource in [*core, ("discovery.k8s.io", "endpointslices")]:
        assert {(group, resource, "list"), (group, resource, "watch")} <= granted
    assert all(verb in ("list", "watch") for _, _, verb in granted)
    assert binding["roleRef"]["name"] == role["metadata"]["name"] == "system:coredns"
    assert binding["subjects"] == [
        {"kind": "User", "name": "system:coredns", "apiGroup": "rbac.authorization.k8s.io"}
    ]
    account = {"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}
    assert dns.coredns_rbac(account)[1]["subjects"] == [account]
    with pytest.raises(ValueError):
        dns.coredns_rbac({"kind": "ServiceAccount", "name": "coredns"})
    with pytest.raises(ValueError):
        dns.coredns_rbac({"kind": "Pod", "name": "x"})


def test_coredns_wrapper_lists_a_directive_for_every_plugin_and_no_forward() -> None:
    source = (repo_root() / "hack" / "coredns" / "main.go").read_text()
    imported = set(re.findall(r'"github\.com/coredns/coredns/plugin/(\w+)"', source))
    block = re.search(r"var directives = \[\]string\{(.*?)\}", source, re.DOTALL)
    assert block is not None
    directives = re.findall(r'"(\w+)"', block.group(1))
    assert set(directives) == imported
    assert "forward" not in imported and "grpc" not in imported
    assert {"kubernetes", "cache", "errors", "health", "ready", "bind", "loop"} <= imported


# --- the stdlib probe, against a stub that answers on loopback -------------------------------


@pytest.fixture
def stub() -> Iterator[tuple[int, list[bytes]]]:
    """A UDP server that first sends a reply with a wrong id, then answers REFUSED (rcode 5)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve() -> None:
        packet, peer = sock.recvfrom(512)
        seen.append(packet)
        (qid,) = struct.unpack("!H", packet[:2])
        sock.sendto(struct.pack("!HH", qid ^ 1, 0x8000) + packet[4:], peer)
        sock.sendto(struct.pack("!HH", qid, 0x8005) + packet[4:], peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1]), seen
    finally:
        thread.join(timeout=5)
        sock.close()


def test_query_rcode_reads_the_matching_answer(stub: tuple[int, list[bytes]]) -> None:
    port, seen = stub
    assert dns.query_rcode("127.0.0.1", port, "cluster.local.") == 5
    question = seen[0][12:]
    assert question == b"\x07cluster\x05local\x00" + struct.pack("!HH", 6, 1)


def test_query_rcode_without_a_server_fails_at_once() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    start = time.monotonic()
    assert dns.query_rcode("127.0.0.1", port, "cluster.local", timeout=5.0) is None
    assert time.monotonic() - start < 2.0
