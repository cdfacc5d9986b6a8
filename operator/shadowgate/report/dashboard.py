"""The PromQL of the shipped Grafana dashboard, with its template variables filled in.

The dashboard JSON lives in the chart (``charts/shadowgate/files/shadowgate-dashboard.json``) and is
the one source of truth; this module only reads it. ``queries`` is what the e2e test calls after a
rollout to check that every panel returns data from the real Prometheus.
"""

from __future__ import annotations

import json
import pathlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# operator/shadowgate/report/dashboard.py -> repository root is four levels up.
DEFAULT_PATH = (
    pathlib.Path(__file__).resolve().parents[3]
    / "charts"
    / "shadowgate"
    / "files"
    / "shadowgate-dashboard.json"
)

# Grafana's built-in interval variables, replaced with values that suit a few-minute rollout.
BUILTIN_VARIABLES: Mapping[str, str] = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
}

_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


@dataclass(frozen=True)
class PanelQuery:
    """One target of one panel: where it is shown and the PromQL it runs."""

    panel: str
    ref_id: str
    expr: str
    legend: str = ""


class DashboardError(ValueError):
    """The dashboard file is missing, not JSON, or a query names an unknown variable."""


def load(path: pathlib.Path | str = DEFAULT_PATH) -> dict[str, Any]:
    p = pathlib.Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DashboardError(f"dashboard file not found: {p}") from exc
    except json.JSONDecodeError as exc:
        raise DashboardError(f"dashboard {p} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("panels"), list):
        raise DashboardError(f"dashboard {p} has no 'panels' list")
    return data


def variable_names(dashboard: Mapping[str, Any]) -> list[str]:
    return [str(v["name"]) for v in dashboard.get("templating", {}).get("list", [])]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    # Rows may carry their own panels when collapsed; walk them too.
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Replace ``$name`` and ``${name}`` with ``values[name]``; an unknown name is an error, because
    Grafana would send it literally and Prometheus would reject the query."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in values:
            raise DashboardError(f"query uses unknown variable ${name}: {expr}")
        return values[name]

    return _VARIABLE.sub(repl, expr)


def queries(
    path: pathlib.Path | str = DEFAULT_PATH, variables: Mapping[str, str] | None = None
) -> list[PanelQuery]:
    """Every panel target's PromQL, variables filled in.

    A dashboard variable left out of ``variables`` becomes ``.*`` (Grafana's "All" for these
    regex matchers), so by default each query covers every namespace, target and candidate.
    """
    dashboard = load(path)
    values: dict[str, str] = dict(BUILTIN_VARIABLES)
    values.update({name: ".*" for name in variable_names(dashboard)})
    values.update(variables or {})
    out: list[PanelQuery] = []
    for panel in _panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            expr = target.get("expr")
            if not expr:
                continue
            out.append(
                PanelQuery(
                    panel=str(panel.get("title", "")),
                    ref_id=str(target.get("refId", "")),
                    expr=substitute(str(expr), values),
                    legend=str(target.get("legendFormat", "")),
                )
            )
    return out


def without_data(
    prometheus_url: str,
    path: pathlib.Path | str = DEFAULT_PATH,
    variables: Mapping[str, str] | None = None,
    client: Any = None,
) -> list[tuple[PanelQuery, str]]:
    """Run every panel query as an instant query; return those that get no (non-NaN) data, each
    with the reason. Empty means every panel would show something. For the e2e test, after a run."""
    import httpx

    http = client or httpx.Client(timeout=10.0)
    problems: list[tuple[PanelQuery, str]] = []
    for q in queries(path, variables):
        try:
            resp = http.get(f"{prometheus_url.rstrip('/')}/api/v1/query", params={"query": q.expr})
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            problems.append((q, f"query failed: {exc}"))
            continue
        if body.get("status") != "success":
            problems.append((q, f"Prometheus error: {body.get('error', resp.status_code)}"))
        elif not any(r["value"][1] not in ("NaN", "+Inf", "-Inf") for r in body["data"]["result"]):
            problems.append((q, "no data"))
    return problems
