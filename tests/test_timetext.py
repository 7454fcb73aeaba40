"""A raw time text stored as the format of the time parsed from it (segcodec store
``timetext``, edrql/timetext.py): the text is written again byte for byte, a column with
one differing row stays text, search finds exactly what a plain scan finds (and skips the
column for a needle that cannot be in the format), and ``edrql check`` validates it."""
from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from edrql import fastscan, segcodec, timetext
from edrql.casecheck import compact_problem
from edrql.ingest import Options, ingest
from edrql.store import Case

from mde_fixture import row, write
from test_search_compact import _plain_scan

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
UNITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}


def _reference(v: int, unit: str, fmt: str) -> str:
    """The text of time v (int in unit) in fmt, by Python's datetime."""
    scale = 10 ** UNITS[unit]
    secs, sub = divmod(v, scale)
    t = EPOCH + dt.timedelta(seconds=secs)
    out = fmt.replace("%Y", f"{t.year:04d}").replace("%m", f"{t.month:02d}").replace(
        "%d", f"{t.day:02d}").replace("%H", f"{t.hour:02d}").replace("%M", f"{t.minute:02d}").replace(
        "%S", f"{t.second:02d}")
    for n in range(1, 10):
        frac = f"{sub:0{UNITS[unit]}d}" if UNITS[unit] else ""
        out = out.replace(f"%{n}f", (frac + "0" * 9)[:n])
    return out


EDGES = [0, -1, 86399, 86400, 951782400, 951868800, 4107542399, 1730678400, 1730764799]
# (1970, before it, 2000-02-29, 2100-02-28 23:59:59, ...)


@pytest.mark.parametrize("unit", list(UNITS))
@pytest.mark.parametrize("fmt", ["%Y-%m-%dT%H:%M:%S.%7fZ", "%Y-%m-%d %H:%M:%S.%3f",
                                 "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S.%9f+00:00"])
def test_written_as_python_writes_it(unit, fmt):
    scale = 10 ** UNITS[unit]
    rng = np.random.default_rng(7)
    secs = np.concatenate([np.array(EDGES), rng.integers(-2 * 10**9, 4 * 10**9, 300)])
    vals = secs * scale + (rng.integers(0, scale, len(secs)) if scale > 1 else 0)
    times = pa.array(vals, pa.timestamp(unit, tz="UTC"))
    got = timetext.format_times(times, fmt)
    got.validate(full=True)
    assert got.to_pylist() == [_reference(int(v), unit, fmt) for v in vals]
    assert timetext.guess_format(got[0].as_py()) == fmt


@pytest.mark.parametrize("secs", [-62135596800, 253402300799])     # year 1, 9999-12-31 23:59:59
def test_the_first_and_last_years(secs):
    times = pa.array([secs * 10**6, secs * 10**6 + 5], pa.timestamp("us"))
    fmt = "%Y-%m-%d %H:%M:%S.%6f"
    assert timetext.format_times(times, fmt).to_pylist() == [_reference(secs * 10**6, "us", fmt),
                                                           _reference(secs * 10**6 + 5, "us", fmt)]


def test_times_over_too_many_days_stay_text():
    times = pa.array([-62135596800, 253402300799], pa.timestamp("s"))
    text = pa.array(["0001-01-01 00:00:00", "9999-12-31 23:59:59"])
    with pytest.raises(ValueError):
        timetext.format_times(times, "%Y-%m-%d %H:%M:%S")
    assert timetext.derive(text, times) is None


def test_nulls_where_the_time_or_the_mask_says():
    times = pa.array([1, None, 3 * 10**9, 4 * 10**9], pa.timestamp("ns", tz="UTC"))
    fmt = "%Y-%m-%dT%H:%M:%S.%7fZ"
    a = timetext.format_times(times, fmt)
    assert a.to_pylist() == ["1970-01-01T00:00:00.0000000Z", None,
                             "1970-01-01T00:00:03.0000000Z", "1970-01-01T00:00:04.0000000Z"]
    b = timetext.format_times(times, fmt, pa.array([True, True, False, True]))
    b.validate(full=True)
    assert b.to_pylist() == [a[0].as_py(), None, None, a[3].as_py()]
    assert timetext.format_times(pa.array([None, None], pa.timestamp("ns")), fmt).to_pylist() == [None, None]


def test_derived_only_when_every_row_is_the_time():
    ts = pa.array(np.arange(5) * 10**9 + 1234567 * 100, pa.timestamp("ns", tz="UTC"))
    text = timetext.format_times(ts, "%Y-%m-%dT%H:%M:%S.%7fZ")
    assert timetext.derive(text, ts) == "%Y-%m-%dT%H:%M:%S.%7fZ"
    rows = text.to_pylist()
    for bad in ["1970-01-01T00:00:02.123456Z", "1970-01-01T02:00:02.1234567+02:00",
                "1970-01-01T00:00:02.1234568Z", "yesterday"]:
        assert timetext.derive(pa.array(rows[:2] + [bad] + rows[3:]), ts) is None, bad
    assert timetext.derive(text, pc.if_else(pa.array([True] * 4 + [False]), ts, None)) is None
    assert timetext.derive(pa.array([None, rows[1]] + [None] * 3), ts) is not None
    assert timetext.derive(pa.array(["x"] * 5), ts) is None


