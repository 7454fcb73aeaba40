"""Memory-speed substring scan over a case's text: the compact store's distinct values.

A compact segment (``edrql.segcodec``) keeps each distinct string once, in *families* of
columns that share one dictionary, ordered by character class (lower-case hex, hex with
capitals, other ASCII without capitals, other ASCII with capitals, non-ASCII). That *is*
the search index: a search scans, per family, only the classes that can hold the needle —
as stored, or lower-cased by an Arrow kernel (``ascii_lower`` for ASCII, ``utf8_lower``
for the rest) when the search ignores case — with ``memmem`` on the Arrow buffers (no
copy, the GIL released, so two pieces of the values scan on two cores). Each hit is mapped
to its value through the offsets; a hit that runs past the end of its value (text made only
by joining two adjacent values) is rejected. The rows are then those of each column whose
code is one of the hit values (through the column's local map, limited by its mask).

A raw time text the segment makes again from a time column (``timetext``) is read only
by a needle that can line up with its format (``edrql.timetext.can_hold``: digits and the
format's own characters); the column is then written in that format (lower-cased when
case is ignored), kept for later searches, and scanned like a family's values, one value
per row.

Nothing is built and nothing is written. A format 1 segment (plain string columns) is put
into the same form in memory on first search (``segcodec.encode``), not on disk.
"""
from __future__ import annotations

import concurrent.futures as cf
import ctypes
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import segcodec, timetext
from .npkeys import distinct

MANY_HITS = 5000       # past this many hits in one piece, test its values vectorized
PIECE = 16 << 20       # bytes of values per scan task (pieces end at value boundaries)
WORKERS = 2

_HEX_LOWER = re.compile(r"[0-9a-f]+")
_HEX_ANY = re.compile(r"[0-9a-fA-F]+")
_CAPITAL = re.compile(r"[A-Z]")


def _load_memmem():
    try:            # the process's own symbols, libc's among them (no find_library: it runs
        f = ctypes.CDLL(None).memmem        # ldconfig)
    except (OSError, AttributeError):
        return None
    f.restype = ctypes.c_void_p
    f.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    return f


_memmem = _load_memmem()


def plan_classes(text: str, case_sensitive: bool) -> tuple[str, list[tuple[int, str | None]]]:
    """(needle, [(class index, transform)]): the classes of values that can hold ``text``
    and how each is read (None: as stored; "ascii"/"utf8": lower-cased by that kernel)."""
    if case_sensitive:
        plan = []
        if _HEX_LOWER.fullmatch(text):
            plan.append((0, None))
        if _HEX_ANY.fullmatch(text):
            plan.append((1, None))
        if text.isascii():
            if not _CAPITAL.search(text):
                plan.append((2, None))
            plan.append((3, None))
        plan.append((4, None))            # non-ASCII values may hold any needle
        return text, plan
    needle = text.lower()
    if not needle.isascii():              # only non-ASCII values can hold it once lowered
        return needle, [(4, "utf8")]
    plan = []
    if _HEX_LOWER.fullmatch(needle):
        plan += [(0, None), (1, "ascii")]
    return needle, plan + [(2, None), (3, "ascii"), (4, "utf8")]


def _offsets(arr: pa.Array) -> np.ndarray:
    """Offsets of a (sliced) string array into its data buffer, len(arr) + 1 of them."""
    dt = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    return np.frombuffer(arr.buffers()[1], dt)[arr.offset: arr.offset + len(arr) + 1]


def _vectorized(arr: pa.Array, needle: bytes) -> np.ndarray:
    mask = pc.match_substring(arr, needle.decode("utf-8", "replace"))
    return pc.indices_nonzero(pc.fill_null(mask, False)).to_numpy(zero_copy_only=False)


