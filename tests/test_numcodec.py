"""Plain (non-text) columns in a compact segment (edrql/numcodec.py): an all-null number,
time or boolean column stores nothing and decodes as nulls of its own type over one
shared zero buffer; every other plain column is stored as it is; the decoded table keeps
the events schema, over one segment or several."""
from __future__ import annotations

import glob
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from edrql import numcodec, segcodec
from edrql.casecheck import compact_problem
from edrql.ingest import Options, ingest
from edrql.store import Case, concat_segments

from mde_fixture import row, write

TYPES = [pa.int64(), pa.int16(), pa.uint32(), pa.float64(), pa.bool_(),
         pa.timestamp("ns", tz="UTC"), pa.timestamp("us"), pa.date32(), pa.duration("ns")]


def _table(n: int) -> pa.Table:
    cols = {f"none{i}": pa.nulls(n, t) for i, t in enumerate(TYPES)}
    cols["rport"] = pa.array([443 if i % 5 == 0 else None for i in range(n)], pa.int64())
    cols["pid"] = pa.array(np.arange(4, 4 + n), pa.int64())
    cols["ts"] = pa.array(np.arange(n) * 1000, pa.timestamp("ns", tz="UTC"))
    cols["host"] = pa.array([f"pc-{i % 3}" for i in range(n)])
    cols["url"] = pa.nulls(n, pa.string())
    return pa.table(cols)


def _how(stored: pa.Table) -> dict:
    return dict((c, h) for c, h in segcodec.layout_of(stored.schema)["columns"])


def _values(col) -> list:
    col = segcodec.plain(col)
    if pa.types.is_temporal(col.type):
        col = pc.cast(col, pa.int64()) if not pa.types.is_date(col.type) else col
    return col.to_pylist()


@pytest.mark.parametrize("n", [1, 2, 1000])
def test_all_null_plain_columns_store_nothing_and_decode_as_their_type(n):
    t = _table(n)
    stored = segcodec.encode(t)
    how = _how(stored)
    for i, typ in enumerate(TYPES):
        c = f"none{i}"
        assert c not in stored.column_names
        assert how[c]["store"] == "null" and numcodec.parse_type(how[c]) == typ
        assert "bytes" not in how[c]                 # a text figure: not a number column's
    assert how["url"] == {"store": "null", "bytes": 0}       # text: as before
    back = segcodec.decode(stored)
    back.validate(full=True)
    assert back.schema == segcodec.decoded_schema(stored.schema)
    for c in t.column_names:
        want = t.schema.field(c).type
        got = back.schema.field(c).type
        assert got == (pa.dictionary(pa.int8(), pa.string()) if c in ("host", "url") else want), c
        assert _values(back[c]) == _values(t[c]), c
        if c.startswith("none"):
            assert back[c].null_count == n and not back[c].is_valid().to_pylist().count(True)


def test_columns_with_a_value_are_stored_as_they_are_or_narrower():
    t = _table(50)
    stored = segcodec.encode(t)
    how = _how(stored)
    assert how["ts"] == {"store": "plain"} and stored.schema.field("ts").type == t.schema.field("ts").type
    assert how["rport"] == {"store": "narrow", "type": "int64", "as": "int16"}
    assert stored.schema.field("rport").type == pa.int16()
    assert how["pid"] == {"store": "range", "type": "int64", "start": 4, "step": 1}
    assert "pid" not in stored.column_names
    one = pa.table({"x": pa.array([None] * 9 + [7], pa.int64())})     # one value is enough
    assert _how(segcodec.encode(one))["x"] == {"store": "narrow", "type": "int64", "as": "int8"}
    wide = pa.table({"x": pa.array([0, 2**40, None], pa.int64()),
                     "f": pa.array([1.0, 2.0, 3.0]), "i32": pa.array([1, 2, 3], pa.int32())})
    assert set(map(str, _how(segcodec.encode(wide)).values())) == {str({"store": "plain"})}