def test_can_hold():
    fmt = "%Y-%m-%dT%H:%M:%S.%7fZ"
    for needle in ["2024", "-11-05T1", "13:0", ".1234567Z", "7Z", "T", "Z", "0", "4-1"]:
        assert timetext.can_hold(fmt, needle, True), needle
    for needle in ["t13", "z"]:
        assert timetext.can_hold(fmt, needle, False) and not timetext.can_hold(fmt, needle, True)
    for needle in ["x", "évil", "2024/11", "1.2.3", "::", "Z2", "12345678901234567890123456789", "-T"]:
        assert not timetext.can_hold(fmt, needle, False), needle


def _events(n: int = 3000) -> pa.Table:
    rng = np.random.default_rng(3)
    ts = pa.array(1700000000 * 10**9 + np.sort(rng.integers(0, 3 * 86400 * 10**7, n)) * 100,
                  pa.timestamp("ns", tz="UTC"))
    is_ps = np.arange(n) % 4 == 0
    pstart = pa.array(np.where(is_ps, np.asarray(ts.cast(pa.int64())) - 5 * 10**8, 1699990000 * 10**9),
                      pa.timestamp("ns", tz="UTC"))
    fmt = "%Y-%m-%dT%H:%M:%S.%7fZ"
    pct = pc.if_else(pa.array(is_ps), timetext.format_times(pstart, fmt), None)
    odd = timetext.format_times(ts, fmt).to_pylist()
    odd[17] = odd[17][:-2] + "Z"                       # one row in another format: stays text
    return pa.table({"raw.Timestamp": timetext.format_times(ts, fmt), "raw.ProcessCreationTime": pct,
                     "raw.Odd": pa.array(odd), "raw.Cmd": pa.array([f"cmd {i} 2023" for i in range(n)]),
                     "ts": ts, "pstart": pstart})


@pytest.fixture(scope="module")
def stored():
    return segcodec.encode(_events())


def test_round_trip_and_what_is_stored(stored):
    t = _events()
    how = dict(segcodec.layout_of(stored.schema)["columns"])
    assert how["raw.Timestamp"] == {"store": "timetext", "of": "ts", "format": "%Y-%m-%dT%H:%M:%S.%7fZ",
                                    "bytes": 28 * t.num_rows}
    assert how["raw.ProcessCreationTime"]["store"] == "timetext"
    assert how["raw.ProcessCreationTime"]["of"] == "pstart"
    assert how["raw.Odd"]["store"] == "carrier" and how["raw.Cmd"]["store"] == "carrier"
    assert "raw.Timestamp" not in stored.column_names                     # nothing stored
    assert stored.schema.field("raw.ProcessCreationTime").type == pa.bool_()   # where it has a value
    assert how["raw.ProcessCreationTime"]["dictionary"] is True     # 750 times in 3,000 rows
    assert "dictionary" not in how["raw.Timestamp"]                 # one per row: plain text
    back = segcodec.decode(stored)
    back.validate(full=True)
    assert back.schema == segcodec.decoded_schema(stored.schema)
    assert back.schema.field("raw.Timestamp").type == pa.string()
    pct = back["raw.ProcessCreationTime"].chunk(0)
    assert pct.type == pa.dictionary(pa.int32(), pa.string())
    assert len(pct.dictionary) == len(set(pct.dictionary.to_pylist())) == 750
    for c in t.column_names:
        assert segcodec.plain(back[c]).combine_chunks().equals(t[c].combine_chunks()), c
    assert compact_problem(stored)[0] is None
    # each distinct string once: the families hold the text columns' values, no time text
    view = segcodec.text_view(stored)
    values = [v for f in view.families for v in f.values.to_pylist()]
    assert len(values) == len(set(values))
    assert set(values) == set(t["raw.Odd"].to_pylist()) | set(t["raw.Cmd"].to_pylist())


def test_a_chunked_dictionary_input_encodes_the_same(stored):
    t = _events()
    parts = [t.slice(0, 1000), t.slice(1000)]
    chunked = pa.concat_tables([segcodec.dictionary_batch(p) for p in parts])
    again = segcodec.encode([chunked])
    assert segcodec.layout_of(again.schema)["columns"] == segcodec.layout_of(stored.schema)["columns"]


NEEDLES = [("2023-11-1", False), ("T22:", True), ("t22:", False), ("T22:", False), ("t22:", True),
           ("Z", True), ("z", False), ("0Z", True), ("56.1", False), (".12", False), ("2023", False),
           (":00:0", True), ("-11-15T0", True), ("cmd 1", False), ("x", False), ("évil", False),
           ("7Z", False), ("2023-11-14T22:13:20.", True)]


