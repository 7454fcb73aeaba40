"""The lineage kept in CASE/derived/ (edrql/lineage.py load_or_build): written plain, so a
one-shot tree() maps it rather than decoding every text column; a file written compact by an
earlier edrql still loads, gives the same processes and is rewritten plain."""
from __future__ import annotations

import os
import shutil

import pyarrow as pa
import pytest

from edrql import lineage, segcodec
from edrql.store import Case


def _procs_file(root) -> str:
    d = os.path.join(root, "derived")
    [f] = [f for f in os.listdir(d) if f.startswith("lineage-")]
    return os.path.join(d, f)


def _replace(path, t: pa.Table) -> None:
    """Write ``t`` as the file (a new file renamed over it: the old one may be mapped)."""
    with pa.OSFile(path + ".new", "wb") as sink, pa.ipc.new_file(sink, t.schema) as w:
        w.write_table(t)
    os.replace(path + ".new", path)


@pytest.fixture()
def root(example_case, tmp_path) -> str:
    """A copy of the example case without its derived data."""
    out = str(tmp_path / "case")
    shutil.copytree(example_case.root, out, ignore=shutil.ignore_patterns("derived"))
    return out


def _stored(path) -> pa.Table:
    return pa.ipc.open_file(pa.memory_map(path, "r")).read_all()


def test_lineage_is_kept_plain_and_loads_as_built(root):
    built = lineage.load_or_build(Case.open(root))
    path = _procs_file(root)
    stored = _stored(path)
    assert segcodec.layout_of(stored.schema) is None
    assert not any(pa.types.is_dictionary(f.type) for f in stored.schema)
    assert int(stored.schema.metadata[b"procs"]) == built.procs.num_rows > 0
    loaded = lineage.load_or_build(Case.open(root))
    assert loaded.procs.equals(built.procs)
    assert loaded.parent_idx.tolist() == built.parent_idx.tolist()
    assert list(loaded.event_proc) == list(built.event_proc)
    # the children index comes with it (no 30 ms lexsort per tree()), equal to a fresh one
    kept = loaded._children
    del loaded._children
    offsets, kids = lineage.children_index(loaded)
    assert kept[0].tolist() == offsets.tolist() and kept[1].tolist() == kids.tolist()
    assert len(offsets) == built.procs.num_rows + 1 and len(kids) == int(offsets[-1]) > 0


def test_a_plain_lineage_without_its_children_index_gets_one(root):
    built = lineage.load_or_build(Case.open(root))
    path = _procs_file(root)
    t = _stored(path)
    n = built.procs.num_rows
    old = t.slice(0, n).drop_columns(["child_offsets", "child_ids"])    # as written at first
    _replace(path, old)
    loaded = lineage.load_or_build(Case.open(root))
    assert loaded.procs.equals(built.procs) and "child_offsets" in _stored(path).column_names


def test_a_compact_lineage_of_an_earlier_edrql_loads_and_is_rewritten_plain(root):
    built = lineage.load_or_build(Case.open(root))
    path = _procs_file(root)
    # the file as the previous round wrote it: segcodec's compact layout
    t = built.procs.append_column("parent_idx", pa.array(built.parent_idx, pa.int64()))
    t = segcodec.encode(t.replace_schema_metadata({"procs": str(built.procs.num_rows)}))
    assert segcodec.layout_of(t.schema) is not None
    _replace(path, t)
    loaded = lineage.load_or_build(Case.open(root))
    assert loaded.procs.equals(built.procs)
    assert loaded.parent_idx.tolist() == built.parent_idx.tolist()
    assert segcodec.layout_of(_stored(path).schema) is None          # now kept plain
    assert lineage.load_or_build(Case.open(root)).procs.equals(built.procs)


def test_a_case_that_cannot_be_written_still_answers(root, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    lin = lineage.load_or_build(Case.open(root))
    assert lin.procs.num_rows > 0 and not os.path.exists(os.path.join(root, "derived"))


def test_a_lineage_without_processes_round_trips(root):
    import numpy as np
    built = lineage.load_or_build(Case.open(root))
    path = _procs_file(root)
    empty = lineage.Lineage(built.procs.slice(0, 0), np.full(3, -1, np.int64), np.array([], np.int64))
    assert lineage._save_procs(Case.open(root), path, empty)
    stored = _stored(path)
    assert stored.num_rows == 1 and int(stored.schema.metadata[b"procs"]) == 0
    loaded = lineage.load_or_build(Case.open(root))      # from the file: not rebuilt
    assert loaded.procs.num_rows == 0 and loaded.parent_idx.tolist() == []
    assert loaded._children[0].tolist() == [0] and loaded._children[1].tolist() == []