def test_every_null_column_shares_one_zero_buffer():
    back = segcodec.decode(segcodec.encode(_table(300)))
    addrs = {back[c].chunk(0).buffers()[1].address for c in back.column_names
             if c.startswith("none")}
    assert len(addrs) == 1
    zeros = numcodec._ZEROS[0]
    assert addrs == {zeros.ctypes.data} and not zeros.any()
    url = back["url"].chunk(0)                # a text column's nulls: the same buffer
    assert url.indices.buffers()[1].address == zeros.ctypes.data


def test_a_bigger_segment_grows_the_shared_buffer_and_older_arrays_stay_valid():
    small = segcodec.decode(segcodec.encode(_table(10)))
    big = segcodec.decode(segcodec.encode(_table(5000)))
    assert small["none0"].null_count == 10 and big["none0"].null_count == 5000
    small.validate(full=True)
    big.validate(full=True)


def test_an_empty_segment_keeps_its_schema():
    t = _table(0)
    stored = segcodec.encode(t)
    how = _how(stored)
    assert how["none0"] == {"store": "plain"}          # nothing to gain, nothing changed
    back = segcodec.decode(stored)
    assert back.num_rows == 0 and back.schema == segcodec.decoded_schema(stored.schema)
    assert back.schema.field("none5").type == pa.timestamp("ns", tz="UTC")


def test_types_without_a_fixed_width_stay_plain():
    t = pa.table({"b": pa.nulls(4, pa.binary()), "l": pa.nulls(4, pa.list_(pa.int64())),
                  "d": pa.nulls(4, pa.decimal128(10, 2))})
    stored = segcodec.encode(t)
    assert all(h == {"store": "plain"} for h in _how(stored).values())
    assert segcodec.decode(stored).schema == t.schema


def test_type_words_round_trip_and_bad_ones_are_refused():
    for t in TYPES + [pa.timestamp("ms", tz="Europe/Paris"), pa.time64("ns")]:
        assert numcodec.parse_type(numcodec.type_text(t)) == t
    assert numcodec.type_problem({"store": "null", "type": "int64"}) is None
    assert "not an Arrow type" in numcodec.type_problem({"store": "null", "type": "int65"})
    assert "not an Arrow type" in numcodec.type_problem({"store": "null", "type": "int64",
                                                         "tz": "UTC"})
    assert "fixed-width" in numcodec.type_problem({"store": "null", "type": "string"})


def test_an_old_segment_with_a_stored_null_column_still_reads(monkeypatch):
    t = _table(20)
    monkeypatch.setattr(numcodec, "plain_store", lambda col: None)   # what main wrote
    old = segcodec.encode(t)
    monkeypatch.undo()
    assert _how(old)["none0"] == {"store": "plain"} and "none0" in old.column_names
    back = segcodec.decode(old)
    assert back.schema == segcodec.decode(segcodec.encode(t)).schema
    assert back["none0"].null_count == 20
    assert compact_problem(old)[0] is None


def _with_layout(stored: pa.Table, change) -> pa.Table:
    import json
    layout = segcodec.layout_of(stored.schema)
    change(dict((c, h) for c, h in layout["columns"]))
    meta = dict(stored.schema.metadata)
    meta[segcodec.LAYOUT_KEY] = json.dumps(layout).encode()
    return stored.replace_schema_metadata(meta)


