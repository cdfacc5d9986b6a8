"""``shadowgate dev up | down | status | env``: the embedded local stack.

Thin: parse flags, call ``shadowgate.devstack.stack.Stack``, print. Exit codes: 0 ok, 1 the
stack failed (message names the component and its log), 3 no stack is running (``status``,
``env``) or a component is unhealthy (``status``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

EXIT_FAILED = 1
EXIT_NOT_RUNNING = 3


def register(sub: Any) -> None:
    parser = sub.add_parser("dev", help="run the embedded local stack (Kubernetes API + Prometheus)")
    parser.add_argument(
        "--state-dir",
        default=None,
        help="stack state folder (default: $SHADOWGATE_STATE_DIR or ~/.cache/shadowgate/stack)",
    )
    actions = parser.add_subparsers(dest="dev_command", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="start the stack (reports it if already running)")
    up.add_argument("--timeout", type=_positive, default=120.0, help="seconds each component may take")
    up.set_defaults(func=_up)
    down = actions.add_parser("down", help="stop every process of the stack")
    down.add_argument("--purge", action="store_true", help="also delete the state folder (certs, etcd data)")
    down.set_defaults(func=_down)
    status = actions.add_parser("status", help="show each component: pid, port, health")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_status)
    env = actions.add_parser("env", help='print shell exports: eval "$(shadowgate dev env)"')
    env.set_defaults(func=_env)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _err(message: str) -> None:
    print(f"shadowgate dev: {message}", file=sys.stderr)


def _stack(args: argparse.Namespace, timeout: float = 120.0) -> Any:
    # Imported here so `shadowgate --help` stays fast and import-time side-effect free.
    from shadowgate.devstack.stack import Stack

    return Stack(args.state_dir, start_timeout_s=timeout, log=lambda m: print(m, file=sys.stderr))


def _guard(func: Any) -> Any:
    """Turn the stack's own errors into a message and exit code 1, never a traceback."""

    def run(args: argparse.Namespace) -> int:
        from shadowgate.devstack.binaries import BinariesError
        from shadowgate.devstack.certs import CertificateError
        from shadowgate.devstack.stack import StackError
        from shadowgate.devstack.state import StateError

        try:
            return int(func(args))
        except (StackError, BinariesError, CertificateError, StateError, OSError) as err:
            _err(str(err))
            return EXIT_FAILED

    return run


@_guard
def _up(args: argparse.Namespace) -> int:
    stack = _stack(args, args.timeout)
    result = stack.up()
    if result.already_running:
        print(f"stack already running in {stack.state_dir} (API {result.api_server})", file=sys.stderr)
    else:
        print(f"stack up in {result.seconds:.1f} s (API {result.api_server})", file=sys.stderr)
    print(f"Prometheus: {result.prometheus_url}", file=sys.stderr)
    print('point your shell at it: eval "$(shadowgate dev env)"', file=sys.stderr)
    netns = getattr(result, "netns", "")
    if netns:
        # Pod IPs, ClusterIPs and cluster DNS are reachable only inside the node's namespace.
        print(f"a shell on the node's network: nsenter --net=/run/netns/{netns} -- bash", file=sys.stderr)
    print(result.kubeconfig)
    return 0


@_guard
def _down(args: argparse.Namespace) -> int:
    stack = _stack(args)
    result = stack.down(purge=args.purge)
    if result.stopped:
        print(f"stopped {', '.join(result.stopped)}; no process left", file=sys.stderr)
    else:
        print(f"no stack was running in {stack.state_dir}", file=sys.stderr)
    return 0


@_guard
def _status(args: argparse.Namespace) -> int:
    stack = _stack(args)
    rows = stack.status()
    if not rows:
        _err(f"no stack is running in {stack.state_dir}; run `shadowgate dev up`")
        return EXIT_NOT_RUNNING
    if args.json:
        print(json.dumps([row.__dict__ for row in rows], indent=2))
    else:
        print(f"{'COMPONENT':<24} {'PID':>8} {'PORT':>6}  HEALTH")
        for row in rows:
            state = "healthy" if row.healthy else ("UNHEALTHY" if row.running else "DOWN")
            print(f"{row.name:<24} {row.pid:>8} {row.port or '-':>6}  {state}: {row.detail}")
    return 0 if all(r.healthy for r in rows) else EXIT_NOT_RUNNING


@_guard
def _env(args: argparse.Namespace) -> int:
    from shadowgate.devstack.stack import StackError

    stack = _stack(args)
    try:
        env = stack.env()
    except StackError as err:
        _err(str(err))
        return EXIT_NOT_RUNNING
    for key, value in env.items():
        if key == "PATH":
            # Keep $PATH literal so the caller's shell expands its own PATH.
            print(f'export PATH={shlex.quote(str(stack.bin_dir))}:"$PATH"')
        else:
            print(f"export {key}={shlex.quote(value)}")
    return 0
