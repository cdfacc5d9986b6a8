"""``shadowgate evaluate``: run a golden set against a model and print the results JSON.

Either ``--endpoint URL --model NAME`` (a running model server's inference port) or
``--archive PATH`` (started as a ``model-server`` subprocess on free loopback ports; the
model name comes from the archive's manifest). ``--baselines PAIRS`` adds the trivial
baselines (``evaluation.baselines``: phrase lookup over the training pairs file, BM25) under
``baselines`` in the JSON, and prints a per-slice Recall@3 table of the model beside them on
stderr; ``--compare RESULTS`` (repeatable) adds saved results, e.g. production's, to it.
Exit codes: 0 results printed, 1 the evaluation failed (message says why), 2 bad arguments
or an unusable golden set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import sys
from typing import Any

EXIT_FAILED = 1
EXIT_USAGE = 2


def register(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate", help="evaluate a model on the golden set (Recall@k, NDCG, F1, ECE, harm, safety)"
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--endpoint", help="model server inference URL, e.g. http://127.0.0.1:8080")
    where.add_argument("--archive", help="model archive (dir, .tar.gz, .zip) to serve locally and evaluate")
    p.add_argument("--model", help="model name (required with --endpoint; default: the archive's name)")
    p.add_argument(
        "--golden", type=pathlib.Path, default=pathlib.Path("data/golden"), help="golden set directory"
    )
    p.add_argument("--kind", choices=("auto", "retriever", "reranker", "classifier"), default="auto")
    p.add_argument("--k", type=int, default=10, help="items asked of a retriever (default 10)")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per request (default 300)")
    p.add_argument(
        "--startup-timeout", type=float, default=600.0, help="seconds for --archive to load (default 600)"
    )
    p.add_argument(
        "--baselines",
        type=pathlib.Path,
        metavar="PAIRS",
        help="training pairs file (data/training/pairs.jsonl): also score the lookup and BM25 baselines",
    )
    p.add_argument(
        "--compare",
        type=pathlib.Path,
        action="append",
        default=[],
        metavar="RESULTS",
        help="with --baselines: another model's results JSON (e.g. production's) to put in the table",
    )
    p.add_argument("--out", type=pathlib.Path, help="also write the JSON here")
    p.set_defaults(func=run)


def _err(message: str) -> None:
    print(f"shadowgate evaluate: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    import httpx

    from shadowgate.evaluation import evaluator, golden, launcher

    if args.endpoint and not args.model:
        _err("--model is required with --endpoint")
        return EXIT_USAGE
    if args.endpoint and not args.endpoint.startswith(("http://", "https://")):
        _err(f"--endpoint must be an http(s) URL, got {args.endpoint!r}")
        return EXIT_USAGE
    if args.k < 1 or args.concurrency < 1 or args.timeout <= 0:
        _err("--k and --concurrency must be >= 1 and --timeout > 0")
        return EXIT_USAGE
    try:
        gold = golden.load_dir(args.golden)
    except (golden.GoldenSetError, OSError, UnicodeDecodeError) as exc:
        _err(f"unusable golden set: {exc}")
        return EXIT_USAGE
    kind = None if args.kind == "auto" else evaluator.Kind(args.kind)
    options = evaluator.Options(k=args.k, concurrency=args.concurrency)

    async def go(endpoint: str, model: str) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=args.timeout) as client:
            return await evaluator.Evaluator(client, endpoint, model, options).evaluate(gold, kind)

    try:
        if args.archive:
            with launcher.serve_archive(
                args.archive, args.startup_timeout, request_timeout_s=args.timeout
            ) as running:
                results = asyncio.run(go(running.endpoint, args.model or running.model))
            results["model"]["endpoint"] = f"archive:{args.archive}"
        else:
            results = asyncio.run(go(args.endpoint, args.model))
    except (evaluator.EvaluationError, launcher.LaunchError) as exc:
        _err(str(exc))
        return EXIT_FAILED
    if args.baselines:
        from shadowgate.evaluation import baselines

        try:
            pairs = [
                row
                for _, row in golden.jsonl_rows(args.baselines.read_text(), str(args.baselines), ValueError)
            ]
        except (OSError, ValueError) as exc:
            _err(f"--baselines: {exc}")
            return EXIT_USAGE
        results["baselines"] = baselines.evaluate(gold, pairs, args.k)
        try:
            others = [json.loads(path.read_text()) for path in args.compare]
        except (OSError, ValueError) as exc:
            _err(f"--compare: {exc}")
            return EXIT_USAGE
        if "retrieval" in results["metrics"]:
            print(_table(results, others), file=sys.stderr)
    text = json.dumps(results, indent=2, sort_keys=True)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


def _table(results: dict[str, Any], others: list[dict[str, Any]]) -> str:
    """Recall@3 per slice: the model, each ``--compare``d result that has retrieval metrics,
    then each baseline (queries per slice in brackets)."""
    arms = {f"{results['model']['name']} {results['model']['version']}": results["metrics"]["retrieval"]}
    for other in others:
        if "retrieval" in other.get("metrics", {}):
            arms[f"{other['model']['name']} {other['model']['version']}"] = other["metrics"]["retrieval"]
    arms.update({name: m["retrieval"] for name, m in results["baselines"].items()})
    own = results["metrics"]["retrieval"]
    rows = [("global", own["global"].get("n", 0))] + [(s, v.get("n", 0)) for s, v in own["slices"].items()]
    lines = ["slice (n) | " + " | ".join(arms)]
    for name, n in rows:
        cells = []
        for m in arms.values():
            part = m["global"] if name == "global" else m["slices"].get(name, {})
            value = part.get("recall@3")
            cells.append(f"{value:.3f}" if isinstance(value, int | float) else "-")
        lines.append(f"{name} ({n}) | " + " | ".join(cells))
    return "Recall@3\n" + "\n".join(lines)
