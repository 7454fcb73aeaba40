"""The compact segment layout (case format 2): each distinct string of a segment once.

On disk a segment is one Arrow IPC file with one record batch. Its text columns are
grouped into *families*: columns whose values overlap (a path in ``raw.FolderPath`` and in
``image``; a PID in ``raw.ProcessId`` and a port in ``raw.RemotePort``) share one
dictionary of distinct strings, so no non-empty string is written twice in a segment.
A family's strings are the dictionary of its *carrier* column; they are ordered in
character classes (see ``CLASSES``) so a search can skip what cannot match.

Every other text column is stored as integer codes only, as narrow as its own number of
distinct values allows:

* ``member``: codes into the family's strings (``int32`` when the family is large), or,
  for a column with few distinct values in a large family, narrow codes into a *local
  map* (the family positions of its own values, in the field's metadata);
* ``ref``: a normalized column equal to a raw column row for row stores nothing;
* ``masked``: a normalized column equal to a raw column where it has a value (and null
  elsewhere) stores only a boolean mask;
* ``null``: a column with no value in any row stores nothing;
* ``timetext``: a raw time text that is, in every row where it has a value, a time column
  of the segment (``of``) written in one fixed-width ``format`` (``edrql.timetext``; the
  Defender ``Timestamp`` is ``ts`` in ``%Y-%m-%dT%H:%M:%S.%7fZ``) stores nothing, or only a
  boolean column saying where it has a value when that is not where the time has one. It
  decodes as a plain ``string`` column, written again when decoded (~0.1 s for 2.2M
  rows), so a query that does not read it should not decode it. Encode checks every row;
  a column with one row that differs stays text.

``decode`` turns the file's table back into the events table, zero-copy from the
memory map except for the small dictionaries of mapped columns, the time texts and the
widened numbers: every text column but a ``timetext`` one is a
``dictionary<int8|int16|int32, string>`` column. ``text_view`` gives the search its
families and each column's codes without building anything.

Plain (non-text) columns are stored as they are, or as ``edrql.numcodec`` says (an
all-null number or time column stores nothing, a run of integers its start and step, an
integer column whose values fit a narrower type that type).

A table without the layout key (format 1, plain string columns) decodes as it is.
"""
from __future__ import annotations

import json
from .records import record as dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import numcodec, timetext
from .valueset import value_set

LAYOUT_KEY = b"edrql.layout"
MAP_KEY = b"edrql.map"
LAYOUT = 2
#: value classes, in dictionary order: lower-case hex, hex with capitals, other ASCII
#: without capitals, other ASCII with capitals, non-ASCII
CLASSES = ("hex", "HEX", "ascii", "ASCII", "unicode")
NARROW = 32767          # a member with at most this many values keeps int16 codes
#: a time text with at most this share of distinct values per row decodes as a dictionary
DISTINCT_SHARE = 0.3


