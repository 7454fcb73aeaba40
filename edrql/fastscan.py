"""Memory-speed substring scan over a case's text, through a per-segment search index.

For each segment the index keeps every *distinct* text value of all its text columns
once, back to back in one buffer (as written, and lower-cased), each column's row
codes into those values, and the sorted set of values each column uses. A search
scans that one buffer (``mmap.find``: memchr-class speed, no copy) — real exports
repeat paths, names and command lines across rows and columns, so that is a fraction
of the bytes — maps each hit to its value through the offsets, rejects a hit that
runs past the end of its value (text made by joining two adjacent values), and finds
the rows holding the hit values only in the columns that use them.

The index is derived data, built once per segment on first search and kept in
``CASE/search/``; it covers exactly the rows and text columns of the segment.
"""
from __future__ import annotations

import concurrent.futures as cf
import mmap
import os
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MANY_HITS = 50000      # past this many raw hits, test the values vectorized
FORMAT = "5"           # index layout version (older indexes are rebuilt)


def _string_columns(t: pa.Table) -> list[str]:
    return [f.name for f in t.schema if pa.types.is_string(f.type)]


def index_paths(case_root: str, segment_rel: str) -> tuple[str, str, str]:
    base = os.path.join(case_root, "search", os.path.basename(segment_rel).replace(".arrow", ""))
    return base + f".v{FORMAT}.values.arrow", base + f".v{FORMAT}.codes.arrow", \
        base + f".v{FORMAT}.members.arrow"


def build_index(case_root: str, segment_rel: str, table: pa.Table) -> None:
    """Distinct values of all text columns (as written and lower-cased), per-column row codes
    into them and per-column sorted value ids."""
    paths = index_paths(case_root, segment_rel)
    if all(os.path.exists(p) for p in paths):
        return
    d = os.path.dirname(paths[0])
    os.makedirs(d, exist_ok=True)
    seg = os.path.basename(segment_rel).replace(".arrow", "")
    for f in os.listdir(d):                          # an index of an older layout
        if f.startswith(seg + ".") and f".v{FORMAT}." not in f:
            try:
                os.remove(os.path.join(d, f))
            except OSError:
                pass
    names = _string_columns(table)

    def encode(c):
        col = table.column(c)
        return pc.dictionary_encode(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col)
    with cf.ThreadPoolExecutor(max_workers=2) as pool:      # Arrow releases the GIL
        encoded = list(pool.map(encode, names))
    # one value set for the segment: each column's dictionary mapped into it
    allvals = pa.concat_arrays([e.dictionary for e in encoded]) if encoded else pa.array([], pa.string())
    glob = pc.dictionary_encode(allvals)
    values = glob.dictionary
    gmap = glob.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    # values made only of hex digits (hashes, ids) first: a needle with any other character
    # cannot occur in them, so its scan starts after them
    # then values with no capital letter: a case-sensitive needle with one cannot occur there
    hexonly = pc.fill_null(pc.match_substring_regex(values, r"^[0-9a-fA-F]*$"), False)
    upper = pc.fill_null(pc.match_substring_regex(values, r"[A-Z]"), False)
    hx = hexonly.to_numpy(zero_copy_only=False)
    up = upper.to_numpy(zero_copy_only=False)
    group = np.where(hx, 0, np.where(up, 2, 1)).astype(np.int8)
    order = np.argsort(group, kind="stable")
    n_noupper = int(((group == 1)).sum())
    rank = np.empty(len(order), np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    values = values.take(pa.array(order))
    gmap = rank[gmap] if len(gmap) else gmap
    n_hex = int(pc.sum(hexonly).as_py() or 0)
    codes, members, start = {}, [], 0
    for c, e in zip(names, encoded):
        k = len(e.dictionary)
        local_to_global = gmap[start:start + k]
        start += k
        idx = e.indices
        loc = pc.fill_null(idx, 0).to_numpy(zero_copy_only=False)
        g = local_to_global[loc] if k else np.zeros(len(loc), np.int32)
        if idx.null_count:                           # a null value: code -1 (no bitmap to read)
            g = np.where(pc.is_valid(idx).to_numpy(zero_copy_only=False), g, -1).astype(np.int32)
        codes[c] = pa.array(g, pa.int32())
        members.append(np.sort(local_to_global))   # distinct already: a sort is enough
    vt = pa.table({"orig": values, "lower": pc.utf8_lower(values)}).replace_schema_metadata(
        {"hex_only": str(n_hex), "no_upper": str(n_noupper)})
    ct = pa.table(codes) if codes else pa.table({"_": pa.nulls(table.num_rows, pa.int32())})
    moffs = np.concatenate([[0], np.cumsum([len(m) for m in members])]).astype(np.int32)
    mvals = np.concatenate(members).astype(np.int32) if members else np.zeros(0, np.int32)
    mt = pa.table({"column": pa.array(names, pa.string()),
                   "ids": pa.ListArray.from_arrays(pa.array(moffs), pa.array(mvals))})
    for path, t in zip(paths, (vt, ct, mt)):
        tmp = path + f".{os.getpid()}.tmp"
        with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, t.schema) as w:
            w.write_table(t, max_chunksize=1 << 62)      # one batch: one buffer per column
        os.replace(tmp, path)


