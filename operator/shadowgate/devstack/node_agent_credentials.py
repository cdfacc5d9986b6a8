"""ServiceAccount credentials for the node agent's Pods, projected the way a kubelet does.

A kubelet mounts a bound ServiceAccount token into each Pod; a local process has no mount
namespace, so the agent writes the same things into the Pod's own folder instead: a
kubeconfig (the API server URL, its CA and the token; the process gets ``KUBECONFIG``
pointing at it) and ``serviceaccount/{token,ca.crt,namespace}``. The token comes from the
TokenRequest API, bound to the Pod (it dies with the Pod) and refreshed at 80 % of its life
while the process runs. A Pod whose ServiceAccount does not exist waits; it never falls
back to the agent's own (admin) credentials, which ``strip_admin`` keeps out of every Pod.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import pathlib
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import yaml

from shadowgate.devstack import node_agent_spec as podspec
from shadowgate.devstack.node_agent_kube import Gone

log = logging.getLogger(__name__)

# The kubelet's own TTL: the API server extends bound Pod tokens asked for with exactly 3607 s
# (warn-only expiry), so a client that loads its kubeconfig once keeps working; the agent
# still refreshes at 80 % of 3607 s, as the kubelet does.
TOKEN_TTL_S = 3607
REFRESH_FRACTION = 0.8
# What a kubelet shows while it cannot mount a Pod's volumes (its token among them).
PENDING_REASON = "ContainerCreating"
DEFAULT_SERVICE_ACCOUNT = "default"
KUBECONFIG_FILE = "kubeconfig"
SA_DIR = "serviceaccount"


class CredentialsPending(podspec.PodSpecError):
    """The Pod's token cannot be issued yet (e.g. its ServiceAccount does not exist)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, PENDING_REASON)
        self.event_reason = "FailedMount"


class TokenApi(Protocol):
    """The two API calls behind a projected token (a fake stands in for unit tests)."""

    def read_service_account(self, namespace: str, name: str) -> Mapping[str, Any]:
        """The ServiceAccount as JSON; raises ``Gone`` when it does not exist."""
        ...

    def request_token(self, namespace: str, service_account: str, pod: str, pod_uid: str, ttl_s: int) -> str:
        """A TokenRequest token bound to the Pod; raises ``Gone`` when the account does not exist."""
        ...


@dataclass(frozen=True)
class ClusterAccess:
    """How a Pod reaches the API server: its URL and the CA that signed its serving cert."""

    server: str
    ca_pem: bytes

    @classmethod
    def from_client_configuration(cls, cfg: Any) -> ClusterAccess:
        """From a loaded ``kubernetes.client.Configuration`` (the agent's own kubeconfig)."""
        if not cfg.ssl_ca_cert:
            raise ValueError("the agent's kubeconfig names no certificate authority for the API server")
        return cls(server=str(cfg.host), ca_pem=pathlib.Path(cfg.ssl_ca_cert).read_bytes())


def service_account_name(pod: podspec.Pod) -> str:
    spec = podspec.spec(pod)
    return str(spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_SERVICE_ACCOUNT)


def pod_automount(pod: podspec.Pod) -> bool | None:
    """The Pod's own ``automountServiceAccountToken``; None when it leaves it to the account."""
    value = podspec.spec(pod).get("automountServiceAccountToken")
    return None if value is None else bool(value)


def should_automount(pod: podspec.Pod, account: Mapping[str, Any]) -> bool:
    """The admission plugin's rule: the Pod's setting wins, then the account's, else true."""
    own = pod_automount(pod)
    if own is not None:
        return own
    value = account.get("automountServiceAccountToken")
    return True if value is None else bool(value)


def render_kubeconfig(access: ClusterAccess, namespace: str, account: str, token: str) -> dict[str, Any]:
    user = f"system:serviceaccount:{namespace}:{account}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {
                    "server": access.server,
                    "certificate-authority-data": base64.b64encode(access.ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "pod", "context": {"cluster": "local", "user": user, "namespace": namespace}}],
        "current-context": "pod",
    }


