"""The HTTP layer: raw ASGI apps (no framework) for the inference port (TorchServe,
KServe v1 and Open Inference Protocol v2), the management port and the metrics port."""
