"""Execute stage: run checked statements against a case, stage by stage, as
columnar Arrow work (filter, take, sort, hash aggregation). Each statement
yields a ``Result``; ``let`` statements bind names for later statements.
"""
from __future__ import annotations

import os
from dataclasses import field
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc

from .records import record as dataclass
from . import ast as A
from . import catalog, lineagepred, projectops, tablexpr
from .errors import QueryError
from .expr import Evaluator, Scope
from .functions import STAGES, tables_doc
from .names import did_you_mean, resolve_column
from .plan import check_stage
from .reftime import attach as attach_reftime
from .results import Result
from .summarize import as_column as _as_column, fold_key, items as _items, plain as _plain, stats


#: the stages edrql.joins runs (joins.STAGES): that module loads when one of them runs
JOIN_STAGES = (A.Join, A.Lookup, A.UnionOf, A.MvExpand)


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
    # ---- joinperf: what derived tables remember for this Context's queries (Device*: the
    # rows of each table, built columns); nothing is kept on the case object
    memo: dict = field(default_factory=dict)

    def encoding(self, column: str):
        """The case's cached dictionary encoding of a text column of its events, or None."""
        return Evaluator(self.case.events, self.scope)._dictionary(A.Field(column))

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


def footer_lines(r: Result) -> list[str]:
    """What is said under a result, in order: its notes, its search receipts, then the
    footer its pipe left (a tree's completeness). The CLI, the REPL and the API all say this."""
    return list(r.notes) + [rc.text() for rc in receipts_of(r)] + list(r.extra.get("footer") or [])


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
    elif isinstance(src, A.Search):        # the whole events: scanned where they are stored,
        needed = needed_columns(p.stages)  # only what the later stages read is decoded
        if needed is not None:
            needed = needed | set(src.columns)
        cur = _search(src, Result("search", catalog.events_of(ctx, needed)), ctx, whole=True)
    elif isinstance(src, A.UnionOf):                         # ---- joins: tabular sources
        from . import joins
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
        if isinstance(st, (A.Where, A.Sequence)):
            # the columns later stages read: the filter copies only those (a sequence
            # attaches proc only when they read it)
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
        if isinstance(st, A.Sequence):        # ---- sequences: reads its own columns, keeps all
            from .sequenceops import input_columns
            used |= input_columns(st)
            continue
        if isinstance(st, (A.Search, A.Save) + JOIN_STAGES) or \
                (isinstance(st, A.PipeCall) and st.name != "timeline"):
            return None
        if isinstance(st, projectops.STAGE_NODES) or any(isinstance(n, A.Star) for n in A.walk(st)):
            return None                   # names by pattern, or every column (arg_max(ts, *))
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
    named = {resolve_column(n, t.column_names) for n in needed}      # count_ reads count
    keep = [c for c in t.column_names if c in needed or c.lower() in lower or c in named]
    return t.select(keep) if len(keep) < t.num_columns else t


def _search(st: A.Search, cur: Result, ctx: Context, whole: bool) -> Result:
    """A search stage; ``whole``: its input is the case's events (all their rows, perhaps
    not all their columns): the stored segments are scanned and the quarantine too."""
    from .search import search_table
    t = cur.table
    if "matched" in t.column_names:      # a second search names its own matches
        t = t.drop_columns(["matched"])
    table, receipt = search_table(t, st, ctx, quarantine=whole, whole=whole)
    receipt.statement = ctx.label
    ctx.receipts.append(receipt)
    return Result(cur.title, table, [], "rows", {"receipt": receipt})


def _stage(st, cur: Result, ctx: Context, needed: set | None = None) -> Result:
    if isinstance(st, JOIN_STAGES):          # ---- joins: join, lookup, union, mv-expand
        from . import joins
        return Result(cur.title, *joins.run_stage(st, cur.table, cur.title, ctx, run_pipeline))
    st = tablexpr.resolve_in(st, cur.table, ctx, run_pipeline)      # x in (T | project c)
    if lineagepred.uses(st):      # ---- eqlpipes: descendant_of(…) & co become bool columns
        return lineagepred.run_where(st, cur, ctx, lambda s, c: _stage(s, c, ctx, needed))
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
        for k, it in enumerate(st.items):
            val = _as_column(Evaluator(t, ctx.scope).eval(it.expr), t.num_rows)
            name = projectops.extend_name(it, k, t.column_names)
            if name in t.column_names:      # as KQL: the new value goes to the end
                t = t.drop_columns([name])
            t = t.append_column(name, val)
        return _keep(cur, t)
    if isinstance(st, projectops.STAGE_NODES):
        return _keep(cur, projectops.run(st, t))
    if isinstance(st, A.Render):
        out = _keep(cur, t)
        out.notes = [f"note: render {st.kind}: edrql shows the table; the chart is left out"]
        return out
    if isinstance(st, A.Sort):
        return _keep(cur, _sort(t, st.keys, ctx))
    if isinstance(st, A.Head):
        return _keep(cur, t.slice(0, min(st.n, t.num_rows)))   # slice(0, 2**63-1) overflows
    if isinstance(st, A.Tail):
        return _keep(cur, t.slice(max(t.num_rows - st.n, 0)))
    if isinstance(st, A.Unique):                   # ---- eqlpipes: EQL's unique, unique_count
        from . import eqlpipes
        return _keep(cur, eqlpipes.unique(st, t, ctx))
    if isinstance(st, A.Count) and st.keys:        # ---- eqlpipes: EQL's count a, b
        from . import eqlpipes
        return Result(cur.title, eqlpipes.count_by(st, t, ctx))
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
        return _keep(cur, _sort(t, [st.key], ctx).slice(0, min(st.n, t.num_rows)))
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
        return _search(st, cur, ctx, whole=t is ctx.case.events)
    if isinstance(st, A.PipeCall):
        return _pipe_call(st, cur, ctx)
    if isinstance(st, A.Sequence):                  # ---- sequences (edrql/sequenceops.py)
        from . import sequenceops
        return Result(cur.title, sequenceops.run(st, t, ctx, needed))
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
            t = select_rows(_prune(t, keep), mask)
            mask = None
            ev = Evaluator(t, ctx.scope)
        m = ev.eval(part)
        if notes is not None:
            notes.extend(n for n in ev.notes if n not in notes)
        if isinstance(m, pa.Scalar):
            if not m.as_py():
                return t.slice(0, 0)
            continue
        if pa.types.is_null(m.type):          # every value missing (safe(x) of a failing x)
            return t.slice(0, 0)
        if not pa.types.is_boolean(m.type):
            raise QueryError(f"where needs a condition (true/false), got {m.type}", part.pos)
        mask = m if mask is None else pc.and_kleene(mask, m)
    if mask is None:
        return t
    return select_rows(_encoded(_prune(t, needed), t, ctx), mask)