@pytest.mark.parametrize("text,cs", NEEDLES)
def test_search_identical_to_a_plain_scan(stored, text, cs):
    t = _events()
    names = [c for c in t.column_names if segcodec.is_text_type(t.schema.field(c).type)]
    sc = fastscan.Scanner(tables=[stored])
    per_col, scanned, covered = sc.find_all(text, cs, names)
    got = {c: sorted(r.tolist()) for c, r in per_col.items()}
    assert got == _plain_scan(t, text, cs)
    assert list(got) == [c for c in names if c in got]
    assert covered == sum(pc.sum(pc.binary_length(t[c])).as_py() or 0 for c in names)
    assert 0 <= scanned <= covered
    derived = ["raw.Timestamp", "raw.ProcessCreationTime"]
    _, alone, _ = sc.find_all(text, cs, derived)
    fmt = "%Y-%m-%dT%H:%M:%S.%7fZ"
    assert (alone > 0) == timetext.can_hold(fmt, text.lower() if not cs else text, cs)


def test_many_hits_and_regex_agree(stored, monkeypatch):
    t = _events()
    names = ["raw.Timestamp", "raw.ProcessCreationTime", "raw.Odd"]
    monkeypatch.setattr(fastscan, "MANY_HITS", 20)
    sc = fastscan.Scanner(tables=[stored])
    for text, cs in [("2023-11-1", False), ("T", True), ("00", False)]:
        per_col, _, _ = sc.find_all(text, cs, names)
        assert {c: sorted(r.tolist()) for c, r in per_col.items()} == _plain_scan(t.select(names), text, cs)
    per_col, _, _ = sc.find_matching(lambda v: pc.match_substring_regex(v, r"T2[23]:.*9Z$"), names)
    want = {}
    for c in names:
        m = pc.match_substring_regex(t[c], r"T2[23]:.*9Z$")
        rows = pc.indices_nonzero(pc.fill_null(m, False)).to_pylist()
        if rows:
            want[c] = rows
    assert {c: sorted(r.tolist()) for c, r in per_col.items()} == want and want


@pytest.mark.parametrize("change,said", [
    (lambda h: h.update(of="raw.Cmd"), "not a number or time column"),
    (lambda h: h.update(of="nope"), "not a number or time column"),
    (lambda h: h.update(format="%Y-%Q"), "is not one edrql writes"),
    (lambda h: h.update(format=7), "is not one edrql writes"),
])
def test_check_names_a_broken_timetext(stored, change, said):
    import json
    layout = segcodec.layout_of(stored.schema)
    for c, h in layout["columns"]:
        if c == "raw.Timestamp":
            change(h)
    meta = dict(stored.schema.metadata)
    meta[segcodec.LAYOUT_KEY] = json.dumps(layout).encode()
    why, _ = compact_problem(stored.replace_schema_metadata(meta))
    assert why and said in why and "raw.Timestamp" in why, why


def test_a_defender_case_stores_its_timestamp_as_a_format(tmp_path):
    rows = [row(i, ProcessCreationTime="" if i % 3 else row(i)["ProcessCreationTime"]) for i in range(40)]
    write(tmp_path / "a.csv", rows)
    root = str(tmp_path / "case")
    ingest([str(tmp_path / "a.csv")], Case.create_or_open(root), Options())
    case = Case.open(root)
    stored = case.segment_tables("events", stored=True)[0]
    how = dict(segcodec.layout_of(stored.schema)["columns"])
    assert how["raw.Timestamp"]["store"] == "timetext" and how["raw.Timestamp"]["of"] == "ts"
    assert how["raw.ProcessCreationTime"]["store"] == "timetext"
    ev = case.events
    assert segcodec.plain(ev["raw.Timestamp"]).to_pylist() == [r["Timestamp"] for r in rows]
    assert segcodec.plain(ev["raw.ProcessCreationTime"]).to_pylist() == \
        [r["ProcessCreationTime"] or None for r in rows]
    from edrql.casecheck import check
    assert check(root).ok
    assert os.path.exists(root)


def test_several_segments_overlapping_exports_and_queries(tmp_path):
    a = [row(i) for i in range(30)]
    b = [row(i) for i in range(20, 50)]                # 20..29 again: duplicates
    b[25]["Timestamp"] = "2023-08-10 14:00:45.1234565"  # another format: this export's stays text
    write(tmp_path / "a.csv", a)
    write(tmp_path / "b.csv", b)
    root = str(tmp_path / "case")
    ingest([str(tmp_path / "a.csv"), str(tmp_path / "b.csv")], Case.create_or_open(root), Options())
    case = Case.open(root)
    stores = [dict(segcodec.layout_of(t.schema)["columns"])["raw.Timestamp"]["store"]
              for t in case.segment_tables("events", stored=True)]
    assert sorted(stores) == ["carrier", "timetext"]
    m = case.manifest["totals"]
    assert (m["records_read"], m["rows"], m["duplicates"]) == (60, 50, 10)
    ev = case.events
    assert sorted(segcodec.plain(ev["raw.Timestamp"]).to_pylist()) == \
        sorted({r["Timestamp"] for r in a + b[10:]})
    from edrql.query import execute_text, make_context
    out = execute_text(make_context(case), 'events | where raw.Timestamp startswith "2023-08-10T14:00:4" '
                                           '| stats count() by raw.Timestamp | count')[-1].table
    assert out["count"].to_pylist() == [9]      # 40..49 but the one written otherwise
