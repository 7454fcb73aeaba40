"""What the case's lineage knows of the parent of a Sigma hit's process (``parent_link``),
and the hits whose parent condition edrql cannot vouch for (``trust``).

A rule that reads Parent* fields (ParentImage, ParentCommandLine, ParentUser …) matches
what the event says of the parent. A sensor that records the parent itself (Sysmon's
ParentProcessGuid, Defender's InitiatingProcessCreationTime) makes that a fact; a console
that named the parent by PID alone may have named the wrong process once the PID was
reused. So every such hit says how the lineage tied its process to a parent:

    exact (parent GUID given by the event)          the event names its parent's unique id
    exact (PID + start time given by the event)     the event names its parent's pid and start
    by PID + time (unique)                          one process had that pid at the child's start
    ambiguous: N candidates (PID P reused)          flagged
    conflict: the event names X; the lineage finds Y  flagged (the console's wrong-name tree)
    parent outside the export window [; the event names X]
    the parent's only instance had exited before the child started   flagged

All of it is columnar over the hits (Arrow compute, numpy takes); no loop over rows.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..names import resolve_column

#: lineage.NOTES[2] and [3] (kept as text here: lineage loads only when a hit needs it)
_OUTSIDE = "parent not in the data"
_EXITED = "the only instance of the parent pid had exited"


def reads_parent(fields) -> bool:
    """Does a rule read a Parent* field (the parent as its event describes it)?"""
    return any(f.split("|")[0].lower().startswith("parent") for f in fields)


def _col(t: pa.Table, name: str, rows: np.ndarray, typ=pa.string()) -> pa.Array:
    c = resolve_column(name, t.column_names)
    if c is None:
        return pa.nulls(len(rows), typ)
    v = t.column(c).take(pa.array(rows, pa.int64()))
    v = v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v
    if pa.types.is_dictionary(v.type):
        v = v.dictionary_decode()
    return v


def _s(v) -> pa.Array:
    v = v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v
    return pc.cast(v, pa.string())


def _join(*parts) -> pa.Array:
    """Element-wise concatenation of text arrays and constants (null if any part is)."""
    return pc.binary_join_element_wise(*parts, "")


def links(ctx, t: pa.Table, rows: np.ndarray, wanted: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """(parent_link, trust) per hit: rows of ``t`` (its hits), ``wanted`` where the hit's rule
    reads Parent* fields. Null where not wanted; trust null where nothing is in doubt."""
    n = len(rows)
    none = pa.nulls(n, pa.string())
    if n == 0 or not wanted.any():
        return none, none
    lin, ev = _lineage_rows(ctx, t, rows)
    if lin is None:
        label = pa.array(np.where(wanted, "not checked: these rows are not tied to the case's "
                                          "events (keep source and record)", None), pa.string())
        return label, none
    pi = np.where(ev >= 0, np.asarray(lin.event_proc, np.int64)[np.maximum(ev, 0)], -1)
    known = pi >= 0
    procs = lin.procs
    at = pa.array(np.maximum(pi, 0), pa.int64())
    link = pc.fill_null(_s(procs.column("link").take(at)), "missing")
    cand = _s(procs.column("candidates").take(at))
    note = pc.fill_null(_s(procs.column("parent_note").take(at)), "")
    par = np.where(known, np.asarray(lin.parent_idx, np.int64)[np.maximum(pi, 0)], -1)
    par_name = _s(procs.column("name").take(pa.array(np.maximum(par, 0), pa.int64())))
    par_name = pc.if_else(pa.array(par >= 0), par_name, pa.scalar(None, pa.string()))
    # the parent as the event itself names it: its basename, lower case
    ev_pname = _col(t, "pname", rows)
    ev_pimage = pc.replace_substring_regex(_s(_col(t, "pimage", rows)), r"^.*[\\/]", "")
    ev_parent = pc.utf8_lower(pc.coalesce(_s(ev_pname), ev_pimage))
    ev_parent = pc.if_else(pc.equal(ev_parent, ""), pa.scalar(None, pa.string()), ev_parent)
    ppid = _s(_col(t, "ppid", rows, pa.int64()))
    has_uid = pc.is_valid(_col(t, "ppuid", rows)).to_numpy(zero_copy_only=False)
    has_pstart = pc.is_valid(_col(t, "ppstart", rows, pa.timestamp("ns"))).to_numpy(
        zero_copy_only=False)
    lw = pc.utf8_lower(par_name)
    disagree = pc.fill_null(pc.not_equal(ev_parent, lw), False).to_numpy(zero_copy_only=False)
    link_np = link.to_numpy(zero_copy_only=False).astype(str)
    is_amb, is_conf = link_np == "ambiguous", (link_np == "conflict") | (disagree & (par >= 0))
    is_exact, is_inf = link_np == "exact", link_np == "inferred"
    note_np = note.to_numpy(zero_copy_only=False)
    outside = np.char.startswith(note_np.astype(str), _OUTSIDE)
    exited = np.char.startswith(note_np.astype(str), _EXITED)
    ppid_t = pc.fill_null(ppid, "?")
    said = pc.fill_null(ev_parent, "?")
    amb = _join("ambiguous: ", pc.fill_null(cand, "?"), " candidates (PID ", ppid_t, " reused)")
    conf = _join("conflict: the event names ", said, "; the lineage finds ",
                 pc.fill_null(par_name, "no process"), " (PID ", ppid_t, ")")
    out_w = pc.if_else(pc.is_valid(ev_parent),
                       _join("parent outside the export window; given by the event: ", said),
                       pa.scalar("parent outside the export window"))
    exact = pa.array(np.where(has_uid, "exact (parent GUID given by the event)",
                              np.where(has_pstart, "exact (PID + start time given by the event)",
                                       "exact")), pa.string())
    label = _pick([
        (~known, pa.scalar("no process of this event in the lineage")),
        (is_amb, amb), (is_conf, conf), (is_exact, exact),
        (is_inf, pa.scalar("by PID + time (unique)")),
        (outside, out_w),
        (exited, _join("missing: the only process with PID ", ppid_t,
                       " had exited before the child started")),
    ], pa.scalar("no parent recorded"), n)
    trust = _pick([
        (is_amb & known, _join("parent uncertain: PID ", ppid_t, " was reused (",
                               pc.fill_null(cand, "?"), " candidates); the event's parent "
                               "fields may describe another process")),
        (is_conf & known, _join("parent disputed: the event says ", said, ", the lineage "
                                "finds ", pc.fill_null(par_name, "no process"),
                                "; a PID-only link?")),
        (exited & known, _join("parent disputed: PID ", ppid_t, "'s only process had exited "
                               "before the child started")),
    ], pa.scalar(None, pa.string()), n)
    keep = pa.array(wanted)
    return (pc.if_else(keep, label, pa.scalar(None, pa.string())),
            pc.if_else(keep, trust, pa.scalar(None, pa.string())))


def _pick(cases: list, default, n: int) -> pa.Array:
    """The first case whose mask is true, per element (Arrow's case_when)."""
    conds = pa.StructArray.from_arrays([pa.array(np.asarray(m, bool)) for m, _ in cases],
                                       names=[f"c{k}" for k in range(len(cases))])
    vals = [_s(v) if isinstance(v, (pa.Array, pa.ChunkedArray)) else
            pa.repeat(v, n).cast(pa.string()) for _, v in cases]
    d = pa.repeat(default, n).cast(pa.string())
    return pc.case_when(conds, *vals, d)


def _lineage_rows(ctx, t: pa.Table, rows: np.ndarray):
    """(the case's lineage, each hit's row among the case's events, -1: none), or
    (None, None) when these rows cannot be tied to the case's events."""
    case = getattr(ctx, "case", None)
    if case is None or not hasattr(type(case), "lineage") or not hasattr(type(case), "events") \
            or "source" not in t.column_names or "record" not in t.column_names:
        return None, None
    from ..eventrows import rows_in_events
    ev = rows_in_events(ctx, t, np.asarray(rows, np.int64))
    return case.lineage, ev
