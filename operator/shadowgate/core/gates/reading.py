"""Field readers several gate kinds share: metric references and min/max bounds.

A metric reference means what the gate's source makes of it: a PromQL template (checked for
unknown placeholders and unbalanced brackets) or a dotted key path into evaluation results.
"""

from __future__ import annotations

from shadowgate.core.gates import templates
from shadowgate.core.gates.fields import Fields
from shadowgate.core.gates.specs import Header, MetricCheck, Source


def metric(f: Fields, key: str, value: str, source: Source, allowed: frozenset[str]) -> str:
    if source is Source.PROMETHEUS:
        unknown = templates.unknown_variables(value, allowed)
        if unknown:
            raise f.error(key, f"unknown template variable {{{unknown[0]}}} (known: {sorted(allowed)})")
        if not templates.balanced(value):
            raise f.error(key, "unbalanced brackets or quotes in the PromQL template")
    else:
        bare = value.replace("{key}", "") if "key" in allowed else value
        if any(c.isspace() for c in value) or "{" in bare or "}" in bare or value.startswith("."):
            raise f.error(
                key, f"must be a dotted key path like 'retrieval.slices.iyashikei.recall@3', got {value!r}"
            )
    return value


def bounds(f: Fields) -> tuple[float | None, float | None]:
    low, high = f.number("min", None), f.number("max", None)
    if low is not None and high is not None and low > high:
        raise f.error("min", f"min {low} is above max {high}")
    return low, high


def checks(f: Fields, header: Header, relative: bool) -> tuple[MetricCheck, ...]:
    """``metric`` + bounds, or ``metrics: {<metric>: {min, max, margin}}``; a threshold
    (``relative`` False) needs a bound on every metric, a relative gate reads margins."""
    if f.has("metric") == f.has("metrics"):
        raise f.error("metric", "give exactly one of 'metric' (one metric) or 'metrics' (a mapping)")
    if f.has("metric"):
        name = metric(f, "metric", f.string("metric"), header.source, templates.VARIABLES)
        low, high = bounds(f)
        margin = f.number("margin", 0.0) if relative else None
        out = [MetricCheck(name, low, high, margin)]
    else:
        default_margin = f.number("margin", 0.0) if relative else None
        out = []
        for name, sub_raw in f.mapping("metrics").items():
            metric(f, "metrics", name, header.source, templates.VARIABLES)
            sub = f.nested("metrics", name, sub_raw or {})
            low, high = bounds(sub)
            margin = sub.number("margin", default_margin) if relative else None
            sub.finish()
            out.append(MetricCheck(name, low, high, margin))
    if not relative:
        for c in out:
            if c.min is None and c.max is None:
                raise f.error("max", f"a threshold on {c.metric!r} needs min and/or max")
    return tuple(out)
