"""Write a Candidate's rollout report (PNG + HTML) to a directory."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shadowgate.report.collect import collect
from shadowgate.report.model import ReportData, ReportError
from shadowgate.report.page import render_html
from shadowgate.report.prometheus import RangeSource
from shadowgate.report.render import render_png


@dataclass(frozen=True)
class Written:
    png: pathlib.Path
    html: pathlib.Path
    data: ReportData


def write_report(
    cr: Mapping[str, Any], source: RangeSource, out_dir: pathlib.Path, now: datetime | None = None
) -> Written:
    data = collect(cr, source, now)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create output directory {out_dir}: {exc}") from exc
    png = render_png(data)
    stem = f"{data.namespace}-{data.candidate}"
    png_path, html_path = out_dir / f"{stem}.png", out_dir / f"{stem}.html"
    png_path.write_bytes(png)
    html_path.write_text(render_html(data, png), encoding="utf-8")
    return Written(png=png_path, html=html_path, data=data)
