"""``edrql check`` on derived data: ``derived/`` (lineage, string encodings) and ``search/``
(the per-segment search index). Stale files (an older state of the case, an older layout, a
temp file left over) are noted; damaged ones (unreadable, not matching the case's rows) are
problems. Repair deletes both: derived data is rebuilt on first use."""
from __future__ import annotations

import os
import re
import time

import numpy as np
import pyarrow as pa

from .checkreport import NOTE, PROBLEM, REPAIRED, CheckResult
from .store import Case, segments_stamp

TMP_AGE = 600          # a derived/search temp file older than this (s) is left over, not in use
_DERIVED = re.compile(r"(lineage|event_proc|enc)-([0-9a-f]{16})")


def check_derived(res: CheckResult, case: Case, repair: bool) -> None:
    d = os.path.join(case.root, "derived")
    files = sorted(os.listdir(d)) if os.path.isdir(d) else []
    stamp = segments_stamp(case.manifest)
    n_events = _events_rows(case)
    stale, damaged, current = [], [], 0
    for f in files:
        p = os.path.join(d, f)
        m = _DERIVED.match(f)
        if ".tmp" in f:
            if time.time() - os.path.getmtime(p) > TMP_AGE:
                stale.append(f)
            continue
        if not m or m.group(2) != stamp:
            stale.append(f)
            continue
        why = _derived_damage(p, m.group(1), n_events)
        (damaged.append((f, why)) if why else None)
        current += not why
    _report_files(res, "derived", d, stale, damaged, repair, "lineage and encodings")
    res.ok["derived"] = f"{current} current file(s)" if files else "none yet (built on first use)"


def _derived_damage(path: str, kind: str, n_events: int | None) -> str | None:
    try:
        if kind == "event_proc":
            a = np.load(path, mmap_mode="r")
            n = len(a)
        else:
            t = pa.ipc.open_file(pa.memory_map(path, "r")).read_all()
            t.validate(full=True)
            if kind == "lineage":
                int(t.schema.metadata[b"procs"])
                return None if "parent_idx" in t.column_names else "no parent_idx column"
            n = len(t.column(0)) if t.num_columns else None
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowInvalid) as e:
        return f"unreadable ({str(e)[:80]})"
    if n is not None and n_events is not None and n != n_events:
        return f"{n:,} rows for {n_events:,} events"
    return None


def check_search(res: CheckResult, case: Case, repair: bool) -> None:    # ---- search
    """Search reads the segments' distinct values directly (edrql.fastscan) and keeps no
    index: any file in ``search/`` is an earlier version's index, unused (a note; --repair
    deletes them)."""
    d = os.path.join(case.root, "search")
    files = sorted(os.listdir(d)) if os.path.isdir(d) else []
    _report_files(res, "search", d, files, [], repair, "search index")
    if repair and files:
        try:
            os.rmdir(d)
        except OSError:
            pass
    res.ok["search"] = "nothing to check: search reads the segments' distinct values (no index)"


def _report_files(res, area, d, stale, damaged, repair, what) -> None:
    if stale:
        text = f"{len(stale)} stale {what} file(s) (of an earlier state of the case, or left over)"
        if repair:
            for f in stale:
                os.remove(os.path.join(d, f))
        res.add(area, REPAIRED if repair else NOTE,           # unused, so harmless: a note
                f"{text}: " + ("deleted" if repair else "--repair deletes them"))
    for f, why in damaged:
        if repair:
            os.remove(os.path.join(d, f))
        res.add(area, REPAIRED if repair else PROBLEM,
                f"damaged {what} file {f} ({why}): "
                + ("deleted; rebuilt on first use" if repair else "--repair deletes it (rebuilt on use)"))


def _events_rows(case: Case) -> int | None:
    try:
        return sum(s.get("rows_stored") or 0 for s in case.manifest["sources"])
    except TypeError:
        return None
