"""EQL's functions (issue 14), vectorised, and the wildcard patterns of ``like`` / ``:`` /
``wildcard()``. ``edrql.functions`` adds ``EQL_FUNCTIONS`` to FUNCTIONS in one block.

Names are EQL's (``indexOf``, ``startsWith`` …) with snake_case spellings where the brief
asks for them (``cidr_match``, ``array_contains``); lookup is case-sensitive, so KQL's
``indexof`` (-1 when absent, case-sensitive) and EQL's ``indexOf`` (null when absent,
case-insensitive) are two functions. Text comparisons are case-insensitive, as EQL's
default. Semantics and the differences from EQL: docs/language.md, *EQL functions and
operators*.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..fnspec import ANY, BOOL, INT, LIST, NUMBER, SCALAR, TEXT, Function
from ..strops import re2_literal
from . import cidr
from .textcast import as_text

_T, _I, _B = frozenset({TEXT}), frozenset({INT}), frozenset({BOOL})
_TL = frozenset({TEXT, LIST})
_ANYV = SCALAR | {LIST}


# ---------------------------------------------------------------- wildcards
def wildcard_regex(patterns: list[str]) -> str:
    """One RE2 pattern for "any of these wildcards": ``*`` any run (newlines too), ``?`` one
    character, everything else literal (backslashes too, as in EQL)."""
    alts = []
    for p in patterns:
        body = "".join(".*" if c == "*" else "." if c == "?" else re2_literal(c) for c in p)
        alts.append(body)
    return "(?s)^(?:" + "|".join(alts) + ")$"


#: patterns per alternation (RE2's DFA memory budget; see strops._CHUNK)
_CHUNK = 500


def like_pred(patterns: list[str], cs: bool = False):
    """values → true where a value matches one of the wildcard patterns (null stays null)."""
    pats = list(dict.fromkeys(patterns))

    def pred(values):
        if not pats:
            return pc.and_(pc.is_valid(values), pa.scalar(False))
        out = None
        for i in range(0, len(pats), _CHUNK):
            m = pc.match_substring_regex(values, wildcard_regex(pats[i:i + _CHUNK]),
                                         ignore_case=not cs)
            out = m if out is None else pc.or_(out, m)
        return out
    return pred


# ---------------------------------------------------------------- helpers
def _const(fn: str, what: str, v, kind=str):
    if not isinstance(v, pa.Scalar):
        raise TypeError(f"{fn}() needs a constant {what}")
    py = v.as_py() if v.is_valid else None
    if py is None:
        return None
    if kind is int and (isinstance(py, bool) or not isinstance(py, int)):
        raise TypeError(f"{fn}() needs a whole number as its {what}")
    if kind is bool and not isinstance(py, bool):
        raise TypeError(f"{fn}() needs true or false as its {what}")
    return str(py) if kind is str else py


def _text(a):
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    return as_text(a) if a.type != pa.null() else a.cast(pa.string())


def _scalar_safe(fn):
    """Run fn on length-1 arrays when its first argument is a scalar (a constant call)."""
    def run(first, *rest):
        if isinstance(first, pa.Scalar):
            return fn(pa.array([first.as_py()] if first.is_valid else [None], first.type),
                      *rest)[0]
        if isinstance(first, pa.ChunkedArray):
            first = first.combine_chunks()
        return fn(first, *rest)
    run.__doc__ = fn.__doc__
    return run


def _per_value(impl, on_null):
    """Mark impl as a function of its first argument's value alone (the other arguments
    constant): the evaluator runs it on a dictionary column's distinct values and spreads
    the result; rows whose value is missing get ``on_null``."""
    impl.per_value = (on_null,)
    return impl


def _literal_check(first: int, validate):
    """A plan-time check (exprcheck reads impl.check_args) of string literal arguments from
    index ``first`` on: validate(list of texts) raises TypeError with .index."""
    def check(call):
        lits = [(i, a.value) for i, a in enumerate(call.args) if i >= first and
                getattr(a, "kind", None) == "str"]
        try:
            validate([v for _, v in lits])
        except TypeError as x:
            return str(x), lits[getattr(x, "index", 0)][0]
        return None
    return check


# ---------------------------------------------------------------- predicates
@_scalar_safe
def _wildcard(x, *patterns):
    """wildcard(x, p1, …): EQL's wildcard match; a missing value matches nothing."""
    pats = [_const("wildcard", "pattern", p) for p in patterns]
    return pc.fill_null(like_pred([p for p in pats if p is not None])(_text(x)), False)


