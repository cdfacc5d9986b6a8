"""The kopf controller: thin handlers that gather observations, call the lifecycle's transition
function, apply its actions idempotently and patch the Candidate's status.

Run it as ``kopf run -m shadowgate.controller.main`` (or ``shadowgate operator``). Modules:
``candidate`` (the CR spec at the edge, pydantic), ``workload`` (the candidate's Deployment and
Service, promotion), ``observe`` / ``act`` (the two halves around ``transition``), ``analysis``
(gates and sample counts), ``metrics`` (the operator's own Prometheus metrics), ``handlers``
(kopf registration) and ``main`` (settings at start-up).
"""
