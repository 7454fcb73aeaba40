"""Search over the compact store (no index): the scan of the segments' distinct values finds
exactly what a plain scan of the decoded columns finds, for every kind of needle and every
way a column is stored (carrier, member, mapped, reference, masked reference), over one or
several segments, old (format 1) segments included; and a search writes nothing."""
from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc
import pytest

from edrql import fastscan, segcodec
from edrql.ingest import Options, ingest
from edrql.query import execute_text, make_context
from edrql.render import py_rows
from edrql.store import ENTRY_KEY, Case

from mde_fixture import row, write

BIG = segcodec.NARROW + 2000          # a family past int16: its small members are mapped


def _table() -> pa.Table:
    n = BIG
    cmd = [f"cmd-{i:05d} /c run" for i in range(n)]
    planted = {10: "C:\\Temp\\ÉVIL.exe", 11: "c:\\temp\\évil.exe", 12: "報告書_最終.exe",
               13: "alpha", 14: "beta", 15: "9f86d081884c7d65", 16: "9F86D081884C7D65",
               17: "needle-in-low", 18: "Kelvin \u212a sign", 19: "plain ascii"}
    for i, v in planted.items():
        cmd[i] = v
    low = [["explorer.exe", "alpha", None, "needle-in-low", "SVCHOST.EXE"][i % 5] for i in range(n)]
    norm = [v if i % 7 else None for i, v in enumerate(low)]   # equal where it has a value
    hashes = [("%016x" % (i * 2654435761 % 2**64)).upper() if i % 2 else "%016x" % i for i in range(n)]
    return pa.table({
        "raw.Cmd": pa.array(cmd), "raw.Low": pa.array(low), "low": pa.array(norm),
        "cmd": pa.array(cmd), "raw.Hash": pa.array(hashes), "raw.Empty": pa.nulls(n, pa.string()),
        "n": pa.array(np.arange(n)),
    })


@pytest.fixture(scope="module")
def stored():
    return segcodec.encode(_table())


def test_the_fixture_exercises_every_store(stored):
    how = {c: {k: v for k, v in h.items() if k != "bytes"}      # (bytes: the receipt's)
           for c, h in segcodec.layout_of(stored.schema)["columns"]}
    assert how["raw.Cmd"]["store"] == "carrier"
    assert how["raw.Low"] == {"store": "member", "family": how["raw.Cmd"]["family"], "mapped": True}
    assert how["low"]["store"] == "masked" and how["low"]["of"] == "raw.Low"
    assert how["cmd"] == {"store": "ref", "of": "raw.Cmd"}
    assert how["raw.Empty"]["store"] == "null"
    view = segcodec.text_view(stored)
    fam = view.families[view.coded["raw.Cmd"].family]
    ascii_ = fam.values.slice(fam.bounds[2], fam.bounds[3] - fam.bounds[2])
    data = ascii_.buffers()[2].to_pybytes()
    assert b"alphabeta" in data or b"betaalpha" in data     # adjacent in the buffer


def _plain_scan(table: pa.Table, text: str, cs: bool) -> dict[str, list[int]]:
    out = {}
    for c in table.column_names:
        col = table[c]
        if not segcodec.is_text_type(col.type):
            continue
        col = segcodec.plain(col)
        m = pc.match_substring(col, text) if cs else \
            pc.match_substring(pc.utf8_lower(col), text.lower())
        rows = pc.indices_nonzero(pc.fill_null(m, False)).to_pylist()
        if rows:
            out[c] = rows
    return out


NEEDLES = [("évil", False), ("ÉVIL", False), ("ÉVIL", True), ("évil", True), ("temp\\é", False),
           ("最終", False), ("報告書_最終", True), ("alphabeta", False), ("alphabeta", True),
           ("betaalpha", False), ("alpha", False), ("9f86d081", False), ("9F86D081", True),
           ("9f86d081", True), ("9F86D081", False), ("needle-in-low", False),
           ("NEEDLE-in-low", False), ("needle-in-low", True), ("svchost", False), ("SVCHOST", True),
           ("svchost", True), ("k sign", False), ("\u212a", True), ("cmd-0000", False),
           ("/C RUN", False), ("/C RUN", True), ("exe", False), ("zzz-none", False),
           ("0000000000000", False), ("ABCDEF", True)]


def _scan(scanner, text, cs, columns):
    per_col, scanned, covered = scanner.find_all(text, cs, columns)
    return {c: sorted(r.tolist()) for c, r in per_col.items()}, scanned, covered


@pytest.mark.parametrize("text,cs", NEEDLES)
def test_identical_to_a_plain_scan(stored, text, cs):
    t = _table()
    sc = fastscan.Scanner(tables=[stored])
    names = [c for c in t.column_names if segcodec.is_text_type(t.schema.field(c).type)]
    got, scanned, covered = _scan(sc, text, cs, names)
    assert got == _plain_scan(t, text, cs)
    assert list(got) == [c for c in names if c in got]          # column order
    assert covered == sum(pc.sum(pc.binary_length(t[c])).as_py() or 0 for c in names)
    assert 0 <= scanned <= covered