def _ranges(fn, texts, need_slash=True, v4_only=False):
    if any(t is None for t in texts):
        raise TypeError(f"{fn}() needs ranges that are not null")
    return cidr.parse_ranges(texts, fn, need_slash, v4_only)


def _cidr_impl(fn: str, need_slash: bool, v4_only: bool):
    @_scalar_safe
    def impl(ip, *ranges):
        nets = _ranges(fn, [_const(fn, "range", r) for r in ranges], need_slash, v4_only)
        return cidr.in_ranges(_text(ip), nets)
    impl.check_args = _literal_check(1, lambda ts: cidr.parse_ranges(ts, fn, need_slash, v4_only))
    return _per_value(impl, False)


def _affix(fn: str, kind: str):
    @_scalar_safe
    def impl(s, sub):
        look = _const(fn, "text to look for", sub)
        t = _text(s)
        if look is None:
            return pa.nulls(len(t), pa.bool_())
        if kind == "contains":          # EQL: stringContains of a missing value is false
            return pc.fill_null(pc.match_substring(t, look, ignore_case=True), False)
        f = pc.starts_with if kind == "starts" else pc.ends_with
        return f(t, look, ignore_case=True)
    return _per_value(impl, False if kind == "contains" else None)


# ---------------------------------------------------------------- text
def _length(x):
    """length(x): characters of text, elements of a list."""
    if isinstance(x, pa.ChunkedArray):
        x = x.combine_chunks()
    if pa.types.is_list(x.type) or pa.types.is_large_list(x.type):
        return pc.cast(pc.list_value_length(x), pa.int64())
    return pc.cast(pc.utf8_length(_text(x)), pa.int64())


@_scalar_safe
def _index_of(s, sub, start=None):
    """indexOf(s, sub[, start]): character position, case-insensitive; null when absent."""
    look = _const("indexOf", "text to look for", sub)
    first = 0 if start is None else _const("indexOf", "start", start, int)
    first = 0 if first is None else first          # EQL: a null start is 0
    t = _text(s)
    if look is None:
        return pa.nulls(len(t), pa.int64())
    first = max(first, 0)
    if first:
        t = pc.utf8_slice_codeunits(t, first, 2**63 - 1)
    head = pc.extract_regex(t, "(?si)^(?P<h>.*?)" + re2_literal(look))
    return pc.add(pc.cast(pc.utf8_length(pc.struct_field(head, "h")), pa.int64()), first)


_HEX_TEXT = r"^[+-]?0[xX][0-9a-fA-F]+$"
_FLOAT_TEXT = r"^[+-]?(\d+\.\d*|\.\d+)$"
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _max_digits(base: int) -> int:
    """Digits a base reads at most (longer text: null, never a wrapped number)."""
    n = 0
    while base ** (n + 1) < 2**62:
        n += 1
    return n


def _where(mask, t):
    return pc.if_else(pc.fill_null(mask, False), t, pa.scalar(None, pa.string()))


@_scalar_safe
def _number(s, base=None):
    """number(s[, base]): text → int (base 10, or 16 with 0x), a decimal point → float; else null."""
    b = None if base is None else _const("number", "base", base, int)
    if b is not None and not 2 <= b <= 36:
        raise TypeError("number() takes a base from 2 to 36")
    t = pc.utf8_trim_whitespace(_text(s))
    if b not in (None, 10):
        return _based(t, b)
    ints = pc.match_substring_regex(t, r"^[+-]?\d{1,18}$")
    hexes = pc.match_substring_regex(t, _HEX_TEXT) if b is None else None
    floats = pc.match_substring_regex(t, _FLOAT_TEXT)
    out_type = pa.float64() if pc.any(floats).as_py() else pa.int64()
    plain = pc.replace_substring_regex(t, r"^\+", "")
    out = pc.cast(_where(pc.or_(ints, floats), plain), out_type)
    if hexes is not None and pc.any(hexes).as_py():
        out = pc.if_else(pc.fill_null(hexes, False), pc.cast(_based(t, 16), out_type), out)
    return out


