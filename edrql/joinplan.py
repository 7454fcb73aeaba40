"""What the checker knows of join, lookup, union, mv-expand, datatable, externaldata
and ``in (table)`` before any row is read: their output columns and kinds, unknown
key names, keys of different kinds, union columns of clashing kinds. The executor
(``joins``, ``tablexpr``) applies the same rules (``key_problem``, ``union_type``)
to the real tables.

Functions take the Planner as an argument (plan imports this module, not the reverse).
"""
from __future__ import annotations

import re

import pyarrow as pa

from . import ast as A
from .errors import QueryError
from .names import column_name, did_you_mean, resolve_column
from .fnspec import (ANY, BOOL, DURATION, FLOAT, INT, LIST, NOUNS, NULL, NUMBER, TEXT, TIME,
                     kind_of)
from .schema import TS

#: KQL's type names (datatable, externaldata, typeof) → Arrow type (dynamic is kept as text)
KQL_TYPES = {"string": pa.string(), "int": pa.int64(), "long": pa.int64(), "real": pa.float64(),
             "double": pa.float64(), "decimal": pa.float64(), "bool": pa.bool_(),
             "boolean": pa.bool_(), "datetime": TS, "date": TS, "timespan": pa.duration("ns"),
             "time": pa.duration("ns"), "dynamic": pa.string(), "guid": pa.string()}

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(//|[^\\/]{2,})")


def kql_type(decl: A.ColumnDecl) -> pa.DataType:
    t = KQL_TYPES.get(decl.type.lower())
    if t is None:
        raise QueryError(f"unknown type {decl.type!r} for column {decl.name}", decl.pos,
                         "types: " + ", ".join(KQL_TYPES))
    return t


def is_url(path: str) -> bool:
    """http://…, https://…, s3://…, file:…: anything with a scheme (not C:\\…)."""
    return bool(_URL.match(path.strip()))


def resolve_side(name: str, columns, side: str, stage: str, pos) -> str:
    col = resolve_column(name, list(columns))
    if col is None:
        raise QueryError(f"{stage}: the {side} side has no column {name!r}", pos,
                         did_you_mean(name, columns) or
                         f"its columns: {', '.join(list(columns)[:12])}")
    return col


def key_problem(ln: str, lk: str, rn: str, rk: str, stage: str):
    """(message, hint) when two join keys cannot be compared, else None."""
    if LIST in (lk, rk):
        which = ln if lk == LIST else rn
        return (f"{stage} cannot match on a list; {which} is {NOUNS[LIST]}",
                "expand it first: mv-expand " + which)
    if ANY in (lk, rk) or NULL in (lk, rk) or lk == rk or {lk, rk} <= NUMBER:
        return None
    return (f"{stage} keys must be of one kind: $left.{ln} is {NOUNS[lk]}, $right.{rn} is "
            f"{NOUNS[rk]}", f"convert one side in its pipeline, e.g. extend {rn} = "
            f"{'toint' if lk in NUMBER else 'tostring'}({rn})")


def union_kind(name: str, seen: list[tuple[str, str]]):
    """The one kind of a union column over its tables ((label, kind) pairs), or a problem."""
    ks = [(lab, k) for lab, k in seen if k != NULL]
    if not ks:
        return NULL, None
    kinds = {k for _, k in ks}
    if ANY in kinds:
        return ANY, None
    if len(kinds) == 1:
        return ks[0][1], None
    if kinds <= NUMBER:
        return FLOAT, None
    (l1, k1), (l2, k2) = ks[0], next(x for x in ks if x[1] != ks[0][1])
    return None, (f"union: column {name!r} is {NOUNS[k1]} in {l1} and {NOUNS[k2]} in {l2}",
                  f"make it one kind in each, e.g. extend {name} = tostring({name})")


def _plain_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_timestamp(t):
        return TS
    return t


def union_type(name: str, seen: list[tuple[str, pa.DataType]]):
    """(Arrow type, problem) of a union column over its tables' types."""
    kind, problem = union_kind(name, [(lab, kind_of(t)) for lab, t in seen])
    if problem:
        return None, problem
    types = [_plain_type(t) for _, t in seen if not pa.types.is_null(t)]
    if not types:
        return pa.null(), None
    if kind == FLOAT and len(set(types)) > 1:
        return pa.float64(), None
    if kind == INT and len(set(types)) > 1:
        return pa.int64(), None
    if len(set(types)) > 1:
        return None, (f"union: column {name!r} has different types ({', '.join(map(str, set(types)))})",
                      f"make it one type in each, e.g. extend {name} = tostring({name})")
    return types[0], None


# ---------------------------------------------------------------- planner side
def _join_kinds(lcols, rcols, st, planner_stage: str):
    kind = getattr(st, "kind", None)
    keys = []
    for c in st.on:
        ln = resolve_side(c.left, lcols, "left", planner_stage, c.pos)
        rn = resolve_side(c.right, rcols, "right", planner_stage, c.pos)
        problem = key_problem(ln, lcols[ln], rn, rcols[rn], planner_stage)
        if problem:
            raise QueryError(problem[0], c.pos, problem[1])
        keys.append(rn)
    if isinstance(st, A.Join) and kind in ("leftsemi", "leftanti", "anti", "leftantisemi"):
        return dict(lcols)
    if isinstance(st, A.Join) and kind in ("rightsemi", "rightanti", "rightantisemi"):
        return dict(rcols)
    out = dict(lcols)
    for n, k in rcols.items():
        if isinstance(st, A.Lookup) and n in keys:
            continue
        name = n
        if name in out:
            i = 1
            while f"{n}{i}" in out:
                i += 1
            name = f"{n}{i}"
        out[name] = k
    return out


def plan_stage(planner, st, cols):
    """Output columns (name → kind) of one of joins.STAGES, None when not known."""
    if isinstance(st, A.MvExpand):
        if cols is None:
            return None
        out = dict(cols)
        for i, it in enumerate(st.items):
            k = planner.expr(it.expr, cols)
            if k not in (LIST, ANY, NULL):
                raise QueryError(f"mv-expand needs a list; {column_name(it.expr, i)} is "
                                 f"{NOUNS[k]}", it.expr.pos, "lists come from stats values(x) "
                                 "(or make_set, split, parse_json where available)")
            typ = None
            if it.to is not None:
                typ = kql_type(A.ColumnDecl(it.to, it.to, it.pos))
            out[it.name or column_name(it.expr, i)] = kind_of(typ) if typ is not None else ANY
        return out
    if isinstance(st, A.UnionOf):
        parts = [("the input", cols)] + [(n, planner.pipeline(p)) for n, p in zip(st.names, st.items)]
        return union_columns(parts, st)
    rcols = planner.pipeline(st.right)
    if cols is None or rcols is None:
        return None
    return _join_kinds(cols, rcols, st, "join" if isinstance(st, A.Join) else "lookup")


def union_columns(parts, st: A.UnionOf):
    if any(c is None for _, c in parts):
        return None
    order, seen = [], {}
    for label, cols in parts:
        for n, k in cols.items():
            if n not in seen:
                order.append(n)
                seen[n] = []
            seen[n].append((label, k))
    if st.kind == "inner":
        order = [n for n in order if len(seen[n]) == len(parts)]
    out = {st.withsource: TEXT} if st.withsource else {}
    for n in order:
        k, problem = union_kind(n, seen[n])
        if problem:
            raise QueryError(problem[0], st.pos, problem[1])
        out[n] = k
    return out


def plan_source(planner, src):
    if isinstance(src, A.UnionOf):
        return union_columns([(n, planner.pipeline(p)) for n, p in zip(src.names, src.items)], src)
    for d in src.columns:
        kql_type(d)
    if isinstance(src, A.DataTable):
        n = len(src.columns)
        if len(src.values) % n:
            raise QueryError(f"datatable has {n} column(s) but {len(src.values)} value(s): "
                             f"not a whole number of rows", src.pos,
                             "write one value per column for each row")
        for v in src.values:
            planner.expr(v, {})
    else:
        check_paths(src)
    return {d.name: kind_of(kql_type(d)) for d in src.columns}


def check_paths(src: A.ExternalData) -> None:
    for p in src.paths:
        if is_url(p):
            raise QueryError(f"externaldata: {p!r} is a URL; edrql never reads the network: "
                             "download the file and give its path", src.pos,
                             'externaldata(Sha256:string) ["iocs.csv"]')


def in_table(planner, e: A.InList, cols):
    """Kind (bool) of ``x in (T)`` / ``x in (T | project c)``, or None when e is a plain list."""
    src = table_of_in(e, cols, planner.tables, planner.scalars)
    if src is None:
        return None
    k = planner.expr(e.expr, cols)
    sub = planner.pipeline(src) if isinstance(src, A.Pipeline) else planner.tables[src]
    if sub is not None:
        if len(sub) != 1:
            raise QueryError(f"in (…) of a table needs one column; it has {len(sub)}: "
                             f"{', '.join(list(sub)[:6])}", e.items[0].pos,
                             f"choose one: in ({_name_of(e.items[0])} | project {next(iter(sub), 'c')})")
        ik = next(iter(sub.values()))
        if LIST in (k, ik) or DURATION in (k, ik) or not (
                ANY in (k, ik) or NULL in (k, ik) or k == ik or {k, ik} <= NUMBER or
                TEXT in (k, ik) or {k, ik} <= {TIME, TEXT}):
            raise QueryError(f"in (…) on {NOUNS[k]} cannot hold {NOUNS[ik]}", e.items[0].pos,
                             "convert one of them alike: tostring(…), toint(…)")
    return BOOL


def _name_of(item) -> str:
    return item.name if isinstance(item, A.Field) else item.pipeline.source.name


def table_of_in(e: A.InList, columns, tables, scalars):
    """The tabular right side of an ``in``: a Pipeline (subquery), a table name, or None."""
    if len(e.items) != 1:
        return None
    item = e.items[0]
    if isinstance(item, A.Subquery):
        return item.pipeline
    if isinstance(item, A.Field) and item.name in tables and item.name not in scalars and \
            (columns is None or resolve_column(item.name, list(columns)) is None):
        return item.name
    return None
