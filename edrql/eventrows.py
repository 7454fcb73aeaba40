"""Rows of any pipeline tied back to the case's events and their acting process.

A row that kept ``source`` and ``record`` (every events row has them) is found again among
the case's events by that pair (``rows_in_events``), and from there its acting process
instance in the case's lineage (``lineage.event_proc`` → the procs table's ``proc`` key).
Used by ``sequence … by proc`` (edrql/sequenceops.py) and by the ``sigma()`` stage and
``edrql hunt`` (edrql/sigma/hunt.py).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .joinkeys import one_chunk
from .names import resolve_column


class Procs:
    """``proc`` (process-instance key) of rows of the input: its own proc column, or the
    case's lineage (events row → its acting process, the row found by source and record);
    None when neither can say."""

    def __init__(self, ctx, t: pa.Table):
        self.ctx, self.t = ctx, t
        self.own = resolve_column("proc", t.column_names)

    def available(self) -> bool:
        case = getattr(self.ctx, "case", None)
        return self.own is not None or (
            case is not None and hasattr(type(case), "lineage") and hasattr(type(case), "events")
            and "source" in self.t.column_names and "record" in self.t.column_names)

    def at(self, r: np.ndarray) -> pa.Array | None:
        if self.own is not None:
            v = one_chunk(self.t.column(self.own).take(pa.array(r, pa.int64())))
            return v.dictionary_decode() if pa.types.is_dictionary(v.type) else v
        if not self.available():
            return None
        ev_rows = rows_in_events(self.ctx, self.t, np.asarray(r, np.int64))
        lin = self.ctx.case.lineage
        idx = np.asarray(lin.event_proc, np.int64)[np.maximum(ev_rows, 0)] if len(ev_rows) \
            else np.zeros(0, np.int64)
        idx = np.where(ev_rows >= 0, idx, -1)
        keys = lin.procs.column("proc").take(pa.array(np.maximum(idx, 0), pa.int64()))
        keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
        return pc.if_else(pa.array(idx >= 0), keys, pa.scalar(None, keys.type))


def rows_in_events(ctx, t: pa.Table, r: np.ndarray) -> np.ndarray:
    """Rows ``r`` of t as rows of the case's events by (source, record), -1 when none: a
    sorted key of the events' source and record (only those two columns are decoded; kept
    in ctx.memo; the events are usually in that order already) searched with the rows' keys."""
    from .catalog import events_of
    memo = getattr(ctx, "memo", {})
    hit = memo.get("sequence.events_key")
    if hit is None or hit[0] is not ctx.case:
        events = events_of(ctx, {"source", "record"})
        src = events.column("source")
        sources = pc.unique(pa.chunked_array(
            [c.dictionary if pa.types.is_dictionary(c.type) else c for c in _chunks(src)],
            type=pa.string()) if pa.types.is_dictionary(src.type) else src.cast(pa.string()))
        sources = sources.combine_chunks() if isinstance(sources, pa.ChunkedArray) else sources
        rec = pc.fill_null(events.column("record"), -1).to_numpy()
        width = int(rec.max(initial=0)) + 2
        key = _source_ids(src, sources) * width + (rec + 1)
        srt = None if np.all(key[1:] >= key[:-1]) else np.argsort(key, kind="stable")
        hit = (ctx.case, sources, width, key if srt is None else key[srt], srt)
        memo["sequence.events_key"] = hit
    _, sources, width, skey, srt = hit
    if not len(skey) or not len(r):
        return np.full(len(r), -1, np.int64)
    ra = pa.array(r, pa.int64())
    sid = _source_ids(t.column("source").take(ra), sources)
    key = sid * width + (pc.fill_null(t.column("record").take(ra), -1).to_numpy() + 1)
    at = np.minimum(np.searchsorted(skey, key), len(skey) - 1)
    found = (sid >= 0) & (skey[at] == key)
    return np.where(found, at if srt is None else srt[at], -1).astype(np.int64)


def _chunks(col) -> list:
    return col.chunks if isinstance(col, pa.ChunkedArray) else [col]


def _source_ids(col, sources: pa.Array) -> np.ndarray:
    """The place of each value of a (dictionary or text) column in ``sources``, -1: none;
    a dictionary column by its dictionary and codes."""
    out = []
    for ch in _chunks(col):
        if pa.types.is_dictionary(ch.type):
            m = pc.fill_null(pc.index_in(ch.dictionary.cast(pa.string()), value_set=sources), -1)
            m = m.to_numpy(zero_copy_only=False).astype(np.int64)
            codes = pc.fill_null(ch.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
            out.append(np.where(codes >= 0, m[np.maximum(codes, 0)] if len(m) else -1, -1))
        else:
            m = pc.fill_null(pc.index_in(ch.cast(pa.string()), value_set=sources), -1)
            out.append(m.to_numpy(zero_copy_only=False).astype(np.int64))
    return np.concatenate(out) if out else np.zeros(0, np.int64)
