"""The checker's expressions: the kind of every expression (text, int, time … from
``edrql.fnspec``) without reading rows, and the mistakes found on the way — an unknown
field or function, a wrong number of arguments, a value of the wrong kind, a string
compared with a number that is not one, a bad regular expression.

``ExprChecks`` is a base class of ``plan.Planner``; its methods read the planner's
``tables`` and ``scalars`` (let constants).
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from . import ast as A
from . import joinplan
from .errors import QueryError
from .fnlib.convert import column_ifexists          # ---- funcs
from .fnlib.dynamic import split_member
from .fnlib.eqlfuncs import LAMBDAS
from .fnspec import (ANY, BOOL, DATE, DURATION, FLOAT, INT, LIST, NOUNS, NULL, NUMBER, TEXT,
                     TIME, kind_of)
from .functions import AGGREGATIONS, FUNCTIONS
from .kindmsgs import compare_hint, fix, kind_error, what
from .names import did_you_mean, resolve_column
from .strops import EMPTY_TERM_HINT

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
_STRING_OPS = ("contains", "startswith", "endswith", "matches", "has", "hasprefix", "hassuffix",
               "like")                       # ---- EQL wildcards (issue 14)


def takes(kind: str, accepted) -> bool:
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


class ExprChecks:
    """Expression checks of the Planner (mixed into plan.Planner)."""

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
                if not takes(k, {BOOL}):
                    raise QueryError(f"not needs a condition (true/false); {what(e.operand)} is "
                                     f"{NOUNS[k]}", e.operand.pos,
                                     f"compare it: not ({what(e.operand)} == …), or isnull(…)")
                return BOOL
            if not takes(k, NUMBER | {DURATION}):
                hint = "to leave a column out, list only the columns you want: project ts, name" \
                    if isinstance(e.operand, A.Field) else fix(NUMBER, e.operand, k)
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
                                     bound.pos, fix({k}, bound, bk) if k != ANY else "")
                _number_text(e.expr, k, bound, bk)
            return BOOL
        return ANY

    def _field(self, e: A.Field, cols) -> str:
        if cols is None:
            return ANY
        if e.name in cols:                   # the common case, without copying the names
            return cols[e.name]
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
        from . import kqlhints              # (a mistake: the hints load for it)
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
        if e.name in LAMBDAS and len(e.args) == 3:       # ---- EQL: array_count(l, x, cond)
            return self._over_elements(e, cols)
        fn = FUNCTIONS.get(e.name)
        if fn is None:
            from . import kqlhints
            hint = kqlhints.function_hint(e.name)
            if hint is not None:
                raise QueryError(*hint[:1], e.pos, hint[1])
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
            if not takes(k, fn.accepts(i)):
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
                if not takes(k, {BOOL}):
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
                             compare_hint(e, lk, rk))
        _number_text(e.left, lk, e.right, rk)
        return BOOL

    def _arith(self, e: A.Binary, lk: str, rk: str) -> str:
        op = e.op
        for side, k in ((e.left, lk), (e.right, rk)):
            if k in (TEXT, LIST, BOOL, DATE):
                hint = "use strcat() to join text" if k == TEXT and op == "+" else fix(NUMBER, side, k)
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
        if not takes(rk, {TEXT, INT, FLOAT, BOOL}):
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
        if e.op.lstrip("!").startswith("like"):         # ---- EQL wildcards: a list
            return self._like_list(e, cols)
        k = self.expr(e.expr, cols)
        if k in (LIST, DURATION):
            raise QueryError(f"in (…) needs text, numbers or times; {what(e.expr)} is {NOUNS[k]}",
                             e.expr.pos, "use == or between for durations" if k == DURATION else
                             f'a list: {what(e.expr)} contains "…" reads its JSON text')
        fits = {TIME: {TEXT, TIME}, INT: {INT, FLOAT, TEXT}}.get(k, {TEXT, INT, FLOAT, BOOL})
        for item in e.items:
            ik = self.expr(item, cols)
            if ik == LIST:                                  # ---- strops: a let list
                if _names_column(item, cols):
                    raise QueryError(f"in (…) cannot hold a list column; {what(item)} is "
                                     f"{NOUNS[LIST]}", item.pos,
                                     f"mv-expand it, or array_contains({what(item)}, …)")
                continue
            if _names_column(item, cols) and k in (TIME, DATE) and ik == TEXT:
                raise QueryError(f"in (…) on {NOUNS[k]} cannot hold the text column "
                                 f"{what(item)}", item.pos, f"todatetime({what(item)})")
            if k == INT:
                _number_text(e.expr, k, item, ik)
            if k not in (ANY,) and not takes(ik, fits):
                raise QueryError(f"in (…) on {NOUNS[k]} cannot hold {NOUNS[ik]}",
                                 item.pos, fix({k}, item, ik) if k != NULL else "")
        return BOOL

    # ---- EQL: array_count(list, x, condition), array_search(…): x names each element
    def _over_elements(self, e: A.Call, cols) -> str:
        lst, var, cond = e.args
        k = self.expr(lst, cols)
        if not takes(k, {LIST}):
            raise QueryError(f"{e.name}() needs a list; {what(lst)} is {NOUNS[k]}", lst.pos,
                             f'e.g. {e.name}(split(path, "\\\\"), p, p : "temp*")')
        if not isinstance(var, A.Field) or "." in var.name:
            raise QueryError(f"{e.name}() names each element with a plain name here", var.pos,
                             f'e.g. {e.name}(split(path, "\\\\"), p, p : "temp*")')
        inner = None if cols is None else {**cols, var.name: ANY}
        ck = self.expr(cond, inner)
        if not takes(ck, {BOOL}):
            raise QueryError(f"{e.name}() needs a condition on {var.name}; {what(cond)} is "
                             f"{NOUNS[ck]}", cond.pos, f"e.g. {var.name} == \"…\"")
        return INT if LAMBDAS[e.name] == "count" else BOOL

    # ---- strops: has_any / has_all
    def _constant(self, item, cols, op: str, hint: str) -> None:
        """An item of an in/has_any list names no column (a let name is a constant)."""
        if cols is not None and any(isinstance(x, A.Field) and resolve_column(x.name, list(cols))
                                    for x in A.walk(item)):
            raise QueryError(f"the list of {op} (...) must hold constants", item.pos, hint)

    def _has_list(self, e: A.InList, cols) -> str:
        return self._constants_list(e, cols, LIST, "terms", 'e.g. cmdline {op} ("-enc", "bypass")')

    # ---- EQL wildcards: x like ("a*", "b"), x : ("a*", "b")
    def _like_list(self, e: A.InList, cols) -> str:
        return self._constants_list(e, cols, LIST, "patterns",
                                    'e.g. name {op} ("cmd*", "power*.exe")')

    def _constants_list(self, e: A.InList, cols, refused: str, items: str, example: str) -> str:
        """``x has_any (…)`` / ``x like (…)``: x text (not ``refused``), the items constants."""
        op = e.op.lstrip("!")
        hint = example.format(op=op)
        k = self.expr(e.expr, cols)
        if k == refused:
            raise QueryError(f"{op} needs text; {what(e.expr)} is {NOUNS[k]}", e.expr.pos,
                             fix({TEXT}, e.expr, k))
        for item in e.items:
            ik = self.expr(item, cols)
            self._constant(item, cols, op, hint)
            if not takes(ik, {TEXT, INT, FLOAT, BOOL, LIST}):
                raise QueryError(f"{op} needs {items} (text); {what(item)} is {NOUNS[ik]}",
                                 item.pos, hint)
            if items == "terms" and isinstance(item, A.Lit) and item.value == "":
                raise QueryError(f'{op} needs terms: "" has none', item.pos, EMPTY_TERM_HINT)
        return BOOL


def _names_column(item, cols) -> bool:
    """Does the expression read a column (not only constants and let names)?"""
    return cols is not None and any(isinstance(x, A.Field) and resolve_column(x.name, list(cols))
                                    for x in A.walk(item))


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
