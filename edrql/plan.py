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
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from . import ast as A
from . import catalog, joinplan, kqlhints, projectops
from .fnlib import aggs as kqlaggs
from .expr import QueryError, column_name, did_you_mean, resolve_column
from .fnlib.convert import column_ifexists          # ---- funcs
from .fnlib.dynamic import split_member
from .fnspec import (ANY, BOOL, DATE, DURATION, FLOAT, INT, LIST, NOUNS, NULL, NUMBER, SCALAR, TEXT,
                     TIME, kind_of)
from .functions import AGGREGATIONS, FUNCTIONS, STAGES
from .strops import EMPTY_TERM_HINT

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

_LIT_KINDS = {"str": TEXT, "int": INT, "float": FLOAT, "bool": BOOL, "null": NULL,
              "duration": DURATION, "time": TIME}
#: pairs of kinds that compare (==, <, between …) besides equal kinds
_COMPARABLE = {frozenset(p) for p in ((INT, FLOAT), (TEXT, INT), (TEXT, FLOAT), (TIME, TEXT),
                                      (TIME, DATE), (DATE, TEXT))}
_ARITH = {   # (op, left, right) -> result kind; numbers handled apart
    ("-", TIME, TIME): DURATION, ("+", TIME, DURATION): TIME, ("-", TIME, DURATION): TIME,
    ("+", DURATION, TIME): TIME, ("+", DURATION, DURATION): DURATION,
    ("-", DURATION, DURATION): DURATION, ("*", DURATION, INT): DURATION,
    ("*", INT, DURATION): DURATION, ("/", DURATION, INT): DURATION,
    ("/", DURATION, DURATION): FLOAT,
}
_STRING_OPS = ("contains", "startswith", "endswith", "matches", "has", "hasprefix", "hassuffix")


def kinds(cols) -> dict | None:
    """Columns as name → kind (a plain list of names: kinds unknown)."""
    if cols is None or isinstance(cols, dict):
        return cols
    return {c: ANY for c in cols}


def schema_kinds(schema: pa.Schema) -> dict[str, str]:
    return {f.name: kind_of(f.type) for f in schema}


def what(e) -> str:
    """How an expression is named in a message: its field name, call or literal."""
    if isinstance(e, A.Field):
        return e.name
    if isinstance(e, A.Call):
        return f"{e.name}(…)"
    if isinstance(e, A.Param):
        return f"${e.name}"
    if isinstance(e, A.Unary) and e.op == "-" and isinstance(e.operand, A.Lit):
        return "-" + what(e.operand)
    if isinstance(e, A.Lit) and e.kind == "str":
        return '"' + (e.value if len(e.value) <= 30 else e.value[:29] + "…") + '"'
    if isinstance(e, A.Lit) and e.kind == "duration":
        return _duration_text(e.value)
    if isinstance(e, A.Lit) and e.kind == "time":
        return e.value
    if isinstance(e, A.Lit) and e.kind in ("int", "float", "bool", "null"):
        return str(e.value).lower() if e.kind in ("bool", "null") else str(e.value)
    return "the expression"


