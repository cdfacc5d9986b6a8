"""Times `dev up` / `dev down` of the local stack's real node, Pod-to-Ready, and the node's memory.

Binaries and images already built (a cold build is measured by hack/build-binaries.sh and
docs/benchmarks.md's image table). Per round, in a fresh state folder:
- fresh up: certificates generated, empty etcd, a new containerd root (images imported);
- Pod to Ready: a Pod of the control-plane image with a readiness probe, created to Ready;
- up when running: the no-op report;
- down: drain, stop, unmount, remove the namespace and cgroups;
- restart up: `up` again with the state kept (the warm case a developer sees), then down.
RSS of each node component is read from /proc while the stack runs (first round).
Usage: .venv/bin/python benchmarks/devstack_up.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import tempfile
import time

from shadowgate.devstack import images, state
from shadowgate.devstack.stack import Stack

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "bench"},
    "spec": {
        "containers": [
            {
                "name": "web",
                "image": images.dev_name("control-plane"),
                "imagePullPolicy": "Never",
                "command": ["python", "-m", "http.server", "8000"],
                "readinessProbe": {"tcpSocket": {"port": 8000}, "periodSeconds": 1},
            }
        ]
    },
}


def _kubectl(stack: Stack, *args: str, stdin: str | None = None) -> str:
    argv = [str(stack.bin_dir / "kubectl"), f"--kubeconfig={stack.kubeconfig}", *args]
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=True).stdout


def pod_to_ready(stack: Stack) -> float:
    start = time.perf_counter()
    _kubectl(stack, "apply", "-f", "-", stdin=json.dumps(POD))
    _kubectl(stack, "wait", "--for=condition=Ready", "pod/bench", "--timeout=120s")
    took = time.perf_counter() - start
    _kubectl(stack, "delete", "pod", "bench", "--wait=false")
    return took


def rss_mb(stack: Stack) -> dict[str, float]:
    out = {}
    for name, record in state.load(stack.layout).components.items():
        status = pathlib.Path(f"/proc/{record.pid}/status").read_text()
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        out[name] = kb / 1024
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cases = ("fresh up", "Pod to Ready", "up when running", "down", "restart up")
    results: dict[str, list[float]] = {case: [] for case in cases}
    memory: dict[str, float] = {}
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="sg-bench-", ignore_cleanup_errors=True) as tmp:
            stack = Stack(tmp)
            try:
                start = time.perf_counter()
                stack.up()
                results["fresh up"].append(time.perf_counter() - start)
                results["Pod to Ready"].append(pod_to_ready(stack))
                if round_ == 0:
                    memory = rss_mb(stack)
                start = time.perf_counter()
                stack.up()
                results["up when running"].append(time.perf_counter() - start)
                start = time.perf_counter()
                stack.down()
                results["down"].append(time.perf_counter() - start)
                start = time.perf_counter()
                stack.up()
                results["restart up"].append(time.perf_counter() - start)
            finally:
                stack.down(purge=True)
    for case, values in results.items():
        median = statistics.median(values)
        print(
            f"{case:<16} median {median:6.2f} s  min {min(values):6.2f}  max {max(values):6.2f}",
            f" (n={len(values)})",
        )
    print("RSS while idle, MB: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(memory.items())))


if __name__ == "__main__":
    main()
