"""Memory-speed substring scan over a case's memory-mapped Arrow segments.

Arrow keeps each string column's values back to back in one buffer. Instead of
testing row by row, edrql searches that buffer (``mmap.find``: memchr-class speed,
no copy) and maps each hit back to its row through the column's offsets; a hit that
runs past the end of its value — text made by joining two adjacent values — is
rejected. Case-insensitive search scans a lower-cased copy of the text columns,
built once per segment on first use and kept beside it (``CASE/search/``).
"""
from __future__ import annotations

import mmap
import os
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MANY_HITS = 20000      # past this many raw hits in one column chunk, test rows vectorized


class _MappedSegment:
    """One IPC file: its table (zero-copy) and a Python mmap of the same bytes."""

    def __init__(self, path: str):
        self.path = path
        self.src = pa.memory_map(path, "r")
        self.table = pa.ipc.open_file(self.src).read_all()
        self.src.seek(0)
        self.base = self.src.read_buffer(1).address
        self.fh = open(path, "rb")
        self.mm = mmap.mmap(self.fh.fileno(), 0, access=mmap.ACCESS_READ)

    def close(self):
        self.mm.close()
        self.fh.close()


def _string_columns(t: pa.Table) -> list[str]:
    return [f.name for f in t.schema if pa.types.is_string(f.type)]


def lowered_path(case_root: str, segment_rel: str) -> str:
    return os.path.join(case_root, "search", os.path.basename(segment_rel).replace(".arrow", ".lower.arrow"))


def build_lowered(case_root: str, segment_rel: str, table: pa.Table) -> str:
    """Lower-cased text columns of a segment, same rows, written once (temp + rename)."""
    path = lowered_path(case_root, segment_rel)
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cols = {c: pc.utf8_lower(table.column(c)) for c in _string_columns(table)}
    low = pa.table(cols) if cols else pa.table({"_": pa.nulls(table.num_rows)})
    tmp = path + f".{os.getpid()}.tmp"
    with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, low.schema) as w:
        w.write_table(low, max_chunksize=1 << 20)
    os.replace(tmp, path)
    return path


class Scanner:
    """Finds rows whose value in a column contains a byte string, over all segments."""

    def __init__(self, case, lowered: bool):
        self.case = case
        self.lowered = lowered
        self.segments: list[tuple[int, _MappedSegment]] = []
        self.build_seconds = 0.0
        offset = 0
        for s in case.manifest["sources"]:
            rel = s.get("segment")
            if not rel:
                continue
            path = os.path.join(case.root, rel)
            if lowered:
                t0 = time.perf_counter()
                if not os.path.exists(lowered_path(case.root, rel)):
                    seg_table = pa.ipc.open_file(pa.memory_map(path, "r")).read_all()
                    build_lowered(case.root, rel, seg_table)
                    self.build_seconds += time.perf_counter() - t0
                path = lowered_path(case.root, rel)
            seg = _MappedSegment(path)
            self.segments.append((offset, seg))
            offset += seg.table.num_rows
        self.num_rows = offset

    def close(self):
        for _, s in self.segments:
            s.close()

    def columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for _, s in self.segments:
            for c in _string_columns(s.table):
                seen.setdefault(c, None)
        return list(seen)

    def find(self, column: str, needle: bytes) -> tuple[np.ndarray, int]:
        """Global row indices whose value contains needle; and bytes scanned."""
        out, scanned = [], 0
        for row0, seg in self.segments:
            if column not in seg.table.column_names:
                continue
            rows = row0
            for chunk in seg.table.column(column).chunks:
                hits, nbytes = _find_in_chunk(seg, chunk, needle)
                scanned += nbytes
                if len(hits):
                    out.append(hits + rows)
                rows += len(chunk)
        return (np.concatenate(out) if out else np.zeros(0, np.int64)), scanned


def _find_in_chunk(seg: _MappedSegment, arr: pa.Array, needle: bytes) -> tuple[np.ndarray, int]:
    n = len(arr)
    if n == 0 or arr.null_count == n:
        return np.zeros(0, np.int64), 0
    bufs = arr.buffers()
    offs = np.frombuffer(bufs[1], dtype=np.int32)[arr.offset: arr.offset + n + 1]
    data = bufs[2]
    if data is None or data.size == 0:
        return np.zeros(0, np.int64), 0
    rel0 = data.address - seg.base          # file position of offset 0
    if not 0 <= rel0 <= len(seg.mm):        # not zero-copy from the map: test rows vectorized
        text = needle.decode("utf-8", errors="replace")
        mask = pc.fill_null(pc.match_substring(arr, text), False)
        return pc.indices_nonzero(mask).to_numpy(zero_copy_only=False).astype(np.int64), \
            int(offs[-1] - offs[0])
    start = data.address - seg.base + int(offs[0])
    end = data.address - seg.base + int(offs[-1])
    nbytes = end - start
    mm, L = seg.mm, len(needle)
    found = []
    pos = mm.find(needle, start, end)
    while pos >= 0:
        idx = int(np.searchsorted(offs, pos - rel0, side="right")) - 1
        if pos - rel0 + L <= offs[idx + 1]:
            found.append(idx)
            # next candidate: the next value (one hit per row is enough)
            nxt = rel0 + int(offs[idx + 1])
        else:
            nxt = pos + 1                   # spans two values: not a match
        if len(found) > MANY_HITS:
            text = needle.decode("utf-8", errors="replace")
            mask = pc.fill_null(pc.match_substring(arr, text), False)
            return pc.indices_nonzero(mask).to_numpy(zero_copy_only=False).astype(np.int64), nbytes
        pos = mm.find(needle, nxt, end)
    hits = np.asarray(found, np.int64)
    if arr.null_count and len(hits):       # a null's empty slot can't hold a hit; keep exact
        valid = pc.is_valid(arr).to_numpy(zero_copy_only=False)
        hits = hits[valid[hits]]
    return hits, nbytes
