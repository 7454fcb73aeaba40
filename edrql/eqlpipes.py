"""EQL's pipes: ``unique a, b``, ``unique_count a, b`` and ``count a, b`` (``filter`` is
``where``, built by the parser; ``nocase`` sort keys are in execute._sort).

Keys compare as ``==`` does (and as EQL's pipes do): text case-insensitively, ``host`` by
the host-name rule; a null is a value of its own. Groups are found with one hash pass over
integer codes of the keys (``npkeys.dense_ids``), in the order of their first row; no Python
loop runs over rows.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import ast as A
from .errors import QueryError
from .expr import Evaluator
from .names import resolve_column
from .npkeys import dense_ids, first_of_each
from .summarize import _text_groups, as_column, plain


def _codes(col, expr, t: pa.Table) -> np.ndarray:
    """An int64 code per row: equal codes for values == calls equal; -1 for null."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    g = _text_groups(col, expr, t)
    if g is not None:
        _, codes, gid = g
        c = pc.fill_null(codes, len(gid)).to_numpy(zero_copy_only=False)
        return np.r_[gid, -1].astype(np.int64)[c]          # null: the code after the last
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        raise QueryError("a list cannot be a key of unique or count", expr.pos,
                         "use one value of it, e.g. x[0], or mv-expand x first")
    enc = pc.dictionary_encode(col)
    return pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _groups(exprs: list, t: pa.Table, ctx):
    """(group id per row in order of first appearance, the key columns as evaluated)."""
    ev = Evaluator(t, ctx.scope)
    cols = [as_column(ev.eval(e), t.num_rows) for e in exprs]
    codes = [_codes(c, e, t) for c, e in zip(cols, exprs)]
    return dense_ids(*codes), cols


def _firsts(ids: np.ndarray) -> np.ndarray:
    """The first row of each group (ids dense in order of first appearance): O(n), no sort."""
    return np.flatnonzero(first_of_each(ids))


def _weights(t: pa.Table) -> np.ndarray | None:
    """EQL's unique_count adds up an incoming ``count`` (a row that already stands for
    several, e.g. after another unique_count); a missing count is 1."""
    name = resolve_column("count", t.column_names)
    if name is None or not pa.types.is_integer(t.schema.field(name).type):
        return None
    return pc.fill_null(t[name], 1).to_numpy(zero_copy_only=False).astype(np.int64)


def unique(st: A.Unique, t: pa.Table, ctx) -> pa.Table:
    """``unique``: the first row of each combination; ``unique_count``: with ``count`` (rows
    of the combination) and ``percent`` (count / all rows), in the order of first rows."""
    if t.num_rows == 0:
        return _with_counts(t, [], []) if st.counted else t
    ids, _ = _groups(st.exprs, t, ctx)
    first = _firsts(ids)
    out = t.take(pa.array(first, pa.int64()))
    if not st.counted:
        return out
    w = _weights(t)
    counts = np.bincount(ids, weights=w).astype(np.int64) if w is not None else np.bincount(ids)
    total = int(counts.sum())
    return _with_counts(out, counts, counts / total if total else counts.astype(np.float64))


def _with_counts(t: pa.Table, counts, percent) -> pa.Table:
    """``count`` and ``percent`` columns: an existing one of that name is replaced in place
    (EQL overwrites the field)."""
    for name, values, typ in (("count", counts, pa.int64()), ("percent", percent, pa.float64())):
        arr = pa.array(np.asarray(values), typ)
        have = resolve_column(name, t.column_names)
        if have is not None and have.lower() == name:
            t = t.set_column(t.column_names.index(have), name, arr)
        else:
            t = t.append_column(name, arr)
    return t


def count_by(st: A.Count, t: pa.Table, ctx) -> pa.Table:
    """EQL's ``count a[, b…]``: one row per value — ``key`` (its first spelling; with several
    keys a list of them), ``count`` and ``percent`` — ordered by count, then key (ascending,
    nulls first), as EQL orders them."""
    if t.num_rows == 0:
        return pa.table({"key": pa.array([], pa.string()), "count": pa.array([], pa.int64()),
                         "percent": pa.array([], pa.float64())})
    ids, cols = _groups(st.keys, t, ctx)
    first = _firsts(ids)
    counts = np.bincount(ids)
    idx = pa.array(first, pa.int64())
    keys = [plain(pa.table({"k": c.take(idx)}))["k"].combine_chunks() for c in cols]
    order_t = pa.table({"count": counts, **{f"k{i}": k for i, k in enumerate(keys)}})
    order = pc.sort_indices(order_t, sort_keys=[("count", "ascending", "at_start")] + [
        (f"k{i}", "ascending", "at_start") for i in range(len(keys))])
    key = keys[0] if len(keys) == 1 else _list_of(keys)
    out = pa.table({"key": key, "count": pa.array(counts, pa.int64()),
                    "percent": pa.array(counts / counts.sum(), pa.float64())})
    return out.take(order)


def _list_of(keys: list) -> pa.Array:
    """Per group the list [k0, k1, …] (EQL's key of several fields); of one type when the
    keys share one, else as text."""
    if len({k.type for k in keys}) > 1:
        from .fnlib.textcast import as_text
        keys = [as_text(k) for k in keys]
    g, n = len(keys[0]), len(keys)
    flat = pa.concat_arrays(keys)
    order = (np.arange(g)[:, None] + np.arange(n)[None, :] * g).ravel()
    return pa.ListArray.from_arrays(pa.array(np.arange(0, g * n + 1, n), pa.int32()),
                                    flat.take(pa.array(order, pa.int64())))


def nocase_key(v):
    """A sort key compared case-insensitively: text lower-cased (Unicode lower case); other
    values as they are."""
    from .compare import is_str
    typ = v.type.value_type if pa.types.is_dictionary(v.type) else v.type
    if not is_str(typ):
        return v
    if pa.types.is_dictionary(v.type):
        v = v.cast(typ)
    return pc.utf8_lower(v)
