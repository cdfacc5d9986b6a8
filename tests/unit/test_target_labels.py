"""The label names shadowgate queries are defined once and are exactly what the chart produces.

The chart's PodMonitor relabelings come from one file (charts/shadowgate/files/pod-relabelings.yaml);
``shadowgate.core.labels`` names the same labels; and every label a gate preset, a dashboard panel
or an alert rule filters, groups or templates by is either a label the process emits on that metric
or a target label the chart's monitors add. A query for ``shadowgate_dev_target`` (the old node
agent's name, which no real cluster produces) fails here.
"""

from __future__ import annotations

import json
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase
from shadowgate.controller.metrics import Metrics
from shadowgate.core import labels
from shadowgate.core.gates import presets
from shadowgate.devstack import prometheus_sd
from test_chart import CHART, ROOT, find, render

from model_server.metrics import ServerMetrics
from router.metrics import RouterMetrics

MONITORING = (
    "monitoring.serviceMonitor.enabled=true",
    "monitoring.podMonitor.enabled=true",
    "monitoring.prometheusRule.enabled=true",
)
DASHBOARD = CHART / "files" / "shadowgate-dashboard.json"
ALERTS = CHART / "files" / "alerts.yaml"


# --- the one source and the chart ------------------------------------------------------------


def test_chart_pod_monitor_has_exactly_the_shared_relabelings() -> None:
    docs = render(*MONITORING, api_versions=("monitoring.coreos.com/v1",))
    (pm,) = find(docs, "PodMonitor")
    (endpoint,) = pm["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == prometheus_sd.METRICS_PORT
    assert endpoint["relabelings"] == prometheus_sd.pod_relabelings()
    assert not endpoint.get("honorLabels"), "the Pod's labels must win over the process's"
    (expr,) = pm["spec"]["selector"]["matchExpressions"]
    assert expr == {"key": labels.POD_LABEL_VARIANT, "operator": "Exists"}


def test_chart_service_monitor_keeps_the_operators_own_labels() -> None:
    # Without honorLabels the operator Service's namespace would replace the Candidate's.
    (sm,) = find(render(*MONITORING, api_versions=("monitoring.coreos.com/v1",)), "ServiceMonitor")
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["port"] == prometheus_sd.METRICS_PORT
    assert endpoint["honorLabels"] is True


def test_core_labels_name_the_shared_files_target_labels() -> None:
    rules = prometheus_sd.pod_relabelings()
    assert tuple(r["targetLabel"] for r in rules) == labels.POD_TARGET_LABELS
    sources = {r["targetLabel"]: r["sourceLabels"] for r in rules}
    assert sources[labels.NAMESPACE] == ["__meta_kubernetes_namespace"]
    assert sources[labels.POD] == ["__meta_kubernetes_pod_name"]
    assert sources[labels.TARGET] == [prometheus_sd.meta_label(labels.POD_LABEL_TARGET)]
    assert sources[labels.VARIANT] == [prometheus_sd.meta_label(labels.POD_LABEL_VARIANT)]
    # Plain copies: action replace, whole value; nothing else could hide in the file.
    assert all(set(r) == {"sourceLabels", "targetLabel"} for r in rules)


def test_operator_sets_the_pod_labels_the_relabelings_read() -> None:
    from shadowgate.controller import workload

    assert (workload.TARGET, workload.VARIANT) == (labels.POD_LABEL_TARGET, labels.POD_LABEL_VARIANT)


# --- which labels each metric has once scraped ---------------------------------------------------


def _own_labels(registry: CollectorRegistry) -> dict[str, set[str]]:
    """Series name -> the labels the process emits on it (histogram buckets add ``le``)."""
    out: dict[str, set[str]] = {}
    for collector, names in registry._collector_to_names.items():  # no public listing of label names
        if isinstance(collector, MetricWrapperBase):
            for name in names:
                out[name] = set(collector._labelnames) | ({"le"} if name.endswith("_bucket") else set())
        else:
            for family in collector.collect():
                for sample in family.samples:
                    out.setdefault(sample.name, set()).update(sample.labels)
    return out


def _scraped_labels() -> dict[str, set[str]]:
    """Series name -> every label it can carry in Prometheus: its own plus its scrape's."""
    pods = set(labels.POD_TARGET_LABELS) | set(labels.SCRAPE_LABELS)
    services = set(labels.SERVICE_TARGET_LABELS) | set(labels.SCRAPE_LABELS)
    out: dict[str, set[str]] = {}
    # Model servers: the PodMonitor. Operator and routers: the ServiceMonitor.
    for registry, target in (
        (ServerMetrics("primary").registry, pods),
        (Metrics().registry, services),
        (RouterMetrics().registry, services),
    ):
        for name, own in _own_labels(registry).items():
            out.setdefault(name, set()).update(own | target)
    return out


SCRAPED = _scraped_labels()

# --- a small PromQL label extractor (enough for shadowgate's own queries) --------------------------

_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
_LABEL_VALUES = re.compile(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s*,\s*(\w+)\s*\)")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")  # a preset template's {window}, {namespace}, ...


