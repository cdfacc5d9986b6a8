"""The model repository: readiness, default versions, conflicts, failures kept with reasons."""

from __future__ import annotations

import pathlib

import pytest

from model_server.errors import Conflict, NotFound, NotReady
from model_server.handlers import base
from model_server.metrics import ServerMetrics
from model_server.repository import ModelRepository, RegisterOptions, Status


def _repo(tmp_path: pathlib.Path) -> ModelRepository:
    return ModelRepository(tmp_path / "store", ServerMetrics("primary"), base.Limits())


async def test_not_ready_until_startup_models_are_listed_and_loaded(
    tmp_path: pathlib.Path, archives: dict[str, pathlib.Path]
) -> None:
    repo = _repo(tmp_path)
    assert repo.all_ready()  # nothing registered, nothing pending
    (task,) = repo.load_at_startup([str(archives["classifier"])])
    assert not repo.all_ready()
    entry = await task
    assert entry.status is Status.READY and repo.all_ready()
    await repo.close()


async def test_default_version_rules(tmp_path: pathlib.Path, archives: dict[str, pathlib.Path]) -> None:
    repo = _repo(tmp_path)
    await repo.register(str(archives["retriever"]), RegisterOptions())
    await repo.register(str(archives["retriever_lora"]), RegisterOptions())
    assert repo.resolve("retriever").version == "1.0.0"  # first registered stays default
    repo.set_default("retriever", "1.1.0")
    assert repo.resolve("retriever").version == "1.1.0"
    await repo.unregister("retriever", "1.1.0")
    assert repo.default_version("retriever") == "1.0.0"  # falls back to a remaining version
    with pytest.raises(NotFound, match=r"unknown version '1\.1\.0'"):
        repo.set_default("retriever", "1.1.0")
    with pytest.raises(Conflict, match="already registered"):
        await repo.register(str(archives["retriever"]), RegisterOptions())
    await repo.unregister("retriever", None)
    with pytest.raises(NotFound, match="unknown model 'retriever'"):
        repo.resolve("retriever")
    await repo.close()


async def test_failed_load_is_listed_with_reason_and_can_be_replaced(
    tmp_path: pathlib.Path, archives: dict[str, pathlib.Path]
) -> None:
    repo = _repo(tmp_path)
    entry = await repo.register(str(tmp_path / "missing-retriever.tar.gz"), RegisterOptions())
    assert (entry.name, entry.version, entry.status) == ("missing-retriever", "unknown", Status.FAILED)
    assert entry.error is not None and "does not exist" in entry.error
    assert not repo.all_ready()
    with pytest.raises(NotReady, match="not ready \\(FAILED: missing file"):
        entry.serving()
    await repo.unregister("missing-retriever", None)
    assert repo.all_ready()
    await repo.close()


async def test_batch_overrides_apply(tmp_path: pathlib.Path, archives: dict[str, pathlib.Path]) -> None:
    repo = _repo(tmp_path)
    entry = await repo.register(
        str(archives["reranker"]), RegisterOptions(batch_size=2, max_batch_delay_ms=0, workers=3)
    )
    described = repo.describe(entry)
    assert described["batch"] == {"batch_size": 2, "max_batch_delay_ms": 0.0, "queue_size": 256}
    assert described["workers"] == 3 and described["default"] is True
    await repo.close()


async def test_handler_override_replaces_the_manifests_handler(
    tmp_path: pathlib.Path, archives: dict[str, pathlib.Path]
) -> None:
    """``serve --handler``, as the operator passes a Candidate's model.handler: the same handler
    as the manifest loads; another built-in is used instead of the manifest's (and fails on
    this archive's files with the reason); an unknown one fails with the reason."""
    repo = _repo(tmp_path)
    (same,) = repo.load_at_startup([str(archives["classifier"])], handler="classifier")
    entry = await same
    assert (entry.status, entry.handler_name) == (Status.READY, "classifier")
    other = await repo.register(str(archives["retriever"]), RegisterOptions(handler="classifier"))
    assert other.handler_name == "classifier" and other.status is Status.FAILED
    # The classifier reads its own config keys: a retriever archive's are named as the reason.
    assert other.error is not None and "config.labels" in other.error
    await repo.unregister("retriever", None)
    unknown = await repo.register(str(archives["retriever"]), RegisterOptions(handler="nosuchhandler"))
    assert unknown.status is Status.FAILED and unknown.error is not None and "nosuchhandler" in unknown.error
    await repo.close()
