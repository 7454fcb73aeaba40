"""Plan stage: check a parsed script before any data is touched.

Walks each statement with the column names each stage will produce (from the
case's schemas, without reading rows) and reports the first mistake with its
position and the nearest valid name: unknown table, field, function,
aggregation or stage; wrong number of arguments; duplicate output columns.
Errors are the same ``QueryError`` the executor raises, so the REPL can show
them before running and place the cursor.
"""
from __future__ import annotations

from . import ast as A
from .expr import QueryError, column_name, did_you_mean, resolve_column
from .functions import AGGREGATIONS, FUNCTIONS, STAGES, tables_doc

#: output columns of pipes that change the shape; None = unknown (skip checks after)
PIPE_OUTPUTS = {"timeline": lambda cols, call: ["bucket"] + [
    it.name or column_name(it.expr, i) for i, it in enumerate(call.by)] + ["count"]}


class Planner:
    def __init__(self, table_columns: dict[str, list[str]], pipe_names: set[str],
                 pipe_outputs: dict | None = None):
        self.tables = dict(table_columns)
        self.pipes = set(pipe_names)
        self.outputs = dict(PIPE_OUTPUTS, **(pipe_outputs or {}))
        self.scalars: set[str] = set()

    # ------------------------------------------------------------ statements
    def check(self, statements: list) -> None:
        for st in statements:
            if isinstance(st, A.Let):
                v = st.value
                if isinstance(v, A.Field) and v.name in self.tables:
                    v = A.Pipeline(A.Table(v.name, v.pos), [], v.pos)
                if isinstance(v, A.Pipeline):
                    self.tables[st.name] = self.pipeline(v)
                    self.scalars.discard(st.name)
                else:
                    self.expr(v, [])
                    self.scalars.add(st.name)
                    self.tables.pop(st.name, None)
            else:
                self.pipeline(st)

    def pipeline(self, p: A.Pipeline) -> list[str] | None:
        src = p.source
        if isinstance(src, A.Table):
            if src.name not in self.tables:
                known = list(self.tables)
                raise QueryError(f"unknown table {src.name!r}", src.pos,
                                 did_you_mean(src.name, known) or "tables: " + ", ".join(known))
            cols = self.tables[src.name]
        elif isinstance(src, A.Search):
            cols = self.stage(src, self.tables.get("events", []))
        else:
            cols = self.stage(src, None)
        for st in p.stages:
            cols = self.stage(st, cols)
        return cols

    # ------------------------------------------------------------ stages
    def stage(self, st, cols):
        if isinstance(st, A.Where):
            self.expr(st.expr, cols)
            return cols
        if isinstance(st, (A.Project, A.Extend)):
            out = [] if isinstance(st, A.Project) else list(cols or [])
            for i, it in enumerate(st.items):
                self.expr(it.expr, cols)
                name = it.name or column_name(it.expr, i)
                if isinstance(st, A.Project) and name in out:
                    raise QueryError(f"column {name!r} appears twice", it.pos,
                                     f"name it: other = {name}")
                if name not in out:
                    out.append(name)
            return out if cols is not None else None
        if isinstance(st, A.Sort):
            for k in st.keys:
                self.expr(k.expr, cols)
            return cols
        if isinstance(st, A.Top):
            self.expr(st.key.expr, cols)
            return cols
        if isinstance(st, (A.Head, A.Tail, A.Save)):
            return cols
        if isinstance(st, A.Count):
            return ["count"]
        if isinstance(st, A.Stats):
            out = []
            for i, it in enumerate(st.by):
                self.expr(it.expr, cols)
                out.append(it.name or column_name(it.expr, i))
            for i, a in enumerate(st.aggs):
                spec = AGGREGATIONS.get(a.call.name)
                if spec is None:
                    hint = did_you_mean(a.call.name, AGGREGATIONS) or \
                        "aggregations: " + ", ".join(AGGREGATIONS)
                    raise QueryError(f"unknown aggregation {a.call.name}()", a.call.pos, hint)
                if (spec.needs_arg and len(a.call.args) != 1) or len(a.call.args) > 1:
                    raise QueryError(f"{spec.name}() takes {'one argument' if spec.needs_arg else 'at most one argument'}",
                                     a.call.pos, f"e.g. {spec.example}")
                for arg in a.call.args:
                    self.expr(arg, cols)
                name = a.name or (spec.name if not a.call.args else column_name(a.call, i))
                if name in out:
                    raise QueryError(f"column {name!r} appears twice", a.pos, f"name it: {name}2 = …")
                out.append(name)
            return out
        if isinstance(st, A.Distinct):
            for e in st.exprs:
                self.expr(e, cols)
            return [column_name(e, i) for i, e in enumerate(st.exprs)]
        if isinstance(st, A.Search):
            for c in st.columns:
                if cols is not None and resolve_column(c, cols) is None:
                    raise QueryError(f"unknown field {c!r} in search … in (…)", st.pos,
                                     did_you_mean(c, cols))
            return (cols + ["matched"]) if cols is not None else None
        if isinstance(st, A.PipeCall):
            if st.name not in self.pipes:
                known = [n for n in STAGES] + sorted(self.pipes)
                raise QueryError(f"unknown stage {st.name}()", st.pos, did_you_mean(st.name, known))
            for a in st.args:
                self.expr(a, None)
            for it in st.by:
                self.expr(it.expr, cols)
            fn = self.outputs.get(st.name)
            return fn(cols, st) if fn else None
        return cols

    # ------------------------------------------------------------ expressions
    def expr(self, e, cols) -> None:
        if isinstance(e, A.Field):
            if cols is None or resolve_column(e.name, cols) is not None or e.name in self.scalars:
                return
            raise QueryError(f"unknown field {e.name!r}", e.pos,
                             did_you_mean(e.name, list(cols) + sorted(self.scalars)))
        if isinstance(e, A.Call):
            fn = FUNCTIONS.get(e.name)
            if fn is None:
                hint = did_you_mean(e.name, FUNCTIONS)
                if e.name in AGGREGATIONS:
                    hint = f"{e.name}() is an aggregation: use it in stats, e.g. stats {e.name}(…) by host"
                raise QueryError(f"unknown function {e.name}()", e.pos, hint)
            if not fn.min_args <= len(e.args) <= fn.max_args:
                n = fn.min_args if fn.min_args == fn.max_args else f"{fn.min_args} to {fn.max_args}"
                raise QueryError(f"{e.name}() takes {n} argument(s), got {len(e.args)}", e.pos,
                                 f"e.g. {fn.example}")
            for a in e.args:
                self.expr(a, cols)
            return
        if isinstance(e, A.Unary):
            self.expr(e.operand, cols)
        elif isinstance(e, A.Binary):
            self.expr(e.left, cols)
            self.expr(e.right, cols)
        elif isinstance(e, A.InList):
            self.expr(e.expr, cols)
            for i in e.items:
                self.expr(i, cols)
        elif isinstance(e, A.Between):
            for x in (e.expr, e.low, e.high):
                self.expr(x, cols)


def table_columns(ctx) -> dict[str, list[str]]:
    """Column names of every table, from schemas only (no rows are read)."""
    ev = ctx.case.events.column_names
    q = ctx.case.quarantine.column_names
    out = {name: ev for name in tables_doc() if name not in ("quarantine", "procs", "hostmap", "clocks")}
    out["quarantine"] = q
    for name in ("http", "network", "dns"):
        out[name] = list(ev) + ["proc", "match"]
    for name, t in ctx.lets.items():
        out[name] = t.column_names
    for name, fn in ctx.pipes.items():
        cols = getattr(fn, "table_columns", None)
        if cols is not None:
            out[name] = cols(ctx)
    return out


def check(statements: list, ctx) -> None:
    outputs = {n: getattr(f, "output_columns") for n, f in ctx.pipes.items()
               if hasattr(f, "output_columns")}
    pl = Planner(table_columns(ctx), set(ctx.pipes), outputs)
    pl.scalars.update(ctx.scope.lets)      # constants bound by earlier statements (REPL)
    pl.check(statements)
