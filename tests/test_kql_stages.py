"""KQL's tabular operators, summarize aggregations, sort direction, comments and the
errors that teach (issue 12). Golden cases are in tests/golden/kql_stages.golden and
kql_errors.golden; these tests check the rules against independent computations."""
from __future__ import annotations

import csv
import math
import random
from datetime import datetime

import pyarrow as pa
import pytest

from conftest import shared
from edrql import kqlhints
from edrql.errors import ParseError, QueryError
from edrql.execute import Context, needed_columns
from edrql.functions import AGGREGATIONS, FUNCTIONS, STAGES
from edrql.parse import parse
from edrql.catalog import schema_kinds
from edrql.plan import Planner
from edrql.projectops import output_names
from edrql.query import execute_text, make_context
from edrql.render import py_rows
from edrql.summarize import stats


def _stage(q: str):
    return parse("t | " + q)[0].stages[0]


def _summarize(t: pa.Table, q: str) -> pa.Table:
    st = _stage(q)
    Planner({"t": schema_kinds(t.schema)}, set()).stage(st, schema_kinds(t.schema))
    return stats(t, st.aggs, st.by, Context(case=None))


# ---------------------------------------------------------------- comments and statements
def test_slash_comments_everywhere_but_in_strings():
    sts = parse('// head\nevents // after the table\n| where url == "http://a//b" // tail\n'
                '# old style\n\nevents | count')
    assert len(sts) == 2
    where = sts[0].stages[0]
    assert where.expr.right.value == "http://a//b"


def test_a_pipe_at_line_start_continues_after_blank_and_comment_lines():
    sts = parse("let a = 1;\nevents\n| where pid == a\n\n// more\n\n| project pid\n\nevents | count")
    assert [type(s).__name__ for s in sts] == ["Let", "Pipeline", "Pipeline"]
    assert [type(s).__name__ for s in sts[1].stages] == ["Where", "Project"]


def test_missing_semicolon_after_let_points_at_the_let():
    with pytest.raises(ParseError) as ei:
        parse("// c\nlet x = 5   // five\nevents | where pid == x")
    e = ei.value
    assert "without ';'" in e.message and (e.line, e.column) == (2, 10)
    assert "end the let with ';'" in e.hint


# ---------------------------------------------------------------- sort
def _sort_rows(case, q):
    return [r["pid"] for r in py_rows(execute_text(make_context(case), q)[-1].table)]


def test_sort_default_is_descending_and_matches_top(example_case):
    a = _sort_rows(example_case, "events | where isnotnull(pid) | sort by ts | take 10 | project pid")
    b = _sort_rows(example_case, "events | where isnotnull(pid) | top 10 by ts | project pid")
    c = _sort_rows(example_case, "events | where isnotnull(pid) | sort by ts desc | take 10 | project pid")
    assert a == b == c
    asc = _sort_rows(example_case, "events | where isnotnull(pid) | sort by ts asc | project pid")
    assert a != asc[:10]


def test_nulls_follow_kql_defaults_and_keywords(example_case):
    def col(q):
        return [r["rport"] for r in py_rows(execute_text(make_context(example_case), q)[-1].table)]
    asc = col("events | distinct rport | sort by rport asc")
    desc = col("events | distinct rport | sort by rport")
    assert asc[0] is None and desc[-1] is None
    assert col("events | distinct rport | sort by rport asc nulls last")[-1] is None
    assert col("events | distinct rport | sort by rport desc nulls first")[0] is None
    present = [x for x in asc if x is not None]
    assert present == sorted(present) and [x for x in desc if x is not None] == sorted(present)[::-1]


def test_multi_key_sort_mixes_directions_and_keeps_ties_in_order():
    t = pa.table({"k": [1, 2, 1, 2, 1], "v": ["a", "b", "c", "d", "e"], "i": [0, 1, 2, 3, 4]})
    from edrql.execute import _sort
    out = _sort(t, _stage("sort by k asc").keys, Context(case=None))
    assert out["i"].to_pylist() == [0, 2, 4, 1, 3]          # stable within k
    out = _sort(t, _stage("sort by k, v asc").keys, Context(case=None))
    assert out["v"].to_pylist() == ["b", "d", "a", "c", "e"]


# ---------------------------------------------------------------- column operators
COLS = ["ts", "DeviceId", "DeviceName", "InitiatingProcessId", "InitiatingProcessFileName", "pid"]


