"""join, lookup, union, mv-expand, datatable, externaldata and in (table), with KQL's
meaning (docs/language.md, *Joins, unions and tables written in the query*)."""
from __future__ import annotations

import pyarrow as pa
import pytest

from edrql import ast as A
from edrql.errors import ParseError, QueryError
from edrql.joinkeys import exact_ranges, column_values, match
from edrql.parse import parse
from edrql.query import execute_text, make_context

from conftest import FIXTURES

# KQL's documented example of the default join (learn.microsoft.com, join-innerunique)
XY = ('let X = datatable(Key:string, Value1:long)["a",1,"b",2,"b",3,"c",4]; '
      'let Y = datatable(Key:string, Value2:long)["b",10,"c",20,"c",30,"d",40]; ')


def rows(case, q):
    return execute_text(make_context(case), q)[-1].table.to_pylist()


def cols(case, q):
    return execute_text(make_context(case), q)[-1].table.column_names


def refused(case, q) -> QueryError:
    """The QueryError a query raises (checked before running, or while running)."""
    with pytest.raises(QueryError) as e:
        execute_text(make_context(case), q)
    return e.value


def tuples(case, q):
    return [tuple(r.values()) for r in rows(case, q)]


# ---------------------------------------------------------------- join kinds
def test_default_join_is_innerunique_left_deduplicated(example_case):
    got = tuples(example_case, XY + "X | join Y on Key")
    # the left keeps one row per key (its first: b,2 — not b,3), every right match stays
    assert got == [("b", 2, "b", 10), ("c", 4, "c", 20), ("c", 4, "c", 30)]
    assert tuples(example_case, XY + "X | join kind=innerunique Y on Key") == got


