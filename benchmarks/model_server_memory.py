"""Benchmark 3: memory per loaded model and cold load time.

Starts ``model-server serve`` with no model, then registers archives one by one through the
management API (synchronous), recording the wall time of each registration and the
server's RSS after it. The first MiniLM-based model pays for loading the shared encoder;
later ones share it. Also measures a cold start: process launch to ``/ping`` 200 with the
retriever on the command line.

    .venv/bin/python benchmarks/model_server_memory.py [ARCHIVE ...]

With archive paths (e.g. the trained ones under ~/.cache/shadowgate/models) those are measured
instead of the built-in samples.
"""

from __future__ import annotations

import http.client
import pathlib
import sys
import tempfile
import time
import urllib.parse

import model_server_common as common

from model_server.archive import samples


def main() -> None:
    given = [pathlib.Path(p) for p in sys.argv[1:]]
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        archives = [(p.name, p) for p in given] or [
            ("retriever 1.0.0", samples.retriever(root / "r1.tar.gz")),
            (
                "retriever 1.1.0 (+lora adapter)",
                samples.retriever(root / "r2.tar.gz", version="1.1.0", adapter="lora"),
            ),
            ("intent classifier", samples.classifier(root / "c.tar.gz")),
            ("reranker", samples.reranker(root / "k.tar.gz")),
        ]
        with common.serve() as server:
            time.sleep(1)
            before = server.rss_bytes()
            print(f"{'empty server':<34} rss {before / 2**20:7.1f} MiB")
            conn = http.client.HTTPConnection(server.host, server.management_port, timeout=300)
            for label, archive in archives:
                started = time.perf_counter()
                conn.request("POST", "/models?" + urllib.parse.urlencode({"url": str(archive)}))
                response = conn.getresponse()
                response.read()
                elapsed = time.perf_counter() - started
                assert response.status == 200, response.status
                rss = server.rss_bytes()
                print(
                    f"{label:<34} load {elapsed:6.2f} s   rss {rss / 2**20:7.1f} MiB   "
                    f"+{(rss - before) / 2**20:6.1f} MiB",
                    flush=True,
                )
                before = rss
        started = time.perf_counter()
        with common.serve([archives[0][1]]):
            print(f"{'cold start, retriever (launch->ready)':<34} {time.perf_counter() - started:6.2f} s")


if __name__ == "__main__":
    main()
