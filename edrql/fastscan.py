"""Memory-speed substring scan over a case's text, through a per-segment search index.

For every text column of a segment the index keeps the column's *distinct* values,
back to back in one buffer (as written, and lower-cased), plus each row's code
into them. A search scans only those buffers (``mmap.find``: memchr-class speed,
no copy) — real exports repeat paths, names and command lines, so that is a
fraction of the bytes — maps each hit back to its value through the offsets,
rejects a hit that runs past the end of its value (text made by joining two
adjacent values), and finds the rows holding the hit values through the codes.

The index is derived data, built once per segment on first search and kept in
``CASE/search/``; it covers exactly the rows and columns of the segment.
"""
from __future__ import annotations

import json
import mmap
import os
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MANY_HITS = 50000      # past this many raw hits in one column, test values vectorized


def _string_columns(t: pa.Table) -> list[str]:
    return [f.name for f in t.schema if pa.types.is_string(f.type)]


def index_paths(case_root: str, segment_rel: str) -> tuple[str, str]:
    base = os.path.join(case_root, "search", os.path.basename(segment_rel).replace(".arrow", ""))
    return base + ".values.arrow", base + ".codes.arrow"


def build_index(case_root: str, segment_rel: str, table: pa.Table) -> None:
    """Distinct values (as written and lower-cased) and per-row codes, for every text column."""
    vpath, cpath = index_paths(case_root, segment_rel)
    if os.path.exists(vpath) and os.path.exists(cpath):
        return
    os.makedirs(os.path.dirname(vpath), exist_ok=True)
    import concurrent.futures as cf

    def encode(c):
        col = table.column(c)
        return pc.dictionary_encode(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col)
    names = _string_columns(table)
    with cf.ThreadPoolExecutor(max_workers=2) as pool:      # Arrow releases the GIL
        encoded = list(pool.map(encode, names))
    dicts, codes, ranges, start = [], {}, {}, 0
    for c, enc in zip(names, encoded):
        d = enc.dictionary
        dicts.append(d)
        ranges[c] = [start, len(d)]
        start += len(d)
        codes[c] = enc.indices.cast(pa.int32())
    orig = pa.concat_arrays(dicts) if dicts else pa.array([], pa.string())
    values = pa.table({"orig": orig, "lower": pc.utf8_lower(orig)})
    values = values.replace_schema_metadata({"ranges": json.dumps(ranges)})
    codes_t = pa.table(codes) if codes else pa.table({"_": pa.nulls(table.num_rows, pa.int32())})
    for path, t in ((vpath, values), (cpath, codes_t)):
        tmp = path + f".{os.getpid()}.tmp"
        with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, t.schema) as w:
            w.write_table(t, max_chunksize=1 << 62)      # one batch: one buffer per column
        os.replace(tmp, path)


class _Index:
    """One segment's index: values (zero-copy and as a Python mmap) and codes."""

    def __init__(self, vpath: str, cpath: str):
        src = pa.memory_map(vpath, "r")
        self.values = pa.ipc.open_file(src).read_all()
        src.seek(0)
        self.base = src.read_buffer(1).address
        self.ranges = json.loads(self.values.schema.metadata[b"ranges"])
        self.codes = pa.ipc.open_file(pa.memory_map(cpath, "r")).read_all()
        self.fh = open(vpath, "rb")
        self.mm = mmap.mmap(self.fh.fileno(), 0, access=mmap.ACCESS_READ)

    def close(self):
        self.mm.close()
        self.fh.close()


