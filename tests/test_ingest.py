"""Ingest: accounting, dedup, quarantine, encodings and bad input (own fixtures)."""
from __future__ import annotations

import json
import os

import pyarrow.compute as pc
import pytest

from edrql.ingest import Options, ingest
from edrql.store import Case

from mde_fixture import row, write


def _ingest(tmp_path, *files, **opts):
    case = Case.create_or_open(str(tmp_path / "case"))
    rep = ingest([str(f) for f in files], case, Options(**opts))
    return Case.open(str(tmp_path / "case")) if rep.sources else case, rep


def _reconciled(case):
    for s in case.manifest["sources"]:
        assert s["records_read"] == s["rows_stored"] + s["quarantined"] + s["duplicates"], s


def test_basic_mde_csv_full_precision(tmp_path):
    f = tmp_path / "a.csv"
    write(f, [row(i) for i in range(5)])
    case, rep = _ingest(tmp_path, f)
    ev = case.events
    assert ev.num_rows == 5
    # 7 fractional digits kept: 14:00:00.1234560 -> ...123456000 ns
    assert pc.cast(ev["ts"], "int64")[1].as_py() % 10**9 == 123456100
    assert ev["pid"].to_pylist() == [1000, 1004, 1008, 1012, 1016]
    assert set(ev["event"].to_pylist()) == {"process_start"}
    assert ev["raw.ProcessCommandLine"][2].as_py() == "cmd.exe /c echo 2"
    _reconciled(case)


def test_overlapping_exports_stored_once(tmp_path):
    a, b = tmp_path / "early.csv", tmp_path / "late.csv"
    write(a, [row(i) for i in range(10)])
    write(b, [row(i) for i in range(5, 20)])
    case, _ = _ingest(tmp_path, a)
    case, rep = _ingest(tmp_path, b)
    assert case.events.num_rows == 20
    late = [s for s in case.manifest["sources"] if s["path"].endswith("late.csv")][0]
    assert late["duplicates"] == 5 and late["rows_stored"] == 10
    _reconciled(case)


def test_same_file_twice_is_skipped(tmp_path):
    a = tmp_path / "a.csv"
    write(a, [row(i) for i in range(3)])
    _ingest(tmp_path, a)
    case, rep = _ingest(tmp_path, a)
    assert rep.skipped and not rep.sources
    assert Case.open(str(tmp_path / "case")).events.num_rows == 3


def test_embedded_newline_quote_comma_nul_and_huge_cell(tmp_path):
    big = "A" * (10 * 1024 * 1024)
    rows = [row(0, ProcessCommandLine='powershell -c "a,b"\r\nwrite-host "x"'),
            row(1, ProcessCommandLine="nul\x00byte"),
            row(2, ProcessCommandLine=big)]
    f = tmp_path / "weird.csv"
    write(f, rows)
    case, _ = _ingest(tmp_path, f)
    cl = case.events["cmdline"].to_pylist()
    assert cl[0] == 'powershell -c "a,b"\r\nwrite-host "x"'
    assert cl[1] == "nul\x00byte"
    assert len(cl[2]) == len(big)
    _reconciled(case)


def test_bad_rows_quarantined_with_record_numbers(tmp_path):
    f = tmp_path / "bad.csv"
    write(f, [row(i) for i in range(4)])
    with open(f, "ab") as fh:
        fh.write(b"only,three,fields\r\n")
    text = open(f, "rb").read().replace(b"2023-08-10T14:00:02.1234562Z,", b"not-a-time,", 1)
    open(f, "wb").write(text)
    case, _ = _ingest(tmp_path, f)
    q = case.quarantine.to_pylist()
    reasons = {r["record"]: r["reason"] for r in q}
    assert reasons[5].startswith("expected 19 fields, found 3")
    assert reasons[3] == "no parseable timestamp"
    assert case.events["record"].to_pylist() == [1, 2, 4]
    assert "not-a-time" in [r for r in q if r["record"] == 3][0]["raw"]
    _reconciled(case)


@pytest.mark.parametrize("encoding,bom", [("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"),
                                          ("utf-16-be", b"\xfe\xff"), ("cp932", b"")])
