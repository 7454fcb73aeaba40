"""edrql.sigma.hunt, receipt and timeline: the hit rows, the per-rule summary, the rule
receipt (its counts add up) and the CSVs for Timeline Explorer and Timesketch."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from conftest import shared
from edrql.query import make_context
from edrql.render import py_rows
from edrql.sigma import hunt, receipt, timeline

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = str(ROOT / "examples" / "sigma")
#: what the example rules find in the example case (examples/sigma/, examples/README.md)
FIRED = {"Office Application Starts PowerShell": 1,
         "PowerShell With Hidden Window And Encoded Command": 1,
         "Rundll32 Runs A DLL From The User's Temp Folder": 1,
         "Whoami Lists All Token Information": 1,
         "Scheduled Task Created To Run At Logon": 1,
         "Run Key Points Into ProgramData": 2,
         "Screensaver File With A Document Extension Before It": 1}


@pytest.fixture(scope="module")
def example_hunt(example_case):
    rs, left_out = hunt.load_rules([EXAMPLES])
    return hunt.run(example_case.events, rs, make_context(example_case), [EXAMPLES], left_out)


def test_hit_rows_have_the_contract_columns_in_time_order(example_hunt):
    h = example_hunt.hits
    assert tuple(h.column_names) == hunt.HIT_COLUMNS
    ts = h.column("ts").cast(pa.int64()).to_numpy()
    assert len(ts) == sum(FIRED.values()) and np.all(ts[1:] >= ts[:-1])
    rows = py_rows(h)
    got = {}
    for r in rows:
        got[r["rule"]] = got.get(r["rule"], 0) + 1
    assert got == FIRED
    ps = next(r for r in rows if r["rule"] == "Office Application Starts PowerShell")
    assert ps["tags"] == "T1059.001, T1204.002" and ps["level"] == "high"
    assert ps["rule_id"] == "f8ddb78b-f5e0-509d-be97-aaa8f34c0f4d"
    assert ps["author"] == "edrql example rules" and ps["name"] == "powershell.exe"
    assert ps["matched"].startswith("ParentImage: C:\\Program Files\\Microsoft Office")
    assert ps["source"].endswith("export_early.csv") or ps["source"].endswith("export_late.csv")
    assert isinstance(ps["record"], int) and ps["proc"].split("|")[1] == "6640"


def test_every_hit_is_tied_to_its_event_row(example_case, example_hunt):
    """source and record find the hit's event again: the same host, name and time."""
    ev = example_case.events
    key = {(s, r): i for i, (s, r) in enumerate(zip(ev.column("source").to_pylist(),
                                                   ev.column("record").to_pylist()))}
    evrows = py_rows(ev.select(["ts", "host", "name"]))
    for h in py_rows(example_hunt.hits):
        e = evrows[key[(h["source"], h["record"])]]
        assert (e["ts"], e["host"], e["name"]) == (h["ts"], h["host"], h["name"])


def test_summary_one_row_per_fired_rule_most_severe_first(example_hunt):
    s = py_rows(example_hunt.summary)
    assert tuple(example_hunt.summary.column_names) == hunt.SUMMARY_COLUMNS
    assert {r["rule"]: r["hits"] for r in s} == FIRED
    ranks = [hunt._LEVEL_RANK[r["level"]] for r in s]
    assert ranks == sorted(ranks, reverse=True)
    run_key = next(r for r in s if r["rule"] == "Run Key Points Into ProgramData")
    assert run_key["hosts"] == 1 and run_key["first"] < run_key["last"]


def test_receipt_counts_add_up_on_the_example(example_hunt):
    rc = example_hunt.receipt
    assert rc.read == rc.converted + len(rc.not_supported) == 8
    assert rc.adds_up() and len(rc.fired) == 7 and rc.hits == 8
    (na,) = rc.not_applicable
    assert na["reason"] == "you exported no DNS query events"
    assert [r["title"] for r in na["rules"]] == ["DNS Query For A Dynamic DNS Domain"]
    assert {m["field"] for m in rc.missing_fields} == {"OriginalFileName"}
    text = rc.text()
    assert "8 rule(s) read from 8 file(s)" in text and "fired: 7 rule(s), 8 hit(s)" in text
    assert "not applicable: 1 rule(s): you exported no DNS query events" in text
    j = rc.to_json()
    c = j["counts"]
    assert c["read"] == c["converted"] + c["not_supported"]
    assert c["converted"] == c["not_applicable"] + c["no_hits"] + c["fired"] + c["failed"]
    assert all({"id", "title", "author", "level"} <= set(r) for r in j["fired"])


