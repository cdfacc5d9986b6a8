"""``shadowgate evaluate`` against a REAL model server (started as a subprocess from real
archives built with the model server's builder), plus its bad-input exits."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import safetensors.numpy
from shadowgate.evaluation import golden, launcher, relevance

pytestmark = pytest.mark.integration

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHADOWGATE = [sys.executable, "-m", "shadowgate"]


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.fixture(scope="module")
def fixture_set(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    """A 24-item slice of the shipped catalog, three graded queries, six intents, and a
    retriever and a classifier archive built with ``model_server.archive.building``."""
    sys.path.insert(0, str(ROOT))
    from model_server.archive import building
    from training import embed

    tmp = tmp_path_factory.mktemp("eval")
    catalog = [json.loads(x) for x in (ROOT / "data" / "catalog.jsonl").read_text().splitlines()][:24]
    targets = [
        (
            "q1",
            "calm healing manga about the countryside",
            ["iyashikei"],
            relevance.Target("iyashikei", ("calm",)),
        ),
        ("q2", "funny school comedy", ["comedy_slice_of_life"], relevance.Target("comedy slice of life")),
        ("q3", "scary ghost story", ["horror"], relevance.Target("horror")),
    ]
    queries = [
        {"id": i, "query": q, "slices": s, "judgments": relevance.judgments(catalog, t)}
        for i, q, s, t in targets
    ]
    queries = [q for q in queries if q["judgments"]]
    labels = ["recommend", "refund_request", "chitchat"]
    intents = [
        {"id": f"i{n}", "text": t, "label": label}
        for n, (t, label) in enumerate(
            [
                ("calm manga please", "recommend"),
                ("I want my money back for order #123", "refund_request"),
                ("refund my purchase", "refund_request"),
                ("hello", "chitchat"),
                ("thanks!", "chitchat"),
                ("any sports manga?", "recommend"),
            ]
        )
    ]
    gold = tmp / "golden"
    gold.mkdir()
    (gold / "catalog.jsonl").write_text(_jsonl(catalog))
    (gold / "retrieval.jsonl").write_text(_jsonl(queries))
    (gold / "intents.jsonl").write_text(_jsonl(intents))
    (gold / "costs.json").write_text(
        json.dumps(
            {
                "labels": labels,
                "critical": ["refund_request"],
                "matrix": {"refund_request": {"recommend": 20}},
            }
        )
    )

    index = embed.encode([golden.item_text(i) for i in catalog])
    safetensors.numpy.save_file({"embeddings": index}, str(tmp / "index.safetensors"))
    retriever = building.build_archive(
        tmp / "retriever",
        name="retriever",
        version="1.0.0",
        handler="retriever",
        files={"catalog": gold / "catalog.jsonl", "index": tmp / "index.safetensors"},
    )
    # A classifier head from the three intents' mean embeddings (nearest centroid).
    centroids = np.stack(
        [embed.encode([i["text"] for i in intents if i["label"] == label]).mean(0) for label in labels]
    )
    safetensors.numpy.save_file(
        {"linear.weight": (centroids * 10).astype(np.float32), "linear.bias": np.zeros(3, np.float32)},
        str(tmp / "head.safetensors"),
    )
    classifier = building.build_archive(
        tmp / "classifier",
        name="intent",
        version="0.9.0",
        handler="classifier",
        files={"weights": tmp / "head.safetensors"},
        config={"labels": labels, "temperature": 1.0},
    )
    broken = tmp / "broken"
    broken.mkdir()
    (broken / "MANIFEST.json").write_text(
        json.dumps(
            {
                "name": "retriever",
                "version": "1",
                "handler": "retriever",
                "files": {"catalog": "missing.jsonl"},
            }
        )
    )
    return {"golden": gold, "retriever": retriever, "classifier": classifier, "broken": broken}


def evaluate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SHADOWGATE, "evaluate", *args], capture_output=True, text=True, timeout=400, cwd=ROOT, check=False
    )


def test_retriever_archive_end_to_end(fixture_set: dict[str, pathlib.Path]) -> None:
    proc = evaluate("--archive", str(fixture_set["retriever"]), "--golden", str(fixture_set["golden"]))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["golden_set"]["hash"] == golden.load_dir(fixture_set["golden"]).content_hash
    assert out["model"]["name"] == "retriever" and out["model"]["version"] == "1.0.0"
    assert out["model"]["kind"] == "retriever"
    r = out["metrics"]["retrieval"]
    assert 0.0 <= r["global"]["recall@3"] <= 1.0 and r["global"]["n"] >= 2
    assert "iyashikei" in r["slices"]
    assert out["metrics"]["safety"]["ungrounded_item_rate"] == 0.0


def test_baselines_beside_the_model(fixture_set: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    catalog = golden.load_dir(fixture_set["golden"]).catalog
    horror = sorted(i for i, item in catalog.items() if item.category == "horror")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "".join(json.dumps({"query": "best ghost story comics", "positive": i}) + "\n" for i in horror)
    )
    proc = evaluate(
        "--archive",
        str(fixture_set["retriever"]),
        "--golden",
        str(fixture_set["golden"]),
        "--baselines",
        str(pairs),
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out["baselines"]) == {"lookup", "bm25"}
    lookup = out["baselines"]["lookup"]["retrieval"]
    assert lookup["slices"]["horror"]["recall@3"] == 1.0  # "ghost story" is in its one training query
    assert lookup["slices"]["iyashikei"]["recall@3"] == 0.0
    assert "slice (n) | retriever 1.0.0 | lookup | bm25" in proc.stderr
    assert "horror (1) |" in proc.stderr
    saved = tmp_path / "production.json"
    saved.write_text(json.dumps({**out, "model": {**out["model"], "version": "0.9-prod"}}))
    again = evaluate(
        "--archive", str(fixture_set["retriever"]), "--golden", str(fixture_set["golden"]),
        "--baselines", str(pairs), "--compare", str(saved),
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "slice (n) | retriever 1.0.0 | retriever 0.9-prod | lookup | bm25" in again.stderr


def test_endpoint_and_archive_agree(fixture_set: dict[str, pathlib.Path]) -> None:
    with launcher.serve_archive(str(fixture_set["classifier"])) as running:
        by_endpoint = evaluate(
            "--endpoint", running.endpoint, "--model", "intent", "--golden", str(fixture_set["golden"])
        )
    assert by_endpoint.returncode == 0, by_endpoint.stderr
    by_archive = evaluate("--archive", str(fixture_set["classifier"]), "--golden", str(fixture_set["golden"]))
    assert by_archive.returncode == 0, by_archive.stderr
    a, b = json.loads(by_endpoint.stdout), json.loads(by_archive.stdout)
    assert a["metrics"] == b["metrics"]
    c = a["metrics"]["classification"]
    assert a["model"]["kind"] == "classifier" and a["model"]["version"] == "0.9.0"
    assert set(c["classes"]) == {"recommend", "refund_request", "chitchat"}
    assert 0.0 <= c["ece"] <= 1.0 and c["harm"] >= 0.0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(
            ["--endpoint", "http://127.0.0.1:9"], 2, "--model is required", id="endpoint-without-model"
        ),
        pytest.param(["--endpoint", "ftp://x", "--model", "m"], 2, "http(s) URL", id="bad-url"),
        pytest.param(
            ["--endpoint", "http://127.0.0.1:9", "--model", "m"], 1, "cannot reach", id="nothing-listening"
        ),
        pytest.param(["--archive", "/no/such/archive"], 1, "not a directory", id="missing-archive"),
    ],
)
def test_bad_invocations(
    fixture_set: dict[str, pathlib.Path], args: list[str], code: int, message: str
) -> None:
    proc = evaluate(*args, "--golden", str(fixture_set["golden"]))
    assert proc.returncode == code
    assert message in proc.stderr


def test_bad_golden_set(fixture_set: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    (tmp_path / "intents.jsonl").write_text("{oops\n")
    proc = evaluate("--archive", str(fixture_set["retriever"]), "--golden", str(tmp_path))
    assert proc.returncode == 2
    assert "intents.jsonl line 1: not JSON" in proc.stderr


def test_broken_archive_is_reported(fixture_set: dict[str, pathlib.Path]) -> None:
    proc = evaluate(
        "--archive",
        str(fixture_set["broken"]),
        "--golden",
        str(fixture_set["golden"]),
        "--startup-timeout",
        "60",
    )
    assert proc.returncode == 1
    assert "not ready" in proc.stderr or "exited" in proc.stderr
