"""Statistics for gates: the always-valid two-proportion mixture SPRT (``sequential``) and
the fixed-horizon sample size used as a reference. Functions broadcast over numpy arrays
so the simulation suite runs the very code the gates run."""
