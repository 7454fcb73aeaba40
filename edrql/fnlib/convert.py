"""KQL's conversions and conditionals: todouble/toreal, tobool, isempty/isnotempty,
case(), and column_ifexists() (a call the checker and the evaluator rewrite before
running it: it names a column, or falls back to its default)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import ast as A
from ..fnspec import ANY, BOOL, NULL
from .numtext import FLOAT_RE
from .textcast import _is_list, as_text


def _plain(a):
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    if pa.types.is_dictionary(a.type):
        a = pc.cast(a, a.type.value_type)
    return a


def _on_column(fn, a):
    """fn over a column; a scalar goes through a one-row column."""
    if isinstance(a, pa.Scalar):
        return fn(pa.array([a.as_py() if a.is_valid else None], a.type))[0]
    return fn(_plain(a))


def todouble(a):
    """Numbers and numeric text → float64; other text null; true/false → 1.0/0.0."""
    return _on_column(_todouble, a)


def _todouble(a):
    t = a.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
        return pc.cast(a, pa.float64(), safe=False)
    if t == pa.null():
        return a.cast(pa.float64())
    s = pc.utf8_trim_whitespace(as_text(a))
    ok = pc.fill_null(pc.match_substring_regex(s, FLOAT_RE), False)
    return pc.cast(pc.if_else(ok, s, pa.scalar(None, pa.string())), pa.float64())


def tobool(a):
    """"true"/"false" (any case) and "1"/"0" → true/false; numbers: not zero; else null."""
    return _on_column(_tobool, a)


def _tobool(a):
    t = a.type
    if pa.types.is_boolean(t):
        return a
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return pc.not_equal(a, 0)
    if t == pa.null():
        return a.cast(pa.bool_())
    s = pc.utf8_lower(pc.utf8_trim_whitespace(as_text(a)))
    yes = pc.is_in(s, value_set=pa.array(["true", "1"]))
    no = pc.is_in(s, value_set=pa.array(["false", "0"]))
    return pc.if_else(yes, True, pc.if_else(no, False, pa.scalar(None, pa.bool_())))


def isempty(a):
    """True for null and for "" (KQL: text is never null, missing text is ""); a list:
    null or no elements."""
    if isinstance(a, pa.Scalar):
        return isempty(pa.array([a.as_py() if a.is_valid else None], a.type))[0]
    a = _plain(a)
    if _is_list(a.type):
        return pc.fill_null(pc.equal(pc.list_value_length(a), 0), True)
    if pa.types.is_string(a.type) or pa.types.is_large_string(a.type):
        return pc.fill_null(pc.equal(a, ""), True)
    return pc.is_null(a)


def isnotempty(a):
    return pc.invert(isempty(a))


def _unify(values):
    """The branches of case()/iff() in one type (null takes the others'; ints and floats mix)."""
    typed = [v.type for v in values if v.type != pa.null()]
    if not typed:
        return values
    target = typed[0]
    if len(set(typed)) > 1 and all(pa.types.is_integer(t) or pa.types.is_floating(t)
                                  for t in typed):
        target = pa.float64()
    return [v.cast(target) if v.type != target else v for v in values]


def case(*args):
    """case(c1, v1, c2, v2, …, else): the value of the first true condition, else the last."""
    if len(args) < 3 or len(args) % 2 == 0:
        raise TypeError("case() takes condition, value pairs and a final else value")
    conds, values = list(args[0:-1:2]), _unify(list(args[1:-1:2]) + [args[-1]])
    n = next((len(x) for x in args if not isinstance(x, pa.Scalar)), None)
    if n is None:
        return case(*[pa.repeat(x, 1) for x in args])[0]
    conds = [pa.repeat(c, n) if isinstance(c, pa.Scalar) else _plain(c) for c in conds]
    conds = [pc.fill_null(c.cast(pa.bool_()) if c.type == pa.null() else c, False) for c in conds]
    values = [pa.repeat(v, n) if isinstance(v, pa.Scalar) else _plain(v) for v in values]
    names = [f"c{i}" for i in range(len(conds))]
    return pc.case_when(pa.StructArray.from_arrays(conds, names), *values)


def case_kinds(ks: list) -> list:
    """The checker's rule for case(): a condition at each even position; the result is of
    the values' common kind (the kinds returned)."""
    for i in range(0, len(ks) - 1, 2):
        if ks[i] not in (BOOL, NULL, ANY):
            raise ValueError("case() needs a condition (true/false) before each value", i)
    if len(ks) < 3 or len(ks) % 2 == 0:
        raise ValueError("case() takes condition, value pairs and a final else value", None)
    return ks[1:-1:2] + [ks[-1]]


def column_ifexists(call: A.Call, columns, resolve):
    """The expression a ``column_ifexists("name", default)`` call stands for: the column
    when the input has it, else the default. Raises ValueError for a name that is no
    constant text."""
    if len(call.args) != 2:
        raise ValueError("column_ifexists() takes 2 arguments: a column name and a default")
    name = call.args[0]
    if not (isinstance(name, A.Lit) and name.kind == "str"):
        raise ValueError("column_ifexists() needs the column name as a string, e.g. "
                         'column_ifexists("FolderPath", "")')
    col = resolve(name.value, list(columns or []))
    return A.Field(col, name.pos) if col is not None else call.args[1]


__all__ = ["todouble", "tobool", "isempty", "isnotempty", "case", "case_kinds",
           "column_ifexists"]


_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)


def tohex(a, min_length=None):
    """An integer in lower-case hex (a negative one as its 64-bit two's complement, as KQL
    writes it), zero-padded to min_length."""
    width = 1
    if min_length is not None:
        width = min_length.as_py() if isinstance(min_length, pa.Scalar) and min_length.is_valid \
            else None
        if isinstance(width, bool) or not isinstance(width, int) or width < 0:
            raise TypeError("tohex() needs a constant length of 0 or more")
    return _on_column(lambda x: _tohex(x, max(width, 1)), a)


def _tohex(a, width: int):
    if not (pa.types.is_integer(a.type) or a.type == pa.null()):
        raise TypeError("tohex() needs an integer")
    v = pc.fill_null(pc.cast(a, pa.int64()), 0).to_numpy(zero_copy_only=False).view(np.uint64)
    shifts = np.arange(60, -1, -4, dtype=np.uint64)
    digits = _HEX[((v[:, None] >> shifts[None, :]) & np.uint64(15)).astype(np.intp)]
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(v),
                                                 [None, pa.py_buffer(digits.tobytes())])
    text = pc.cast(pc.cast(fixed, pa.binary()), pa.string())         # 16 digits per value
    text = pc.replace_substring_regex(text, "^0*([0-9a-f]{%d,})$" % min(width, 16), "\\1")
    if width > 16:
        text = pc.utf8_lpad(text, width, "0")
    return pc.if_else(pc.is_valid(a), text, pa.scalar(None, pa.string()))
