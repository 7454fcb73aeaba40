"""Issue 11, "no crash": long and deep queries, defined results for edge values, and
errors (not internal errors) from the real CLI. The message texts themselves are
golden cases in tests/golden/errors.golden."""
from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pytest

from edrql.errors import ParseError
from edrql.parse import parse

MAX_DEPTH = 100          # docs/language.md, "Limits"
from edrql.query import execute_text, make_context


def _run(case, q):
    return execute_text(make_context(case), q)[-1].table


def _cli(case, q, *extra):
    """The query on standard input (-f -): a 10,000-term query exceeds one argv string."""
    return subprocess.run([sys.executable, "-m", "edrql", case.root, "-f", "-", *extra],
                          input=q, capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------- long and deep
def test_ten_thousand_or_terms_return_the_right_rows(example_case):
    names = ["powershell.exe", "rundll32.exe", "WINWORD.EXE"]
    terms = [f'name == "ioc{i}.exe"' for i in range(10_000 - len(names))]
    terms[1234:1234] = [f'name == "{n}"' for n in names]
    sweep = _run(example_case, "events | where " + " or ".join(terms) + " | count")
    want = _run(example_case, 'events | where name in ("powershell.exe", "rundll32.exe", '
                              '"winword.exe") | count')
    assert want["count"][0].as_py() > 0
    assert sweep["count"][0].as_py() == want["count"][0].as_py()


def test_or_sweep_mixed_with_other_terms_and_case(example_case):
    """Equality terms merged into one in (…) keep ==/=== semantics beside other terms."""
    q = ('events | where name == "POWERSHELL.EXE" or pid == 3876 or name == "nope" '
         'or name === "WINWORD.EXE" or name === "winword.exe" | count')
    want = ('events | where name in ("powershell.exe") or pid == 3876 '
            'or name in_cs ("WINWORD.EXE", "winword.exe") | count')
    assert _run(example_case, q)["count"][0] == _run(example_case, want)["count"][0]
    q_cs = 'events | where name === "POWERSHELL.EXE" or name === "nope" | count'
    assert _run(example_case, q_cs)["count"][0].as_py() == 0


def test_ten_thousand_and_terms(example_case):
    q = "events | where " + " and ".join(["isnotnull(name)"] * 10_000) + " | count"
    want = _run(example_case, "events | where isnotnull(name) | count")
    assert _run(example_case, q)["count"][0] == want["count"][0]


def test_or_tree_is_shallow():
    st = parse("events | where " + " or ".join(f"pid == {i}" for i in range(10_000)))[0]
    depth, node = 0, st.stages[0].expr
    while getattr(node, "op", None) == "or":
        node, depth = node.left, depth + 1
    assert depth <= 14


@pytest.mark.parametrize("make", [lambda n: "not " * n + "true",
                                  lambda n: "-" * n + "1",
                                  lambda n: "lower(" * n + "name" + ")" * n,
                                  lambda n: "+".join(["1"] * n)])
def test_deep_nesting_is_a_clear_error(make):
    with pytest.raises(ParseError) as ei:
        parse("events | where " + make(600))
    assert "nested too deeply" in ei.value.message
    assert ei.value.line == 1 and ei.value.column > 1


def test_nesting_within_the_limit_runs(example_case):
    q = "events | where " + "not " * (MAX_DEPTH - 2) + "true | count"   # an even number of nots
    assert _run(example_case, q)["count"][0].as_py() == 797


def test_deep_parentheses_are_not_nesting(example_case):
    q = "events | where " + "(" * 600 + 'name == "cmd.exe"' + ")" * 600 + " | count"
    assert _run(example_case, q).num_rows == 1


# ---------------------------------------------------------------- defined results
def test_division_by_zero_is_null(example_case):
    t = _run(example_case, "events | where isnotnull(pid) | extend a = pid / 0, b = pid % 0, "
                           "c = 1.5 / 0, d = 5m / 0 | project a, b, c, d | head 3")
    assert t.num_rows == 3
    for c in t.columns:
        assert c.null_count == 3


def test_float_remainder(example_case):
    t = _run(example_case, "events | extend x = 7.5 % 2, y = -7 % 3 | project x, y | head 1")
    assert t["x"][0].as_py() == 1.5 and t["y"][0].as_py() == -1       # sign of the dividend


def test_head_beyond_int64_means_all_rows(example_case):
    for stage in ("head 99999999999999999999", "tail 99999999999999999999",
                  "top 99999999999999999999 by ts"):
        t = _run(example_case, f"events | {stage} | extend one = 1 | stats n = sum(one)")
        assert t["n"][0].as_py() == 797


def test_timeline_of_one_nanosecond(example_case):
    t = _run(example_case, "events | timeline(1ns)")
    assert sum(t["count"].to_pylist()) == 797


def test_null_aggregations_are_defined(example_case):
    t = _run(example_case, "events | stats v = values(null), f = first(null), l = last(null), "
                           "n = dcount(null), c = count(null), s = sum(null)")
    row = t.to_pylist()[0]
    assert row["f"] is None and row["l"] is None and row["s"] is None
    assert row["n"] == 0 and row["c"] == 0


def test_duration_aggregations_stay_durations(example_case):
    t = _run(example_case, "events | where isnotnull(pstart) | extend d = ts - pstart "
                           "| stats mx = max(d), mn = min(d), s = sum(d), a = avg(d)")
    for name in ("mx", "mn", "s", "a"):
        assert pa.types.is_duration(t.schema.field(name).type), name
    mx, mn = t["mx"][0].cast(pa.int64()).as_py(), t["mn"][0].cast(pa.int64()).as_py()
    assert 0 <= mn <= t["a"][0].cast(pa.int64()).as_py() <= mx


def test_bin_floors_toward_the_past(example_case):
    t = _run(example_case, "events | extend b = bin(-7, 5), c = bin(ts, 1h) | project b, c, ts "
                           "| head 1")
    assert t["b"][0].as_py() == -10
    assert t["c"][0].value % (3600 * 10**9) == 0 and t["c"][0].value <= t["ts"][0].value


def test_date_compares_with_text(example_case):
    t = _run(example_case, 'events | where date(ts) == "2023-08-10" | count')
    assert t["count"][0].as_py() == 797


def test_second_search_replaces_matched(example_case):
    t = _run(example_case, 'events | search "powershell" | search "enc"')
    assert t.column_names.count("matched") == 1 and t.num_rows > 0


# ---------------------------------------------------------------- the real CLI
@pytest.mark.parametrize("query,message", [
    ("http | stats sum(url) by domain", "sum() needs numbers"),
    ("events | where " + "not " * 600 + "true", "nested too deeply"),
    ("events | where pid == 99999999999999999999", "number too large"),
    ("events | project - file", "file is text"),
])
def test_cli_user_errors_exit_1_with_a_caret(example_case, query, message):
    p = _cli(example_case, query)
    assert p.returncode == 1, p.stderr
    assert message in p.stderr and "^" in p.stderr
    assert "internal error" not in p.stderr and "Traceback" not in p.stderr


def test_cli_ten_thousand_or_terms(example_case):
    q = "events | where " + " or ".join(f'name == "x{i}.exe"' for i in range(9_999)) + \
        ' or name == "powershell.exe" | count'
    p = _cli(example_case, q, "--format", "csv")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[1] == "8"


def test_in_with_floats_on_an_integer_column(example_case):
    t = _run(example_case, "events | where pid in (6640.0, 9223372036854775807, 1.5) | count")
    want = _run(example_case, "events | where pid == 6640 | count")
    assert t["count"][0] == want["count"][0] and want["count"][0].as_py() > 0
