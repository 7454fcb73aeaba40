"""One dictionary per text column over several chunks, built once per set of dictionaries
the columns share.

A compact segment stores a family of overlapping columns (``raw.FolderPath``, ``image``,
…) over one dictionary of distinct strings (edrql/segcodec.py), so after decoding, the
columns of a family hold the same dictionary array. Concatenating segments needs each
column's chunks over one dictionary; ``pa.Table.unify_dictionaries`` builds it column by
column, hashing a family's strings again for every member (on a 2.2M-row Defender case,
67 columns over 37 distinct dictionaries: 15 s). Here the columns whose chunks hold the
same dictionaries are unified together: one ``dictionary_encode`` of those dictionaries
end to end gives the unified values (in first-seen order, as Arrow's unification orders
them) and, for every chunk, where each of its entries went; a chunk's indices are then
remapped with one ``take``. A table of more than ``MAX_CHUNKS`` chunks (many small
segments) is left to Arrow's unification, which is faster there.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def data_key(arr: pa.Array) -> tuple:
    """The identity of an array's data (same buffers, offset and length: the same values)."""
    return (arr.offset, len(arr)) + tuple(b.address if b is not None else 0 for b in arr.buffers())


#: above this many chunks (segments), Arrow's own unification, column by column in C++, is
#: faster than this module's few Python steps per chunk and column (a case of 68 small
#: segments × 300 columns: 0.9 s against 2.6 s)
MAX_CHUNKS = 8


def unify_shared(table: pa.Table) -> pa.Table:
    """``table.unify_dictionaries()`` with each shared set of dictionaries unified once."""
    if not table.num_columns or table.column(0).num_chunks > MAX_CHUNKS:
        return table.unify_dictionaries()
    groups: dict[tuple, list[int]] = {}
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            col = table.column(i)
            groups.setdefault(tuple(data_key(ch.dictionary) for ch in col.chunks), []).append(i)
    arrays = list(table.columns)
    for key, members in groups.items():
        if len(set(key)) <= 1:                     # one dictionary for every chunk already
            continue
        first = table.column(members[0])
        values, maps = _unified([ch.dictionary for ch in first.chunks])
        for i in members:
            col = table.column(i)
            index_type = col.type.index_type
            chunks = [pa.DictionaryArray.from_arrays(
                ch.indices if maps[k] is None else pc.take(maps[k], ch.indices).cast(index_type), values)
                for k, ch in enumerate(col.chunks)]
            arrays[i] = pa.chunked_array(chunks, type=col.type)
    return pa.Table.from_arrays(arrays, schema=table.schema)


def _unified(dicts: list[pa.Array]) -> tuple[pa.Array, list[pa.Array | None]]:
    """(the unified values, per dictionary where each entry went: None when unchanged).

    When the first dictionary is the largest and the others are few (one large segment and
    a few small later ones, the usual case after an added export), each other dictionary is
    looked up by probing the first one against it (a hash table of the small one: 30 ms for
    1.9M strings, where hashing the large one costs 0.65 s), the first keeps its indices,
    and only the new values are appended, in the order Arrow's unification gives them."""
    first, rest = dicts[0], dicts[1:]
    if len(first) >= max(len(d) for d in rest) and first.null_count == 0:
        maps: list[pa.Array | None] = [None]
        news, spots = [], []
        for d in rest:
            at = pc.fill_null(pc.index_in(first, value_set=d), -1).to_numpy()   # first → d
            pos = np.flatnonzero(at >= 0)
            spot = np.full(len(d), -1, np.int64)
            spot[at[pos][::-1]] = pos[::-1]                        # the first equal entry wins
            new = np.flatnonzero(spot < 0)
            news.append(d.take(pa.array(new)))
            spots.append((spot, new))
        if any(len(n) for n in news):
            enc = pc.dictionary_encode(pa.concat_arrays(news))
            extra, where = enc.dictionary, enc.indices.to_numpy(zero_copy_only=False)
        else:
            extra, where = first.slice(0, 0), np.zeros(0, np.int64)
        done = 0
        for spot, new in spots:
            spot[new] = len(first) + where[done:done + len(new)]
            done += len(new)
            maps.append(pa.array(spot))
        return pa.concat_arrays([first, extra]), maps
    enc = pc.dictionary_encode(pa.concat_arrays(dicts))
    values, where = enc.dictionary, enc.indices
    maps, start = [], 0
    for d in dicts:
        maps.append(where.slice(start, len(d)))
        start += len(d)
    return values, maps