@pytest.mark.parametrize("q,expect", [
    ("project-away Initiating*", ["ts", "DeviceId", "DeviceName", "pid"]),
    ("project-away *Id, ts", ["DeviceName", "InitiatingProcessFileName", "pid"]),
    ("project-keep pid, Device*", ["DeviceId", "DeviceName", "pid"]),
    ("project-keep *id", ["pid"]),                        # patterns are case-sensitive
    ("project-reorder pid, *Name", ["pid", "DeviceName", "InitiatingProcessFileName", "ts",
                                    "DeviceId", "InitiatingProcessId"]),
    ("project-rename Timestamp = ts, PID = PID", None),   # PID resolves to pid
])
def test_column_operators(q, expect):
    got = [n for n, _ in output_names(_stage(q), COLS)]
    if expect is None:
        assert got == ["Timestamp", "DeviceId", "DeviceName", "InitiatingProcessId",
                       "InitiatingProcessFileName", "PID"]
    else:
        assert got == expect


def test_unknown_plain_name_is_an_error_but_an_empty_pattern_is_not():
    with pytest.raises(QueryError, match="unknown column 'nope'"):
        output_names(_stage("project-away nope"), COLS)
    assert [n for n, _ in output_names(_stage("project-away zz*"), COLS)] == COLS


def test_where_before_name_stages_keeps_the_columns_they_need(example_case):
    """project-rename and arg_max(…, *) name columns the filter must not prune away."""
    assert needed_columns(parse("t | project-rename n = name | project n")[0].stages) is None
    assert needed_columns(parse("t | summarize arg_max(ts, *) by host")[0].stages) is None
    r = execute_text(make_context(example_case),
                     'events | where pid == 6640 | project-rename n = name | project n')[-1]
    assert set(r.table["n"].to_pylist()) == {"msedge.exe", "powershell.exe"}
    r = execute_text(make_context(example_case), 'events | where pid == 6640 | summarize '
                     'arg_max(ts, *) by host')[-1]
    assert r.table.num_columns == example_case.events.num_columns


def test_extend_replaces_at_the_end_and_names_unnamed_expressions():
    t = pa.table({"a": [1], "b": [2], "Column1": [0]})
    from edrql.execute import Result, _stage as run_stage
    ctx = Context(case=None)
    out = run_stage(_stage("extend a = a + 1, b * 2, len(tostring(a)), b"), Result("t", t), ctx)
    assert out.table.column_names == ["Column1", "a", "Column2", "Column3", "b"]
    assert out.table["a"].to_pylist() == [2] and out.table["Column2"].to_pylist() == [4]


# ---------------------------------------------------------------- aggregations
def _random_table(n=400, seed=7):
    r = random.Random(seed)
    k = [r.choice("abcd") for _ in range(n)]
    v = [r.choice([None] + list(range(20))) for _ in range(n)]
    return pa.table({"k": k, "v": pa.array(v, pa.int64()), "i": list(range(n)),
                     "s": [r.choice(["x", "y", None]) for _ in range(n)]})


def _groups(t):
    g: dict = {}
    for row in t.to_pylist():
        g.setdefault(row["k"], []).append(row)
    return g


def test_arg_max_and_arg_min_pick_the_first_row_with_the_extreme():
    t = _random_table()
    out = {r["k"]: r for r in _summarize(t, "summarize arg_max(v, i, s) by k").to_pylist()}
    low = {r["k"]: r for r in _summarize(t, "summarize arg_min(v, *) by k").to_pylist()}
    for k, rows in _groups(t).items():
        vals = [r for r in rows if r["v"] is not None]
        top = max(r["v"] for r in vals)
        first = next(r for r in rows if r["v"] == top)
        assert (out[k]["v"], out[k]["i"], out[k]["s"]) == (top, first["i"], first["s"])
        bottom = min(r["v"] for r in vals)
        assert low[k]["i"] == next(r for r in rows if r["v"] == bottom)["i"]
        assert set(low[k]) == {"k", "v", "i", "s"}


def test_percentiles_are_exact_nearest_rank():
    t = _random_table(n=1000, seed=3)
    out = {r["k"]: r for r in _summarize(t, "summarize percentiles(v, 1, 25, 50, 90, 100) by k")
           .to_pylist()}
    for k, rows in _groups(t).items():
        vals = sorted(r["v"] for r in rows if r["v"] is not None)
        for p in (1, 25, 50, 90, 100):
            rank = max(math.ceil(p / 100 * len(vals)), 1)
            assert out[k][f"percentile_v_{p}"] == vals[rank - 1], (k, p)


