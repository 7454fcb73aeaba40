"""Dense integer ids for tuples of integer keys (numpy; used by lineage and dedup)."""
from __future__ import annotations

import numpy as np


def dense_ids(*keys: np.ndarray) -> np.ndarray:
    """Dense group ids for tuples of non-negative-or-NONE int64 keys.

    Keys are packed into one int64 while their value ranges fit (one sort);
    otherwise each is replaced by its dense rank first. (np.unique on rows,
    axis=0, is two orders of magnitude slower.)"""
    if len(keys[0]) == 0:
        return np.zeros(0, np.int64)
    acc, width = None, 0
    for k in keys:
        lo, hi = int(k.min()), int(k.max())
        span = hi - lo + 1
        bits = max(span - 1, 1).bit_length()
        if bits > 40:                       # e.g. nanosecond times: use their rank
            _, r = np.unique(k, return_inverse=True)
            k, lo = r.reshape(-1).astype(np.int64), 0
            bits = max(int(k.max()), 1).bit_length()
        v = k - lo
        if acc is None:
            acc, width = v, bits
        elif width + bits <= 62:
            acc, width = (acc << bits) | v, width + bits
        else:
            _, acc = np.unique(acc, return_inverse=True)
            acc = acc.reshape(-1).astype(np.int64)
            w = max(int(acc.max()), 1).bit_length()
            acc, width = (acc << bits) | v, w + bits
    _, inv = np.unique(acc, return_inverse=True)
    return inv.reshape(-1).astype(np.int64)
