"""Evaluation gates apply only to the candidate's model kind (integration fix from the e2e work:
the mangaassist preset's classifier gates held a retriever Candidate in Evaluating forever,
because the analyzer applied every evaluation gate and a retriever has no classification
metrics)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
from shadowgate.controller import candidate, observe
from shadowgate.controller.analysis import AnalysisRequest, EngineAnalyzer
from shadowgate.core.gates import observations, parsing, specs
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.sources.base import QueryContext


def _spec(archive: str, handler: str | None = None) -> candidate.CandidateSpec:
    model: dict[str, Any] = {"archiveUri": archive, "version": "1.1.0"}
    if handler:
        model["handler"] = handler
    return candidate.parse({"target": {"deployment": "retriever", "route": "retriever"}, "model": model})


def _archive(tmp: pathlib.Path, handler: str) -> str:
    (tmp / "MANIFEST.json").write_text(json.dumps({"name": "retriever", "version": "1", "handler": handler}))
    return tmp.as_uri()


@pytest.mark.parametrize(
    ("handler_in_manifest", "handler_flag", "use_missing", "want"),
    [
        pytest.param("retriever", None, False, "retriever", id="from-manifest"),
        pytest.param("retriever", "classifier", False, "classifier", id="spec-handler-wins"),
        pytest.param("my.pkg:Custom", None, False, None, id="custom-handler-unknown-kind"),
        pytest.param("retriever", None, True, None, id="unreadable-archive"),
    ],
)
def test_model_kind(
    tmp_path: pathlib.Path,
    handler_in_manifest: str,
    handler_flag: str | None,
    use_missing: bool,
    want: str | None,
) -> None:
    archive = (tmp_path / "nope").as_uri() if use_missing else _archive(tmp_path, handler_in_manifest)
    assert observe._model_kind(_spec(archive, handler_flag)) == want


class _Everything:
    async def observe(self, spec: specs.GateSpec, context: QueryContext) -> observations.Observation:
        return observations.Values(candidate={c.metric: 0.0 for c in getattr(spec, "checks", ())})


@pytest.mark.parametrize(
    ("kind", "want"),
    [
        pytest.param(
            "retriever",
            {"factuality", "spoiler-safety", "offline-quality", "no-slice-regression"},
            id="retriever",
        ),
        pytest.param("classifier", {"business-weighted-harm", "rare-class-recall"}, id="classifier"),
        pytest.param(
            None,
            {
                "business-weighted-harm",
                "rare-class-recall",
                "factuality",
                "spoiler-safety",
                "offline-quality",
                "no-slice-regression",
            },
            id="unknown-all",
        ),
    ],
)
def test_analyzer_applies_gates_of_the_kind(kind: str | None, want: set[str]) -> None:
    analyzer = EngineAnalyzer({specs.Source.EVALUATION: _Everything})
    request = AnalysisRequest(
        context=QueryContext(namespace="ns", target="retriever", candidate="c"),
        phase=Phase.EVALUATING,
        gates=tuple(parsing.parse_gates({"preset": "mangaassist"})),
        model_kind=kind,
    )
    assert {r.gate for r in analyzer.analyse(request)} == want