def _duration_text(ns: int) -> str:
    for unit, size in (("d", 86400 * 10**9), ("h", 3600 * 10**9), ("m", 60 * 10**9),
                       ("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if ns and ns % size == 0:
            return f"{ns // size}{unit}"
    return f"{ns}ns"


def _need(accepted) -> str:
    acc = set(accepted)
    if SCALAR <= acc:
        return "a single value (not a list)"
    words = [w for k, w in ((INT, "numbers"), (TIME, "timestamps"), (DURATION, "durations"),
                            (TEXT, "text"), (BOOL, "true/false values"), (DATE, "dates"))
             if k in acc]
    if len(words) > 2:
        return ", ".join(words[:-1]) + " or " + words[-1]
    return " or ".join(words) or "no value"


def _fix(accepted, e, kind: str) -> str:
    w = what(e)
    if w == "the expression":
        w = "…"
    acc = set(accepted)
    if kind == LIST:
        return "values() makes a list; use dcount() or count() to count, or keep it as output"
    if isinstance(e, (A.Lit, A.Param)):          # a constant: write it as the right kind
        for k, example in ((DURATION, "a duration: 5m, 30s, 1h"),
                           (TIME, "a time: 2023-08-10T14:00:00Z"), (INT, "a number: 1000"),
                           (BOOL, "true or false")):
            if k in acc:
                return "write " + example
        return f"write {_need(acc)}"
    if kind == TEXT and acc & NUMBER:
        return f"convert it: toint({w})"
    if kind == TEXT and TIME in acc:
        return f"convert it: todatetime({w})"
    if TEXT in acc and kind != TEXT:
        return f"convert it: tostring({w})"
    if kind in NUMBER and DURATION in acc:
        return "write a duration: 5m, 30s, 1h"
    return ""


def kind_error(subject: str, accepted, e, kind: str) -> QueryError:
    return QueryError(f"{subject} needs {_need(accepted)}; {what(e)} is {NOUNS[kind]}",
                      e.pos, _fix(accepted, e, kind))


def _takes(kind: str, accepted) -> bool:
    return kind in (NULL, ANY) or kind in accepted


def comparable(a: str, b: str) -> bool:
    if LIST in (a, b):
        return False
    return a in (NULL, ANY) or b in (NULL, ANY) or a == b or frozenset((a, b)) in _COMPARABLE


def common(ks: list[str]) -> str | None:
    """The one kind of several values (null goes with any; int with float), None if none."""
    ks = [k for k in ks if k != NULL]
    if not ks:
        return NULL
    if ANY in ks:
        return ANY
    if set(ks) <= NUMBER:
        return FLOAT if FLOAT in ks else INT
    return ks[0] if len(set(ks)) == 1 else None


class Planner:
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
            k = self.expr(st.expr, cols)
            if not _takes(k, {BOOL}):
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
                if not _takes(ak, spec.takes):
                    raise kind_error(f"{spec.name}()", spec.takes, arg, ak)
                k = spec.returns if spec.returns != "same" else (INT if ak == BOOL else ak)
                if spec.name == "avg" and ak == DURATION:
                    k = DURATION
            name = a.name or (spec.name if not a.call.args else column_name(a.call, i))
            if name in out:
                raise QueryError(f"column {name!r} appears twice", a.pos, f"name it: {name}2 = …")
            out[name] = k
        return out

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
            kql = kqlhints.stage_hint(st.name)
            if kql is not None:
                raise QueryError(kql[0], st.pos, kql[1])
            known = [n for n in STAGES] + sorted(self.pipes)
            raise QueryError(f"unknown stage {st.name}()", st.pos, did_you_mean(st.name, known))
        pos_kinds, kw_kinds = self.pipe_args.get(st.name, PIPE_ARGS.get(st.name, (None, None)))
        for i, a in enumerate(st.args):
            k = self.expr(a, None)
            if pos_kinds and i < len(pos_kinds) and not _takes(k, pos_kinds[i]):
                raise kind_error(f"{st.name}()", pos_kinds[i], a, k)
        for name, a in st.kwargs.items():
            k = self.expr(a, None)
            if kw_kinds is None:
                continue
            if name not in kw_kinds:
                known = ", ".join(f"{n}=" for n in kw_kinds) or "none"
                raise QueryError(f"{st.name}() has no argument {name}=", a.pos,
                                 f"its named arguments: {known}")
            if not _takes(k, kw_kinds[name]):
                raise kind_error(f"{st.name}(): {name}=", kw_kinds[name], a, k)
        by = {}
        for i, it in enumerate(st.by):
            by[it.name or column_name(it.expr, i)] = self._key(it.expr, cols, f"{st.name}() by")
        if st.name == "timeline":
            return {"bucket": TIME, **by, "count": INT}
        fn = self.outputs.get(st.name)
        return kinds(fn(list(cols) if cols is not None else None, st)) if fn else None

    # ------------------------------------------------------------ expressions
    def expr(self, e, cols) -> str:
        """Check e against the columns; its kind."""
        if isinstance(e, A.Lit):
            return _dynamic_kind(e.value) if e.kind == "dynamic" else _LIT_KINDS.get(e.kind, ANY)
        if isinstance(e, A.Member):
            return self._member(e, cols)
        if isinstance(e, A.Param):
            return TEXT
        if isinstance(e, A.Field):
            return self._field(e, cols)
        if isinstance(e, A.Call):
            return self._call(e, cols)
        if isinstance(e, A.Unary):
            k = self.expr(e.operand, cols)
            if e.op == "not":
                if not _takes(k, {BOOL}):
                    raise QueryError(f"not needs a condition (true/false); {what(e.operand)} is "
                                     f"{NOUNS[k]}", e.operand.pos,
                                     f"compare it: not ({what(e.operand)} == …), or isnull(…)")
                return BOOL
            if not _takes(k, NUMBER | {DURATION}):
                hint = "to leave a column out, list only the columns you want: project ts, name" \
                    if isinstance(e.operand, A.Field) else _fix(NUMBER, e.operand, k)
                raise QueryError(f"- needs a number or a duration; {what(e.operand)} is {NOUNS[k]}",
                                 e.operand.pos, hint)
            return k
        if isinstance(e, A.Binary):
            return self._binary(e, cols)
        if isinstance(e, A.InList):
            return self._in(e, cols)
        if isinstance(e, A.Between):
            k, lk = self.expr(e.expr, cols), None
            for bound in (e.low, e.high):
                bk = self.expr(bound, cols)
                if bound is e.high and _time_span(k, lk, bk):   # ---- strops: (t .. 1h)
                    continue
                lk = bk
                if not comparable(k, bk):
                    raise QueryError(f"between cannot compare {NOUNS[k]} with {NOUNS[bk]}",
                                     bound.pos, _fix({k}, bound, bk) if k != ANY else "")
                _number_text(e.expr, k, bound, bk)
            return BOOL
        return ANY

    def _field(self, e: A.Field, cols) -> str:
        if cols is None:
            return ANY
        col = resolve_column(e.name, list(cols))
        if col is not None:
            return cols[col]
        if e.name in self.scalars:
            v = self.scalars[e.name]
            return kind_of(v.type) if isinstance(v, pa.Scalar) else v
        dotted = split_member(e.name, lambda p: resolve_column(p, list(cols)) is not None
                              or p in self.scalars)
        if dotted is not None:                # raw.AdditionalFields.Foo: member Foo of a column
            return _member_of(self._field(A.Field(dotted[0], e.pos), cols), dotted[1], e)
        raise QueryError(f"unknown field {e.name!r}", e.pos,
                         kqlhints.value_hint(e.name, cols) or
                         did_you_mean(e.name, list(cols) + sorted(self.scalars)))

    # ---- dynamic values: x.key, x["key"], x[0]
    def _member(self, e: A.Member, cols) -> str:
        k = e.key
        if isinstance(k, A.Unary) and k.op == "-" and isinstance(k.operand, A.Lit):
            k = A.Lit(-k.operand.value if k.operand.kind == "int" else None, k.operand.kind, k.pos)
        if not (isinstance(k, A.Lit) and k.kind in ("str", "int")):
            raise QueryError("a member is named by a constant: x.key, x[\"key\"] or x[0]",
                             e.key.pos, 'e.g. AdditionalFields["Command"], split(path, "\\\\")[0]')
        return _member_of(self.expr(e.base, cols), [k.value], e)

    def _call(self, e: A.Call, cols) -> str:
        if e.name == "column_ifexists" and cols is not None:     # ---- funcs
            try:
                return self.expr(column_ifexists(e, cols, resolve_column), cols)
            except ValueError as x:
                raise QueryError(str(x), e.pos, 'e.g. column_ifexists("FolderPath", "")') from None
        fn = FUNCTIONS.get(e.name)
        if fn is None and kqlhints.function_hint(e.name) is not None:
            raise QueryError(*kqlhints.function_hint(e.name)[:1], e.pos,
                             kqlhints.function_hint(e.name)[1])
        if fn is None:
            hint = did_you_mean(e.name, FUNCTIONS)
            if e.name in AGGREGATIONS:
                hint = f"{e.name}() is an aggregation: use it in stats, e.g. stats {e.name}(…) by host"
            raise QueryError(f"unknown function {e.name}()", e.pos, hint)
        if not fn.min_args <= len(e.args) <= fn.max_args:
            n = fn.min_args if fn.min_args == fn.max_args else f"{fn.min_args} to {fn.max_args}"
            raise QueryError(f"{e.name}() takes {n} argument(s), got {len(e.args)}", e.pos,
                             f"e.g. {fn.example}")
        ks = []
        for i, a in enumerate(e.args):
            k = self.expr(a, cols)
            if not _takes(k, fn.accepts(i)):
                raise kind_error(f"{e.name}()", fn.accepts(i), a, k)
            ks.append(k)
        if e.name == "bin" and ks[0] not in (NULL, ANY) and ks[1] not in (NULL, ANY) and \
                (ks[0] == TIME) != (ks[1] == DURATION):
            need = DURATION if ks[0] == TIME else INT
            raise QueryError(f"bin() of {NOUNS[ks[0]]} needs {NOUNS[need]} as its width; "
                             f"{what(e.args[1])} is {NOUNS[ks[1]]}", e.args[1].pos,
                             "bin(ts, 5m) for times, bin(rport, 1000) for numbers")
        if e.name == "bin" and isinstance(e.args[1], A.Lit) and \
                e.args[1].kind in ("int", "float", "duration") and e.args[1].value <= 0:
            raise QueryError("bin() needs a width above zero", e.args[1].pos,
                             "bin(ts, 5m) for times, bin(rport, 1000) for numbers")
        # ---- constant arguments a function checks itself (fnlib: impl.check_args)
        wrong = getattr(fn.impl, "check_args", lambda call: None)(e)
        if wrong:
            raise QueryError(wrong[0], e.args[wrong[1]].pos, f"e.g. {fn.example}")
        if fn.returns != "same":
            return fn.returns
        group = ks[fn.same_from:fn.same_from + 1] if e.name == "bin" else ks[fn.same_from:]
        if fn.kinds is not None:          # ---- funcs: the kinds the result comes from (case())
            try:
                group = fn.kinds(ks)
            except ValueError as x:
                msg, at = x.args
                raise QueryError(msg, e.args[at].pos if at is not None else e.pos,
                                 f"e.g. {fn.example}") from None
        k = common(group)
        if k is None:
            kinds_seen = sorted({NOUNS[x] for x in group if x != NULL})
            raise QueryError(f"{e.name}() needs values of one kind; got {' and '.join(kinds_seen)}",
                             e.pos, "convert them alike: tostring(…), toint(…), todatetime(…)")
        return k

    def _binary(self, e: A.Binary, cols) -> str:
        op = e.op
        lk, rk = self.expr(e.left, cols), self.expr(e.right, cols)
        if op in ("and", "or"):
            for side, k in ((e.left, lk), (e.right, rk)):
                if not _takes(k, {BOOL}):
                    raise QueryError(f"{op} needs conditions (true/false) on both sides; "
                                     f"{what(side)} is {NOUNS[k]}", side.pos,
                                     f"compare it: {what(side)} == …")
            return BOOL
        if op in ("+", "-", "*", "/", "%"):
            return self._arith(e, lk, rk)
        base = op.lstrip("!").removesuffix("_cs")
        if base in _STRING_OPS:
            return self._strop(e, base, lk, rk, cols)
        if not comparable(lk, rk):
            raise QueryError(f"cannot compare {NOUNS[lk]} with {NOUNS[rk]} using {op}", e.pos,
                             _compare_hint(e, lk, rk))
        _number_text(e.left, lk, e.right, rk)
        return BOOL

    def _arith(self, e: A.Binary, lk: str, rk: str) -> str:
        op = e.op
        for side, k in ((e.left, lk), (e.right, rk)):
            if k in (TEXT, LIST, BOOL, DATE):
                hint = "use strcat() to join text" if k == TEXT and op == "+" else _fix(NUMBER, side, k)
                msg = f"cannot use {op} on text: {what(side)} is text" if k == TEXT else \
                    f"{op} needs numbers, times or durations; {what(side)} is {NOUNS[k]}"
                raise QueryError(msg, side.pos, hint)
        if ANY in (lk, rk):
            return ANY
        if NULL in (lk, rk):
            return NULL
        if lk in NUMBER and rk in NUMBER:
            return FLOAT if FLOAT in (lk, rk) else INT
        k = _ARITH.get((op, lk, rk))
        if k is None:
            raise QueryError(f"cannot compute {NOUNS[lk]} {op} {NOUNS[rk]}", e.pos,
                             "times take durations: ts + 5m, ts - pstart; durations scale by "
                             "whole numbers: 2 * 5m")
        return k

    def _strop(self, e: A.Binary, base: str, lk: str, rk: str, cols) -> str:
        # ---- funcs: a list on the left is read as its JSON text (KQL: ["a","b"])
        if cols is not None and any(isinstance(x, A.Field) and resolve_column(x.name, list(cols))
                                    for x in A.walk(e.right)):
            raise QueryError(f"the right side of {base} must be a constant", e.right.pos,
                             f'e.g. cmdline {base} "…"; compare two columns with ==')
        if not _takes(rk, {TEXT, INT, FLOAT, BOOL}):
            raise QueryError(f"{base} needs text on the right; {what(e.right)} is {NOUNS[rk]}",
                             e.right.pos, f'e.g. {base} "text"')
        if base in ("has", "hasprefix", "hassuffix") and isinstance(e.right, A.Lit) and \
                e.right.value == "":                                  # ---- strops
            raise QueryError(f'{base} needs a term: "" has none', e.right.pos, EMPTY_TERM_HINT)
        if base == "matches" and isinstance(e.right, A.Lit) and e.right.kind == "str":
            try:
                pc.match_substring_regex(pa.array([""], pa.string()), e.right.value)
            except pa.ArrowInvalid as x:
                raise QueryError(f"bad regular expression: {x}", e.right.pos,
                                 "RE2 syntax; no backreferences or lookaround") from None
        return BOOL

    def _in(self, e: A.InList, cols) -> str:
        tabular = joinplan.in_table(self, e, cols)          # ---- joins: x in (T | project c)
        if tabular is not None:
            return tabular
        if e.op.lstrip("!").startswith("has_"):
            return self._has_list(e, cols)
        k = self.expr(e.expr, cols)
        if k in (LIST, DURATION):
            raise QueryError(f"in (…) needs text, numbers or times; {what(e.expr)} is {NOUNS[k]}",
                             e.expr.pos, "use == or between for durations" if k == DURATION else
                             f'a list: {what(e.expr)} contains "…" reads its JSON text')
        fits = {TIME: {TEXT, TIME}, INT: {INT, FLOAT, TEXT}}.get(k, {TEXT, INT, FLOAT, BOOL})
        for item in e.items:
            ik = self.expr(item, cols)
            self._constant(item, cols, "in", 'e.g. name in ("a.exe", "b.exe"); compare two '
                                             'columns with ==')
            if ik == LIST:                                  # ---- strops: a let list
                continue
            if k == INT:
                _number_text(e.expr, k, item, ik)
            if k not in (ANY,) and not _takes(ik, fits):
                raise QueryError(f"in (…) on {NOUNS[k]} cannot hold {NOUNS[ik]}",
                                 item.pos, _fix({k}, item, ik) if k != NULL else "")
        return BOOL

    # ---- strops: has_any / has_all
    def _constant(self, item, cols, op: str, hint: str) -> None:
        """An item of an in/has_any list names no column (a let name is a constant)."""
        if cols is not None and any(isinstance(x, A.Field) and resolve_column(x.name, list(cols))
                                    for x in A.walk(item)):
            raise QueryError(f"the list of {op} (...) must hold constants", item.pos, hint)

    def _has_list(self, e: A.InList, cols) -> str:
        op = e.op.lstrip("!")
        k = self.expr(e.expr, cols)
        if k == LIST:
            raise QueryError(f"{op} needs text; {what(e.expr)} is {NOUNS[LIST]}", e.expr.pos,
                             _fix({TEXT}, e.expr, LIST))
        for item in e.items:
            ik = self.expr(item, cols)
            self._constant(item, cols, op, f'e.g. cmdline {op} ("-enc", "bypass")')
            if not _takes(ik, {TEXT, INT, FLOAT, BOOL, LIST}):
                raise QueryError(f"{op} needs terms (text); {what(item)} is {NOUNS[ik]}",
                                 item.pos, f'e.g. cmdline {op} ("-enc", "bypass")')
            if isinstance(item, A.Lit) and item.value == "":
                raise QueryError(f'{op} needs terms: "" has none', item.pos, EMPTY_TERM_HINT)
        return BOOL


def _time_span(k: str, lk: str | None, hk: str) -> bool:
    """``t between (low .. 1h)``: a duration after a time low bound means low + span (KQL)."""
    loose = (TIME, TEXT, NULL, ANY)
    return hk == DURATION and k in loose and lk in loose and bool({TIME, ANY} & {k, lk})


# ---- dynamic values
def _dynamic_kind(v) -> str:
    """The kind of a dynamic(…) literal: a list, a bag (JSON text), or a plain value."""
    if isinstance(v, list):
        return LIST
    if isinstance(v, (dict, str)):
        return TEXT
    if v is None:
        return NULL
    return BOOL if isinstance(v, bool) else INT if isinstance(v, int) else FLOAT


def _member_of(base: str, keys: list, e) -> str:
    """The kind of a member of a value of kind base: text (JSON), or any for a list's element."""
    if base == LIST:
        if not isinstance(keys[0], int):
            raise QueryError(f"a list has no member {keys[0]!r}; index it with a number, e.g. "
                             f"[0]", e.pos, "array_length(x) counts its elements")
        return ANY
    if base in (TEXT, ANY, NULL):
        return TEXT if base != ANY else ANY
    raise QueryError(f"only JSON text (dynamic values) and lists have members; this is "
                     f"{NOUNS[base]}", e.pos, "parse_json(x).key reads JSON text")


def _number_text(a, ak: str, b, bk: str) -> None:
    """A number compared with a string literal reads the string as a number: it must be one."""
    for num, nk, lit in ((a, ak, b), (b, bk, a)):
        if nk in NUMBER and isinstance(lit, A.Lit) and lit.kind == "str" and \
                not _is_number(lit.value):
            raise QueryError(f"cannot compare a number with {what(lit)}: it is not a number",
                             lit.pos, f"write a number (6640, 0x1d18), or compare as text: "
                             f"tostring({what(num)})")


def _is_number(text: str) -> bool:
    t = text.strip()
    try:
        int(t, 16) if t.lower().startswith("0x") else float(t)
        return True
    except ValueError:
        return False


def _compare_hint(e: A.Binary, lk: str, rk: str) -> str:
    ks = {lk, rk}
    if TIME in ks and ks & NUMBER:
        return "write a time: 2023-08-10T14:00:00Z, or a string \"2023-08-10 14:00\""
    if DURATION in ks and ks & NUMBER:
        return "write a duration: 5m, 30s"
    if LIST in ks:
        return "values() makes a list; compare single values"
    other = e.right if rk != TEXT else e.left
    return _fix({TEXT}, other, rk if other is e.right else lk) if TEXT in ks else ""


def table_columns(ctx) -> dict[str, dict[str, str]]:
    """Columns (name → kind) of every table, from schemas only (no rows are read): the
    catalog's tables, pipe tables and lets (edrql/catalog.py)."""
    return catalog.columns(ctx)


def check(statements: list, ctx) -> None:
    outputs = {n: getattr(f, "output_columns") for n, f in ctx.pipes.items()
               if hasattr(f, "output_columns")}
    pl = Planner(table_columns(ctx), set(ctx.pipes), outputs)
    pl.pipe_args = _declared_args(ctx)
    pl.scalars.update(ctx.scope.lets)      # constants bound by earlier statements (REPL)
    pl.check(statements)


def check_stage(st, table: pa.Table, ctx) -> None:
    """The same rules on a stage's real input, just before it runs (its kinds are known
    now even where the plan could not know them, e.g. after a pipe)."""
    pl = Planner({}, set(ctx.pipes), {n: getattr(f, "output_columns") for n, f in ctx.pipes.items()
                                      if hasattr(f, "output_columns")})
    pl.pipe_args = _declared_args(ctx)
    pl.scalars.update(ctx.scope.lets)
    pl.stage(st, schema_kinds(table.schema))


def _declared_args(ctx) -> dict:
    return {n: f.arg_kinds for n, f in ctx.pipes.items() if hasattr(f, "arg_kinds")}
