"""The demo's pure parts: rendering the examples for the local stack, the demo's spec overrides,
the per-transition evidence line, the rollback timing, and the CLI's bad-input messages."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
import yaml
from shadowgate.cli import main as cli
from shadowgate.controller import candidate as candidate_spec
from shadowgate.core.gates import parsing
from shadowgate.demo import manifests, scenario, watch
from shadowgate.demo.settings import Settings, Timings


def _archives(tmp: pathlib.Path) -> dict[str, pathlib.Path]:
    out = {}
    for name, version in (
        ("retriever-baseline", "1.0.0"),
        ("retriever-iyashikei", "1.1.0"),
        ("retriever-degraded", "1.1.1-shuffled"),
    ):
        path = tmp / name
        path.mkdir()
        (path / "MANIFEST.json").write_text(json.dumps({"name": "retriever", "version": version}))
        out[name] = path
    return out


def test_production_render_uses_the_node_image_and_models_volume(tmp_path: pathlib.Path) -> None:
    docs = manifests.production(
        _archives(tmp_path), "localhost/shadowgate/model-server:abc", tmp_path / "on-node"
    )
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "ConfigMap"]
    pod = docs[0]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    # The image's entry point and the example's archive URI as written.
    assert container["command"] == ["model-server"]
    args = container["args"]
    assert args[args.index("--model") + 1] == "file:///models/retriever-baseline"
    assert (container["image"], container["imagePullPolicy"]) == (
        "localhost/shadowgate/model-server:abc",
        "Never",
    )
    assert {"name": "models", "mountPath": "/models", "readOnly": True} in container["volumeMounts"]
    assert {"name": "models", "hostPath": {"path": str(tmp_path / "on-node"), "type": "Directory"}} in pod[
        "volumes"
    ]
    assert docs[0]["metadata"]["annotations"]["shadowgate.dev/version"] == "1.0.0"
    table = json.loads(docs[2]["data"]["route.json"])
    assert (table["route"], table["primary"]["service"]) == ("retriever", "retriever")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "kind: Deployment\nmetadata: {name: r}\nspec: {template: {spec: {containers: []}}}\n",
            "has no container",
            id="no-container",
        ),
        pytest.param(
            "kind: Deployment\nmetadata: {name: r}\n"
            "spec: {template: {spec: {containers: [{args: [serve]}]}}}\n",
            "no --model argument",
            id="no-model-flag",
        ),
        pytest.param(
            "kind: Deployment\nmetadata: {name: r}\n"
            "spec: {template: {spec: {containers: [{args: [--model, 'file:///models/other']}]}}}\n",
            "names no built archive",
            id="unknown-archive",
        ),
    ],
)
def test_production_render_errors(tmp_path: pathlib.Path, text: str, message: str) -> None:
    path = tmp_path / "prod.yaml"
    path.write_text(text)
    with pytest.raises(manifests.RenderError, match=message):
        manifests.production(_archives(tmp_path), "image", tmp_path, path)


@pytest.mark.parametrize(
    ("example", "archive"),
    [
        pytest.param(manifests.GOOD, "retriever-iyashikei", id="good"),
        pytest.param(manifests.DEGRADED, "retriever-degraded", id="degraded"),
    ],
)
def test_candidate_render_is_a_valid_spec_with_demo_timings(
    tmp_path: pathlib.Path, example: pathlib.Path, archive: str
) -> None:
    archives = _archives(tmp_path)
    doc = manifests.candidate(example, archives[manifests.CANDIDATE_ARCHIVES[example.name]], Timings())
    spec = doc["spec"]
    assert spec["model"]["archiveUri"] == f"file:///models/{archive}"
    assert spec["canary"]["steps"] == list(Timings().canary_steps)
    assert spec["analysis"]["interval"] == f"{Timings().analysis_interval_s}s"
    # The example's other fields survive (the demo only shortens clocks and sample floors).
    original = yaml.safe_load(example.read_text())["spec"]
    assert spec["target"] == original["target"] and spec["gates"]["preset"] == "mangaassist"
    candidate_spec.parse(spec)  # the operator accepts it
    gates = {g.header.name: g for g in parsing.parse_gates(spec["gates"])}
    assert getattr(gates["user-visible-quality"], "min_samples", None) == Timings().quality_min_samples


def test_candidate_render_rejects_other_kinds(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("kind: ConfigMap\n")
    with pytest.raises(manifests.RenderError, match="not a Candidate"):
        manifests.candidate(path, tmp_path, None)


@pytest.mark.parametrize(
    ("gates", "want"),
    [
        pytest.param([], "", id="none"),
        pytest.param(
            [
                {
                    "name": "cost",
                    "verdict": "Fail",
                    "evidence": {"value": 18.5, "baseline_value": 11.0, "threshold": 14.7},
                }
            ],
            "cost=Fail(18.5 vs base 11, bound 14.7)",
            id="relative",
        ),
        pytest.param(
            [{"name": "latency", "verdict": "Inconclusive", "reason": "InsufficientSamples", "evidence": {}}],
            "latency=Inconclusive(InsufficientSamples)",
            id="inconclusive",
        ),
        pytest.param(
            [{"name": "q", "verdict": "Pass", "evidence": {"value": 0.31, "candidate_samples": 420}}],
            "q=Pass(0.31, n=420)",
            id="samples",
        ),
    ],
)
def test_gate_evidence(gates: list[dict[str, Any]], want: str) -> None:
    assert watch.gate_evidence({"gates": gates}) == want


def _sample(at: float, phase: str, weight: float) -> watch.RouteSample:
    return watch.RouteSample(at=at, phase=phase, weight=weight, mirror=0, canary=None, shadow=None)


@pytest.mark.parametrize(
    ("failed_at", "samples", "want"),
    [
        pytest.param(None, [], None, id="never-failed"),
        pytest.param(
            "2026-11-26T00:00:10Z",
            [_sample(1795651205.0, "Canary", 25), _sample(1795651211.5, "RollingBack", 0)],
            1.5,
            id="weight-zero-after-failure",
        ),
        pytest.param("2026-11-26T00:00:10Z", [_sample(1795651212.0, "Canary", 25)], None, id="never-zero"),
        pytest.param(
            "2026-11-26T00:00:10Z", [_sample(1795651211.0, "RollingBack", 0)], None, id="never-served-users"
        ),
    ],
)
def test_rollback_seconds(
    failed_at: str | None, samples: list[watch.RouteSample], want: float | None
) -> None:
    status = {"failedAt": failed_at} if failed_at else {}
    assert scenario._rollback_seconds(status, samples) == want


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--rate", "0"], "rate must be > 0", id="rate"),
        pytest.param(["--timeout", "-1"], "--timeout must be > 0", id="timeout"),
    ],
)
def test_cli_bad_input(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", *argv]) == 2
    assert message in capsys.readouterr().err


def test_settings_reject_bad_namespace() -> None:
    with pytest.raises(ValueError, match="namespace must be a DNS label"):
        Settings(namespace="Bad_NS!")