def _based(t, base: int):
    """Text of digits in a base from 2 to 36 (16: an optional 0x) → int64, vectorised: a
    loop over the digit positions (at most 61), not the rows."""
    pre = r"(0[xX])?" if base == 16 else ""
    digits = re2_literal(_DIGITS[:base])
    ok = pc.match_substring_regex(t, f"(?i)^[+-]?{pre}[{digits}]{{1,{_max_digits(base)}}}$")
    neg = pc.fill_null(pc.and_(ok, pc.starts_with(t, "-")), False).to_numpy(zero_copy_only=False)
    body = pc.utf8_lower(pc.replace_substring_regex(_where(ok, t), f"^[+-]?{pre}", ""))
    lens = pc.fill_null(pc.utf8_length(body), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    out = np.zeros(len(t), np.int64)
    table = pa.array(list(_DIGITS), pa.string())
    for k in range(int(lens.max()) if len(lens) else 0):
        d = pc.index_in(pc.utf8_slice_codeunits(body, k, k + 1), value_set=table)
        d = pc.fill_null(d, 0).to_numpy(zero_copy_only=False).astype(np.int64)
        live = lens > k
        out = np.where(live, out * base + d, out)
    out = np.where(neg, -out, out)
    return pa.array(out, pa.int64(), mask=~pc.fill_null(ok, False).to_numpy(zero_copy_only=False))


def _regex_check(fn):
    def validate(texts):
        for i, t in enumerate(texts):
            try:
                pc.match_substring_regex(pa.array([""], pa.string()), t)
            except pa.ArrowInvalid as x:
                err = TypeError(f"{fn}(): bad regular expression: {x}")
                err.index = i
                raise err from None
    return validate


def _match_impl(fn: str):
    @_scalar_safe
    def impl(s, *patterns):
        """match(s, re, …): a regular expression matches at the start of s (EQL's re.match),
        case-insensitive, . matching newlines too."""
        pats = [p for p in (_const(fn, "regular expression", p) for p in patterns) if p is not None]
        t = _text(s)
        if not pats:
            return pc.and_(pc.is_valid(t), pa.scalar(False))
        return pc.match_substring_regex(t, "(?s)^(?:" + "|".join(f"(?:{p})" for p in pats) + ")",
                                        ignore_case=True)
    impl.check_args = _literal_check(1, _regex_check(fn))
    return _per_value(impl, None)


def _string(x):
    """string(x): a value as text (true/false for booleans)."""
    return _text(x)


def _concat(*args):
    """concat(a, …): the values as text, joined; null when any is null (as EQL)."""
    return pc.binary_join_element_wise(*[_text(a) for a in args], "")


@_scalar_safe
def _between(s, left, right, greedy=None, case_sensitive=None):
    """between(s, left, right[, greedy[, case_sensitive]]): the text between the first left
    and the next right (greedy: the last right); null when either is absent."""
    lo = _const("between", "left text", left)
    hi = _const("between", "right text", right)
    g = False if greedy is None else _const("between", "greedy flag", greedy, bool)
    cs = False if case_sensitive is None else _const("between", "case flag", case_sensitive, bool)
    t = _text(s)
    if lo is None or hi is None:
        return pa.nulls(len(t), pa.string())
    flags = "(?s)" if cs else "(?si)"
    pat = flags + "^.*?" + re2_literal(lo) + "(?P<v>.*" + ("" if g else "?") + ")" + re2_literal(hi)
    return pc.struct_field(pc.extract_regex(t, pat), "v")


# ---------------------------------------------------------------- math
def _nums(fn, x, y):
    for v in (x, y):
        if not (pa.types.is_integer(v.type) or pa.types.is_floating(v.type) or v.type == pa.null()):
            raise TypeError(f"{fn}() needs numbers")
    return x, y


def _ints(x, y):
    return pa.types.is_integer(x.type) and pa.types.is_integer(y.type)


def _math(fn, op):
    def impl(x, y):
        x, y = _nums(fn, x, y)
        return op(x, y)
    return impl


def _zero_null(y):
    if isinstance(y, pa.Scalar):
        return pa.scalar(None, y.type) if y.is_valid and y.as_py() == 0 else y
    return pc.if_else(pc.equal(y, 0), pa.scalar(None, y.type), y)


def _floor_div(x, y):
    """divide(x, y): integers → floor division (as EQL's Python //), else true division;
    division by zero → null."""
    x, y = _nums("divide", x, y)
    y = _zero_null(y)
    if not _ints(x, y):
        return pc.divide(pc.cast(x, pa.float64()), pc.cast(y, pa.float64()))
    x, y = pc.cast(x, pa.int64()), pc.cast(y, pa.int64())
    q = pc.divide_checked(x, y)                          # truncates toward zero
    r = pc.subtract(x, pc.multiply(q, y))
    off = pc.and_(pc.not_equal(r, 0), pc.not_equal(pc.less(r, 0), pc.less(y, 0)))
    return pc.subtract(q, pc.cast(off, pa.int64()))


def _modulo(x, y):
    """modulo(x, y): remainder with the sign of y (Python's %, as EQL); x % 0 → null."""
    x, y = _nums("modulo", x, y)
    y = _zero_null(y)
    if _ints(x, y):
        q = _floor_div(x, y)
        return pc.subtract(pc.cast(x, pa.int64()), pc.multiply(q, pc.cast(y, pa.int64())))
    xf, yf = pc.cast(x, pa.float64()), pc.cast(y, pa.float64())
    return pc.subtract(xf, pc.multiply(pc.floor(pc.divide(xf, yf)), yf))


def _abs(x):
    if not (pa.types.is_integer(x.type) or pa.types.is_floating(x.type) or x.type == pa.null()):
        raise TypeError("abs() needs a number")
    return pc.abs_checked(x)


# ---------------------------------------------------------------- lists
def _list_hits(lst, values, fn):
    """(per element: equal to one of values, case-insensitive for text; parent row index)."""
    if isinstance(lst, pa.Scalar):
        lst = pa.array([lst.as_py()], lst.type)
    if isinstance(lst, pa.ChunkedArray):
        lst = lst.combine_chunks()
    if lst.type == pa.null():
        return None, lst
    if not (pa.types.is_list(lst.type) or pa.types.is_large_list(lst.type)):
        raise TypeError(f"{fn}() needs a list, e.g. from values() or split()")
    flat = pc.list_flatten(lst)
    wants = [_const(fn, "value", v, object) for v in values]
    wants = [w for w in wants if w is not None]
    if pa.types.is_string(flat.type) or pa.types.is_large_string(flat.type):
        flat = pc.utf8_lower(flat)
        vset = pa.array([str(w).lower() for w in wants], pa.string())
    else:
        flat = _text(flat) if wants and isinstance(wants[0], str) else flat
        vset = pa.array([str(w) for w in wants] if isinstance(flat.type, pa.StringType) else wants,
                        flat.type if wants else None)
    hits = pc.fill_null(pc.is_in(flat, value_set=vset), False).to_numpy(zero_copy_only=False)
    rows = pc.list_parent_indices(lst).to_numpy(zero_copy_only=False)
    return (np.bincount(rows[hits], minlength=len(lst)), lst)


def _array_contains(lst, *values):
    """array_contains(list, v, …): true when an element equals one of the values."""
    scalar = isinstance(lst, pa.Scalar)
    counts, lst = _list_hits(lst, values, "array_contains")
    if counts is None:
        return lst.cast(pa.bool_())
    out = pa.array(counts > 0, pa.bool_(), mask=pc.is_null(lst).to_numpy(zero_copy_only=False))
    return out[0] if scalar else out


def _array_count(lst, value):
    """array_count(list, v): how many elements equal v."""
    scalar = isinstance(lst, pa.Scalar)
    counts, lst = _list_hits(lst, [value], "array_count")
    if counts is None:
        return lst.cast(pa.int64())
    out = pa.array(counts.astype(np.int64), pa.int64(),
                   mask=pc.is_null(lst).to_numpy(zero_copy_only=False))
    return out[0] if scalar else out


#: EQL's functions over a list with a variable and a condition: name → count or any
LAMBDAS = {"array_count": "count", "arrayCount": "count", "array_search": "any",
           "arraySearch": "any"}


def over_elements(lst, n: int, table: pa.Table, var: str, needed: list[str], cond) -> tuple:
    """``array_count(list, x, cond)``: one row per element (the variable ``var`` holding it,
    the columns ``needed`` by cond repeated from its row), cond evaluated once over all of
    them by ``cond(table)``; the count of true per row (0 for a missing list, as EQL)."""
    if isinstance(lst, pa.Scalar):
        lst = pc.take(pa.array([lst.as_py()], lst.type), pa.array(np.zeros(n, np.int64)))
    if isinstance(lst, pa.ChunkedArray):
        lst = lst.combine_chunks()
    if lst.type == pa.null():
        return np.zeros(n, np.int64)
    if not (pa.types.is_list(lst.type) or pa.types.is_large_list(lst.type)):
        raise TypeError("needs a list, e.g. from split() or values()")
    flat = pc.list_flatten(lst)
    rows = pc.list_parent_indices(lst)
    cols = {c: pc.take(table.column(c), rows) for c in needed if c != var}
    cols[var] = flat
    hit = cond(pa.table(cols) if len(flat) else pa.table({k: v for k, v in cols.items()}))
    if isinstance(hit, pa.Scalar):
        hit = pa.repeat(hit, len(flat))
    if hit.type != pa.null() and not pa.types.is_boolean(hit.type):
        raise TypeError(f"needs a condition (true/false) on {var}, e.g. {var} == \"…\"")
    hits = pc.fill_null(hit, False).to_numpy(zero_copy_only=False).astype(bool)
    return np.bincount(rows.to_numpy(zero_copy_only=False)[hits], minlength=n).astype(np.int64)


def _safe(x):
    """safe(x): x; the evaluator turns a failing x into null (edrql/expr.py)."""
    return x


_wildcard = _per_value(_wildcard, False)
_index_of, _between = _per_value(_index_of, None), _per_value(_between, None)
_cidr = _cidr_impl("cidr_match", True, False)
_cidr_camel = _cidr_impl("cidrMatch", True, False)
_ipv4_range = _cidr_impl("ipv4_is_in_range", False, True)
_starts, _ends, _contains = (_affix("startsWith", "starts"), _affix("endsWith", "ends"),
                             _affix("stringContains", "contains"))
_N = NUMBER


def _fn(name, lo, hi, impl, doc, example, takes, returns, null_as=(pa.string(),), same_from=0):
    return Function(name, lo, hi, impl, doc, example, takes=takes, returns=returns,
                    null_as=null_as, same_from=same_from)


_MATH = [("add", "add(x, y): x + y", pc.add_checked),
         ("subtract", "subtract(x, y): x - y", pc.subtract_checked),
         ("multiply", "multiply(x, y): x * y", pc.multiply_checked)]

EQL_FUNCTIONS = [
    _fn("wildcard", 2, 256, _wildcard, "wildcard(x, p1, …): x matches a wildcard pattern "
        "(* any run, ? one character), case-insensitive; like `like`",
        'where wildcard(name, "power*.exe", "cmd.exe")', (_T,), BOOL),
    _fn("match", 2, 256, _match_impl("match"), "match(s, re, …): one of the regular "
        "expressions (RE2) matches at the start of s, case-insensitive (EQL's)",
        r'where match(cmdline, r".*-e(nc)?\s")', (_T,), BOOL),
    _fn("matchLite", 2, 256, _match_impl("matchLite"), "EQL's lightweight match: the same "
        "as match()", r'where matchLite(name, "power.*")', (_T,), BOOL),
    _fn("cidr_match", 2, 256, _cidr, "cidr_match(ip, cidr, …): the IPv4 or IPv6 address is "
        "in one of the ranges (non-IP text: false)", 'where cidr_match(raddr, "10.0.0.0/8")',
        (_T,), BOOL),
    _fn("cidrMatch", 2, 256, _cidr_camel, "EQL's spelling of cidr_match",
        'where cidrMatch(raddr, "10.0.0.0/8", "192.168.0.0/16")', (_T,), BOOL),
    _fn("ipv4_is_in_range", 2, 2, _ipv4_range, "ipv4_is_in_range(ip, range): KQL's; an IPv4 "
        "range (10.0.0.0/8) or one address", 'where ipv4_is_in_range(raddr, "10.0.0.0/8")',
        (_T,), BOOL),
    _fn("length", 1, 1, _length, "length(x): characters of text, elements of a list",
        'where length(cmdline) > 1000', (_TL,), INT),
    _fn("indexOf", 2, 3, _index_of, "indexOf(s, sub[, start]): EQL's: character position, "
        "case-insensitive, null when absent (KQL's indexof: -1, case-sensitive)",
        'where indexOf(cmdline, "-enc") >= 0', (SCALAR, _T, _I), INT),
    _fn("number", 1, 2, _number, "number(s[, base]): text to a number: int (0x hex too), float "
        "with a decimal point; otherwise null", 'where number(raw.ProcessId) > 1000',
        (_T, _I), ANY),
    _fn("string", 1, 1, _string, "string(x): the value as text (EQL's tostring)",
        'extend p = string(pid)', (_ANYV,), TEXT),
    *[_fn(n, 2, 2, _math(n, op), doc, f"extend v = {n}(rport, 2)", (_N,), "same",
          (pa.int64(),)) for n, doc, op in _MATH],
    _fn("divide", 2, 2, _floor_div, "divide(x, y): whole numbers: floor division (-7, 2 → -4), "
        "else x / y; by zero: null", "extend v = divide(rport, 2)", (_N,), "same", (pa.int64(),)),
    _fn("modulo", 2, 2, _modulo, "modulo(x, y): remainder with the sign of y; by zero: null",
        "where modulo(pid, 4) == 0", (_N,), "same", (pa.int64(),)),
    _fn("abs", 1, 1, _abs, "abs(x): the absolute value", "extend d = abs(rport - 443)",
        (_N,), "same", (pa.int64(),)),
    _fn("safe", 1, 1, _safe, "safe(x): x, or null where computing x fails at run time",
        "extend n = safe(number(raw.ProcessId))", (_ANYV,), "same", (pa.null(),)),
    _fn("concat", 1, 64, _concat, "concat(a, …): the values as text, joined; null when any "
        "is null (strcat counts null as '')", 'extend key = concat(host, ":", pid)',
        (_ANYV,), TEXT),
    _fn("startsWith", 2, 2, _starts, "startsWith(s, prefix): case-insensitive",
        'where startsWith(path, "C:\\\\Users\\\\")', (SCALAR, _T), BOOL),
    _fn("endsWith", 2, 2, _ends, "endsWith(s, suffix): case-insensitive",
        'where endsWith(path, ".dll")', (SCALAR, _T), BOOL),
    _fn("stringContains", 2, 2, _contains, "stringContains(s, sub): case-insensitive; a "
        "missing s gives false", 'where stringContains(cmdline, "-enc")', (SCALAR, _T), BOOL),
    _fn("between", 3, 5, _between, "between(s, left, right[, greedy[, case_sensitive]]): the "
        "text between left and right; null when absent", 'extend h = between(url, "://", "/")',
        (SCALAR, _T, _T, _B), TEXT),
    _fn("array_contains", 2, 64, _array_contains, "array_contains(list, v, …): an element "
        "equals one of the values (text: case-insensitive)",
        'where array_contains(split(path, "\\\\"), "temp")', (frozenset({LIST}), SCALAR), BOOL,
        (pa.list_(pa.string()), pa.string())),
    _fn("arrayContains", 2, 64, _array_contains, "EQL's spelling of array_contains",
        'where arrayContains(split(path, "\\\\"), "temp")', (frozenset({LIST}), SCALAR), BOOL,
        (pa.list_(pa.string()), pa.string())),
    _fn("array_count", 2, 3, _array_count, "array_count(list, v): elements equal to v (text: "
        "case-insensitive); array_count(list, x, condition): elements for which the condition "
        "on x is true", 'extend n = array_count(split(path, "\\\\"), "temp")',
        (frozenset({LIST}), SCALAR), INT, (pa.list_(pa.string()), pa.string())),
    _fn("arrayCount", 3, 3, _array_count, "EQL's arrayCount(list, x, condition): elements for "
        "which the condition on x is true",
        'extend n = arrayCount(split(path, "\\\\"), p, p like "temp*")',
        (frozenset({LIST}), SCALAR), INT, (pa.list_(pa.string()), pa.string())),
    _fn("array_search", 3, 3, _array_count, "array_search(list, x, condition): the condition "
        "on x is true for an element", 'where array_search(split(path, "\\\\"), p, p : "temp")',
        (frozenset({LIST}), SCALAR), BOOL, (pa.list_(pa.string()), pa.string())),
    _fn("arraySearch", 3, 3, _array_count, "EQL's spelling of array_search",
        'where arraySearch(split(path, "\\\\"), p, p : "temp")',
        (frozenset({LIST}), SCALAR), BOOL, (pa.list_(pa.string()), pa.string())),
]