def test_if_aggregations_equal_filter_then_aggregate():
    t = _random_table()
    out = {r["k"]: r for r in _summarize(t, 'summarize countif(s == "x"), dcountif(v, s == "x"), '
                                            'sumif(v, s == "x"), minif(v, s == "x"), '
                                            'maxif(i, s == "x"), avgif(v, s == "x") by k').to_pylist()}
    for k, rows in _groups(t).items():
        xs = [r for r in rows if r["s"] == "x"]
        vs = [r["v"] for r in xs if r["v"] is not None]
        got = out[k]
        assert got["countif_"] == len(xs) and got["dcountif_v"] == len(set(vs))
        assert got["sumif_v"] == sum(vs) and got["minif_v"] == min(vs)
        assert got["maxif_i"] == max(r["i"] for r in xs)
        assert got["avgif_v"] == pytest.approx(sum(vs) / len(vs))


def test_make_set_make_list_take_any():
    t = _random_table()
    out = {r["k"]: r for r in _summarize(t, "summarize make_list(v), l3 = make_list(v, 3), "
                                            "make_set(s), take_any(s), take_any(i, v) by k")
           .to_pylist()}
    for k, rows in _groups(t).items():
        vs = [r["v"] for r in rows if r["v"] is not None]
        assert out[k]["list_v"] == vs and out[k]["l3"] == vs[:3]
        assert sorted(out[k]["set_s"]) == sorted({r["s"] for r in rows if r["s"] is not None})
        assert out[k]["s"] == next(r["s"] for r in rows if r["s"] is not None)
        assert (out[k]["i"], out[k]["v"]) == (rows[0]["i"], rows[0]["v"])   # one row


def test_raw_text_numbers_are_aggregated_as_numbers():
    t = pa.table({"k": ["a"] * 5 + ["b"] * 2,
                  "raw.Port": ["10", "9", "0x10", "abc", None, "100", "20"]})
    out = {r["k"]: r for r in _summarize(t, "summarize sum(raw.Port), min(raw.Port), "
                                            "max(raw.Port), avg(raw.Port) by k").to_pylist()}
    assert out["a"]["sum_raw.Port"] == 35 and out["b"]["sum_raw.Port"] == 120
    # "abc" is no number: min/max of this column compare text (in every group)
    assert out["a"]["min_raw.Port"] == "0x10" and out["b"]["min_raw.Port"] == "100"
    assert out["b"]["avg_raw.Port"] == 60
    nums = pa.table({"k": ["a", "a", "b"], "raw.Port": ["100", "20", "0x10"]})
    out = {r["k"]: r for r in _summarize(nums, "summarize min(raw.Port), max(raw.Port) by k")
           .to_pylist()}
    assert (out["a"]["min_raw.Port"], out["a"]["max_raw.Port"], out["b"]["max_raw.Port"]) == \
        (20, 100, 16)


def test_text_that_is_not_raw_is_still_refused_by_sum():
    t = pa.table({"k": ["a"], "port": ["10"]})
    with pytest.raises(QueryError, match="sum\\(\\) needs numbers"):
        _summarize(t, "summarize sum(port) by k")


def test_kql_names_and_count_alias(example_case):
    r = execute_text(make_context(example_case),
                     "events | summarize count(), dcount(name), make_set(pid, 2) by host "
                     "| where count_ > 0 | project host, count_, dcount_name, set_pid")[-1]
    assert r.table.column_names == ["host", "count_", "dcount_name", "set_pid"]


# ---------------------------------------------------------------- errors that teach
def test_hint_tables_list_nothing_edrql_supports():
    assert not [n for n in kqlhints.STAGES if n in STAGES]
    assert not [n for n in kqlhints.FUNCTIONS if n in FUNCTIONS]
    assert not [n for n in kqlhints.AGGREGATIONS if n in AGGREGATIONS]
    assert not [n for n in FUNCTIONS if any(n.startswith(p) for p in kqlhints.PREFIXES)]


@pytest.mark.parametrize("word", sorted(kqlhints.STAGES))
def test_every_unsupported_operator_is_named(example_case, word):
    from edrql.query import error_text
    q = f"events | {word} x"
    with pytest.raises((ParseError, QueryError)) as ei:
        execute_text(make_context(example_case), q)
    assert f"KQL's `{word}` is not supported" in error_text(ei.value, q)


