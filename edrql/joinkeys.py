"""Matching join keys: which right rows each left row joins, columnar (numpy + Arrow).

Keys compare exactly (case-sensitive text, as KQL's join); a row with a null key
matches nothing. Each key column becomes int64 values comparable across the two sides
(text: codes from one dictionary encoding of both sides, dictionary columns through
their dictionaries only; numbers and times: their 64-bit values), the columns are mixed
into one 64-bit hash per row, and Arrow's hash join matches the hashes (one int64 column
and the row numbers: no text, no chunks), the pairs are ordered by left row then right
row. The hash is checked to be exact on this data (every pair has equal keys; for
innerunique, left rows of one hash have one key); if it is not — two
keys sharing a 64-bit hash, which does not happen in practice — the rows are matched by
dense codes of the whole key instead (``exact_ranges``). Either way the result is exact.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .compare import is_str
from .schema import TS


@dataclass
class Ranges:
    """Per kept left row (``lrows``): its ``m`` right matches are
    ``order_r[start : start + m]``, in right-row order. ``rseen``: right rows matched by
    some left row."""
    lrows: np.ndarray
    m: np.ndarray
    start: np.ndarray
    order_r: np.ndarray
    rseen: np.ndarray


def key_type(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The one type two comparable key columns are compared as."""
    a = a.value_type if pa.types.is_dictionary(a) else a
    b = b.value_type if pa.types.is_dictionary(b) else b
    if a == b:
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    if pa.types.is_timestamp(a) or pa.types.is_timestamp(b):
        return TS
    if is_str(a) or is_str(b):
        return pa.string()
    if pa.types.is_floating(a) or pa.types.is_floating(b):
        return pa.float64()
    return pa.int64()


def _dict_id(d: pa.Array) -> tuple:
    return (d.offset, len(d)) + tuple(b.address if b is not None else 0 for b in d.buffers())


def one_chunk(col, take_only: bool = False):
    """A column as one array. Chunks of one dictionary-coded column usually share one
    dictionary (the case's encoding): their codes are concatenated under it, instead of
    Arrow's concatenation, which compares and unifies the dictionaries chunk by chunk
    (200 ms for 1,135 chunks over a 170k-value dictionary)."""
    if not isinstance(col, pa.ChunkedArray):
        return col
    if not pa.types.is_dictionary(col.type) and take_only:
        return col                                  # take over plain chunks is fast
    if col.num_chunks == 1:
        return col.chunk(0)
    if col.num_chunks == 0:
        return pa.array([], col.type)
    if pa.types.is_dictionary(col.type):
        d0 = col.chunk(0).dictionary
        ident = _dict_id(d0)
        if all(_dict_id(ch.dictionary) == ident for ch in col.chunks):
            return pa.DictionaryArray.from_arrays(
                pa.concat_arrays([ch.indices for ch in col.chunks]), d0)
    return col.combine_chunks()


def _split(col, typ: pa.DataType):
    """(values, row indices into them or None, null mask or None) of a key column, the
    values as ``typ``; dictionary columns keep their codes (only the dictionary is read)."""
    col = one_chunk(col)
    nulls = col.is_null().to_numpy(zero_copy_only=False) if col.null_count else None
    if pa.types.is_dictionary(col.type):
        values = col.dictionary
        idx = pc.fill_null(col.indices, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    else:
        values, idx = col, None
    if values.type != typ:
        values = pc.cast(values, typ)
    return values, idx, nulls


def _text_codes(lv, li, rv, ri, typ):
    enc = pc.dictionary_encode(pa.chunked_array([lv, rv], type=typ).combine_chunks())
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    out = []
    for part, idx in ((codes[:len(lv)], li), (codes[len(lv):], ri)):
        out.append(part if idx is None else (part[idx] if len(part) else
                                             np.full(len(idx), -1, np.int64)))
    return out[0], out[1], len(enc.dictionary)


def _as_int64(values, idx, typ):
    if pa.types.is_floating(typ):
        v = pc.fill_null(pc.add(pc.cast(values, pa.float64()), 0.0), 0.0)   # -0.0 is 0.0
        arr = v.to_numpy(zero_copy_only=False).view(np.int64)
    elif pa.types.is_boolean(typ):
        arr = pc.fill_null(values, False).to_numpy(zero_copy_only=False).astype(np.int64)
    else:
        arr = pc.fill_null(pc.cast(values, pa.int64()), 0).to_numpy(zero_copy_only=False)
    return arr if idx is None else arr[idx]


def column_values(la, ra):
    """One key column of both sides as comparable int64 arrays, with null masks."""
    typ = key_type(la.type, ra.type)
    lv, li, ln = _split(la, typ)
    rv, ri, rn = _split(ra, typ)
    if is_str(typ) or pa.types.is_null(typ) or not (
            pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ)
            or pa.types.is_temporal(typ)):
        lc, rc, _ = _text_codes(lv, li, rv, ri, typ)
        ln = lc < 0 if ln is None else (ln | (lc < 0))
        rn = rc < 0 if rn is None else (rn | (rc < 0))
        return lc, rc, ln, rn
    return _as_int64(lv, li, typ), _as_int64(rv, ri, typ), ln, rn


