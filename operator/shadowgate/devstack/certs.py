"""Certificates and keys for the local control plane, made with the ``openssl`` CLI.

One self-signed CA signs the API server's serving certificate and the admin client
certificate (``O=system:masters``, so RBAC lets it do anything). A separate RSA key pair
signs service-account tokens. Files are only created when missing, so ``dev up`` after
``dev down`` keeps the same CA and the kubeconfig stays valid. If the CA is missing, every
leaf is re-issued, since the old leaves would no longer chain to anything.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from shadowgate.devstack.layout import StackLayout

CA_DAYS = 3650
LEAF_DAYS = 825
# Names the API server is reached by: loopback, and the in-cluster names a Pod would use.
APISERVER_SANS: tuple[str, ...] = (
    "IP:127.0.0.1",
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
    "IP:10.0.0.1",
    # The real node: the ``kubernetes`` Service's ClusterIP and the node address Pods reach.
    "IP:10.214.0.1",
    "IP:10.215.0.2",
)


class CertificateError(RuntimeError):
    """openssl failed; the message carries its stderr."""


@dataclass(frozen=True)
class LeafSpec:
    """One certificate signed by the stack's CA."""

    name: str  # file stem: ``<name>.crt`` / ``<name>.key``
    subject: str  # openssl ``-subj`` form, e.g. ``/O=system:masters/CN=admin``
    usage: str  # ``serverAuth``, ``clientAuth`` or both comma-separated
    sans: tuple[str, ...] = ()


LEAVES: tuple[LeafSpec, ...] = (
    LeafSpec("apiserver", "/CN=kube-apiserver", "serverAuth", APISERVER_SANS),
    LeafSpec("admin", "/O=system:masters/CN=shadowgate-admin", "clientAuth"),
    # The real node's kubelet, as the Node authorizer and NodeRestriction expect it to be named.
    LeafSpec("kubelet", "/O=system:nodes/CN=system:node:shadowgate-node", "clientAuth"),
    # The default ClusterRoleBinding system:node-proxier binds this user.
    LeafSpec("kube-proxy", "/CN=system:kube-proxy", "clientAuth"),
    # What the API server shows kubelet for logs, exec and port-forward (kubelet authorizes it
    # by webhook; system:masters passes).
    LeafSpec("apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client", "clientAuth"),
)


def leaf_extensions(spec: LeafSpec) -> str:
    """The x509 v3 extension section for ``openssl x509 -extfile``."""
    lines = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={spec.usage}",
    ]
    if spec.sans:
        lines.append("subjectAltName=" + ",".join(spec.sans))
    return "\n".join(lines) + "\n"


def _openssl(args: Sequence[str], cwd: pathlib.Path) -> str:
    exe = shutil.which("openssl")
    if exe is None:
        raise CertificateError("openssl is not installed (hack/bootstrap.sh installs it with apt-get)")
    proc = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CertificateError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()}")
    return proc.stdout


def _ec_key(path: pathlib.Path) -> None:
    _openssl(
        ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path)], path.parent
    )
    path.chmod(0o600)


def _make_ca(layout: StackLayout) -> None:
    key, crt = layout.pki_file("ca.key"), layout.pki_file("ca.crt")
    _ec_key(key)
    _openssl(
        [
            "req", "-x509", "-new", "-key", str(key), "-out", str(crt), "-days", str(CA_DAYS),
            "-subj", "/CN=shadowgate-local-ca",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        ],
        layout.pki,
    )  # fmt: skip


def _make_leaf(layout: StackLayout, spec: LeafSpec) -> None:
    key, crt = layout.pki_file(f"{spec.name}.key"), layout.pki_file(f"{spec.name}.crt")
    _ec_key(key)
    with tempfile.TemporaryDirectory(dir=layout.pki) as tmp:
        csr, ext = pathlib.Path(tmp) / "req.csr", pathlib.Path(tmp) / "ext.cnf"
        ext.write_text(leaf_extensions(spec))
        _openssl(["req", "-new", "-key", str(key), "-subj", spec.subject, "-out", str(csr)], layout.pki)
        _openssl(
            [
                "x509", "-req", "-in", str(csr), "-CA", str(layout.pki_file("ca.crt")),
                "-CAkey", str(layout.pki_file("ca.key")), "-CAcreateserial",
                "-CAserial", str(pathlib.Path(tmp) / "ca.srl"),
                "-days", str(LEAF_DAYS), "-sha256", "-extfile", str(ext), "-out", str(crt),
            ],
            layout.pki,
        )  # fmt: skip


def _make_service_account_keys(layout: StackLayout) -> None:
    key, pub = layout.pki_file("sa.key"), layout.pki_file("sa.pub")
    _openssl(
        ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key)], layout.pki
    )
    key.chmod(0o600)
    _openssl(["pkey", "-in", str(key), "-pubout", "-out", str(pub)], layout.pki)


def _spec_text(spec: LeafSpec) -> str:
    return f"{spec.subject}\n{spec.usage}\n{','.join(spec.sans)}\n"


def ensure_pki(layout: StackLayout) -> list[str]:
    """Create whatever PKI files are missing; return the names of what was created.

    A leaf whose subject, usage or names changed since it was issued (a newer version added a
    SAN) is issued again, so a stack made by an older version keeps working after an upgrade.
    """
    layout.pki.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.pki, 0o700)
    created: list[str] = []
    fresh_ca = not (layout.pki_file("ca.crt").exists() and layout.pki_file("ca.key").exists())
    if fresh_ca:
        _make_ca(layout)
        created.append("ca")
    for spec in LEAVES:
        have = layout.pki_file(f"{spec.name}.crt").exists() and layout.pki_file(f"{spec.name}.key").exists()
        marker = layout.pki_file(f"{spec.name}.spec")
        same = marker.exists() and marker.read_text() == _spec_text(spec)
        if fresh_ca or not have or (marker.exists() and not same):
            _make_leaf(layout, spec)
            marker.write_text(_spec_text(spec))
            created.append(spec.name)
        elif not marker.exists():
            # Issued before markers existed: re-issue only if the certificate lacks a name.
            text = describe(layout.pki_file(f"{spec.name}.crt"))
            if all(san.split(":", 1)[1] in text for san in spec.sans):
                marker.write_text(_spec_text(spec))
            else:
                _make_leaf(layout, spec)
                marker.write_text(_spec_text(spec))
                created.append(spec.name)
    if not (layout.pki_file("sa.key").exists() and layout.pki_file("sa.pub").exists()):
        _make_service_account_keys(layout)
        created.append("sa")
    return created


def describe(cert: pathlib.Path) -> str:
    """``openssl x509 -text`` of a certificate (for tests and debugging)."""
    return _openssl(["x509", "-in", str(cert), "-noout", "-text"], cert.parent)


def verify(cert: pathlib.Path, ca: pathlib.Path, purpose: str) -> None:
    """Raise ``CertificateError`` unless ``cert`` chains to ``ca`` for ``purpose`` (sslserver/sslclient)."""
    _openssl(["verify", "-CAfile", str(ca), "-purpose", purpose, str(cert)], cert.parent)
