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

from dataclasses import field

import pyarrow as pa
import pyarrow.compute as pc

from .records import record as dataclass
from . import ast as A
from . import strops
from .compare import Comparisons, is_str, time_scalar
from .segcodec import on_values, plain
from .errors import QueryError  # also imported from here by older callers: one class
from .fnlib.time import USES_NOW
from .functions import FUNCTIONS
from .names import did_you_mean, resolve_column


# ---- funcs: dynamic values and column_ifexists (edrql/fnlib)
from .fnlib import dynamic as _dyn  # noqa: E402
from .fnlib.convert import column_ifexists  # noqa: E402
from .fnlib.eqlfuncs import LAMBDAS, over_elements  # noqa: E402


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


_decode = plain          # a dictionary-encoded column as plain values (edrql/segcodec.py)


def _stored_dictionary(cache: dict, table: pa.Table, name: str, col):
    """A dictionary column as one DictionaryArray (chunks combined once per table, cached),
    or None when its dictionary is far longer than the rows (a filtered table: decoding the
    rows costs less than testing every value)."""
    if isinstance(col, pa.ChunkedArray):
        if col.num_chunks == 1:
            col = col.chunk(0)
        else:
            key = ("combined", id(table), name)
            hit = cache.get(key)
            if hit is None or hit[0] is not table:
                hit = (table, col.combine_chunks())
                cache[key] = hit
            col = hit[1]
    if not is_str(col.type.value_type) or len(col.dictionary) > 2 * len(col) + 1000:
        return None
    if len(col.dictionary) > 65536:          # a family's dictionary: only the column's values
        key = ("own values", id(table), name)
        hit = cache.get(key)
        if hit is None or hit[0] is not table:
            hit = (table, _own_values(col))
            cache[key] = hit
        col = hit[1]
    return col


def _own_values(col: pa.DictionaryArray) -> pa.DictionaryArray:
    """A column coded into a dictionary shared with other columns (the compact store's
    families), re-coded into the values it uses itself when they are far fewer: a string
    predicate then tests those only."""
    import numpy as np
    codes = pc.fill_null(col.indices, -1).to_numpy(zero_copy_only=False)
    used = np.zeros(len(col.dictionary), bool)
    used[codes[codes >= 0]] = True
    keep = np.nonzero(used)[0]
    if len(keep) > 0.7 * len(col.dictionary):
        return col
    rank = np.zeros(len(col.dictionary), np.int32)
    rank[keep] = np.arange(len(keep), dtype=np.int32)
    idx = pa.array(rank[np.maximum(codes, 0)], pa.int32(), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(idx, col.dictionary.take(pa.array(keep)), safe=False)


#: a test true (or false) for at most this many distinct values spreads to the rows by
#: comparing their codes with those: 2.2M rows, one value: 0.6 ms, against 7 ms for a take
FEW_CODES = 4


def spread(on_values: pa.Array, codes: pa.Array) -> pa.Array:
    """A boolean per distinct value (``on_values``) as one per row of ``codes``: the same
    array as ``pc.take(on_values, codes)`` (null where a row's code is null)."""
    if on_values.null_count or len(codes) < 50_000 or not pa.types.is_boolean(on_values.type):
        return pc.take(on_values, codes)
    yes = pc.indices_nonzero(on_values)
    if len(yes) == 0 or len(yes) == len(on_values):         # every value alike
        every = bool(len(yes))
        valid = pc.is_valid(codes)
        if not codes.null_count:
            return valid if every else pc.invert(valid)
        return pc.if_else(valid, every, pa.scalar(None, pa.bool_()))
    flip = len(yes) > FEW_CODES
    if flip:
        yes = pc.indices_nonzero(pc.invert(on_values))
        if len(yes) > FEW_CODES:
            return pc.take(on_values, codes)
    out = None
    for k in yes.to_pylist():
        m = pc.equal(codes, pa.scalar(k, codes.type))
        out = m if out is None else pc.or_(out, m)
    return pc.invert(out) if flip else out


_LIT_TYPES = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_()}


