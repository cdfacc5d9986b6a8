"""The Candidate lifecycle, as pure data and one pure function.

Owns the phases (with their predicates), the lifecycle view of a Candidate's spec, the
status and history types, the observations a reconcile gathers, the actions it may ask for,
and ``transition(status, observations, now) -> Decision``: the single place where a
Candidate changes phase. Nothing here does I/O; the controller gathers observations,
calls ``transition`` and applies the actions.
"""
