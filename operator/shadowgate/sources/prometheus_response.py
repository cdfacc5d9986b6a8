"""Reading Prometheus API answers: the one parser behind every caller of ``promapi``.

Pure: each reader takes the decoded JSON body and returns its value or a reason, never an
exception. ``envelope`` checks the common wrapper (``status``, ``data``); on top of it:

- ``parse_instant``: one sample (gates). An empty vector or a NaN/Inf value is NoData (e.g.
  histogram_quantile over a window with no observations, or x/0); an error status, several
  series, or a malformed body is QueryError;
- ``parse_versions``: an integer per replica (the routers' applied table versions);
- ``parse_range``: every series of a range query (reports).
"""

from __future__ import annotations

import math
from typing import Any

from shadowgate.core.gates.observations import Unavailable
from shadowgate.core.verdicts import InconclusiveReason

NO_DATA = InconclusiveReason.NO_DATA
QUERY_ERROR = InconclusiveReason.QUERY_ERROR
# Labels that name a router replica in a report, the first present wins, then the whole set.
_REPLICA_LABELS = ("pod", "instance")

Labels = tuple[tuple[str, str], ...]
Points = tuple[tuple[float, float], ...]


def envelope(body: Any, query: str = "") -> dict[str, Any] | str:
    """The ``data`` object of a successful answer, or why there is none."""
    where = f" for {query!r}" if query else ""
    if not isinstance(body, dict) or "status" not in body:
        return f"malformed answer{where}: not a Prometheus API object"
    if body["status"] != "success":
        kind = body.get("errorType", "error")
        return f"prometheus {kind}{where}: {body.get('error', 'no message')}"
    data = body.get("data")
    if not isinstance(data, dict):
        return f"malformed answer{where}: no data object"
    return data


def _sample_value(sample: Any) -> float | Unavailable:
    if not isinstance(sample, list) or len(sample) != 2 or not isinstance(sample[1], str):
        return Unavailable(QUERY_ERROR, f"malformed sample {sample!r}")
    try:
        value = float(sample[1])
    except ValueError:
        return Unavailable(QUERY_ERROR, f"sample value is not a number: {sample[1]!r}")
    if not math.isfinite(value):
        return Unavailable(NO_DATA, f"value is {sample[1]} (no observations in the window)")
    return value


def _vector(data: dict[str, Any], where: str) -> list[Any] | str:
    result_type, result = data.get("resultType"), data.get("result")
    if result_type != "vector":
        return f"expected an instant vector{where}, got {result_type!r}"
    if not isinstance(result, list):
        return f"malformed answer{where}: result is not a list"
    return result


def parse_instant(body: Any, query: str = "") -> float | Unavailable:
    """The single value of an instant query's answer, or why there is none."""
    where = f" for {query!r}" if query else ""
    data = envelope(body, query)
    if isinstance(data, str):
        return Unavailable(QUERY_ERROR, data)
    if data.get("resultType") == "scalar":
        return _sample_value(data.get("result"))
    result = _vector(data, where)
    if isinstance(result, str):
        return Unavailable(QUERY_ERROR, result)
    if not result:
        return Unavailable(NO_DATA, f"no series{where}")
    if len(result) > 1:
        return Unavailable(QUERY_ERROR, f"{len(result)} series{where}; aggregate the query to one (sum)")
    series = result[0]
    if not isinstance(series, dict):
        return Unavailable(QUERY_ERROR, f"malformed series{where}: {series!r}")
    return _sample_value(series.get("value"))


def parse_versions(body: Any) -> dict[str, int] | str:
    """Replica -> integer value from an instant vector (an empty dict is an answer)."""
    data = envelope(body)
    result = data if isinstance(data, str) else _vector(data, "")
    if isinstance(result, str):
        return result if result.startswith("prometheus") else f"prometheus: {result}"
    out: dict[str, int] = {}
    for series in result:
        labels = (series.get("metric") if isinstance(series, dict) else None) or {}
        name = next((str(labels[k]) for k in _REPLICA_LABELS if k in labels), "")
        replica = name or ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__")
        try:
            value = float(series["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            return f"prometheus: malformed sample {series!r}"
        if not math.isfinite(value):
            return f"prometheus: replica {replica} reports version {value}"
        # Two series for one replica name (e.g. relabelled twice): the lower one decides.
        out[replica] = min(int(value), out.get(replica, int(value)))
    return out


def parse_range(body: Any, query: str = "") -> list[tuple[Labels, Points]] | str:
    """Every series of a range query's answer (labels sorted, points in order), or why not."""
    where = f" for {query!r}" if query else ""
    data = envelope(body, query)
    if isinstance(data, str):
        return data
    if data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
        return f"expected a range matrix{where}, got {data.get('resultType')!r}"
    out = []
    for item in data["result"]:
        try:
            labels = tuple(sorted((str(k), str(v)) for k, v in (item.get("metric") or {}).items()))
            points = tuple((float(t), float(v)) for t, v in item.get("values") or ())
        except (AttributeError, TypeError, ValueError):
            return f"malformed series{where}: {item!r}"
        out.append((labels, points))
    return out