KINDS = {
    "inner": [("b", 2, "b", 10), ("b", 3, "b", 10), ("c", 4, "c", 20), ("c", 4, "c", 30)],
    "leftouter": [("a", 1, None, None), ("b", 2, "b", 10), ("b", 3, "b", 10), ("c", 4, "c", 20),
                  ("c", 4, "c", 30)],
    "rightouter": [("b", 2, "b", 10), ("b", 3, "b", 10), ("c", 4, "c", 20), ("c", 4, "c", 30),
                   (None, None, "d", 40)],
    "fullouter": [("a", 1, None, None), ("b", 2, "b", 10), ("b", 3, "b", 10), ("c", 4, "c", 20),
                  ("c", 4, "c", 30), (None, None, "d", 40)],
    "leftsemi": [("b", 2), ("b", 3), ("c", 4)],
    "leftanti": [("a", 1)], "anti": [("a", 1)], "leftantisemi": [("a", 1)],
    "rightsemi": [("b", 10), ("c", 20), ("c", 30)],
    "rightanti": [("d", 40)], "rightantisemi": [("d", 40)],
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_join_kinds(example_case, kind):
    assert tuples(example_case, XY + f"X | join kind={kind} Y on Key") == KINDS[kind]


def test_join_columns_as_kql(example_case):
    assert cols(example_case, XY + "X | join kind=inner Y on Key") == ["Key", "Value1", "Key1",
                                                                       "Value2"]
    assert cols(example_case, XY + "X | join kind=leftsemi Y on Key") == ["Key", "Value1"]
    assert cols(example_case, XY + "X | join kind=rightanti Y on Key") == ["Key", "Value2"]
    # $left.a == $right.b: both kept under their names; a clash gets 1, then 2
    q = ('let L = datatable(a:string, v:int, v1:int)["x", 1, 2]; '
         'let R = datatable(b:string, v:int)["x", 3]; L | join kind=inner R on $left.a == $right.b')
    assert cols(example_case, q) == ["a", "v", "v1", "b", "v2"]
    assert tuples(example_case, q) == [("x", 1, 2, "x", 3)]


def test_join_keys_are_case_sensitive_unlike_eq(example_case):
    q = ('let L = datatable(n:string)["PowerShell.exe"]; let R = datatable(n:string, k:int)'
         '["powershell.exe", 1, "PowerShell.exe", 2]; L | join kind=inner R on n')
    assert tuples(example_case, q) == [("PowerShell.exe", "PowerShell.exe", 2)]
    # == ignores case: the same rows compared with == match both spellings
    assert len(rows(example_case, 'let R = datatable(n:string)["powershell.exe", "PowerShell.exe"];'
                                  ' R | where n == "POWERSHELL.EXE"')) == 2


def test_null_keys_match_nothing():
    l, r = [pa.array([1, None, 2])], [pa.array([1, None, 3])]
    li, ri = match(l, r, 3, 3, "inner")
    assert (li.to_pylist(), ri.to_pylist()) == ([0], [0])
    li, _ = match(l, r, 3, 3, "leftanti")            # the null-key row has no partner
    assert li.to_pylist() == [1, 2]
    li, ri = match(l, r, 3, 3, "fullouter")
    assert list(zip(li.to_pylist(), ri.to_pylist())) == [(0, 0), (1, None), (2, None),
                                                         (None, 1), (None, 2)]


def test_join_several_keys_and_let_name_right_side(example_case):
    q = ('let P = events | where event == "process_start" | project host, pid, pstart, name; '
         'network | project host, pid, pstart, raddr '
         '| join kind=inner P on host, $left.pid == $right.pid and pstart | count')
    n = rows(example_case, q)[0]["count"]
    # every network row whose process start is in the export finds exactly that process
    direct = rows(example_case, 'network | where isnotnull(pstart) | count')[0]["count"]
    assert 0 < n <= direct


def test_join_carries_lists_and_codes(example_case):
    """Payload columns of any type travel (lists from values(), dictionary-coded text)."""
    q = ('events | stats names = values(name) by host '
         '| join kind=inner (events | where isnotnull(host) | stats n = count() by host) on host')
    out = rows(example_case, q)
    assert out and all(isinstance(r["names"], list) and r["n"] > 0 for r in out)
    assert all(r["host"] == r["host1"] for r in out)


def test_join_hints_are_noted(example_case):
    r = execute_text(make_context(example_case),
                     XY + "X | join hint.strategy=shuffle kind=inner Y on Key")[-1]
    assert r.table.num_rows == 4
    assert any("hint.strategy=shuffle is ignored" in n for n in r.notes)


@pytest.mark.parametrize("q,message", [
    ("events | join (network) on hots", "join: the left side has no column 'hots'"),
    ("events | join (network | project x = pid) on pid", "the right side has no column 'pid'"),
    ("events | join (network | project host, p = tostring(pid)) on host, $left.pid == $right.p",
     "join keys must be of one kind: $left.pid is a number, $right.p is text"),
    ("events | join kind=inner (events | stats v = values(name) by host) on $left.name == $right.v",
     "join cannot match on a list"),
])
def test_join_mistakes_found_before_running(example_case, q, message):
    from edrql.plan import check
    with pytest.raises(QueryError) as e:
        check(parse(q), make_context(example_case))
    assert message in e.value.message


@pytest.mark.parametrize("q,message", [
    ("events | join kind=sideways (network) on host", "join kind=sideways is not known"),
    ("events | join network on $left.a < $right.b", "compares with ==, not <"),
    ("events | join network on $left.a == $left.b", "names one column of each side"),
    ("events | lookup kind=fullouter (network) on host", "lookup kind=fullouter is not known"),
    ("union bogus=x files", "union has no option bogus="),
])
def test_join_syntax_mistakes(q, message):
    with pytest.raises(ParseError) as e:
        parse(q)
    assert message in e.value.message


# ---------------------------------------------------------------- lookup
def test_lookup_appends_columns_without_repeating_keys(example_case):
    q = XY + "X | lookup Y on Key"
    assert cols(example_case, q) == ["Key", "Value1", "Value2"]
    assert tuples(example_case, q) == [("a", 1, None), ("b", 2, 10), ("b", 3, 10), ("c", 4, 20),
                                       ("c", 4, 30)]
    assert tuples(example_case, XY + "X | lookup kind=inner Y on Key") == [
        ("b", 2, 10), ("b", 3, 10), ("c", 4, 20), ("c", 4, 30)]


# ---------------------------------------------------------------- union
def test_union_outer_inner_withsource(example_case):
    a = 'datatable(k:string, n:long)["x", 1]'
    b = 'datatable(k:string, f:real)["y", 2.5]'
    q = f"union withsource=src ({a}), ({b})"
    assert cols(example_case, q) == ["src", "k", "n", "f"]
    assert tuples(example_case, q) == [("union_arg0", "x", 1, None), ("union_arg1", "y", None, 2.5)]
    assert tuples(example_case, f"union kind=inner ({a}), ({b})") == [("x",), ("y",)]
    assert tuples(example_case, f"let A = {a}; let B = {b}; union withsource=T A, B | project T") \
        == [("A",), ("B",)]
    # as a stage: the input, then the others
    assert tuples(example_case, f"let A = {a}; A | union ({b}) | project k") == [("x",), ("y",)]


def test_union_promotes_numbers_and_refuses_text_with_numbers(example_case):
    q = 'union (datatable(v:long)[1]), (datatable(v:real)[2.5])'
    out = execute_text(make_context(example_case), q)[-1].table
    assert out.schema.field("v").type == pa.float64() and out["v"].to_pylist() == [1.0, 2.5]
    e = refused(example_case, 'union (datatable(v:long)[1]), (datatable(v:string)["a"])')
    assert "union: column 'v' is a number in union_arg0 and text in union_arg1" in e.message
    assert "tostring(v)" in e.hint


def test_union_of_case_tables(example_case):
    n = {t: rows(example_case, f"{t} | count")[0]["count"] for t in ("files", "registry")}
    got = rows(example_case, "union withsource=t files, registry | stats c = count() by t "
                             "| sort by t asc")
    assert [(r["t"], r["c"]) for r in got] == [("files", n["files"]), ("registry", n["registry"])]


# ---------------------------------------------------------------- mv-expand
def _lists_ctx(case):
    ctx = make_context(case)
    ctx.lets["L"] = pa.table({"id": [1, 2, 3, 4],
                              "a": pa.array([["x", "y", "z"], [], None, ["w"]]),
                              "b": pa.array([[1, 2], [7], [8, 9], None])})
    return ctx


def test_mv_expand_kql_rules(example_case):
    ctx = _lists_ctx(example_case)
    out = execute_text(ctx, "L | mv-expand a | project id, a")[-1].table.to_pylist()
    # an empty list gives no row, a null list one row with null
    assert [(r["id"], r["a"]) for r in out] == [(1, "x"), (1, "y"), (1, "z"), (3, None), (4, "w")]
    out = execute_text(ctx, "L | mv-expand a, b")[-1].table.to_pylist()
    assert [(r["id"], r["a"], r["b"]) for r in out] == [
        (1, "x", 1), (1, "y", 2), (1, "z", None), (2, None, 7), (3, None, 8), (3, None, 9),
        (4, "w", None)]
    out = execute_text(ctx, "L | mv-expand e = a limit 2 | project id, e")[-1].table.to_pylist()
    assert [(r["id"], r["e"]) for r in out] == [(1, "x"), (1, "y"), (3, None), (4, "w")]
    t = execute_text(ctx, "L | mv-expand b to typeof(string) | project b")[-1].table
    assert t.schema.field("b").type == pa.string() and t["b"].to_pylist()[:3] == ["1", "2", "7"]


def test_mv_expand_after_values(example_case):
    q = 'events | where isnotnull(host) | stats names = values(name) by host | mv-expand names'
    n = rows(example_case, q)
    d = rows(example_case, 'events | where isnotnull(host) | distinct host, name | count')
    assert len(n) == d[0]["count"]


def test_mv_expand_refuses_text(example_case):
    e = refused(example_case, "events | mv-expand cmdline")
    assert e.message == "mv-expand needs a list; cmdline is text"


# ---------------------------------------------------------------- datatable
def test_datatable_types(example_case):
    q = ('datatable(s:string, i:int, r:real, b:bool, t:datetime, d:timespan, j:dynamic)'
         '["a", 1, 2, true, "2023-08-10 14:00", 5m, "[1,2]", '
         ' "b", null, 1.5, false, 2023-08-10T15:00:00Z, 1h, "{}",]')
    t = execute_text(make_context(example_case), q)[-1].table
    assert [str(f.type) for f in t.schema] == ["string", "int64", "double", "bool",
                                               "timestamp[ns, tz=UTC]", "duration[ns]", "string"]
    assert t["i"].to_pylist() == [1, None] and t["r"].to_pylist() == [2.0, 1.5]
    assert pa.compute.cast(t["t"], pa.int64()).to_pylist() == [1691676000 * 10**9,
                                                               1691679600 * 10**9]
    assert pa.compute.cast(t["d"], pa.int64()).to_pylist() == [300 * 10**9, 3600 * 10**9]


@pytest.mark.parametrize("q,message", [
    ('datatable(a:string, b:int)["x", 1, "y"]', "2 column(s) but 3 value(s)"),
    ('datatable(a:int)["x"]', "datatable column a is int: 'x' is not one"),
    ('datatable(a:varchar)["x"]', "unknown type 'varchar' for column a"),
])
def test_datatable_mistakes(example_case, q, message):
    e = refused(example_case, q)
    assert message in e.message


# ---------------------------------------------------------------- externaldata
def test_externaldata_csv_typed_by_position(example_case, monkeypatch):
    monkeypatch.chdir(FIXTURES / "joins")
    q = ('externaldata(h:string, note:string, score:long)["iocs.csv"] '
         'with (format="csv", ignoreFirstRecord=true)')
    r = execute_text(make_context(example_case), q)[-1]
    assert r.table.to_pylist() == [
        {"h": "5d41402abc4b2a76b9719d911017c592", "note": "loader", "score": 7},
        {"h": "7d793037a0760186574b0282f2f435e7", "note": "beacon", "score": None}]
    assert not r.notes
    # KQL reads the first record as data unless told: a header becomes a row, with a note
    r = execute_text(make_context(example_case),
                     'externaldata(sha256:string, note:string, score:string)["iocs.csv"]')[-1]
    assert r.table.num_rows == 3 and "ignoreFirstRecord=true" in r.notes[0]


def test_externaldata_tsv_and_json_lines_in_lookup(example_case, monkeypatch):
    monkeypatch.chdir(FIXTURES / "joins")
    q = ('let roles = externaldata(name:string, role:string)["roles.tsv"] '
         'with (ignoreFirstRecord=true); '
         'events | where event == "process_start" | distinct name | lookup kind=inner roles on name '
         '| sort by name')
    # lookup keys are exact: WINWORD.EXE matches, cmd.exe / powershell.exe spelled as written
    got = {r["name"]: r["role"] for r in rows(example_case, q)}
    assert got.get("cmd.exe") == "shell" and got.get("WINWORD.EXE") == "office"
    t = execute_text(make_context(example_case),
                     'externaldata(name:string, n:int, seen:datetime)["names.jsonl"]')[-1].table
    assert t["name"].to_pylist() == ["cmd.exe", "rundll32.exe"] and t["n"].to_pylist() == [3, 1]
    assert t["seen"].null_count == 1


@pytest.mark.parametrize("url", ["https://example.com/iocs.csv", "http://x/y.csv",
                                 "s3://bucket/iocs.csv", "ftp://host/f.csv",
                                 "file:///etc/passwd", "HTTPS://EXAMPLE.COM/A"])
def test_externaldata_never_reads_the_network(example_case, url, monkeypatch):
    import socket

    def refuse(*a, **k):
        raise AssertionError("a socket was opened")
    monkeypatch.setattr(socket, "socket", refuse)
    e = refused(example_case, f'externaldata(h:string)["{url}"]')
    assert "edrql never reads the network: download the file and give its path" in e.message


def test_externaldata_missing_file_has_position(example_case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    e = refused(example_case, 'let x = 1; externaldata(h:string)["nope.csv"]')
    assert e.message == "externaldata: no such file: nope.csv"
    assert (e.pos.line, e.pos.column) == (1, 12)
    assert str(tmp_path) in e.hint


def test_windows_paths_are_not_urls():
    from edrql.joinplan import is_url
    assert not is_url(r"C:\iocs\list.csv") and not is_url("C:/iocs/list.csv")
    assert not is_url("iocs.csv") and is_url("https://a/b") and is_url("s3://a")


# ---------------------------------------------------------------- in (table)
def test_in_table_and_subquery(example_case):
    base = rows(example_case, 'events | where name in ("powershell.exe", "cmd.exe") | count')
    q1 = 'let iocs = datatable(n:string)["POWERSHELL.EXE", "cmd.exe"]; events | where name in (iocs) | count'
    q2 = ('let iocs = datatable(n:string, why:string)["POWERSHELL.EXE", "a", "cmd.exe", "b"]; '
          'events | where name in (iocs | project n) | count')
    assert rows(example_case, q1) == rows(example_case, q2) == base
    # in_cs: exact spellings only
    cs = rows(example_case, 'let iocs = datatable(n:string)["POWERSHELL.EXE"]; '
                            'events | where name in_cs (iocs) | count')
    assert cs[0]["count"] == 0
    # a subquery over a case table
    q3 = ('events | where event == "process_start" and pid in '
          '(network | where rport == 443 | distinct pid) | distinct pid | count')
    assert rows(example_case, q3)[0]["count"] > 0


def test_in_table_needs_one_column(example_case):
    e = refused(example_case, 'let T = datatable(a:string, b:int)["x", 1]; events | where name in (T)')
    assert "needs one column; it has 2: a, b" in e.message
    assert "in (T | project a)" in e.hint


def test_in_of_a_column_is_a_row_wise_comparison_not_a_table(example_case):
    """``name in (pname)`` where pname is a column compares row by row (EQL, issue 14:
    eql_functions.golden); a column is never read as a table."""
    got = rows(example_case, "events | where name in (pname) | count")
    assert got == rows(example_case, "events | where name == pname | count")
    assert got[0]["count"] > 0


def test_ast_of_a_join():
    p = parse("events | join kind=leftouter (network | where rport == 443) on host, "
              "$left.pid == $right.pid")[0]
    j = p.stages[0]
    assert isinstance(j, A.Join) and j.kind == "leftouter"
    assert [(c.left, c.right) for c in j.on] == [("host", "host"), ("pid", "pid")]
    assert isinstance(j.right.stages[0], A.Where)


# ---------------------------------------------------------------- the matcher
def _reference(lk, rk, kind):
    """A plain Python join over key tuples (None in a key: no match), KQL's kinds."""
    def ok(k):
        return None not in k
    lrows = list(range(len(lk)))
    if kind == "innerunique":
        seen, keep = set(), []
        for i in lrows:
            if ok(lk[i]) and lk[i] not in seen:
                seen.add(lk[i])
                keep.append(i)
        lrows, kind = keep, "inner"
    pairs = [(i, j) for i in lrows for j in range(len(rk)) if ok(lk[i]) and lk[i] == rk[j]]
    lhit = {i for i, _ in pairs}
    rhit = {j for _, j in pairs}
    if kind == "leftsemi":
        return [i for i in lrows if i in lhit], None
    if kind == "leftanti":
        return [i for i in lrows if i not in lhit], None
    if kind == "rightsemi":
        return None, [j for j in range(len(rk)) if j in rhit]
    if kind == "rightanti":
        return None, [j for j in range(len(rk)) if j not in rhit]
    out = []
    for i in lrows:
        mine = [(i, j) for (a, j) in pairs if a == i]
        out += mine or ([(i, None)] if kind in ("leftouter", "fullouter") else [])
    if kind in ("rightouter", "fullouter"):
        out += [(None, j) for j in range(len(rk)) if j not in rhit]
    return [a for a, _ in out], [b for _, b in out]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("exact", [False, True])
def test_matcher_against_a_reference(seed, exact, monkeypatch):
    import random

    import edrql.joinkeys as JK
    if exact:               # the fallback (hash not exact on the data) gives the same rows
        monkeypatch.setattr(JK, "hashed_ranges", lambda *a: None)
    rnd = random.Random(seed)
    nl, nr = rnd.randint(0, 40), rnd.randint(0, 40)
    texts = ["a", "A", "b", None, "c"]

    def col(n, kind):
        if kind == "text":
            return [rnd.choice(texts) for _ in range(n)]
        return [rnd.choice([1, 2, 3, None]) for _ in range(n)]
    l1, r1 = col(nl, "text"), col(nr, "text")
    l2, r2 = col(nl, "int"), col(nr, "int")
    larrs = [pc_dict(pa.array(l1, pa.string())) if seed % 2 else pa.array(l1, pa.string()),
             pa.array(l2, pa.int64())]
    rarrs = [pa.array(r1, pa.string()), pa.array(r2, pa.float64())]    # int key joins float key
    lk = list(zip(l1, [None if x is None else float(x) for x in l2]))
    rk = list(zip(r1, [None if x is None else float(x) for x in r2]))
    for kind in ("innerunique", "inner", "leftouter", "rightouter", "fullouter", "leftsemi",
                 "leftanti", "rightsemi", "rightanti"):
        li, ri = match(larrs, rarrs, nl, nr, kind)
        got = (li.to_pylist() if li is not None else None, ri.to_pylist() if ri is not None else None)
        assert got == _reference(lk, rk, kind), kind


def pc_dict(a):
    import pyarrow.compute as pc
    return pc.dictionary_encode(a)


def test_matcher_keys_of_many_types():
    vals = column_values(pa.array([1.0, -0.0, None]), pa.array([0.0, 1.0]))
    assert list(vals[0][:2]) == list(vals[1][::-1])        # -0.0 is 0.0
    li, ri = match([pa.array([True, False])], [pa.array([False])], 2, 1, "inner")
    assert (li.to_pylist(), ri.to_pylist()) == ([1], [0])
    ts = pa.array([1, 2], pa.timestamp("ns", tz="UTC"))
    li, ri = match([ts], [pa.array([2000], pa.timestamp("us", tz="UTC")).cast(
        pa.timestamp("ns", tz="UTC"))], 2, 1, "inner")
    assert li.to_pylist() == []
    r = exact_ranges([column_values(pa.array(["x", "y", "x"]), pa.array(["x"]))], 3, 1, True)
    assert list(r.lrows) == [0, 1] and list(r.m) == [1, 0]


def test_grammar_cache_in_the_users_cache_folder(tmp_path, monkeypatch):
    """The analysed grammar is kept in $XDG_CACHE_HOME/edrql (private, keyed by the
    grammar's hash) and reused; without a usable folder edrql parses as before."""
    from edrql import parse as P
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    P.parser.cache_clear()
    try:
        assert P.parse("events | join kind=inner (network) on host")
        files = list((tmp_path / "c" / "edrql").glob("grammar-*.lark-cache"))
        assert len(files) == 1 and files[0].stat().st_size > 1000
        P.parser.cache_clear()                     # a second start loads the cache
        assert isinstance(P.parse("union files, registry")[0].source, A.UnionOf)
        (tmp_path / "f").write_text("")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "f"))     # not a folder
        P.parser.cache_clear()
        assert P._grammar_cache() is None and P.parse("events | count")
    finally:
        P.parser.cache_clear()
