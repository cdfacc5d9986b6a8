"""``shadowgate simulate``: MangaAssist users sending query-log queries through the router
and clicking with a position-biased model; prints a JSON report of what was sent.

Exit codes: 0 report printed (even if some requests failed: the report counts them by
kind), 1 every request failed, 2 bad arguments or an unusable query log / catalog.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import sys
from typing import Any

EXIT_ALL_FAILED = 1
EXIT_USAGE = 2


def register(sub: Any) -> None:
    p = sub.add_parser("simulate", help="simulate MangaAssist users (queries + clicks) through the router")
    p.add_argument("--router", required=True, help="router base URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--route", required=True, help="route name (requests go to /r/ROUTE/predictions/MODEL)")
    p.add_argument("--model", default="retriever", help="model name behind the route (default retriever)")
    p.add_argument("--rate", type=float, default=20.0, help="requests per second (default 20)")
    p.add_argument("--duration", type=float, default=30.0, help="stop after this many seconds (default 30)")
    p.add_argument(
        "--max-requests", type=int, default=1000, help="stop after this many requests (default 1000)"
    )
    p.add_argument("--shown", type=int, default=5, help="items shown to the user per query (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    p.add_argument("--eta", type=float, default=1.0, help="position bias: P(examine rank r) = (1/r)^eta")
    p.add_argument(
        "--noise", type=float, default=0.02, help="click probability of an irrelevant examined item"
    )
    p.add_argument("--query-log", type=pathlib.Path, default=pathlib.Path("data/query_log.jsonl"))
    p.add_argument("--catalog", type=pathlib.Path, default=pathlib.Path("data/catalog.jsonl"))
    p.add_argument("--out", type=pathlib.Path, help="also write the JSON report here")
    p.set_defaults(func=run)


def _err(message: str) -> None:
    print(f"shadowgate simulate: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    import httpx

    from shadowgate.simulator import clicks, runner, workload

    try:
        settings = runner.Settings(
            router=args.router,
            route=args.route,
            model=args.model,
            rate=args.rate,
            duration_s=args.duration,
            max_requests=args.max_requests,
            shown=args.shown,
            seed=args.seed,
            concurrency=args.concurrency,
            timeout_s=args.timeout,
        )
        model = clicks.ClickModel(eta=args.eta, noise=args.noise)
    except ValueError as exc:
        _err(str(exc))
        return EXIT_USAGE
    try:
        load = workload.load(args.query_log, args.catalog)
    except workload.WorkloadError as exc:
        _err(str(exc))
        return EXIT_USAGE

    async def go() -> dict[str, Any]:
        limits = httpx.Limits(max_connections=settings.concurrency * 2)
        async with httpx.AsyncClient(limits=limits) as client:
            report = await runner.Simulator(settings, load, client, model).run()
        return report.to_dict()

    result = asyncio.run(go())
    text = json.dumps(result, indent=2, sort_keys=True)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return EXIT_ALL_FAILED if result["requests"] and not result["ok"] else 0