class Scanner:
    """Finds rows whose value in a column contains a byte string, over all segments."""

    def __init__(self, case):
        self.case = case
        self.build_seconds = 0.0
        self.segments: list[tuple[int, int, _Index]] = []
        self._covered: dict = {}
        offset = 0
        for s in case.manifest["sources"]:
            rel = s.get("segment")
            if not rel:
                continue
            vpath, cpath = index_paths(case.root, rel)
            if not (os.path.exists(vpath) and os.path.exists(cpath)):
                t0 = time.perf_counter()
                seg = pa.ipc.open_file(pa.memory_map(os.path.join(case.root, rel), "r")).read_all()
                build_index(case.root, rel, seg)
                self.build_seconds += time.perf_counter() - t0
            idx = _Index(vpath, cpath)
            rows = idx.codes.num_rows
            self.segments.append((offset, rows, idx))
            offset += rows
        self.num_rows = offset

    def close(self):
        for _, _, s in self.segments:
            s.close()

    def find(self, column: str, needle: bytes, lowered: bool) -> tuple[np.ndarray, int, int]:
        """(global row indices whose value contains needle, distinct bytes scanned,
        column bytes those values stand for)."""
        out, scanned, covered = [], 0, 0
        for row0, nrows, idx in self.segments:
            rng = idx.ranges.get(column)
            if rng is None:
                continue
            start, count = rng
            arr = idx.values.column("lower" if lowered else "orig").chunk(0).slice(start, count)
            value_ids, nbytes = _find_values(idx, arr, needle)
            scanned += nbytes
            codes = idx.codes.column(column).chunk(0)
            key = (id(idx), column, lowered)
            if key not in self._covered:
                self._covered[key] = _covered_bytes(arr, codes)
            covered += self._covered[key]
            if len(value_ids):
                c = codes.to_numpy(zero_copy_only=False) if codes.null_count == 0 else \
                    pc.fill_null(codes, -1).to_numpy(zero_copy_only=False)
                rows = np.nonzero(np.isin(c, value_ids))[0]
                out.append(rows.astype(np.int64) + row0)
        return (np.concatenate(out) if out else np.zeros(0, np.int64)), scanned, covered


def _covered_bytes(values: pa.Array, codes: pa.Array) -> int:
    """Bytes of column data the distinct values stand for (for the receipt)."""
    if len(values) == 0 or len(codes) == 0:
        return 0
    lengths = pc.binary_length(values).to_numpy(zero_copy_only=False)
    c = codes.to_numpy(zero_copy_only=False) if codes.null_count == 0 else \
        pc.drop_null(codes).to_numpy(zero_copy_only=False)
    return int(np.bincount(c, minlength=len(lengths)).astype(np.int64) @ lengths.astype(np.int64))


def _find_values(idx: _Index, arr: pa.Array, needle: bytes) -> tuple[np.ndarray, int]:
    n = len(arr)
    if n == 0:
        return np.zeros(0, np.int64), 0
    bufs = arr.buffers()
    offs = np.frombuffer(bufs[1], dtype=np.int32)[arr.offset: arr.offset + n + 1]
    data = bufs[2]
    if data is None or data.size == 0:
        return np.zeros(0, np.int64), 0
    offs = offs.astype(np.int64)                    # searchsorted with int keys: no casts
    rel0 = data.address - idx.base                  # file position of offset 0
    start, end = rel0 + int(offs[0]), rel0 + int(offs[-1])
    nbytes = end - start
    if not 0 <= rel0 <= len(idx.mm) or not 0 <= end <= len(idx.mm):
        mask = pc.fill_null(pc.match_substring(arr, needle.decode("utf-8", "replace")), False)
        return pc.indices_nonzero(mask).to_numpy(zero_copy_only=False).astype(np.int64), nbytes
    mm, L = idx.mm, len(needle)
    found = []
    pos = mm.find(needle, start, end)
    while pos >= 0:
        i = int(np.searchsorted(offs, pos - rel0, side="right")) - 1
        if pos - rel0 + L <= offs[i + 1]:
            found.append(i)
            nxt = rel0 + int(offs[i + 1])           # one hit per value is enough
        else:
            nxt = pos + 1                           # spans two values: not a match
        if len(found) > MANY_HITS:
            mask = pc.fill_null(pc.match_substring(arr, needle.decode("utf-8", "replace")), False)
            return pc.indices_nonzero(mask).to_numpy(zero_copy_only=False).astype(np.int64), nbytes
        pos = mm.find(needle, nxt, end)
    return np.asarray(found, np.int64), nbytes
