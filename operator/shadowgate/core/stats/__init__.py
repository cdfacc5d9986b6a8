"""Statistics for gates: the always-valid two-proportion mixture SPRT / confidence
sequence and fixed-horizon helpers used as references. Pure numpy-free math on floats
so the decision core stays cheap and dependency-light."""