def find_values(arr: pa.Array, needle: bytes) -> np.ndarray:
    """Positions (in ``arr``) of the values that contain ``needle`` within one value."""
    n = len(arr)
    data = arr.buffers()[2] if n else None
    if data is None or data.size == 0:
        return np.zeros(0, np.int64)
    if _memmem is None:
        return _vectorized(arr, needle).astype(np.int64)
    offs = _offsets(arr)

    def value_at(pos):                    # (value, where it ends)
        i = int(np.searchsorted(offs, pos, side="right")) - 1
        return i, int(offs[i + 1])
    found = _hits(data.address, int(offs[0]), int(offs[-1]), needle, value_at)
    return _vectorized(arr, needle).astype(np.int64) if found is None else found


def _hits(base: int, p: int, end: int, needle: bytes, value_at) -> np.ndarray | None:
    """Values holding ``needle`` in the bytes [p, end) at ``base``: ``value_at(pos)`` gives
    the value of a position and where it ends (None: past MANY_HITS, to test vectorized)."""
    L = len(needle)
    found: list[int] = []
    while end - p >= L:
        r = _memmem(base + p, end - p, needle, L)
        if not r:
            break
        pos = r - base
        i, stop = value_at(pos)
        if pos + L <= stop:
            found.append(i)
            p = stop                      # one hit per value is enough
        else:
            p = pos + 1                   # spans two values: not a match
        if len(found) > MANY_HITS:
            return None
    return np.asarray(found, np.int64)