def test_check_validates_the_null_columns_type():
    stored = segcodec.encode(_table(30))
    why, dec = compact_problem(stored)
    assert why is None and dec.num_rows == 30
    bad = _with_layout(stored, lambda how: how["none0"].update(type="int65"))
    assert "column none0" in compact_problem(bad)[0] and "int65" in compact_problem(bad)[0]
    nested = _with_layout(stored, lambda how: how["none1"].update(type="large_string"))
    assert "fixed-width" in compact_problem(nested)[0]
    ev = segcodec.encode(pa.table({"http_status": pa.nulls(3, pa.int64()),
                                   "url": pa.nulls(3, pa.string())}))
    assert ev.num_columns == 0                       # nothing stored: no rows of its own
    why, dec = compact_problem(ev)
    assert why is None and dec.num_rows == 3 and dec["http_status"].null_count == 3
    wrong = _with_layout(ev, lambda how: how["http_status"].update(type="int32"))
    assert "the events column is int64" in compact_problem(wrong)[0]
    stored_too = _with_layout(stored, lambda how: how["rport"].update(store="null", type="int64"))
    assert "stored too" in compact_problem(stored_too)[0]


INTS = {
    "record": pa.array(np.arange(1, 1001), pa.int64()),                       # a range
    "down": pa.array(np.arange(5000, 0, -5), pa.int64()),                     # step -5
    "same": pa.array(np.full(1000, -7), pa.int64()),                          # step 0
    "port": pa.array([None if i % 3 else i % 65536 * 65 % 65536 for i in range(1000)], pa.int64()),
    "pid": pa.array([(i * 2654435761) % 2**32 for i in range(1000)], pa.int64()),   # uint32
    "neg": pa.array([-(2**31) + i if i % 2 else 2**31 - 1 - i for i in range(1000)], pa.int64()),
    "tiny": pa.array([i % 100 - 50 if i % 7 else None for i in range(1000)], pa.int64()),
    "big": pa.array([2**62 + i for i in range(999)] + [None], pa.int64()),    # stays plain
    "gap": pa.array(list(range(1, 500)) + list(range(501, 1002)), pa.int64()),  # not a range
}


def test_range_and_narrow_columns_round_trip():
    t = pa.table(INTS)
    stored = segcodec.encode(t)
    how = _how(stored)
    want = {"record": ("range", None), "down": ("range", None), "same": ("range", None),
            "port": ("narrow", "uint16"), "pid": ("narrow", "uint32"), "neg": ("narrow", "int32"),
            "tiny": ("narrow", "int8"), "big": ("plain", None), "gap": ("narrow", "int16")}
    for c, (kind, as_) in want.items():
        assert how[c]["store"] == kind and how[c].get("as") == as_, (c, how[c])
        assert (c in stored.column_names) == (kind != "range"), c
    assert how["down"]["start"] == 5000 and how["down"]["step"] == -5
    back = segcodec.decode(stored)
    back.validate(full=True)
    assert back.schema == segcodec.decoded_schema(stored.schema) == t.schema
    for c in t.column_names:
        assert back[c].to_pylist() == t[c].to_pylist(), c
    assert compact_problem(stored)[0] is None
    one = segcodec.encode(pa.table({"r": pa.array([9], pa.int64())}))
    assert _how(one)["r"]["store"] == "narrow" and segcodec.decode(one)["r"].to_pylist() == [9]


def test_check_validates_range_and_narrow_columns():
    stored = segcodec.encode(pa.table(INTS))
    for change, said in [
            (lambda how: how["record"].update(step="1"), "not integers"),
            (lambda how: how["record"].update(type="double"), "only integers"),
            (lambda how: how["port"].update(store="range", start=1, step=1), "stored too"),
            (lambda how: how["port"].update(**{"as": "int8"}), "should be stored as int8"),
            (lambda how: how["port"].update(**{"as": "string"}), "not one of"),
            (lambda how: how["record"].update(store="narrow", **{"as": "int16"}), "missing"),
    ]:
        why = compact_problem(_with_layout(stored, change))[0]
        assert why and said in why, (said, why)


def test_search_sees_no_plain_null_column():
    stored = segcodec.encode(_table(40))
    view = segcodec.text_view(stored)
    assert set(view.text_columns()) == {"host", "url"}
    assert set(view.coded) == {"host"}


