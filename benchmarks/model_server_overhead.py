"""Benchmark 1: what the HTTP server adds at concurrency 1.

The same handler is called in-process (parse + handle, what the worker thread runs) and
through ``POST /predictions`` on a separate ``model-server`` process with a keep-alive
stdlib client, alternating the two in blocks of 20 calls so machine noise hits both alike. Batching
is off (batch_size 1): a batching delay is a configured wait, not server overhead.
Two handlers: an echo handler (pure server cost) and the real retriever.

    .venv/bin/python benchmarks/model_server_overhead.py [--requests 400] [--torch-threads 1]
"""

from __future__ import annotations

import argparse
import http.client
import os
import pathlib
import tempfile
import time

import model_server_common as common
import torch

from model_server import loading
from model_server.archive import building, samples
from model_server.archive.manifest import BatchSettings
from model_server.handlers import base


def measure(name: str, archive: pathlib.Path, body: dict[str, object], requests: int) -> dict[str, float]:
    handler = loading.initialize_handler(
        loading.open_verified(str(archive), archive.parent / "store"), base.Limits()
    )
    in_process: list[float] = []
    over_http: list[float] = []
    with common.serve([archive], extra=["--torch-threads", str(torch.get_num_threads())]) as server:
        conn = http.client.HTTPConnection(server.host, server.inference_port)
        path = f"/predictions/{name}"
        for _ in range(20):  # warm both paths
            handler.handle([handler.parse(body)])
            common.post_json(conn, path, body)
        # Blocks of calls rather than strict alternation: torch's OpenMP threads spin for a
        # while after a forward pass, and a spinning idle process would steal the 2 cores from
        # the one being measured. The first call of each block is discarded for the same reason.
        block = 20
        for _ in range(max(1, requests // block)):
            for i in range(block + 1):
                started = time.perf_counter()
                handler.handle([handler.parse(body)])
                if i:
                    in_process.append(time.perf_counter() - started)
            for i in range(block + 1):
                started = time.perf_counter()
                common.post_json(conn, path, body)
                if i:
                    over_http.append(time.perf_counter() - started)
    row = {
        "in_p50": common.percentile(in_process, 0.5),
        "in_p99": common.percentile(in_process, 0.99),
        "http_p50": common.percentile(over_http, 0.5),
        "http_p99": common.percentile(over_http, 0.99),
    }
    row["added_p50"] = row["http_p50"] - row["in_p50"]
    row["added_p99"] = row["http_p99"] - row["in_p99"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="intra-op threads on both sides (0: one per core); 1 keeps the two processes' OpenMP "
        "threads from competing for the cores",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads or os.cpu_count() or 1)
    off = BatchSettings(batch_size=1, max_batch_delay_ms=0)
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        echo = building.build_archive(
            root / "echo",
            name="echo",
            version="1",
            handler="model_server.handlers.base:BaseHandler",
            files={},
            batch=off,
        )
        retriever = samples.retriever(root / "retriever", batch=off)
        header = ["in p50", "in p99", "http p50", "http p99", "added p50", "added p99"]
        print(f"{'handler':<10} " + " ".join(f"{h:>9}" for h in header) + "  (ms)", flush=True)
        for name, archive, body in (
            ("echo", echo, {"query": "iyashikei manga"}),
            ("retriever", retriever, {"query": "iyashikei manga", "k": 3}),
        ):
            row = measure(name, archive, body, args.requests)
            values = [
                row[k] * 1000 for k in ("in_p50", "in_p99", "http_p50", "http_p99", "added_p50", "added_p99")
            ]
            print(f"{name:<10} " + " ".join(f"{v:>9.3f}" for v in values), flush=True)


if __name__ == "__main__":
    main()
