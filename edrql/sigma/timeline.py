"""Sigma hits as CSV for timeline tools, importable as is.

* ``--format timesketch``: Timesketch's three required columns first — ``message``,
  ``datetime`` (ISO 8601 with its offset, microseconds), ``timestamp_desc`` — then every hit
  column.
* ``--format csv``: one header row and the time column (``ts``, ISO 8601 UTC) first, which
  is what Eric Zimmerman's Timeline Explorer wants.

Both guard against CSV injection as every edrql CSV does (edrql/render.py: a cell starting
with = + - @ TAB CR gets a leading ' unless ``--no-csv-escape``).
"""
from __future__ import annotations

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


def timeline_explorer_table(hits: pa.Table) -> pa.Table:
    """The time column first (it is already, for hit rows; kept so for any table)."""
    if "ts" not in hits.column_names or hits.column_names[0] == "ts":
        return hits
    return hits.select(["ts"] + [c for c in hits.column_names if c != "ts"])


def to_csv(hits: pa.Table, fmt: str, escape: bool = True) -> bytes:
    """``fmt``: "timesketch" or "csv" (Timeline Explorer)."""
    from ..render import to_csv as write
    t = timesketch_table(hits) if fmt == "timesketch" else timeline_explorer_table(hits)
    if t.num_columns and t.num_rows == 0:           # a header row even with no hits
        return (",".join(t.column_names) + "\n").encode("utf-8")
    return write(t, ",", escape)
