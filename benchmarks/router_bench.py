"""Router benchmark: added latency, mirroring cost, throughput, and the server/client stack choice.

All on loopback, bounded in time and count, in one run::

    .venv/bin/python benchmarks/router_bench.py [--requests 2000] [--rounds 3] [--out results.json]

Every component is its own process (trivial backend, slow backend, the real ``shadowgate-router``
with a table file, the minimal stack proxies of ``router_stacks.py``); this process is the load
generator. Scenarios are interleaved round by round so machine noise hits them alike.
Throughput per core = requests / CPU seconds the router process used (from /proc), which does not
depend on how much of the 2 cores the load generator itself took.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pathlib
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from router.cli import runner
from router.upstream import Client, UpstreamError

HERE = pathlib.Path(__file__).resolve().parent
RUN = runner("auto")  # the load generator runs on uvloop when installed: less client CPU, less noise
PY = sys.executable
QUERY = b'{"query": "iyashikei manga", "k": 3}'
STACKS = [
    ("raw+pool", "uvloop"),
    ("raw+pool", "asyncio"),
    ("uvicorn+pool", "uvloop"),
    ("uvicorn+pool", "asyncio"),
    ("raw+aiohttp", "uvloop"),
    ("raw+httpx", "uvloop"),
]
TARGET = b"/predictions/retriever"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def process(*args: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([PY, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def paced(
    targets: list[tuple[int, bytes]], rate: float, n: int, conc: int = 4, max_s: float = 30.0
) -> tuple[list[list[float]], int]:
    """Send ``n`` requests at ``rate``/s over ``conc`` connections, cycling through ``targets``
    request by request (so they share the machine's load moment by moment); return latencies (s)
    per target and the error count."""
    client = Client()
    lat: list[list[float]] = [[] for _ in targets]
    errors = 0
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    interval = conc / rate

    async def worker(w: int) -> None:
        nonlocal errors
        for i in range(n // conc):
            if loop.time() > start + max_s:  # a slow stack (httpx) must not stretch the run
                return
            due = start + (i + w / conc) * interval
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            which = (i + w) % len(targets)
            port, path = targets[which]
            t0 = time.perf_counter()
            try:
                r = await client.request("127.0.0.1", port, b"POST", path, [], QUERY, 5.0)
                ok = r.status == 200
            except UpstreamError:
                ok = False
            lat[which].append(time.perf_counter() - t0)
            errors += not ok

    await asyncio.gather(*(worker(w) for w in range(conc)))
    client.close()
    return lat, errors


async def closed(port: int, path: bytes, seconds: float, conc: int = 32) -> tuple[int, int]:
    client = Client()
    done = errors = 0
    stop = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done, errors
        while time.monotonic() < stop:
            try:
                r = await client.request("127.0.0.1", port, b"POST", path, [], QUERY, 5.0)
                errors += r.status != 200
            except UpstreamError:
                errors += 1
            done += 1

    await asyncio.gather(*(worker() for _ in range(conc)))
    client.close()
    return done, errors


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000.0


def block_bootstrap(per_round: dict[str, list[list[float]]], draws: int) -> dict[str, dict[str, float]]:
    """95 % intervals by resampling whole rounds (the same rounds for every scenario, so the
    pairing with the no-mirror block is kept): latencies within a round share the machine's load
    moment, so resampling single requests would understate the noise."""
    rng = random.Random(20261126)
    rounds = len(per_round["router_blocks"])
    comparisons = {
        "mirror_healthy p50 delta ms": ("mirror_healthy", 0.5, "delta"),
        "mirror_healthy p99 ratio %": ("mirror_healthy", 0.99, "ratio"),
        "mirror_dead p99 ratio %": ("mirror_dead", 0.99, "ratio"),
        "mirror_slow_50ms p99 ratio %": ("mirror_slow_50ms", 0.99, "ratio"),
        "A/A router_blocks_aa p99 ratio %": ("router_blocks_aa", 0.99, "ratio"),
        "A/A router_blocks_aa p50 delta ms": ("router_blocks_aa", 0.5, "delta"),
    }
    samples: dict[str, list[float]] = {k: [] for k in comparisons}
    added: dict[str, list[float]] = {"block added p50 ms": [], "block added p99 ms": []}
    for _ in range(draws):
        pick = [rng.randrange(rounds) for _ in range(rounds)]

        def pooled(name: str, pick: list[int] = pick) -> list[float]:
            return [x for i in pick for x in per_round[name][i]]

        base = pooled("router_blocks")
        b50, b99 = pct(base, 0.5), pct(base, 0.99)
        for label, (name, q, how) in comparisons.items():
            v = pct(pooled(name), q)
            ref = b50 if q == 0.5 else b99
            samples[label].append(v - ref if how == "delta" else 100 * (v / ref - 1))
        direct = pooled("direct_blocks")
        added["block added p50 ms"].append(b50 - pct(direct, 0.5))
        added["block added p99 ms"].append(b99 - pct(direct, 0.99))
    out: dict[str, dict[str, float]] = {}
    for label, values in {**samples, **added}.items():
        values.sort()
        out[label] = {"lo": values[int(0.025 * len(values))], "hi": values[int(0.975 * len(values)) - 1]}
    return out


def rotate_throughput(
    targets: dict[str, tuple[int, int, bytes]], seconds: float, rounds: int
) -> dict[str, dict[str, float]]:
    """Closed-loop bursts of ``seconds`` rotating over ``targets`` (name -> pid, port, path),
    ``rounds`` times, so load drift on the shared machine hits every target alike."""
    acc = {k: {"requests": 0.0, "errors": 0.0, "cpu_s": 0.0, "wall_s": 0.0} for k in targets}
    for _ in range(rounds):
        for name, (pid, port, path) in targets.items():
            c0, t0 = cpu_seconds(pid), time.perf_counter()
            n, errors = RUN(closed(port, path, seconds))
            a = acc[name]
            a["cpu_s"] += cpu_seconds(pid) - c0
            a["wall_s"] += time.perf_counter() - t0
            a["requests"] += n
            a["errors"] += errors
    for a in acc.values():
        a["wall_rps"] = a["requests"] / a["wall_s"]
        a["rps_per_core"] = a["requests"] / a["cpu_s"] if a["cpu_s"] else 0.0
    return acc


def route(name: str, primary: int, shadow: int | None = None) -> dict[str, object]:
    doc: dict[str, object] = {"route": name, "version": 1, "kind": "retriever",
                              "primary": {"url": f"http://127.0.0.1:{primary}"}}  # fmt: skip
    if shadow is not None:
        doc |= {
            "shadow": {"url": f"http://127.0.0.1:{shadow}"},
            "mirrorPercent": 100,
            "comparison": {"sampleRate": 0.1},
        }
    return doc


def run(args: argparse.Namespace) -> dict[str, object]:
    results: dict[str, object] = {"load_average_at_start": os.getloadavg()}
    ports = {k: free_port() for k in ("backend", "shadow", "slow", "dead", "router", "router2")}
    stacks_py = str(HERE / "router_stacks.py")
    with (
        tempfile.TemporaryDirectory() as tmp,
        process(stacks_py, "backend", "--port", str(ports["backend"])),
        process(stacks_py, "backend", "--port", str(ports["shadow"])),
        process(stacks_py, "backend", "--port", str(ports["slow"]), "--delay-ms", "50"),
    ):
        table = pathlib.Path(tmp) / "routes.json"
        table.write_text(json.dumps([
            route("plain", ports["backend"]),
            route("mirror-ok", ports["backend"], ports["shadow"]),
            route("mirror-dead", ports["backend"], ports["dead"]),
            route("mirror-slow", ports["backend"], ports["slow"]),
        ]))  # fmt: skip
        for p in ("backend", "shadow", "slow"):
            wait_port(ports[p])
        router_args = ["-m", "router", "--table-file", str(table), "--port", str(ports["router"]),
                       "--log-level", "WARNING", "--attribution-window", "5", "--loop", "uvloop"]  # fmt: skip
        with process(*router_args) as router:
            wait_port(ports["router"])
            time.sleep(1.0)  # the table file is polled every 0.5 s
            scenarios = {
                "direct": (ports["backend"], TARGET),
                "router": (ports["router"], b"/r/plain" + TARGET),
                "mirror_healthy": (ports["router"], b"/r/mirror-ok" + TARGET),
                "mirror_dead": (ports["router"], b"/r/mirror-dead" + TARGET),
                "mirror_slow_50ms": (ports["router"], b"/r/mirror-slow" + TARGET),
            }
            for target in scenarios.values():  # warm up connections and code paths
                RUN(paced([target], 1000, 200))
            lat: dict[str, list[float]] = {k: [] for k in scenarios}
            errs = dict.fromkeys(scenarios, 0)
            # Added latency: direct and via the router interleaved request by request.
            (direct, via), e = RUN(
                paced([scenarios["direct"], scenarios["router"]], args.rate, 2 * args.requests)
            )
            lat["direct"], lat["router"] = direct, via
            errs["router"] += e
            # Mirroring cannot be interleaved per request (the copies load the same router), so
            # short blocks alternate instead, many times over. Two identical no-mirror blocks
            # (an A/A pair) and a direct block ride along: the A/A pair shows how far the same
            # scenario moves from block to block, and direct vs router_blocks gives the added
            # latency by the block method too.
            blocks = ["router_blocks", "mirror_healthy", "mirror_dead", "mirror_slow_50ms",
                      "router_blocks_aa", "direct_blocks"]  # fmt: skip
            scenarios["router_blocks"] = scenarios["router_blocks_aa"] = scenarios["router"]
            scenarios["direct_blocks"] = scenarios["direct"]
            per_round: dict[str, list[list[float]]] = {name: [] for name in blocks}
            for name in blocks:
                errs[name] = 0
            for _ in range(args.rounds):
                for name in blocks:
                    (got,), e = RUN(paced([scenarios[name]], args.rate, args.block))
                    per_round[name].append(got)
                    errs[name] += e
            for name in blocks:
                lat[name] = [x for chunk in per_round[name] for x in chunk]
            results["latency_ms"] = {
                k: {
                    "p50": pct(v, 0.5),
                    "p90": pct(v, 0.9),
                    "p99": pct(v, 0.99),
                    "n": len(v),
                    "errors": errs[k],
                }
                for k, v in lat.items()
            }
            results["block_ci"] = block_bootstrap(per_round, args.boot)
        # The real router on both event loops, side by side, bursts rotating.
        alt = [*router_args[:-1], "asyncio"]
        alt[alt.index("--port") + 1] = str(ports["router2"])
        with process(*router_args) as router, process(*alt) as router2:
            wait_port(ports["router"])
            wait_port(ports["router2"])
            time.sleep(1.0)
            path = b"/r/plain" + TARGET
            for port in (ports["router"], ports["router2"]):
                RUN(paced([(port, path)], 1000, 200))
            results["throughput_router"] = rotate_throughput(
                {
                    "uvloop": (router.pid, ports["router"], path),
                    "asyncio": (router2.pid, ports["router2"], path),
                    # What a mirrored copy costs the router (the shadow is a healthy backend).
                    "uvloop, mirror 100 %": (router.pid, ports["router"], b"/r/mirror-ok" + TARGET),
                },
                args.seconds,
                args.tp_rounds,
            )
        # The minimal proxies on each stack, all up at once: latency interleaved request by request
        # with the direct call, throughput in rotating bursts.
        with contextlib.ExitStack() as stack_procs:
            procs: dict[str, tuple[int, int, bytes]] = {}
            for stack, loop in STACKS:
                port = free_port()
                proc = stack_procs.enter_context(
                    process(
                        stacks_py,
                        "proxy",
                        "--stack",
                        stack,
                        "--port",
                        str(port),
                        "--loop",
                        loop,
                        "--upstream",
                        f"127.0.0.1:{ports['backend']}",
                    )
                )
                procs[f"{stack} ({loop})"] = (proc.pid, port, TARGET)
            for _, port, _ in procs.values():
                wait_port(port)
                RUN(paced([(port, TARGET)], 1000, 100))
            fast = [k for k in procs if "httpx" not in k]  # httpx's ~60 ms answers would stall the pacing
            targets = [(ports["backend"], TARGET)] + [(procs[k][1], TARGET) for k in fast]
            lats, _ = RUN(paced(targets, args.rate, len(targets) * args.requests // 2))
            slow = {k: RUN(paced([(procs[k][1], TARGET), (ports["backend"], TARGET)], args.rate, 400))[0]
                    for k in procs if k not in fast}  # fmt: skip
            tps = rotate_throughput(procs, args.seconds / 2, args.tp_rounds)
            stacks: dict[str, object] = {}
            for i, k in enumerate(fast):
                got, direct = lats[i + 1], lats[0]
                stacks[k] = {"added_p50_ms": pct(got, 0.5) - pct(direct, 0.5),
                             "added_p99_ms": pct(got, 0.99) - pct(direct, 0.99), **tps[k]}  # fmt: skip
            for k, (got, direct) in slow.items():
                stacks[k] = {"added_p50_ms": pct(got, 0.5) - pct(direct, 0.5),
                             "added_p99_ms": pct(got, 0.99) - pct(direct, 0.99), **tps[k]}  # fmt: skip
            results["stacks"] = stacks
    return results


def report(r: dict[str, object]) -> str:
    lat = r["latency_ms"]
    assert isinstance(lat, dict)
    d, rt, rb = lat["direct"], lat["router"], lat["router_blocks"]
    lines = ["| scenario | p50 ms | p90 ms | p99 ms | n | errors |", "|---|---|---|---|---|---|"]
    for k, v in lat.items():
        lines.append(f"| {k} | {v['p50']:.3f} | {v['p90']:.3f} | {v['p99']:.3f} | {v['n']} | {v['errors']} |")
    lines.append("")
    lines.append(
        f"added by the router: p50 {rt['p50'] - d['p50']:+.3f} ms, p99 {rt['p99'] - d['p99']:+.3f} ms"
    )
    for k in ("mirror_healthy", "mirror_dead", "mirror_slow_50ms"):
        m = lat[k]
        lines.append(
            f"{k}: p50 {m['p50'] - rb['p50']:+.3f} ms, "
            f"p99 {100 * (m['p99'] / rb['p99'] - 1):+.1f} % vs no mirror (router_blocks)"
        )
    db = lat["direct_blocks"]
    lines.append(
        f"added by the router, block method: p50 {rb['p50'] - db['p50']:+.3f} ms, "
        f"p99 {rb['p99'] - db['p99']:+.3f} ms"
    )
    aa = lat["router_blocks_aa"]
    lines.append(
        f"A/A (no mirror twice): p50 {aa['p50'] - rb['p50']:+.3f} ms, "
        f"p99 {100 * (aa['p99'] / rb['p99'] - 1):+.1f} %"
    )
    ci = r["block_ci"]
    assert isinstance(ci, dict)
    lines.append("95 % block-bootstrap intervals (resampling rounds):")
    for label, iv in ci.items():
        lines.append(f"  {label}: [{iv['lo']:+.3f}, {iv['hi']:+.3f}]")
    tps = r["throughput_router"]
    assert isinstance(tps, dict)
    for loop, tp in tps.items():
        lines.append(f"router throughput ({loop}): {tp['wall_rps']:.0f} req/s wall, "
                     f"{tp['rps_per_core']:.0f} req/s per router core, errors {tp['errors']}")  # fmt: skip
    lines += [
        "",
        "| stack | added p50 ms | added p99 ms | wall req/s | req/s per core | errors |",
        "|---|---|---|---|---|---|",
    ]
    stacks = r["stacks"]
    assert isinstance(stacks, dict)
    for k, v in stacks.items():
        lines.append(f"| {k} | {v['added_p50_ms']:.3f} | {v['added_p99_ms']:.3f} | {v['wall_rps']:.0f} | "
                     f"{v['rps_per_core']:.0f} | {v['errors']} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--requests", type=int, default=3000, help="per target in the interleaved runs")
    p.add_argument("--rounds", type=int, default=20, help="alternations of the mirror blocks")
    p.add_argument("--boot", type=int, default=1000, help="bootstrap draws for the block intervals")
    p.add_argument("--block", type=int, default=400, help="requests per mirror block")
    p.add_argument("--rate", type=float, default=500.0, help="moderate load, requests/s")
    p.add_argument("--seconds", type=float, default=2.0, help="length of one throughput burst")
    p.add_argument("--tp-rounds", type=int, default=4, help="rotations of the throughput bursts")
    p.add_argument("--out", type=pathlib.Path)
    args = p.parse_args()
    results = run(args)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    print(report(results))
    print(f"machine: {os.uname().machine}, {os.cpu_count()} cores; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
