"""Columnar operations over integer keys (numpy + Arrow hashing), used by lineage
and dedup: dense group ids, as-of search, and per-group reductions."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NONE = np.iinfo(np.int64).min       # "no value" (e.g. no time) in int64 arrays


def distinct(x) -> np.ndarray:
    """The sorted distinct values of an array: what ``np.unique(x)`` gives, by a sort.
    (numpy 2.3+ answers a plain ``np.unique`` with a hash table that is ~10× slower than
    sorting on millions of integers: 1.4 s against 0.15 s for 2.5M int64.)"""
    x = np.sort(np.asarray(x).reshape(-1))
    if len(x) < 2:
        return x
    keep = np.empty(len(x), np.bool_)
    keep[0] = True
    np.not_equal(x[1:], x[:-1], out=keep[1:])
    return x[keep]


def _hash_codes(v: np.ndarray) -> np.ndarray:
    """Dense codes 0..k-1 of an integer array in first-seen order: Arrow's hash
    dictionary encoding, O(n) where a sort-based np.unique is O(n log n)."""
    idx = pc.dictionary_encode(pa.array(v)).indices
    return idx.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def dense_ids(*keys: np.ndarray) -> np.ndarray:
    """Dense group ids (0..k-1, in order of first appearance) for tuples of int64
    keys; equal tuples get equal ids.

    The keys are packed into one uint64 by their value ranges, so a single hash
    pass groups the tuple; while they do not fit in 64 bits, the widest key (e.g.
    nanosecond times) is replaced by its dense code first.
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


def first_of_each(ids: np.ndarray) -> np.ndarray:
    """True at the first row of each group, for ids from ``dense_ids`` (numbered in
    order of first appearance, so a row is first exactly when its id is new): O(n)."""
    seen = np.maximum.accumulate(ids)
    return ids > np.concatenate([[-1], seen[:-1]])


def asof(left_g, left_t, right_g, right_t) -> np.ndarray:
    """For each left (g, t): index of the right row with the same g and the largest
    t' <= t (ties: the last such row), or -1. Vectorized: one sort + searchsorted."""
    n = len(left_g)
    if n == 0 or len(right_g) == 0:
        return np.full(n, -1, np.int64)
    allt = np.concatenate([left_t, right_t])
    _, inv = np.unique(allt, return_inverse=True)
    m = int(inv.max()) + 2
    lk = left_g * m + inv[:n]
    rk = right_g * m + inv[n:]
    order = np.argsort(rk, kind="stable")
    rks = rk[order]
    pos = np.searchsorted(rks, lk, side="right") - 1
    ok = pos >= 0
    pos_c = np.where(ok, pos, 0)
    ok &= right_g[order][pos_c] == left_g
    return np.where(ok, order[pos_c], -1)


def nearest_within(left_g, left_t, right_g, right_t, tol: int) -> np.ndarray:
    """Index of the right row with the same g and |t' - t| <= tol (closest), or -1."""
    if len(right_g) == 0:
        return np.full(len(left_g), -1, np.int64)
    before = asof(left_g, left_t, right_g, right_t)
    after = asof(left_g, -left_t, right_g, -right_t)
    db = np.where(before >= 0, left_t - right_t[np.maximum(before, 0)], np.iinfo(np.int64).max)
    da = np.where(after >= 0, right_t[np.maximum(after, 0)] - left_t, np.iinfo(np.int64).max)
    pick = np.where(db <= da, before, after)
    dist = np.minimum(db, da)
    return np.where(dist <= tol, pick, -1)


# ---------------------------------------------------------------- per-group reductions
def masked(ids: np.ndarray, vals: np.ndarray, mask: np.ndarray | None):
    """The (ids, vals) pairs under ``mask`` (None: all) whose value is known;
    no copies when that is all of them."""
    m = vals != NONE
    if mask is not None:
        m &= mask
    return (ids, vals) if m.all() else (ids[m], vals[m])


def group_min(k: int, ids: np.ndarray, vals: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    out = np.full(k, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(out, *masked(ids, vals, mask))
    out[out == np.iinfo(np.int64).max] = NONE
    return out


def group_max(k: int, ids: np.ndarray, vals: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    out = np.full(k, NONE, np.int64)
    np.maximum.at(out, *masked(ids, vals, mask))
    return out


def best_row(k: int, ids: np.ndarray, rows: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Per instance, the event row with the highest score (earliest row on ties); -1 if none.
    One scatter-max over (score, -row) packed into an int64: no sort."""
    out = np.full(k, -1, np.int64)
    if len(ids) == 0:
        return out
    span = int(rows.max()) + 1
    packed = score.astype(np.int64) * span + (span - 1 - rows)
    best = np.full(k, -1, np.int64)
    np.maximum.at(best, ids, packed)
    has = best >= 0
    out[has] = span - 1 - (best[has] % span)
    return out


def unique_within(left_g, left_t, right_g, right_t, tol: int) -> np.ndarray:
    """For each left (g, t): the index of the right row with the same g and
    |t' - t| <= tol when there is exactly one such row; -1 when there is none or
    several (an ambiguous match is no match). One sort + two searchsorted."""
    n = len(left_g)
    if n == 0 or len(right_g) == 0:
        return np.full(n, -1, np.int64)
    lo_t, hi_t = left_t - tol, left_t + tol
    _, inv = np.unique(np.concatenate([right_t, lo_t, hi_t]), return_inverse=True)
    m = int(inv.max()) + 1
    r = len(right_t)
    rk = right_g * m + inv[:r]
    order = np.argsort(rk, kind="stable")
    rks = rk[order]
    lo = np.searchsorted(rks, left_g * m + inv[r: r + n], "left")
    hi = np.searchsorted(rks, left_g * m + inv[r + n:], "right")
    return np.where(hi - lo == 1, order[np.minimum(lo, r - 1)], -1)
