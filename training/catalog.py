"""Deterministic generation of the original MangaAssist catalog from ``vocab``.

Each item has a shelf (``category``), editorial ``themes`` (not shown in the blurb's
text as tags, only conveyed by its sentences), a spoiler-free ``synopsis``, a separate
``spoiler``, and the facts the factuality check compares against (price, availability).
"""

from __future__ import annotations

import random
from typing import Any

from training import vocab

PRICES = (6.99, 7.99, 8.99, 9.99, 10.99, 12.99, 14.99)
AVAILABILITY = ("in_stock",) * 7 + ("preorder", "backorder", "out_of_print")
PLACES = (
    "Hoshino", "Kawabe", "Asagiri", "Minato", "Sakuragi", "Tsukimi", "Nagisa", "Kirigaoka", "Hinode",
    "Mizuho", "Kazehaya", "Yamabuki", "Shirakawa", "Komorebi",
)  # fmt: skip


def _title(rng: random.Random, used: set[str]) -> str:
    for _ in range(1000):
        shape = rng.random()
        adj, noun, place = (
            rng.choice(vocab.TITLE_ADJECTIVES),
            rng.choice(vocab.TITLE_NOUNS),
            rng.choice(PLACES),
        )
        if shape < 0.4:
            title = f"The {adj} {noun}"
        elif shape < 0.75:
            title = f"{noun} of {place}"
        else:
            title = f"{place} {noun} {rng.choice(('Days', 'Diaries', 'Chronicle', 'Stories', 'Notes'))}"
        if title not in used:
            used.add(title)
            return title
    raise RuntimeError("title space exhausted")


def _themes(rng: random.Random, shelf: vocab.Shelf) -> list[str]:
    if shelf.category == "iyashikei":
        core = rng.sample(vocab.SLICE_THEMES, rng.choice((2, 2, 3)))
        extra = [rng.choice(("seasons", "food"))] if rng.random() < 0.4 else []
        return ["iyashikei", *core, *extra]
    keys = list(shelf.themes)
    if shelf.category == "comedy slice of life":
        others = [k for k in keys if k != "comedy"]
        return ["comedy", *rng.sample(others, rng.choice((1, 2)))]
    return rng.sample(keys, 1 if len(keys) < 3 or rng.random() < 0.7 else 2)


def _item(rng: random.Random, shelf: vocab.Shelf, number: int, used: set[str]) -> dict[str, Any]:
    title = _title(rng, used)
    name = rng.choice(vocab.GIVEN_NAMES)
    themes = _themes(rng, shelf)
    sentences = [
        f"{name}, {rng.choice(shelf.protagonists)}, {rng.choice(shelf.activities)} "
        f"in {rng.choice(shelf.settings)}."
    ]
    sentences += [rng.choice(shelf.themes[t]) for t in themes if t in shelf.themes]
    sentences.append(rng.choice(shelf.tones))
    genres = list(shelf.genres)
    if shelf.extra_genre:
        extra = rng.choice(shelf.extra_genre)
        if extra and extra not in genres:
            genres.append(extra)
    mature = rng.random() < shelf.mature_share
    teen_shelves = ("horror", "action", "mystery", "historical", "fantasy", "science fiction")
    return {
        "id": f"m{number:04d}",
        "title": title,
        "category": shelf.category,
        "genres": genres,
        "themes": themes,
        "demographic": rng.choice(shelf.demographics),
        "synopsis": " ".join(sentences),
        "spoiler": f"In the end {rng.choice(shelf.twists)}, and {name} {rng.choice(ENDINGS)}.",
        "price": rng.choice(PRICES),
        "currency": "USD",
        "availability": rng.choice(AVAILABILITY),
        "age_rating": "mature" if mature else ("teen" if shelf.category in teen_shelves else "all"),
        "volumes": rng.randint(1, 24),
    }


ENDINGS = (
    "leaves town for good",
    "finally says goodbye",
    "loses everything but finds peace",
    "is revealed as the true heir",
    "dies in the final chapter",
    "starts over somewhere new",
)


def generate(seed: int = 7) -> list[dict[str, Any]]:
    """The whole catalog, shelves interleaved so ids carry no shelf information."""
    rng = random.Random(seed)
    used: set[str] = set()
    slots = [
        shelf
        for shelf in (vocab.IYASHIKEI, vocab.COMEDY_SOL, *vocab.OTHER_SHELVES)
        for _ in range(shelf.count)
    ]
    rng.shuffle(slots)
    return [_item(rng, shelf, i + 1, used) for i, shelf in enumerate(slots)]
