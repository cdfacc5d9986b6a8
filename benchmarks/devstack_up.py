"""Times `dev up` / `dev down` of the local stack (binaries already built).

Three cases per round: a fresh state folder (certificates generated, empty etcd), a restart
with the state kept (`down` then `up`), and `up` on a running stack (the no-op report).
Usage: .venv/bin/python benchmarks/devstack_up.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from shadowgate.devstack.stack import Stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[float]] = {"fresh up": [], "restart up": [], "up when running": [], "down": []}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="sg-bench-") as tmp:
            stack = Stack(tmp, node_agent=False)
            try:
                for case in ("fresh up", "restart up"):
                    start = time.perf_counter()
                    stack.up()
                    results[case].append(time.perf_counter() - start)
                    start = time.perf_counter()
                    stack.up()
                    results["up when running"].append(time.perf_counter() - start)
                    start = time.perf_counter()
                    stack.down()
                    results["down"].append(time.perf_counter() - start)
            finally:
                stack.down()
    for case, values in results.items():
        median = statistics.median(values)
        print(
            f"{case:<16} median {median:6.2f} s  min {min(values):6.2f}  max {max(values):6.2f}",
            f" (n={len(values)})",
        )


if __name__ == "__main__":
    main()