def _fake_rule(k: int, level="medium"):
    return SimpleNamespace(id=f"id-{k}", title=f"rule {k}", author="a", level=level,
                           path=f"r{k}.yml", fields=frozenset(), attack=())


def test_receipt_groups_not_applicable_rules_by_reason_and_keeps_counts():
    """1,000 registry rules over a proxy log: one line with a count, each rule in the JSON."""
    rules = [_fake_rule(k) for k in range(1005)]
    status = ([("not applicable", "you exported no registry events")] * 1000
              + [("fired", "2 hits"), ("no hits", ""), ("failed", "regex too large"),
                 ("not applicable", "no Linux events in this data"), ("weird", "")])
    rs = SimpleNamespace(rules=rules, files=900,
                         skipped=[SimpleNamespace(path="x.yml", id="s", title="bad", author="b",
                                                  level="high", reason="pySigma: no condition")])
    out = SimpleNamespace(status=status, missing=[()] * 1005)
    rc = receipt.build(["rules/"], rs, out, {1000: (2, 1)}, 10, 0)
    assert rc.read == 1006 and rc.converted == 1005 and rc.adds_up()
    assert [len(g["rules"]) for g in rc.not_applicable] == [1000, 1]
    lines = [ln for ln in rc.lines() if "registry" in ln]
    assert len(lines) == 1 and "1,000 rule(s)" in lines[0] and "997 more" in lines[0]
    assert [f["reason"] for f in rc.failed] == ["regex too large", "weird"]   # never dropped
    assert "not supported: bad (s): pySigma: no condition" in rc.text()


def test_receipt_adds_up_over_every_sigmahq_rule(example_case):
    rules = shared("sigma/rules")
    rs, left_out = hunt.load_rules([str(rules)])
    h = hunt.run(example_case.events, rs, make_context(example_case), [str(rules)], left_out)
    rc = h.receipt
    assert rc.read > 3000 and rc.adds_up() and rc.read == rc.converted + len(rc.not_supported)
    reasons = [g["reason"] for g in rc.not_applicable]
    assert len(reasons) == len(set(reasons))                 # one group per reason
    assert rc.hits == h.hits.num_rows and len(rc.fired) == h.summary.num_rows
    assert all(n["reason"] for n in rc.not_supported)


def test_level_keeps_that_level_and_above_and_counts_the_rest(example_case):
    rs, left_out = hunt.load_rules([EXAMPLES], level="high")
    assert {r.level for r in rs.rules} == {"high"} and left_out == 4
    h = hunt.run(example_case.events, rs, make_context(example_case), [EXAMPLES], left_out)
    assert "4 more left out by the level/tags asked for" in h.receipt.text()
    rs, left_out = hunt.load_rules([EXAMPLES], tags=["attack.t1059"])
    assert sorted(r.title for r in rs.rules) == ["Office Application Starts PowerShell",
                                                 "PowerShell With Hidden Window And Encoded Command"]


# ---------------------------------------------------------------- timeline CSVs
def _hits_table(**over) -> pa.Table:
    cols = {c: pa.array(["x"], pa.string()) for c in hunt.HIT_COLUMNS}
    cols["ts"] = pa.array([1691677267441709300], pa.timestamp("ns", "UTC"))
    cols["record"] = pa.array([7], pa.int64())
    cols["trust"] = pa.array([None], pa.string())
    for k, v in over.items():
        cols[k] = pa.array([v], pa.string())
    return pa.table(cols)


