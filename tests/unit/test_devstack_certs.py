"""PKI for the local stack: chains, identities, idempotence."""

from __future__ import annotations

import pathlib

import pytest
from shadowgate.devstack import certs
from shadowgate.devstack.layout import StackLayout

# Every leaf the stack issues, in the order ensure_pki makes them.
LEAF_NAMES = ["apiserver", "admin", "kubelet", "kube-proxy", "apiserver-kubelet-client"]


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> StackLayout:
    out = StackLayout(tmp_path_factory.mktemp("pki"))
    assert certs.ensure_pki(out) == ["ca", *LEAF_NAMES, "sa"]
    return out


@pytest.mark.parametrize(
    ("leaf", "purpose", "needles"),
    [
        pytest.param(
            "apiserver",
            "sslserver",
            ["IP Address:127.0.0.1", "DNS:kubernetes.default.svc", "TLS Web Server Authentication"],
            id="apiserver-serving",
        ),
        pytest.param(
            "admin",
            "sslclient",
            ["Subject: O = system:masters, CN = shadowgate-admin", "TLS Web Client Authentication"],
            id="admin-client-is-system-masters",
        ),
        pytest.param(
            "apiserver",
            "sslserver",
            ["IP Address:10.214.0.1", "IP Address:10.215.0.2"],
            id="apiserver-serves-the-node-and-the-kubernetes-service",
        ),
        pytest.param(
            "kubelet",
            "sslclient",
            ["Subject: O = system:nodes, CN = system:node:shadowgate-node"],
            id="kubelet-is-a-node-identity",
        ),
        pytest.param(
            "apiserver-kubelet-client",
            "sslclient",
            ["Subject: O = system:masters, CN = kube-apiserver-kubelet-client"],
            id="apiserver-kubelet-client",
        ),
    ],
)
def test_leaf_chains_to_ca_with_identity(
    layout: StackLayout, leaf: str, purpose: str, needles: list[str]
) -> None:
    cert = layout.pki_file(f"{leaf}.crt")
    certs.verify(cert, layout.pki_file("ca.crt"), purpose)
    text = certs.describe(cert)
    for needle in needles:
        assert needle in text


@pytest.mark.parametrize(
    ("leaf", "wrong_purpose"),
    [
        pytest.param("admin", "sslserver", id="admin-cannot-serve"),
        pytest.param("apiserver", "sslclient", id="apiserver-cannot-authenticate"),
    ],
)
def test_leaf_refused_for_other_purpose(layout: StackLayout, leaf: str, wrong_purpose: str) -> None:
    with pytest.raises(certs.CertificateError):
        certs.verify(layout.pki_file(f"{leaf}.crt"), layout.pki_file("ca.crt"), wrong_purpose)


def test_keys_are_private_and_sa_pair_matches(layout: StackLayout) -> None:
    for name in ("ca.key", "admin.key", "apiserver.key", "sa.key"):
        assert layout.pki_file(name).stat().st_mode & 0o077 == 0, name
    assert "BEGIN PUBLIC KEY" in layout.pki_file("sa.pub").read_text()


def test_second_run_creates_nothing(layout: StackLayout) -> None:
    before = layout.pki_file("admin.crt").read_bytes()
    assert certs.ensure_pki(layout) == []
    assert layout.pki_file("admin.crt").read_bytes() == before


def test_leaf_missing_a_name_is_reissued(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stack made by a version whose API server certificate lacked the node's addresses.
    layout = StackLayout(tmp_path)
    old = certs.LeafSpec("apiserver", "/CN=kube-apiserver", "serverAuth", ("IP:127.0.0.1",))
    monkeypatch.setattr(certs, "LEAVES", (old, *certs.LEAVES[1:]))
    certs.ensure_pki(layout)
    layout.pki_file("apiserver.spec").unlink()  # as before markers existed
    assert "10.215.0.2" not in certs.describe(layout.pki_file("apiserver.crt"))
    monkeypatch.undo()
    assert certs.ensure_pki(layout) == ["apiserver"]
    assert "IP Address:10.215.0.2" in certs.describe(layout.pki_file("apiserver.crt"))
    assert certs.ensure_pki(layout) == []


def test_new_ca_reissues_every_leaf(tmp_path: pathlib.Path) -> None:
    layout = StackLayout(tmp_path)
    certs.ensure_pki(layout)
    layout.pki_file("ca.crt").unlink()
    assert certs.ensure_pki(layout) == ["ca", *LEAF_NAMES]
    certs.verify(layout.pki_file("admin.crt"), layout.pki_file("ca.crt"), "sslclient")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            certs.LeafSpec("x", "/CN=x", "serverAuth", ("IP:127.0.0.1", "DNS:a")),
            "subjectAltName=IP:127.0.0.1,DNS:a",
            id="sans-listed",
        ),
        pytest.param(certs.LeafSpec("x", "/CN=x", "clientAuth"), "extendedKeyUsage=clientAuth", id="client"),
    ],
)
def test_leaf_extensions(spec: certs.LeafSpec, expected: str) -> None:
    text = certs.leaf_extensions(spec)
    assert expected in text.splitlines()
    assert "basicConstraints=critical,CA:FALSE" in text