def test_encodings(tmp_path, encoding, bom):
    f = tmp_path / "enc.csv"
    write(f, [row(0, AccountName="x", ProcessCommandLine="echo 髙橋 ㈱ Ⅰ ①")], encoding=encoding, bom=bom)
    case, _ = _ingest(tmp_path, f)
    assert case.events["cmdline"][0].as_py() == "echo 髙橋 ㈱ Ⅰ ①"
    assert case.manifest["sources"][0]["encoding"].startswith(
        {"utf-8": "utf-8-sig", "utf-16-le": "utf-16-le", "utf-16-be": "utf-16-be", "cp932": "cp932"}[encoding])


def test_mixed_encodings_lose_nothing(tmp_path):
    f = tmp_path / "mixed.csv"
    write(f, [row(0, ProcessCommandLine="utf8 é"), row(1, ProcessCommandLine="SJIS")])
    data = open(f, "rb").read().replace(b"SJIS", "髙橋".encode("cp932")).replace(
        b"echo", b"\xff\xfe\xfd")
    data += b""
    open(f, "wb").write(data)
    case, _ = _ingest(tmp_path, f)
    cl = case.events["cmdline"].to_pylist()
    assert cl == ["utf8 é", "髙橋"]
    assert case.manifest["sources"][0]["encoding"].startswith("mixed")


def test_undecodable_bytes_are_escaped_not_dropped(tmp_path):
    f = tmp_path / "junk.csv"
    write(f, [row(0, ProcessCommandLine="X")])
    data = open(f, "rb").read().replace(b",X,", b",\x81 \xa0\x81,")  # neither UTF-8 nor cp932
    open(f, "wb").write(data)
    case, _ = _ingest(tmp_path, f)
    from edrql.safetext import undecodable as u
    assert case.events["cmdline"][0].as_py() == f"{u(0x81)} {u(0xa0)}{u(0x81)}"  # not the text \\x81
    assert "1 line(s) with undecodable bytes" in case.manifest["sources"][0]["encoding"]


