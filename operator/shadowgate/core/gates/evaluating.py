"""``evaluate(spec, observation) -> GateResult``: one gate, one look, no I/O.

The gate's kind module (``registry``) turns the observation into per-metric outcomes, which
roll up the same way for every kind (``outcomes``). A source that could not measure answers
``Unavailable``, which is Inconclusive with the source's reason; an observation of the wrong
shape for the kind is a QueryError, never a guess.
"""

from __future__ import annotations

from shadowgate.core.gates import observations as obs
from shadowgate.core.gates import outcomes, registry
from shadowgate.core.gates.specs import GateSpec
from shadowgate.core.verdicts import GateResult, InconclusiveReason


def evaluate(spec: GateSpec, observation: obs.Observation) -> GateResult:
    """The verdict for ``spec`` given what a source observed."""
    entry = registry.of(spec)
    if isinstance(observation, obs.Unavailable):
        found = [outcomes.inconclusive(observation.reason, observation.detail or str(observation.reason))]
    elif not isinstance(observation, entry.observation):
        got, expected = type(observation).__name__, entry.observation.__name__
        problem = f"source returned {got} for a {spec.header.kind} gate (expected {expected})"
        found = [outcomes.inconclusive(InconclusiveReason.QUERY_ERROR, problem)]
    else:
        found = entry.evaluate(spec, observation)
    return outcomes.roll_up(spec, found)
