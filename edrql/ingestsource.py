"""One source read, normalized and made compact, block by block (bounded memory).

A CSV export is parsed in blocks of about :data:`BLOCK` bytes (``EDRQL_INGEST_BLOCK``
overrides it); each block is normalized on one of two threads (Arrow's kernels release
the GIL), its store table built (normalized + ``raw.*`` columns, rows without a usable
timestamp set aside for quarantine) and dictionary-encoded at once, so that what is kept
is codes plus each block's distinct values, never the whole source as plain strings.
Duplicates within the source (the first occurrence of the vendor's record key is kept)
are found on dictionary codes. Deduplication against earlier sources, writing and the
commit belong to the case's writer (:mod:`edrql.ingest`); this module runs in the writer
or in a reading process (:mod:`edrql.ingestpool`) and imports nothing of the store.
"""
from __future__ import annotations

import concurrent.futures as cf
import os
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import profiles
from .normalize import Ctx, Normalized, build
from .readers import SourceError, read_stream
from .readers.base import Input, Quarantined
from .schema import RAW_PREFIX
from .numcodec import null_array
from .segcodec import dictionary_batch

BLOCK = 16 << 20                 # bytes of CSV per block
PARALLEL_ROWS = 400_000          # a one-batch source this large is normalized as two halves


def block_size(given: int | None = None) -> int:
    """The block size: ``given``, else ``EDRQL_INGEST_BLOCK`` (bytes), else :data:`BLOCK`."""
    if given:
        return given
    env = os.environ.get("EDRQL_INGEST_BLOCK", "")
    return int(env) if env.isdigit() and int(env) > 0 else BLOCK


CODE_ROWS = 32767               # rows per encoded chunk: its codes fit in int16
CODES = pa.int16()


def encode_block(table: pa.Table) -> pa.Table:
    """A block's store table made compact: every text column dictionary-encoded
    (:func:`dictionary_batch`) with ``int16`` codes (chunks of at most :data:`CODE_ROWS`
    rows), a normalized column that holds a raw column's very values (the same buffers:
    ``col``/``pick``/``mask_where`` give them, with only a validity bitmap of their own)
    as the raw column's codes and dictionary, and a column without any value as nulls over
    one shared zero buffer."""
    n = table.num_rows
    if n > CODE_ROWS:
        parts = [encode_block(table.slice(i, CODE_ROWS)) for i in range(0, n, CODE_ROWS)]
        return pa.concat_tables(parts)
    table = table.combine_chunks() if any(c.num_chunks > 1 for c in table.columns) else table
    raw_names = [c for c in table.column_names if c.startswith(RAW_PREFIX)]
    raw = dictionary_batch(table.select(raw_names))
    by_buffers = {}
    for name in raw_names:
        plain, enc = table.column(name), raw.column(name)
        if plain.num_chunks == 1 and enc.num_chunks == 1:
            key = _buffers_key(plain.chunk(0))
            if key:
                by_buffers[key] = (plain.chunk(0), enc.chunk(0))
    done = {}
    for name in table.column_names:
        col = table.column(name)
        if col.null_count == n and n:
            t = pa.dictionary(CODES, pa.string()) if pa.types.is_string(col.type) else col.type
            done[name] = pa.chunked_array([null_array(t, n)])
        elif not name.startswith(RAW_PREFIX) and pa.types.is_string(col.type) and col.num_chunks == 1:
            hit = by_buffers.get(_buffers_key(col.chunk(0)))
            if hit is not None:
                done[name] = pa.chunked_array([_same_codes(col.chunk(0), *hit)])
    others = [c for c in table.column_names if not c.startswith(RAW_PREFIX) and c not in done]
    rest = dictionary_batch(table.select(others))
    cols = [done[c] if c in done else raw.column(c) if c.startswith(RAW_PREFIX) else rest.column(c)
            for c in table.column_names]
    return pa.Table.from_arrays([_narrow(c) for c in cols], names=table.column_names)


def _buffers_key(ch: pa.Array):
    b = ch.buffers()
    return (b[1].address, b[2].address, ch.offset, len(ch)) if len(b) > 2 and b[2] is not None else None


