"""Release gates, pure: what to measure and how to judge it.

- ``specs``: frozen gate specs per kind (threshold, relative, weighted, proportion,
  latency, check, slice-regression) and ``GateSpecError``;
- ``parsing.parse_gates``: a Candidate's ``spec.gates`` -> specs, with presets
  (``presets``, e.g. ``mangaassist``) and overrides;
- ``templates``: PromQL template placeholders;
- ``observations``: what a source returns for one gate;
- ``evaluating.evaluate(spec, observation) -> GateResult``;
- ``slices``: the per-slice paired sign tests and Holm correction of slice-regression gates.

Folding verdicts into a rollout decision (hysteresis, failure limits, the inconclusive policy)
is the lifecycle's: ``shadowgate.core.lifecycle.gating`` and ``transition``.

No I/O: sources in ``shadowgate.sources`` produce the observations. docs/gates.md is the
user's guide.
"""
