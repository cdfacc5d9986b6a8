"""Sticky weighted split: a key's bucket is a uniform draw in [0, 10000) fixed by the key.

blake2b's output is uniform, so ``bucket < weight * 100`` selects ``weight`` percent of keys up to
sampling error (no skew from weak hashing, the failure Iter8 users hit). The bucket does not depend
on the weight, so raising the weight only moves keys from primary to canary.
"""

from __future__ import annotations

import hashlib

BUCKETS = 10_000


def bucket(salt: bytes, key: bytes) -> int:
    # 64 bits mod 10^4: the modulo bias is below 10^-15, far under any sampling error.
    digest = hashlib.blake2b(salt + b"\0" + key, digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def is_canary(salt: bytes, key: bytes, canary_buckets: int) -> bool:
    """True when ``key`` belongs to the canary at a weight of ``canary_buckets / 100`` percent."""
    if canary_buckets <= 0:
        return False
    if canary_buckets >= BUCKETS:
        return True
    return bucket(salt, key) < canary_buckets
