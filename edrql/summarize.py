"""summarize / stats: hash aggregation over Arrow columns (pyarrow group_by), with
text keys grouped the way ``==`` compares them (case folded; hosts by the host-name
rule). Also the small column helpers the executor shares (``as_column``, ``items``,
``plain``). This module must not import ``execute`` (execute imports it).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import ast as A
from .errors import QueryError
from .expr import Evaluator
from .fnlib import aggs as kqlaggs
from .functions import AGGREGATIONS
from .names import column_name, did_you_mean
from .segcodec import plain_table


plain = plain_table      # dictionary-coded columns back to plain values (results are small)


def as_column(v, n: int):
    if isinstance(v, pa.Scalar):
        if v.type == pa.null():
            return pa.nulls(n)
        return pa.repeat(v, n)          # not via as_py(): 1ns is no Python timedelta
    return v


def items(items: list[A.Item], ev: Evaluator, t: pa.Table):
    names, cols = [], []
    for i, it in enumerate(items):
        name = it.name or column_name(it.expr, i)
        if name in names:
            raise QueryError(f"column {name!r} appears twice", it.pos, f"name it: other = {name}")
        names.append(name)
        stored = _stored_codes(it.expr, t)
        cols.append(stored if stored is not None else as_column(ev.eval(it.expr), t.num_rows))
    return names, cols


def _stored_codes(expr, t: pa.Table):
    """A plain field of a dictionary-coded column, as stored: codes travel (not decoded)."""
    if not isinstance(expr, A.Field):
        return None
    from .names import resolve_column
    name = resolve_column(expr.name, t.column_names)
    if name is None or not pa.types.is_dictionary(t.schema.field(name).type):
        return None
    return t.column(name)


def stats(t: pa.Table, aggs: list[A.Agg], by: list[A.Item], ctx,
          notes: list | None = None) -> pa.Table:
    """Text keys group the way == compares (see fold_key); what was merged goes to notes."""
    ev = Evaluator(t, ctx.scope)
    key_names, key_cols = items(by, ev, t) if by else ([], [])
    for i, it in enumerate(by):    # a plain field groups on the column as stored (codes too)
        if isinstance(it.expr, A.Field):
            from .names import resolve_column
            name = resolve_column(it.expr.name, t.column_names)
            if name is not None and pa.types.is_dictionary(t.schema.field(name).type):
                key_cols[i] = t.column(name)
            elif ev._dictionary(it.expr) is not None:      # the case's cached encoding
                key_cols[i] = ev._dictionary(it.expr)
    key_cols = [fold_key(c, it.expr, t, n, notes) for c, it, n in zip(key_cols, by, key_names)]
    work = dict(zip(key_names, key_cols))
    specs: list = []              # (column, hash aggregate, options) of the one group_by
    producers: list = []
    taken = set(key_names)
    for i, a in enumerate(aggs):
        if a.call.name in kqlaggs.NAMES:
            p = kqlaggs.prepare(a, i, t, ev, work, specs, key_names, _agg_input, _agg_output,
                                fold_ids)
        else:
            p = _standard(a, i, t, ev, work, specs)
        for out in p.names:
            if out in taken:
                raise QueryError(f"column {out!r} appears twice", a.pos, f"name it: {out}2 = …")
            taken.add(out)
        producers.append(p)
    if any(p.rows for p in producers):       # the groups' row lists (percentile)
        work["__row"] = pa.array(np.arange(t.num_rows, dtype=np.int64))
        specs.append(("__row", "list", None))
    if not work:
        work["__empty"] = pa.nulls(t.num_rows, pa.int8())
    wt = pa.table(work)
    keys = key_names
    if not keys:                  # one group of every row
        wt = wt.append_column("__g", pa.repeat(pa.scalar(0, pa.int8()), wt.num_rows))
        keys = ["__g"]
    g = _counts_by_codes(wt, keys, specs)
    if g is None:
        # Arrow's group_by does not keep first appearance when a dictionary key has nulls
        # (measured, pyarrow 26): the groups are put back in that order by their first row
        again = any(pa.types.is_dictionary(wt.schema.field(k).type) and wt.column(k).null_count
                    for k in keys)
        aggs = [(s, f, o) if o is not None else (s, f) for s, f, o in specs]
        if again:
            rows = np.arange(wt.num_rows, dtype=np.int64)
            wt = wt.append_column("__first", pa.Array.from_buffers(pa.int64(), wt.num_rows,
                                                                   [None, pa.py_buffer(rows)]))
            aggs.append(("__first", "min"))
        g = wt.group_by(keys, use_threads=False).aggregate(aggs)
        if again:
            g = g.take(pc.sort_indices(g["__first_min"]))
    if not key_names and g.num_rows == 0:    # no rows: counts are 0, others null
        return pa.table({n: pa.array([v]) for p in producers for n, v in zip(p.names, p.empty)})
    cols = {f"{s}_{f}": g[f"{s}_{f}"] for s, f, _ in specs}
    out = {k: g[k] for k in key_names}
    for p in producers:
        out.update(zip(p.names, p.finish(cols, cols.get("__row_list"))))
    return plain(pa.table(out))


def _counts_by_codes(wt: pa.Table, keys: list[str], specs: list) -> pa.Table | None:
    """``count()`` (of rows) by one dictionary-coded key, from its codes: what group_by
    gives (groups in the order first met, the null key one group) without Arrow's query
    engine, whose import alone costs a one-shot ~20-30 ms. None when it does not apply."""
    every_row = pc.CountOptions(mode="all")
    if len(keys) != 1 or not specs or any(f != "count" or o is None or o != every_row
                                          for _, f, o in specs):
        return None
    col = wt.column(keys[0])
    if not pa.types.is_dictionary(col.type) or col.num_chunks != 1:
        return None
    col = col.chunk(0)
    m, n = len(col.dictionary), len(col)
    k = pc.fill_null(col.indices.cast(pa.int64()), m).to_numpy(zero_copy_only=False)
    counts = np.bincount(k, minlength=m + 1)
    first = np.full(m + 1, n, np.int64)
    np.minimum.at(first, k, np.arange(n, dtype=np.int64))
    groups = np.flatnonzero(counts)
    groups = groups[np.argsort(first[groups], kind="stable")]
    idx = pa.Array.from_buffers(pa.int64(), len(groups), [None, pa.py_buffer(groups)])
    idx = pc.if_else(pc.equal(idx, m), pa.scalar(None, pa.int64()), idx)
    out = {keys[0]: pa.DictionaryArray.from_arrays(idx.cast(col.indices.type), col.dictionary)}
    got = counts[groups]
    for s, f, _ in specs:
        out[f"{s}_{f}"] = pa.Array.from_buffers(pa.int64(), len(got), [None, pa.py_buffer(got)])
    return pa.table(out)


def _standard(a: A.Agg, i: int, t: pa.Table, ev: Evaluator, work: dict,
              specs: list) -> kqlaggs.Producer:
    """edrql's own aggregations (count, dcount, min, max, sum, avg, values, first, last)."""
    spec = AGGREGATIONS.get(a.call.name)
    if spec is None:
        raise QueryError(f"unknown aggregation {a.call.name}()", a.call.pos,
                         did_you_mean(a.call.name, AGGREGATIONS))
    if spec.needs_arg and len(a.call.args) != 1:
        raise QueryError(f"{spec.name}() takes one argument", a.call.pos, f"e.g. {spec.example}")
    out = a.name or (spec.name if not a.call.args else column_name(
        A.Call(spec.name, a.call.args), i))
    src = f"__a{i}"
    typ = None
    if a.call.args:
        fn = spec.arrow or "count"
        arg = as_column(ev.eval(a.call.args[0]), t.num_rows)
        if fn in ("sum", "mean", "min", "max") and \
                kqlaggs.is_raw_text(a.call.args[0], t.column_names, arg.type):
            arg = kqlaggs.numeric(arg, keep_text_unless_all=fn in ("min", "max"))
        work[src] = _agg_input(arg, fn)
        if work[src] is not arg:
            typ = arg.type
        if fn == "count_distinct":       # distinct as == tells values apart
            work[src] = fold_ids(work[src], a.call.args[0], t)
        opts = pc.CountOptions(mode="only_valid") if fn in ("count", "count_distinct") else None
    else:
        work[src] = pa.nulls(t.num_rows, pa.int8())
        fn, opts = "count", pc.CountOptions(mode="all")
    specs.append((src, fn, opts))
    return kqlaggs.Producer([out], lambda cols, rows: [_agg_output(cols[f"{src}_{fn}"], typ, fn)],
                            [0 if fn in ("count", "count_distinct") else None])


