"""The sticky split: exact weights (statistically), monotone buckets, weight 0 sends nothing."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from router import split

# Sequential ids are the adversarial case for weak hashes (Iter8's 90/10 -> 94.4/5.6 skew).
KEYS = [f"user-{i}".encode() for i in range(100_000)]


@pytest.mark.parametrize("weight_pct", [0.5, 1, 5, 10, 33.33, 50, 90, 99], ids=lambda w: f"w{w}")
def test_weight_is_exact_within_sampling_error(weight_pct: float) -> None:
    buckets = round(weight_pct * 100)
    n = sum(split.is_canary(b"retriever", k, buckets) for k in KEYS)
    # Two-sided exact binomial test; 8 weights at alpha 1e-4 keeps the family false-alarm rate tiny.
    p = stats.binomtest(n, len(KEYS), weight_pct / 100).pvalue
    assert p > 1e-4, f"{n} of {len(KEYS)} keys at {weight_pct}% (p={p:.2g})"


def test_buckets_are_uniform() -> None:
    counts = [0] * 100
    for k in KEYS:
        counts[split.bucket(b"s", k) // 100] += 1
    assert stats.chisquare(counts).pvalue > 1e-4


@pytest.mark.parametrize(("low", "high"), [(1, 5), (5, 10), (10, 50), (50, 100)], ids=lambda w: f"{w}")
def test_raising_weight_only_moves_keys_to_canary(low: float, high: float) -> None:
    before = {k for k in KEYS[:20_000] if split.is_canary(b"r", k, round(low * 100))}
    after = {k for k in KEYS[:20_000] if split.is_canary(b"r", k, round(high * 100))}
    assert before <= after
    assert len(after) > len(before)


@pytest.mark.parametrize(
    ("buckets", "expected"), [(0, False), (-5, False), (10_000, True)], ids=["zero", "negative", "full"]
)
def test_edges(buckets: int, expected: bool) -> None:
    assert all(split.is_canary(b"r", k, buckets) is expected for k in KEYS[:5000])


def test_sticky_and_salted() -> None:
    assert split.bucket(b"a", b"user-7") == split.bucket(b"a", b"user-7")
    # A different salt draws a different population: agreement near chance, not identity.
    same = sum(split.is_canary(b"a", k, 1000) == split.is_canary(b"b", k, 1000) for k in KEYS[:20_000])
    expected = 20_000 * (0.1 * 0.1 + 0.9 * 0.9)
    assert math.isclose(same, expected, rel_tol=0.02)
