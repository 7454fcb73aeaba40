"""The matcher's shortcuts give the answers of the plain path: short keys read from bytes,
keyword values narrowed by one RE2 pass, row sets joined by marks."""
from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from edrql.npkeys import distinct
from edrql.sigma import _match, engine
from edrql.sigma._match import STAR, Column
from edrql.sigma._plainfields import PlainFields
from edrql.sigma.rules import Test as STest

ALPHABET = "ab-t /İıſKk\u202eé日01"


def _values(rng, n):
    return [None if rng.random() < 0.05 else "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 7)))
            for _ in range(n)]


@pytest.mark.parametrize("seed", range(5))
def test_short_keys_from_bytes_equal_a_scan_of_each_value(seed):
    rng = random.Random(seed)
    vals = pa.array(sorted(set(v for v in _values(rng, 300) if v is not None)), pa.string())
    keys = {k: i for i, k in enumerate(["a", "-t", " ", "ab", "t/", "0", "10", "b-"])}
    got = _match._short_pairs(vals, keys, len(keys) + 3)
    want = {vi * (len(keys) + 3) + k for vi, v in enumerate(vals.to_pylist()) for key, k in keys.items() if key in v}
    assert sorted(got.tolist()) == sorted(want)


def test_short_keys_in_blocks_when_the_value_key_table_would_be_large(monkeypatch):
    rng = random.Random(9)
    vals = pa.array(sorted(set(v for v in _values(rng, 300) if v is not None)), pa.string())
    keys = {k: i for i, k in enumerate(["a", "-t", " ", "ab", "t/", "0", "10", "b-"])}
    whole = sorted(_match._short_pairs(vals, keys, 11).tolist())
    monkeypatch.setattr(_match, "_MARK_CELLS", 2 * len(vals))       # two keys per table
    assert sorted(_match._short_pairs(vals, keys, 11).tolist()) == whole and whole


def test_a_two_character_key_does_not_straddle_two_values():
    vals = pa.array(["xa", "by", "ab"], pa.string())
    got = _match._short_pairs(vals, {"ab": 0}, 1)
    assert got.tolist() == [2]                    # "xa" + "by" end to end hold "ab": not a match


def test_short_keys_of_a_sliced_array():
    vals = pa.array(["-t x", "zz", "a-t"], pa.string()).slice(1)
    assert sorted(_match._short_pairs(vals, {"-t": 0}, 1).tolist()) == [1]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("cased", [False, True])
def test_keyword_candidates_change_no_answer(seed, cased, monkeypatch):
    rng = random.Random(seed)
    table = pa.table({"a": _values(rng, 400), "b": _values(rng, 400), "c": _values(rng, 400)})
    fields = PlainFields(table)
    words = ["ab", "K", "ſ", "İ", "i", "é日", "-t /", "k0"]
    tests = [STest(None, "glob", (STAR, w, STAR), cased) for w in words] + \
            [STest(None, "glob", ("a", ("?",), "b"), cased)]
    rows = np.arange(table.num_rows, dtype=np.int64)

    class R:                                      # what Keywords reads of a rule
        pass
    r = R()
    r.tests = tests
    fast = engine.Keywords(fields, [r], rows)
    monkeypatch.setattr(engine, "_keyword_pattern", lambda ts: None)     # every value a candidate
    plain = engine.Keywords(fields, [r], rows)
    assert fast.failed == plain.failed == {}
    assert set(fast.codes) == set(plain.codes)
    for kt in plain.codes:
        assert fast.codes[kt].tolist() == plain.codes[kt].tolist(), kt
    assert any(len(c) for c in plain.codes.values())


def test_keyword_candidates_keep_every_value_for_a_wildcard_only_keyword():
    vals = pa.array(["x", "", "yy"], pa.string())
    got = engine._candidates(vals, engine._keyword_pattern([STest(None, "glob", (STAR, ("?",), STAR), False)]))
    assert got.tolist() == [0, 1, 2]


