"""The pure decision core: phases, transitions, gates and their statistics, and the Prometheus
label names the gates query (``labels``).

Nothing here performs I/O or imports a module that does (kopf, kubernetes, httpx,
prometheus_client, torch); an import-linter contract enforces it. Inputs are frozen
dataclasses, outputs are verdicts and actions, and time is passed in.
"""
