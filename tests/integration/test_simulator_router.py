"""``shadowgate simulate`` through the REAL router in front of two REAL model servers: a
plain retriever as primary and a deliberately broken one (ranking backwards) as canary.
Clicks reach the router's /feedback and are credited to the variant that served them, and
the better model earns fewer no-clicks."""

from __future__ import annotations

import contextlib
import json
import pathlib
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import safetensors.numpy
from shadowgate.evaluation import golden, launcher

pytestmark = pytest.mark.integration
LOAD = ("--max-requests", "120", "--rate", "4", "--duration", "120", "--timeout", "60", "--concurrency", "4")
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    sys.path.insert(0, str(ROOT))
    from model_server.archive import building
    from training import embed

    tmp = tmp_path_factory.mktemp("sim")
    lines = (ROOT / "data" / "catalog.jsonl").read_text().splitlines()
    catalog = [json.loads(x) for x in lines]
    (tmp / "catalog.jsonl").write_text("\n".join(lines) + "\n")
    index = embed.encode([golden.item_text(i) for i in catalog])
    out = {"catalog": tmp / "catalog.jsonl"}
    # "broken" ranks the catalog backwards (negated item embeddings): the least similar first.
    # Offline, over these 120 simulated queries, the click model expects no-click rates of
    # about 0.48 (good) and 0.91 (broken).
    for name, rows in (("good", index), ("broken", -index)):
        safetensors.numpy.save_file(
            {"embeddings": np.ascontiguousarray(rows)}, str(tmp / f"{name}.safetensors")
        )
        out[name] = building.build_archive(
            tmp / name,
            name="retriever",
            version=f"1.0.0-{name}",
            handler="retriever",
            files={"catalog": tmp / "catalog.jsonl", "index": tmp / f"{name}.safetensors"},
        )
    return out


@contextlib.contextmanager
def router(table: list[dict[str, Any]], tmp: pathlib.Path) -> Iterator[str]:
    (tmp / "routes.json").write_text(json.dumps(table))
    port = launcher.free_port()
    log = (tmp / "router.log").open("wb")
    cmd = [sys.executable, "-m", "router", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--table-file", str(tmp / "routes.json"), "--attribution-window", "60"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp / "router.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError("router not ready: " + (tmp / "router.log").read_text()[-2000:])
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def simulate(url: str, catalog: pathlib.Path, *extra: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "shadowgate", "simulate", "--router", url, "--route", "manga"]
    cmd += ["--catalog", str(catalog), "--seed", "4", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def test_clicks_are_credited_and_the_better_model_wins(
    archives: dict[str, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    with (
        launcher.serve_archive(str(archives["good"])) as good,
        launcher.serve_archive(str(archives["broken"])) as broken,
    ):
        table = [
            {
                "route": "manga",
                "version": 1,
                "kind": "retriever",
                "primary": {"url": good.endpoint},
                "canary": {"url": broken.endpoint},
                "canaryWeight": 50,
                "stickyKey": "X-Session-Id",
            }
        ]
        with router(table, tmp_path) as url:
            # Gentle rate and long timeouts: the shared 2-core machine must not turn this
            # into a load test. Clicks arrive well inside the 60 s attribution window.
            report = simulate(url, archives["catalog"], *LOAD)
            metrics = httpx.get(f"{url}/metrics", timeout=5).text
    assert report["requests"] == report["ok"] == 120, report
    assert report["failures"] == {}
    assert report["feedback"]["accepted"] == report["clicks"] > 0
    primary, canary = report["by_variant"]["primary"], report["by_variant"]["canary"]
    assert primary["impressions"] > 30 and canary["impressions"] > 30
    assert primary["no_click_rate"] < canary["no_click_rate"] - 0.15
    for variant, counts in (("primary", primary), ("canary", canary)):
        line = next(
            x
            for x in metrics.splitlines()
            if x.startswith("shadowgate_router_clicks_total{")
            and f'variant="{variant}"' in x
            and 'route="manga"' in x
        )
        assert float(line.rsplit(" ", 1)[1]) == counts["clicks"]


def test_router_down_is_counted_not_fatal(archives: dict[str, pathlib.Path]) -> None:
    url = f"http://127.0.0.1:{launcher.free_port()}"  # nothing listens here
    cmd = [sys.executable, "-m", "shadowgate", "simulate", "--router", url, "--route", "manga"]
    cmd += ["--catalog", str(archives["catalog"]), "--max-requests", "5", "--rate", "50"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["failures"] == {"connect": 5}
