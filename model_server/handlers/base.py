"""The handler contract every model kind implements.

The server calls ``parse`` on the event loop for each instance (so one bad instance is a
400 for its own request and never poisons a batch), then ``handle`` on a worker thread for
a whole batch of parsed instances. ``handle`` runs ``preprocess -> inference -> postprocess``
like TorchServe's BaseHandler; a handler usually overrides those three and ``parse``.

Open Inference Protocol v2 is spoken through ``decode_v2`` (input tensors -> the same JSON
instances ``parse`` accepts) and ``encode_v2`` (results -> output tensors), so the v2 path
shares validation and batching with the JSON APIs.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from model_server.archive.manifest import Manifest
from model_server.errors import ArchiveError, BadInput


@dataclass(frozen=True)
class Limits:
    """Input limits the server enforces on every model (set by flags at start-up)."""

    max_text_chars: int = 2048
    max_batch_instances: int = 256


@dataclass(frozen=True)
class Context:
    manifest: Manifest
    model_dir: pathlib.Path
    limits: Limits

    def file(self, key: str) -> pathlib.Path:
        if key not in self.manifest.files:
            raise ArchiveError(f"bad manifest: handler {self.manifest.handler!r} needs files.{key}")
        return self.model_dir / self.manifest.files[key]

    def optional_file(self, key: str) -> pathlib.Path | None:
        return self.file(key) if key in self.manifest.files else None


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Tensor:
    """An OIP v2 tensor with its data flattened in row-major order."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: list[Any]


class BaseHandler:
    """Override ``parse``, ``preprocess``, ``inference`` and ``postprocess``."""

    platform: ClassVar[str] = "custom"
    v2_inputs: ClassVar[tuple[TensorSpec, ...]] = ()
    v2_outputs: ClassVar[tuple[TensorSpec, ...]] = ()

    def __init__(self) -> None:
        self.context: Context | None = None

    def initialize(self, context: Context) -> None:
        """Load everything the model needs; raise ArchiveError with the reason if it cannot."""
        self.context = context

    def parse(self, instance: Any) -> Any:
        """Validate one JSON instance; raise BadInput naming the problem."""
        return instance

    def warmup_instances(self) -> list[Any]:
        """JSON instances the server runs through ``parse`` and ``handle`` once the model is
        initialized and before it is ready, so the first real requests do not pay for lazy
        allocation and kernel selection (and a model that cannot infer never turns ready)."""
        return []

    def preprocess(self, data: Sequence[Any]) -> Any:
        return list(data)

    def inference(self, batch: Any) -> Any:
        return batch

    def postprocess(self, output: Any) -> list[Any]:
        return list(output)

    def handle(self, data: Sequence[Any], context: Context | None = None) -> list[Any]:
        return self.postprocess(self.inference(self.preprocess(data)))

    def decode_v2(self, inputs: Mapping[str, Tensor], parameters: Mapping[str, Any]) -> list[Any]:
        raise BadInput(f"handler {type(self).__name__} does not support the v2 protocol")

    def encode_v2(self, results: Sequence[Any]) -> list[Tensor]:
        raise BadInput(f"handler {type(self).__name__} does not support the v2 protocol")

    def limits(self) -> Limits:
        return self.context.limits if self.context else Limits()


# Helpers shared by the built-in handlers' parse and v2 codecs.


def require_object(instance: Any) -> Mapping[str, Any]:
    if not isinstance(instance, dict):
        raise BadInput(f"each instance must be a JSON object, got {type(instance).__name__}")
    return instance


def require_text(obj: Mapping[str, Any], key: str, limit: int) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise BadInput(f"field {key!r} must be a string")
    if not value.strip():
        raise BadInput(f"field {key!r} must not be empty")
    if len(value) > limit:
        raise BadInput(f"field {key!r} is {len(value)} characters, over the limit of {limit}")
    return value


def optional_int(obj: Mapping[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput(f"field {key!r} must be an integer")
    if not lo <= value <= hi:
        raise BadInput(f"field {key!r} must be between {lo} and {hi}, got {value}")
    return value


def column(inputs: Mapping[str, Tensor], spec: TensorSpec, *, required: bool = True) -> list[Any] | None:
    """One value per row from a v2 input of shape [N] or [N, 1], with its datatype checked."""
    tensor = inputs.get(spec.name)
    if tensor is None:
        if required:
            raise BadInput(f"input {spec.name!r} is missing")
        return None
    if tensor.datatype != spec.datatype:
        raise BadInput(f"input {spec.name!r} has datatype {tensor.datatype}, expected {spec.datatype}")
    if len(tensor.shape) not in (1, 2) or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
        raise BadInput(f"input {spec.name!r} has shape {list(tensor.shape)}, expected [N] or [N, 1]")
    return tensor.data
