"""Any value as text, the way tables show it."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def as_text(a):
    """Any value (scalar or column) as text: timestamps as ISO 8601 UTC, durations as seconds."""
    if isinstance(a, pa.Scalar):       # as the column form: no as_py() (1ns is no timedelta)
        if pa.types.is_string(a.type) or a.type == pa.null():
            return a
        return as_text(pa.repeat(a, 1))[0] if a.is_valid else pa.scalar(None, pa.string())
    if pa.types.is_string(a.type) or pa.types.is_large_string(a.type):
        return a
    if pa.types.is_dictionary(a.type):
        return pc.cast(a, pa.string())
    if pa.types.is_timestamp(a.type):
        from ..timefmt import iso
        return iso(a)
    if pa.types.is_duration(a.type):          # seconds, as tables show durations: "300s"
        secs = pc.divide(pc.cast(pc.cast(a, pa.int64()), pa.float64(), safe=False), 1e9)
        return pc.binary_join_element_wise(pc.cast(secs, pa.string()), "s", "")
    return pc.cast(a, pa.string())
