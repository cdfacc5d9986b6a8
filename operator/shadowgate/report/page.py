"""The report as one self-contained HTML file: the PNG inlined as a data URI, the decisions
(history) and each gate's evidence as tables. No external CSS, scripts or fonts."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence

from shadowgate.core.lifecycle.status import format_time
from shadowgate.report.model import ReportData

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:8px 0 24px}th,td{border:1px solid #ccc;padding:4px 8px;font-size:13px}
th{background:#f3f3f3;text-align:left}.Pass{color:#2ca02c}.Fail{color:#d62728}.Inconclusive{color:#7f7f7f}
img{max-width:100%;border:1px solid #ddd}.warn{color:#a05a00}
"""


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], classes: Sequence[str] = ()) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{html.escape(classes[i])}"' if i < len(classes) and classes[i] else ""
        cells = "".join(f"<td>{html.escape('' if c is None else str(c))}</td>" for c in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _num(x: float | int | None) -> str:
    if x is None:
        return ""
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def render_html(data: ReportData, png: bytes) -> str:
    st = data.status
    title = f"Rollout report: {data.namespace}/{data.candidate}"
    image = base64.b64encode(png).decode("ascii")
    history = _table(
        ["time (UTC)", "from", "to", "reason", "message", "generation"],
        [
            (format_time(h.time), h.from_phase, h.to_phase, h.reason, h.message, h.generation)
            for h in st.history
        ],
    )
    gates = _table(
        [
            "gate",
            "verdict",
            "reason",
            "value",
            "baseline",
            "threshold",
            "samples (cand/base)",
            "statistic",
            "message",
        ],
        [
            (
                g.result.gate,
                str(g.result.verdict),
                str(g.result.reason or ""),
                _num(g.result.evidence.value),
                _num(g.result.evidence.baseline_value),
                _num(g.result.evidence.threshold),
                f"{_num(g.result.evidence.candidate_samples)}/{_num(g.result.evidence.baseline_samples)}",
                f"{g.result.evidence.statistic or ''} {_num(g.result.evidence.statistic_value)}".strip(),
                g.result.message,
            )
            for g in st.gates
        ],
        classes=[str(g.result.verdict) for g in st.gates],
    )
    samples = ", ".join(f"{k}: {int(v)}" for k, v in sorted(data.decided_impressions.items())) or "none"
    warnings = "".join(f'<li class="warn">{html.escape(w)}</li>' for w in data.warnings)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>Phase <b>{html.escape(str(st.phase))}</b>{" (" + html.escape(st.reason) + ")" if st.reason else ""},
weight {st.weight}%, gates passing {html.escape(st.gates_summary)},
route <code>{html.escape(data.route)}</code>.
{html.escape(st.message)}</p>
<p>Window {format_time(data.window.start)} to {format_time(data.window.end)};
decided impressions per variant: {html.escape(samples)}.</p>
<img alt="rollout timeline, gates, latency and no-click rate" src="data:image/png;base64,{image}">
<h2>Decisions</h2>{history}
<h2>Gates (latest evaluation)</h2>{gates}
{"<h2>Missing data</h2><ul>" + warnings + "</ul>" if warnings else ""}
</body></html>
"""
