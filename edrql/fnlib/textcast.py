"""Any value as text, the way tables show it; lists (and structs) as JSON text, the way
KQL prints a dynamic value: ``["a","b"]``, ``{"k":1}`` (no spaces)."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

#: control characters other than \t \n \r: escaped one value at a time (rare)
_RARE_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def as_text(a):
    """Any value (scalar or column) as text: timestamps as ISO 8601 UTC, durations as seconds,
    lists and structs as JSON text."""
    if isinstance(a, pa.Scalar):       # as the column form: no as_py() (1ns is no timedelta)
        if pa.types.is_string(a.type) or a.type == pa.null():
            return a
        return as_text(pa.repeat(a, 1))[0] if a.is_valid else pa.scalar(None, pa.string())
    if pa.types.is_string(a.type) or pa.types.is_large_string(a.type):
        return a
    if pa.types.is_dictionary(a.type):
        return pc.cast(a, pa.string())
    if isinstance(a, pa.ChunkedArray) and (_is_list(a.type) or pa.types.is_struct(a.type)):
        a = a.combine_chunks()
    if _is_list(a.type) or pa.types.is_struct(a.type):
        return json_text(a)
    if pa.types.is_timestamp(a.type):
        from ..timefmt import iso
        return iso(a)
    if pa.types.is_duration(a.type):          # seconds, as tables show durations: "300s"
        secs = pc.divide(pc.cast(pc.cast(a, pa.int64()), pa.float64(), safe=False), 1e9)
        return pc.binary_join_element_wise(pc.cast(secs, pa.string()), "s", "")
    return pc.cast(a, pa.string())


def json_string(s):
    """Text → JSON string literals (quoted, escaped); null stays null. Vectorized but for
    the rare values holding control characters other than tab and newlines."""
    raw, s = s, pc.replace_substring(s, "\\", "\\\\")
    s = pc.replace_substring(s, '"', '\\"')
    for ch, esc in (("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        s = pc.replace_substring(s, ch, esc)
    rare = pc.fill_null(pc.match_substring_regex(s, _RARE_CONTROL), False)
    if pc.any(rare).as_py():              # json.dumps for just those values
        if isinstance(s, pa.ChunkedArray):
            s, raw, rare = s.combine_chunks(), raw.combine_chunks(), rare.combine_chunks()
        fixed = [json.dumps(v, ensure_ascii=False)[1:-1] for v in pc.filter(raw, rare).to_pylist()]
        s = pc.replace_with_mask(s, rare, pa.array(fixed, pa.string()))
    return pc.binary_join_element_wise('"', s, '"', "")


def json_value(a):
    """Any column → each value as JSON text (text quoted, numbers bare, null as null)."""
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    t = a.type
    if pa.types.is_dictionary(t):
        a, t = pc.cast(a, t.value_type), t.value_type
    if t == pa.null():
        return pa.array(["null"] * len(a), pa.string())
    if _is_list(t) or pa.types.is_struct(t):
        out = json_text(a)
    elif pa.types.is_boolean(t) or pa.types.is_integer(t):
        out = pc.cast(a, pa.string())
    elif pa.types.is_floating(t):
        finite = pc.is_finite(a)
        out = pc.if_else(finite, pc.cast(a, pa.string()), pa.scalar(None, pa.string()))
    else:
        out = json_string(as_text(a))
    return pc.fill_null(out, "null")


def json_text(a):
    """A list or struct column → JSON text per row (a null row stays null)."""
    if pa.types.is_struct(a.type):
        parts = []
        for i, f in enumerate(a.type):
            key = json.dumps(f.name, ensure_ascii=False)
            parts += ["," if i else "", key + ":", json_value(pc.struct_field(a, [i]))]
        arrays = [p if isinstance(p, pa.Array) else pa.scalar(p) for p in parts]
        body = pc.binary_join_element_wise(*arrays, "") if arrays else \
            pa.array([""] * len(a), pa.string())
        out = pc.binary_join_element_wise("{", body, "}", "")
        return pc.if_else(pc.is_valid(a), out, pa.scalar(None, pa.string()))
    if pa.types.is_fixed_size_list(a.type):
        a = pc.cast(a, pa.list_(a.type.value_type))
    offsets = a.offsets
    first, last = offsets[0].as_py(), offsets[-1].as_py()
    items = json_value(a.values.slice(first, last - first))    # elementwise: offsets fit
    cls = pa.LargeListArray if pa.types.is_large_list(a.type) else pa.ListArray
    lists = cls.from_arrays(pc.subtract(offsets, first), items, mask=pc.is_null(a))
    body = pc.binary_join(lists, ",")
    return pc.binary_join_element_wise("[", body, "]", "")