def _narrow(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Dictionary codes as int16 (a chunk has at most CODE_ROWS rows, so they fit)."""
    if not pa.types.is_dictionary(col.type) or col.type.index_type == CODES:
        return col
    t = pa.dictionary(CODES, col.type.value_type)
    return pa.chunked_array([pa.DictionaryArray.from_arrays(ch.indices.cast(CODES), ch.dictionary)
                             for ch in col.chunks], t)


def _same_codes(ch: pa.Array, plain: pa.Array, enc: pa.DictionaryArray) -> pa.DictionaryArray:
    """``ch`` (the values of ``plain`` where ``ch`` is valid) as ``enc``'s codes, nulls masked."""
    if ch.null_count == 0 and plain.null_count == 0:
        return enc
    valid = pc.is_valid(ch)
    if plain.null_count:
        valid = pc.and_(valid, pc.is_valid(plain))
    idx = enc.indices if enc.indices.offset == 0 else pa.concat_arrays([enc.indices])
    nulls = len(ch) - (pc.sum(valid).as_py() or 0)
    bitmap = valid.buffers()[1] if valid.offset == 0 else pa.concat_arrays([valid]).buffers()[1]
    codes = pa.Array.from_buffers(idx.type, len(idx), [bitmap if nulls else None, idx.buffers()[1]],
                                  null_count=nulls)
    return pa.DictionaryArray.from_arrays(codes, enc.dictionary)


@dataclass
class Prepared:
    """A source ready for the writer: its compact rows (within-source duplicates removed)
    and its accounting."""
    name: str
    fmt: str
    encoding: str
    records_read: int
    profile: str
    table: pa.Table | None
    quarantined: list[Quarantined] = field(default_factory=list)
    duplicates: int = 0
    tz_decision: str = ""
    notes: list[str] = field(default_factory=list)
    key_fields: list[str] | None = None


def merge_decisions(decisions: list[str]) -> str:
    """One time-zone decision for a source from its blocks' decisions: each part once, in
    order of first appearance; "no time values" only when no block had any."""
    parts: dict[str, None] = {}
    for d in decisions:
        for p in d.split("; ") if d else []:
            parts.setdefault(p, None)
    if len(parts) > 1:
        parts.pop("no time values", None)
    if "explicit zone in values" in parts:       # as a one-block parse words it: first
        parts = {"explicit zone in values": None, **parts}
    return "; ".join(parts)


def normalize_parallel(profile, raw: pa.Table, ctx: Ctx) -> Normalized:
    """Normalize a large one-batch source as two row halves on two threads (Arrow's kernels
    release the GIL), then join the halves' columns without copying."""
    n = raw.num_rows
    if n < PARALLEL_ROWS:
        return profile.normalize(raw, ctx)
    half = n // 2
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        fa = pool.submit(profile.normalize, raw.slice(0, half), Ctx(ctx.tz, ctx.tz_given))
        fb = pool.submit(profile.normalize, raw.slice(half), Ctx(ctx.tz, ctx.tz_given))
        a, b = fa.result(), fb.result()

    def join(x, y):
        xs = x.chunks if isinstance(x, pa.ChunkedArray) else [x]
        ys = y.chunks if isinstance(y, pa.ChunkedArray) else [y]
        t = xs[0].type if xs else ys[0].type
        ys = [c if c.type == t else c.cast(t) for c in ys]
        return pa.chunked_array(xs + ys, t)
    cols = {}
    for k in a.columns.keys() | b.columns.keys():
        x = a.columns.get(k, pa.nulls(half, b.columns[k].type if k in b.columns else pa.string()))
        y = b.columns.get(k, pa.nulls(n - half, x.type))
        cols[k] = join(x, y)
    errors = None
    if a.errors is not None or b.errors is not None:
        errors = join(a.errors if a.errors is not None else pa.nulls(half, pa.string()),
                      b.errors if b.errors is not None else pa.nulls(n - half, pa.string()))
    decisions = [d for d in dict.fromkeys([a.tz_decision, b.tz_decision]) if d]
    return Normalized(cols, "; ".join(decisions), errors)


def detect_profile(inp: Input, batch, mapping_profile):
    """The profile for a source's fields (a mapping file's first), or SourceError."""
    columns = set(batch.table.column_names)
    profile = mapping_profile if mapping_profile is not None and \
        mapping_profile.detect(columns) > 0 else profiles.detect(columns)
    if profile is None:
        if batch.table.num_rows == 0 and batch.records_read == 0:
            raise SourceError(f"{inp.name}: no records (header only?): nothing to ingest")
        shown = ", ".join(sorted(columns)[:12]) + (" …" if len(columns) > 12 else "")
        raise SourceError(f"{inp.name}: unknown format ({batch.fmt} with fields: {shown}); "
                          "describe it in a mapping file and pass --mapping FILE")
    return profile


def prepare(inp: Input, encoding: str | None, ctx: Ctx, mapping_profile=None,
            block: int | None = None, phase=None) -> Prepared:
    """Read, normalize and encode one source, block by block (see the module text)."""
    phase = phase or (lambda name, source="": None)
    profile = None
    state: dict = {}

    def reset():
        state.update(tables=[], quarantined=[], decisions=[], records_read=0, last=None)

    def work(piece):
        try:
            norm = normalize_parallel(profile, piece.table, Ctx(ctx.tz, ctx.tz_given))
        except SourceError as e:
            raise SourceError(f"{inp.name}: {e}") from None
        table, bad = build(piece, norm, profile.vendor, inp.name)
        return encode_block(table), bad, norm.tz_decision

    def take(fut, piece):
        table, bad, decision = fut.result()
        state["tables"].append(table)
        state["quarantined"].extend(list(piece.quarantine) + bad)
        state["decisions"].append(decision)
        state["records_read"] += piece.records_read
        state["last"] = piece

    reset()
    pending: list = []
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        for piece in read_stream(inp, encoding, block_size(block)):
            if piece is None:                   # the reader starts the source again
                for fut, _ in pending:
                    fut.cancel()
                cf.wait([f for f, _ in pending])
                pending = []
                reset()
                continue
            if profile is None:
                profile = detect_profile(inp, piece, mapping_profile)
                phase("normalize", inp.name)
            pending.append((pool.submit(work, piece), piece))
            while len(pending) > 2:             # two blocks in work, one being read
                take(*pending.pop(0))
        for fut, piece in pending:
            take(fut, piece)
    last = state["last"]
    tables = state["tables"]
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
    phase("dedup", inp.name)
    key_fields = profile.dedup_key_for(set(last.table.column_names)) \
        if hasattr(profile, "dedup_key_for") else profile.dedup_key
    duplicates = 0
    if table.num_rows and key_fields and all(RAW_PREFIX + k in table.column_names for k in key_fields):
        keep = first_occurrences(table, [RAW_PREFIX + k for k in key_fields])
        duplicates = table.num_rows - int(keep.sum())
        if duplicates:
            table = table.filter(pa.array(keep))
    return Prepared(inp.name, last.fmt, last.encoding, state["records_read"], profile.name, table,
                    state["quarantined"], duplicates, merge_decisions(state["decisions"]),
                    list(last.notes), key_fields)


def codes(column) -> np.ndarray:
    """int64 codes of a text column, equal for equal values across its chunks; null → 0.
    A dictionary column's own codes are used (its chunks' dictionaries unified)."""
    if isinstance(column, pa.Array):
        column = pa.chunked_array([column])
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    elif column.type.index_type != pa.int32():          # unified codes need room
        column = column.cast(pa.dictionary(pa.int32(), column.type.value_type))
    column = column.unify_dictionaries()
    if column.num_chunks == 0:
        return np.zeros(0, np.int64)
    idx = [pc.fill_null(ch.indices.cast(pa.int64()), -1) for ch in column.chunks]
    out = pa.chunked_array(idx, pa.int64()).to_numpy()
    return out + 1


def first_occurrences(table: pa.Table, fields: list[str]) -> np.ndarray:
    """True for the first row of each distinct key (dictionary codes, one hash pass)."""
    from .npkeys import dense_ids, first_of_each
    with cf.ThreadPoolExecutor(max_workers=2) as pool:   # Arrow releases the GIL
        parts = list(pool.map(lambda f: codes(table.column(f)), fields))
    keep = first_of_each(dense_ids(*parts))
    # a row missing part of the key (code 0: null) is not identified by it: kept (two such
    # rows of one source are two records; 68,058 of 70,000 OTRF records without
    # RecordNumber had collapsed onto one null key)
    for p in parts:
        keep |= p == 0
    return keep
