"""A standard Open Inference Protocol client (Triton's ``tritonclient.http``), unmodified,
against the running model server: health, metadata, readiness and inference in JSON."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from model_server.archive import samples
from model_server.settings import Settings
from model_server.testing import RunningServer, running_server

httpclient = pytest.importorskip("tritonclient.http")
utils = pytest.importorskip("tritonclient.utils")
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("ms-oip")
    models = (str(samples.classifier(root / "intent")), str(samples.retriever(root / "retriever.tar.gz")))
    with running_server(Settings(model_store=root / "store", models=models)) as running:
        deadline = time.monotonic() + 120
        while httpx.get(f"{running.inference_url}/ping").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[object]:
    url = server.inference_url.removeprefix("http://")
    triton = httpclient.InferenceServerClient(url=url)
    yield triton
    triton.close()


def test_health_and_metadata(client: object) -> None:
    assert client.is_server_live()  # type: ignore[attr-defined]
    assert client.is_server_ready()  # type: ignore[attr-defined]
    assert client.is_model_ready("intent")  # type: ignore[attr-defined]
    assert client.is_model_ready("intent", "1.0.0")  # type: ignore[attr-defined]
    assert not client.is_model_ready("nope")  # type: ignore[attr-defined]
    meta = client.get_model_metadata("retriever")  # type: ignore[attr-defined]
    assert meta["inputs"][0] == {"name": "query", "datatype": "BYTES", "shape": [-1]}


def test_infer_classifier_and_retriever(client: object) -> None:
    text = httpclient.InferInput("text", [2], "BYTES")
    text.set_data_from_numpy(
        np.array([b"where is my order", b"I want a refund"], dtype=object), binary_data=False
    )
    out = client.infer(  # type: ignore[attr-defined]
        "intent",
        [text],
        outputs=[
            httpclient.InferRequestedOutput("label", binary_data=False),
            httpclient.InferRequestedOutput("probabilities", binary_data=False),
        ],
        request_id="r-7",
    )
    assert [v.decode() if isinstance(v, bytes) else v for v in out.as_numpy("label")] == [
        "order_status",
        "returns",
    ]
    probabilities = out.as_numpy("probabilities")
    assert probabilities.shape == (2, 3)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert out.get_response()["id"] == "r-7"

    query = httpclient.InferInput("query", [1, 1], "BYTES")
    query.set_data_from_numpy(np.array([[b"pirates sailing for treasure"]], dtype=object), binary_data=False)
    k = httpclient.InferInput("k", [1], "INT64")
    k.set_data_from_numpy(np.array([2], dtype=np.int64), binary_data=False)
    result = client.infer("retriever", [query, k], model_version="1.0.0")  # type: ignore[attr-defined]
    ids = result.as_numpy("ids")
    assert ids.shape == (1, 2)
    assert (ids[0][0].decode() if isinstance(ids[0][0], bytes) else ids[0][0]) == "m-onepiece"


def test_binary_tensor_extension_is_refused_with_a_reason(client: object) -> None:
    text = httpclient.InferInput("text", [1], "BYTES")
    text.set_data_from_numpy(np.array([b"hello"], dtype=object), binary_data=True)
    with pytest.raises(utils.InferenceServerException, match="binary tensor data"):
        client.infer("intent", [text])  # type: ignore[attr-defined]


def test_unknown_model_error_reaches_the_client(client: object) -> None:
    text = httpclient.InferInput("text", [1], "BYTES")
    text.set_data_from_numpy(np.array([b"hello"], dtype=object), binary_data=False)
    with pytest.raises(utils.InferenceServerException, match="unknown model 'nope'"):
        client.infer("nope", [text])  # type: ignore[attr-defined]
