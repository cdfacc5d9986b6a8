"""The operator's observed facts reach the preset's check gate under the names it asks for
(integration fix from the e2e work: the rollback gate stayed NoData, holding every mangaassist
Candidate in Shadow)."""

from __future__ import annotations

import pytest
from shadowgate.controller.analysis import AnalysisRequest, EngineAnalyzer, operator_checks
from shadowgate.core.gates import presets
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.verdicts import Verdict
from shadowgate.sources.base import QueryContext


@pytest.mark.parametrize(
    ("checks", "want"),
    [
        pytest.param(
            {"rollback": True},
            {"rollback": True, presets.ROUTER_ACCEPTS_ZERO_WEIGHT: True, presets.PRIMARY_HEALTHY: True},
            id="healthy",
        ),
        pytest.param(
            {"rollback": False},
            {"rollback": False, presets.ROUTER_ACCEPTS_ZERO_WEIGHT: True, presets.PRIMARY_HEALTHY: False},
            id="primary-unavailable",
        ),
        pytest.param({}, {}, id="nothing-observed"),
    ],
)
def test_operator_checks(checks: dict[str, bool], want: dict[str, bool]) -> None:
    assert operator_checks(checks) == want


@pytest.mark.parametrize(
    ("available", "verdict"),
    [pytest.param(True, Verdict.PASS, id="pass"), pytest.param(False, Verdict.FAIL, id="fail")],
)
def test_preset_rollback_gate_is_decided(available: bool, verdict: Verdict) -> None:
    request = AnalysisRequest(
        context=QueryContext(namespace="ns", target="retriever", candidate="c"),
        phase=Phase.SHADOW,
        gates={"preset": "mangaassist"},
        checks={"rollback": available},
    )
    results = {r.gate: r for r in EngineAnalyzer({}).analyse(request)}
    assert results["rollback"].verdict is verdict
