"""Plan stage: check a parsed script before any data is touched.

Walks each statement with the columns each stage will produce — their names and
kinds (text, int, time …; ``functions.kind_of``) from the case's schemas, without
reading rows — and reports the first mistake with its position and the nearest valid
name: unknown table, field, function, aggregation or stage; wrong number of
arguments; duplicate output columns; and a value of the wrong kind
(``sum(raw.bytes)`` over text, ``hour(name)``, ``ts > 5``, ``- file``), naming the
conversion that fixes it. Errors are the same ``QueryError`` the executor raises, so
the REPL can show them before running and place the cursor.

``check_stage`` runs the same rules again on the real input of a stage, so stages
after a pipe whose output kinds are not declared are checked too before they run.

This module checks statements and stages; expressions are checked (and their kinds
found) in edrql/exprcheck.py, and the wording of kind mistakes is edrql/kindmsgs.py.
"""
from __future__ import annotations

import pyarrow as pa

from . import ast as A
from . import catalog, joinplan, lineagepred, projectops
from .errors import QueryError
from .exprcheck import ExprChecks, takes
from .fnlib import aggs as kqlaggs
from .fnspec import ANY, BOOL, DURATION, FLOAT, INT, LIST, NOUNS, TEXT, TIME
from .functions import AGGREGATIONS, STAGES
from .kindmsgs import kind_error, what
from .names import column_name, did_you_mean, resolve_column

#: output columns of pipes that change the shape; None = unknown (skip checks after)
PIPE_OUTPUTS = {"timeline": lambda cols, call: ["bucket"] + [
    it.name or column_name(it.expr, i) for i, it in enumerate(call.by)] + ["count"]}

#: kinds of the arguments of the process pipes (lineage_ops/netops read them as constants):
#: positional kinds, keyword kinds. A pipe may declare its own as ``fn.arg_kinds``.
_PROCESS_KW = {"host": frozenset({TEXT}), "pid": frozenset({INT}),
               "at": frozenset({TIME, TEXT}), "proc": frozenset({TEXT})}
PIPE_ARGS = {name: ((), _PROCESS_KW) for name in ("tree", "children", "ancestors", "pidreuse",
                                                   "netcheck")}
PIPE_ARGS["descendants"] = ((frozenset({INT}),), _PROCESS_KW)
PIPE_ARGS["events"] = ((), dict(_PROCESS_KW, descendants=frozenset({BOOL})))
PIPE_ARGS["timeline"] = ((frozenset({DURATION}),), {})


def kinds(cols) -> dict | None:
    """Columns as name → kind (a plain list of names: kinds unknown)."""
    if cols is None or isinstance(cols, dict):
        return cols
    return {c: ANY for c in cols}