def test_class_skipping_reads_less(stored):
    sc = fastscan.Scanner(tables=[stored])
    names = ["raw.Cmd", "raw.Low", "low", "cmd", "raw.Hash"]
    _, hex_any, _ = sc.find_all("abc", False, names)
    _, no_hex, _ = sc.find_all("xyz", False, names)
    _, cs_capital, _ = sc.find_all("XYZ", True, names)
    _, unicode_only, _ = sc.find_all("é", False, names)
    assert hex_any > no_hex > cs_capital > unicode_only > 0


def test_pieces_threads_and_many_hits_agree(stored, monkeypatch):
    t = _table()
    names = ["raw.Cmd", "raw.Low", "low", "cmd", "raw.Hash"]
    monkeypatch.setattr(fastscan, "PIECE", 4096)          # many pieces on two threads
    sc = fastscan.Scanner(tables=[stored])
    for text, cs in [("cmd-01", False), ("alphabeta", False), ("n /c", True), ("évil", False)]:
        assert _scan(sc, text, cs, names)[0] == _plain_scan(t.select(names), text, cs), text
    monkeypatch.setattr(fastscan, "MANY_HITS", 50)        # the vectorized fall-back
    sc = fastscan.Scanner(tables=[stored])
    for text, cs in [("cmd-", False), ("/c run", True), ("e", False)]:
        assert _scan(sc, text, cs, names)[0] == _plain_scan(t.select(names), text, cs), text


def test_the_pieces_cover_the_range_at_value_boundaries():
    offs = np.cumsum([0] + [3, 5, 1000, 2, 2, 7000, 1, 1, 1]).astype(np.int64)
    old = fastscan.PIECE
    try:
        fastscan.PIECE = 1024
        pieces = fastscan._pieces(offs, 1, 9)
    finally:
        fastscan.PIECE = old
    assert pieces[0][0] == 1 and pieces[-1][1] == 9 and len(pieces) > 1
    assert all(a < b for a, b in pieces) and all(p[1] == q[0] for p, q in zip(pieces, pieces[1:]))


def test_find_values_rejects_hits_across_values():
    arr = pa.array(["xxal", "pha", "alpha", "zz"])
    assert fastscan.find_values(arr, b"alpha").tolist() == [2]
    assert fastscan.find_values(arr.slice(1), b"alpha").tolist() == [1]
    assert fastscan.find_values(arr.slice(0, 2), b"alpha").tolist() == []


def test_regex_over_values(stored):
    t = _table()
    sc = fastscan.Scanner(tables=[stored])
    names = ["raw.Cmd", "raw.Low", "low"]
    per_col, _, _ = sc.find_matching(lambda v: pc.match_substring_regex(v, r"^(alpha|beta)$"), names)
    want = {c: r for c, r in _plain_scan(t.select(names), "alpha", True).items()}
    want["raw.Cmd"] = sorted(want["raw.Cmd"] + [14])
    assert {c: sorted(r.tolist()) for c, r in per_col.items()} == want


# ------------------------------------------------------------------ whole cases
@pytest.fixture()
def case(tmp_path):
    a = [row(0, ProcessCommandLine=r"C:\Temp\évil.exe --run"),
         row(1, ProcessCommandLine=r"C:\TEMP\ÉVIL.EXE --RUN"),
         row(2, ProcessCommandLine="報告書_最終.exe /s"),
         row(3, ProcessCommandLine="alpha", FolderPath="beta")]
    b = [row(10 + i, ProcessCommandLine=f"tool.exe {h}") for i, h in
         enumerate(["9f86d081884c7d659a2f", "9F86D081884C7D659A2F", "DeadBeef"])]
    b.append(row(20, InitiatingProcessCommandLine="xNeedleX inside", FileName="Évil.exe"))
    write(tmp_path / "a.csv", a)
    write(tmp_path / "b.csv", b)
    root = str(tmp_path / "case")
    ingest([str(tmp_path / "a.csv"), str(tmp_path / "b.csv")], Case.create_or_open(root), Options())
    return Case.open(root)


def q(case, text):
    return execute_text(make_context(case), text)[-1]


def _same_as_plain(case, term):
    fast = q(case, f"search {term}")
    slow = q(case, f"events | where isnotnull(ts) | search {term}")      # a copy: vectorized
    assert fast.extra["receipt"].engine.startswith("search index (compact store"), term
    assert slow.extra["receipt"].engine == "vectorized"
    got = [(x["pid"], x["matched"]) for x in py_rows(fast.table)]
    assert got == [(x["pid"], x["matched"]) for x in py_rows(slow.table)], term
    return got


