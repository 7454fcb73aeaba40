"""Dense integer ids for tuples of integer keys (numpy + Arrow hashing; used by
lineage and dedup)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _hash_codes(v: np.ndarray) -> np.ndarray:
    """Dense codes 0..k-1 of an integer array in first-seen order: Arrow's hash
    dictionary encoding, O(n) where a sort-based np.unique is O(n log n)."""
    idx = pc.dictionary_encode(pa.array(v)).indices
    return idx.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def dense_ids(*keys: np.ndarray) -> np.ndarray:
    """Dense group ids (0..k-1, in order of first appearance) for tuples of int64
    keys; equal tuples get equal ids.

    The keys are packed into one uint64 (64 bits) by their value
    ranges, so a single hash pass groups the tuple; while they do not fit, the
    widest key (e.g. nanosecond times) is replaced by its dense code first.
    (np.unique on rows, axis=0, is two orders of magnitude slower.)"""
    if len(keys[0]) == 0:
        return np.zeros(0, np.int64)
    parts = []
    for k in keys:
        lo, hi = int(k.min()), int(k.max())
        parts.append([k, lo, max(hi - lo, 1).bit_length()])
    while sum(p[2] for p in parts) > 64:
        p = max(parts, key=lambda q: q[2])
        p[0] = _hash_codes(p[0])
        p[1], p[2] = 0, max(int(p[0].max()), 1).bit_length()
    acc = None
    for k, lo, bits in parts:
        v = (k - lo if lo else k).astype(np.uint64, copy=False)
        acc = v if acc is None else (acc << np.uint64(bits)) | v
    return _hash_codes(acc)
