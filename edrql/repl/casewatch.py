"""Has the case changed on disk since the REPL opened it (another ``edrql ingest``)?

The store replaces ``manifest.json`` last and atomically (write, then rename), so
its stat (inode, size, modification time) changes with every committed ingest and
never shows a half-written case. The REPL takes a stamp when it opens a case and
compares before each input; on a change it reopens the case with ``Case.open`` and
says in one line what changed (sources added or removed, rows and hosts now).
"""
from __future__ import annotations

import os

from ..store import MANIFEST


def stamp(case) -> tuple | None:
    """The manifest file's identity now (None: not a case on disk, or unreadable)."""
    root = getattr(case, "root", None)
    if not root:
        return None
    try:
        st = os.stat(os.path.join(root, MANIFEST))
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _sources(manifest: dict) -> dict:
    return {str(s.get("segment") or s.get("abspath") or s.get("path")): s
            for s in manifest.get("sources", [])}


def describe(old: dict, new: dict) -> str:
    """One line: what another process changed in the case (old and new manifests)."""
    a, b = _sources(old), _sources(new)
    added = [b[k] for k in b if k not in a]
    removed = [a[k] for k in a if k not in b]
    parts = []
    if added:
        names = ", ".join(f"{s.get('path')} ({s.get('rows_stored', 0):,} rows)" for s in added[:3])
        more = f" and {len(added) - 3} more" if len(added) > 3 else ""
        parts.append(f"{len(added)} source(s) added: {names}{more}")
    if removed:
        names = ", ".join(str(s.get("path")) for s in removed[:3])
        more = f" and {len(removed) - 3} more" if len(removed) > 3 else ""
        parts.append(f"{len(removed)} source(s) removed: {names}{more}")
    if not parts:
        parts.append("the manifest was rewritten, no source added or removed")
    t0, t1 = old.get("totals", {}), new.get("totals", {})
    rows0, rows1 = t0.get("rows", 0), t1.get("rows", 0)
    when = f" at {new['updated']}" if new.get("updated") else ""
    return (f"the case changed on disk{when} (another edrql ingest?): " + "; ".join(parts)
            + f"; now {rows1:,} rows ({rows1 - rows0:+,}), {t1.get('hosts', 0)} host(s), "
            f"{t1.get('quarantined', 0):,} quarantined; reloaded")
