"""The compact segment layout (edrql/segcodec.py): each distinct string of a segment is
stored once, every column decodes to exactly what was encoded, and a case on disk holds
its text that way."""
from __future__ import annotations

import glob
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from edrql import segcodec
from edrql.ingest import Options, ingest
from edrql.store import Case

from mde_fixture import row, write


def _table(n=3000):
    rng = np.random.default_rng(1)
    paths = [f"C:\\Windows\\System32\\tool{i}.exe" for i in range(200)]
    folder = pa.array([paths[i] for i in rng.integers(0, 200, n)])
    parent = pa.array([paths[i] for i in rng.integers(0, 20, n)])
    is_start = rng.random(n) < 0.3
    image = pc.if_else(pa.array(is_start), folder, parent)          # a per-row pick
    path = pc.if_else(pa.array(~is_start), folder, pa.scalar(None, pa.string()))   # masked
    pid = pa.array([str(4 * int(i)) for i in rng.integers(1, 3000, n)])
    port = pa.array([str(int(i)) if i % 3 else None for i in rng.integers(1, 65535, n)])
    return pa.table({
        "ts": pa.array(np.arange(n), pa.timestamp("ns", tz="UTC")),
        "host": pa.array(["PC-01", "pc-02", None][i % 3] for i in range(n)),
        "image": image, "path": path, "pid_text": pid,
        "empty": pa.nulls(n, pa.string()),
        "uni": pa.array(["Évil", "日本語", "", "évil"][i % 4] for i in range(n)),
        "raw.DeviceName": pa.array(["PC-01", "pc-02", None][i % 3] for i in range(n)),
        "raw.FolderPath": folder, "raw.ParentPath": parent,
        "raw.ProcessId": pid, "raw.RemotePort": port,
        "raw.Hash": pa.array([f"{i * 7919:032X}" if i % 2 else f"{i * 7919:032x}" for i in range(n)]),
    })


def _same(a: pa.Table, b: pa.Table):
    assert a.column_names == b.column_names
    for c in a.column_names:
        x, y = segcodec.plain(a.column(c)), segcodec.plain(b.column(c))
        if pa.types.is_timestamp(x.type):
            x, y = pc.cast(x, pa.int64()), pc.cast(y, pa.int64())
        assert x.to_pylist() == y.to_pylist(), c


def test_round_trip_is_exact_and_text_is_dictionary_coded():
    t = _table()
    stored = segcodec.encode(t)
    back = segcodec.decode(stored)
    _same(t, back)
    assert all(pa.types.is_dictionary(back.schema.field(c).type)
               for c in t.column_names if c != "ts")
    assert back.schema.field("ts").type == t.schema.field("ts").type


def test_references_store_nothing_and_masked_copies_only_a_mask():
    stored = segcodec.encode(_table())
    how = {c: {k: v for k, v in h.items() if k != "bytes"}
           for c, h in segcodec.layout_of(stored.schema)["columns"]}
    assert how["host"] == {"store": "ref", "of": "raw.DeviceName"}
    assert how["pid_text"] == {"store": "ref", "of": "raw.ProcessId"}
    assert how["path"]["store"] == "masked" and how["path"]["of"] == "raw.FolderPath"
    assert stored.schema.field("path").type == pa.bool_()
    assert how["empty"] == {"store": "null"}
    assert "host" not in stored.column_names and "empty" not in stored.column_names
    assert how["image"]["store"] == "member"                 # a pick: codes only


def _stored_strings(stored: pa.Table) -> list[str]:
    """Every string the stored segment holds (dictionaries and plain text columns)."""
    out = []
    for f in stored.schema:
        col = segcodec._one(stored.column(f.name))
        if pa.types.is_dictionary(f.type):
            out += col.dictionary.to_pylist()
        elif segcodec.is_text_type(f.type):
            out += col.to_pylist()
    return out


