"""One module per gate kind: how its spec is parsed, which sources may measure it, what it
asks a source to measure (a ``plans`` shape) and how one observation becomes its verdict.

Each module exports ``KIND``, a ``base.GateKind``; ``shadowgate.core.gates.registry`` lists
them. Adding a kind is one module here, its spec dataclass in ``specs`` and one registry line;
a test checks the CRD's ``kind`` enum against the registry.
"""