def violations(expr: str, extra_labels: tuple[str, ...] = ()) -> list[str]:
    """Each label ``expr`` uses that none of the metrics it reads can carry."""
    expr = _PLACEHOLDER.sub("x", expr)
    metrics = {t for t in _IDENT.findall(expr) if t in SCRAPED}
    if not metrics:
        return [f"reads no known metric: {expr}"]
    available = set().union(*(SCRAPED[m] for m in metrics))
    bad = []
    for metric, body in _SELECTOR.findall(expr):
        if metric in SCRAPED:
            bad += [f"{metric}{{{name}}}" for name in _MATCHER.findall(body) if name not in SCRAPED[metric]]
        else:
            bad.append(f"unknown metric {metric}")
    for group in _GROUPING.findall(expr):
        bad += [f"by/on ({n})" for n in (s.strip() for s in group.split(",")) if n and n not in available]
    for metric, name in _LABEL_VALUES.findall(expr):
        if name not in SCRAPED.get(metric, set()):
            bad.append(f"label_values({metric}, {name})")
    bad += [f"$labels.{n}" for n in extra_labels if n not in available]
    return bad


def _preset_queries() -> Iterator[tuple[str, str]]:
    for preset, gates in presets.PRESETS.items():
        for gate in gates():
            if gate.get("source", "prometheus") != "prometheus" or gate["kind"] == "check":
                continue
            for key in ("events", "trials", "query", "countQuery", "metric"):
                if key in gate:
                    yield f"{preset}/{gate['name']}.{key}", gate[key]


def _dashboard_queries() -> Iterator[tuple[str, str]]:
    doc = json.loads(DASHBOARD.read_text())
    for var in doc["templating"]["list"]:
        if var.get("type") == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            yield f"variable {var['name']}", query

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for p in items:
            yield p
            yield from panels(p.get("panels") or [])

    for panel in panels(doc["panels"]):
        for i, target in enumerate(panel.get("targets") or []):
            yield f"panel {panel.get('title')!r} target {i}", target["expr"]


def _alert_rules() -> Iterator[tuple[str, str, tuple[str, ...]]]:
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            text = " ".join(str(v) for v in (rule.get("annotations") or {}).values())
            templated = tuple(re.findall(r"\$labels\.(\w+)", text))
            yield rule.get("alert") or rule["record"], rule["expr"], templated


QUERIES = [
    *[pytest.param(q, (), id=name) for name, q in _preset_queries()],
    *[pytest.param(q, (), id=name) for name, q in _dashboard_queries()],
    *[pytest.param(q, templated, id=f"alert {name}") for name, q, templated in _alert_rules()],
]


def test_every_kind_of_query_is_checked() -> None:
    ids = [str(p.id) for p in QUERIES]
    assert any(i.startswith("mangaassist/latency.") for i in ids)
    assert any(i.startswith("mangaassist/cost.") for i in ids)
    assert sum(i.startswith("panel ") for i in ids) >= 10
    assert sum(i.startswith("alert ") for i in ids) >= 5


@pytest.mark.parametrize(("expr", "templated"), QUERIES)
def test_query_uses_only_labels_the_process_or_the_chart_produce(
    expr: str, templated: tuple[str, ...]
) -> None:
    assert violations(expr, templated) == []


@pytest.mark.parametrize(
    "expr",
    [
        pytest.param(
            'sum(increase(model_server_requests_total{namespace="x",shadowgate_dev_target="r"}[5m]))',
            id="node-agent-target",
        ),
        pytest.param("sum by (shadowgate_dev_variant) (process_cpu_seconds_total)", id="node-agent-variant"),
        pytest.param('shadowgate_candidate_phase{variant="canary"}', id="operator-series-have-no-variant"),
        pytest.param("label_values(shadowgate_candidate_weight, variant)", id="label-values"),
    ],
)
def test_a_label_nothing_produces_is_caught(expr: str) -> None:
    assert violations(expr)


def test_no_product_query_file_mentions_node_agent_labels() -> None:
    # Belt and braces for strings the extractor does not parse (descriptions, docs of the queries).
    product = [
        DASHBOARD,
        ALERTS,
        ROOT / "deploy" / "prometheus" / "alerts.yaml",
        ROOT / "deploy" / "grafana" / "shadowgate-dashboard.json",
        *(ROOT / "operator" / "shadowgate" / p for p in ("core", "sources", "controller", "report")),
    ]
    files = [f for p in product for f in ([p] if p.is_file() else sorted(p.rglob("*.py")))]
    offenders = [str(f.relative_to(ROOT)) for f in files if re.search(r"shadowgate_dev_\w+", f.read_text())]
    assert offenders == []


def test_scraped_label_table_knows_the_gated_metrics() -> None:
    # The table above is built from the processes' own registries; a renamed metric shows up here.
    assert {"namespace", "target", "variant", "model", "le"} <= SCRAPED[
        "model_server_request_duration_seconds_bucket"
    ]
    assert {"namespace", "target", "variant"} <= SCRAPED["process_cpu_seconds_total"]
    assert {"namespace", "candidate", "target"} <= SCRAPED["shadowgate_candidate_weight"]
    assert pathlib.Path(prometheus_sd.POD_RELABELINGS).is_file()