def test_each_distinct_string_of_a_segment_is_stored_once():
    stored = segcodec.encode(_table())
    strings = [s for s in _stored_strings(stored) if s]       # "" has no bytes to repeat
    assert len(strings) == len(set(strings))
    # pids and ports overlap ("4", "8" …): one family, one dictionary for both
    fam = {c: h.get("family") for c, h in segcodec.layout_of(stored.schema)["columns"]}
    assert fam["raw.ProcessId"] == fam["raw.RemotePort"]
    assert fam["raw.FolderPath"] == fam["raw.ParentPath"] == fam["image"]


def test_each_column_records_the_bytes_of_text_it_holds():
    t = _table()
    how = dict((c, h) for c, h in segcodec.layout_of(segcodec.encode(t).schema)["columns"])
    for c in ("host", "path", "image", "raw.FolderPath", "empty", "uni"):
        want = pc.sum(pc.binary_length(t[c])).as_py() or 0
        assert how[c]["bytes"] == want, c


def test_narrow_codes_for_few_values_in_a_big_family():
    n = 40_000
    big = pa.array([f"value {i}" for i in range(n)])
    few = pa.array([f"value {i % 10}" for i in range(n)])
    stored = segcodec.encode(pa.table({"raw.big": big, "raw.few": few}))
    assert stored.schema.field("raw.big").type.index_type == pa.int32()
    assert stored.schema.field("raw.few").type == pa.int8()           # mapped: its own 10
    back = segcodec.decode(stored)
    assert segcodec.plain(back["raw.few"]).to_pylist() == few.to_pylist()


def test_classes_order_the_dictionary_for_search():
    stored = segcodec.encode(_table())
    view = segcodec.text_view(stored)
    for fam in view.families:
        values = fam.values.to_pylist()
        classes = segcodec.value_classes(fam.values)
        assert list(classes) == sorted(classes)
        for i, name in enumerate(segcodec.CLASSES):
            for v in values[fam.bounds[i]:fam.bounds[i + 1]]:
                assert segcodec.value_classes(pa.array([v]))[0] == i, (name, v)


def test_chunked_and_dictionary_inputs_encode_the_same():
    t = _table()
    chunked = pa.Table.from_batches(t.to_batches(max_chunksize=500))
    batches = pa.concat_tables([segcodec.dictionary_batch(b) for b in
                                (chunked.slice(0, 1000), chunked.slice(1000))])
    for other in (chunked, batches):
        _same(t, segcodec.decode(segcodec.encode(other)))


def test_a_case_is_stored_compact_and_reads_back(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write(a, [row(i) for i in range(300)])
    write(b, [row(1000 + i, FileName="powershell.exe") for i in range(200)])
    root = str(tmp_path / "case")
    ingest([str(a), str(b)], Case.create_or_open(root), Options())
    case = Case.open(root)
    assert case.manifest["format"] == 2
    for f in glob.glob(os.path.join(root, "events", "*.arrow")):
        stored = pa.ipc.open_file(pa.memory_map(f)).read_all()
        assert segcodec.layout_of(stored.schema)["layout"] == segcodec.LAYOUT
        strings = [s for s in _stored_strings(stored) if s]
        assert len(strings) == len(set(strings))
    ev = case.events                     # two segments: one dictionary per column
    assert ev.num_rows == 500
    assert ev.schema.field("name").type == pa.dictionary(pa.int32(), pa.string())
    names = segcodec.plain(ev["name"]).to_pylist()
    assert names.count("powershell.exe") == 200 and names.count("cmd.exe") == 300
    assert not os.path.exists(os.path.join(root, "search"))


@pytest.mark.parametrize("query,want", [
    ('events | where name == "powershell.exe" | count', 200),
    ('events | where cmdline contains "echo 100" | count', 11),
    ('events | stats count() by name | count', 2),
])
def test_queries_over_two_compact_segments(tmp_path, query, want):
    from edrql.query import execute_text, make_context
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write(a, [row(i) for i in range(300)])
    write(b, [row(1000 + i, FileName="powershell.exe") for i in range(200)])
    root = str(tmp_path / "case")
    ingest([str(a), str(b)], Case.create_or_open(root), Options())
    got = execute_text(make_context(Case.open(root)), query)[-1].table
    assert got.column(got.num_columns - 1)[0].as_py() == want