def write_private(path: pathlib.Path, data: bytes) -> None:
    """Write ``path`` atomically with mode 0600 (never readable by others, even for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older tmp may have had another mode
        os.write(fd, data)
    finally:
        os.close(fd)
    tmp.replace(path)


def strip_admin(environ: Mapping[str, str], admin_files: tuple[pathlib.Path, ...]) -> dict[str, str]:
    """The agent's environment without its credentials: no ``KUBECONFIG``, and no variable
    that names one of ``admin_files`` (the admin kubeconfig, say, under another name)."""
    named = {str(p) for p in admin_files} | {str(p.resolve()) for p in admin_files}
    return {k: v for k, v in environ.items() if k != "KUBECONFIG" and v not in named}


def pod_folder(pods_dir: pathlib.Path, namespace: str, name: str, uid: str) -> pathlib.Path:
    """A Pod's own folder in the agent's state: its logs and its credentials."""
    return pods_dir / f"{namespace}_{name}_{uid[:8]}"


def remove_files(pod_dir: pathlib.Path) -> None:
    """Delete a Pod's credential files, if any (its logs stay)."""
    with contextlib.suppress(FileNotFoundError):
        (pod_dir / KUBECONFIG_FILE).unlink()
    shutil.rmtree(pod_dir / SA_DIR, ignore_errors=True)


class PodCredentials:
    """One Pod's projected token: written before each start, refreshed while it runs."""

    def __init__(
        self,
        api: TokenApi,
        access: ClusterAccess,
        pod_dir: pathlib.Path,
        ttl_s: int = TOKEN_TTL_S,
        retry_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api, self._access, self.pod_dir = api, access, pod_dir
        self._ttl_s, self._retry_s, self._clock = ttl_s, retry_s, clock
        self.refresh_at: float | None = None  # None: nothing projected, nothing to refresh

    @property
    def kubeconfig(self) -> pathlib.Path:
        return self.pod_dir / KUBECONFIG_FILE

    def project(self, pod: podspec.Pod) -> dict[str, str]:
        """Write the Pod's credentials; the variables to add to its process's environment.

        Empty when the Pod opts out of a token. Raises ``CredentialsPending`` (the Pod waits
        and the start is retried) when no token can be had.
        """
        meta = podspec.meta(pod)
        namespace, account = str(meta["namespace"]), service_account_name(pod)
        try:
            mount = pod_automount(pod)
            if mount is None:  # the Pod leaves it to its account, which must exist either way
                mount = should_automount(pod, self._api.read_service_account(namespace, account))
            if not mount:
                self.remove()
                return {}
            token = self._api.request_token(
                namespace, account, str(meta["name"]), str(meta["uid"]), self._ttl_s
            )
        except Gone as exc:
            raise CredentialsPending(
                f'serviceaccount "{account}" not found in namespace "{namespace}": '
                "waiting for it (the Pod never runs with other credentials)"
            ) from exc
        except Exception as exc:  # e.g. the API server restarting: retried like a failed mount
            raise CredentialsPending(f"TokenRequest for {namespace}/{account} failed: {exc}") from exc
        self._write(namespace, account, token)
        return {"KUBECONFIG": str(self.kubeconfig)}

    def refresh_due(self, now: float) -> bool:
        return self.refresh_at is not None and now >= self.refresh_at

    def refresh_soon(self) -> None:
        """After an agent restart: the running process's token is renewed on the next tick."""
        if self.kubeconfig.exists():
            self.refresh_at = self._clock()

    def refresh(self, pod: podspec.Pod) -> None:
        """Best effort: a token that cannot be renewed now is retried shortly; the old one stays."""
        try:
            self.project(pod)
        except podspec.PodSpecError as exc:
            log.warning(
                "pod %s: token not refreshed (retrying in %.0fs): %s",
                podspec.pod_key(pod),
                self._retry_s,
                exc,
            )
            self.refresh_at = self._clock() + self._retry_s

    def remove(self) -> None:
        """Delete the credentials (the Pod is gone, or takes none)."""
        self.refresh_at = None
        remove_files(self.pod_dir)

    def _write(self, namespace: str, account: str, token: str) -> None:
        sa_dir = self.pod_dir / SA_DIR
        write_private(sa_dir / "token", token.encode())
        write_private(sa_dir / "ca.crt", self._access.ca_pem)
        write_private(sa_dir / "namespace", namespace.encode())
        doc = render_kubeconfig(self._access, namespace, account, token)
        write_private(self.kubeconfig, yaml.safe_dump(doc, sort_keys=False).encode())
        self.refresh_at = self._clock() + REFRESH_FRACTION * self._ttl_s


@dataclass(frozen=True)
class Projector:
    """What every Pod's ``PodCredentials`` shares: the API and how to reach the server."""

    api: TokenApi
    access: ClusterAccess
    ttl_s: int = TOKEN_TTL_S
    retry_s: float = 5.0

    def for_pod(self, pod_dir: pathlib.Path, clock: Callable[[], float] = time.monotonic) -> PodCredentials:
        return PodCredentials(self.api, self.access, pod_dir, self.ttl_s, self.retry_s, clock)
