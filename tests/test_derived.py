"""Derived data (lineage, string encodings) is kept per state of the case and dropped when an
ingest changes the data."""
from __future__ import annotations

import os

from edrql.ingest import Options, ingest
from edrql.query import execute_text, make_context
from edrql.store import Case

from mde_fixture import row, write


def test_encodings_and_lineage_kept_then_dropped(tmp_path, monkeypatch):
    import edrql.expr as expr
    f = tmp_path / "a.csv"
    write(f, [row(i, ProcessCommandLine=f"cmd.exe /c job {i % 7}") for i in range(60_000)])
    root = str(tmp_path / "case")
    ingest([str(f)], Case.create_or_open(root), Options())
    q = 'events | where event == "process_start" and cmdline contains "job 3" | count'
    first = execute_text(make_context(Case.open(root)), q)[-1].table["count"][0].as_py()
    execute_text(make_context(Case.open(root)), "procs | count")
    derived = sorted(os.listdir(os.path.join(root, "derived")))
    assert any(n.startswith("enc-") for n in derived) and any(n.startswith("lineage-") for n in derived)
    # a second run reads the kept encodings instead of encoding again
    calls = []
    real = expr.pc.dictionary_encode
    monkeypatch.setattr(expr.pc, "dictionary_encode", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = execute_text(make_context(Case.open(root)), q)[-1].table["count"][0].as_py()
    assert again == first == 60_000 // 7 + (1 if 60_000 % 7 > 3 else 0) and calls == []
    # new data: the old derived files go
    g = tmp_path / "b.csv"
    write(g, [row(100_000 + i) for i in range(3)])
    ingest([str(g)], Case.open(root), Options())
    assert not [n for n in os.listdir(os.path.join(root, "derived")) if n in derived]
