"""The stamp of a case's segments, which keys its derived data.

Below ``store`` and the modules that derive data from a case (lineage, the encodings of
query.py, derivedcheck), so they need not import each other for it.
"""
from __future__ import annotations


def segments_stamp(manifest: dict) -> str:
    """A short id of the case's current segments: derived data (lineage, encodings) is keyed
    by it, so any ingest that changes the data makes the old derived files stale."""
    import hashlib
    segs = "|".join(str(s.get("segment")) for s in manifest["sources"])
    return hashlib.sha1(segs.encode()).hexdigest()[:16]
