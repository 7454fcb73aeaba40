"""The segment's value set in bounded memory (valueset.value_set): hashed per column, then
in disjoint parts, and renumbered so that it is exactly what one hash pass over every
piece gives (``unique`` + ``index_in``): the same values in the same order, the same ids."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from edrql import segcodec, valueset
from edrql.ingestsource import encode_block


def _one_pass(pieces: list[pa.Array]):
    every = pa.chunked_array(pieces)
    values = pc.unique(every)
    ids = np.concatenate([c.to_numpy(zero_copy_only=False)
                          for c in pc.index_in(every, value_set=values).chunks])
    return values, ids


def _columns(seed: int, n_columns=6, n_pieces=5):
    rng = np.random.default_rng(seed)
    words = ["", "a", "ab", "ba", "évil", "日本", "C:\\x\\y.exe", "C:\\x\\z.exe", "0x1F", "1f"] + \
        [f"v{i}" * (1 + i % 4) for i in range(300)]
    cols = []
    for _ in range(n_columns):
        pieces = []
        for _ in range(n_pieces):
            picked = rng.choice(len(words), size=int(rng.integers(1, 60)), replace=False)
            pieces.append(pa.array([words[i] for i in picked]))
        cols.append(pieces)
    cols.append(cols[1])            # a column sharing another's very dictionaries (a ref)
    return cols


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("parts", [1, 3, 8])
def test_the_value_set_is_what_one_hash_pass_gives(seed, parts, monkeypatch):
    monkeypatch.setattr(valueset, "PARTS", parts)
    cols = _columns(seed)
    flat = [d for c in cols for d in c]
    want_values, want_ids = _one_pass(flat)
    values, ids = valueset.value_set([list(c) for c in cols])
    assert values.to_pylist() == want_values.to_pylist()
    assert ids.tolist() == want_ids.tolist()


def test_large_string_pieces_and_a_single_column():
    pieces = [pa.array(["x", "", "y"], pa.large_string()), pa.array(["y", "z"], pa.large_string())]
    values, ids = valueset.value_set([list(pieces)])
    assert values.type == pa.large_string()
    assert values.to_pylist() == ["x", "", "y", "z"]
    assert ids.tolist() == [0, 1, 2, 2, 3]


def test_parts_are_disjoint_by_content():
    vals = pa.array(["", "a", "ab", "ba", "abc", "日本", "x" * 40, "y" * 40] * 3)
    part = valueset.part_of(vals, 5)
    by_value = {}
    for v, p in zip(vals.to_pylist(), part.tolist()):
        assert by_value.setdefault(v, p) == p          # equal values: the same part
    assert 0 <= part.min() and part.max() < 5
    assert len(set(part.tolist())) > 1                  # the values do spread over parts
    sliced = vals.slice(3, 10)                          # an array with an offset
    assert valueset.part_of(sliced, 5).tolist() == part[3:13].tolist()


def test_a_block_table_encodes_as_before_with_shared_dictionaries():
    """Normalized columns sharing raw dictionaries (the ingest's blocks) give the same
    segment as the same table with every column dictionary-encoded on its own."""
    n = 5000
    rng = np.random.default_rng(4)
    names = [f"C:\\p\\{i}.exe" for i in range(700)]
    raw = pa.array([names[i] if i % 5 else None for i in rng.integers(0, 700, n)])
    t = pa.table({"ts": pa.array(np.arange(n), pa.timestamp("ns", tz="UTC")),
                  "image": segcodec.plain(raw), "raw.FolderPath": raw,
                  "raw.Other": pa.array([names[i] for i in rng.integers(0, 50, n)])})
    blocks = encode_block(t)
    assert blocks.column("image").chunk(0).dictionary.buffers()[2].address == \
        blocks.column("raw.FolderPath").chunk(0).dictionary.buffers()[2].address
    a = segcodec.encode([blocks])
    b = segcodec.encode([segcodec.dictionary_batch(t)])
    assert a.equals(b)
    assert a.schema.metadata == b.schema.metadata