def test_keyword_candidates_fold_case_and_keep_non_ascii():
    vals = pa.array(["SEKURLSA::x", "nothing", "sekurlsa", "ſekurlsa", "日本"], pa.string())
    got = engine._candidates(vals, engine._keyword_pattern([STest(None, "glob", (STAR, "sekurlsa", STAR), False)]))
    assert got.tolist() == [0, 2, 3, 4]
    got = engine._candidates(vals, engine._keyword_pattern([STest(None, "glob", (STAR, "sekurlsa", STAR), True)]))
    assert got.tolist() == [2, 3, 4]


def test_a_keyword_column_no_value_of_which_can_match_is_not_read():
    table = pa.table({"hash": ["0a1b", "ffee"], "cmd": ["x sekurlsa::y", "z"],
                      "dict": pa.array(["a", "sekurlsa"]).dictionary_encode()})
    class R:
        tests = [STest(None, "glob", (STAR, "sekurlsa::", STAR), False)]
    kw = engine.Keywords(PlainFields(table, ["hash", "cmd", "dict"]), [R()], np.arange(2, dtype=np.int64))
    assert set(kw.cols) == {"\0cmd"}
    assert [kt.field for kt in kw.per_test[R.tests[0]]] == ["\0cmd"]
    # a small dictionary (searched first): a literal in an entry no row uses is no reason to read
    dic = pa.array(["a", "x SEKURLSA::y"])
    table = pa.table({"unused": pa.DictionaryArray.from_arrays(pa.array([0] * 8, pa.int8()), dic),
                      "used": pa.DictionaryArray.from_arrays(pa.array([0] * 7 + [1], pa.int8()), dic)})
    kw = engine.Keywords(PlainFields(table, ["unused", "used"]), [R()], np.arange(8, dtype=np.int64))
    assert set(kw.cols) == {"\0used"}
    assert kw.codes[[kt for kt in kw.per_test[R.tests[0]]][0]].tolist() == [1]


def test_union_of_row_sets_and_distinct():
    a, b = np.array([5, 1, 9], np.int64), np.array([1, 2, 9, 9], np.int64)
    assert engine._union_rows([a, b]).tolist() == [1, 2, 5, 9]
    rng = np.random.default_rng(1)
    x = rng.integers(-50, 50, 1000)
    assert distinct(x).tolist() == np.unique(x).tolist()
    assert distinct(np.zeros(0, np.int32)).dtype == np.int32 and distinct(np.array([3])).tolist() == [3]


def test_short_and_long_keys_together_match_a_plain_scan(monkeypatch):
    rng = random.Random(7)
    col = Column(pa.array(_values(rng, 500), pa.string()), 500)
    tests = [STest("f", "glob", (STAR, w, STAR), False) for w in ["a", "-t", "ab-", "k", "é"]] + \
            [STest("f", "glob", ("a", STAR), False), STest("f", "glob", (STAR, "b"), False)]
    fast = _match.match_tests(col, tests)
    monkeypatch.setattr(_match, "_automaton_pairs", _ref_pairs)
    slow = _match.match_tests(col, tests)
    for t in tests:
        assert fast[t].tolist() == slow[t].tolist(), t
    assert any(len(fast[t]) for t in tests)


def _ref_pairs(col, keys, cased, ek, et):
    """Every key by Python's `in` over the framed values (the reference)."""
    vals = (col.text if cased else col.lower).to_pylist()
    out = {}
    for ti in np.unique(et).tolist():
        ks = [key for key, k in keys.items() if k in set(ek[et == ti].tolist())]
        codes = [vi for vi, v in enumerate(vals)
                 if any(key.strip(_match._BEGIN + _match._END) in (v or "") and
                        (not key.startswith(_match._BEGIN) or (v or "").startswith(key.strip(_match._BEGIN + _match._END))) and
                        (not key.endswith(_match._END) or (v or "").endswith(key.strip(_match._BEGIN + _match._END)))
                        for key in ks)]
        if codes:
            out[ti] = np.array(codes, np.int32)
    return out
