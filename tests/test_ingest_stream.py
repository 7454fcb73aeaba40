"""Streamed ingest: a CSV read in many small blocks gives the case a one-block read gives
(rows, quarantine with record numbers, accounting, time-zone decision), and a multi-file
ingest read in reading processes gives the case a one-at-a-time ingest gives."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pyarrow as pa
import pytest

from edrql.ingest import Options, ingest
from edrql.ingestsource import merge_decisions
from edrql.readers.base import Input
from edrql.readers.csvread import stream
from edrql.store import Case

from mde_fixture import row, write

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = 2048                  # bytes per block: a few rows per block


def _rows(n: int, bad_ts: set[int] = frozenset(), dup_of: dict[int, int] | None = None):
    out = []
    for i in range(n):
        kw = {}
        if i % 7 == 3:        # a quoted newline inside a cell
            kw["ProcessCommandLine"] = f'cmd.exe /c "echo {i}\nline two, with comma"'
        if i in bad_ts:
            kw["Timestamp"] = "not a time"
        out.append(row((dup_of or {}).get(i, i), **kw))
    return out


def _plain(t: pa.Table) -> pa.Table:
    cols = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in t.columns]
    return pa.table(cols, names=t.column_names).combine_chunks()


def _cli_ingest(case: str, *files, rc: int = 0, **env) -> subprocess.CompletedProcess:
    e = dict(os.environ, PYTHONPATH=ROOT, **{k: str(v) for k, v in env.items()})
    r = subprocess.run([sys.executable, "-m", "edrql", "ingest", *map(str, files), "--case", case, "-q"],
                       capture_output=True, text=True, env=e, timeout=300)
    assert r.returncode == rc, r.stderr
    return r


def _entries(case: Case) -> list[dict]:
    drop = ("ingested_at", "segment", "quarantine_segment")
    return [{k: v for k, v in s.items() if k not in drop} for s in case.manifest["sources"]]


def _same_case(a: str, b: str) -> Case:
    ca, cb = Case.open(a), Case.open(b)
    ea, eb = _plain(ca.events), _plain(cb.events)
    assert ea.num_rows > 0 and ea.schema == eb.schema
    assert ea.equals(eb)                                     # same rows, same order
    assert _plain(ca.quarantine).equals(_plain(cb.quarantine))
    assert _entries(ca) == _entries(cb)
    for s in ca.manifest["sources"]:
        assert s["records_read"] == s["rows_stored"] + s["quarantined"] + s["duplicates"], s
    return ca


def test_many_blocks_store_what_one_block_stores(tmp_path):
    """Real processes: the same export as ~many blocks and as one; a bad timestamp in a
    later block keeps its record number; a repeated record key in a later block is a
    duplicate of the first occurrence, however far back."""
    f = tmp_path / "export.csv"
    n = 300
    write(f, _rows(n, bad_ts={150, 290}, dup_of={200: 5, 260: 120}))
    inp = Input(str(f), str(f), None, os.path.getsize(f))
    pieces = list(stream(inp, None, SMALL))
    assert None not in pieces and len(pieces) > 10           # really many blocks
    recs = pa.concat_arrays([p.records for p in pieces]).to_pylist()
    assert recs == list(range(1, n + 1))                     # record numbers across blocks

    _cli_ingest(str(tmp_path / "one"), f)                     # default block: one block
    _cli_ingest(str(tmp_path / "many"), f, EDRQL_INGEST_BLOCK=SMALL)
    case = _same_case(str(tmp_path / "one"), str(tmp_path / "many"))
    s = case.manifest["sources"][0]
    assert (s["records_read"], s["quarantined"], s["duplicates"], s["rows_stored"]) == (n, 2, 2, n - 4)
    q = case.quarantine
    assert sorted(q["record"].to_pylist()) == [151, 291]
    assert s["tz_decision"].startswith("explicit zone in values; zone-less")   # merged like one read


def test_bad_record_in_a_later_block_goes_to_the_python_path(tmp_path):
    """A record with the wrong number of fields in block 2 (and later): the file is read
    again whole on the exact path; the quarantine names the right record numbers."""
    f = tmp_path / "bad.csv"
    write(f, _rows(120))
    import csv
    import io
    recs = list(csv.reader(io.StringIO(f.read_bytes().decode(), newline="")))   # header + records
    assert len(recs) == 121
    recs[60] = recs[60][:5]                                   # record 60: 5 fields
    recs[100] = recs[100] + ["extra"]                         # record 100: one too many
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(recs)
    f.write_bytes(buf.getvalue().encode())

    inp = Input(str(f), str(f), None, os.path.getsize(f))
    pieces = list(stream(inp, None, SMALL))
    assert pieces[0] is not None and None in pieces           # started, then again
    assert pieces[-1].records_read == 120 and len(pieces[-1].quarantine) == 2

    _cli_ingest(str(tmp_path / "one"), f)
    _cli_ingest(str(tmp_path / "many"), f, EDRQL_INGEST_BLOCK=SMALL)
    case = _same_case(str(tmp_path / "one"), str(tmp_path / "many"))
    assert sorted(case.quarantine["record"].to_pylist()) == [60, 100]
    s = case.manifest["sources"][0]
    assert (s["records_read"], s["rows_stored"], s["quarantined"]) == (120, 118, 2)


def test_record_larger_than_a_block_starts_again_with_larger_blocks(tmp_path):
    f = tmp_path / "long.csv"
    rows = _rows(40)
    rows[25]["ProcessCommandLine"] = "powershell " + "A" * 20000     # 20 KB cell, blocks of 2 KB
    write(f, rows)
    inp = Input(str(f), str(f), None, os.path.getsize(f))
    pieces = list(stream(inp, None, SMALL))
    assert None in pieces
    last = pieces[len(pieces) - pieces[::-1].index(None):]
    assert sum(p.records_read for p in last) == 40
    a = Case.create_or_open(str(tmp_path / "a"))
    ingest([str(f)], a, Options(block_size=SMALL))
    b = Case.create_or_open(str(tmp_path / "b"))
    ingest([str(f)], b, Options())
    case = _same_case(str(tmp_path / "a"), str(tmp_path / "b"))
    assert case.events.num_rows == 40


def test_header_only_export_reads_as_before(tmp_path):
    f = tmp_path / "header.csv"
    write(f, [])
    reports = []
    for name, block in (("a", SMALL), ("b", None)):
        case = Case.create_or_open(str(tmp_path / name))
        rep = ingest([str(f)], case, Options(block_size=block))
        reports.append(([s["records_read"] for s in rep.sources], [r["reason"] for r in rep.rejected]))
    assert reports[0] == reports[1] and reports[0] != ([], [])


def _sources(tmp_path):
    """Overlapping exports (dedup across sources), one unreadable file, a zip member."""
    files = []
    for k in range(5):
        f = tmp_path / f"part{k}.csv"
        write(f, [row(i, Timestamp="bad") if i == 21 * k + 3 else row(i)
                  for i in range(k * 20, k * 20 + 60)])
        files.append(f)
    junk = tmp_path / "notes.csv"
    junk.write_text("alpha,beta\n1,2\n")                      # unknown format: rejected
    z = tmp_path / "more.zip"
    with zipfile.ZipFile(z, "w") as zf:                        # more members than an archive
        zf.write(files[4], "inner/part4_copy_plus.csv")       # keeps extracted at once
        for j in range(4):
            inner = tmp_path / f"inner{j}.csv"
            write(inner, [row(i) for i in range(150 + 10 * j, 160 + 10 * j)])
            zf.write(inner, f"inner/late{j}.csv")
    return [files[0], files[1], junk, files[2], z, files[3], files[4]]


def test_reading_processes_give_the_case_one_at_a_time_gives(tmp_path, monkeypatch):
    import edrql.ingestpool as ip
    srcs = _sources(tmp_path)
    one = Case.create_or_open(str(tmp_path / "one"))
    r1 = ingest([str(s) for s in srcs], one, Options(workers=1))
    read_there = []
    real_take = ip.Readers.take

    def take(self, i):
        try:
            prep = real_take(self, i)
        except Exception as e:
            read_there.append(type(e).__name__)
            raise
        read_there.append(prep is not None)
        return prep
    monkeypatch.setattr(ip.Readers, "take", take)
    pool = Case.create_or_open(str(tmp_path / "pool"))
    r2 = ingest([str(s) for s in srcs], pool, Options(workers=2, block_size=SMALL))
    # every source read in a reading process; the unknown one rejected there
    assert read_there == [True, True, "SourceError", True] + [True] * 5 + [True, True], read_there
    assert [x["reason"] for x in r1.rejected] == [x["reason"] for x in r2.rejected]
    assert len(r1.rejected) == 1 and "unknown format" in r1.rejected[0]["reason"]
    assert [x["path"] for x in r1.skipped] == [x["path"] for x in r2.skipped]
    case = _same_case(str(tmp_path / "one"), str(tmp_path / "pool"))
    assert sum(s["duplicates"] for s in case.manifest["sources"]) > 0
    assert case.events.num_rows == 179          # records 0..139, 150..189; record 3 quarantined


def test_reading_processes_from_the_command_line(tmp_path):
    srcs = _sources(tmp_path)
    _cli_ingest(str(tmp_path / "one"), *srcs, rc=1, EDRQL_INGEST_WORKERS=1)   # 1: a source rejected
    _cli_ingest(str(tmp_path / "pool"), *srcs, rc=1, EDRQL_INGEST_WORKERS=2, EDRQL_INGEST_BLOCK=SMALL)
    _same_case(str(tmp_path / "one"), str(tmp_path / "pool"))
    with open(tmp_path / "pool" / "manifest.json", encoding="utf-8") as fh:
        man = json.load(fh)
    assert len(man["rejected"]) == 1


@pytest.mark.parametrize("parts,want", [
    (["explicit zone in values"] * 3, "explicit zone in values"),
    (["no time values", "explicit zone in values"], "explicit zone in values"),
    (["no time values", "no time values"], "no time values"),
    (["zone-less values read as UTC (default, no --tz given)",
      "explicit zone in values; zone-less values read as UTC (default, no --tz given)"],
     "explicit zone in values; zone-less values read as UTC (default, no --tz given)"),
])
def test_blocks_time_zone_decisions_merge_as_one_read_words_them(parts, want):
    assert merge_decisions(parts) == want


def test_encode_block_keeps_every_value_and_shares_what_it_can(monkeypatch):
    import pyarrow.compute as pc

    import edrql.ingestsource as src
    from edrql.normalize import mask_where
    monkeypatch.setattr(src, "CODE_ROWS", 5)                  # several code chunks
    vals = pa.chunked_array([pa.array(["a", None, "b", "a", "", "c", "b", None, "d", "a", "e", "f"])])
    masked = mask_where(vals, pc.greater(pa.array(range(12)), 3))
    n = len(vals)
    t = pa.table({"raw.X": vals, "x": masked, "other": pc.utf8_upper(vals),
                  "nothing": pa.nulls(n, pa.string()), "count": pa.nulls(n, pa.int64()),
                  "num": pa.array(range(n))})
    enc = src.encode_block(t)
    assert enc.column_names == t.column_names
    for name in ("raw.X", "x", "other", "nothing"):
        col = enc.column(name)
        assert col.type == pa.dictionary(pa.int16(), pa.string()), name
        assert all(len(ch) <= 5 for ch in col.chunks)
        assert col.cast(pa.string()).to_pylist() == t.column(name).to_pylist(), name
    assert enc.column("count").to_pylist() == [None] * n and enc.column("num").equals(t.column("num"))
    # the masked copy reads the raw column's dictionaries: no second set of strings
    for a, b in zip(enc.column("raw.X").chunks, enc.column("x").chunks):
        assert a.dictionary.buffers()[2].address == b.dictionary.buffers()[2].address


def test_a_script_without_the_main_guard_is_not_run_again(tmp_path):
    """The API from a plain script (no ``if __name__ == "__main__":``): reading processes
    would run the script again, so the automatic choice reads in the one process."""
    for k in range(2):
        write(tmp_path / f"p{k}.csv", [row(i) for i in range(k * 5, k * 5 + 10)])
    script = tmp_path / "user_script.py"
    script.write_text(
        "import edrql.ingestpool as ip\n"
        "from edrql.ingest import Options, ingest\n"
        "from edrql.store import Case\n"
        "ip.POOL_MIN_BYTES = 0\n"
        "print('script ran', flush=True)\n"
        f"rep = ingest([{str(tmp_path / 'p0.csv')!r}, {str(tmp_path / 'p1.csv')!r}],\n"
        f"             Case.create_or_open({str(tmp_path / 'case')!r}), Options())\n"
        "print('stored', sum(s['rows_stored'] for s in rep.sources))\n")
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("EDRQL_INGEST_WORKERS", None)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("script ran") == 1 and "stored 15" in r.stdout
