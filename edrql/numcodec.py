"""How a compact segment stores its plain (non-text) columns: numbers, times, booleans.

A plain column is stored as it is (``{"store": "plain"}`` in the segment's layout, read
back zero-copy from the memory map) unless storing it otherwise costs nothing to read:

* ``{"store": "null", "type": T}``: a column with no value in any row (in a Defender
  export ``http_status``, ``bytes_in``, ``bytes_out``) stores nothing; it decodes as ``n``
  nulls of its type over one zero buffer shared by every such column of the process.
  The buffer is ``calloc``'d (``np.zeros``) and never written, so its pages are not even
  touched until something reads them (fresh memory is slow to fault in on some machines).
  ``T`` is the Arrow type's text (``timestamp[ns]``; a time zone goes in ``"tz"``). A
  text column's ``null`` store has no ``"type"``: it decodes as ``dictionary<int8,
  string>`` (``edrql.segcodec``).

Narrower forms were measured and not taken: a ``uint16`` PID or port column, or a record
number stored as a start (it is 1..n only for a source without duplicates or quarantined
records), must be widened into fresh int64 memory on every open (17.6 MB per 2.2M-row
column), while a column read from the map costs nothing until it is used. A prototype of
both on a 2.2M-row Defender export (record, pid, ppid, lport, rport) made the segment
608 MB instead of 679, but its first decode took 39 ms at best and 178 ms at the median
against 19 and 40 ms, and a one-shot ``where … | stats … by`` 1.3-1.7x as long (fresh
pages are slow to fault in on the machine measured).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

#: one zero buffer behind every all-null array (grown, never written)
_ZEROS = [np.zeros(0, np.uint8)]


def _fixed_width(t: pa.DataType) -> bool:
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
            or pa.types.is_temporal(t)) and not pa.types.is_interval(t)


def type_text(t: pa.DataType) -> dict:
    """The layout's words for a plain type (``parse_type`` reads them back)."""
    if pa.types.is_timestamp(t) and t.tz is not None:
        return {"type": f"timestamp[{t.unit}]", "tz": t.tz}
    return {"type": str(t)}


def parse_type(h: dict) -> pa.DataType:
    """The Arrow type of a layout entry written by ``type_text`` (ValueError if unknown)."""
    t = pa.type_for_alias(h["type"])
    if "tz" in h:
        if not pa.types.is_timestamp(t):
            raise ValueError(f"a time zone on {h['type']}")
        t = pa.timestamp(t.unit, tz=h["tz"])
    return t


def type_problem(h: dict) -> str | None:
    """What is wrong with a plain column's ``null`` entry (for ``edrql check``), or None."""
    try:
        t = parse_type(h)
    except (KeyError, TypeError, ValueError) as e:
        return f"its type {h.get('type')!r} is not an Arrow type ({str(e)[:60]})"
    if not _fixed_width(t):
        return f"a null column of type {t} (only fixed-width types are stored as nulls)"
    return None


def plain_store(col) -> dict | None:
    """The layout entry of a plain column stored otherwise than as it is (None: as it is)."""
    t = col.type
    if len(col) == 0 or col.null_count != len(col) or not _fixed_width(t):
        return None
    h = {"store": "null", **type_text(t)}
    try:
        if parse_type(h) != t:
            return None
    except ValueError:
        return None
    return h


def is_plain_kind(h: dict) -> bool:
    """Whether a layout entry is a plain column's (stored as it is, or by this module)."""
    return h["store"] == "plain" or (h["store"] == "null" and "type" in h)


def null_array(t: pa.DataType, n: int) -> pa.Array:
    """``n`` nulls of ``t`` over the shared zero buffer (``t`` fixed width, or a dictionary
    with a fixed-width index: no memory is written)."""
    width = 8 * n + 64
    if len(_ZEROS[0]) < width:
        _ZEROS[0] = np.zeros(max(width, 2 * len(_ZEROS[0])), np.uint8)
        _ZEROS[0].flags.writeable = False          # shared by every such column: never written
    zero = pa.py_buffer(_ZEROS[0])
    if pa.types.is_dictionary(t):
        idx = pa.Array.from_buffers(t.index_type, n, [zero, zero], null_count=n)
        return pa.DictionaryArray.from_arrays(idx, pa.array([], t.value_type))
    return pa.Array.from_buffers(t, n, [zero, zero], null_count=n)


def decode_column(h: dict, n: int) -> pa.Array:
    """A plain column stored by this module, as the events table holds it."""
    if h["store"] == "null":
        return null_array(parse_type(h), n)
    raise ValueError(f"unknown plain store {h['store']!r}")
