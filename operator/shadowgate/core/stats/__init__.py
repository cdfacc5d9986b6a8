"""Statistics for gates: the always-valid two-proportion mixture SPRT (``sequential``),
the fixed-horizon sample size used as a reference, and distribution-free confidence bounds
for percentiles (``quantiles``). Functions broadcast over numpy arrays where a simulation
suite needs them, so it runs the very code the gates run."""
