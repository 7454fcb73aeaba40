"""The distinct strings of a segment's text columns, hashed in bounded memory (the first
step of ``edrql.segcodec.encode``): every column's pieces' dictionaries → one value set
and each piece value's id into it, ids in order of first appearance (what one hash pass
over all pieces would give, so segments are byte-identical to that)."""
from __future__ import annotations

import concurrent.futures as cf

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PARTS = 8      # the value set is hashed in this many disjoint parts, two at a time


def value_set(columns: list[list[pa.Array]]) -> tuple[pa.Array, np.ndarray]:
    """The distinct values of every piece's dictionary (``columns``: each text column's
    pieces' dictionaries), and each piece value's id into them, pieces in order.

    Bounded memory: a hash table over all of a big segment's values at once (~6M distinct
    strings) costs about four times their size on top of them. So each column's pieces are
    first made one (a hash pass per column, its pieces' plain values released as it goes),
    then the columns' distinct values are split into :data:`PARTS` parts by a hash of their
    bytes (equal values always fall in the same part, so the parts are disjoint) and each
    part is hashed on its own, two parts at a time (Arrow's kernels release the GIL). A
    dictionary that several columns share (a normalized column holding a raw column's
    values has its very dictionaries) is hashed once."""
    values: dict = {}        # distinct column (its pieces' dictionaries) → its distinct values
    per_column = []          # (that key, one id map per piece into those values)
    maps_of: dict = {}
    for ds in columns:
        key = tuple(buffers_of(d) for d in ds)
        if key not in values:
            enc = pc.dictionary_encode(pa.chunked_array(ds))
            values[key] = enc.chunk(0).dictionary
            maps_of[key] = [ch.indices.to_numpy(zero_copy_only=False) for ch in enc.chunks]
            del enc
        ds.clear()                                     # (the caller's list: nothing else holds them)
        per_column.append((key, maps_of[key]))
    del maps_of
    vtype = next(iter(values.values())).type
    sizes: dict = {}         # distinct column → its number of values
    split = []               # per distinct column: per part, (positions, values)
    for key in list(values):
        u = values.pop(key)                            # (each column's values go once split)
        sizes[key] = len(u)
        part = part_of(u, PARTS)
        at = [np.flatnonzero(part == k).astype(np.int32) for k in range(PARTS)]
        split.append([(a, u.take(pa.Array.from_buffers(pa.int32(), len(a), [None, pa.py_buffer(a)])))
                      for a in at])
        del u, part

    def one_part(k):            # (the part's values, and the ids of each column's values in it)
        has = [j for j, sp in enumerate(split) if len(sp[k][0])]
        if not has:
            return pa.array([], vtype), {}
        enc = pc.dictionary_encode(pa.chunked_array([split[j][k][1] for j in has]))
        assert enc.num_chunks == len(has)
        return enc.chunk(0).dictionary, dict(zip(has, (ch.indices.to_numpy(zero_copy_only=False)
                                                       for ch in enc.chunks)))
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        parts = list(pool.map(one_part, range(PARTS)))
    base = np.cumsum([0] + [len(v) for v, _ in parts])
    maps = {}
    for j, key in enumerate(sizes):
        m = np.empty(sizes[key], np.int32)
        for k in range(PARTS):
            if j in parts[k][1]:
                m[split[j][k][0]] = parts[k][1][j] + base[k]
        maps[key] = m
    split = None
    # the ids in order of first appearance, column by column, as one hash pass gives them
    size, total = int(base[-1]), sum(sizes.values())
    wide = np.int64 if total >= 2**31 - 1 else np.int32
    first, at = np.empty(size, wide), total
    for key in reversed(sizes):              # (the earliest column writes last)
        at -= sizes[key]
        first[maps[key]] = np.arange(at, at + sizes[key], dtype=wide)
    slot = np.full(total, -1, wide)          # (first positions are distinct: placed, not sorted)
    slot[first] = np.arange(size, dtype=wide)
    del first
    order = slot[slot >= 0].astype(np.int64)
    del slot
    renumber = np.empty(size, np.int32)
    renumber[order] = np.arange(size, dtype=np.int32)
    pa.default_memory_pool().release_unused()   # (the hash tables' memory: what follows is big blocks)
    # one array first, the parts let go, then the take: a take over the chunked parts would
    # hold the parts, their concatenation and the result at once
    whole = pa.concat_arrays([v for v, _ in parts]) if parts else pa.array([], vtype)
    del parts
    gvals = whole.take(pa.Array.from_buffers(pa.int64(), size, [None, pa.py_buffer(order)]))
    del whole, order
    gids = np.empty(sum(len(piece) for _, pieces in per_column for piece in pieces), np.int32)
    at = 0
    for key, pieces in per_column:
        for piece in pieces:
            gids[at:at + len(piece)] = renumber[maps[key][piece]]
            at += len(piece)
    return gvals, gids


def part_of(values: pa.Array, parts: int) -> np.ndarray:
    """Each value's part (0..parts-1), a function of its bytes (its length and last two
    bytes): vectorized over the offsets, nothing copied."""
    n = len(values)
    bufs = values.buffers()
    wide = pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type)
    off = np.frombuffer(bufs[1], np.int64 if wide else np.int32)[values.offset:values.offset + n + 1]
    length = np.diff(off)
    if bufs[2] is None or bufs[2].size == 0 or n == 0:
        return (length % parts).astype(np.int8)
    data = np.frombuffer(bufs[2], np.uint8)
    end = off[1:]
    h = np.where(length >= 1, data[np.maximum(end - 1, 0)], 0).astype(np.int32) * 31
    h += np.where(length >= 2, data[np.maximum(end - 2, 0)], 0).astype(np.int32) * 7
    h += (length % parts).astype(np.int32)
    return (h % parts).astype(np.int8)


def buffers_of(d: pa.Array):
    """What makes two dictionaries the very same values: their buffers, offset and length."""
    return tuple(b.address if b is not None else 0 for b in d.buffers()) + (d.offset, len(d), d.type)
