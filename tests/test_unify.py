"""unify_shared gives what pyarrow's unify_dictionaries gives, column for column, while a
set of dictionaries shared by several columns is unified once."""
from __future__ import annotations

import random

import pyarrow as pa
import pytest

from edrql.unify import data_key, unify_shared


def _dict_chunk(rng, dic: pa.Array, n: int, nulls: bool) -> pa.Array:
    idx = [None if nulls and rng.random() < 0.1 else rng.randrange(len(dic)) for _ in range(n)]
    return pa.DictionaryArray.from_arrays(pa.array(idx, pa.int32()), dic)


def _words(rng, k):
    return list(dict.fromkeys("".join(rng.choice("abcé日") for _ in range(rng.randint(1, 4)))
                             for _ in range(k)))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("chunks", [2, 3, 8, 12])
def test_unify_shared_equals_arrow(seed, chunks):
    rng = random.Random(seed)
    big = pa.array(_words(rng, 60), pa.string())
    dicts = [big] + [pa.array(_words(rng, rng.randint(1, 8)), pa.string()) for _ in range(chunks - 1)]
    if seed % 3 == 1:                                   # a larger dictionary later: the general path
        dicts[0], dicts[-1] = dicts[-1], dicts[0]
    sizes = [rng.randint(0, 30) for _ in dicts]
    cols = {}
    for c in ("a", "b", "c"):                            # a, b share every chunk's dictionary
        src = dicts if c != "c" else [pa.array(_words(rng, 5), pa.string()) for _ in dicts]
        cols[c] = pa.chunked_array([_dict_chunk(rng, d, k, nulls=c == "b") for d, k in zip(src, sizes)])
    cols["n"] = pa.chunked_array([pa.array(range(len(ch)), pa.int64()) for ch in cols["a"].chunks])
    table = pa.table(cols)
    got, want = unify_shared(table), table.unify_dictionaries()
    assert got.schema == want.schema
    for name in table.column_names:
        assert got.column(name).to_pylist() == want.column(name).to_pylist(), name
        if pa.types.is_dictionary(table.schema.field(name).type):
            assert all(ch.dictionary.equals(want.column(name).chunk(0).dictionary)
                       for ch in got.column(name).chunks), name
            # one dictionary for every chunk, not equal copies of it
            assert len({data_key(ch.dictionary) for ch in got.column(name).chunks}) == 1, name


def test_a_column_already_over_one_dictionary_is_left_as_it_is():
    dic = pa.array(["x", "y"])
    col = pa.chunked_array([pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int8()), dic),
                            pa.DictionaryArray.from_arrays(pa.array([1], pa.int8()), dic)])
    t = pa.table({"a": col})
    got = unify_shared(t).column("a")
    assert [data_key(ch.indices) for ch in got.chunks] == [data_key(ch.indices) for ch in col.chunks]
    assert got.to_pylist() == ["x", "y", "y"]


def test_a_value_new_in_two_small_chunks_is_added_once():
    big = pa.array(["a", "b", "c", "d"])
    s1, s2 = pa.array(["z", "a"]), pa.array(["b", "z", "q"])
    col = pa.chunked_array([pa.DictionaryArray.from_arrays(pa.array([0, 3]), big),
                            pa.DictionaryArray.from_arrays(pa.array([0, 1]), s1),
                            pa.DictionaryArray.from_arrays(pa.array([2, 1, 0]), s2)])
    got = unify_shared(pa.table({"a": col, "b": col})).column("b")
    assert got.to_pylist() == ["a", "d", "z", "a", "q", "z", "b"]
    assert got.chunk(0).dictionary.to_pylist() == ["a", "b", "c", "d", "z", "q"]