#: Arrow's hash join of the key hashes may use its thread pool
JOIN_THREADS = True

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer (uint64 arithmetic wraps)."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def _hashes(cols, n: int):
    h = np.full(n, 0x9E3779B97F4A7C15, np.uint64)
    null = np.zeros(n, bool)
    with np.errstate(over="ignore"):
        for v, nm in cols:
            h = _mix(h ^ v.astype(np.uint64, copy=False))
            if nm is not None:
                null |= nm
    return h, null


def _first_of(ids: np.ndarray, g: int) -> np.ndarray:
    """Per id in [0, g): the position of its first occurrence in ids."""
    first = np.empty(g, np.int64)
    first[ids[::-1]] = np.arange(len(ids) - 1, -1, -1, dtype=np.int64)
    return first


def _dedup_left(values, lh: np.ndarray, lrows: np.ndarray):
    """The first left row of each key among ``lrows`` (by hash, checked exact), or None."""
    if len(lrows) == 0:
        return lrows
    enc = pc.dictionary_encode(pa.array(lh[lrows].view(np.int64)))
    ids = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    first = _first_of(ids, len(enc.dictionary))
    rep = lrows[first[ids]]
    if not all(np.array_equal(v[0][lrows], v[0][rep]) for v in values):
        return None
    return lrows[first[ids] == np.arange(len(ids))]


def _pairs_in_order(li: np.ndarray, ri: np.ndarray, nr: int) -> np.ndarray:
    """The order of (left, right) row pairs: by left row, then right row."""
    if len(li) and (int(li.max()) + 1) * max(nr, 1) < 1 << 62:
        return np.argsort(li * nr + ri)
    return np.lexsort((ri, li))


def hashed_ranges(values, nl: int, nr: int, dedup_left: bool) -> Ranges | None:
    """Ranges by 64-bit key hashes: Arrow's hash join of the hashes with the row numbers
    (the pairs are then put in left-row, right-row order and checked to have equal keys);
    None when the hash is not exact on this data (two keys sharing a hash)."""
    lh, lnull = _hashes([(v[0], v[2]) for v in values], nl)
    rh, rnull = _hashes([(v[1], v[3]) for v in values], nr)
    lrows = np.nonzero(~lnull)[0]
    rrows = np.nonzero(~rnull)[0]
    if dedup_left:
        lrows = _dedup_left(values, lh, lrows)
        if lrows is None:
            return None
    lt = pa.table({"h": pa.array(lh[lrows].view(np.int64)), "l": pa.array(lrows)})
    rt = pa.table({"h": pa.array(rh[rrows].view(np.int64)), "r": pa.array(rrows)})
    j = lt.join(rt, "h", join_type="inner", use_threads=JOIN_THREADS)
    li = j.column("l").to_numpy().astype(np.int64, copy=False)
    ri = j.column("r").to_numpy().astype(np.int64, copy=False)
    if not all(np.array_equal(v[0][li], v[1][ri]) for v in values):
        return None
    o = _pairs_in_order(li, ri, nr)
    li, ri = li[o], ri[o]
    rseen = np.zeros(nr, bool)
    rseen[ri] = True
    if not dedup_left:
        lrows = np.arange(nl, dtype=np.int64)
        m = np.bincount(li, minlength=nl)
    else:
        m = np.bincount(np.searchsorted(lrows, li), minlength=len(lrows))
    start = np.cumsum(m) - m
    return Ranges(lrows, m, start, ri, rseen)