def test_unquoted_values_get_quotes_but_fields_keep_did_you_mean(example_case):
    from edrql.query import error_text
    for q, hint in [('events | where name == rundll32.exe', 'quotes: "rundll32.exe"'),
                    ('events | where nmae == "x"', "did you mean name"),
                    ('events | where raw.FileNam == "x"', "did you mean raw.FileName")]:
        with pytest.raises(QueryError) as ei:
            execute_text(make_context(example_case), q)
        assert hint in error_text(ei.value, q), q


# ---------------------------------------------------------------- real data
def _mde_rows():
    path = shared("vendor/msticpy_mde_proc_pub.csv")
    with open(path, newline="", encoding="utf-8") as f:
        return path, list(csv.DictReader(f))


@pytest.fixture(scope="module")
def mde_case(tmp_path_factory):
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    path, _ = _mde_rows()
    root = str(tmp_path_factory.mktemp("mde") / "c")
    ingest([str(path)], Case.create_or_open(root), Options())
    return Case.open(root)


def _when(s: str) -> datetime:
    head, _, frac = s.partition(".")
    return datetime.fromisoformat(head + "+00:00") if not frac else \
        datetime.fromisoformat(f"{head}.{frac[:6]}+00:00")


def test_real_defender_sort_take_is_the_latest_rows(mde_case):
    _, rows = _mde_rows()
    latest = sorted(rows, key=lambda r: _when(r["Timestamp"]), reverse=True)[:10]
    got = py_rows(execute_text(make_context(mde_case),
                               "events | sort by ts | take 10 | project raw.Timestamp")[-1].table)
    assert [g["raw.Timestamp"] for g in got] == [r["Timestamp"] for r in latest]


def test_real_defender_arg_max_and_raw_sums(mde_case):
    _, rows = _mde_rows()
    r = execute_text(make_context(mde_case), "events | summarize arg_max(ts, raw.ProcessId), "
                     "sum(raw.ProcessId), n = count() by raw.DeviceName")[-1]
    got = {x["raw.DeviceName"]: x for x in py_rows(r.table)}
    by: dict = {}
    for row in rows:
        by.setdefault(row["DeviceName"], []).append(row)
    assert set(got) == set(by)
    for dev, rs in by.items():
        assert got[dev]["n"] == len(rs)
        assert got[dev]["sum_raw.ProcessId"] == sum(int(x["ProcessId"]) for x in rs)
        latest = max(_when(x["Timestamp"]) for x in rs)
        assert {x["ProcessId"] for x in rs if _when(x["Timestamp"]) == latest} >= \
            {got[dev]["raw.ProcessId"]}


def test_arg_max_of_text_and_of_a_group_without_values():
    t = pa.table({"k": ["a", "a", "a", "b", "b"], "s": ["b", "c", "c", None, None],
                  "v": pa.array([1.0, float("nan"), 3.0, None, None]), "i": [0, 1, 2, 3, 4]})
    out = {r["k"]: r for r in _summarize(t, "summarize arg_max(s, i) by k").to_pylist()}
    assert out["a"]["i"] == 1 and out["b"]["i"] == 3          # first of the ties; all null: first
    out = {r["k"]: r for r in _summarize(t, "summarize arg_max(v, i) by k").to_pylist()}
    assert out["a"]["i"] == 2 and out["b"]["i"] == 3          # NaN is no value
    out = _summarize(t, "summarize arg_min(i, k)").to_pylist()
    assert out == [{"i": 0, "k": "a"}]


def test_render_keeps_the_rows_and_says_the_chart_is_left_out(example_case):
    r = execute_text(make_context(example_case), "events | where pid == 6640 | count | render piechart")[-1]
    assert r.table.to_pylist() == [{"count": 17}]
    assert any("render piechart" in n and "left out" in n for n in r.notes)


def test_both_group_sorts_of_percentile_agree():
    import numpy as np
    from edrql.fnlib.aggs import _sorted_in_groups
    rng = np.random.default_rng(5)
    v, g = rng.integers(0, 50, 5000), rng.integers(0, 300, 5000)
    small = _sorted_in_groups(v, g, 300)
    big = _sorted_in_groups(v, g, 70000)                 # the lexsort path
    assert all(np.array_equal(a, b) for a, b in zip(small, big))
    assert np.all(np.diff(small[1]) >= 0)
