"""Release gates, pure: what to measure and how to judge it.

- ``specs``: frozen gate specs per kind (threshold, relative, weighted, proportion,
  latency, check, slice-regression) and ``GateSpecError``;
- ``kinds``: one module per kind (its parser, allowed sources, plan and evaluation), listed
  in ``registry``; ``fields`` and ``reading`` are the field readers they share, ``outcomes``
  the per-metric outcomes and their roll-up;
- ``parsing.parse_gates``: a Candidate's ``spec.gates`` -> specs, with presets
  (``presets``, e.g. ``mangaassist``) and overrides;
- ``plans``: what a gate asks its source to measure; ``observations``: what a source returns;
- ``templates``: PromQL template placeholders;
- ``evaluating.evaluate(spec, observation) -> GateResult``;
- ``slices``: the per-slice paired sign tests and Holm correction of slice-regression gates.

Folding verdicts into a rollout decision (hysteresis, failure limits, the inconclusive policy)
is the lifecycle's: ``shadowgate.core.lifecycle.gating`` and ``transition``.

No I/O: sources in ``shadowgate.sources`` read plans and produce the observations.
docs/gates.md is the user's guide.
"""