TERMS = ['"évil"', '"ÉVIL.exe"', 'cs "ÉVIL"', 'cs "évil"', '"最終"', '"alphabeta"', '"alpha"',
         '"9f86d081"', 'cs "9f86d081"', 'cs "9F86D081"', '"deadbeef"', 'cs "deadbeef"',
         '"xneedlex"', 'regex("[ée]vil\\\\.exe")', 'regex("^[0-9A-F]{4}")', '"évil" and "run"',
         '"évil" and not "TEMP"', '"alpha" or "最終"', 'not "exe"', '("évil" or "9f86") and not "RUN"',
         'cs ("évil" or "9F86") and not "RUN"',
         '"évil" in (cmdline)', '"évil" in (raw.FileName, cmdline)', '"1004" in (pid)',
         '"pc-01"', '"2023-08-10"']


def test_case_search_identical_to_a_plain_scan(case):
    assert len(case.segment_tables("events", stored=True)) == 2
    for term in TERMS:
        _same_as_plain(case, term)
    assert [p for p, _ in _same_as_plain(case, '"évil"')] == [1000, 1004, 1080]
    assert _same_as_plain(case, '"alphabeta"') == []
    assert [p for p, _ in _same_as_plain(case, 'cs "9F86D081"')] == [1044]
    assert [p for p, _ in _same_as_plain(case, '"xneedlex"')] == [1080]


def test_receipt_says_the_engine_and_what_was_read(case):
    rc = q(case, 'search "évil"').extra["receipt"]
    assert rc.engine == "search index (compact store, lower-cased)"
    assert not any("built" in n for n in rc.notes)
    assert rc.rows_scanned == case.events.num_rows == 8
    assert 0 < rc.bytes_scanned < rc.bytes_represented
    assert "of text, read as" in rc.text() and "of distinct values" in rc.text()
    rc = q(case, 'search cs "x" or regex("y")').extra["receipt"]
    assert rc.engine == "search index (compact store)" and rc.bytes_scanned > 0


def test_a_search_writes_nothing(case):
    def files():
        return sorted(os.path.relpath(os.path.join(d, f), case.root)
                      for d, _, fs in os.walk(case.root) for f in fs)
    before = files()
    q(case, 'search "évil" or regex("x")')
    q(case, 'search "alpha"')
    assert files() == before
    assert not os.path.exists(os.path.join(case.root, "search"))


def _to_format_1(case: Case) -> None:
    """Rewrite the case's segments in the old layout: plain string columns, no layout key."""
    for s in case.manifest["sources"]:
        path = os.path.join(case.root, s["segment"])
        with pa.memory_map(path, "r") as src:
            t = segcodec.decode(pa.ipc.open_file(src).read_all())
        meta = dict(t.schema.metadata or {})
        assert ENTRY_KEY in meta
        t = pa.table([segcodec.plain(t[c]) for c in t.column_names],
                     names=t.column_names).replace_schema_metadata(meta)
        with pa.OSFile(path + ".tmp", "wb") as sink, pa.ipc.new_file(sink, t.schema) as w:
            w.write_table(t)
        os.replace(path + ".tmp", path)


def test_an_old_case_searches_the_same(case):
    want = {term: _same_as_plain(case, term) for term in TERMS[:12]}
    _to_format_1(case)
    old = Case.open(case.root)
    stored = old.segment_tables("events", stored=True)
    assert all(segcodec.layout_of(t.schema) is None for t in stored)
    for term, rows in want.items():
        fast = q(old, f"search {term}")
        assert "2 format 1 segment(s) encoded in memory" in fast.extra["receipt"].engine
        assert [(x["pid"], x["matched"]) for x in py_rows(fast.table)] == rows, term


def test_the_layouts_byte_count_is_used_when_the_segment_has_one(stored):
    sc = fastscan.Scanner(tables=[stored])
    seg = sc.segments[0]
    counted = seg.text_bytes("raw.Low")
    t = _table()
    assert counted == pc.sum(pc.binary_length(t["raw.Low"])).as_py()
    seg.view.how["raw.Cmd"] = dict(seg.view.how["raw.Cmd"], bytes=12345)
    assert seg.text_bytes("raw.Cmd") == 12345


def test_a_warm_scanner_finds_the_same(stored):
    """From the second search on, columns whose codes lack the hit values are skipped."""
    t = _table()
    sc = fastscan.Scanner(tables=[stored])
    names = [c for c in t.column_names if segcodec.is_text_type(t.schema.field(c).type)]
    for _ in range(3):
        for text, cs in NEEDLES:
            assert _scan(sc, text, cs, names)[0] == _plain_scan(t, text, cs), (text, cs)
    assert any(v is not None for v in sc.segments[0]._present.values())
