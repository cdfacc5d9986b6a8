"""Traffic providers: how a Candidate's share of live traffic is set and restored.

Owns the ``TrafficProvider`` Protocol (reconcile / set_routes / get_routes / finalize) and its
implementations: the built-in router's routing-table ConfigMap (``router_table``, the schema in
docs/router.md) and the Gateway API ``HTTPRoute`` (``httproute``). ``factory.provider_for``
picks one by the Candidate's ``spec.target.provider``.
"""