def _dense(codes: np.ndarray) -> tuple[np.ndarray, int]:
    enc = pc.dictionary_encode(pa.array(codes, mask=codes < 0))
    return pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64), \
        len(enc.dictionary)


def exact_ranges(values, nl: int, nr: int, dedup_left: bool) -> Ranges:
    """Ranges by dense codes of the whole key (no hashing): the exact fallback."""
    code = np.zeros(nl + nr, np.int64)
    for lv, rv, ln, rn in values:
        c, k = _dense(np.concatenate([lv, rv]))
        null = np.concatenate([ln if ln is not None else np.zeros(nl, bool),
                               rn if rn is not None else np.zeros(nr, bool)])
        code, card = _dense(code)
        bad = null | (code < 0) | (c < 0)
        code = code * max(k, 1) + c                  # card * k ≤ (nl + nr)² < 2**63
        code[bad] = -1
    code, g = _dense(code)
    lc, rc = code[:nl], code[nl:]
    lrows = np.arange(nl, dtype=np.int64)
    if dedup_left:
        valid = lrows[lc >= 0]
        _, first = np.unique(lc[valid], return_index=True)
        lrows = np.sort(valid[first])
    rvalid = rc >= 0
    counts = np.bincount(rc[rvalid], minlength=g) if g else np.zeros(0, np.int64)
    lcode = lc[lrows]
    m = np.where(lcode >= 0, counts[np.maximum(lcode, 0)] if g else 0, 0)
    order_r = np.argsort(np.where(rvalid, rc, g), kind="stable")[:int(rvalid.sum())]
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]) if g else np.zeros(0, np.int64)
    start = np.where(m > 0, offsets[np.maximum(lcode, 0)] if g else 0, 0)
    seen = np.zeros(max(g, 1), bool)
    seen[lc[lc >= 0]] = True
    rseen = rvalid & seen[np.maximum(rc, 0)]
    return Ranges(lrows, m, start, order_r, rseen)


def match(larrs, rarrs, nl: int, nr: int, kind: str):
    """Row numbers of a join's output: (left indices or None, right indices or None), int64
    with nulls where a side has no row — left rows in order, each with its right rows in
    order; right/full outer end with the right rows that matched nothing."""
    values = [column_values(la, ra) for la, ra in zip(larrs, rarrs)]
    dedup = kind == "innerunique"
    r = hashed_ranges(values, nl, nr, dedup) or exact_ranges(values, nl, nr, dedup)
    kind = "inner" if dedup else kind
    if kind in ("leftsemi", "leftanti"):
        return pa.array(r.lrows[(r.m > 0) if kind == "leftsemi" else (r.m == 0)]), None
    if kind in ("rightsemi", "rightanti"):
        hit = np.nonzero(r.rseen if kind == "rightsemi" else ~r.rseen)[0].astype(np.int64)
        return None, pa.array(hit)
    outer_left = kind in ("leftouter", "fullouter")
    per_left = np.maximum(r.m, 1) if outer_left else r.m
    li = np.repeat(r.lrows, per_left)
    first = np.cumsum(per_left) - per_left
    pos = np.arange(len(li), dtype=np.int64) - np.repeat(first, per_left)
    has = np.repeat(r.m > 0, per_left)
    at = np.repeat(r.start, per_left) + pos
    ri = np.where(has, r.order_r[np.minimum(at, max(len(r.order_r) - 1, 0))]
                  if len(r.order_r) else 0, 0)
    rnull = ~has if outer_left else None
    lnull = None
    if kind in ("rightouter", "fullouter"):
        extra = np.nonzero(~r.rseen)[0]
        lnull = np.concatenate([np.zeros(len(li), bool), np.ones(len(extra), bool)])
        rnull = None if rnull is None else np.concatenate([rnull, np.zeros(len(extra), bool)])
        li = np.concatenate([li, np.zeros(len(extra), np.int64)])
        ri = np.concatenate([ri, extra])
    return pa.array(li, mask=lnull), pa.array(np.asarray(ri, np.int64), mask=rnull)
