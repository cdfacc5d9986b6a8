"""Rollout report and dashboard helpers.

This package owns what shows a rollout to people: the rollout report (``shadowgate report``; a PNG
and a self-contained HTML page built from the Candidate's status history and Prometheus range
queries) and ``dashboard``, which reads the Grafana dashboard shipped with the chart and yields
its PromQL, so tests can check that every panel parses and returns data.
"""
