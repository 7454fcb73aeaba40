"""join, lookup, union and mv-expand: KQL's tabular operators over Arrow tables.

Columnar throughout: a join matches the key columns alone (with a row number on each
side) by pyarrow's hash join, then takes every output column by those row numbers —
so payload columns of any type (dictionary codes, lists, duplicate names) travel
untouched, and the output order is defined (left row order, then right row order).

KQL semantics kept (docs/language.md, *Joins*):
* ``join`` without ``kind=`` is ``innerunique``: the LEFT side keeps one row (its
  first) per key before matching;
* keys compare exactly (case-sensitive), unlike edrql's ``==``; a null key matches
  nothing;
* the right side's columns that clash with the left's get a ``1`` suffix — keys
  included (``on host`` gives ``host`` and ``host1``), except for ``lookup``, which
  does not repeat the right side's keys.

The executor's ``run_pipeline`` is passed in (this module does not import execute).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import ast as A
from .errors import QueryError
from .expr import Evaluator
from .fnspec import NOUNS, kind_of
from .joinkeys import match, one_chunk
from .joinplan import key_problem, resolve_side, union_type
from .names import column_name
from .schema import TS

#: the stages this module runs (execute dispatches them here)
STAGES = (A.Join, A.Lookup, A.UnionOf, A.MvExpand)

_KIND_ALIASES = {"anti": "leftanti", "leftantisemi": "leftanti", "rightantisemi": "rightanti",
                 None: "innerunique"}


def run_stage(st, table: pa.Table, title: str, ctx, run_pipeline) -> tuple[pa.Table, list[str]]:
    """(output table, notes) of one of STAGES over its input table."""
    if isinstance(st, A.MvExpand):
        return mv_expand(table, st, ctx), []
    if isinstance(st, A.UnionOf):
        parts = [(title.split(" | ")[0], table)] + [
            (n, run_pipeline(p, ctx).table) for n, p in zip(st.names, st.items)]
        return union(parts, st), []
    right = run_pipeline(st.right, ctx).table
    notes = [f"note: join {k}={v} is ignored (edrql joins in one process)"
             for k, v in getattr(st, "hints", {}).items()]
    if isinstance(st, A.Lookup):
        return lookup(table, right, st), notes
    return join(table, right, st), notes


def run_union_source(src: A.UnionOf, ctx, run_pipeline) -> pa.Table:
    return union([(n, run_pipeline(p, ctx).table) for n, p in zip(src.names, src.items)], src)


# ---------------------------------------------------------------- join
def _keys(left: pa.Table, right: pa.Table, on: list[A.JoinOn], stage: str):
    """(left key names, right key names, left columns, right columns), checked to be of
    comparable kinds (key_codes brings them to one type)."""
    lnames, rnames, larrs, rarrs = [], [], [], []
    for c in on:
        ln = resolve_side(c.left, left.column_names, "left", stage, c.pos)
        rn = resolve_side(c.right, right.column_names, "right", stage, c.pos)
        la, ra = left.column(ln), right.column(rn)
        problem = key_problem(ln, kind_of(la.type), rn, kind_of(ra.type), stage)
        if problem:
            raise QueryError(problem[0], c.pos, problem[1])
        lnames.append(ln)
        rnames.append(rn)
        larrs.append(la)
        rarrs.append(ra)
    return lnames, rnames, larrs, rarrs


def _unique_name(name: str, taken: set) -> str:
    k, out = 1, f"{name}1"
    while out in taken:
        k += 1
        out = f"{name}{k}"
    return out


def assemble(left: pa.Table, right: pa.Table, li, ri, drop_right=()) -> pa.Table:
    """Output columns: the left's, then the right's (clashing names get a 1 suffix)."""
    names, cols = [], []
    if li is not None:
        names += left.column_names
        cols += [one_chunk(c, True).take(li) for c in left.columns]
    taken = set(names)
    if ri is not None:
        for name, c in zip(right.column_names, right.columns):
            if name in drop_right:
                continue
            out = _unique_name(name, taken) if name in taken else name
            taken.add(out)
            names.append(out)
            cols.append(one_chunk(c, True).take(ri))
    if not cols:
        return pa.table({})
    return pa.Table.from_arrays(cols, names=names)


def join(left: pa.Table, right: pa.Table, st: A.Join) -> pa.Table:
    kind = _KIND_ALIASES.get(st.kind, st.kind)
    _, _, la, ra = _keys(left, right, st.on, "join")
    li, ri = match(la, ra, left.num_rows, right.num_rows, kind)
    return assemble(left, right, li, ri)


def lookup(left: pa.Table, right: pa.Table, st: A.Lookup) -> pa.Table:
    kind = st.kind or "leftouter"
    _, rnames, la, ra = _keys(left, right, st.on, "lookup")
    li, ri = match(la, ra, left.num_rows, right.num_rows, kind)
    return assemble(left, right, li, ri, drop_right=set(rnames))


# ---------------------------------------------------------------- union
def union(parts: list[tuple[str, pa.Table]], st: A.UnionOf) -> pa.Table:
    """Rows of every table; kind=outer: every column (null where a table has none),
    kind=inner: the columns all tables have. One column name of several types is
    promoted (int and float → float, text and codes → text), otherwise refused."""
    order: list[str] = []
    types: dict[str, list] = {}
    for label, t in parts:
        for f in t.schema:
            if f.name not in types:
                order.append(f.name)
                types[f.name] = []
            types[f.name].append((label, f.type))
    if st.kind == "inner":
        order = [n for n in order if len(types[n]) == len(parts)]
    target = {}
    for n in order:
        typ, problem = union_type(n, types[n])
        if problem:
            raise QueryError(problem[0], st.pos, problem[1])
        target[n] = typ
    if st.withsource and st.withsource in target:
        raise QueryError(f"union withsource={st.withsource}: a column of that name exists",
                         st.pos, "choose another name: withsource=SourceTable")
    tables = []
    for label, t in parts:
        cols, names = [], []
        if st.withsource:
            names.append(st.withsource)
            cols.append(pa.repeat(pa.scalar(label, pa.string()), t.num_rows))
        for n in order:
            typ = target[n]
            if n in t.column_names:
                c = t.column(n)
                cols.append(c if c.type == typ else c.cast(typ))
            else:
                cols.append(pa.nulls(t.num_rows, typ))
            names.append(n)
        tables.append(pa.Table.from_arrays(cols, names=names) if names else pa.table({}))
    if not tables or not tables[0].column_names:
        return pa.table({})
    return pa.concat_tables(tables)


# ---------------------------------------------------------------- mv-expand
_TO_TYPES = {"string": pa.string(), "int": pa.int64(), "long": pa.int64(), "real": pa.float64(),
             "double": pa.float64(), "bool": pa.bool_(), "boolean": pa.bool_(), "datetime": TS,
             "date": TS, "timespan": pa.duration("ns"), "time": pa.duration("ns"),
             "dynamic": None}


def mv_expand(t: pa.Table, st: A.MvExpand, ctx) -> pa.Table:
    """One row per element of the list columns (several: expanded in parallel, null where
    one list is shorter); a null list gives one row with null, an empty list none."""
    ev = Evaluator(t, ctx.scope)
    lists, names = [], []
    for i, it in enumerate(st.items):
        v = ev.eval(it.expr)
        if isinstance(v, pa.ChunkedArray):
            v = v.combine_chunks()
        if isinstance(v, pa.Scalar) or not (pa.types.is_list(v.type) or
                                            pa.types.is_large_list(v.type)):
            kind = kind_of(v.type)
            raise QueryError(f"mv-expand needs a list; {column_name(it.expr, i)} is {NOUNS[kind]}",
                             it.expr.pos, "lists come from stats values(x) (or make_set, split, "
                             "parse_json where available)")
        if it.to is not None and it.to not in _TO_TYPES:
            raise QueryError(f"mv-expand: unknown type {it.to}", it.pos,
                             "typeof(string), typeof(long), typeof(real), typeof(bool), "
                             "typeof(datetime)")
        lists.append(v)
        names.append(it.name or column_name(it.expr, i))
    n = t.num_rows
    lens = [pc.fill_null(pc.list_value_length(v), 1).to_numpy(zero_copy_only=False).astype(np.int64)
            for v in lists]
    per_row = np.maximum.reduce(lens) if lens else np.zeros(n, np.int64)
    if st.limit is not None:
        per_row = np.minimum(per_row, st.limit)
    parent = np.repeat(np.arange(n, dtype=np.int64), per_row)
    starts = np.concatenate([[0], np.cumsum(per_row)[:-1]]) if n else np.zeros(0, np.int64)
    pos_in_row = np.arange(len(parent), dtype=np.int64) - starts[parent]
    out = t.take(pa.array(parent))
    for v, name, it, ln in zip(lists, names, st.items, lens):
        offsets = v.offsets.to_numpy().astype(np.int64)[:-1]      # into v.values (slices too)
        ok = pos_in_row < ln[parent]
        isnull = v.is_null().to_numpy(zero_copy_only=False)[parent]
        idx = offsets[parent] + pos_in_row
        values = v.values
        col = values.take(pa.array(np.where(ok & ~isnull, idx, 0), mask=~ok | isnull)) \
            if len(values) else pa.nulls(len(parent), v.type.value_type)
        if it.to is not None and _TO_TYPES[it.to] is not None:
            col = _to_type(col, _TO_TYPES[it.to])
        i = out.column_names.index(name) if name in out.column_names else -1
        out = out.set_column(i, name, col) if i >= 0 else out.append_column(name, col)
    return out


def _to_type(col, typ: pa.DataType):
    """typeof(T): a cast; elements that are not of that type become null."""
    if col.type == typ:
        return col
    if typ == pa.string():
        from .fnlib.textcast import as_text
        return as_text(col)
    try:
        return pc.cast(col, typ, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return pa.nulls(len(col), typ)