class _Index:
    """One segment's index: values (zero-copy and as a Python mmap), codes, members."""

    def __init__(self, vpath: str, cpath: str, mpath: str):
        src = pa.memory_map(vpath, "r")
        self.values = pa.ipc.open_file(src).read_all()
        meta = self.values.schema.metadata or {}
        self.n_hex = int(meta.get(b"hex_only", b"0"))
        self.n_noupper = int(meta.get(b"no_upper", b"0"))
        src.seek(0)
        self.base = src.read_buffer(1).address
        self.codes = pa.ipc.open_file(pa.memory_map(cpath, "r")).read_all()
        mt = pa.ipc.open_file(pa.memory_map(mpath, "r")).read_all()
        ids = mt["ids"].combine_chunks()
        flat = ids.values.to_numpy(zero_copy_only=False)
        offs = ids.offsets.to_numpy(zero_copy_only=False)
        self.members = {c: flat[offs[i]:offs[i + 1]] for i, c in enumerate(mt["column"].to_pylist())}
        self.fh = open(vpath, "rb")
        self.mm = mmap.mmap(self.fh.fileno(), 0, access=mmap.ACCESS_READ)
        self._offs: dict[str, np.ndarray] = {}
        self._covered: dict[str, int] = {}

    def offsets(self, which: str) -> tuple[pa.Array, np.ndarray]:
        arr = self.values.column(which).chunk(0)
        if which not in self._offs:
            o = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset: arr.offset + len(arr) + 1]
            self._offs[which] = o.astype(np.int64)
        return arr, self._offs[which]

    def covered(self, column: str) -> int:
        """Bytes of column text the index stands for (for the receipt)."""
        if column not in self._covered:
            lengths = pc.binary_length(self.values.column("orig").chunk(0)).to_numpy(
                zero_copy_only=False).astype(np.int64)
            c = self.codes.column(column).chunk(0).to_numpy(zero_copy_only=False)
            c = c[c >= 0]
            self._covered[column] = int(lengths[c].sum()) if len(c) else 0
        return self._covered[column]

    def close(self):
        self.mm.close()
        self.fh.close()


class Scanner:
    """Finds, per text column, the rows whose value contains a byte string."""

    def __init__(self, case):
        self.case = case
        self.build_seconds = 0.0
        self.segments: list[tuple[int, _Index]] = []
        offset = 0
        for s in case.manifest["sources"]:
            rel = s.get("segment")
            if not rel:
                continue
            paths = index_paths(case.root, rel)
            if not all(os.path.exists(p) for p in paths):
                t0 = time.perf_counter()
                seg = pa.ipc.open_file(pa.memory_map(os.path.join(case.root, rel), "r")).read_all()
                build_index(case.root, rel, seg)
                self.build_seconds += time.perf_counter() - t0
            idx = _Index(*paths)
            self.segments.append((offset, idx))
            offset += idx.codes.num_rows
        self.num_rows = offset

    def close(self):
        for _, s in self.segments:
            s.close()

    def find_all(self, needle: bytes, lowered: bool, columns: list[str]):
        """({column: global row indices}, distinct bytes scanned, column bytes covered)."""
        out: dict[str, list] = {}
        scanned = covered = 0
        for row0, idx in self.segments:
            arr, offs = idx.offsets("lower" if lowered else "orig")
            if _HEX.fullmatch(needle):
                first = 0
            elif not lowered and _UPPER.search(needle):
                first = idx.n_hex + idx.n_noupper
            else:
                first = idx.n_hex
            hit_ids, nbytes = _find_values(idx, arr, offs, needle, first)
            scanned += nbytes
            for c in columns:
                if c not in idx.members:
                    continue
                covered += idx.covered(c)
                if not len(hit_ids):
                    continue
                mem = idx.members[c]                 # sorted: binary search, no sort
                pos = np.searchsorted(mem, hit_ids)
                ok = pos < len(mem)
                ok[ok] = mem[pos[ok]] == hit_ids[ok]
                present = hit_ids[ok]
                if not len(present):
                    continue
                cv = idx.codes.column(c).chunk(0).to_numpy(zero_copy_only=False)
                if len(present) <= 16:                # a few values: compare, no sort
                    m = cv == present[0]
                    for v in present[1:]:
                        m |= cv == v
                    rows = np.nonzero(m)[0]
                else:
                    rows = np.nonzero(np.isin(cv, present))[0]
                if len(rows):
                    out.setdefault(c, []).append(rows.astype(np.int64) + row0)
        return {c: np.concatenate(v) for c, v in out.items()}, scanned, covered


_HEX = __import__("re").compile(rb"[0-9a-fA-F]*")
_UPPER = __import__("re").compile(rb"[A-Z]")


def _find_values(idx: _Index, arr: pa.Array, offs: np.ndarray, needle: bytes, first: int = 0):
    """Ids of the values (from value ``first`` on) containing needle within one value, and
    the bytes scanned."""
    n = len(arr)
    data = arr.buffers()[2] if n else None
    if data is None or data.size == 0 or first >= n:
        return np.zeros(0, np.int32), 0
    rel0 = data.address - idx.base                  # file position of offset 0
    start, end = rel0 + int(offs[first]), rel0 + int(offs[-1])
    nbytes = end - start
    if not 0 <= rel0 <= len(idx.mm) or not 0 <= end <= len(idx.mm):
        mask = pc.fill_null(pc.match_substring(arr, needle.decode("utf-8", "replace")), False)
        return pc.indices_nonzero(mask).to_numpy(zero_copy_only=False).astype(np.int32), nbytes
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
            return pc.indices_nonzero(mask).to_numpy(zero_copy_only=False).astype(np.int32), nbytes
        pos = mm.find(needle, nxt, end)
    return np.asarray(found, np.int32), nbytes
