"""Numbers written as text (raw vendor fields: ``raw.RemotePort``, ``raw.ProcessId``).

``as_number`` reads a text column as numbers, so that a comparison with a number or
``sum``/``avg``/``min``/``max`` work on values, not on text order: decimal integers and
``0x`` hex become int64; when any value has a fraction or an exponent the whole column
becomes float64. Text that is no number is null (it is not a number, so it neither
matches ``> 1000`` nor counts in ``sum``).
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

FLOAT_RE = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"
_INT_RE = r"^\s*([+-]?\d{1,18}|0[xX][0-9a-fA-F]{1,15})\s*$"


def as_number(a):
    """Text (column or scalar) → int64, or float64 when a value needs it; others null."""
    from ..normalize import to_int
    if isinstance(a, pa.Scalar):
        col = as_number(pa.array([a.as_py() if a.is_valid else None], pa.string()))
        return col[0]
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    if pa.types.is_dictionary(a.type):
        a = pc.cast(a, pa.string())
    if not (pa.types.is_string(a.type) or pa.types.is_large_string(a.type)):
        return a
    ints = to_int(a)
    is_int = pc.fill_null(pc.match_substring_regex(a, _INT_RE), False)
    is_float = pc.fill_null(pc.match_substring_regex(a, FLOAT_RE), False)
    extra = pc.and_(is_float, pc.invert(is_int))
    if not pc.any(extra).as_py():
        return ints
    floats = pc.cast(pc.if_else(extra, pc.utf8_trim_whitespace(a), pa.scalar(None, a.type)),
                     pa.float64())
    return pc.coalesce(pc.cast(ints, pa.float64()), floats)
