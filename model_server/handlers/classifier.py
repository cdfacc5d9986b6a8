"""Intent classifier: a linear or MLP head over normalized MiniLM sentence embeddings, with
temperature-scaled softmax so the probabilities are calibrated.

Files: ``weights`` (safetensors or state dict; ``linear.weight`` C x d + ``linear.bias`` C,
or ``hidden.weight`` h x d, ``hidden.bias`` h, ``out.weight`` C x h, ``out.bias`` C).
Config: ``labels`` (C strings, the order of the head's outputs), ``temperature`` (> 0,
default 1.0: probabilities = softmax(logits / T)), ``encoder``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pydantic
import torch

from model_server.errors import ArchiveError, BadInput
from model_server.handlers import base, encoder, weights

TEXT = base.TensorSpec("text", "BYTES", (-1,))
LABEL = base.TensorSpec("label", "BYTES", (-1,))
PROBABILITIES = base.TensorSpec("probabilities", "FP32", (-1, -1))


class ClassifierConfig(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    labels: list[str] = pydantic.Field(min_length=2)
    temperature: float = pydantic.Field(default=1.0, gt=0.0)
    encoder: str | None = None

    @pydantic.field_validator("labels")
    @classmethod
    def _unique(cls, labels: list[str]) -> list[str]:
        if len(set(labels)) != len(labels):
            raise ValueError("labels must be unique")
        return labels


def parse_config(config: Mapping[str, Any], model: type[pydantic.BaseModel]) -> Any:
    try:
        return model.model_validate(config)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"config.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ArchiveError(f"bad manifest: {problems}") from exc


class ClassifierHandler(base.BaseHandler):
    platform: ClassVar[str] = "shadowgate_classifier"
    v2_inputs = (TEXT,)
    v2_outputs = (LABEL, PROBABILITIES)

    def initialize(self, context: base.Context) -> None:
        super().initialize(context)
        self.config: ClassifierConfig = parse_config(context.manifest.config, ClassifierConfig)
        self.encoder = encoder.shared_encoder(self.config.encoder)
        path = context.file("weights")
        self.labels = list(self.config.labels)
        self.head = weights.build_head(
            weights.load_tensors(path), self.encoder.dim, len(self.labels), path.name
        )

    def warmup_instances(self) -> list[Any]:
        return [{"text": "warm-up query"}]

    def parse(self, instance: Any) -> str:
        obj = base.require_object(instance)
        unknown = set(obj) - {"text"}
        if unknown:
            raise BadInput(f"unknown field(s) {sorted(unknown)}; a classifier takes 'text'")
        return base.require_text(obj, "text", self.limits().max_text_chars)

    def inference(self, batch: Sequence[str]) -> torch.Tensor:
        embeddings = self.encoder.embed(batch)
        with torch.inference_mode():
            return torch.softmax(self.head(embeddings) / self.config.temperature, dim=-1)

    def postprocess(self, output: torch.Tensor) -> list[Any]:
        rows: list[list[float]] = output.tolist()
        return [
            {
                "label": self.labels[max(range(len(row)), key=row.__getitem__)],
                "probabilities": dict(zip(self.labels, row, strict=True)),
            }
            for row in rows
        ]

    def decode_v2(self, inputs: Mapping[str, base.Tensor], parameters: Mapping[str, Any]) -> list[Any]:
        return [{"text": t} for t in base.column(inputs, TEXT) or []]

    def encode_v2(self, results: Sequence[Any]) -> list[base.Tensor]:
        n = len(results)
        return [
            base.Tensor("label", "BYTES", (n,), [r["label"] for r in results]),
            base.Tensor(
                "probabilities",
                "FP32",
                (n, len(self.labels)),
                [r["probabilities"][label] for r in results for label in self.labels],
            ),
        ]
