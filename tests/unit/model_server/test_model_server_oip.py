"""Open Inference Protocol v2 request decoding and response encoding."""

from __future__ import annotations

from typing import Any

import pytest

from model_server.errors import BadInput
from model_server.handlers import base
from model_server.http import oip

SPECS = (base.TensorSpec("query", "BYTES", (-1,)), base.TensorSpec("k", "INT64", (-1,)))


def _input(**overrides: Any) -> dict[str, Any]:
    return {"name": "query", "shape": [2], "datatype": "BYTES", "data": ["a", "b"], **overrides}


def test_decodes_flat_and_nested_data() -> None:
    flat = oip.decode_request({"id": "r1", "inputs": [_input()]}, SPECS)
    nested = oip.decode_request({"inputs": [_input(shape=[2, 1], data=[["a"], ["b"]])]}, SPECS)
    assert flat.inputs["query"].data == nested.inputs["query"].data == ["a", "b"]
    assert flat.id == "r1"
    assert nested.inputs["query"].shape == (2, 1)


BAD = [
    ("not-object", [1], "must be a JSON object"),
    ("no-inputs", {}, "'inputs' must be a list"),
    ("empty-inputs", {"inputs": []}, "empty batch"),
    ("shape-data", {"inputs": [_input(shape=[3])]}, r"shape \[3\] \(3 elements\) but 2 data elements"),
    ("negative-shape", {"inputs": [_input(shape=[-1])]}, "non-negative integers"),
    ("bytes-not-str", {"inputs": [_input(data=[1, 2])]}, "datatype BYTES but holds int"),
    (
        "int-is-float",
        {"inputs": [_input(), {"name": "k", "shape": [1], "datatype": "INT64", "data": [1.5]}]},
        "datatype INT64 but holds float",
    ),
    ("unknown-datatype", {"inputs": [_input(datatype="STRING")]}, "unknown datatype 'STRING'"),
    ("unknown-input", {"inputs": [_input(name="text")]}, "unknown input 'text'"),
    ("duplicate", {"inputs": [_input(), _input()]}, "appears twice"),
    ("no-data", {"inputs": [{"name": "query", "shape": [1], "datatype": "BYTES"}]}, "has no data"),
    ("binary", {"inputs": [_input(parameters={"binary_data_size": 8})]}, "binary tensor data"),
    ("bad-id", {"id": 3, "inputs": [_input()]}, "'id' must be a string"),
    ("bad-outputs", {"inputs": [_input()], "outputs": ["ids"]}, "'outputs' must be a list of objects"),
]


@pytest.mark.parametrize(("case", "body", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_requests_name_the_problem(case: str, body: Any, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        oip.decode_request(body, SPECS)


def test_response_follows_the_spec_and_filters_outputs() -> None:
    request = oip.decode_request({"id": "x", "inputs": [_input()], "outputs": [{"name": "scores"}]}, SPECS)
    tensors = [
        base.Tensor("ids", "BYTES", (2, 1), ["m1", "m2"]),
        base.Tensor("scores", "FP32", (2, 1), [0.5, 0.25]),
    ]
    assert oip.encode_response("retriever", "1.0.0", request, tensors) == {
        "model_name": "retriever",
        "model_version": "1.0.0",
        "id": "x",
        "outputs": [{"name": "scores", "datatype": "FP32", "shape": [2, 1], "data": [0.5, 0.25]}],
    }
    with pytest.raises(BadInput, match="unknown output"):
        oip.check_outputs(
            oip.decode_request({"inputs": [_input()], "outputs": [{"name": "nope"}]}, SPECS),
            (base.TensorSpec("ids", "BYTES", (-1,)),),
        )
