"""Times what a Pod start now costs for its ServiceAccount credentials, on a fresh local stack.

Each projection is what the node agent does before starting a Pod's process: read the Pod's
ServiceAccount, ask the TokenRequest API for a token bound to the Pod, and write the
kubeconfig and ``serviceaccount/{token,ca.crt,namespace}`` (mode 0600). The Pod is a real
(unscheduled-elsewhere) Pod object so the token binds to a real uid. Binaries must be built.
Usage: .venv/bin/python benchmarks/node_agent_tokens.py [--projections 50]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile
import time
from typing import Any

from kubernetes import client, config
from shadowgate.devstack.node_agent_credentials import ClusterAccess, PodCredentials
from shadowgate.devstack.node_agent_kube import KubeApi
from shadowgate.devstack.stack import Stack


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projections", type=int, default=50)
    args = parser.parse_args()
    if args.projections < 1:
        print("--projections must be >= 1", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sg-bench-tokens-") as tmp:
        # No node agent: the Pod only needs to exist (and stay unscheduled) for the token to bind.
        stack = Stack(tmp, node_agent=False)
        try:
            stack.up()
            cfg = client.Configuration()
            config.load_kube_config(config_file=stack.kubeconfig, client_configuration=cfg)
            api = client.ApiClient(cfg)
            core: Any = client.CoreV1Api(api)  # plain dict manifests; the stubs want models
            core.create_namespace({"metadata": {"name": "bench"}}, _preload_content=False)
            core.create_namespaced_service_account(
                "bench", {"metadata": {"name": "sa"}}, _preload_content=False
            )
            manifest: Any = {
                "metadata": {"name": "p"},
                "spec": {"serviceAccountName": "sa", "containers": [{"name": "c", "image": "i"}]},
            }
            pod = json.loads(core.create_namespaced_pod("bench", manifest, _preload_content=False).data)
            creds = PodCredentials(
                KubeApi(api), ClusterAccess.from_client_configuration(cfg), pathlib.Path(tmp) / "pod"
            )
            creds.project(pod)  # warm the connection pool
            times = []
            for _ in range(args.projections):
                start = time.perf_counter()
                creds.project(pod)
                times.append(time.perf_counter() - start)
        finally:
            stack.down()
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    median = statistics.median(ms)
    print(f"projection, {len(ms)} runs: median {median:.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