class Planner(ExprChecks):
    """Checks statements and stages (here) and expressions (``ExprChecks``)."""

    def __init__(self, table_columns: dict, pipe_names: set[str], pipe_outputs: dict | None = None):
        self.tables = {n: kinds(c) for n, c in table_columns.items()}
        self.pipes = set(pipe_names)
        self.outputs = dict(PIPE_OUTPUTS, **(pipe_outputs or {}))
        #: argument kinds the pipes declare (``fn.arg_kinds``), over PIPE_ARGS
        self.pipe_args: dict = {}
        #: let constants: name → kind (or the pa.Scalar itself, as the REPL passes them)
        self.scalars: dict = {}

    # ------------------------------------------------------------ statements
    def check(self, statements: list) -> None:
        for st in statements:
            if isinstance(st, A.Let):
                v = st.value
                if isinstance(v, A.Field) and v.name in self.tables:
                    v = A.Pipeline(A.Table(v.name, v.pos), [], v.pos)
                if isinstance(v, A.Pipeline):
                    self.tables[st.name] = self.pipeline(v)
                    self.scalars.pop(st.name, None)
                else:
                    self.scalars[st.name] = self.expr(v, {})
                    self.tables.pop(st.name, None)
            else:
                self.pipeline(st)

    def pipeline(self, p: A.Pipeline) -> dict | None:
        src = p.source
        if isinstance(src, A.Table):
            if src.name not in self.tables:
                known = list(self.tables)
                raise QueryError(f"unknown table {src.name!r}", src.pos,
                                 did_you_mean(src.name, known) or "tables: " + ", ".join(known))
            cols = self.tables[src.name]
        elif isinstance(src, A.Search):
            cols = self.stage(src, self.tables.get("events", {}))
        elif isinstance(src, (A.UnionOf, A.DataTable, A.ExternalData)):     # ---- joins
            cols = joinplan.plan_source(self, src)
        else:
            cols = self.stage(src, None)
        for st in p.stages:
            cols = self.stage(st, cols)
        return cols

    # ------------------------------------------------------------ stages
    def stage(self, st, cols):
        cols = kinds(cols)
        if isinstance(st, (A.Join, A.Lookup, A.UnionOf, A.MvExpand)):      # ---- joins
            return joinplan.plan_stage(self, st, cols)
        if isinstance(st, A.Where):
            # ---- eqlpipes: descendant_of(…) & co: PRED checked over procs, the call a bool
            expr, cols_x = lineagepred.plan_where(self, st.expr, cols)
            st = A.Where(expr, st.pos) if expr is not st.expr else st
            k = self.expr(st.expr, cols_x)
            if not takes(k, {BOOL}):
                raise QueryError(f"where needs a condition (true/false); {what(st.expr)} is "
                                 f"{NOUNS[k]}", st.expr.pos,
                                 f'compare it, e.g. where {what(st.expr)} == …, or isnotnull(…)')
            return cols
        if isinstance(st, (A.Project, A.Extend)):
            out = {} if isinstance(st, A.Project) else dict(cols or {})
            for i, it in enumerate(st.items):
                k = self.expr(it.expr, cols)
                name = it.name or (column_name(it.expr, i) if isinstance(st, A.Project)
                                   else projectops.extend_name(it, i, out))
                if isinstance(st, A.Project) and name in out:
                    raise QueryError(f"column {name!r} appears twice", it.pos,
                                     f"name it: other = {name}")
                out[name] = k
            return out if cols is not None else None
        if isinstance(st, A.Sort):
            for k in st.keys:
                self._orderable(k.expr, cols, "sort")
            return cols
        if isinstance(st, A.Top):
            self._orderable(st.key.expr, cols, "top")
            return cols
        if isinstance(st, (A.Head, A.Tail, A.Save)):
            return cols
        if isinstance(st, (A.Unique, A.Count)) and getattr(st, "keys", True):   # ---- eqlpipes
            return self._eql_pipe(st, cols)
        if isinstance(st, A.Count):
            return {"count": INT}
        if isinstance(st, A.Stats):
            return self._stats(st, cols)
        if isinstance(st, A.Distinct):
            out = {}
            for i, e in enumerate(st.exprs):
                out[column_name(e, i)] = self._key(e, cols, "distinct")
            return out
        if isinstance(st, A.Search):
            for t in A.walk(st.term):
                if isinstance(t, A.SText) and not t.text:
                    raise QueryError("search needs some text: \"\" is in every value", t.pos,
                                     "to keep every row, leave the search out")
            for c in st.columns:
                if cols is not None and resolve_column(c, list(cols)) is None:
                    raise QueryError(f"unknown field {c!r} in search … in (…)", st.pos,
                                     did_you_mean(c, cols))
            return dict(cols, matched=TEXT) if cols is not None else None
        if isinstance(st, A.PipeCall):
            return self._pipe(st, cols)
        if isinstance(st, projectops.STAGE_NODES):
            return projectops.plan_columns(st, cols)
        if isinstance(st, A.Sequence):                  # ---- sequences (sequenceops.py)
            from . import sequenceops
            return sequenceops.plan_columns(self, st, cols)
        return cols

    def _stats(self, st: A.Stats, cols):
        out = {}
        for i, it in enumerate(st.by):
            out[it.name or column_name(it.expr, i)] = self._key(it.expr, cols, "stats … by")
        for i, a in enumerate(st.aggs):
            if a.call.name in kqlaggs.NAMES:          # ---- KQL's aggregations
                made = kqlaggs.check(a, self, cols, list(out))
                if made is None:
                    return None
                for name, k in made:
                    if name in out:
                        raise QueryError(f"column {name!r} appears twice", a.pos,
                                         f"name it: {name}2 = …")
                    out[name] = k
                continue
            kqlaggs.refuse_star(a.call)
            spec = AGGREGATIONS.get(a.call.name)
            if spec is None:
                hint = did_you_mean(a.call.name, AGGREGATIONS) or \
                    "aggregations: " + ", ".join(AGGREGATIONS)
                from . import kqlhints          # (a mistake: the hints load for it)
                kql = kqlhints.aggregation_hint(a.call.name)
                if kql is not None:
                    raise QueryError(kql[0], a.call.pos, kql[1])
                raise QueryError(f"unknown aggregation {a.call.name}()", a.call.pos, hint)
            if (spec.needs_arg and len(a.call.args) != 1) or len(a.call.args) > 1:
                raise QueryError(f"{spec.name}() takes {'one argument' if spec.needs_arg else 'at most one argument'}",
                                 a.call.pos, f"e.g. {spec.example}")
            k = INT
            for arg in a.call.args:
                ak = self.expr(arg, cols)
                if spec.name in ("sum", "avg", "min", "max") and kqlaggs.is_raw_text(arg, cols, ak):
                    k = ANY if spec.name != "min" and spec.name != "max" else TEXT
                    continue                  # raw text: its numbers are aggregated
                if not takes(ak, spec.takes):
                    raise kind_error(f"{spec.name}()", spec.takes, arg, ak)
                k = spec.returns if spec.returns != "same" else (INT if ak == BOOL else ak)
                if spec.name == "avg" and ak == DURATION:
                    k = DURATION
            name = a.name or (spec.name if not a.call.args else column_name(a.call, i))
            if name in out:
                raise QueryError(f"column {name!r} appears twice", a.pos, f"name it: {name}2 = …")
            out[name] = k
        return out

    # ---- eqlpipes: unique / unique_count keep the columns (and add count, percent); count a
    def _eql_pipe(self, st, cols):
        keys = st.exprs if isinstance(st, A.Unique) else st.keys
        word = ("unique_count" if st.counted else "unique") if isinstance(st, A.Unique) else "count"
        ks = [self._key(e, cols, word, "key on", "use one value of it, or mv-expand it")
              for e in keys]
        if isinstance(st, A.Count):
            return {"key": ks[0] if len(ks) == 1 else LIST, "count": INT, "percent": FLOAT}
        if not st.counted or cols is None:
            return cols
        out = {c: k for c, k in cols.items() if c.lower() not in ("count", "percent")}
        return dict(out, count=INT, percent=FLOAT)

    def _key(self, e, cols, where: str, verb: str = "group on",
             hint: str = "group before values(), or count with dcount()") -> str:
        """The kind of a grouping (or ordering) key; a list is refused."""
        k = self.expr(e, cols)
        if k == LIST:
            raise QueryError(f"{where} cannot {verb} a list; {what(e)} is {NOUNS[LIST]}", e.pos,
                             hint)
        return k

    def _orderable(self, e, cols, where: str) -> None:
        self._key(e, cols, where, "order by", "order by a single value, e.g. a count")

    def _pipe(self, st: A.PipeCall, cols):
        if st.name not in self.pipes:
            from . import kqlhints
            kql = kqlhints.stage_hint(st.name)
            if kql is not None:
                raise QueryError(kql[0], st.pos, kql[1])
            known = [n for n in STAGES] + sorted(self.pipes)
            raise QueryError(f"unknown stage {st.name}()", st.pos, did_you_mean(st.name, known))
        if st.name == "sigma":          # ---- sigma: a rules path that exists, a known level
            from .sigma.stage import check as check_sigma
            check_sigma(st)
        pos_kinds, kw_kinds = self.pipe_args.get(st.name, PIPE_ARGS.get(st.name, (None, None)))
        for i, a in enumerate(st.args):
            k = self.expr(a, None)
            if pos_kinds and i < len(pos_kinds) and not takes(k, pos_kinds[i]):
                raise kind_error(f"{st.name}()", pos_kinds[i], a, k)
        for name, a in st.kwargs.items():
            k = self.expr(a, None)
            if kw_kinds is None:
                continue
            if name not in kw_kinds:
                known = ", ".join(f"{n}=" for n in kw_kinds) or "none"
                raise QueryError(f"{st.name}() has no argument {name}=", a.pos,
                                 f"its named arguments: {known}")
            if not takes(k, kw_kinds[name]):
                raise kind_error(f"{st.name}(): {name}=", kw_kinds[name], a, k)
        by = {}
        for i, it in enumerate(st.by):
            by[it.name or column_name(it.expr, i)] = self._key(it.expr, cols, f"{st.name}() by")
        if st.name == "timeline":
            return {"bucket": TIME, **by, "count": INT}
        fn = self.outputs.get(st.name)
        return kinds(fn(list(cols) if cols is not None else None, st)) if fn else None


def table_columns(ctx) -> dict[str, dict[str, str]]:
    """Columns (name → kind) of every table, from schemas only (no rows are read): the
    catalog's tables, pipe tables and lets (edrql/catalog.py)."""
    return catalog.columns(ctx)


def check(statements: list, ctx) -> None:
    _planner(ctx, table_columns(ctx)).check(statements)


def check_stage(st, table: pa.Table, ctx) -> None:
    """The same rules on a stage's real input, just before it runs (its kinds are known
    now even where the plan could not know them, e.g. after a pipe)."""
    _planner(ctx, {}).stage(st, catalog.schema_kinds(table.schema))


def _planner(ctx, tables: dict) -> Planner:
    """A Planner over these tables, with what the context's pipes declare (their output
    columns, ``fn.output_columns``; argument kinds, ``fn.arg_kinds``) and its let constants."""
    pl = Planner(tables, set(ctx.pipes), {n: f.output_columns for n, f in ctx.pipes.items()
                                          if hasattr(f, "output_columns")})
    pl.pipe_args = {n: f.arg_kinds for n, f in ctx.pipes.items() if hasattr(f, "arg_kinds")}
    pl.scalars.update(ctx.scope.lets)      # constants bound by earlier statements (REPL)
    return pl
