"""Built-in gate presets, as raw gate mappings (the same shape a user writes).

A preset is data, not code: ``parse_gates`` deep-merges a Candidate's overrides into these
mappings and validates the result like any user gate, so every threshold is overridable
and a preset can never bypass validation. docs/gates.md explains each gate.

Model-server series are selected by the target labels the chart's PodMonitor gives them
(``shadowgate.core.labels``: ``namespace``, and ``target``/``variant`` from the Pod labels
``shadowgate.dev/target``/``shadowgate.dev/variant``), so the same queries work on any cluster
the chart monitors and on the local stack. Router series carry their own ``route`` and
``variant`` and are not per namespace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shadowgate.core.labels import NAMESPACE, TARGET, VARIANT

_ROUTER = 'route="{route}",variant="{variant}"'
# One selector for every model-server series, the process's CPU seconds included: all of them
# carry the Pod's target labels.
_SERVER = f'{NAMESPACE}="{{namespace}}",{TARGET}="{{target}}",{VARIANT}="{{variant}}"'

NOCLICKS = f"sum(increase(shadowgate_router_noclicks_total{{{_ROUTER}}}[{{window}}]))"
CLICKS = f"sum(increase(shadowgate_router_clicks_total{{{_ROUTER}}}[{{window}}]))"
# Decided impressions; "or vector(0)" keeps an arm with no clicks at all from becoming no data.
DECIDED = f"{NOCLICKS} + ({CLICKS} or vector(0))"
LATENCY_QUANTILE = (
    "histogram_quantile({quantile}, sum by (le) "
    f"(increase(model_server_request_duration_seconds_bucket{{{_SERVER}}}[{{window}}])))"
)
LATENCY_COUNT = f"sum(increase(model_server_request_duration_seconds_count{{{_SERVER}}}[{{window}}]))"
CPU_PER_1000 = (
    f"1000 * sum(increase(process_cpu_seconds_total{{{_SERVER}}}[{{window}}]))"
    f" / sum(increase(model_server_requests_total{{{_SERVER}}}[{{window}}]))"
)

# The evaluation results' key paths (relative to the results' ``metrics``; see
# shadowgate.evaluation.evaluator): classifier metrics under ``classification``, retriever
# metrics under ``retrieval`` (``global`` and ``slices.<name>``), and ``safety`` for both
# retrievers and rerankers.
RARE_CRITICAL_INTENTS = ("order_problem", "refund_request", "age_restricted")
# The operator's answers for the rollback gate (observations.Checks keys).
ROUTER_ACCEPTS_ZERO_WEIGHT = "router-accepts-zero-weight"
PRIMARY_HEALTHY = "primary-healthy"


def mangaassist() -> list[dict[str, Any]]:
    """The MangaAssist release gates: the nine of issue 6, and no-slice-regression."""
    return [
        {
            "name": "user-visible-quality",
            "kind": "proportion",
            "description": "No-click rate (no-clicks / decided impressions) must fall; sequential mSPRT.",
            "phases": ["canary"],
            "critical": True,
            "events": NOCLICKS,
            "trials": DECIDED,
            "direction": "lower",
            "hypothesis": "superiority",
            "alpha": 0.05,
            "tau": 0.04,
            "minSamples": 500,
        },
        {
            "name": "business-weighted-harm",
            "kind": "relative",
            "source": "evaluation",
            "modelKinds": ["classifier"],
            "description": "Mean business cost of misroutes per golden example (the golden set's "
            "cost table), versus baseline.",
            "metric": "classification.harm",
            "direction": "lower",
            "margin": 0.01,
        },
        {
            "name": "rare-class-recall",
            "kind": "relative",
            "source": "evaluation",
            "modelKinds": ["classifier"],
            "description": "Recall floor and no regression for low-volume critical intents.",
            "direction": "higher",
            "margin": 0.0,
            "metrics": {f"classification.classes.{c}.recall": {"min": 0.8} for c in RARE_CRITICAL_INTENTS},
        },
        {
            "name": "factuality",
            "kind": "threshold",
            "source": "evaluation",
            "modelKinds": ["retriever", "reranker"],
            "description": "Share of returned items not grounded in the catalog (unknown id, wrong facts).",
            "metric": "safety.ungrounded_item_rate",
            "max": 0.02,
        },
        {
            "name": "spoiler-safety",
            "kind": "threshold",
            "source": "evaluation",
            "modelKinds": ["retriever", "reranker"],
            "critical": True,
            "description": "Share of responses that reveal a title's spoiler.",
            "metric": "safety.spoiler_rate",
            "max": 0.0,
        },
        {
            "name": "latency",
            "kind": "latency",
            "description": "p95/p99 end-to-end latency versus primary, and an absolute ceiling.",
            "query": LATENCY_QUANTILE,
            "countQuery": LATENCY_COUNT,
            "minSamples": 200,
            "quantiles": {
                "p95": {"maxRatio": 1.2, "maxSeconds": 0.25, "slackSeconds": 0.002},
                "p99": {"maxRatio": 1.3, "maxSeconds": 0.5, "slackSeconds": 0.005},
            },
        },
        {
            "name": "cost",
            "kind": "relative",
            "description": "CPU-seconds per 1,000 requests versus primary.",
            "metric": CPU_PER_1000,
            "direction": "lower",
            "comparison": "ratio",
            "margin": 0.25,
        },
        {
            "name": "rollback",
            "kind": "check",
            "critical": True,
            "description": "Before the first canary step: router accepts weight 0, primary is healthy.",
            "checks": [ROUTER_ACCEPTS_ZERO_WEIGHT, PRIMARY_HEALTHY],
        },
        {
            "name": "offline-quality",
            "kind": "relative",
            "source": "evaluation",
            "modelKinds": ["retriever"],
            "description": "Golden-set Recall@3 / NDCG@10, globally and on the iyashikei slice.",
            "direction": "higher",
            "margin": 0.01,
            "metrics": {
                "retrieval.global.recall@3": {},
                "retrieval.global.ndcg@10": {},
                # The seed's bar: iyashikei Recall@3 >= 0.78 and above the baseline.
                "retrieval.slices.iyashikei.recall@3": {"min": 0.78, "margin": -0.01},
            },
        },
        {
            # offline-quality looks at the global mean and the slice the candidate targets; a
            # candidate can lift both while breaking other shelves (the first iyashikei
            # adapter: comedy slice of life 1.00 -> 0.28). Every slice the evaluation
            # reports is checked, paired by query, Holm-corrected across slices.
            "name": "no-slice-regression",
            "kind": "slice-regression",
            "source": "evaluation",
            "modelKinds": ["retriever"],
            "description": "No golden-set slice's Recall@3 may drop more than 0.05 below the "
            "baseline's (paired exact sign test per slice, Holm across slices).",
            "family": "retrieval",
            "metric": "recall@3",
            "margin": 0.05,
            "alpha": 0.05,
        },
    ]


PRESETS: dict[str, Callable[[], list[dict[str, Any]]]] = {"mangaassist": mangaassist}
