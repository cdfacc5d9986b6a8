"""Benchmark 2: retriever throughput at concurrency 32, dynamic batching on versus off.

A separate ``model-server`` process serves the sample retriever (10-item catalog: the cost
is the MiniLM query encoding, as in production); 32 keep-alive connections (a minimal
asyncio HTTP/1.1 client, so the client stays cheap) post distinct queries for a fixed time.

    .venv/bin/python benchmarks/model_server_batching.py [--seconds 15] [--batch-size 32] [--delay-ms 5]
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import tempfile
import time

import model_server_common as common
import orjson

from model_server.archive import samples
from model_server.archive.manifest import BatchSettings

WORDS = [
    "healing",
    "calm",
    "iyashikei",
    "dark",
    "fantasy",
    "pirates",
    "karuta",
    "camping",
    "cats",
    "school",
    "robots",
    "island",
    "ghosts",
]


async def _client(host: str, port: int, stop_at: float, worker: int, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    done = 0
    while time.perf_counter() < stop_at:
        words = [WORDS[(worker * 7 + done * 3 + i) % len(WORDS)] for i in range(4)]
        body = orjson.dumps({"query": f"{' '.join(words)} manga {worker}-{done}", "k": 3})
        head = (
            "POST /predictions/retriever HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        started = time.perf_counter()
        writer.write(head.encode() + body)
        headers = await reader.readuntil(b"\r\n\r\n")
        if not headers.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(headers.decode())
        length = next(
            int(h.split(b":")[1]) for h in headers.split(b"\r\n") if h.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        done += 1
    writer.close()
    return done


async def _load(host: str, port: int, seconds: float, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    await asyncio.gather(
        *[_client(host, port, time.perf_counter() + 2, w, []) for w in range(concurrency)]
    )  # warm-up
    started = time.perf_counter()
    stop_at = started + seconds
    counts = await asyncio.gather(*[_client(host, port, stop_at, w, latencies) for w in range(concurrency)])
    return sum(counts) / (time.perf_counter() - started), latencies


def run(
    root: pathlib.Path, batch: BatchSettings, seconds: float, concurrency: int
) -> tuple[float, list[float]]:
    archive = samples.retriever(root / f"retriever-b{batch.batch_size}", batch=batch)
    with common.serve([archive]) as server:
        return asyncio.run(_load(server.host, server.inference_port, seconds, concurrency))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--delay-ms", type=float, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        off_rps, off_lat = run(
            root, BatchSettings(batch_size=1, max_batch_delay_ms=0), args.seconds, args.concurrency
        )
        on = BatchSettings(batch_size=args.batch_size, max_batch_delay_ms=args.delay_ms)
        on_rps, on_lat = run(root, on, args.seconds, args.concurrency)
    for label, rps, lat in (
        ("off", off_rps, off_lat),
        (f"on (b{args.batch_size}, {args.delay_ms:g} ms)", on_rps, on_lat),
    ):
        p50, p99 = common.percentile(lat, 0.5) * 1000, common.percentile(lat, 0.99) * 1000
        print(f"batching {label:<18} {rps:8.1f} req/s   p50 {p50:8.1f} ms   p99 {p99:8.1f} ms")
    print(f"speed-up {on_rps / off_rps:.2f}x at concurrency {args.concurrency}")


if __name__ == "__main__":
    main()
