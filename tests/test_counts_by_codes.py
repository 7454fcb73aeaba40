"""`stats count() by KEY` on a dictionary-coded key is counted from the codes: the groups and
counts Arrow's group_by gives, in the documented order (first appearance; docs/language.md),
the null key one group. (Arrow's group_by on a dictionary key with nulls does not keep first
appearance: this path does.)"""
from collections import Counter
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from edrql.summarize import _counts_by_codes

ALL = pc.CountOptions(mode="all")


def _tables(seed, n, m, nulls):
    rng = np.random.default_rng(seed)
    vals = [f"v{i}" for i in range(m)]
    keys = [None if nulls and rng.random() < 0.1 else vals[int(rng.integers(0, m))] for _ in range(n)]
    key = pa.array(keys, pa.string()).dictionary_encode()
    return pa.table({"k": pa.chunked_array([key]), "__a0": pa.nulls(n, pa.int8()),
                     "__a1": pa.nulls(n, pa.int8())})


@pytest.mark.parametrize("seed,n,m,nulls", [(1, 0, 3, False), (2, 1, 1, False), (3, 500, 7, True),
                                            (4, 5000, 300, True), (5, 2000, 40, False)])
def test_counts_by_codes_are_group_bys(seed, n, m, nulls):
    t = _tables(seed, n, m, nulls)
    specs = [("__a0", "count", ALL), ("__a1", "count", ALL)]
    got = _counts_by_codes(t, ["k"], specs)
    keys = t.column("k").cast(pa.string()).to_pylist()
    order = list(dict.fromkeys(keys))
    assert got.column("k").cast(pa.string()).to_pylist() == order
    want = t.group_by(["k"], use_threads=False).aggregate([(s, f, o) for s, f, o in specs])
    arrow = dict(zip(want.column("k").cast(pa.string()).to_pylist(), want.column("__a0_count").to_pylist()))
    counts = Counter(keys)
    for s, f, _ in specs:
        assert got.column(f"{s}_{f}").to_pylist() == [counts[k] for k in order] == [arrow[k] for k in order]


def test_other_aggregations_and_keys_take_group_by():
    t = _tables(6, 100, 5, True)
    assert _counts_by_codes(t, ["k"], [("__a0", "count", pc.CountOptions(mode="only_valid"))]) is None
    assert _counts_by_codes(t, ["k"], [("__a0", "sum", None)]) is None
    assert _counts_by_codes(t, ["k", "__a1"], [("__a0", "count", ALL)]) is None
    plain = t.set_column(0, "k", t.column("k").cast(pa.string()))
    assert _counts_by_codes(plain, ["k"], [("__a0", "count", ALL)]) is None


def test_other_aggregations_by_a_coded_key_with_nulls_keep_first_appearance():
    from edrql.expr import Scope
    from edrql.parse import parse
    from edrql.summarize import stats
    keys = ["c", None, "a", "c", "b", None, "a"]
    t = pa.table({"k": pa.array(keys).dictionary_encode(), "n": pa.array([1, 2, 3, 4, 5, 6, 7])})
    st = parse("t | stats max(n), count() by k")[0].stages[0]

    class Ctx:
        scope = Scope()
    out = stats(t, st.aggs, st.by, Ctx())
    assert out.column("k").to_pylist() == ["c", None, "a", "b"]
    assert out.column("max_n").to_pylist() == [4, 6, 7, 5]
