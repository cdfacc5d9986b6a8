"""Text normalisation and token overlap, for near-duplicate (leakage) checks."""

from __future__ import annotations

import re
import unicodedata

_TOKEN = re.compile(r"[a-z0-9]+")


def normalize(text: str) -> str:
    """Lower-case, NFKC, punctuation folded to spaces, whitespace collapsed."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return " ".join(_TOKEN.findall(folded))


def tokens(text: str) -> frozenset[str]:
    return frozenset(normalize(text).split())


def jaccard(a: str, b: str) -> float:
    """Token Jaccard similarity of two texts after ``normalize`` (1.0 for two empty texts)."""
    ta, tb = tokens(a), tokens(b)
    if not ta and not tb:
        return 1.0
    return len(ta & tb) / len(ta | tb)