def is_text_type(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def plain(col):
    """A dictionary-encoded text column (or chunked one) as plain strings; others as they are."""
    if pa.types.is_dictionary(col.type):
        return col.cast(col.type.value_type)
    return col


def on_values(fn, col, *args, **kw):
    """An elementwise function of text applied to a dictionary column's distinct values and
    spread to its rows (plain columns: applied to the rows)."""
    if isinstance(col, pa.ChunkedArray) and pa.types.is_dictionary(col.type):
        return pa.chunked_array([on_values(fn, c, *args, **kw) for c in col.chunks]) \
            if col.num_chunks else fn(plain(col), *args, **kw)
    if isinstance(col, pa.DictionaryArray):
        return pc.take(fn(col.dictionary, *args, **kw), col.indices)
    return fn(col, *args, **kw)


def plain_table(t: pa.Table) -> pa.Table:
    """A table with every dictionary-encoded column decoded (for small derived tables that
    go through kernels without dictionary support: hash aggregates, joins, concatenation)."""
    if not any(pa.types.is_dictionary(f.type) for f in t.schema):
        return t
    # one new table, not one per column (set_column in a loop copies the column list each
    # time: 900 columns took 0.17 s for a table of 23 rows)
    cols = [plain(c) if pa.types.is_dictionary(c.type) else c for c in t.columns]
    return pa.Table.from_arrays(cols, names=t.column_names, metadata=t.schema.metadata)


def dictionary_batch(table: pa.Table) -> pa.Table:
    """The same table with every plain text column dictionary-encoded (a compact batch to
    keep while a source is read)."""
    cols = []
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col = pc.dictionary_encode(col)
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def index_type(n: int) -> pa.DataType:
    return pa.int8() if n <= 127 else pa.int16() if n <= NARROW else pa.int32()


def _pieces(col) -> list[tuple[pa.Array, pa.Array]]:
    """(dictionary, indices) pieces of a text column: one per chunk of a dictionary column
    (no unification: the segment's one value set does that), one for a plain column."""
    if isinstance(col, pa.ChunkedArray) and pa.types.is_dictionary(col.type):
        return [(c.dictionary, c.indices) for c in col.chunks]
    if isinstance(col, pa.DictionaryArray):
        return [(col.dictionary, col.indices)]
    if isinstance(col, pa.ChunkedArray):       # one array first: encoding chunk by chunk
        big = sum(c.buffers()[2].size for c in col.chunks if c.buffers()[2]) >= 2**31 - 1
        col = (col.cast(pa.large_string()) if big else col).combine_chunks()
    enc = pc.dictionary_encode(col)
    return [(enc.dictionary, enc.indices)]


class _Union:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def value_classes(values: pa.Array) -> np.ndarray:
    """Each value's class (index into CLASSES), vectorized."""
    if len(values) == 0:
        return np.zeros(0, np.int8)
    ascii_ = pc.string_is_ascii(values).to_numpy(zero_copy_only=False)
    lowered = pc.ascii_lower(values)
    capital = pc.not_equal(values, lowered).to_numpy(zero_copy_only=False)
    hexonly = pc.match_substring_regex(values, r"^[0-9a-fA-F]+$").to_numpy(zero_copy_only=False)
    return np.where(~ascii_, 4, np.where(hexonly, np.where(capital, 1, 0),
                                         np.where(capital, 3, 2))).astype(np.int8)


def encode(table) -> pa.Table:
    """The compact on-disk form of an events table (plain or dictionary text columns).

    ``table`` may be a one-element list holding the table: encode then takes it over (the
    caller keeps no other reference) and lets each text column's memory go as soon as its
    codes are made, which bounds the peak memory of an ingest."""
    if isinstance(table, list):
        table = table.pop()
    n = table.num_rows
    names = table.column_names
    schema = table.schema
    text = [c for c in names if is_text_type(schema.field(c).type)]
    plan: dict[str, dict] = {}
    pieces = {}
    derived = _time_texts(table, text)          # raw time texts made again from a time
    for c in text:
        col = table.column(c)
        if col.null_count == n:
            plan[c] = {"store": "null"}
            continue
        if c in derived:
            plan[c] = derived[c]
            continue
        pieces[c] = _pieces(col)
    col = None
    textset = set(text)
    table = table.select([c for c in names if c not in textset])     # text lives in pieces now
    live = list(pieces)
    # one value set for the segment: every piece's values as ids into it
    flat = [d for c in live for d, _ in pieces[c]]
    if flat:
        wide = len({p.type for p in flat}) > 1 or \
            sum(p.buffers()[2].size if p.buffers()[2] else 0 for p in flat) >= 2**31 - 1
        del flat
        dicts = [[d.cast(pa.large_string()) if wide else d for d, _ in pieces[c]] for c in live]
        for c in live:                         # (the plain values are the value set's now)
            pieces[c] = [(len(d), i) for d, i in pieces[c]]
        gvals, gids = value_set(dicts)
        del dicts
    else:
        gvals, gids = pa.array([], pa.string()), np.zeros(0, np.int32)
    # per column: codes per row into the value set (-1: null), and the ids it uses; a
    # column's pieces are consecutive in the value ids: row code = gids[piece start + index]
    codes, local_g, start = {}, {}, 0
    seen = np.zeros(len(gvals), bool)         # (the ids a column uses: a bitmap, not a sort)
    for c in live:
        ps = pieces.pop(c)                    # (each column's pieces go as soon as read)
        sizes = np.array([size for size, _ in ps], np.int64)
        first = start + np.cumsum(sizes) - sizes
        mine = gids[start:start + int(sizes.sum())]
        start += int(sizes.sum())
        k = pa.chunked_array([i.cast(pa.int32()) for _, i in ps], pa.int32())
        k = pc.fill_null(k, -1).to_numpy()
        at = np.repeat(first, [len(i) for _, i in ps])
        del ps
        valid = k >= 0
        codes[c] = np.where(valid, gids[np.where(valid, k + at, 0)], -1).astype(np.int32) \
            if len(gids) else np.full(n, -1, np.int32)
        del k, at, valid
        seen[mine] = True
        local_g[c] = np.flatnonzero(seen).astype(np.int32)
        seen[local_g[c]] = False
    del pieces, seen
    # bytes of text each column holds over its rows (the search receipt says what it stands for)
    lengths = pc.binary_length(gvals).to_numpy(zero_copy_only=False).astype(np.int64)
    nvalid = {c: int(np.count_nonzero(codes[c] >= 0)) for c in live}     # rows with a value
    text_bytes = {c: int(lengths[codes[c][codes[c] >= 0]].sum()) for c in live}
    # families: columns sharing a non-empty value
    uf = _Union(len(live))
    owner = np.full(len(gvals), -1, np.int16 if len(live) < 32767 else np.int32)
    nonempty = lengths > 0
    for i, c in enumerate(live):    # a value met before joins its column to the last one holding it
        ids = local_g[c][nonempty[local_g[c]]]
        before = owner[ids]
        for j in np.flatnonzero(np.bincount(before[before >= 0], minlength=len(live))).tolist():
            uf.join(j, i)
        owner[ids] = i
    del owner, nonempty
    families: dict[int, list[str]] = {}
    for i, c in enumerate(live):
        families.setdefault(uf.find(i), []).append(c)
    fam_meta, out_cols, out_fields = [], {}, {}
    classes = value_classes(gvals)
    pos = np.full(len(gvals), -1, np.int32)
    for members in families.values():
        present = np.zeros(len(gvals), bool)            # the family's values (no sort)
        for c in members:
            present[local_g[c]] = True
        ids = np.nonzero(present)[0].astype(np.int32)
        del present
        order = np.argsort(classes[ids], kind="stable")
        ids = ids[order]
        bounds = np.searchsorted(classes[ids], np.arange(len(CLASSES) + 1)).tolist()
        values = gvals.take(pa.array(ids))
        pos[ids] = np.arange(len(ids), dtype=np.int32)   # value id → family position
        carrier = max(members, key=lambda c: (c.startswith("raw."), len(local_g[c])))
        fam = len(fam_meta)
        fam_meta.append({"carrier": carrier, "bounds": bounds})
        width = index_type(len(ids))
        big = len(ids) > NARROW

        def family_codes(c):
            return np.where(codes[c] >= 0, pos[np.maximum(codes[c], 0)], -1).astype(width.to_pandas_dtype())
        for c in members:
            if c != carrier and not c.startswith("raw."):
                same = _reference(c, members, codes, local_g, nvalid)
                if same is not None:
                    plan[c] = same
                    continue
            mask = None if nvalid[c] == n else pa.array(codes[c] >= 0).buffers()[1]
            if c == carrier:
                idx = pa.Array.from_buffers(width, n, [mask, pa.py_buffer(family_codes(c))])
                out_cols[c] = pa.DictionaryArray.from_arrays(idx, values)
                plan[c] = {"store": "carrier", "family": fam}
            elif big and len(local_g[c]) <= NARROW:    # its own narrow codes, and where they are
                mine = local_g[c]
                lw = index_type(len(mine))
                rank = np.zeros(len(gvals), np.int32)
                rank[mine] = np.arange(len(mine), dtype=np.int32)
                lc = rank[np.maximum(codes[c], 0)].astype(lw.to_pandas_dtype())
                out_cols[c] = pa.Array.from_buffers(lw, n, [mask, pa.py_buffer(lc)])
                out_fields[c] = {MAP_KEY: pos[mine].astype("<i4").tobytes()}
                plan[c] = {"store": "member", "family": fam, "mapped": True}
            else:
                out_cols[c] = pa.Array.from_buffers(width, n, [mask, pa.py_buffer(family_codes(c))])
                plan[c] = {"store": "member", "family": fam}
        pos[ids] = -1
        for c in members:
            if plan[c]["store"] == "masked":
                out_cols[c] = plan[c].pop("mask_array")
            del codes[c]                        # (a family's codes go once it is stored)
    arrays, fields, kinds = [], [], {}
    for c in names:
        if c in plan:
            how = plan[c]["store"]
            if how in ("null", "ref") or (how == "timetext" and "has" not in plan[c]):
                continue
            arr = plan[c].pop("has") if how == "timetext" else out_cols[c]
            fields.append(pa.field(c, arr.type, metadata=out_fields.get(c)))
            arrays.append(arr)
        else:
            col = table.column(c)
            kinds[c] = numcodec.plain_store(col)     # None: stored as it is
            if kinds[c] is not None:
                arr = numcodec.stored_form(col, kinds[c])
                if arr is not None:
                    fields.append(pa.field(c, arr.type))
                    arrays.append(arr)
                continue
            col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
            fields.append(table.schema.field(c).remove_metadata())
            arrays.append(col)
    for c in live:
        plan[c]["bytes"] = text_bytes[c]
    for c in plan:
        if plan[c]["store"] == "null":
            plan[c]["bytes"] = 0
    layout = {"layout": LAYOUT, "rows": n, "families": fam_meta,
              "columns": [[c, plan.get(c) or kinds.get(c) or {"store": "plain"}] for c in names]}
    meta = dict(table.schema.metadata or {})
    meta[LAYOUT_KEY] = json.dumps(layout, separators=(",", ":")).encode()
    schema = pa.schema(fields, metadata=meta)
    if not arrays:
        return pa.table({}).replace_schema_metadata(meta)
    return pa.Table.from_arrays(arrays, schema=schema)


def _time_texts(table: pa.Table, text: list[str]) -> dict[str, dict]:
    """The text columns that are a time column of the table written in one format, row for
    row where they have a value (``timetext`` entries; ``"has"``: where the text has a
    value, when that is not where the time has one)."""
    times = [c for c in table.column_names if pa.types.is_timestamp(table.schema.field(c).type)]
    out: dict[str, dict] = {}
    if not times or not table.num_rows:
        return out
    for c in text:
        col = table.column(c)
        if col.null_count == len(col):
            continue
        chunk, off, rows = _first_rows(col, 64)
        if not len(rows):
            continue
        first = plain(chunk.take(pa.array(rows[:1], pa.int64())))[0].as_py()
        guess = timetext.guess_format(first) if isinstance(first, str) else None
        if guess is None or len(col) * timetext.width(guess) >= 2**31 - 1:   # (one string array)
            continue
        for src in times:
            t = table.column(src)
            if not _sample_fits(chunk, off, t, guess, rows):
                continue
            full = plain(col).combine_chunks() if isinstance(col, pa.ChunkedArray) else plain(col)
            t1 = t.combine_chunks() if isinstance(t, pa.ChunkedArray) else t
            fmt = timetext.derive(full, t1)
            if fmt is None:
                continue
            entry = {"store": "timetext", "of": src, "format": fmt,
                     "bytes": (len(full) - full.null_count) * timetext.width(fmt)}
            if full.null_count != t1.null_count:
                entry["has"] = pc.is_valid(full)
            distinct = pc.count_distinct(t1.filter(pc.is_valid(full)) if full.null_count else t1).as_py()
            if distinct <= DISTINCT_SHARE * len(full):     # few values: decoded as a dictionary
                entry["dictionary"] = True
            out[c] = entry
            break
    return out


def _first_rows(col, k: int) -> tuple[pa.Array, int, np.ndarray]:
    """(chunk, its first row, up to k rows of it): the first rows where a column has a
    value, in its first chunk that has one among its first 4k rows (rows empty: none)."""
    off, ch = 0, col
    for ch in (col.chunks if isinstance(col, pa.ChunkedArray) else [col]):
        valid = np.flatnonzero(np.asarray(pc.is_valid(ch.slice(0, 4 * k))))
        if len(valid):
            return ch, off, valid[:k]
        off += len(ch)
    return ch, off, np.zeros(0, np.int64)


def _sample_fits(chunk, off: int, times, fmt: str, rows: np.ndarray) -> bool:
    """Whether the text of ``chunk`` at ``rows`` is ``times`` there (``off`` on) in ``fmt``."""
    text = plain(chunk.take(pa.array(rows, pa.int64())))
    when = times.take(pa.array(rows + off, pa.int64()))
    when = when.combine_chunks() if isinstance(when, pa.ChunkedArray) else when
    try:
        made = timetext.format_times(when, fmt)
    except ValueError:
        return False
    return bool(pc.all(pc.fill_null(pc.equal(text, made), False)).as_py())


def _reference(c: str, members: list[str], codes: dict, local_g: dict,
               nvalid: dict) -> dict | None:
    """``c`` equal to a raw column of its family (row for row, or where c has a value)."""
    valid = None
    for r in members:
        if not r.startswith("raw.") or len(local_g[r]) < len(local_g[c]) or nvalid[r] < nvalid[c]:
            continue
        if np.array_equal(codes[c], codes[r]):
            return {"store": "ref", "of": r}
        valid = codes[c] >= 0 if valid is None else valid
        if np.array_equal(codes[c][valid], codes[r][valid]):
            return {"store": "masked", "of": r, "mask_array": pa.array(valid)}
    return None


def layout_of(schema: pa.Schema) -> dict | None:
    meta = schema.metadata or {}
    raw = meta.get(LAYOUT_KEY)
    return json.loads(raw.decode()) if raw else None


def decoded_schema(stored: pa.Schema) -> pa.Schema:
    """The schema ``decode`` gives a stored segment of this schema, read from its footer
    (no column is touched)."""
    layout = layout_of(stored)
    if layout is None:
        return stored
    carriers = [f["carrier"] for f in layout["families"]]
    how = dict((c, h) for c, h in layout["columns"])

    def typ(c):
        h = how[c]
        s = h["store"]
        if s in ("plain", "carrier"):
            return stored.field(c).type
        if numcodec.is_plain_kind(h):
            return numcodec.parse_type(h)
        if s == "null":
            return pa.dictionary(pa.int8(), pa.string())
        if s == "timetext":
            return pa.dictionary(pa.int32(), pa.string()) if h.get("dictionary") else pa.string()
        if s in ("ref", "masked"):
            return typ(h["of"])
        values = stored.field(carriers[h["family"]]).type.value_type
        return pa.dictionary(stored.field(c).type, values)
    meta = {k: v for k, v in (stored.metadata or {}).items() if k != LAYOUT_KEY}
    return pa.schema([pa.field(c, typ(c)) for c, _ in layout["columns"]], metadata=meta)


def decode(stored: pa.Table, columns=None) -> pa.Table:
    """The events table of a stored segment: text columns as dictionary arrays.
    ``columns`` (names; None: all): only those of them the segment has, in table order,
    each the same column as in the whole table (nothing else is decoded)."""
    layout = layout_of(stored.schema)
    wanted = None if columns is None else set(columns)
    if layout is None:
        return stored if wanted is None else \
            stored.select([c for c in stored.column_names if c in wanted])
    n = layout["rows"]
    view = text_view(stored, layout)
    arrays, names = [], []
    for c, how in layout["columns"]:
        if wanted is not None and c not in wanted:
            continue
        if how["store"] == "plain":
            arrays.append(_one(stored.column(c)))
        elif numcodec.is_plain_kind(how):
            arrays.append(numcodec.decode_column(how, n, _stored_of(stored, c)))
        else:
            arrays.append(view.column(c))
        names.append(c)
    meta = {k: v for k, v in (stored.schema.metadata or {}).items() if k != LAYOUT_KEY}
    if not names:
        return pa.table({}).replace_schema_metadata(meta)
    t = pa.Table.from_arrays(arrays, names=names)
    assert t.num_rows == n
    return t.replace_schema_metadata(meta)


def _stored_of(stored: pa.Table, c: str):
    """What the segment stores for column c (None: nothing)."""
    return _one(stored.column(c)) if c in stored.column_names else None


def _one(col):
    return col.chunk(0) if isinstance(col, pa.ChunkedArray) and col.num_chunks == 1 else col


@dataclass
class Family:
    """One family's distinct strings and where each class of them starts."""
    values: pa.Array
    bounds: list[int]
    carrier: str


@dataclass
class Coded:
    """How one text column is stored: codes into its family's values (through ``local``
    when mapped), with ``mask`` (a boolean array) limiting a reference to the rows where
    the column has a value."""
    family: int
    codes: pa.Array
    local: np.ndarray | None = None
    mask: pa.Array | None = None


@dataclass
class Derived:
    """A text column made again from a time column: ``format`` (``edrql.timetext``) of
    ``times``, where ``has`` (a boolean array; None: where the time has a value)."""
    times: pa.Array
    format: str
    has: pa.Array | None = None
    dictionary: bool = False        # decoded as codes into its distinct texts

    def text(self) -> pa.Array:
        try:
            if self.dictionary:
                return timetext.format_distinct(self.times, self.format, self.has)
            return timetext.format_times(self.times, self.format, self.has)
        except ValueError as e:          # a damaged layout: read as damage, as Arrow's errors are
            raise pa.ArrowInvalid(f"a time text that cannot be written: {e}") from None


class TextView:
    """A compact segment's text: families and each text column's codes (no copies)."""

    def __init__(self, stored: pa.Table, layout: dict):
        self.num_rows = layout["rows"]
        self.how = dict((c, h) for c, h in layout["columns"])
        self.families: list[Family] = []
        for f in layout["families"]:
            carrier = _one(stored.column(f["carrier"]))
            self.families.append(Family(carrier.dictionary, f["bounds"], f["carrier"]))
        self.coded: dict[str, Coded] = {}
        for c, h in layout["columns"]:
            s = h["store"]
            if s == "carrier":
                self.coded[c] = Coded(h["family"], _one(stored.column(c)).indices)
            elif s == "member":
                local = None
                if h.get("mapped"):
                    local = np.frombuffer(stored.schema.field(c).metadata[MAP_KEY], "<i4")
                self.coded[c] = Coded(h["family"], _one(stored.column(c)), local)
        self.derived: dict[str, Derived] = {}
        for c, h in layout["columns"]:
            if h["store"] == "timetext":
                src = self.how[h["of"]]
                times = _one(stored.column(h["of"])) if src["store"] == "plain" \
                    else numcodec.decode_column(src, self.num_rows, _stored_of(stored, h["of"]))
                has = _one(stored.column(c)) if c in stored.column_names else None
                self.derived[c] = Derived(times, h["format"], has, bool(h.get("dictionary")))
            elif h["store"] in ("ref", "masked"):
                base = self.coded[h["of"]]
                mask = _one(stored.column(c)) if h["store"] == "masked" else None
                self.coded[c] = Coded(base.family, base.codes, base.local, mask)
        self._decoded: dict[str, pa.Array] = {}

    def text_columns(self) -> list[str]:
        """Every text column, all-null ones included, in table order."""
        return [c for c, h in self.how.items() if not numcodec.is_plain_kind(h)]

    def column(self, c: str) -> pa.Array:
        """Column c as a dictionary array (its family's strings, or its own small map)."""
        if c in self._decoded:
            return self._decoded[c]
        h = self.how[c]
        if h["store"] == "null":                 # one all-null array serves every such column
            out = self._decoded.get(None)
            if out is None:
                out = self._decoded[None] = numcodec.null_array(
                    pa.dictionary(pa.int8(), pa.string()), self.num_rows)    # (nothing written)
        elif h["store"] == "ref":
            out = self.column(h["of"])
        elif h["store"] == "timetext":
            out = self.derived[c].text()
        else:
            k = self.coded[c]
            values = self.families[k.family].values
            if k.local is not None:
                local = np.ascontiguousarray(k.local, "<i4")     # (pa.array(ndarray) imports numpy.ma)
                values = values.take(pa.Array.from_buffers(pa.int32(), len(local),
                                                           [None, pa.py_buffer(local)]))
            codes = k.codes
            if k.mask is not None:        # the reference's rows where this column has a value
                both = pc.and_(k.mask, pc.is_valid(codes))
                if both.offset == 0 and codes.offset == 0:
                    codes = pa.Array.from_buffers(codes.type, len(codes),
                                                  [both.buffers()[1], codes.buffers()[1]])
                else:
                    codes = pc.if_else(both, codes, pa.scalar(None, codes.type))
            out = pa.DictionaryArray.from_arrays(codes, values, safe=False)   # codes written by encode
        self._decoded[c] = out
        return out


def text_view(stored: pa.Table, layout: dict | None = None) -> TextView | None:
    """The search's view of a stored segment (None for a format 1 segment)."""
    layout = layout or layout_of(stored.schema)
    return TextView(stored, layout) if layout else None
