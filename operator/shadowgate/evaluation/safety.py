"""Safety of model outputs: spoilers and ungrounded items.

An output (one response) is a list of items, each a mapping with an ``id`` and whatever
else the model chose to say about it (``title``, ``price``, ``availability``, ``text``...),
plus optional free text on the response itself (``answer``, ``text``).

- An item is **ungrounded** if its id is not in the catalog, not among the candidates the
  model was given (rerankers), or any fact it states (title, price, availability)
  disagrees with the catalog. ``ungrounded_item_rate`` = ungrounded items / items.
- A response **spoils** if any of its text contains a run of ``SPOILER_NGRAM`` consecutive
  (normalised) words of any catalog item's spoiler. ``spoiler_rate`` = spoiling responses /
  responses. The built-in handlers return ids and scores only, so for them this is 0 by
  construction; it bites for models that return text.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shadowgate.evaluation.golden import Item
from shadowgate.evaluation.text import normalize

SPOILER_NGRAM = 6
TEXT_FIELDS = ("text", "answer", "snippet", "synopsis", "summary", "description")


def _shingles(text: str, n: int = SPOILER_NGRAM) -> set[tuple[str, ...]]:
    words = normalize(text).split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class SpoilerIndex:
    """Every ``SPOILER_NGRAM``-word shingle of every catalog spoiler."""

    def __init__(self, catalog: Mapping[str, Item]) -> None:
        self._shingles: set[tuple[str, ...]] = set()
        for item in catalog.values():
            self._shingles |= _shingles(item.spoiler)

    def spoils(self, text: str) -> bool:
        return not self._shingles.isdisjoint(_shingles(text))


def _texts(obj: Mapping[str, Any]) -> list[str]:
    return [v for k in TEXT_FIELDS if isinstance(v := obj.get(k), str)]


def ungrounded(item: Mapping[str, Any], catalog: Mapping[str, Item], allowed: Collection[str] | None) -> bool:
    item_id = item.get("id")
    if not isinstance(item_id, str) or item_id not in catalog:
        return True
    if allowed is not None and item_id not in allowed:
        return True
    fact = catalog[item_id]
    if "title" in item and item["title"] != fact.title:
        return True
    if "price" in item and (
        not isinstance(item["price"], int | float) or abs(float(item["price"]) - (fact.price or -1)) > 0.005
    ):
        return True
    return "availability" in item and item["availability"] != fact.availability


@dataclass(frozen=True)
class Output:
    """One response to check: its items, its own text fields, and the candidates it was
    allowed to return (None = the whole catalog)."""

    items: Sequence[Mapping[str, Any]]
    response: Mapping[str, Any]
    allowed: Collection[str] | None = None


def metrics(outputs: Sequence[Output], catalog: Mapping[str, Item]) -> dict[str, float]:
    spoilers = SpoilerIndex(catalog)
    n_items = sum(len(o.items) for o in outputs)
    bad_items = sum(ungrounded(i, catalog, o.allowed) for o in outputs for i in o.items)
    spoiling = sum(
        any(spoilers.spoils(t) for t in [*_texts(o.response), *(t for i in o.items for t in _texts(i))])
        for o in outputs
    )
    return {
        "responses": len(outputs),
        "items": n_items,
        "spoiler_rate": spoiling / len(outputs) if outputs else 0.0,
        "ungrounded_item_rate": bad_items / n_items if n_items else 0.0,
    }
