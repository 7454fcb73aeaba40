"""KQL scalar functions and dynamic values (issue 12): the implementations in edrql/fnlib
(text, dynamic, convert, textcast) on their own, and through queries over a small
Defender CSV whose AdditionalFields column holds JSON text (raw.AdditionalFields).
Golden cases over the example case are in tests/golden/kql_functions.golden."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from edrql.fnlib import dynamic as D
from edrql.fnlib import text as T
from edrql.fnlib.convert import case, isempty, tobool, todouble
from edrql.fnlib.textcast import as_text
from edrql.ingest import Options, ingest
from edrql.query import error_text, execute_text, make_context
from edrql.render import py_rows
from edrql.store import Case

from conftest import shared
from mde_fixture import HEADER, row, write


# ---------------------------------------------------------------- lists as JSON text
def test_lists_print_as_kql_json():
    a = pa.array([["a", 'b"c'], None, [], ["x\n\x01\\"]])
    assert as_text(a).to_pylist() == ['["a","b\\"c"]', None, "[]", '["x\\n\\u0001\\\\"]']
    assert as_text(pa.array([[1, 2], None, [3]]).slice(1)).to_pylist() == [None, "[3]"]
    assert as_text(pa.array([[[1], [2, None]], None])).to_pylist() == ["[[1],[2,null]]", None]
    assert as_text(pa.array([{"a": 1, "b": "x"}, None])).to_pylist() == ['{"a":1,"b":"x"}', None]
    assert as_text(pa.scalar([True, False])).as_py() == "[true,false]"
    # every value reads back as the JSON of the list
    vals = [["q\"uote", "back\\slash", "tab\t", "é"], [None, "z"]]
    assert [json.loads(s) for s in as_text(pa.array(vals)).to_pylist()] == vals


# ---------------------------------------------------------------- members
def test_member_walks_bags_and_lists():
    docs = pa.array(['{"a":{"b":[1,{"c":"x"}]}}', "not json", None, '{"a":"s"}'])
    assert D.member(docs, ["a", "b", -1, "c"]).to_pylist() == ["x", None, None, None]
    assert D.member(docs, ["a", "b", 0]).to_pylist() == ["1", None, None, None]
    assert D.member(docs, ["a"]).to_pylist() == ['{"b":[1,{"c":"x"}]}', None, None, "s"]
    assert D.member(pa.array([[1, 2, 3], [], None]), [-1]).to_pylist() == [3, None, None]
    assert D.member(pa.array([[1, 2, 3], [], None]), [5]).to_pylist() == [None, None, None]


def test_member_key_spelled_with_escapes_is_found():
    # the pre-filter skips documents that do not spell the key, but \u escapes spell it too
    docs = pa.array(['{"\\u0041":1}', '{"B":2}', '{"A":{"B":3}}'])
    assert D.member(docs, ["A"]).to_pylist() == ["1", None, '{"B":3}']
    assert D.member(docs, ["A", "B"]).to_pylist() == [None, None, "3"]


def test_json_is_parsed_once_per_distinct_document(monkeypatch):
    calls = []
    real = json.loads
    monkeypatch.setattr(D.json, "loads", lambda s: calls.append(s) or real(s))
    docs = pa.array(['{"k":1}', '{"k":2}'] * 5000 + ['{"other":3}'] * 100)
    out = D.member(docs, ["k"])
    assert pc.count(out).as_py() == 10000
    assert len(calls) == 2                      # not 10,100: the third never spells "k"


def test_member_of_a_number_is_refused():
    with pytest.raises(TypeError, match="only JSON text"):
        D.member(pa.array([1, 2]), ["a"])
    with pytest.raises(TypeError, match="index it with a number"):
        D.member(pa.array([[1]]), ["a"])


# ---------------------------------------------------------------- text functions
def test_name_groups_counts_capturing_groups_only():
    assert T.name_groups(r"(a)(?:b)(?P<x>c)[(]\(d(?i)") == (
        r"(?P<g1>a)(?:b)(?P<g2>c)[(]\(d(?i)", 2)
    assert T.name_groups(r"[]()](e)") == (r"[]()](?P<g1>e)", 1)


def test_extract_all_with_and_without_a_group():
    s = pa.array(["a 12-b 3 x", "none", None, "7"])
    assert T.extract_all(pa.scalar(r"\d+"), s).to_pylist() == [["12", "3"], None, None, ["7"]]
    assert T.extract_all(pa.scalar(r"(\d)x"), pa.array(["1x 2y 3x"])).to_pylist() == [["1", "3"]]
    # several groups: KQL's list of the groups per match; a chosen subset by number or name
    guid = pa.array(["82b8be2d-dfa7", None])
    assert T.extract_all(pa.scalar(r"(\w)(\w+)(\w)"), guid).to_pylist() == [
        [["8", "2b8be2", "d"], ["d", "fa", "7"]], None]
    assert T.extract_all(pa.scalar(r"(\w)(\w+)(\w)"), pa.scalar([1, 3]), guid).to_pylist() == [
        [["8", "d"], ["d", "7"]], None]
    assert T.extract_all(pa.scalar(r"(?P<a>\w)\w+(?<z>\w)"), pa.scalar(["z"]),
                         guid).to_pylist() == [["d", "7"], None]
    with pytest.raises(TypeError, match="does not match empty text"):
        T.extract_all(pa.scalar(r"(\d*)"), s)
    with pytest.raises(TypeError, match="not a capture group"):
        T.extract_all(pa.scalar("(a)(b)"), pa.scalar([3]), s)


def test_countof_overlaps_as_kql():
    s = pa.array(["aaaa", "ababa", "abcabc", None])
    assert T.countof(s, pa.scalar("aa")).to_pylist() == [3, 0, 0, None]
    assert T.countof(s, pa.scalar("aba")).to_pylist() == [0, 2, 0, None]
    assert T.countof(s, pa.scalar("aba"), pa.scalar("regex")).to_pylist() == [0, 1, 0, None]
    assert T.countof(s, pa.scalar("bc")).to_pylist() == [0, 0, 2, None]


def test_indexof_counts_characters_not_bytes():
    s = pa.array(["héllo wörld", "x", None])
    assert T.indexof(s, pa.scalar("o")).to_pylist() == [4, -1, None]
    assert T.indexof(s, pa.scalar("ö")).to_pylist() == [7, -1, None]
    assert T.indexof(s, pa.scalar("o"), pa.scalar(5)).to_pylist() == [-1, -1, None]


def test_parse_path_matches_kql_examples():
    paths = pa.array([r"C:\temp\file.txt", r"temp\file.txt", "file://C:/temp/file.txt:some.exe",
                      r"\\shared\users\temp\file.txt.gz", "/usr/lib/temp/file.txt", None])
    got = [json.loads(x) if x else None for x in T.parse_path(paths).to_pylist()]
    assert got[0] == {"Scheme": "", "RootPath": "C:", "DirectoryPath": "C:\\temp",
                      "DirectoryName": "temp", "Filename": "file.txt", "Extension": "txt",
                      "AlternateDataStreamName": ""}
    assert got[1]["RootPath"] == "" and got[1]["DirectoryPath"] == "temp"
    assert (got[2]["Scheme"], got[2]["RootPath"], got[2]["DirectoryPath"],
            got[2]["AlternateDataStreamName"]) == ("file", "C:", "C:/temp", "some.exe")
    assert got[3]["DirectoryPath"] == "\\\\shared\\users\\temp" and got[3]["Extension"] == "gz"
    assert got[4]["DirectoryPath"] == "/usr/lib/temp" and got[5] is None


def test_parse_url_members():
    u = T.parse_url(pa.array(["https://u:p@bing.com:8080/s/x?q=1&b=&&c#f", "host:443", None]))
    got = [json.loads(x) if x else None for x in u.to_pylist()]
    assert got[0] == {"Scheme": "https", "Host": "bing.com", "Port": "8080", "Path": "/s/x",
                      "Username": "u", "Password": "p",
                      "Query Parameters": {"q": "1", "b": "", "c": ""}, "Fragment": "f"}
    assert got[1] is None and got[2] is None


def test_tohex_as_kql():
    from edrql.fnlib.convert import tohex
    assert tohex(pa.array([256, -546, 0, None, 2**63 - 1])).to_pylist() == [
        "100", "fffffffffffffdde", "0", None, "7fffffffffffffff"]
    assert tohex(pa.array([0x1d18]), pa.scalar(8)).to_pylist() == ["00001d18"]
    assert tohex(pa.array([1]), pa.scalar(20)).to_pylist() == ["0" * 19 + "1"]
    vals = list(range(-300, 300, 7)) + [2**40 + 5]
    assert tohex(pa.array(vals)).to_pylist() == [format(v % 2**64, "x") for v in vals]


def test_conversions_and_case():
    assert todouble(pa.array(["1.5", " 2 ", "x", None])).to_pylist() == [1.5, 2.0, None, None]
    assert tobool(pa.array(["True", "0", "no", None])).to_pylist() == [True, False, None, None]
    assert isempty(pa.array(["", None, "a"])).to_pylist() == [True, True, False]
    assert isempty(pa.array([[], None, [1]])).to_pylist() == [True, True, False]
    c = pa.array([True, False, None])
    out = case(c, pa.scalar(1), pc.invert(c), pa.scalar(2.5), pa.scalar(None, pa.null()))
    assert out.to_pylist() == [1.0, 2.5, None]


# ---------------------------------------------------------------- through queries
ADDITIONAL = [
    {"Command": "Invoke-WebRequest", "Count": 3, "Proc": {"Name": "powershell.exe"}},
    {"Command": "whoami", "Tags": ["a", "b"]},
    None,
]


@pytest.fixture(scope="module")
def afcase(tmp_path_factory):
    """Three Defender rows whose AdditionalFields is JSON text (one empty)."""
    root = tmp_path_factory.mktemp("af")
    rows = [row(i, AdditionalFields=json.dumps(a) if a else "") for i, a in enumerate(ADDITIONAL)]
    f = root / "af.csv"
    write(f, rows, header=HEADER + ["AdditionalFields"])
    ingest([str(f)], Case.create_or_open(str(root / "case")), Options())
    return Case.open(str(root / "case"))


def _q(case_, q):
    return py_rows(execute_text(make_context(case_), q)[-1].table)


def test_dotted_member_of_a_raw_json_column(afcase):
    rows = _q(afcase, "events | sort by ts asc | project c = raw.AdditionalFields.Command, "
              "n = raw.AdditionalFields.Proc.Name, t = raw.AdditionalFields.Tags[1], "
              'k = raw.AdditionalFields["Count"]')
    assert rows == [{"c": "Invoke-WebRequest", "n": "powershell.exe", "t": None, "k": "3"},
                    {"c": "whoami", "n": None, "t": "b", "k": None},
                    {"c": None, "n": None, "t": None, "k": None}]


def test_member_in_where_then_project_keeps_the_json_column(afcase):
    # the where stage copies only the columns later stages read: the JSON column is one
    rows = _q(afcase, 'events | where raw.AdditionalFields.Command == "whoami" '
              "| project c = raw.AdditionalFields.Command, k = tostring(bag_keys(raw.AdditionalFields))")
    assert rows == [{"c": "whoami", "k": '["Command","Tags"]'}]


def test_parse_json_and_isempty_on_the_json_column(afcase):
    rows = _q(afcase, "events | where isnotempty(raw.AdditionalFields) | extend j = "
              "parse_json(raw.AdditionalFields) | project n = array_length(j.Tags)")
    assert sorted(rows, key=str) == [{"n": 2}, {"n": None}]
    assert _q(afcase, "events | where isempty(raw.AdditionalFields) | count") == [{"count": 1}]


def test_let_list_is_a_list_to_the_checker(afcase):
    ctx = make_context(afcase)
    with pytest.raises(Exception) as ei:
        execute_text(ctx, 'let L = dynamic(["a"]); events | where L == "a"')
    assert "cannot compare a list" in error_text(ei.value, "")
    # the REPL keeps the constant for the next statement
    execute_text(ctx, 'let M = pack_array("x", "y")')
    assert py_rows(execute_text(ctx, "events | take 1 | project n = array_length(M), "
                                     "t = tostring(M)")[-1].table) == [{"n": 2, "t": '["x","y"]'}]


def test_list_misuse_is_a_query_error(afcase):
    base = "events | stats s = values(pid) by host | "
    for tail, msg in (("where s > 1", "cannot compare a list"), ("sort by s", "cannot order"),
                      ("extend x = s * 2", "needs numbers"), ("where s in (1)", "in (…) needs"),
                      ("extend x = lower(s)", "needs a single value"),
                      ("distinct s", "cannot group on a list")):
        with pytest.raises(Exception) as ei:
            execute_text(make_context(afcase), base + tail)
        assert type(ei.value).__name__ == "QueryError" and msg in ei.value.message, tail


# ---------------------------------------------------------------- real data
def _real_case(tmp_path, rel: str):
    """A case of one file of ../shared/data (the test skips when it is absent)."""
    ingest([str(shared(rel))], Case.create_or_open(str(tmp_path / "c")), Options())
    return Case.open(str(tmp_path / "c"))


def test_real_mde_parse_path_agrees_with_filename(tmp_path):
    """Over 200 real DeviceProcessEvents rows: parse_path(FolderPath).Filename is the
    export's own FileName, and DirectoryPath + '\\' + Filename is FolderPath."""
    rows = _q(_real_case(tmp_path, "vendor/msticpy_mde_proc_pub.csv"), "events | extend p = parse_path(raw.FolderPath) | project f = raw.FileName, "
              "pf = p.Filename, back = strcat(p.DirectoryPath, \"\\\\\", p.Filename), "
              "path = raw.FolderPath, n = countof(raw.FolderPath, \"\\\\\")")
    assert len(rows) == 200
    assert all(r["pf"].lower() == r["f"].lower() for r in rows)
    assert all(r["back"] == r["path"] for r in rows)
    assert all(r["n"] >= 1 for r in rows)


