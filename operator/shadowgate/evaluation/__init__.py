"""Offline evaluation of MangaAssist models on the reserved golden set.

Owns the golden-set loader and its content hash (``golden``), graded relevance
(``relevance``), pure metric math (``ranking``, ``classification``, ``safety``), and the
HTTP evaluator that runs a golden set against a model-server endpoint (``evaluator``).
No torch here: the control plane evaluates models over HTTP only.
"""
