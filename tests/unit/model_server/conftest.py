"""Fixtures for the model server's unit tests: tiny real archives built once per session."""

from __future__ import annotations

import pathlib

import pytest

from model_server.archive import samples


@pytest.fixture(scope="session")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    root = tmp_path_factory.mktemp("archives")
    return {
        "retriever": samples.retriever(root / "retriever"),
        "retriever_lora": samples.retriever(root / "retriever-lora", version="1.1.0", adapter="lora"),
        "classifier": samples.classifier(root / "classifier"),
        "reranker": samples.reranker(root / "reranker"),
    }
