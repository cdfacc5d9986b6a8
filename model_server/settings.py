"""Server settings, read from flags and the environment at start-up (never at import)."""

from __future__ import annotations

import os
import pathlib
import tempfile
from dataclasses import dataclass, field

VARIANTS = ("primary", "shadow", "canary")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    inference_port: int = 8080
    management_port: int = 8081
    metrics_port: int = 8082
    variant: str = "primary"
    models: tuple[str, ...] = ()
    model_store: pathlib.Path = field(
        default_factory=lambda: pathlib.Path(tempfile.gettempdir()) / "model-server-store"
    )
    max_body_bytes: int = 1 << 20
    max_text_chars: int = 2048
    max_batch_instances: int = 256
    request_timeout_ms: float = 30_000.0
    torch_threads: int = 0  # 0: one per CPU core
    log_level: str = "info"
    # Overrides the start-up archives' manifest handler; empty: each archive's own.
    handler: str = ""

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        for name in ("inference_port", "management_port", "metrics_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ValueError(f"{name.replace('_', '-')} must be between 0 and 65535")
        for name in ("max_body_bytes", "max_text_chars", "max_batch_instances", "request_timeout_ms"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.torch_threads < 0:
            raise ValueError(f"--torch-threads must be 0 (one per core) or more, got {self.torch_threads}")


def default_host() -> str:
    """``$POD_IP`` on the local stack (each Pod has its own loopback address), else 127.0.0.1."""
    return os.environ.get("POD_IP") or "127.0.0.1"


def default_variant() -> str:
    return os.environ.get("SHADOWGATE_VARIANT") or "primary"
