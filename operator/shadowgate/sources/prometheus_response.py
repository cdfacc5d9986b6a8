"""Reading one Prometheus instant-query answer into a number or a reason it isn't one.

Pure: takes the decoded JSON body (or None when it was not JSON). Any shape other than
one sample is a reason, never an exception: an empty vector or a NaN/Inf value is
NoData (e.g. histogram_quantile over a window with no observations, or x/0); an error
status, several series, or a malformed body is QueryError.
"""

from __future__ import annotations

import math
from typing import Any

from shadowgate.core.gates.observations import Unavailable
from shadowgate.core.verdicts import InconclusiveReason

NO_DATA = InconclusiveReason.NO_DATA
QUERY_ERROR = InconclusiveReason.QUERY_ERROR


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


def parse_instant(body: Any, query: str = "") -> float | Unavailable:
    """The single value of an instant query's answer, or why there is none."""
    where = f" for {query!r}" if query else ""
    if not isinstance(body, dict) or "status" not in body:
        return Unavailable(QUERY_ERROR, f"malformed answer{where}: not a Prometheus API object")
    if body["status"] != "success":
        kind = body.get("errorType", "error")
        return Unavailable(QUERY_ERROR, f"prometheus {kind}{where}: {body.get('error', 'no message')}")
    data = body.get("data")
    if not isinstance(data, dict):
        return Unavailable(QUERY_ERROR, f"malformed answer{where}: no data object")
    result_type, result = data.get("resultType"), data.get("result")
    if result_type == "scalar":
        return _sample_value(result)
    if result_type != "vector":
        return Unavailable(QUERY_ERROR, f"expected an instant vector{where}, got {result_type!r}")
    if not isinstance(result, list):
        return Unavailable(QUERY_ERROR, f"malformed answer{where}: result is not a list")
    if not result:
        return Unavailable(NO_DATA, f"no series{where}")
    if len(result) > 1:
        return Unavailable(QUERY_ERROR, f"{len(result)} series{where}; aggregate the query to one (sum)")
    series = result[0]
    if not isinstance(series, dict):
        return Unavailable(QUERY_ERROR, f"malformed series{where}: {series!r}")
    return _sample_value(series.get("value"))
