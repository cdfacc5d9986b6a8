"""Open Inference Protocol v2 JSON: decode an inference request's tensors (validating
shape against data and datatype against values) and encode the response, exactly as the
spec writes them. Binary tensor data (an extension) is refused with a clear 400."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from model_server.errors import BadInput
from model_server.handlers import base

_INTS = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
_FLOATS = {"FP16", "FP32", "FP64", "BF16"}
DATATYPES = _INTS | _FLOATS | {"BOOL", "BYTES"}


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    parameters: Mapping[str, Any]
    inputs: dict[str, base.Tensor]
    outputs: tuple[str, ...] | None


def _flatten(data: Any, out: list[Any]) -> None:
    if isinstance(data, list):
        for item in data:
            _flatten(item, out)
    else:
        out.append(data)


def _check_value(name: str, datatype: str, value: Any) -> None:
    if datatype == "BYTES":
        ok = isinstance(value, str)
    elif datatype == "BOOL":
        ok = isinstance(value, bool)
    elif datatype in _INTS:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok:
        raise BadInput(
            f"input {name!r} has datatype {datatype} but holds {type(value).__name__} value {value!r}"
        )


def _tensor(raw: Any, index: int) -> base.Tensor:
    if not isinstance(raw, dict):
        raise BadInput(f"inputs[{index}] must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise BadInput(f"inputs[{index}].name must be a non-empty string")
    datatype = raw.get("datatype")
    if datatype not in DATATYPES:
        raise BadInput(f"input {name!r} has unknown datatype {datatype!r}")
    shape = raw.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise BadInput(f"input {name!r} shape must be a list of non-negative integers, got {shape!r}")
    params = raw.get("parameters") or {}
    if isinstance(params, dict) and "binary_data_size" in params:
        raise BadInput(
            f"input {name!r} uses binary tensor data, which this server does not support; send JSON data"
        )
    if "data" not in raw:
        raise BadInput(f"input {name!r} has no data")
    flat: list[Any] = []
    _flatten(raw["data"], flat)
    expected = math.prod(shape)
    if len(flat) != expected:
        raise BadInput(
            f"input {name!r} has shape {shape} ({expected} elements) but {len(flat)} data elements"
        )
    for value in flat:
        _check_value(name, datatype, value)
    return base.Tensor(name=name, datatype=datatype, shape=tuple(shape), data=flat)


def decode_request(body: Any, specs: Sequence[base.TensorSpec]) -> InferRequest:
    if not isinstance(body, dict):
        raise BadInput("v2 inference request must be a JSON object")
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadInput("'id' must be a string")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise BadInput("'parameters' must be an object")
    raw_inputs = body.get("inputs")
    if not isinstance(raw_inputs, list):
        raise BadInput("'inputs' must be a list of tensors")
    if not raw_inputs:
        raise BadInput("empty batch: 'inputs' is empty")
    known = {s.name for s in specs}
    inputs: dict[str, base.Tensor] = {}
    for index, raw in enumerate(raw_inputs):
        tensor = _tensor(raw, index)
        if tensor.name in inputs:
            raise BadInput(f"input {tensor.name!r} appears twice")
        if tensor.name not in known:
            raise BadInput(f"unknown input {tensor.name!r}; this model takes {sorted(known)}")
        inputs[tensor.name] = tensor
    outputs: tuple[str, ...] | None = None
    raw_outputs = body.get("outputs")
    if raw_outputs is not None:
        if not isinstance(raw_outputs, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str) for o in raw_outputs
        ):
            raise BadInput("'outputs' must be a list of objects with a 'name'")
        outputs = tuple(o["name"] for o in raw_outputs)
    return InferRequest(id=request_id, parameters=parameters, inputs=inputs, outputs=outputs)


def encode_response(
    model: str, version: str, request: InferRequest, tensors: Sequence[base.Tensor]
) -> dict[str, Any]:
    wanted = request.outputs
    outputs = [
        {"name": t.name, "datatype": t.datatype, "shape": list(t.shape), "data": t.data}
        for t in tensors
        if wanted is None or t.name in wanted
    ]
    response: dict[str, Any] = {"model_name": model, "model_version": version, "outputs": outputs}
    if request.id is not None:
        response["id"] = request.id
    return response


def check_outputs(request: InferRequest, specs: Sequence[base.TensorSpec]) -> None:
    if request.outputs is None:
        return
    known = {s.name for s in specs}
    unknown = [o for o in request.outputs if o not in known]
    if unknown:
        raise BadInput(f"unknown output(s) {unknown}; this model produces {sorted(known)}")


def metadata(name: str, versions: list[str], handler: type[base.BaseHandler] | None) -> dict[str, Any]:
    def specs(items: Sequence[base.TensorSpec]) -> list[dict[str, Any]]:
        return [{"name": s.name, "datatype": s.datatype, "shape": list(s.shape)} for s in items]

    return {
        "name": name,
        "versions": versions,
        "platform": handler.platform if handler else "unknown",
        "inputs": specs(handler.v2_inputs) if handler else [],
        "outputs": specs(handler.v2_outputs) if handler else [],
    }