def test_members_run_after_the_cheap_filters(afcase):
    """A where's cheap conjuncts run on every row first; a member parses JSON, so it runs
    on the rows still in play."""
    from edrql.expr import Evaluator, Scope
    from edrql.parse import parse
    ev = Evaluator(afcase.events, Scope())
    where = lambda q: parse("events | where " + q)[0].stages[0].expr  # noqa: E731
    assert ev.cheap(where("pid > 5"))
    assert not ev.cheap(where('raw.AdditionalFields.Command == "x"'))
    assert not ev.cheap(where('raw.AdditionalFields["Command"] == "x"'))


def test_real_sysmon_functions_agree_with_normalized_columns(tmp_path):
    """Real Sysmon process starts (an mshta/rundll32 persistence sample): parse_path(image)
    gives the normalized name, and extract()/split()/countof() agree with each other on the
    command lines."""
    c = _real_case(tmp_path, "sysmon/evtx/sbousseaden_exec_persist_rundll32_mshta_scheduledtask_"
                   "sysmon_1_3_11.evtx")
    rows = _q(c, 'events | where event == "process_start" | extend p = parse_path(image) '
              "| project name, f = p.Filename, ext = p.Extension, exe = extract(@\"(?i)([^\\\\\\\\]+)\\.exe\", 1, image), "
              'parts = array_length(split(image, "\\\\")), seps = countof(image, "\\\\")')
    assert len(rows) >= 3
    assert all(r["f"].lower() == r["name"].lower() for r in rows)
    assert all(r["ext"].lower() == "exe" and r["exe"].lower() + ".exe" == r["name"].lower()
               for r in rows)
    assert all(r["parts"] == r["seps"] + 1 for r in rows)
