"""Every model-server endpoint and every bad-input case, against a running server on real
loopback ports. Every response is validated against docs/openapi/model-server.yaml, and
the last test checks that every documented operation was exercised."""

from __future__ import annotations

import asyncio
import functools
import http.server
import pathlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from model_server_api_support import BAD_INPUT, DOC_PATH, Api, OpenApi, SlowEcho

from model_server.archive import building, samples
from model_server.archive.manifest import BatchSettings
from model_server.settings import Settings
from model_server.testing import RunningServer, running_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def openapi() -> OpenApi:
    return OpenApi(yaml.safe_load(DOC_PATH.read_text()))


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("ms-api")
    samples.retriever(root / "retriever-1.0.0.tar.gz")
    samples.retriever(root / "retriever-1.1.0.zip", version="1.1.0", adapter="lora")
    samples.classifier(root / "intent")
    samples.reranker(root / "reranker")
    building.build_archive(
        root / "slow",
        name="slow",
        version="1",
        handler=f"{SlowEcho.__module__}:SlowEcho",
        files={},
        batch=BatchSettings(batch_size=1, max_batch_delay_ms=0, queue_size=2),
    )
    return root


@pytest.fixture(scope="module")
def file_server(sample_dir: pathlib.Path) -> Iterator[str]:
    """A real loopback HTTP server publishing the archives, for http:// registration."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(sample_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def server(sample_dir: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = Settings(
        variant="canary",
        model_store=tmp_path_factory.mktemp("store"),
        models=(
            str(sample_dir / "retriever-1.0.0.tar.gz"),
            (sample_dir / "intent").as_uri(),
            str(sample_dir / "reranker"),
            str(sample_dir / "slow"),
        ),
        max_body_bytes=64 * 1024,
        max_text_chars=200,
    )
    with running_server(settings) as running:
        deadline = time.monotonic() + 120
        while httpx.get(f"{running.inference_url}/ping").status_code != 200:
            assert time.monotonic() < deadline, "models did not become ready"
            time.sleep(0.2)
        yield running


@pytest.fixture(scope="module")
def api(server: RunningServer, openapi: OpenApi) -> Api:
    return Api(server, openapi)


# Inference: TorchServe, KServe v1, OIP v2 — happy paths for all three handlers.


def test_ping_and_health(api: Api) -> None:
    assert api.call("GET", "inference", "/ping").json() == {"status": "Healthy"}
    assert api.call("GET", "inference", "/v2/health/live").json() == {"live": True}
    assert api.call("GET", "inference", "/v2/health/ready").json() == {"ready": True}
    assert api.call("GET", "inference", "/v2").json()["extensions"] == []


@pytest.mark.parametrize(
    ("path", "body", "check"),
    [
        pytest.param(
            "/predictions/retriever",
            {"query": "calm healing iyashikei manga", "k": 2},
            lambda r: [i["id"] for i in r["items"]][:1] == ["m-aria"] and len(r["items"]) == 2,
            id="retriever",
        ),
        pytest.param(
            "/predictions/retriever/1.0.0",
            {"query": "pirates"},
            lambda r: r["version"] == "1.0.0" and len(r["items"]) == 3,
            id="retriever-version",
        ),
        pytest.param(
            "/predictions/intent",
            {"text": "I want a refund for a damaged book"},
            lambda r: r["label"] == "returns" and abs(sum(r["probabilities"].values()) - 1) < 1e-4,
            id="classifier",
        ),
        pytest.param(
            "/predictions/reranker",
            {
                "query": "camping",
                "items": [{"id": "x", "text": "demons"}, {"id": "y", "text": "tents by a lake"}],
            },
            lambda r: [i["id"] for i in r["items"]] == ["y", "x"],
            id="reranker",
        ),
    ],
)
def test_torchserve_predictions(api: Api, path: str, body: dict[str, Any], check: Any) -> None:
    response = api.call("POST", "inference", path, json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["model"] == path.split("/")[2]
    assert check(result), result


def test_kserve_v1(api: Api) -> None:
    assert api.call("GET", "inference", "/v1/models/intent").json() == {"name": "intent", "ready": True}
    body = {"instances": [{"text": "where is my package"}, {"text": "recommend a relaxing series"}]}
    predictions = api.call("POST", "inference", "/v1/models/intent:predict", json=body).json()["predictions"]
    assert [p["label"] for p in predictions] == ["order_status", "recommendation"]


def test_v2_metadata_and_ready(api: Api) -> None:
    meta = api.call("GET", "inference", "/v2/models/retriever").json()
    assert meta["inputs"] == [
        {"name": "query", "datatype": "BYTES", "shape": [-1]},
        {"name": "k", "datatype": "INT64", "shape": [-1]},
    ]
    assert api.call("GET", "inference", "/v2/models/retriever/versions/1.0.0").json()["versions"] == ["1.0.0"]
    assert api.call("GET", "inference", "/v2/models/intent/ready").json() == {"name": "intent", "ready": True}
    assert api.call("GET", "inference", "/v2/models/intent/versions/1.0.0/ready").status_code == 200


def test_v2_infer_all_handlers(api: Api) -> None:
    retr = api.call(
        "POST",
        "inference",
        "/v2/models/retriever/infer",
        json={
            "id": "req-1",
            "inputs": [
                {
                    "name": "query",
                    "shape": [2, 1],
                    "datatype": "BYTES",
                    "data": [["iyashikei"], ["pirate ship"]],
                },
                {"name": "k", "shape": [2], "datatype": "INT64", "data": [2, 2]},
            ],
        },
    ).json()
    assert retr["id"] == "req-1" and retr["model_name"] == "retriever" and retr["model_version"] == "1.0.0"
    ids = next(o for o in retr["outputs"] if o["name"] == "ids")
    assert ids["shape"] == [2, 2] and ids["datatype"] == "BYTES" and ids["data"][2] == "m-onepiece"
    intent = api.call(
        "POST",
        "inference",
        "/v2/models/intent/versions/1.0.0/infer",
        json={
            "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["track my delivery"]}],
            "outputs": [{"name": "label"}],
        },
    ).json()
    assert intent["outputs"] == [
        {"name": "label", "datatype": "BYTES", "shape": [1], "data": ["order_status"]}
    ]
    rerank = api.call(
        "POST",
        "inference",
        "/v2/models/reranker/infer",
        json={
            "inputs": [
                {"name": "query", "shape": [1], "datatype": "BYTES", "data": ["karuta cards"]},
                {"name": "item_ids", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]},
                {"name": "item_texts", "shape": [2], "datatype": "BYTES", "data": ["swords", "karuta club"]},
            ]
        },
    ).json()
    assert next(o for o in rerank["outputs"] if o["name"] == "ids")["data"] == ["b", "a"]


# Bad input: each case a 4xx (or the documented 503) with a JSON error naming the problem.


@pytest.mark.parametrize(
    ("case", "method", "path", "kwargs", "status", "message"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input(
    api: Api, case: str, method: str, path: str, kwargs: dict[str, Any], status: int, message: str
) -> None:
    response = api.call(method, "inference", path, **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_unknown_route_is_json_404(api: Api) -> None:
    response = api.client.get(f"{api.server.inference_url}/nowhere")
    assert response.status_code == 404 and "no route" in response.json()["error"]


# Queueing, deadlines, disconnects (the SlowEcho model: batch 1, queue 2, one worker).


def _post_later(api: Api, body: dict[str, Any], results: list[httpx.Response]) -> threading.Thread:
    def send() -> None:
        results.append(httpx.post(f"{api.server.inference_url}/predictions/slow", json=body, timeout=30))

    thread = threading.Thread(target=send)
    thread.start()
    return thread


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def _slow_queue(api: Api) -> Any:
    return api.server.server.repo.resolve("slow").queue


def test_full_queue_answers_503_with_retry_after(api: Api) -> None:
    queue = _slow_queue(api)
    results: list[httpx.Response] = []
    threads = [_post_later(api, {"tag": "busy", "sleep": 1.0}, results)]
    _wait_for(lambda: "busy" in SlowEcho.started)
    threads += [_post_later(api, {"tag": f"q{i}"}, results) for i in range(2)]
    _wait_for(lambda: queue.depth == 2)
    response = api.call("POST", "inference", "/predictions/slow", json={"tag": "overflow"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "queue full" in response.json()["error"]
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in results) == [200, 200, 200]
    assert "overflow" not in SlowEcho.computed


def test_deadline_passed_in_queue_is_never_computed(api: Api) -> None:
    results: list[httpx.Response] = []
    busy = _post_later(api, {"tag": "busy2", "sleep": 0.8}, results)
    _wait_for(lambda: "busy2" in SlowEcho.started)
    response = api.call(
        "POST",
        "inference",
        "/predictions/slow",
        json={"tag": "late"},
        headers={"X-Request-Timeout-Ms": "100"},
    )
    assert response.status_code == 504
    assert "deadline" in response.json()["error"]
    busy.join()
    time.sleep(0.2)
    assert "late" not in SlowEcho.computed


def test_disconnected_client_is_never_computed(api: Api) -> None:
    queue = _slow_queue(api)
    dropped = queue.dropped
    results: list[httpx.Response] = []
    busy = _post_later(api, {"tag": "busy3", "sleep": 0.8}, results)
    _wait_for(lambda: "busy3" in SlowEcho.started)
    host, port = api.server.server.settings.host, api.server.server.settings.inference_port
    body = b'{"tag": "gone"}'
    with socket.create_connection((host, port)) as sock:
        sock.sendall(
            b"POST /predictions/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        _wait_for(lambda: queue.depth == 1)
    busy.join()
    _wait_for(lambda: queue.dropped == dropped + 1)
    assert "gone" not in SlowEcho.computed
    assert results[0].status_code == 200


# Management.


def test_list_and_describe(api: Api) -> None:
    names = [m["name"] for m in api.call("GET", "management", "/models").json()["models"]]
    assert names == ["intent", "reranker", "retriever", "slow"]
    described = api.call("GET", "management", "/models/retriever").json()
    assert described["default_version"] == "1.0.0"
    (version,) = described["versions"]
    assert version["status"] == "READY" and version["batch"]["batch_size"] == 16 and version["error"] is None
    assert api.call("GET", "management", "/models/retriever/1.0.0").json()["default"] is True
    assert api.call("GET", "management", "/models/nope").status_code == 404
    assert api.call("GET", "management", "/models/retriever/0.0.1").status_code == 404


def test_register_over_http_set_default_scale_unregister(api: Api, file_server: str) -> None:
    url = f"{file_server}/retriever-1.1.0.zip"
    registered = api.call(
        "POST", "management", "/models", params={"url": url, "batch_size": "4", "initial_workers": "2"}
    )
    assert registered.status_code == 200, registered.text
    assert registered.json()["status"] == "READY" and registered.json()["workers"] == 2
    assert registered.json()["batch"]["batch_size"] == 4
    again = api.call("POST", "management", "/models", params={"url": url})
    assert again.status_code == 409 and "already registered" in again.json()["error"]
    # Production stays the default until the candidate is made default.
    assert (
        api.call("POST", "inference", "/predictions/retriever", json={"query": "x"}).json()["version"]
        == "1.0.0"
    )
    assert (
        api.call("POST", "inference", "/predictions/retriever/1.1.0", json={"query": "x"}).json()["version"]
        == "1.1.0"
    )
    assert api.call("PUT", "management", "/models/retriever/1.1.0/set-default").json()["default"] is True
    assert (
        api.call("POST", "inference", "/predictions/retriever", json={"query": "x"}).json()["version"]
        == "1.1.0"
    )
    assert api.call("PUT", "management", "/models/retriever/9/set-default").status_code == 404
    scaled = api.call("PUT", "management", "/models/retriever/1.1.0", params={"min_worker": "3"}).json()[
        "scaled"
    ]
    assert [s["workers"] for s in scaled] == [3]
    assert [
        s["workers"]
        for s in api.call("PUT", "management", "/models/retriever", params={"min_worker": "1"}).json()[
            "scaled"
        ]
    ] == [1, 1]
    assert api.call("PUT", "management", "/models/retriever", params={"min_worker": "0"}).status_code == 400
    assert api.call("PUT", "management", "/models/retriever", params={"min_worker": "x"}).status_code == 400
    removed = api.call("DELETE", "management", "/models/retriever/1.1.0").json()
    assert removed == {"unregistered": [{"name": "retriever", "version": "1.1.0"}]}
    assert api.call("GET", "management", "/models/retriever").json()["default_version"] == "1.0.0"
    assert (
        api.call("POST", "inference", "/predictions/retriever/1.1.0", json={"query": "x"}).status_code == 404
    )


def test_async_register_then_unregister_whole_model(api: Api, sample_dir: pathlib.Path) -> None:
    url = str(sample_dir / "retriever-1.1.0.zip")
    accepted = api.call("POST", "management", "/models", params={"url": url, "synchronous": "false"})
    assert accepted.status_code == 202 and accepted.json()["status"] == "LOADING"
    _wait_for(
        lambda: api.call("GET", "management", "/models/retriever/1.1.0").json()["status"] == "READY", 60
    )
    assert api.call("DELETE", "management", "/models/retriever/1.1.0").status_code == 200


@pytest.mark.parametrize(
    ("case", "params", "message"),
    [
        pytest.param("no-url", {}, "missing query parameter 'url'", id="no-url"),
        pytest.param(
            "bad-sync", {"url": "x", "synchronous": "maybe"}, "synchronous must be", id="bad-synchronous"
        ),
        pytest.param(
            "bad-batch", {"url": "x", "batch_size": "many"}, "batch_size must be an integer", id="bad-batch"
        ),
        pytest.param("bad-delay", {"url": "x", "max_batch_delay": "soon"}, "max_batch_delay", id="bad-delay"),
    ],
)
def test_register_bad_parameters(api: Api, case: str, params: dict[str, str], message: str) -> None:
    response = api.call("POST", "management", "/models", params=params)
    assert response.status_code == 400 and message in response.json()["error"]


def test_broken_archive_is_listed_not_ready_and_never_serves(
    api: Api, sample_dir: pathlib.Path, tmp_path: pathlib.Path, file_server: str
) -> None:
    broken = tmp_path / "broken"
    building.build_archive(
        broken,
        name="intent",
        version="2.0.0",
        handler="classifier",
        files={"weights": sample_dir / "intent" / "head.safetensors"},
        config={"labels": ["a", "b"]},
    )
    response = api.call("POST", "management", "/models", params={"url": str(broken)})
    assert response.status_code == 400
    assert "shape mismatch" in response.json()["error"]
    status = api.call("GET", "management", "/models/intent/2.0.0").json()
    assert status["status"] == "FAILED" and "linear.weight is (3, 384), expected (2, 384)" in status["error"]
    not_ready = api.call("POST", "inference", "/predictions/intent/2.0.0", json={"text": "x"})
    assert not_ready.status_code == 503 and "not ready (FAILED: shape mismatch" in not_ready.json()["error"]
    v2 = api.call("POST", "inference", "/v2/models/intent/versions/2.0.0/infer", json={"inputs": []})
    assert v2.status_code == 503
    assert api.call("GET", "inference", "/v2/models/intent/versions/2.0.0/ready").json() == {
        "name": "intent",
        "ready": False,
    }
    assert api.call("GET", "inference", "/ping").status_code == 503
    assert api.call("GET", "inference", "/v2/health/ready").json() == {"ready": False}
    assert (
        api.call("PUT", "management", "/models/intent/2.0.0", params={"min_worker": "2"}).status_code == 503
    )
    # The production version still serves.
    assert api.call("POST", "inference", "/predictions/intent", json={"text": "refund"}).status_code == 200
    missing = api.call(
        "POST",
        "management",
        "/models",
        params={"url": f"{file_server}/nothing.tar.gz", "model_name": "ghost"},
    )
    assert missing.status_code == 400 and "HTTP 404" in missing.json()["error"]
    assert missing.json()["model"]["name"] == "ghost"
    assert api.call("DELETE", "management", "/models/ghost").status_code == 200
    assert api.call("DELETE", "management", "/models/intent/2.0.0").status_code == 200
    assert api.call("GET", "inference", "/ping").status_code == 200


def test_kserve_v1_not_ready_model(api: Api, tmp_path: pathlib.Path, sample_dir: pathlib.Path) -> None:
    broken = tmp_path / "b"
    building.build_archive(broken, name="broken", version="1", handler="nope", files={})
    api.call("POST", "management", "/models", params={"url": str(broken)})
    assert api.call("GET", "inference", "/v1/models/broken").json() == {"name": "broken", "ready": False}
    response = api.call("POST", "inference", "/v1/models/broken:predict", json={"instances": [{}]})
    assert response.status_code == 503 and "unknown handler 'nope'" in response.json()["error"]
    assert api.call("GET", "inference", "/v2/models/broken/ready").status_code == 400
    assert api.call("GET", "inference", "/v2/models/broken").json()["platform"] == "unknown"
    assert api.call("DELETE", "management", "/models/broken").status_code == 200
    assert api.call("DELETE", "management", "/models/broken").status_code == 404


# Metrics.


def test_metrics_carry_model_version_variant(api: Api) -> None:
    text = api.call("GET", "metrics", "/metrics").text
    for name in (
        "model_server_request_duration_seconds_bucket",
        "model_server_queue_wait_seconds_bucket",
        "model_server_inference_duration_seconds_bucket",
        "model_server_batch_size_bucket",
    ):
        assert re.search(name + r'\{le="[^"]+",model="intent",variant="canary",version="1.0.0"\}', text), name
    assert 'model_server_requests_total{code="400",model="intent",variant="canary",version="1.0.0"}' in text
    assert 'model_server_requests_total{code="503",model="slow",variant="canary",version="1"}' in text
    assert 'model_server_requests_total{code="404",model="_unknown",variant="canary",version=""}' in text
    assert 'process_resident_memory_bytes{variant="canary"}' in text
    assert 'version="1.1.0"' not in text  # unregistered versions leave no series behind


def test_openapi_document_fully_exercised(api: Api, openapi: OpenApi) -> None:
    documented = {
        (m, p)
        for p, item in openapi.doc["paths"].items()
        for m in item
        if m in {"get", "post", "put", "delete"}
    }
    exercised = {(m, p) for m, p, _ in openapi.exercised}
    assert documented - exercised == set()


def test_asyncio_loop_stays_responsive_while_inferring(api: Api) -> None:
    """Inference runs on threads: health answers quickly while a batch computes."""
    results: list[httpx.Response] = []
    busy = _post_later(api, {"tag": "busy4", "sleep": 0.5}, results)
    _wait_for(lambda: "busy4" in SlowEcho.started)
    started = time.perf_counter()
    assert httpx.get(f"{api.server.inference_url}/v2/health/live").status_code == 200
    assert time.perf_counter() - started < 0.25
    busy.join()
    asyncio.run(asyncio.sleep(0))
