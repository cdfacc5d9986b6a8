"""Graded relevance of a catalog item for a query's editorial target.

A recommendation query is written for a target: a shelf (``category``) and optionally
themes. The grade is derived from catalog metadata only, never from any model's output,
so the golden judgments and the user simulator's clicks agree and cannot favour a model:

- 3: right shelf and (if the target names themes) at least one of its themes;
- 2: right shelf, none of the themes;
- 1: wrong shelf but shares a theme (e.g. a countryside comedy for a "rural" query);
- 0: otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_GRADE = 3
# Items at or above this grade count as relevant for Recall@k and MRR.
RELEVANT_GRADE = 2


@dataclass(frozen=True)
class Target:
    category: str | None
    themes: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Target:
        category = raw.get("category")
        themes = raw.get("themes") or ()
        if category is not None and not isinstance(category, str):
            raise ValueError(f"target.category must be a string, got {category!r}")
        if not isinstance(themes, list | tuple) or not all(isinstance(t, str) for t in themes):
            raise ValueError(f"target.themes must be a list of strings, got {themes!r}")
        return cls(category=category, themes=tuple(themes))

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "themes": list(self.themes)}


def grade(item: Mapping[str, Any], target: Target) -> int:
    item_themes: Sequence[str] = item.get("themes") or ()
    on_shelf = target.category is None or item.get("category") == target.category
    shares_theme = any(t in item_themes for t in target.themes)
    if on_shelf and (shares_theme or not target.themes):
        return 3
    if on_shelf:
        return 2
    if shares_theme:
        return 1
    return 0


def judgments(catalog: Sequence[Mapping[str, Any]], target: Target) -> dict[str, int]:
    """Every item with a non-zero grade for ``target``, keyed by item id."""
    out: dict[str, int] = {}
    for item in catalog:
        g = grade(item, target)
        if g > 0:
            out[str(item["id"])] = g
    return out
