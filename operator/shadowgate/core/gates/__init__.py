"""Release gates: specs, parsing (``parse_gates``), the MangaAssist preset, observations,
the pure ``evaluate(spec, observation) -> GateResult`` and the hysteresis policy
(``decide``). No I/O: sources in ``shadowgate.sources`` produce the observations."""