# ---- joinperf: the rows a where keeps
def select_rows(t: pa.Table, mask) -> pa.Table:
    """``t.filter(mask)`` (null: not kept), column by column the faster way over the case's
    many chunks: fixed-width columns (numbers, times, one-chunk dictionary codes) by a
    gather of the kept row numbers (2.2M rows: 7 → 2 ms a column), text by Arrow's filter
    (faster for strings spread over chunks)."""
    if t.num_columns == 0:
        return t.filter(mask)
    m = pc.fill_null(mask, False)
    m = m.combine_chunks() if isinstance(m, pa.ChunkedArray) else m
    first = t.column(0)
    if isinstance(first, pa.ChunkedArray) and first.num_chunks > 32:
        return _select_batches(t, m)
    if t.num_rows < 50_000:
        return t.filter(m)
    idx, cols = None, []
    for c in t.columns:
        typ = c.type
        gather = (pa.types.is_dictionary(typ) and (not isinstance(c, pa.ChunkedArray) or
                                                   c.num_chunks == 1)) or \
            (pa.types.is_primitive(typ) and not pa.types.is_boolean(typ))
        if gather:
            if idx is None:
                idx = pc.indices_nonzero(m)
            cols.append(c.take(idx))
        else:
            cols.append(c.filter(m))
    return pa.Table.from_arrays(cols, schema=t.schema)


def _select_batches(t: pa.Table, m: pa.Array) -> pa.Table:
    """The kept rows of a table of many chunks (a case of hundreds of small sources):
    only the record batches that keep a row are filtered. Filtering column by column
    slices the mask for every chunk of every column (900 columns × 263 chunks: 1.3 s for
    23 rows; this way 0.05 s)."""
    import numpy as np
    batches = t.to_batches()
    lens = np.fromiter((b.num_rows for b in batches), np.int64, len(batches))
    offs = np.concatenate([[0], np.cumsum(lens)])
    kept = np.concatenate([[0], np.cumsum(m.to_numpy(zero_copy_only=False), dtype=np.int64)])
    counts = kept[offs[1:]] - kept[offs[:-1]]
    out = [batches[i] if counts[i] == lens[i] else batches[i].filter(m.slice(offs[i], lens[i]))
           for i in np.nonzero(counts)[0]]
    return pa.Table.from_batches(out, schema=t.schema) if out else t.slice(0, 0)


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


def _conjuncts(e) -> list:
    if isinstance(e, A.Binary) and e.op == "and":
        return _conjuncts(e.left) + _conjuncts(e.right)
    return [e]


def _keep(cur: Result, table: pa.Table) -> Result:
    return Result(cur.title, table, [], cur.kind, cur.extra)


def _sort(t: pa.Table, keys: list[A.SortKey], ctx: Context) -> pa.Table:
    ev = Evaluator(t, ctx.scope)
    tmp, order = {}, []
    for i, k in enumerate(keys):
        v = _as_column(ev.eval(k.expr), t.num_rows)
        if k.nocase:                       # ---- eqlpipes: text by its lower-cased form
            from .eqlpipes import nocase_key
            v = nocase_key(v)
        name = f"__k{i}"
        tmp[name] = v
        desc = k.desc is not False          # KQL: descending unless asc is written
        nulls_first = k.nulls == "first" if k.nulls else not desc    # KQL: asc nulls first
        order.append((name, "descending" if desc else "ascending",
                      "at_start" if nulls_first else "at_end"))
    if not order or t.num_rows == 0:
        return t
    idx = pc.sort_indices(pa.table(tmp), sort_keys=order)
    return t.take(idx)


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
    # ---- sigma: the sigma("PATH"[, level=…]) stage (edrql/sigma/stage.py: light; the rules,
    # the engine and the field map load when it runs)
    from .sigma import stage as sigma_stage
    return {"timeline": timeline, "sigma": sigma_stage.run}
