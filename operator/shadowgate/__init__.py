"""shadowgate: the control plane of a shadow-deploy and promotion operator for ML models.

This package owns everything that decides and orchestrates: the pure decision core
(``shadowgate.core``: phases, transitions, gates, statistics), the edges that gather
observations (``shadowgate.sources``) and move traffic (``shadowgate.traffic``), the kopf
handlers (``shadowgate.controller``), the local dev stack (``shadowgate.devstack``) and the
CLI (``shadowgate.cli``). The data plane (``model_server``, ``router``) lives outside it.
"""

__version__ = "0.1.0"
