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

* ``{"store": "range", "type": T, "start": a, "step": d}``: an integer column with a value
  in every row that is ``a, a + d, a + 2d …`` (a source's ``record`` numbers when it has no
  duplicates or quarantined records) stores nothing; it decodes as that range.
* ``{"store": "narrow", "type": T, "as": N}``: an integer column whose values all fit a
  narrower integer type ``N`` (ports and HTTP status in ``uint16``, PIDs in ``uint32``) is
  stored as ``N`` (same nulls) and widened to ``T`` when decoded.

The last two must be made again in fresh memory when the column is decoded (17.6 MB per
2.2M-row column, a few ms when memory is not short, far more on a machine where fresh
pages are slow to fault in), while a column read from the map costs nothing until it is
used. They were first measured and not taken for that reason (a prototype's first decode
of a whole 2.2M-row segment 39 ms at best and 178 ms at the median against 19 and 40);
they are taken now that a query decodes only the columns it reads
(``segcodec.decode(stored, columns=…)``): a query that does not read ``record``, ``pid``,
``ppid``, ``lport`` or ``rport`` does not pay for them.
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


#: the integer types a narrow column may be stored as, narrowest first
NARROW_TYPES = (pa.int8(), pa.uint8(), pa.int16(), pa.uint16(), pa.int32(), pa.uint32())


def plain_store(col) -> dict | None:
    """The layout entry of a plain column stored otherwise than as it is (None: as it is)."""
    t = col.type
    if len(col) == 0 or not _fixed_width(t):
        return None
    if col.null_count != len(col):
        return _integer_store(col) if t == pa.int64() else None
    h = {"store": "null", **type_text(t)}
    try:
        if parse_type(h) != t:
            return None
    except ValueError:
        return None
    return h


def _integer_store(col) -> dict | None:
    """A range or narrow entry for a 64-bit integer column with a value, or None."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    v = np.frombuffer(arr.buffers()[1], np.int64)[arr.offset: arr.offset + len(arr)]
    base = {"type": str(arr.type)}
    if not arr.null_count and len(v) > 1:
        step = int(v[1]) - int(v[0])
        if abs(step) < 2**62 and np.array_equal(np.diff(v.astype(np.int64)), np.full(len(v) - 1, step)):
            return {"store": "range", **base, "start": int(v[0]), "step": step}
    if arr.null_count:
        import pyarrow.compute as pc
        mm = pc.min_max(arr).as_py()
        lo, hi = mm["min"], mm["max"]
    else:
        lo, hi = int(v.min()), int(v.max())
    for nt in NARROW_TYPES:
        info = np.iinfo(nt.to_pandas_dtype())
        if info.min <= lo and hi <= info.max:
            return {"store": "narrow", **base, "as": str(nt)}
    return None


def stored_form(col, h: dict) -> pa.Array | None:
    """What a plain column with layout entry ``h`` stores in the segment (None: nothing)."""
    if h["store"] != "narrow":
        return None
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    nt = pa.type_for_alias(h["as"])
    dt = nt.to_pandas_dtype()
    v = np.frombuffer(arr.buffers()[1], arr.type.to_pandas_dtype())[arr.offset: arr.offset + len(arr)]
    if arr.null_count:          # a null's stored value may be anything: write 0 there
        v = np.where(np.asarray(arr.is_valid()), v, 0)
    mask = arr.buffers()[0] if arr.null_count and arr.offset == 0 else \
        (arr.is_valid().buffers()[1] if arr.null_count else None)
    return pa.Array.from_buffers(nt, len(arr), [mask, pa.py_buffer(v.astype(dt))],
                                 null_count=arr.null_count)


def store_problem(h: dict, stored_type: pa.DataType | None) -> str | None:
    """What is wrong with a range or narrow entry (``edrql check``), given the type of the
    column the segment stores for it (None: none), or None."""
    try:
        t = parse_type(h)
    except (KeyError, TypeError, ValueError) as e:
        return f"its type {h.get('type')!r} is not an Arrow type ({str(e)[:60]})"
    if not pa.types.is_integer(t):
        return f"a {h['store']} column of type {t} (only integers are)"
    if h["store"] == "range":
        if stored_type is not None:
            return "a range column is stored too"
        if not all(isinstance(h.get(k), int) and not isinstance(h.get(k), bool) for k in ("start", "step")):
            return f"its start {h.get('start')!r} and step {h.get('step')!r} are not integers"
        return None
    try:
        nt = pa.type_for_alias(h.get("as"))
    except (TypeError, ValueError, KeyError):
        nt = None
    if nt not in NARROW_TYPES:
        return f"it is stored as {h.get('as')!r}, not one of {', '.join(map(str, NARROW_TYPES))}"
    if stored_type != nt:
        return f"it should be stored as {nt}, the segment holds {stored_type or 'nothing'}"
    return None


def is_plain_kind(h: dict) -> bool:
    """Whether a layout entry is a plain column's (stored as it is, or by this module)."""
    return h["store"] in ("plain", "range", "narrow") or (h["store"] == "null" and "type" in h)


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


def decode_column(h: dict, n: int, stored: pa.Array | None = None) -> pa.Array:
    """A plain column stored by this module (``stored``: what the segment holds for it),
    as the events table holds it."""
    if h["store"] == "null":
        return null_array(parse_type(h), n)
    t = parse_type(h)
    if h["store"] == "range":
        start, step = int(h["start"]), int(h["step"])
        v = np.arange(start, start + step * n, step, dtype=np.int64)[:n] if step else \
            np.full(n, start, np.int64)
        return pa.Array.from_buffers(t, n, [None, pa.py_buffer(v.astype(t.to_pandas_dtype(), copy=False))])
    if h["store"] == "narrow":
        if stored is None or len(stored) != n:
            raise pa.ArrowInvalid("a narrow column without its stored values")   # (read as damage)
        if isinstance(stored, pa.ChunkedArray):
            stored = stored.combine_chunks()
        v = np.frombuffer(stored.buffers()[1], stored.type.to_pandas_dtype())[
            stored.offset: stored.offset + n]
        wide = v.astype(t.to_pandas_dtype())
        mask = None
        if stored.null_count:
            mask = stored.buffers()[0] if stored.offset == 0 else stored.is_valid().buffers()[1]
        return pa.Array.from_buffers(t, n, [mask, pa.py_buffer(wide)], null_count=stored.null_count)
    raise ValueError(f"unknown plain store {h['store']!r}")
