"""Execute stage: run checked statements against a case, stage by stage, as
columnar Arrow work (filter, take, sort, hash aggregation). Each statement
yields a ``Result``; ``let`` statements bind names for later statements.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import ast as A
from . import catalog, joins, tablexpr
from .expr import Evaluator, QueryError, Scope, column_name, did_you_mean
from .functions import AGGREGATIONS, STAGES, tables_doc
from .plan import check_stage
from .reftime import attach as attach_reftime
from .results import Result

@dataclass
class Context:
    """Everything a run needs: the case, bound names and options."""
    case: object
    scope: Scope = field(default_factory=Scope)
    lets: dict[str, pa.Table] = field(default_factory=dict)
    #: pipe functions (``tree()``, ``timeline()``…): name → fn(ctx, table|None, call) -> Result|Table
    pipes: dict[str, Callable] = field(default_factory=dict)
    cancelled: Callable[[], bool] = lambda: False
    #: the receipt of every search that ran, in order (statement form, stages, lets)
    receipts: list = field(default_factory=list)
    #: how many of ``receipts`` are already attached to a shown result
    receipts_shown: int = 0
    #: the statement being run, as receipts name it ("statement 2", "let ps")
    label: str = ""

    def table(self, name: str, pos: A.Pos, needed: set | None = None) -> pa.Table:
        """The rows of a table; ``needed`` (the columns the pipeline reads, None: all) lets a
        derived table build only those."""
        if name in self.lets:
            return self.lets[name]
        # ---- tables: one catalog (edrql/catalog.py)
        t = catalog.build(self, name, needed)
        if t is not None:
            return t
        known = catalog.names(self)
        raise QueryError(f"unknown table {name!r}", pos,
                         did_you_mean(name, known) or "tables: " + ", ".join(known))

    def attributed(self, name: str, mask) -> pa.Table:
        """Events rows of ``mask`` with the process each proxy row is attributed to."""
        from .netops import attributed
        return attributed(self, name, mask)


def run(statements: list, ctx: Context) -> list[Result]:
    """Each shown result carries (extra["receipts"]) the receipts of the searches run since
    the previous shown result: its own and those of the lets before it."""
    out = []
    for k, st in enumerate(statements, 1):
        if ctx.cancelled():
            raise KeyboardInterrupt
        ctx.label = f"let {st.name}" if isinstance(st, A.Let) else f"statement {k}"
        if isinstance(st, A.Let):
            _let(st, ctx)
            continue
        r = run_pipeline(st, ctx)
        r.table = _plain(r.table)    # codes travel between stages; a shown result is plain
        attach_receipts(r, ctx)
        attach_reftime(r, ctx.scope)        # now()/ago() read: the footer says which time
        out.append(r)
    return out


def attach_receipts(r: Result, ctx: Context) -> None:
    r.extra = dict(r.extra)
    r.extra["receipts"] = ctx.receipts[ctx.receipts_shown:]
    ctx.receipts_shown = len(ctx.receipts)
    if r.extra["receipts"]:                 # the last one, for readers of the older key
        r.extra["receipt"] = r.extra["receipts"][-1]
    else:
        r.extra.pop("receipt", None)


def pending_receipts(ctx: Context) -> list:
    """Receipts of searches not yet shown under a result (a script ending with let);
    they count as shown from now on."""
    left = ctx.receipts[ctx.receipts_shown:]
    ctx.receipts_shown = len(ctx.receipts)
    return left


def receipts_of(r: Result) -> list:
    return list(r.extra.get("receipts") or [])


def _let(st: A.Let, ctx: Context) -> None:
    v = st.value
    if isinstance(v, A.Field) and (v.name in ctx.lets or v.name in tables_doc()):
        v = A.Pipeline(A.Table(v.name, v.pos), [], v.pos)
    if isinstance(v, A.Pipeline):
        ctx.lets[st.name] = run_pipeline(v, ctx).table
        ctx.scope.lets.pop(st.name, None)
        return
    val = Evaluator(pa.table({"_": pa.array([0])}), ctx.scope).eval(v)
    if not isinstance(val, pa.Scalar):
        raise QueryError("let NAME = EXPR needs a constant expression", st.pos)
    ctx.scope.lets[st.name] = val
    ctx.lets.pop(st.name, None)


def run_pipeline(p: A.Pipeline, ctx: Context) -> Result:
    src = p.source
    notes: list[str] = []
    if isinstance(src, A.Table):
        cur = Result(src.name, ctx.table(src.name, src.pos, needed_columns(p.stages)))
    elif isinstance(src, A.Search):
        cur = Result("search", ctx.case.events)
        cur = _stage(src, cur, ctx)
    elif isinstance(src, A.UnionOf):                         # ---- joins: tabular sources
        cur = Result("union", joins.run_union_source(src, ctx, run_pipeline))
    elif isinstance(src, tablexpr.SOURCES):
        cur = Result(type(src).__name__.lower(), *tablexpr.run_source(src, ctx))
    else:
        cur = _pipe_call(src, None, ctx)
    title = _title(p)
    for i, st in enumerate(p.stages):
        if ctx.cancelled():
            raise KeyboardInterrupt
        notes.extend(cur.notes)
        if isinstance(st, A.Where):
            # the columns later stages read: the filter copies only those
            cur = _stage(st, cur, ctx, needed_columns(p.stages[i + 1:]))
        else:
            cur = _stage(st, cur, ctx)
    cur.notes = notes + cur.notes
    cur.title = title
    return cur


def _title(p: A.Pipeline) -> str:
    src = p.source
    name = src.name if isinstance(src, (A.Table, A.PipeCall)) else \
        "search" if isinstance(src, A.Search) else type(src).__name__.lower()
    stages = [type(s).__name__.lower() if not isinstance(s, A.PipeCall) else s.name
              for s in p.stages]
    return " | ".join([name] + stages)


def needed_columns(stages: list) -> set | None:
    """Columns the stages read before the first stage that replaces the columns
    (project, stats, count, distinct, timeline); None when all must be kept."""
    used: set = set()
    for st in stages:
        if isinstance(st, (A.Search, A.Save) + joins.STAGES) or \
                (isinstance(st, A.PipeCall) and st.name != "timeline"):
            return None
        if isinstance(st, A.PipeCall):            # timeline(span) by …: reads ts
            used.add("ts")
        used |= A.field_names(st)
        if isinstance(st, (A.Project, A.Stats, A.Count, A.Distinct)) or \
                (isinstance(st, A.PipeCall) and st.name == "timeline"):
            return used
    return None


def _prune(t: pa.Table, needed: set | None) -> pa.Table:
    if needed is None:
        return t
    lower = {n.lower() for n in needed}
    keep = [c for c in t.column_names if c in needed or c.lower() in lower]
    return t.select(keep) if len(keep) < t.num_columns else t


def _stage(st, cur: Result, ctx: Context, needed: set | None = None) -> Result:
    if isinstance(st, joins.STAGES):          # ---- joins: join, lookup, union, mv-expand
        return Result(cur.title, *joins.run_stage(st, cur.table, cur.title, ctx, run_pipeline))
    st = tablexpr.resolve_in(st, cur.table, ctx, run_pipeline)      # x in (T | project c)
    t = cur.table
    check_stage(st, t, ctx)          # the plan's kind rules on the real input columns
    ev = Evaluator(t, ctx.scope)
    if isinstance(st, A.Where):
        notes: list[str] = []
        out = _keep(cur, _where(t, st, ctx, needed, notes))
        out.notes = notes
        return out
    if isinstance(st, A.Project):
        names, cols = _items(st.items, ev, t)
        return _keep(cur, pa.table(dict(zip(names, cols))) if names else t)
    if isinstance(st, A.Extend):
        for it in st.items:
            val = _as_column(Evaluator(t, ctx.scope).eval(it.expr), t.num_rows)
            i = t.column_names.index(it.name) if it.name in t.column_names else -1
            t = t.set_column(i, it.name, val) if i >= 0 else t.append_column(it.name, val)
        return _keep(cur, t)
    if isinstance(st, A.Sort):
        return _keep(cur, _sort(t, st.keys, ctx))
    if isinstance(st, A.Head):
        return _keep(cur, t.slice(0, min(st.n, t.num_rows)))   # slice(0, 2**63-1) overflows
    if isinstance(st, A.Tail):
        return _keep(cur, t.slice(max(t.num_rows - st.n, 0)))
    if isinstance(st, A.Count):
        return Result(cur.title, pa.table({"count": pa.array([t.num_rows], pa.int64())}))
    if isinstance(st, A.Stats):
        notes: list[str] = []
        return Result(cur.title, stats(t, st.aggs, st.by, ctx, notes), notes)
    if isinstance(st, A.Distinct):
        items = [A.Item(None, e, e.pos) for e in st.exprs]
        names, cols = _items(items, ev, t)
        notes = []
        cols = [fold_key(c, e, t, names[i], notes) for i, (c, e) in enumerate(zip(cols, st.exprs))]
        g = pa.table(dict(zip(names, cols))).group_by(names, use_threads=False).aggregate([])
        return Result(cur.title, _plain(g.select(names)), notes)
    if isinstance(st, A.Top):
        key = A.SortKey(st.key.expr, st.key.desc is not False, st.key.pos)
        return _keep(cur, _sort(t, [key], ctx).slice(0, min(st.n, t.num_rows)))
    if isinstance(st, A.Save):
        from .render import write_file
        try:
            write_file(t, st.path)
        except OSError as e:
            raise QueryError(f"cannot write {st.path}: {e.strerror}", st.pos) from None
        except ValueError as e:
            raise QueryError(f"save: {e}", st.pos, "the extension says the format; "
                             "edrql does not guess") from None
        return Result(cur.title, t, [f"saved {t.num_rows:,} rows to {os.path.abspath(st.path)}"])
    if isinstance(st, A.Search):
        from .search import search_table
        if "matched" in t.column_names:      # a second search names its own matches
            t = t.drop_columns(["matched"])
        # the quarantine is searched too when the search reads the whole events table
        table, receipt = search_table(t, st, ctx, quarantine=t is ctx.case.events)
        receipt.statement = ctx.label
        ctx.receipts.append(receipt)
        return Result(cur.title, table, [], "rows", {"receipt": receipt})
    if isinstance(st, A.PipeCall):
        return _pipe_call(st, cur, ctx)
    raise QueryError(f"unsupported stage {type(st).__name__}", getattr(st, "pos", A.NOPOS))


def _where(t: pa.Table, st: A.Where, ctx: Context, needed: set | None,
           notes: list | None = None) -> pa.Table:
    """Conjuncts that are cheap on the whole table (numbers, times, strings with a cached
    encoding) are combined as masks; the others run one at a time on the rows still in
    play. Each copy keeps only the columns the rest of the pipeline reads. What the
    evaluation has to tell the analyst (host comparisons) is added to ``notes``."""
    parts = _conjuncts(st.expr)
    # host tests first, on every row of the input: their notes speak of the whole input
    parts.sort(key=lambda x: not any(isinstance(f, A.Field) and f.name.lower() == "host"
                                     for f in A.walk(x)))
    later = [set()] * (len(parts) + 1)     # fields read by parts[k:], built once: O(n)
    for k in range(len(parts) - 1, -1, -1):
        own = A.field_names(parts[k])
        later[k] = later[k + 1] | own if not own <= later[k + 1] else later[k + 1]
    mask = None
    for k, part in enumerate(parts):
        ev = Evaluator(t, ctx.scope)
        if mask is not None and not ev.cheap(part):
            keep = None if needed is None else needed | later[k]
            t = _prune(t, keep).filter(mask)
            mask = None
            ev = Evaluator(t, ctx.scope)
        m = ev.eval(part)
        if notes is not None:
            notes.extend(n for n in ev.notes if n not in notes)
        if isinstance(m, pa.Scalar):
            if not m.as_py():
                return t.slice(0, 0)
            continue
        if not pa.types.is_boolean(m.type):
            raise QueryError(f"where needs a condition (true/false), got {m.type}", part.pos)
        mask = m if mask is None else pc.and_kleene(mask, m)
    if mask is None:
        return t
    return _encoded(_prune(t, needed), t, ctx).filter(mask)


def _encoded(sub: pa.Table, whole: pa.Table, ctx: Context) -> pa.Table:
    """Text columns of the case's events that have a (cached or kept) encoding travel as
    dictionary codes: filtering and grouping move 4-byte codes instead of strings."""
    if not any(whole is s for s in ctx.scope.stable):
        return sub
    ev = Evaluator(whole, ctx.scope)
    for i, name in enumerate(sub.column_names):
        if not pa.types.is_string(sub.schema.field(name).type):
            continue
        enc = ev._dictionary(A.Field(name))
        if enc is not None:
            sub = sub.set_column(i, name, enc)
    return sub


def _plain(t: pa.Table) -> pa.Table:
    """Dictionary-coded columns back to plain values (results are small)."""
    for i, f in enumerate(t.schema):
        if pa.types.is_dictionary(f.type):
            t = t.set_column(i, f.name, t.column(i).cast(f.type.value_type))
    return t


def _conjuncts(e) -> list:
    if isinstance(e, A.Binary) and e.op == "and":
        return _conjuncts(e.left) + _conjuncts(e.right)
    return [e]


def _keep(cur: Result, table: pa.Table) -> Result:
    return Result(cur.title, table, [], cur.kind, cur.extra)


def _as_column(v, n: int):
    if isinstance(v, pa.Scalar):
        if v.type == pa.null():
            return pa.nulls(n)
        return pa.repeat(v, n)          # not via as_py(): 1ns is no Python timedelta
    return v


def _items(items: list[A.Item], ev: Evaluator, t: pa.Table):
    names, cols = [], []
    for i, it in enumerate(items):
        name = it.name or column_name(it.expr, i)
        if name in names:
            raise QueryError(f"column {name!r} appears twice", it.pos, f"name it: other = {name}")
        names.append(name)
        stored = _stored_codes(it.expr, t)
        cols.append(stored if stored is not None else _as_column(ev.eval(it.expr), t.num_rows))
    return names, cols


def _stored_codes(expr, t: pa.Table):
    """A plain field of a dictionary-coded column, as stored: codes travel (not decoded)."""
    if not isinstance(expr, A.Field):
        return None
    from .expr import resolve_column
    name = resolve_column(expr.name, t.column_names)
    if name is None or not pa.types.is_dictionary(t.schema.field(name).type):
        return None
    return t.column(name)


def _sort(t: pa.Table, keys: list[A.SortKey], ctx: Context) -> pa.Table:
    ev = Evaluator(t, ctx.scope)
    tmp, order = {}, []
    for i, k in enumerate(keys):
        v = _as_column(ev.eval(k.expr), t.num_rows)
        name = f"__k{i}"
        tmp[name] = v
        order.append((name, "descending" if k.desc is True else "ascending", "at_end"))
    if not order or t.num_rows == 0:
        return t
    idx = pc.sort_indices(pa.table(tmp), sort_keys=order)
    return t.take(idx)


def stats(t: pa.Table, aggs: list[A.Agg], by: list[A.Item], ctx: Context,
          notes: list | None = None) -> pa.Table:
    """Text keys group the way == compares (see fold_key); what was merged goes to notes."""
    ev = Evaluator(t, ctx.scope)
    key_names, key_cols = _items(by, ev, t) if by else ([], [])
    for i, it in enumerate(by):    # a plain field groups on the column as stored (codes too)
        if isinstance(it.expr, A.Field):
            from .expr import resolve_column
            name = resolve_column(it.expr.name, t.column_names)
            if name is not None and pa.types.is_dictionary(t.schema.field(name).type):
                key_cols[i] = t.column(name)
            elif ev._dictionary(it.expr) is not None:      # the case's cached encoding
                key_cols[i] = ev._dictionary(it.expr)
    key_cols = [fold_key(c, it.expr, t, n, notes) for c, it, n in zip(key_cols, by, key_names)]
    work = dict(zip(key_names, key_cols))
    specs, out_names, types = [], [], {}
    for i, a in enumerate(aggs):
        spec = AGGREGATIONS.get(a.call.name)
        if spec is None:
            raise QueryError(f"unknown aggregation {a.call.name}()", a.call.pos,
                             did_you_mean(a.call.name, AGGREGATIONS))
        if spec.needs_arg and len(a.call.args) != 1:
            raise QueryError(f"{spec.name}() takes one argument", a.call.pos, f"e.g. {spec.example}")
        out = a.name or (spec.name if not a.call.args else column_name(
            A.Call(spec.name, a.call.args), i))
        if out in out_names or out in key_names:
            raise QueryError(f"column {out!r} appears twice", a.pos, f"name it: {out}2 = …")
        out_names.append(out)
        src = f"__a{i}"
        if a.call.args:
            fn = spec.arrow or "count"
            arg = _as_column(ev.eval(a.call.args[0]), t.num_rows)
            work[src] = _agg_input(arg, fn)
            if work[src] is not arg:
                types[src] = arg.type
            if fn == "count_distinct":       # distinct as == tells values apart
                work[src] = fold_ids(work[src], a.call.args[0], t)
            opts = pc.CountOptions(mode="only_valid") if fn in ("count", "count_distinct") else None
        else:
            work[src] = pa.nulls(t.num_rows, pa.int8())
            fn, opts = "count", pc.CountOptions(mode="all")
        specs.append((src, fn, opts))
    if not work:
        work["__empty"] = pa.nulls(t.num_rows, pa.int8())
    wt = pa.table(work)
    if not key_names:
        return _global_aggs(wt, specs, out_names, types)
    g = wt.group_by(key_names, use_threads=False).aggregate(
        [(s, f, o) if o is not None else (s, f) for s, f, o in specs])
    return _plain(pa.table({**{k: g[k] for k in key_names},
                            **{n: _agg_output(g[f"{s}_{f}"], types.get(s), f)
                               for n, (s, f, _) in zip(out_names, specs)}}))


def _is_host(expr, t: pa.Table) -> bool:
    from .expr import resolve_column
    name = resolve_column(expr.name, t.column_names) if isinstance(expr, A.Field) else None
    return name is not None and name.lower() == "host"


def _text_groups(col, expr, t: pa.Table):
    """(distinct values, row codes into them, a group id per distinct value) for a text
    column, or None for other types: groups are == classes (case folded; hosts by the
    host-name rule of hostnames.py)."""
    from .expr import is_str
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
    if len(np.unique(gid)) == len(values):          # nothing to merge: group on the codes
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


def _global_aggs(wt: pa.Table, specs, names, types=None) -> pa.Table:
    types = types or {}
    one = pa.repeat(pa.scalar(0, pa.int8()), wt.num_rows)
    wt = wt.append_column("__g", one)
    g = wt.group_by("__g", use_threads=False).aggregate(
        [(s, f, o) if o is not None else (s, f) for s, f, o in specs])
    if g.num_rows == 0:  # no rows: counts are 0, others null
        cols = {}
        for n, (s, f, o) in zip(names, specs):
            cols[n] = pa.array([0] if f in ("count", "count_distinct") else [None])
        return pa.table(cols)
    return pa.table({n: _agg_output(g[f"{s}_{f}"], types.get(s), f)
                     for n, (s, f, _) in zip(names, specs)})


def _pipe_call(call: A.PipeCall, cur: Result | None, ctx: Context) -> Result:
    fn = ctx.pipes.get(call.name)
    if fn is None:
        known = [n for n in STAGES] + list(ctx.pipes)
        raise QueryError(f"unknown stage {call.name}()", call.pos, did_you_mean(call.name, known))
    out = fn(ctx, cur, call)
    if isinstance(out, pa.Table):
        return Result(cur.title if cur else call.name, out)
    return out


def timeline(ctx: Context, cur: Result | None, call: A.PipeCall) -> Result:
    """``timeline(SPAN) [by key]``: rows per time bucket (and key), in time order."""
    if cur is None:
        raise QueryError("timeline() follows a pipeline: events | timeline(5m)", call.pos)
    if len(call.args) != 1 or call.kwargs:
        raise QueryError("timeline() takes one duration: timeline(5m)", call.pos)
    span = call.args[0]
    if "ts" not in cur.table.column_names:
        raise QueryError("timeline() needs a ts column", call.pos)
    bucket = A.Item("bucket", A.Call("bin", [A.Field("ts", call.pos), span], call.pos), call.pos)
    notes: list[str] = []
    t = stats(cur.table, [A.Agg("count", A.Call("count", []))], [bucket] + list(call.by), ctx, notes)
    keys = [(n, "ascending", "at_end") for n in t.column_names[:-1]]
    return Result(cur.title, t.take(pc.sort_indices(t, sort_keys=keys)), notes)


def default_pipes() -> dict[str, Callable]:
    return {"timeline": timeline}
