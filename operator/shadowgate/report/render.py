"""Draw a rollout as one PNG: phase and weight over time, each gate's value against its
threshold with its verdict, per-variant latency and no-click rate. Transitions (the decisions)
are vertical lines on every time axis, so cause and effect line up."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from datetime import datetime

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from shadowgate.report.model import ReportData, Series

PHASE_COLOURS = {
    "Pending": "#d9d9d9", "Queued": "#d9d9d9", "Deploying": "#c6dbef", "Evaluating": "#9ecae1",
    "Shadow": "#bcbddc", "Canary": "#fdd0a2", "Promoting": "#a1d99b", "Promoted": "#41ab5d",
    "RollingBack": "#fc9272", "RolledBack": "#de2d26", "Paused": "#fff7bc", "Aborted": "#969696",
    "Failed": "#a50f15",
}  # fmt: skip
VERDICT_COLOURS = {"Pass": "#2ca02c", "Fail": "#d62728", "Inconclusive": "#7f7f7f"}
VARIANT_COLOURS = {"primary": "#1f77b4", "canary": "#ff7f0e", "shadow": "#9467bd"}
QUANTILE_STYLES = {"p50": ":", "p95": "--", "p99": "-"}
GATE_COLUMNS = 4


def _minutes(data: ReportData, when: datetime | float) -> float:
    ts = when.timestamp() if isinstance(when, datetime) else when
    return (ts - data.window.start.timestamp()) / 60.0


def _xy(data: ReportData, series: Series) -> tuple[list[float], list[float]]:
    pts = [(_minutes(data, t), v) for t, v in series.points if math.isfinite(v)]
    return [p[0] for p in pts], [p[1] for p in pts]


def _decisions(ax: Axes, data: ReportData) -> None:
    for h in data.status.history:
        ax.axvline(_minutes(data, h.time), color="#444444", lw=0.6, alpha=0.5)


def _phase_spans(data: ReportData) -> Iterable[tuple[str, float, float]]:
    end = _minutes(data, data.window.end)
    hist = sorted(data.status.history, key=lambda h: h.time)
    if hist:
        # The phase the Candidate was in before its first recorded transition.
        yield hist[0].from_phase, 0.0, _minutes(data, hist[0].time)
    for i, h in enumerate(hist):
        stop = _minutes(data, hist[i + 1].time) if i + 1 < len(hist) else end
        yield h.to_phase, _minutes(data, h.time), stop


def draw_timeline(ax: Axes, data: ReportData) -> None:
    for phase, a, b in _phase_spans(data):
        ax.axvspan(a, b, color=PHASE_COLOURS.get(phase, "#eeeeee"), alpha=0.8, lw=0)
        ax.text((a + b) / 2, 104, phase, ha="center", va="bottom", fontsize=7, rotation=0, clip_on=True)
    for s in data.weight:
        x, y = _xy(data, s)
        ax.step(x, y, where="post", color="black", lw=1.8, label="canary weight %")
    if not data.weight:
        ax.text(
            0.5, 0.5, "no weight series in Prometheus", transform=ax.transAxes, ha="center", color="#666666"
        )
    _decisions(ax, data)
    ax.set_ylim(0, 115)
    ax.set_xlim(0, _minutes(data, data.window.end))
    ax.set_ylabel("weight %")
    ax.set_title(
        f"{data.namespace}/{data.candidate}: {data.status.phase}"
        + (f" ({data.status.reason})" if data.status.reason else ""),
        loc="left",
        fontsize=11,
        fontweight="bold",
    )


def draw_gate(ax: Axes, data: ReportData, gate: str) -> None:
    final = next((g for g in data.status.gates if g.result.gate == gate), None)
    verdict = str(final.result.verdict) if final else "?"
    for s in data.gate_values:
        if s.label("gate") == gate:
            x, y = _xy(data, s)
            ax.plot(x, y, color="#1f77b4", lw=1.4, label="value")
    for s in data.gate_thresholds:
        if s.label("gate") == gate:
            x, y = _xy(data, s)
            ax.plot(x, y, color="#d62728", lw=1.0, ls="--", label="threshold")
    if final is not None:
        ev, at = final.result.evidence, _minutes(data, final.evaluated)
        if ev.value is not None:
            ax.plot([at], [ev.value], "o", color=VERDICT_COLOURS.get(verdict, "black"), ms=5)
        if ev.threshold is not None:
            ax.axhline(ev.threshold, color="#d62728", lw=0.6, ls=":")
    _decisions(ax, data)
    ax.set_xlim(0, _minutes(data, data.window.end))
    reason = f" / {final.result.reason}" if final and final.result.reason else ""
    ax.set_title(f"{gate}: {verdict}{reason}", fontsize=8, color=VERDICT_COLOURS.get(verdict, "black"))
    ax.tick_params(labelsize=7)


def draw_variants(
    ax: Axes, data: ReportData, by_quantile: dict[str, tuple[Series, ...]], ylabel: str
) -> None:
    for quantile, series in by_quantile.items():
        for s in series:
            variant = s.label("variant", "?")
            x, y = _xy(data, s)
            ax.plot(
                x, y, ls=QUANTILE_STYLES.get(quantile, "-"), color=VARIANT_COLOURS.get(variant),
                lw=1.2, label=f"{variant} {quantile}".strip(),
            )  # fmt: skip
    if not any(by_quantile.values()):
        ax.text(0.5, 0.5, "no data in Prometheus", transform=ax.transAxes, ha="center", color="#666666")
    else:
        ax.legend(fontsize=7, ncol=2)
    _decisions(ax, data)
    ax.set_xlim(0, _minutes(data, data.window.end))
    ax.set_ylabel(ylabel)
    ax.set_xlabel("minutes since " + data.window.start.strftime("%Y-%m-%d %H:%M:%S UTC"))


def gate_names(data: ReportData) -> list[str]:
    names = [g.result.gate for g in data.status.gates]
    for s in (*data.gate_values, *data.gate_thresholds):
        if s.label("gate") and s.label("gate") not in names:
            names.append(s.label("gate"))
    return names


def render_png(data: ReportData, dpi: int = 110) -> bytes:
    gates = gate_names(data)
    gate_rows = max(1, math.ceil(len(gates) / GATE_COLUMNS))
    rows = 1 + gate_rows + 1
    fig = Figure(figsize=(14, 3.2 + 2.2 * gate_rows + 3.4), dpi=dpi)
    grid = fig.add_gridspec(rows, GATE_COLUMNS, height_ratios=[1.4] + [1.0] * gate_rows + [1.5])
    draw_timeline(fig.add_subplot(grid[0, :]), data)
    for i, gate in enumerate(gates):
        draw_gate(fig.add_subplot(grid[1 + i // GATE_COLUMNS, i % GATE_COLUMNS]), data, gate)
    if not gates:
        ax = fig.add_subplot(grid[1, :])
        ax.text(0.5, 0.5, "no gates evaluated", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
    lat = fig.add_subplot(grid[-1, : GATE_COLUMNS // 2])
    draw_variants(lat, data, data.latency, f"latency s ({data.latency_source})")
    lat.set_title("latency per variant", fontsize=9, loc="left")
    nc = fig.add_subplot(grid[-1, GATE_COLUMNS // 2 :])
    draw_variants(nc, data, {"": data.noclick_rate}, "no-click rate")
    nc.set_title(
        "no-click rate per variant (decided impressions: "
        + (", ".join(f"{k} {int(v)}" for k, v in sorted(data.decided_impressions.items())) or "none")
        + ")",
        fontsize=9,
        loc="left",
    )
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
