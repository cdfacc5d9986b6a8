"""Load weight files (safetensors or a torch state dict) and check tensor shapes, turning
every problem into an ArchiveError that names the file, the tensor and both shapes."""

from __future__ import annotations

import pathlib

import safetensors.torch
import torch

from model_server.errors import ArchiveError


def load_tensors(path: pathlib.Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            return dict(safetensors.torch.load_file(str(path), device="cpu"))
        if path.suffix in (".pt", ".pth", ".bin"):
            # weights_only: a state dict is data, never code.
            loaded = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
                raise ArchiveError(f"bad weights: {path.name} is not a state dict of tensors")
            return {str(k): v for k, v in loaded.items()}
    except ArchiveError:
        raise
    except Exception as exc:
        raise ArchiveError(f"bad weights: cannot read {path.name}: {exc}") from exc
    raise ArchiveError(f"bad weights: {path.name} must be .safetensors, .pt, .pth or .bin")


def expect(
    tensors: dict[str, torch.Tensor], key: str, shape: tuple[int | None, ...], source: str
) -> torch.Tensor:
    """The tensor ``key`` with the given shape (None matches any size), as float32."""
    if key not in tensors:
        raise ArchiveError(f"bad weights: {source} has no tensor {key!r} (has {sorted(tensors)})")
    tensor = tensors[key]
    actual = tuple(tensor.shape)
    if len(actual) != len(shape) or any(e is not None and e != a for e, a in zip(shape, actual, strict=True)):
        wanted = tuple("*" if e is None else e for e in shape)
        raise ArchiveError(f"shape mismatch: {source} {key} is {actual}, expected {wanted}")
    if not tensor.is_floating_point():
        raise ArchiveError(f"bad weights: {source} {key} has dtype {tensor.dtype}, expected a float type")
    return tensor.to(torch.float32)


def build_head(tensors: dict[str, torch.Tensor], in_dim: int, out_dim: int, source: str) -> torch.nn.Module:
    """A linear head (``linear.weight/bias``) or a one-hidden-layer ReLU MLP
    (``hidden.weight/bias``, ``out.weight/bias``) over ``in_dim`` features."""
    if "linear.weight" in tensors:
        expected_keys = {"linear.weight", "linear.bias"}
        head: torch.nn.Module = torch.nn.Linear(in_dim, out_dim)
        state = {
            "weight": expect(tensors, "linear.weight", (out_dim, in_dim), source),
            "bias": expect(tensors, "linear.bias", (out_dim,), source),
        }
    elif "hidden.weight" in tensors:
        expected_keys = {"hidden.weight", "hidden.bias", "out.weight", "out.bias"}
        hidden = expect(tensors, "hidden.weight", (None, in_dim), source)
        width = hidden.shape[0]
        head = torch.nn.Sequential(
            torch.nn.Linear(in_dim, width), torch.nn.ReLU(), torch.nn.Linear(width, out_dim)
        )
        state = {
            "0.weight": hidden,
            "0.bias": expect(tensors, "hidden.bias", (width,), source),
            "2.weight": expect(tensors, "out.weight", (out_dim, width), source),
            "2.bias": expect(tensors, "out.bias", (out_dim,), source),
        }
    else:
        raise ArchiveError(
            f"bad weights: {source} needs linear.weight/linear.bias or hidden.*/out.* tensors, "
            f"has {sorted(tensors)}"
        )
    unexpected = set(tensors) - expected_keys
    if unexpected:
        raise ArchiveError(f"bad weights: {source} has unexpected tensors {sorted(unexpected)}")
    head.load_state_dict(state)
    head.eval()
    return head