def _is_host(expr, t: pa.Table) -> bool:
    from .names import resolve_column
    name = resolve_column(expr.name, t.column_names) if isinstance(expr, A.Field) else None
    return name is not None and name.lower() == "host"


def _text_groups(col, expr, t: pa.Table):
    """(distinct values, row codes into them, a group id per distinct value) for a text
    column, or None for other types: groups are == classes (case folded; hosts by the
    host-name rule of hostnames.py)."""
    from .compare import is_str
    from .hostnames import distinct_codes, group_codes
    typ = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
    if isinstance(col, pa.Scalar) or not is_str(typ):
        return None
    values, codes = distinct_codes(col)
    if _is_host(expr, t):
        gid = group_codes(values)
    else:
        gid = pc.dictionary_encode(pc.utf8_lower(values)).indices.to_numpy(zero_copy_only=False)
    return values, codes, np.asarray(gid, np.int64)


def fold_key(col, expr, t: pa.Table, name: str, notes: list | None):
    """A grouping key as == compares it: the spellings of one value become one key,
    shown as its most frequent spelling (ties: the first in code-point order)."""
    g = _text_groups(col, expr, t)
    if g is None:
        return col
    values, codes, gid = g
    if not len(gid) or np.count_nonzero(np.bincount(gid)) == len(values):   # nothing to merge
        return pa.DictionaryArray.from_arrays(codes, values)
    n_groups = int(gid.max()) + 1
    valid = pc.drop_null(codes).to_numpy(zero_copy_only=False)
    counts = np.bincount(valid, minlength=len(values))
    rank = np.empty(len(values), np.int64)
    rank[pc.sort_indices(values).to_numpy(zero_copy_only=False)] = np.arange(len(values))
    order = np.lexsort((rank, -counts, gid))         # per group: most rows, then code point
    first = np.ones(len(order), bool)
    first[1:] = gid[order][1:] != gid[order][:-1]
    rep = np.empty(n_groups, np.int64)
    rep[gid[order][first]] = order[first]
    per_value = pa.array(rep[gid].astype(np.int32))
    key = pa.DictionaryArray.from_arrays(pc.take(per_value, codes), values)
    if notes is not None:
        sizes = np.bincount(gid, weights=(counts > 0), minlength=n_groups)
        merged = np.nonzero(sizes > 1)[0]
        if len(merged):
            g0 = merged[0]
            spell = [values[int(i)].as_py() for i in order[gid[order] == g0] if counts[i]]
            rule = "the host-name rule: case and domain" if _is_host(expr, t) else "case ignored"
            notes.append(f"note: {name} is grouped as == compares ({rule}): {len(merged):,} "
                         f"group(s) joined several spellings, e.g. {' = '.join(spell[:4])}; "
                         f"values({name}) lists them")
    return key


def fold_ids(col, expr, t: pa.Table):
    """A text column as == class ids (for dcount), other columns as they are."""
    g = _text_groups(col, expr, t)
    if g is None:
        return col
    _, codes, gid = g
    return pc.take(pa.array(gid), codes)


_VIA_INT = ("min", "max", "sum", "mean", "first", "last")


def _agg_input(col, fn: str):
    """Arrow's hash aggregates have no kernels for the null type (hash_distinct even
    crashes the process on it) and few for durations: aggregate those as int64."""
    if col.type == pa.null() or (pa.types.is_duration(col.type) and fn in _VIA_INT):
        return pc.cast(col, pa.int64())
    return col


def _agg_output(col, typ: pa.DataType, fn: str):
    """An aggregate over durations back to a duration (a mean rounded to the ns)."""
    if typ is not None and pa.types.is_duration(typ) and fn in _VIA_INT:
        if fn == "mean":
            col = pc.cast(pc.round(col), pa.int64())
        return pc.cast(col, typ)
    return col
