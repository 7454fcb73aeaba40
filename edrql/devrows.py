"""Which events rows make each Device* table, computed on dictionary codes.

The events' ``vendor`` and ``event`` columns (and a Defender export's ``Type``) are read as
dictionary codes — the case's cached encodings when the caller passes them (``encoded``),
else one encoding here — so choosing the rows of a table is integer work over 2M rows,
never a string comparison per row. What is computed is remembered in ``memo``: a dict
the caller owns (a query Context's, see ``execute.Context.memo``); nothing is kept on the
case.

The one creation seen by two channels (Sysmon 1 and Security 4688: one instance in the
lineage) is one DeviceProcessEvents row: of an instance's start events the one with a
vendor process id, then hashes, then the first. Only instances with more than one start
event need that choice; the others' start row is their only one (no text is read).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .devderive import per_distinct
from .npkeys import best_row


def codes(case, memo: dict, encoded, column: str) -> tuple[np.ndarray, list]:
    """(int codes per events row, null → -1; the distinct values) of a text column."""
    key = ("codes", column)
    if key not in memo:
        enc = encoded(column) if encoded is not None else None
        if enc is None:
            enc = pc.dictionary_encode(case.events[column])
            if isinstance(enc, pa.ChunkedArray):
                enc = enc.unify_dictionaries()
                values = enc.chunks[0].dictionary if enc.num_chunks else pa.array([], pa.string())
                idx = pa.chunked_array([c.indices.cast(pa.int32()) for c in enc.chunks], pa.int32())
            else:
                values, idx = enc.dictionary, enc.indices
        else:
            values, idx = enc.dictionary, enc.indices
        if not len(idx):
            c = np.zeros(0, np.int32)
        elif idx.null_count:
            c = pc.fill_null(idx, -1).to_numpy(zero_copy_only=False)
        else:                                         # the codes as they are: no copy
            c = (idx.combine_chunks() if isinstance(idx, pa.ChunkedArray) else idx).to_numpy()
        memo[key] = (c, values.to_pylist())
    return memo[key]


def equal_mask(case, memo: dict, encoded, column: str, value: str) -> np.ndarray:
    """events[column] == value per row (null: False), from the codes."""
    c, values = codes(case, memo, encoded, column)
    if value not in values:
        return np.zeros(len(c), bool)
    return c == values.index(value)


def _coded(c: np.ndarray, values: list) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(c, pa.int32(), mask=c < 0),
                                          pa.array(values, pa.string()))


def per_combination(parts: list, fn) -> np.ndarray:
    """fn(*values) → int for each distinct combination of coded columns ((codes, values)
    pairs), per row: one Python call per combination present, integer work per row."""
    n = len(parts[0][0])
    space = 1
    for _, values in parts:
        space *= len(values) + 1                  # code 0: null, value i: i + 1
    if space > 1 << 22 or n == 0:                 # many: per_distinct sorts them
        return per_distinct([_coded(c, v) for c, v in parts], fn).astype(np.int8)
    # a column of one value on every row (one vendor) adds nothing to the key
    fixed = [len(v) == 1 and bool((c == 0).all()) for c, v in parts]
    key = None                                    # int32 work: 2M rows in a few ms
    for (c, values), one in zip(parts, fixed):
        if one:
            continue
        c1 = c.astype(np.int32, copy=False) + np.int32(1)
        key = c1 if key is None else key * np.int32(len(values) + 1) + c1
    if key is None:
        key = np.zeros(n, np.int32)
    present = np.nonzero(np.bincount(key))[0]
    lut = np.zeros(int(present[-1]) + 1, np.int8)   # table indices fit in a byte
    for k in present.tolist():
        vals, rest = [], k
        for (_, values), one in zip(reversed(parts), reversed(fixed)):
            if one:
                vals.append(values[0])
                continue
            rest, r = divmod(rest, len(values) + 1)
            vals.append(values[r - 1] if r else None)
        lut[k] = fn(*vals[::-1])
    return lut[key]


def start_rows(case, memo: dict, encoded) -> np.ndarray:
    """Per process instance: the events row of its start event, or -1. Of several (one start
    seen by two channels) the one with a vendor process id, then hashes, then the first."""
    if "start_row" not in memo:
        ev, lin = case.events, case.lineage
        k = lin.procs.num_rows
        starts = np.nonzero(equal_mask(case, memo, encoded, "event", "process_start"))[0]
        who = np.asarray(lin.event_proc, np.int64)[starts]
        ok = who >= 0
        starts, who = starts[ok], who[ok]
        out = np.full(k, -1, np.int64)
        out[who] = starts                          # exact where an instance has one start
        many = np.bincount(who, minlength=k)[who] > 1 if len(who) else np.zeros(0, bool)
        if many.any():                             # choose among the few with several
            rows = starts[many]
            idx = pa.array(rows, pa.int64())
            score = np.zeros(len(rows), np.int64)
            for weight, column in ((2, "puid"), (1, "sha256")):
                score += weight * pc.is_valid(ev[column].take(idx)).to_numpy(
                    zero_copy_only=False)
            best = best_row(k, who[many], rows, score)
            hit = best >= 0
            out[hit] = best[hit]
        memo["start_row"] = out
    return memo["start_row"]


def assign(case, memo: dict, encoded, table_of, typ: str | None, proxy,
           ps_index: int) -> np.ndarray:
    """Per events row: the index (int8) of its Device* table, or -1. ``table_of(vendor, event,
    exported=None, action=None)`` names the table of one distinct combination."""
    if "assign" in memo:
        return memo["assign"]
    ev = case.events
    if ev.num_rows == 0:
        memo["assign"] = np.zeros(0, np.int8)
        return memo["assign"]
    parts = [codes(case, memo, encoded, c) for c in ["vendor", "event"] + ([typ] if typ else [])]
    out = per_combination(parts, table_of)
    # the action decides only among "other" events (logons): read it for those rows only
    other = equal_mask(case, memo, encoded, "event", "other")
    if other.any():
        rows = np.nonzero(other)[0]
        sub = [_coded(c[rows], v) for c, v in parts] + \
            ([] if typ else [pa.nulls(len(rows), pa.string())])
        out[rows] = per_distinct(sub + [ev["action"].take(pa.array(rows, pa.int64()))], table_of)
    if proxy is not None:
        out = np.where(proxy, -1, out)
    # one creation seen by two channels is one DeviceProcessEvents row: the chosen start
    ps = np.nonzero(out == ps_index)[0]
    if len(ps):
        who = np.asarray(case.lineage.event_proc, np.int64)[ps]
        chosen = start_rows(case, memo, encoded)
        again = (who >= 0) & (chosen[np.maximum(who, 0)] != ps) if len(chosen) else who < -1
        out[ps[again]] = -1
    memo["assign"] = out
    return out