def test_timesketch_csv_has_the_required_columns_first(example_hunt):
    data = timeline.to_csv(example_hunt.hits, "timesketch").decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(data)))
    head = next(csv.reader(io.StringIO(data)))
    assert head[:3] == ["message", "datetime", "timestamp_desc"]
    assert head[3:] == list(hunt.HIT_COLUMNS)
    assert len(rows) == example_hunt.hits.num_rows
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", r["datetime"])
               for r in rows)
    assert rows[0]["datetime"] == "2023-08-10T14:21:07.441709+00:00"
    assert {r["timestamp_desc"] for r in rows} == {timeline.TIMESTAMP_DESC}
    assert rows[0]["message"].startswith("[high] Office Application Starts PowerShell: "
                                         "powershell.exe — powershell.exe -nop -w hidden")


def test_timeline_explorer_csv_one_header_and_the_time_first(example_hunt):
    data = timeline.to_csv(example_hunt.hits, "csv").decode("utf-8")
    lines = list(csv.reader(io.StringIO(data)))
    assert lines[0] == list(hunt.HIT_COLUMNS) and lines[0][0] == "ts"
    assert sum(1 for ln in lines if ln == lines[0]) == 1
    assert lines[1][0] == "2023-08-10T14:21:07.4417093Z"      # 100 ns ticks, as .NET reads


def test_timeline_csv_quotes_and_guards_formulas():
    evil = '=HYPERLINK("http://x.example","click"), and "quotes"'
    t = _hits_table(cmdline=evil, name="-cmd", rule="a,b")
    for fmt in ("csv", "timesketch"):
        row = next(csv.DictReader(io.StringIO(timeline.to_csv(t, fmt).decode("utf-8"))))
        assert row["cmdline"] == "'" + evil and row["name"] == "'-cmd" and row["rule"] == "a,b"
        raw = next(csv.DictReader(io.StringIO(timeline.to_csv(t, fmt, escape=False)
                                              .decode("utf-8"))))
        assert raw["cmdline"] == evil and raw["name"] == "-cmd"


def test_timeline_csv_of_no_hits_is_a_header_row():
    t = _hits_table().slice(0, 0)
    assert timeline.to_csv(t, "timesketch").decode().splitlines() == [
        ",".join(("message", "datetime", "timestamp_desc") + hunt.HIT_COLUMNS)]
    assert timeline.to_csv(t, "csv").decode().splitlines() == [",".join(hunt.HIT_COLUMNS)]


def test_correlation_hits_are_rows_like_any_other(example_case, tmp_path):
    """A temporal_ordered correlation over two example rules: its hit rows are the events of
    the chain, with the correlation's id, title, level and author, tied to their processes."""
    import shutil
    for name in ("proc_office_spawns_powershell.yml", "proc_rundll32_dll_in_temp.yml"):
        shutil.copy(Path(EXAMPLES) / name, tmp_path / name)
    (tmp_path / "chain.yml").write_text(
        "title: Macro PowerShell Then Rundll32 From Temp\n"
        "id: 5d0e3f1a-8a42-4c55-9d36-0b7f5e6a1c11\nstatus: experimental\n"
        "author: edrql tests\nlevel: critical\ncorrelation:\n    type: temporal_ordered\n"
        "    rules:\n        - f8ddb78b-f5e0-509d-be97-aaa8f34c0f4d\n"
        "        - bd66b1f2-9a08-5862-934f-4a3c1adac028\n"
        "    group-by:\n        - Computer\n    timespan: 5m\n", encoding="utf-8")
    rs, left = hunt.load_rules([str(tmp_path)])
    h = hunt.run(example_case.events, rs, make_context(example_case), [str(tmp_path)], left)
    chain = [r for r in py_rows(h.hits) if r["rule"].startswith("Macro PowerShell Then")]
    assert [r["name"] for r in chain] == ["powershell.exe", "rundll32.exe"]
    assert {r["level"] for r in chain} == {"critical"} and chain[0]["author"] == "edrql tests"
    assert all(r["proc"] for r in chain) and h.receipt.adds_up() and len(h.receipt.fired) == 3


def test_timeline_explorer_time_text_has_100ns_ticks():
    ts = pa.array([1691677267441709399, -1, None], pa.timestamp("ns", "UTC"))
    assert timeline.ticks_text(ts).to_pylist() == ["2023-08-10T14:21:07.4417093Z",
                                                   "1969-12-31T23:59:59.9999999Z", None]