class Evaluator(Comparisons):
    """An expression's value over a table's rows; comparisons, string predicates, in and
    between come from edrql/compare.py."""

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
        if e.name == "safe":                         # ---- EQL: safe(x) — a failing x is null
            return self._safe(e)
        if e.name in LAMBDAS and len(e.args) == 3:   # ---- EQL: array_count(list, x, cond)
            return self._over_elements(e)
        coded = self._per_value(fn, e)               # ---- EQL: on a column's distinct values
        if coded is not None:
            return coded
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

    # ---- EQL functions (issue 14): safe(), and functions of one text value (fnlib/eqlfuncs.py)
    def _safe(self, e: A.Call):
        try:
            return self.eval(e.args[0])
        except QueryError:
            return pa.nulls(self.table.num_rows)

    def _over_elements(self, e: A.Call):
        var = e.args[1].name
        needed = [c for c in dict.fromkeys(resolve_column(x.name, self.columns) for x in
                                           A.walk(e.args[2]) if isinstance(x, A.Field)) if c]
        try:
            counts = over_elements(self.eval(e.args[0]), self.table.num_rows, self.table, var,
                                   needed, lambda t: Evaluator(t, self.scope).eval(e.args[2]))
        except TypeError as x:
            raise QueryError(f"{e.name}() {x}", e.args[0].pos) from None
        return pa.array(counts > 0 if LAMBDAS[e.name] == "any" else counts)

    def _per_value(self, fn, e: A.Call):
        """A function marked ``per_value`` (wildcard, cidr_match, startsWith …) of a coded
        text column and constants: run on the column's distinct values, spread to the rows."""
        mark = getattr(fn.impl, "per_value", None)
        if mark is None or not e.args or self._dictionary(e.args[0]) is None:
            return None
        rest = [self.eval(a) for a in e.args[1:]]
        if any(not isinstance(r, pa.Scalar) for r in rest):
            return None
        try:
            out = self._on_values(e.args[0], lambda vals: fn.impl(vals, *rest))
        except (TypeError, pa.ArrowInvalid) as x:
            msg = str(x) if str(x).startswith(f"{e.name}()") else f"{e.name}(): {x}"
            raise QueryError(msg, e.pos, f"e.g. {fn.example}") from None
        return out if mark[0] is None else pc.fill_null(out, mark[0])

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
        base = op.lstrip("!")
        if base.split("_")[0] in strops.STRING_PREDICATES and isinstance(e.left, A.Field) and \
                self._dictionary(e.left) is not None:      # tested on its distinct values:
            l, r = self._coded(e.left), self.eval(e.right)     # the rows stay codes
        else:
            out, r = self._coded_equality(op, e)
            if out is not None:
                return out
            l, r = self.eval(e.left), (self.eval(e.right) if r is None else r)
        if op in ("+", "-", "*", "/", "%"):
            return self._arith(op, l, r, e)
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
        """The dictionary encoding of a string field: the column itself when it is stored
        dictionary-encoded (and its dictionary is not much longer than the rows), else the
        cached encoding of a string field of a long-lived table, or None."""
        if not isinstance(expr, A.Field):
            return None
        name = resolve_column(expr.name, self.columns)
        if name is None:
            return None
        col = self.table.column(name)
        if pa.types.is_dictionary(col.type):
            return _stored_dictionary(self.scope.cache, self.table, name, col)
        if self.table.num_rows < 50_000 or not any(self.table is t for t in self.scope.stable):
            return None
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

    def _coded(self, expr):
        """A dictionary-encoded field as stored (not decoded): for predicates that test its
        distinct values and decode the rows only when they must."""
        return self.table.column(resolve_column(expr.name, self.columns))

    def _on_values(self, expr, fn):
        """Apply a string predicate to the distinct values, then spread it to the rows."""
        enc = self._dictionary(expr)
        if enc is None:
            return None
        if isinstance(enc, pa.DictionaryArray):
            return spread(fn(enc.dictionary), enc.indices)
        return on_values(fn, enc)

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