def find_fixed(arr: pa.Array, needle: bytes) -> np.ndarray:
    """find_values for a string array whose values with a value all have one width and
    follow each other in its data (a null is empty): a hit's value is its position over
    the width, with no search of the offsets."""
    offs = _offsets(arr)
    data = arr.buffers()[2]
    rows = None if not arr.null_count else np.flatnonzero(np.asarray(arr.is_valid()))
    k = len(arr) if rows is None else len(rows)
    if data is None or k == 0 or _memmem is None:
        return _vectorized(arr, needle).astype(np.int64) if k else np.zeros(0, np.int64)
    w = int(offs[-1] - offs[0]) // k
    hit = _hits(data.address + int(offs[0]), 0, w * k, needle, lambda pos: (pos // w, (pos // w + 1) * w))
    if hit is None:
        return _vectorized(arr, needle).astype(np.int64)
    return hit if rows is None else rows[hit]


def _read(values: pa.Array, lo: int, hi: int, how: str | None) -> pa.Array:
    part = values.slice(lo, hi - lo)
    if how == "ascii":
        return pc.ascii_lower(part)
    if how == "utf8":
        return pc.utf8_lower(part)
    return part


def _pieces(offs: np.ndarray, lo: int, hi: int) -> list[tuple[int, int]]:
    """[lo, hi) cut at value boundaries into pieces of about PIECE bytes."""
    nbytes = int(offs[hi] - offs[lo])
    if nbytes <= 2 * PIECE:
        return [(lo, hi)]
    marks = offs[lo] + np.arange(1, nbytes // PIECE + 1, dtype=np.int64) * PIECE
    cuts = distinct(np.clip(np.searchsorted(offs[lo:hi + 1], marks) + lo, lo, hi))
    edges = [lo] + [int(c) for c in cuts if lo < c < hi] + [hi]
    return list(zip(edges[:-1], edges[1:]))


def _bits(buf, offset: int, rows: np.ndarray) -> np.ndarray:
    bm = np.frombuffer(buf, np.uint8)
    r = rows + offset
    return ((bm[r >> 3] >> (r & 7).astype(np.uint8)) & 1).astype(bool)


def _all_bits(buf, offset: int, n: int) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(buf, np.uint8), bitorder="little")
    return bits[offset: offset + n].astype(bool)


def _valid_at(arr: pa.Array, rows: np.ndarray) -> np.ndarray:
    buf = arr.buffers()[0]
    return np.ones(len(rows), bool) if buf is None else _bits(buf, arr.offset, rows)


def _true_at(mask: pa.Array, rows: np.ndarray) -> np.ndarray:
    """mask[rows] of a boolean array (null: false)."""
    return _bits(mask.buffers()[1], mask.offset, rows) & _valid_at(mask, rows)


def _code_values(codes: pa.Array) -> np.ndarray:
    dt = codes.type.to_pandas_dtype()
    return np.frombuffer(codes.buffers()[1], dt)[codes.offset: codes.offset + len(codes)]


class _Segment:
    """One segment's text view, its row offset and cached lengths and lowered pieces."""

    def __init__(self, row0: int, view: segcodec.TextView):
        self.row0, self.view = row0, view
        self.offs = [_offsets(f.values) for f in view.families]
        self.covered: dict[str, int] = {}
        self._lengths: dict[int, np.ndarray] = {}
        self._present: dict[int, np.ndarray | None] = {}

    def rows(self, column: str, hits: np.ndarray) -> np.ndarray:
        """Rows (in the segment) whose value of ``column`` is one of the family positions
        ``hits`` (sorted)."""
        return self.keep(column, self.candidates(column, hits))

    def candidates(self, column: str, hits: np.ndarray) -> np.ndarray:
        """Rows whose stored code is one of the hits (before nulls and masks: references of
        one column share this)."""
        k = self.view.coded[column]
        want = hits
        if k.local is not None:                  # a mapped column: its own narrow codes
            want = np.flatnonzero(np.isin(k.local, hits))    # (local: small, in any order)
        if not len(want):
            return np.zeros(0, np.int64)
        cv = _code_values(k.codes)
        size = len(k.local) if k.local is not None else len(self.view.families[k.family].values)
        want = self._maybe_present(k.codes, cv, size, want)
        if not len(want):
            return np.zeros(0, np.int64)
        if len(want) <= 8:                       # a few values: compare, no table
            m = cv == want[0]
            for v in want[1:]:
                m |= cv == v
        else:
            table = np.zeros(size, bool)
            table[want] = True
            m = table[cv]                        # a null's code (-1 or 0) is cleared in keep
        return np.flatnonzero(m)

    def _maybe_present(self, codes: pa.Array, cv: np.ndarray, size: int, want: np.ndarray):
        """The wanted codes that may occur in ``codes``: from the second search of these
        codes on, a set of the codes present (kept in memory) skips a column without them
        (a superset: a null's code counts as present; the compare is exact)."""
        key = id(codes)
        present = self._present.get(key)
        if present is None:
            if key not in self._present:
                self._present[key] = None          # first use: compare only
                return want
            present = np.zeros(size, bool)
            present[cv] = True
            self._present[key] = present
        return want[present[want]]

    def keep(self, column: str, rows: np.ndarray) -> np.ndarray:
        """The candidate rows where the column has a value (its codes' nulls, its mask)."""
        k = self.view.coded[column]
        if len(rows) and k.codes.null_count:
            rows = rows[_valid_at(k.codes, rows)]
        if len(rows) and k.mask is not None:
            rows = rows[_true_at(k.mask, rows)]
        return rows

    def text_bytes(self, column: str) -> int:
        """Bytes of the column's text the distinct values stand for (the receipt's figure):
        the layout's count when the segment carries one, else counted from the codes."""
        if column not in self.covered:
            known = self.view.how.get(column, {}).get("bytes")
            self.covered[column] = int(known) if known is not None else self._count_bytes(column)
        return self.covered[column]

    def _count_bytes(self, column: str) -> int:
        k = self.view.coded[column]
        if k.family not in self._lengths:
            self._lengths[k.family] = np.diff(self.offs[k.family]).astype(np.int64)
        lengths = self._lengths[k.family]
        if k.local is not None:
            lengths = lengths[k.local]
        cv = _code_values(k.codes)
        keep = None
        if k.codes.null_count:
            keep = _all_bits(k.codes.buffers()[0], k.codes.offset, len(cv))
        if k.mask is not None:
            m = _all_bits(k.mask.buffers()[1], k.mask.offset, len(cv))
            if k.mask.null_count:
                m &= _all_bits(k.mask.buffers()[0], k.mask.offset, len(cv))
            keep = m if keep is None else keep & m
        if keep is not None:
            cv = cv[keep]
        if cv.dtype.itemsize < 4:              # narrow codes: count them, no gather
            counts = np.bincount(cv.view(np.uint8 if cv.dtype.itemsize == 1 else np.uint16),
                                 minlength=len(lengths))[:len(lengths)]
            return int(counts @ lengths)
        return int(lengths[cv].sum())


def _view(stored: pa.Table) -> segcodec.TextView:
    view = segcodec.text_view(stored)
    if view is None:                     # format 1: the compact form, in memory only
        view = segcodec.text_view(segcodec.encode(stored))
    return view


class Scanner:
    """Finds, per text column, the rows whose value contains a needle, over the stored
    segments of a case (or given stored tables)."""

    def __init__(self, case=None, tables: list[pa.Table] | None = None):
        if tables is None:
            tables = case.segment_tables("events", stored=True)
        self.segments: list[_Segment] = []
        offset = 0
        self.old_layout = 0
        for t in tables:
            if t.num_rows == 0:
                continue
            if segcodec.layout_of(t.schema) is None:
                self.old_layout += 1
            self.segments.append(_Segment(offset, _view(t)))
            offset += t.num_rows
        self.num_rows = offset
        self._lowered: dict[tuple, pa.Array] = {}
        self._pool: cf.ThreadPoolExecutor | None = None

    def close(self):
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _workers(self) -> cf.ThreadPoolExecutor:
        if self._pool is None:
            self._pool = cf.ThreadPoolExecutor(max_workers=WORKERS)
        return self._pool

    def columns(self) -> set[str]:
        return {c for s in self.segments for c in (*s.view.coded, *s.view.derived)}

    def _derived_text(self, si: int, c: str, lower: bool) -> pa.Array:
        """Segment si's made-again time column c as text (lower-cased), kept."""
        key = ("time", si, c, lower)
        arr = self._lowered.get(key)
        if arr is None:
            d = self.segments[si].view.derived[c]
            fmt = timetext.lowered(d.format) if lower else d.format
            arr = self._lowered[key] = timetext.format_times(d.times, fmt, d.has)
        return arr

    def _derived_rows(self, columns: list[str], test) -> tuple[dict, int]:
        """({column: [global rows]}, bytes read) of the made-again time columns, where
        ``test(format)`` → None (cannot match: not read) or (lower, find(text) → rows)."""
        out: dict[str, list] = {}
        scanned = 0
        for si, seg in enumerate(self.segments):
            for c in columns:
                d = seg.view.derived.get(c)
                if d is None:
                    continue
                how = test(d.format)
                if how is None:
                    continue
                lower, find = how
                text = self._derived_text(si, c, lower)
                scanned += int(_offsets(text)[-1])
                rows = find(text)
                if len(rows):
                    out.setdefault(c, []).append(rows.astype(np.int64) + seg.row0)
        return out, scanned

    def _piece(self, key: tuple, values: pa.Array, needle: bytes) -> np.ndarray:
        _, _, lo, hi, how = key
        arr = self._lowered.get(key) if how else None
        if arr is None:
            arr = _read(values, lo, hi, how)
            if how:
                self._lowered[key] = arr         # warm searches skip the lower-casing
        return find_values(arr, needle) + lo

    def find_all(self, text: str, case_sensitive: bool, columns: list[str]):
        """({column: global row indices}, distinct bytes scanned, column bytes covered)."""
        needle_s, plan = plan_classes(text, case_sensitive)
        needle = needle_s.encode("utf-8")
        tasks = []
        scanned = 0
        wanted = set(columns)
        for si, seg in enumerate(self.segments):
            used = {seg.view.coded[c].family for c in wanted if c in seg.view.coded}
            for fi, fam in enumerate(seg.view.families):
                if fi not in used:
                    continue
                offs = seg.offs[fi]
                for cls, how in plan:
                    lo, hi = fam.bounds[cls], fam.bounds[cls + 1]
                    if hi <= lo:
                        continue
                    scanned += int(offs[hi] - offs[lo])
                    for a, b in _pieces(offs, lo, hi):
                        tasks.append(((si, fi, a, b, how), fam.values))
        if len(tasks) > 1 and WORKERS > 1:
            found = list(self._workers().map(lambda kv: self._piece(kv[0], kv[1], needle), tasks))
        else:
            found = [self._piece(k, v, needle) for k, v in tasks]
        hits: dict[tuple[int, int], list] = {}
        for (key, _), f in zip(tasks, found):
            if len(f):
                hits.setdefault(key[:2], []).append(f)
        per_col, covered = self._rows(hits, columns)
        lower = not case_sensitive
        more, nbytes = self._derived_rows(columns, lambda fmt: (lower, lambda t: find_fixed(t, needle))
                                          if timetext.can_hold(fmt, needle_s, case_sensitive) else None)
        return _merged(per_col, more, columns), scanned + nbytes, covered

    def find_matching(self, match, columns: list[str]):
        """find_all for a predicate over values (``match(strings)`` → boolean array, e.g. a
        regular expression): read on every value of the families the columns use."""
        hits: dict[tuple[int, int], list] = {}
        scanned = 0
        wanted = set(columns)
        for si, seg in enumerate(self.segments):
            used = {seg.view.coded[c].family for c in wanted if c in seg.view.coded}
            for fi in sorted(used):
                values = seg.view.families[fi].values
                scanned += int(seg.offs[fi][-1] - seg.offs[fi][0])
                m = pc.fill_null(match(values), False)
                found = pc.indices_nonzero(m).to_numpy(zero_copy_only=False).astype(np.int64)
                if len(found):
                    hits[(si, fi)] = [found]
        per_col, covered = self._rows(hits, columns)

        def rows(text):
            m = pc.fill_null(match(text), False)
            return pc.indices_nonzero(m).to_numpy(zero_copy_only=False)
        more, nbytes = self._derived_rows(columns, lambda fmt: (False, rows))
        return _merged(per_col, more, columns), scanned + nbytes, covered

    def _rows(self, hits: dict, columns: list[str]):
        """({column: global rows} in column order, column bytes covered) of hit values.
        Columns sharing codes (references) compare them once; the compares run on the pool."""
        jobs: dict[tuple, tuple] = {}
        todo = []
        covered = 0
        for si, seg in enumerate(self.segments):
            for c in columns:
                k = seg.view.coded.get(c)
                if k is None:
                    if c in seg.view.derived:
                        covered += int(seg.view.how[c].get("bytes") or 0)
                    continue
                covered += seg.text_bytes(c)
                h = hits.get((si, k.family))
                if h is None:
                    continue
                key = (si, id(k.codes))
                if key not in jobs:
                    jobs[key] = (seg, c, np.sort(np.concatenate(h)))
                todo.append((seg, c, key))
        run = list(jobs.items())
        if len(run) > 1 and WORKERS > 1:
            found = list(self._workers().map(lambda kv: kv[1][0].candidates(kv[1][1], kv[1][2]), run))
        else:
            found = [seg.candidates(c, h) for _, (seg, c, h) in run]
        cand = {key: f for (key, _), f in zip(run, found)}
        out: dict[str, list] = {}
        for seg, c, key in todo:
            rows = seg.keep(c, cand[key])
            if len(rows):
                out.setdefault(c, []).append(rows.astype(np.int64) + seg.row0)
        return {c: np.concatenate(out[c]) for c in columns if c in out}, covered


def _merged(per_col: dict, more: dict, columns: list[str]) -> dict:
    """per_col with the made-again columns' rows added, in column order."""
    if not more:
        return per_col
    out = {}
    for c in columns:
        parts = ([per_col[c]] if c in per_col else []) + more.get(c, [])
        if parts:
            out[c] = np.sort(np.concatenate(parts)) if len(parts) > 1 else parts[0]
    return out
