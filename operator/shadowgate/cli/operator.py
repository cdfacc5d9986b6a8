"""``shadowgate operator``: run the operator (kopf with ``shadowgate.controller.main``).

The flags become the environment the controller reads at start-up, then this process becomes
``python -m kopf run -m shadowgate.controller.main`` (exec, so signals and ``kill -9`` reach
kopf directly).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import Any


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port 0..65535 (0 = off), got {text}")
    return value


def register(sub: Any) -> None:
    parser = sub.add_parser("operator", help="run the shadowgate operator (kopf)")
    parser.add_argument(
        "-n", "--namespace", action="append", default=[], help="watch only this namespace (repeat)"
    )
    parser.add_argument(
        "--tick", type=_positive, default=2.0, help="seconds between reconciles of a Candidate"
    )
    parser.add_argument("--metrics-port", type=_port, default=8090, help="operator metrics port (0 = off)")
    parser.add_argument("--metrics-host", default="127.0.0.1", help="operator metrics address")
    parser.add_argument(
        "--prometheus",
        default=os.environ.get("SHADOWGATE_PROMETHEUS_URL", ""),
        help="Prometheus base URL for gates (default: $SHADOWGATE_PROMETHEUS_URL)",
    )
    parser.add_argument("--peering", default="", help="kopf peering name (default: standalone, one operator)")
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig (default: $KUBECONFIG or in-cluster)")
    parser.set_defaults(func=run)


def command(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """The kopf command line and environment for ``args`` (pure, for tests)."""
    argv = [sys.executable, "-m", "kopf", "run", "-m", "shadowgate.controller.main"]
    argv += [f"--peering={args.peering}"] if args.peering else ["--standalone"]
    argv += [f"--namespace={ns}" for ns in args.namespace] or ["--all-namespaces"]
    env = dict(environ)
    env.update(
        {
            "SHADOWGATE_TICK_SECONDS": str(args.tick),
            "SHADOWGATE_METRICS_PORT": str(args.metrics_port),
            "SHADOWGATE_METRICS_HOST": args.metrics_host,
            "SHADOWGATE_PROMETHEUS_URL": args.prometheus,
        }
    )
    if args.kubeconfig:
        env["KUBECONFIG"] = args.kubeconfig
    return argv, env


def run(args: argparse.Namespace) -> int:
    argv, env = command(args, os.environ)
    if args.kubeconfig and not os.path.isfile(args.kubeconfig):
        print(f"shadowgate operator: kubeconfig {args.kubeconfig} does not exist", file=sys.stderr)
        return 2
    os.execvpe(argv[0], argv, env)
    return 0  # not reached: exec replaces this process
