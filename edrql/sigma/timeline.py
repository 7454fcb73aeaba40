"""Sigma hits as CSV for timeline tools, importable as is.

* ``--format timesketch``: Timesketch's three required columns first — ``message``,
  ``datetime`` (ISO 8601 with its offset, microseconds), ``timestamp_desc`` — then every hit
  column.
* ``--format csv``: one header row and the time column first, which is what Eric
  Zimmerman's Timeline Explorer wants; ``ts`` as ISO 8601 UTC with seven fractional digits
  (``2023-08-10T14:21:07.4417093Z``): .NET's DateTime, which Timeline Explorer parses with,
  holds 100 ns ticks, as do Windows' FILETIME and Defender's timestamps.

Both guard against CSV injection as every edrql CSV does (edrql/render.py: a cell starting
with = + - @ TAB CR gets a leading ' unless ``--no-csv-escape``).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Timesketch's required columns, in the order written
TIMESKETCH_COLUMNS = ("message", "datetime", "timestamp_desc")
TIMESTAMP_DESC = "Event time (Sigma hit)"


def _text(t: pa.Table, name: str) -> pa.Array:
    if name not in t.column_names:
        return pa.nulls(t.num_rows, pa.string())
    c = t.column(name)
    c = c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c
    return pc.cast(c.dictionary_decode() if pa.types.is_dictionary(c.type) else c, pa.string())


def iso_datetime(ts) -> pa.Array:
    """ISO 8601 with microseconds and a +00:00 offset (what Timesketch's importer reads);
    null stays null."""
    ts = ts.combine_chunks() if isinstance(ts, pa.ChunkedArray) else ts
    if not pa.types.is_timestamp(ts.type):
        return pc.cast(ts, pa.string())
    us = pc.cast(ts, pa.timestamp("us", ts.type.tz or "UTC"), safe=False)   # truncates ns
    return pc.binary_join_element_wise(pc.strftime(us, "%Y-%m-%dT%H:%M:%S"), "+00:00", "")


def message(hits: pa.Table) -> pa.Array:
    """``[level] rule: name — cmdline (host)``; the parts a row lacks are left out."""
    def part(name: str, before: str = "", after: str = "") -> pa.Array:
        v = _text(hits, name)
        return pc.fill_null(pc.binary_join_element_wise(before, v, after, ""), "")
    return pc.binary_join_element_wise(
        part("level", "[", "] "), part("rule"), part("name", ": "), part("cmdline", " — "),
        part("host", " (", ")"), part("trust", " [trust: ", "]"), "")


def timesketch_table(hits: pa.Table) -> pa.Table:
    n = hits.num_rows
    lead = {"message": message(hits), "datetime": iso_datetime(hits.column("ts")),
            "timestamp_desc": pa.repeat(pa.scalar(TIMESTAMP_DESC), n).cast(pa.string())}
    rest = {c: hits.column(c) for c in hits.column_names if c not in lead}
    return pa.table({**lead, **rest})


def ticks_text(ts) -> pa.Array:
    """ISO 8601 UTC with 100 ns ticks (seven fractional digits, ``Z``); null stays null."""
    ts = ts.combine_chunks() if isinstance(ts, pa.ChunkedArray) else ts
    if not pa.types.is_timestamp(ts.type):
        return pc.cast(ts, pa.string())
    ns = pc.cast(pc.cast(ts, pa.timestamp("ns", ts.type.tz)), pa.int64())
    valid = pc.is_valid(ns)
    v = pc.fill_null(ns, 0).to_numpy(zero_copy_only=False)
    secs, rem = np.divmod(v, 10**9)                   # floor: times before 1970 too
    whole = pa.array(secs, pa.int64()).cast(pa.timestamp("s", "UTC"))
    frac = pc.utf8_lpad(pa.array(rem // 100, pa.int64()).cast(pa.string()), 7, "0")
    text = pc.binary_join_element_wise(pc.strftime(whole, "%Y-%m-%dT%H:%M:%S"), ".", frac, "Z",
                                       "")
    return pc.if_else(valid, text, pa.scalar(None, pa.string()))


def timeline_explorer_table(hits: pa.Table) -> pa.Table:
    """The time column first, as text Timeline Explorer reads (``ticks_text``)."""
    if "ts" not in hits.column_names:
        return hits
    rest = [c for c in hits.column_names if c != "ts"]
    return pa.table({"ts": ticks_text(hits.column("ts")), **{c: hits.column(c) for c in rest}})


def to_csv(hits: pa.Table, fmt: str, escape: bool = True) -> bytes:
    """``fmt``: "timesketch" or "csv" (Timeline Explorer)."""
    from ..render import to_csv as write
    t = timesketch_table(hits) if fmt == "timesketch" else timeline_explorer_table(hits)
    if t.num_columns and t.num_rows == 0:           # a header row even with no hits
        return (",".join(t.column_names) + "\n").encode("utf-8")
    return write(t, ",", escape)
