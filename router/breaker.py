"""A per-address circuit breaker for the shadow: a dead shadow should cost the router nothing.

Without it every mirrored copy to a dead shadow pays a connect attempt (socket, connect, error) on
the router's CPU, next to the primary path. After ``threshold`` consecutive failures the address is
skipped for a backoff (doubling up to ``max_s``); the first copy after the backoff is a probe, and
one success closes the breaker. Pure, with the clock passed in.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Hashable


@dataclasses.dataclass(slots=True)
class _State:
    failures: int = 0
    backoff_s: float = 0.0
    open_until: float = 0.0


class Breaker:
    def __init__(
        self,
        threshold: int = 5,
        base_s: float = 1.0,
        max_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = threshold
        self._base_s = base_s
        self._max_s = max_s
        self._clock = clock
        self._states: dict[Hashable, _State] = {}

    def allow(self, key: Hashable) -> bool:
        if self._threshold <= 0:
            return True
        st = self._states.get(key)
        return st is None or self._clock() >= st.open_until

    def record(self, key: Hashable, ok: bool) -> None:
        if self._threshold <= 0:
            return
        if ok:
            self._states.pop(key, None)
            return
        st = self._states.setdefault(key, _State())
        st.failures += 1
        if st.failures >= self._threshold:
            st.backoff_s = min(self._max_s, st.backoff_s * 2 if st.backoff_s else self._base_s)
            st.open_until = self._clock() + st.backoff_s

    def open_keys(self) -> int:
        now = self._clock()
        return sum(1 for st in self._states.values() if now < st.open_until)
