"""Position-biased clicks driven by graded relevance (a cascade-style examination model).

A user scans the shown list top-down. Rank r (1-based) is examined with probability
``(1 / r) ** eta``; an examined item with grade g attracts a click with probability
``noise + (1 - noise) * (2**g - 1) / (2**MAX_GRADE - 1)``. The first click ends the scan
(one click per impression, which is what the router's no-click counting assumes).
Better-ranked relevant items therefore earn more clicks, so a better model genuinely
gets fewer no-clicks, and a perfect one still gets some (users don't examine everything).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from shadowgate.evaluation.relevance import MAX_GRADE


@dataclass(frozen=True)
class ClickModel:
    eta: float = 1.0
    noise: float = 0.02

    def __post_init__(self) -> None:
        if self.eta < 0:
            raise ValueError(f"eta must be >= 0, got {self.eta}")
        if not 0.0 <= self.noise <= 1.0:
            raise ValueError(f"noise must be in [0, 1], got {self.noise}")

    def examine(self, rank: int) -> float:
        return float((1.0 / rank) ** self.eta)

    def attract(self, grade: int) -> float:
        g = max(0, min(MAX_GRADE, grade))
        return self.noise + (1.0 - self.noise) * (2**g - 1) / (2**MAX_GRADE - 1)

    def click(self, grades: Sequence[int], rng: random.Random) -> int | None:
        """The 0-based position clicked, or None for a no-click. Draws two numbers per
        rank whatever happens, so a seed fixes the draws independently of the grades."""
        chosen: int | None = None
        for pos, grade in enumerate(grades):
            seen, attracted = rng.random(), rng.random()
            if chosen is None and seen < self.examine(pos + 1) and attracted < self.attract(grade):
                chosen = pos
        return chosen

    def no_click_probability(self, grades: Sequence[int]) -> float:
        p = 1.0
        for pos, grade in enumerate(grades):
            p *= 1.0 - self.examine(pos + 1) * self.attract(grade)
        return p
