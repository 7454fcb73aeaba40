"""Expression evaluation over Arrow columns (vectorized; no per-row Python).

Semantics (documented in docs/language.md):
* strings compare case-insensitively by default (``==``, ``in``, ``contains`` …);
  ``===``, ``in_cs``, ``contains_cs`` … are the case-sensitive forms;
* missing values follow KQL (edrql/strops.py): a missing text is "" (so negated string
  predicates keep it); other kinds: a null against a value is unequal, ordering with it unknown;
* a string literal compared with a timestamp is read as a time (zone-less = --tz, else UTC);
  with a number, as a number; a text column compared with a number is read as numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from . import ast as A
from . import strops
from .fnlib.numtext import as_number
from .fnlib.textcast import as_text
from .fnlib.time import USES_NOW
from .functions import FUNCTIONS
from .names import did_you_mean
from .schema import TS
from .strops import re2_literal  # noqa: F401 - re-exported: callers import it from here


# ---- funcs: dynamic values and column_ifexists (edrql/fnlib)
from .fnlib import dynamic as _dyn  # noqa: E402
from .fnlib.convert import column_ifexists  # noqa: E402


class QueryError(Exception):
    """A user mistake found while checking or running a query (has a position)."""

    def __init__(self, message: str, pos: A.Pos = A.NOPOS, hint: str = ""):
        super().__init__(message)
        self.message, self.pos, self.hint = message, pos, hint


@dataclass
class Scope:
    """What names mean while evaluating: let scalars, $params, the --tz zone."""
    lets: dict[str, pa.Scalar] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tz: str = "UTC"
    #: (id(table), column) → (table, DictionaryArray | None): string columns of long-lived
    #: tables (the case's events) encoded once, so string predicates test distinct values only
    cache: dict = field(default_factory=dict)
    #: tables that live as long as the case (only these get cached encodings)
    stable: list = field(default_factory=list)
    #: optional persistent store of encodings: (column, make) -> DictionaryArray | None
    persist: object = None
    #: what now()/ago() read: a reftime.RefTime (None: the real clock)
    reftime: object = None


def resolve_column(name: str, columns: list[str]) -> str | None:
    if name in columns:
        return name
    hits = [c for c in columns if c.lower() == name.lower()]
    if not hits:                     # ---- KQL's names: count() is count_, by bin(x, …) is x
        alias = "count" if name == "count_" else "bin_" + name
        hits = [c for c in columns if c.lower() == alias.lower()]
    return hits[0] if len(hits) == 1 else None


def _decode(a):
    if isinstance(a, (pa.Array, pa.ChunkedArray)) and pa.types.is_dictionary(a.type):
        return a.cast(a.type.value_type)
    return a


def is_str(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _lower(a):
    if isinstance(a, pa.Scalar):
        return pa.scalar(a.as_py().lower(), a.type) if a.is_valid else a
    return pc.utf8_lower(a)


def _cased(s: str) -> bool:
    return s.lower() != s.upper()


def time_scalar(text: str, tz: str, pos: A.Pos) -> pa.Scalar:
    from .normalize import Ctx, parse_time
    arr, _ = parse_time(pa.array([text], pa.string()), Ctx(tz=tz))
    if not arr[0].is_valid:
        raise QueryError(f"not a time: {text!r}", pos,
                         "use ISO 8601, e.g. 2023-08-10T14:00:00Z or \"2023-08-10 14:00\"")
    return arr[0]


_LIT_TYPES = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_()}


class Evaluator:
    def __init__(self, table: pa.Table, scope: Scope):
        self.table, self.scope = table, scope
        self.columns = table.column_names
        #: what the analyst should be told about this evaluation (host comparisons)
        self.notes: list[str] = []

    # ------------------------------------------------------------ entry
    def eval(self, e):
        m = getattr(self, "_" + type(e).__name__)
        return m(e)

    def _Lit(self, e: A.Lit):
        if e.kind == "duration":
            return pa.scalar(e.value, pa.duration("ns"))
        if e.kind == "time":
            return time_scalar(e.value, self.scope.tz, e.pos)
        if e.kind == "null":
            return pa.scalar(None, pa.null())
        if e.kind == "dynamic":
            return _dyn.dynamic_value(e.value)
        # explicit types: inferring one makes pyarrow try (and fail) to import pandas
        # on every call, which dominated a 10,000-term query
        return pa.scalar(e.value, _LIT_TYPES.get(e.kind))

    def _Param(self, e: A.Param):
        if e.name not in self.scope.params:
            raise QueryError(f"parameter ${e.name} is not set", e.pos,
                             f"pass --param {e.name}=VALUE (or .param {e.name} VALUE in the REPL)")
        return pa.scalar(self.scope.params[e.name], pa.string())

    def _Field(self, e: A.Field):
        col = resolve_column(e.name, self.columns)
        if col is not None:
            return _decode(self.table.column(col))
        if e.name in self.scope.lets:
            return self.scope.lets[e.name]
        dotted = _dyn.split_member(e.name, lambda p: resolve_column(p, self.columns) is not None
                                   or p in self.scope.lets)
        if dotted is not None:                # raw.AdditionalFields.Foo: member Foo of a column
            return self._members(self._Field(A.Field(dotted[0], e.pos)), dotted[1], e)
        raise QueryError(f"unknown field {e.name!r}", e.pos,
                         did_you_mean(e.name, self.columns + list(self.scope.lets)))

    # ---- dynamic values: members of JSON text and of lists (fnlib.dynamic)
    def _Member(self, e: A.Member):
        base, keys = e, []
        while isinstance(base, A.Member):           # x.a["b"][0]: one pass over the keys
            keys.append(self._member_key(base.key))
            base = base.base
        return self._members(self.eval(base), keys[::-1], e)

    def _member_key(self, k):
        v = self.eval(k)
        py = v.as_py() if isinstance(v, pa.Scalar) and v.is_valid else None
        if isinstance(py, bool) or not isinstance(py, (str, int)):
            raise QueryError("a member is named by a constant: x.key, x[\"key\"] or x[0]", k.pos,
                             'e.g. AdditionalFields["Command"], split(path, "\\\\")[0]')
        return py

    def _members(self, value, keys, e):
        try:
            return _dyn.member(value, keys)
        except TypeError as x:
            raise QueryError(str(x), e.pos, "parse_json(x).key reads JSON text; "
                             "list[0] reads a list") from None

    def _Call(self, e: A.Call):
        if e.name == "column_ifexists":              # ---- funcs: names a column, or its default
            try:
                return self.eval(column_ifexists(e, self.columns, resolve_column))
            except ValueError as x:
                raise QueryError(str(x), e.pos, 'e.g. column_ifexists("FolderPath", "")') from None
        fn = FUNCTIONS.get(e.name)
        if fn is None:
            raise QueryError(f"unknown function {e.name}()", e.pos, did_you_mean(e.name, FUNCTIONS))
        if not fn.min_args <= len(e.args) <= fn.max_args:
            n = fn.min_args if fn.min_args == fn.max_args else f"{fn.min_args} to {fn.max_args}"
            raise QueryError(f"{e.name}() takes {n} argument(s), got {len(e.args)}", e.pos,
                             f"e.g. {fn.example}")
        args = [self.eval(a) for a in e.args]
        for i, a in enumerate(args):        # a null argument gets the type the function reads
            if a.type == pa.null() and fn.null_type(i) != pa.null():
                args[i] = a.cast(fn.null_type(i))
        extra = {"now": self._now()} if e.name in USES_NOW else {}    # ---- reference time
        try:
            return fn.impl(*args, **extra)
        except (TypeError, pa.ArrowNotImplementedError, pa.ArrowInvalid) as x:
            msg = str(x) if str(x).startswith(f"{e.name}()") else f"{e.name}(): {x}"
            raise QueryError(msg, e.pos, f"e.g. {fn.example}") from None

    def _now(self):
        """The run's reference time (edrql/reftime.py), read by now() and ago()."""
        if self.scope.reftime is None:
            from .reftime import wall_clock
            return wall_clock()
        return self.scope.reftime.value()

    def _Unary(self, e: A.Unary):
        v = self.eval(e.operand)
        if e.op == "not":
            return pc.invert(self._bool(v, e.operand))
        try:
            return pc.negate_checked(v) if v.type != pa.null() else v
        except pa.ArrowInvalid:
            raise QueryError("- overflows: the value is the smallest integer", e.pos) from None
        except pa.ArrowNotImplementedError:
            raise QueryError(f"- needs a number or a duration, got {v.type}", e.pos) from None

    def _bool(self, v, e):
        if v.type == pa.null():
            return v.cast(pa.bool_())
        if not pa.types.is_boolean(v.type):
            raise QueryError(f"expected a condition (true/false), got {v.type}", e.pos)
        return v

    def _Binary(self, e: A.Binary):
        op = e.op
        if op == "or":
            return self._or(e)
        if op == "and":
            l, r = self._bool(self.eval(e.left), e.left), self._bool(self.eval(e.right), e.right)
            return pc.and_kleene(l, r) if op == "and" else pc.or_kleene(l, r)
        l, r = self.eval(e.left), self.eval(e.right)
        if op in ("+", "-", "*", "/", "%"):
            return self._arith(op, l, r, e)
        base = op.lstrip("!")
        negate = op.startswith("!") and op not in ("!=", "!==", "!~")
        if base.split("_")[0] in strops.STRING_PREDICATES:
            out = self._strop(base, l, r, e)
        else:
            out = self._compare(op, l, r, e)
        return pc.invert(out) if negate else out

    def _or(self, e: A.Binary):
        """An or-chain, flattened without recursion. Equality tests of one text column
        against string literals (an IOC sweep: name == "a" or name == "b" …) run as one
        in (…): same result, null included, in one pass instead of one per term."""
        terms, stack = [], [e]
        while stack:
            x = stack.pop()
            if isinstance(x, A.Binary) and x.op == "or":
                stack += [x.right, x.left]
            else:
                terms.append(x)
        groups: dict = {}
        rest = []
        for t in terms:
            key = self._text_equality(t)
            (groups.setdefault(key, []) if key else rest).append(t)
        parts = []
        for (col, cs), ts in groups.items():
            if len(ts) == 1:
                rest.append(ts[0])
                continue
            lst = A.InList(A.Field(col, ts[0].left.pos), [t.right for t in ts],
                           "in_cs" if cs else "in", ts[0].pos)
            parts.append(self._InList(lst))
        parts += [self._bool(self.eval(t), t) for t in rest]
        out = parts[0]
        for p in parts[1:]:
            out = pc.or_kleene(out, p)
        return out

    def _text_equality(self, t):
        """(column, case-sensitive) when t is ``text_column ==/=~/=== "literal"``."""
        if not (isinstance(t, A.Binary) and t.op in ("==", "=~", "===") and
                isinstance(t.left, A.Field) and isinstance(t.right, A.Lit) and t.right.kind == "str"):
            return None
        col = resolve_column(t.left.name, self.columns)
        if col is None:
            return None
        typ = self.table.schema.field(col).type
        if pa.types.is_dictionary(typ):
            typ = typ.value_type
        return (col, t.op == "===") if is_str(typ) else None

    # ------------------------------------------------------------ comparisons
    def _coerce(self, l, r, e):
        lt, rt = l.type, r.type
        if pa.types.is_timestamp(lt) and is_str(rt):
            return l, self._to_time(r, e.right if hasattr(e, "right") else e)
        if pa.types.is_timestamp(rt) and is_str(lt):
            return self._to_time(l, e.left if hasattr(e, "left") else e), r
        if pa.types.is_date(lt) and is_str(rt):
            return l, self._to_date(r, e)
        if pa.types.is_date(rt) and is_str(lt):
            return self._to_date(l, e), r
        num = lambda t: pa.types.is_integer(t) or pa.types.is_floating(t)  # noqa: E731
        if num(lt) and is_str(rt) and isinstance(r, pa.Scalar):
            return l, self._to_num(r, e)
        if num(rt) and is_str(lt) and isinstance(l, pa.Scalar):
            return self._to_num(l, e), r
        if is_str(lt) and num(rt):             # raw.RemotePort > 1000: numbers, not text order
            return self._numbers(getattr(e, "left", getattr(e, "expr", None)), l), r
        if is_str(rt) and num(lt):
            return l, self._numbers(getattr(e, "right", None), r)
        return l, r

    def _numbers(self, expr, v):
        """Text read as numbers (on the distinct values when the column's encoding is cached)."""
        enc = self._dictionary(expr)
        return as_number(v) if enc is None else pc.take(as_number(enc.dictionary), enc.indices)

    def _to_time(self, v, e):
        if isinstance(v, pa.Scalar):
            return time_scalar(v.as_py(), self.scope.tz, getattr(e, "pos", A.NOPOS)) \
                if v.is_valid else pa.scalar(None, TS)
        from .normalize import Ctx, parse_time
        arr, _ = parse_time(v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v,
                            Ctx(tz=self.scope.tz))
        return arr

    def _to_date(self, v, e):
        try:
            return pc.cast(v, pa.date32())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise QueryError("not a date (write 2023-08-10)", e.pos) from None

    def _to_num(self, s, e):
        if not s.is_valid:
            return pa.scalar(None, pa.int64())
        text = s.as_py()
        try:
            return pa.scalar(int(text, 0) if text.lower().startswith("0x") else int(text),
                             pa.int64())
        except (ValueError, AttributeError, OverflowError):
            try:
                return pa.scalar(float(text), pa.float64())
            except (ValueError, TypeError):
                raise QueryError(f"cannot compare a number with {text!r}", e.pos) from None

    def cheap(self, e) -> bool:
        """Is evaluating e over every row of this table cheap: it reads only numbers and
        times, or string fields whose encoding is cached (or worth making) here?"""
        nodes = list(A.walk(e))
        if any(isinstance(x, (A.Call, A.Member)) for x in nodes):    # members parse JSON
            return False
        fields = [x for x in nodes if isinstance(x, A.Field)]
        for f in fields:
            col = resolve_column(f.name, self.columns)
            if col is None:
                if "." in f.name and f.name not in self.scope.lets:   # raw.X.key: a member
                    return False
                continue
            if is_str(self.table.schema.field(col).type) and self._dictionary(f) is None:
                return False
        return True

    def _dictionary(self, expr):
        """The cached dictionary encoding of a string field of a long-lived table, or None."""
        if not isinstance(expr, A.Field) or self.table.num_rows < 50_000 or \
                not any(self.table is t for t in self.scope.stable):
            return None
        name = resolve_column(expr.name, self.columns)
        if name is None:
            return None
        col = self.table.column(name)
        if not is_str(col.type):
            return None
        key = (id(self.table), name)
        hit = self.scope.cache.get(key)
        if hit is None or hit[0] is not self.table:
            def make():
                enc = pc.dictionary_encode(col.combine_chunks() if isinstance(col, pa.ChunkedArray)
                                           else col)
                return enc if len(enc.dictionary) <= 0.3 * len(enc) else None
            enc = self.scope.persist(name, make) if self.scope.persist else make()
            hit = (self.table, enc)
            self.scope.cache[key] = hit
        return hit[1]

    def _on_values(self, expr, fn):
        """Apply a string predicate to the distinct values, then spread it to the rows."""
        enc = self._dictionary(expr)
        if enc is None:
            return None
        return pc.take(fn(enc.dictionary), enc.indices)

    def _host(self, op, expr, l, wants):
        """``host`` compared under the host-name rule of edrql/hostnames.py, or None."""
        col = resolve_column(expr.name, self.columns) if isinstance(expr, A.Field) else None
        if col is None or col.lower() != "host" or isinstance(l, pa.Scalar) or not is_str(l.type) \
                or not all(isinstance(w, pa.Scalar) and is_str(w.type) and w.is_valid for w in wants):
            return None
        names = [w.as_py() for w in wants if w.as_py() != ""]     # ---- strops: "" is a
        if not names:                                             # missing host, not a name
            return None
        from . import hostnames
        enc = self.table.column(col) if pa.types.is_dictionary(self.table.schema.field(col).type) \
            else self._dictionary(expr)                       # compare on the distinct hosts
        out, note = hostnames.compare(l, enc, names, op)
        if note and note not in self.notes:
            self.notes.append(note)
        return strops.or_missing(out, l, len(names) < len(wants), op.startswith("!"))

    def _compare(self, op, l, r, e):
        if op in ("==", "!=", "=~", "!~", "===", "!=="):
            host = self._host(op, e.left, l, [r])
            if host is None and isinstance(l, pa.Scalar):            # "pc-01" == host
                host = self._host(op, e.right, r, [l])
            if host is not None:
                return host
        l, r = self._coerce(l, r, e)
        if op in ("==", "!=", "=~", "!~", "===", "!==") and isinstance(r, pa.Scalar) and \
                is_str(r.type) and not isinstance(l, pa.Scalar) and is_str(l.type):
            ci = op in ("==", "!=", "=~", "!~")
            want = r.as_py()
            neg = op in ("!=", "!~", "!==")

            def pred(values):
                if not r.is_valid:
                    return pa.nulls(len(values), pa.bool_())
                if ci and _cased(want):
                    m = pc.equal(pc.utf8_lower(values), pa.scalar(want.lower(), pa.string()))
                else:
                    m = pc.equal(values, r)
                return pc.invert(m) if neg else m
            out = self._on_values(e.left, pred)
            if out is None and ci and r.is_valid and _cased(want) and len(l) > 50_000:
                m = pc.match_substring_regex(l, "^" + re2_literal(want) + "$", ignore_case=True)
                out = pc.invert(m) if neg else m
            return strops.text_as_empty(out if out is not None else pred(l), pred)
        ci = op in ("==", "!=", "=~", "!~")
        if is_str(l.type) and is_str(r.type):             # ---- strops: missing text is ""
            l, r = strops.fill_text(l), strops.fill_text(r)
        if ci and is_str(l.type) and is_str(r.type):
            if not (isinstance(r, pa.Scalar) and r.is_valid and not _cased(r.as_py())):
                l, r = _lower(l), _lower(r)
        fn = {"==": pc.equal, "=~": pc.equal, "===": pc.equal, "!=": pc.not_equal,
              "!~": pc.not_equal, "!==": pc.not_equal, "<": pc.less, "<=": pc.less_equal,
              ">": pc.greater, ">=": pc.greater_equal}[op]
        try:
            out = fn(l, r)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
            raise QueryError(f"cannot compare {l.type} with {r.type} using {op}", e.pos) from None
        if op in ("==", "!=", "=~", "!~", "===", "!=="):      # ---- strops: KQL's null rule
            out = strops.null_unequal(out, l, r, op in ("!=", "!~", "!=="))
        return out

    def _strop(self, base, l, r, e):
        if not isinstance(r, pa.Scalar):
            raise QueryError(f"the right side of {base} must be a constant", e.right.pos)
        if not r.is_valid:
            return pa.nulls(len(l), pa.bool_()) if not isinstance(l, pa.Scalar) else pa.scalar(None, pa.bool_())
        cs = base.endswith("_cs")
        kind = base.removesuffix("_cs")
        if l.type == pa.null():
            l = l.cast(pa.string())
        if not (is_str(r.type) or pa.types.is_integer(r.type) or pa.types.is_floating(r.type)
                or pa.types.is_boolean(r.type)):
            raise QueryError(f"{kind} needs text on the right, got {r.type}", e.right.pos)
        l = as_text(l)
        pat = str(r.as_py())
        if kind == "matches":
            def pred(values):
                return pc.match_substring_regex(values, pat, ignore_case=not cs)
            try:
                out = self._on_values(e.left, pred)
                return strops.text_as_empty(out if out is not None else pred(l), pred)
            except pa.ArrowInvalid as x:
                raise QueryError(f"bad regular expression: {x}", e.right.pos,
                                 "RE2 syntax; no backreferences or lookaround") from None
        if kind in strops.TERM_KINDS:                       # ---- strops: has, hasprefix …
            if not pat:
                raise QueryError(f'{kind} needs a term: "" has none', e.right.pos,
                                 strops.EMPTY_TERM_HINT)
            term = strops.term_pattern(pat, kind)

            def pred(values):
                return pc.match_substring_regex(values, term, ignore_case=not cs)
        else:
            fn = {"contains": pc.match_substring, "startswith": pc.starts_with,
                  "endswith": pc.ends_with}[kind]
            ic = not cs and _cased(pat)

            def pred(values):
                return fn(values, pat, ignore_case=ic)
        out = self._on_values(e.left, pred)
        return strops.text_as_empty(out if out is not None else pred(l), pred)

    def _InList(self, e: A.InList):
        if e.op.lstrip("!").startswith("has_"):
            return self._has_list(e)
        l = self.eval(e.expr)
        vals = [self.eval(i) for i in e.items]
        if any(not isinstance(v, pa.Scalar) for v in vals):
            raise QueryError("the list of in (...) must hold constants", e.pos)
        vals = strops.flatten_items(vals)                   # ---- strops: a let list
        if l.type == pa.null():                             # null in (…): unknown, as null == …
            return pa.scalar(None, pa.bool_())
        op = e.op.replace("~", "")                          # in~ is in: case-insensitive
        host = self._host(op, e.expr, l, vals)
        if host is not None:
            return host
        cs = e.op.endswith("_cs")
        num = [v for v in vals if v.is_valid]
        if is_str(l.type) and num and all(pa.types.is_integer(v.type) or
                                          pa.types.is_floating(v.type) for v in num):
            l = self._numbers(e.expr, l)                    # raw.EventID in (4688, 1)
        if pa.types.is_timestamp(l.type):
            vals = [self._to_time(v, e) if is_str(v.type) else v for v in vals]
            if any(v.is_valid and not pa.types.is_timestamp(v.type) for v in vals):
                raise QueryError("in (…) on a timestamp needs times", e.pos,
                                 'e.g. ts in ("2023-08-10T14:00:00Z")')
            vset = pa.array([v.cast(TS).value if v.is_valid else None for v in vals],
                            pa.int64()).cast(l.type)
        elif pa.types.is_integer(l.type) or pa.types.is_floating(l.type):
            vals = [self._to_num(v, e) if is_str(v.type) else v for v in vals]
            if any(v.is_valid and not (pa.types.is_integer(v.type) or pa.types.is_floating(v.type))
                   for v in vals):
                raise QueryError("in (…) on a number needs numbers", e.pos, "e.g. pid in (4, 0x1d18)")
            floats = any(pa.types.is_floating(v.type) for v in vals) or \
                pa.types.is_floating(l.type)
            vset = pa.array([None if not v.is_valid else float(v.as_py()) if floats else v.as_py()
                             for v in vals], pa.float64() if floats else pa.int64())
            if floats:
                l = pc.cast(l, pa.float64(), safe=False)     # 2**63-1 has no exact float
        else:
            l = strops.fill_text(as_text(l) if l.type != pa.null() else l.cast(pa.string()))
            texts = [None if not v.is_valid else str(v.as_py()) for v in vals]
            if not cs:
                texts = [t.lower() if t is not None else None for t in texts]
            vset = pa.array(texts, pa.string())

            def pred(values):
                return pc.is_in(values if cs else pc.utf8_lower(values), value_set=vset)
            via = self._on_values(e.expr, pred)
            out = strops.text_as_empty(via if via is not None else pred(l), pred)
            return pc.invert(out) if e.op.startswith("!") else out
        out = pc.is_in(l, value_set=vset)        # a missing value is in no list (KQL: unequal)
        out = pc.if_else(pc.is_null(l), pa.scalar(False), out) \
            if not isinstance(l, pa.Scalar) else pa.scalar(out.as_py() is True and l.is_valid)
        return pc.invert(out) if e.op.startswith("!") else out

    # ---- strops: has_any / has_all
    def _has_list(self, e: A.InList):
        l = self.eval(e.expr)
        vals = [self.eval(i) for i in e.items]
        if any(not isinstance(v, pa.Scalar) for v in vals):
            raise QueryError(f"the list of {e.op} (...) must hold constants", e.pos)
        needles = [str(v.as_py()) for v in strops.flatten_items(vals) if v.is_valid]
        if "" in needles:
            raise QueryError(f'{e.op.lstrip("!")} needs terms: "" has none', e.pos,
                             strops.EMPTY_TERM_HINT)
        if l.type == pa.null():
            l = l.cast(pa.string())
        l = as_text(l)
        fn = strops.has_all if e.op.lstrip("!") == "has_all" else strops.has_any

        def pred(values):
            return fn(values, needles)
        if isinstance(l, pa.Scalar):
            out = pred(pa.array([l.as_py()], pa.string()))[0]
        else:
            via = self._on_values(e.expr, pred)
            out = via if via is not None else pred(l.combine_chunks()
                                                   if isinstance(l, pa.ChunkedArray) else l)
        out = strops.text_as_empty(out, pred)
        return pc.invert(out) if e.op.startswith("!") else out

    def _Between(self, e: A.Between):
        v, lo, hi = self.eval(e.expr), self.eval(e.low), self.eval(e.high)
        v1, lo = self._coerce(v, lo, e)
        v2, hi = self._coerce(v1, hi, e)                    # v1: text read as numbers once
        hi = strops.span_bound(lo, hi)                      # ---- strops: (t .. 1h)
        if is_str(v1.type) and is_str(lo.type) and is_str(hi.type):
            v1 = v2 = strops.fill_text(v1)                  # missing text is ""
        try:
            out = pc.and_kleene(pc.greater_equal(v1, lo), pc.less_equal(v2, hi))
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
            raise QueryError(f"between cannot compare {v.type} with {lo.type} .. {hi.type}",
                             e.pos) from None
        return pc.invert(out) if e.negate else out

    # ------------------------------------------------------------ arithmetic
    def _arith(self, op, l, r, e):
        """+ - * / % over numbers, times and durations. Division (and %) by zero gives
        null, as in KQL; a result beyond the 64-bit range is an error, never wrapped."""
        for side in (l, r):
            if is_str(side.type):
                raise QueryError(f"cannot use {op} on text (use strcat() to join text)", e.pos)
        if pa.null() in (l.type, r.type):                 # arithmetic with null is null
            n = next((len(x) for x in (l, r) if not isinstance(x, pa.Scalar)), None)
            return pa.scalar(None, pa.null()) if n is None else pa.nulls(n)
        try:
            if op in ("/", "%"):
                r = _zero_to_null(r)
            if op == "%":
                q = pc.divide(l, r)
                if pa.types.is_floating(q.type):
                    q = pc.trunc(q)
                return pc.subtract(l, pc.multiply(q, r))
            fn = {"+": pc.add_checked, "-": pc.subtract_checked, "*": pc.multiply_checked,
                  "/": pc.divide_checked}[op]
            return fn(l, r)
        except pa.ArrowInvalid as x:
            if "overflow" in str(x).lower():
                raise QueryError(f"{op} overflows: the result is beyond the 64-bit range", e.pos,
                                 "a timestamp reaches 1677–2262; integers ±9.2e18") from None
            raise QueryError(f"cannot compute {l.type} {op} {r.type}", e.pos) from None
        except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
            raise QueryError(f"cannot compute {l.type} {op} {r.type}", e.pos) from None


def _zero_to_null(r):
    """A divisor with its zeros made null (x / 0 is null)."""
    zero = pa.scalar(0, r.type) if pa.types.is_duration(r.type) else 0
    if isinstance(r, pa.Scalar):
        return pa.scalar(None, r.type) if r.is_valid and pc.equal(r, zero).as_py() else r
    return pc.if_else(pc.equal(r, zero), pa.scalar(None, r.type), r)


def column_name(e, index: int) -> str:
    """The name a bare expression gets as a column (``name``, ``bin_ts``, ``col3``)."""
    if isinstance(e, A.Field):
        return e.name
    if isinstance(e, A.Call):
        inner = next((a.name for a in e.args if isinstance(a, A.Field)), None)
        return f"{e.name}_{inner}" if inner else e.name
    if isinstance(e, A.Member):                # ---- dynamic values: AdditionalFields_Foo
        keys = []
        while isinstance(e, A.Member):
            k = e.key
            keys.append(k.value if isinstance(k, A.Lit) else f"-{k.operand.value}"
                        if isinstance(k, A.Unary) and isinstance(k.operand, A.Lit) else "")
            e = e.base
        return _dyn.member_name(column_name(e, index), keys[::-1])
    return f"col{index + 1}"
