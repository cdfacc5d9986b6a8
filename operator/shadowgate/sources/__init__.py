"""Metric sources behind one small Protocol (``base.MetricSource``): Prometheus over httpx
(``prometheus``) and the offline evaluation results (``evaluation``). Sources do I/O; the
pure gate logic they feed lives in ``shadowgate.core.gates``."""
