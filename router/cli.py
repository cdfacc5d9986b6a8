"""``shadowgate-router``: flags and environment at start-up, then serve until SIGTERM / SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import pathlib
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from router import backends
from router.attribution import Settings
from router.service import RouterService, ServiceSettings
from router.sources import FileSource

log = logging.getLogger("router")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="shadowgate-router", description="shadowgate's mirroring, splitting router"
    )
    p.add_argument("--host", default=os.environ.get("POD_IP") or "127.0.0.1", help="bind address ($POD_IP)")
    p.add_argument("--port", type=int, default=8090)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--kube", action="store_true", help="watch route-table ConfigMaps (kubeconfig or in-cluster)"
    )
    src.add_argument("--table-file", type=pathlib.Path, help="a JSON list of route.json objects")
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    p.add_argument("--namespace", default="", help="watch ConfigMaps in this namespace only ('' = all)")
    p.add_argument(
        "--backends",
        default=os.environ.get("SHADOWGATE_ROUTER_BACKENDS") or backends.DEFAULT,
        help=f"where --kube finds a Service's endpoints: {' or '.join(backends.SOURCES)}"
        " ($SHADOWGATE_ROUTER_BACKENDS, default %(default)s)",
    )
    p.add_argument("--max-body-bytes", type=int, default=1 << 20)
    p.add_argument("--upstream-timeout", type=float, default=10.0, help="seconds")
    p.add_argument("--mirror-max-inflight", type=int, default=128)
    p.add_argument("--mirror-max-body-bytes", type=int, default=256 << 10)
    p.add_argument("--mirror-timeout", type=float, default=1.0, help="seconds")
    p.add_argument(
        "--mirror-breaker-failures",
        type=int,
        default=5,
        help="consecutive failed copies that pause mirroring to a shadow address (0: never pause)",
    )
    p.add_argument(
        "--mirror-breaker-backoff", type=float, default=1.0, help="first pause, seconds; doubles to 30"
    )
    p.add_argument("--attribution-window", type=float, default=30.0, help="seconds")
    p.add_argument("--impression-ttl", type=float, default=600.0, help="seconds")
    p.add_argument("--max-pending", type=int, default=100_000)
    p.add_argument("--feedback-events", default="click,purchase,add_to_cart,dislike")
    p.add_argument(
        "--state-file", type=pathlib.Path, help="persist attribution counters and pending impressions"
    )
    p.add_argument("--state-interval", type=float, default=1.0, help="seconds between counter saves")
    p.add_argument(
        "--loop",
        choices=["auto", "uvloop", "asyncio"],
        default="auto",
        help="event loop: uvloop when installed (auto), else asyncio's own",
    )
    p.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    return p


def settings_from(args: argparse.Namespace) -> ServiceSettings:
    events = frozenset(e.strip() for e in args.feedback_events.split(",") if e.strip())
    positive = {
        "--max-body-bytes": args.max_body_bytes,
        "--upstream-timeout": args.upstream_timeout,
        "--mirror-max-inflight": args.mirror_max_inflight, "--mirror-timeout": args.mirror_timeout,
        "--state-interval": args.state_interval,
    }  # fmt: skip
    for flag, value in positive.items():
        if value <= 0:
            raise ValueError(f"{flag} must be > 0, got {value}")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be 0..65535, got {args.port}")
    if args.mirror_breaker_failures < 0 or args.mirror_breaker_backoff <= 0:
        raise ValueError("--mirror-breaker-failures must be >= 0 and --mirror-breaker-backoff > 0")
    # Checked here, not by argparse's choices, so a bad $SHADOWGATE_ROUTER_BACKENDS is caught too.
    if args.backends not in backends.SOURCES:
        raise ValueError(f"--backends must be one of {', '.join(backends.SOURCES)}, got {args.backends!r}")
    if args.mirror_max_body_bytes < 0:
        raise ValueError("--mirror-max-body-bytes must be >= 0")
    return ServiceSettings(
        host=args.host,
        port=args.port,
        max_body_bytes=args.max_body_bytes,
        upstream_timeout_s=args.upstream_timeout,
        mirror_max_inflight=args.mirror_max_inflight,
        mirror_max_body_bytes=args.mirror_max_body_bytes,
        mirror_timeout_s=args.mirror_timeout,
        mirror_breaker_failures=args.mirror_breaker_failures,
        mirror_breaker_backoff_s=args.mirror_breaker_backoff,
        attribution=Settings(args.attribution_window, args.impression_ttl, args.max_pending, events),
        state_file=args.state_file,
        state_interval_s=args.state_interval,
    )


async def _serve(settings: ServiceSettings, args: argparse.Namespace) -> None:
    svc: RouterService
    if args.kube:
        from kubernetes import config

        from router.kubesource import KubeSource, make_backends

        if args.kubeconfig:
            api = config.new_client_from_config(config_file=args.kubeconfig)
        else:
            config.load_incluster_config()
            from kubernetes import client

            api = client.ApiClient()
        svc = RouterService(settings, None)
        source = KubeSource(
            api, args.namespace, svc.endpoints, svc.app.forget_unused, make_backends(args.backends, api)
        )
        svc.attach_source(source)
        log.info("backends from %s", args.backends)
    else:
        svc = RouterService(settings, FileSource(args.table_file))
    port = await svc.start()
    log.info("router listening on %s:%d", settings.host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await svc.stop()


def runner(name: str) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """uvloop when installed: measured -3 to +28 % requests per CPU second (docs/benchmarks.md)."""
    if name in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if name == "uvloop":
                raise ValueError("--loop uvloop: uvloop is not installed") from None
        else:
            return uvloop.run
    return asyncio.run


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = settings_from(args)
        run = runner(args.loop)
    except ValueError as exc:
        print(f"shadowgate-router: {exc}", file=sys.stderr)
        return 2
    try:
        run(_serve(settings, args))
    except (ValueError, OSError) as exc:
        print(f"shadowgate-router: {exc}", file=sys.stderr)
        return 1
    return 0
