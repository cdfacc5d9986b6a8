"""Graded relevance of a catalog item for a query's editorial target.

A recommendation query is written for a target: a shelf (``category``) and optionally
themes. The grade is derived from catalog metadata only, never from any model's output,
so the golden judgments and the user simulator's clicks agree and cannot favour a model:

- 3: right shelf and (if the target names themes) at least one of its themes;
- 2: right shelf, none of the themes;
- 1: wrong shelf but shares a theme (e.g. a countryside comedy for a "rural" query);
- 0: otherwise.

That shelf-level grading (``per_item=False``, what the training targets and the query log
use) makes every title of a shelf relevant to a one-theme query. The golden set judges per
item (``per_item=True``), so "healing countryside manga" is not answered by every iyashikei
title:

- 3: right shelf and every target theme;
- 2: right shelf and at least half, not all, of the target themes (only with two or more:
  one of two, two of three);
- 1: right shelf without any target theme, or wrong shelf sharing a theme;
- 0: otherwise, and always for an ``exclude``-d id ("like <title>" never counts the title).

A per-item target without themes ("iyashikei manga", "slice of life but not comedy") grades
the whole shelf 3, as before: for such a query any title of the shelf is an answer.
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
    per_item: bool = False
    exclude: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Target:
        category = raw.get("category")
        themes = raw.get("themes") or ()
        exclude = raw.get("exclude") or ()
        per_item = raw.get("per_item", False)
        if category is not None and not isinstance(category, str):
            raise ValueError(f"target.category must be a string, got {category!r}")
        if not isinstance(themes, list | tuple) or not all(isinstance(t, str) for t in themes):
            raise ValueError(f"target.themes must be a list of strings, got {themes!r}")
        if not isinstance(exclude, list | tuple) or not all(isinstance(t, str) for t in exclude):
            raise ValueError(f"target.exclude must be a list of item ids, got {exclude!r}")
        if not isinstance(per_item, bool):
            raise ValueError(f"target.per_item must be a boolean, got {per_item!r}")
        return cls(category=category, themes=tuple(themes), per_item=per_item, exclude=tuple(exclude))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"category": self.category, "themes": list(self.themes)}
        # Written only when set, so shelf-level targets (query log, pairs) keep their bytes.
        if self.per_item:
            out["per_item"] = True
        if self.exclude:
            out["exclude"] = list(self.exclude)
        return out


def grade(item: Mapping[str, Any], target: Target) -> int:
    item_themes: Sequence[str] = item.get("themes") or ()
    on_shelf = target.category is None or item.get("category") == target.category
    shares_theme = any(t in item_themes for t in target.themes)
    if target.per_item:
        return _item_grade(item, target, on_shelf, shares_theme, item_themes)
    if on_shelf and (shares_theme or not target.themes):
        return 3
    if on_shelf:
        return 2
    if shares_theme:
        return 1
    return 0


def _item_grade(
    item: Mapping[str, Any], target: Target, on_shelf: bool, shares: bool, item_themes: Sequence[str]
) -> int:
    if str(item.get("id")) in target.exclude:
        return 0
    if on_shelf:
        shared = sum(t in item_themes for t in target.themes)
        if shared == len(target.themes):
            return 3
        # "At least half" keeps a three-constraint query from counting every title that
        # matches one constraint (every iyashikei title carries two of the four themes).
        return 2 if 2 * shared >= len(target.themes) else 1
    return 1 if shares else 0


def judgments(catalog: Sequence[Mapping[str, Any]], target: Target) -> dict[str, int]:
    """Every item with a non-zero grade for ``target``, keyed by item id."""
    out: dict[str, int] = {}
    for item in catalog:
        g = grade(item, target)
        if g > 0:
            out[str(item["id"])] = g
    return out