def test_empty_header_only_and_unknown(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    header_only = tmp_path / "header.csv"
    write(header_only, [])
    unknown = tmp_path / "notes.csv"
    unknown.write_text("alpha,beta\n1,2\n")
    case = Case.create_or_open(str(tmp_path / "case"))
    rep = ingest([str(empty), str(header_only), str(unknown)], case, Options())
    reasons = " | ".join(r["reason"] for r in rep.rejected)
    assert "empty.csv: empty file" in reasons
    assert "notes.csv: unknown format" in reasons and "--mapping" in reasons
    hdr = [s for s in rep.sources if s["path"].endswith("header.csv")]
    assert hdr and hdr[0]["records_read"] == 0


def test_zone_less_times_use_tz_and_record_decision(tmp_path):
    f = tmp_path / "local.csv"
    write(f, [row(0, Timestamp="2023-08-10 23:30:00.5")])
    case, _ = _ingest(tmp_path, f, tz="Asia/Tokyo", tz_given=True)
    assert pc.cast(case.events["ts"], "int64")[0].as_py() == 1691677800500000000  # 14:30:00.5Z
    assert "Asia/Tokyo (--tz)" in case.manifest["sources"][0]["tz_decision"]


def test_zip_members_read_in_memory(tmp_path):
    import zipfile
    f = tmp_path / "a.csv"
    write(f, [row(i) for i in range(3)])
    z = tmp_path / "bundle.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(f, "exports/a.csv")
    case, _ = _ingest(tmp_path, z)
    assert case.events.num_rows == 3
    assert case.manifest["sources"][0]["path"].endswith("bundle.zip!exports/a.csv")


def test_manifest_fields_and_hosts(tmp_path):
    f = tmp_path / "a.csv"
    write(f, [row(i) for i in range(3)] + [row(9, DeviceName="pc-02", ActionType="ConnectionSuccess",
                                               RemoteIP="1.2.3.4", RemotePort="443")])
    case, _ = _ingest(tmp_path, f)
    m = json.load(open(tmp_path / "case" / "manifest.json"))
    s = m["sources"][0]
    for k in ("path", "size", "sha256", "reader", "encoding", "records_read", "rows_stored",
              "quarantined", "duplicates", "time_range", "tz_decision"):
        assert k in s
    assert m["hosts"]["pc-02"]["events"] == {"network_connect": 1}
    assert m["hosts"]["pc-01"]["events"] == {"process_start": 3}
    assert len(s["sha256"]) == 64


def test_interrupted_ingest_leaves_case_intact(tmp_path, monkeypatch):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write(a, [row(i) for i in range(3)])
    write(b, [row(i) for i in range(10, 13)])
    _ingest(tmp_path, a)
    before = open(tmp_path / "case" / "manifest.json").read()
    import edrql.store as store

    def boom(self):
        raise KeyboardInterrupt
    monkeypatch.setattr(store.Case, "commit", boom)
    with pytest.raises(KeyboardInterrupt):
        _ingest(tmp_path, b)
    assert open(tmp_path / "case" / "manifest.json").read() == before
    assert Case.open(str(tmp_path / "case")).events.num_rows == 3


def test_sources_opened_read_only(tmp_path):
    f = tmp_path / "a.csv"
    write(f, [row(0)])
    os.chmod(f, 0o444)
    before = open(f, "rb").read()
    case, _ = _ingest(tmp_path, f)
    assert open(f, "rb").read() == before and case.events.num_rows == 1


def test_header_order_and_subset_free(tmp_path):
    hdr = ["ReportId", "ActionType", "DeviceName", "Timestamp", "InitiatingProcessId"]
    f = tmp_path / "subset.csv"
    write(f, [row(0, ActionType="FileCreated")], header=hdr)
    case, _ = _ingest(tmp_path, f)
    r = case.events.to_pylist()[0]
    assert r["event"] == "file_create" and r["pid"] == 500 and r["host"] == "pc-01"


def test_many_sources_dedup_in_one_pass_each(tmp_path, monkeypatch):
    """Sources of one ingest are deduplicated against each other without re-reading what
    was stored (a skipped identical source used to make every later one re-read all stored
    segments: 1,200 zip members took 80 s); the counts stay exact."""
    import edrql.ingest as ing
    files = []
    for k in range(40):                      # windows of 6 rows sliding by 3: half overlap
        f = tmp_path / f"part{k:02d}.csv"
        write(f, [row(i) for i in range(3 * k, 3 * k + 6)])
        files.append(f)
    dup = tmp_path / "zz_copy.csv"
    dup.write_bytes(files[0].read_bytes())   # identical content: skipped, not stored
    opened = []
    real_open = ing._open
    monkeypatch.setattr(ing, "_open", lambda case, rel: opened.append(rel) or real_open(case, rel))
    case, rep = _ingest(tmp_path, *files[:20], dup, *files[20:])
    assert len(rep.skipped) == 1 and len(rep.sources) == 40
    # nothing stored before: nothing re-read, except the first source's keys, read back once
    # from its new segment when the second asks (the writer does not keep its rows for that)
    first = next(s for s in case.manifest["sources"] if s["path"].endswith("part00.csv"))
    assert opened == [first["segment"]]
    assert case.events.num_rows == 3 * 40 + 3
    assert sum(s["duplicates"] for s in case.manifest["sources"]) == 3 * 39
    _reconciled(case)


def test_records_missing_part_of_the_vendor_key_are_not_collapsed(tmp_path):
    """Flat event-log lines carry Hostname, Channel, RecordNumber, EventTime as their key; a
    line without RecordNumber/EventTime is not identified by it: such lines are records each
    (none is lost as a 'duplicate'), exact copies across sources are still duplicates, and
    lines with the whole key are deduplicated as before."""
    import json
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    lines = [{"Hostname": "ws1", "Channel": "Security", "EventID": 4688, "NewProcessName": f"C:\\\\p{i}.exe",
              "TimeCreated": f"2024-01-01T00:00:0{i}Z"} for i in range(3)]
    lines += [{"Hostname": "ws1", "Channel": "Security", "EventID": 4688, "RecordNumber": 7,
               "EventTime": "2024-01-01 00:00:09", "NewProcessName": "C:\\\\q.exe"}] * 2
    src = tmp_path / "flat.json"
    src.write_text("".join(json.dumps(x) + "\n" for x in lines))
    root = str(tmp_path / "case")
    ingest([str(src)], Case.create_or_open(root), Options())
    case = Case.open(root)
    assert case.events.num_rows == 4
    copy = tmp_path / "copy.json"
    copy.write_text(src.read_text())
    ingest([str(copy)], Case.create_or_open(root), Options())
    assert Case.open(root).events.num_rows == 4                  # the copy: all duplicates
