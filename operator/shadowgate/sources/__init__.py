"""Metric sources behind one small Protocol (``base.MetricSource``): Prometheus (``prometheus``)
and the offline evaluation results (``evaluation``), plus the one Prometheus HTTP client every
part of the operator uses (``promapi``: one retry policy; ``prometheus_response``: one parser of
its answers) and the routers' applied versions read through it (``router_versions``). Sources do
I/O; the pure gate logic they feed lives in ``shadowgate.core.gates``."""
