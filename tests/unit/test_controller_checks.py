"""The operator's observed facts reach the preset's check gate under the names it asks for
(integration fix from the e2e work: the rollback gate stayed NoData, holding every mangaassist
Candidate in Shadow). The router check is answered only when proven (tests/unit/test_rollback_applied.py)."""

from __future__ import annotations

import pytest
from shadowgate.controller.analysis import AnalysisRequest, EngineAnalyzer, operator_checks
from shadowgate.core.gates import parsing, presets
from shadowgate.core.lifecycle.phases import Phase
from shadowgate.core.verdicts import Verdict
from shadowgate.sources.base import QueryContext
from shadowgate.traffic.applied import Report, RouteEvidence


@pytest.mark.parametrize(
    ("checks", "route_applied", "want"),
    [
        pytest.param(
            {"rollback": True},
            True,
            {"rollback": True, presets.ROUTER_ACCEPTS_ZERO_WEIGHT: True, presets.PRIMARY_HEALTHY: True},
            id="healthy-and-applied",
        ),
        pytest.param(
            {"rollback": True},
            None,
            {"rollback": True, presets.PRIMARY_HEALTHY: True},
            id="router-unproven-is-left-out",
        ),
        pytest.param(
            {"rollback": False},
            True,
            {"rollback": False, presets.ROUTER_ACCEPTS_ZERO_WEIGHT: True, presets.PRIMARY_HEALTHY: False},
            id="primary-unavailable",
        ),
        pytest.param({}, None, {}, id="nothing-observed"),
    ],
)
def test_operator_checks(checks: dict[str, bool], route_applied: bool | None, want: dict[str, bool]) -> None:
    assert operator_checks(checks, route_applied) == want


@pytest.mark.parametrize(
    ("available", "verdict"),
    [pytest.param(True, Verdict.PASS, id="pass"), pytest.param(False, Verdict.FAIL, id="fail")],
)
def test_preset_rollback_gate_is_decided(available: bool, verdict: Verdict) -> None:
    request = AnalysisRequest(
        context=QueryContext(namespace="ns", target="retriever", candidate="c"),
        phase=Phase.SHADOW,
        gates=tuple(parsing.parse_gates({"preset": "mangaassist"})),
        checks={"rollback": available},
        # A Gateway that accepted the route's current generation: proof the route is applied.
        route=RouteEvidence(written=3, reports=(Report("Gateway gw", 3),)),
    )
    results = {r.gate: r for r in EngineAnalyzer({}).analyse(request)}
    assert results["rollback"].verdict is verdict