def test_a_column_null_in_one_segment_and_not_in_another_concatenates():
    a = segcodec.decode(segcodec.encode(_table(30)))
    t = _table(20)
    t = t.set_column(t.column_names.index("none0"), "none0", pa.array(range(20), pa.int64()))
    t = t.set_column(t.column_names.index("rport"), "rport", pa.nulls(20, pa.int64()))
    stored = segcodec.encode(t)
    assert _how(stored)["rport"]["store"] == "null" and _how(stored)["none0"]["store"] == "range"
    both = concat_segments([a, segcodec.decode(stored)])
    assert both.schema.field("none0").type == pa.int64()
    assert both.schema.field("rport").type == pa.int64()
    assert both["none0"].to_pylist() == [None] * 30 + list(range(20))
    assert both["rport"].to_pylist() == [443 if i % 5 == 0 else None for i in range(30)] + \
        [None] * 20


def _case(tmp_path) -> str:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write(a, [row(i) for i in range(200)])                       # RemotePort empty
    write(b, [row(1000 + i, RemotePort=str(440 + i % 5), RemoteIP="10.0.0.9",
                  ActionType="ConnectionSuccess") for i in range(100)])
    root = str(tmp_path / "case")
    ingest([str(a), str(b)], Case.create_or_open(root), Options())
    return root


def test_a_case_with_null_number_columns_reads_checks_and_searches(tmp_path):
    root = _case(tmp_path)
    kinds = []
    for f in glob.glob(os.path.join(root, "events", "*.arrow")):
        stored = pa.ipc.open_file(pa.memory_map(f)).read_all()
        kinds.append(_how(stored)["rport"]["store"])
        assert _how(stored)["http_status"] == {"store": "null", "type": "int64"}
    assert sorted(kinds) == ["narrow", "null"]
    case = Case.open(root)
    ev = case.events
    assert ev.schema.field("rport").type == pa.int64()
    assert ev.schema.field("bytes_in").type == pa.int64()
    assert case.events_schema() == Case.open(root).events.schema
    assert sorted(x for x in ev["rport"].to_pylist() if x is not None) == \
        sorted(440 + i % 5 for i in range(100))
    assert ev["rport"].null_count == 200 and ev["http_status"].null_count == 300

    def run(*args):
        return subprocess.run([sys.executable, "-m", "edrql", *args], capture_output=True,
                              text=True, timeout=120)
    r = run("check", root)
    assert r.returncode == 0 and "result: healthy" in r.stdout, r.stdout + r.stderr
    r = run("info", root)
    assert r.returncode == 0 and "compact" in r.stdout, r.stdout + r.stderr
    r = run(root, "-c", "events | where rport == 443 | count")
    assert r.returncode == 0 and r.stdout.split()[-1] == "20", r.stdout + r.stderr
    r = run(root, "-c", 'search "442" | count')      # the port's text is in raw.RemotePort
    assert r.returncode == 0 and r.stdout.split()[-1] == "20", r.stdout + r.stderr


def test_migrate_gives_an_old_case_the_null_columns(tmp_path):
    from test_migrate import make_case
    a = tmp_path / "a.csv"
    write(a, [row(i, RemotePort=str(i) if i % 2 else "") for i in range(120)])
    root = tmp_path / "old"
    make_case(root, [a], old=True)
    before = Case.open(str(root)).events
    assert before.schema.field("http_status").type == pa.int64()
    r = subprocess.run([sys.executable, "-m", "edrql", "migrate", str(root)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    [seg] = glob.glob(os.path.join(root, "events", "*.arrow"))
    how = _how(pa.ipc.open_file(pa.memory_map(seg)).read_all())
    assert how["http_status"] == {"store": "null", "type": "int64"}
    assert how["rport"] == {"store": "narrow", "type": "int64", "as": "int8"}
    after = Case.open(str(root)).events
    assert after.schema.field("http_status").type == pa.int64()
    for c in ("rport", "http_status", "pid", "ts", "bytes_in"):
        assert _values(after[c]) == _values(before[c]), c
