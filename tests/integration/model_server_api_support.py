"""The model-server API tests' helpers: an OpenAPI response checker, a recording client, a slow
handler for queue tests, and the table of bad-input cases."""

from __future__ import annotations

import pathlib
import re
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx
import jsonschema

from model_server.handlers import base
from model_server.testing import RunningServer

DOC_PATH = pathlib.Path(__file__).resolve().parents[2] / "docs" / "openapi" / "model-server.yaml"


class SlowEcho(base.BaseHandler):
    """Echoes instances after sleeping; records which tags were computed."""

    computed: ClassVar[list[str]] = []
    started: ClassVar[list[str]] = []

    def parse(self, instance: Any) -> dict[str, Any]:
        return dict(base.require_object(instance))

    def handle(self, data: Sequence[Any], context: base.Context | None = None) -> list[Any]:
        SlowEcho.started.extend(str(d.get("tag")) for d in data)
        time.sleep(max(float(d.get("sleep", 0)) for d in data))
        SlowEcho.computed.extend(str(d.get("tag")) for d in data)
        return [dict(d) for d in data]


class OpenApi:
    """Matches a request to its documented operation and validates the response."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.exercised: set[tuple[str, str, str]] = set()
        self._routes = []
        for template in doc["paths"]:
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/:]+", re.escape(template))
            self._routes.append((re.compile(f"^{pattern}$"), template))

    def check(self, method: str, path: str, response: httpx.Response) -> None:
        matches = [t for rx, t in self._routes if rx.match(path)]
        assert matches, f"{method} {path} is not in the OpenAPI document"
        template = matches[0]
        operation = self.doc["paths"][template].get(method.lower())
        if operation is None:  # an undocumented method on a documented path: 405 with a JSON error
            assert response.status_code == 405, f"{method} {template} is not documented"
            jsonschema.Draft202012Validator(self.doc["components"]["schemas"]["Error"]).validate(
                response.json()
            )
            return
        status = str(response.status_code)
        assert status in operation["responses"], (
            f"{method} {template} answered {status}, which is not documented"
        )
        self.exercised.add((method.lower(), template, status))
        spec = self._deref(operation["responses"][status])
        content = spec.get("content", {})
        if "application/json" in content:
            assert response.headers["content-type"] == "application/json"
            schema = {**content["application/json"]["schema"], "components": self.doc["components"]}
            jsonschema.Draft202012Validator(schema).validate(response.json())
        elif "text/plain" in content:
            assert response.headers["content-type"].startswith("text/plain")

    def _deref(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            *_, kind, name = node["$ref"].split("/")
            node = self.doc["components"][kind][name]
        return node


class Api:
    def __init__(self, server: RunningServer, openapi: OpenApi) -> None:
        self.server = server
        self.openapi = openapi
        self.client = httpx.Client(timeout=30)

    def call(self, method: str, port: str, path: str, **kwargs: Any) -> httpx.Response:
        base_url = {
            "inference": self.server.inference_url,
            "management": self.server.management_url,
            "metrics": self.server.metrics_url,
        }[port]
        response = self.client.request(method, base_url + path, **kwargs)
        self.openapi.check(method, path, response)
        return response


BAD_INPUT = [
    ("malformed-json", "POST", "/predictions/retriever", {"content": b'{"query": '}, 400, "malformed JSON"),
    ("empty-body", "POST", "/predictions/retriever", {"content": b""}, 400, "body is empty"),
    ("not-object", "POST", "/predictions/retriever", {"json": ["q"]}, 400, "body must be a JSON object"),
    ("missing-field", "POST", "/predictions/intent", {"json": {"txt": "x"}}, 400, "unknown field"),
    (
        "text-too-long",
        "POST",
        "/predictions/intent",
        {"json": {"text": "x" * 201}},
        400,
        "over the limit of 200",
    ),
    (
        "k-out-of-range",
        "POST",
        "/predictions/retriever",
        {"json": {"query": "x", "k": 99}},
        400,
        "'k' must be",
    ),
    (
        "body-too-large",
        "POST",
        "/predictions/intent",
        {"content": b"x" * 70_000},
        413,
        "over the limit of 65536",
    ),
    (
        "v2-body-too-large",
        "POST",
        "/v2/models/intent/infer",
        {"content": b'{"inputs": [' + b" " * 70_000 + b"]}"},
        413,
        "over the limit",
    ),
    ("v1-empty-batch", "POST", "/v1/models/intent:predict", {"json": {"instances": []}}, 400, "empty batch"),
    (
        "v1-no-instances",
        "POST",
        "/v1/models/intent:predict",
        {"json": {"inputs": []}},
        400,
        "'instances' list",
    ),
    (
        "v1-bad-instance",
        "POST",
        "/v1/models/intent:predict",
        {"json": {"instances": [{"text": "ok"}, {"text": 5}]}},
        400,
        "instance 1: field 'text' must be a string",
    ),
    (
        "v2-empty-batch",
        "POST",
        "/v2/models/intent/infer",
        {"json": {"inputs": [{"name": "text", "shape": [0], "datatype": "BYTES", "data": []}]}},
        400,
        "empty batch",
    ),
    (
        "v2-wrong-shape",
        "POST",
        "/v2/models/intent/infer",
        {"json": {"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": ["a"]}]}},
        400,
        "shape [3] (3 elements) but 1 data elements",
    ),
    (
        "v2-wrong-rank",
        "POST",
        "/v2/models/intent/infer",
        {"json": {"inputs": [{"name": "text", "shape": [1, 2], "datatype": "BYTES", "data": ["a", "b"]}]}},
        400,
        "expected [N] or [N, 1]",
    ),
    (
        "v2-wrong-datatype",
        "POST",
        "/v2/models/intent/infer",
        {"json": {"inputs": [{"name": "text", "shape": [1], "datatype": "FP32", "data": [1.0]}]}},
        400,
        "datatype FP32, expected BYTES",
    ),
    (
        "v2-value-vs-datatype",
        "POST",
        "/v2/models/intent/infer",
        {"json": {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [3]}]}},
        400,
        "datatype BYTES but holds int",
    ),
    (
        "v2-unknown-output",
        "POST",
        "/v2/models/intent/infer",
        {
            "json": {
                "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["a"]}],
                "outputs": [{"name": "logits"}],
            }
        },
        400,
        "unknown output",
    ),
    (
        "v2-binary-extension",
        "POST",
        "/v2/models/intent/infer",
        {"content": b"{}", "headers": {"Inference-Header-Content-Length": "2"}},
        400,
        "binary tensor data",
    ),
    ("unknown-model", "POST", "/predictions/nope", {"json": {"text": "x"}}, 404, "unknown model 'nope'"),
    (
        "unknown-version",
        "POST",
        "/predictions/intent/9.9",
        {"json": {"text": "x"}},
        404,
        "unknown version '9.9'",
    ),
    ("v2-unknown-model", "GET", "/v2/models/nope", {}, 404, "unknown model"),
    (
        "v2-unknown-version",
        "POST",
        "/v2/models/intent/versions/0/infer",
        {"json": {}},
        404,
        "unknown version",
    ),
    ("v1-unknown-model", "GET", "/v1/models/nope", {}, 404, "unknown model"),
    ("wrong-method", "GET", "/predictions/intent", {}, 405, "method GET not allowed"),
    (
        "bad-timeout",
        "POST",
        "/predictions/intent",
        {"json": {"text": "x"}, "headers": {"X-Request-Timeout-Ms": "soon"}},
        400,
        "X-Request-Timeout-Ms",
    ),
]
