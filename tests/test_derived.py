"""Derived data (lineage) is kept per state of the case and dropped when an ingest changes
the data; text needs no derived encodings (the compact store is dictionary-encoded)."""
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
    # the compact store keeps text dictionary-encoded: no encoding is derived or kept
    assert not any(n.startswith("enc-") for n in derived) and \
        any(n.startswith("lineage-") for n in derived)
    # a second run encodes nothing either
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


def test_encoded_columns_flow_through_every_stage(tmp_path):
    """After a where on a large case, text columns travel as dictionary codes: every later
    stage must still work and give plain values."""
    f = tmp_path / "a.csv"
    write(f, [row(i, DeviceName=f"pc-{i % 5}", ProcessCommandLine=f"cmd.exe /c job {i % 7}")
              for i in range(60_000)])
    root = str(tmp_path / "case")
    ingest([str(f)], Case.create_or_open(root), Options())
    case = Case.open(root)
    base = 'events | where event == "process_start" and host != "pc-0" and cmdline contains "job"'
    for tail, check in [
        ("| count", lambda t: t["count"][0].as_py() == 48_000),
        ("| stats n = count(), dcount(host) by host | sort by host asc", lambda t: t["host"].to_pylist() == ["pc-1", "pc-2", "pc-3", "pc-4"]),
        ("| distinct host | sort by host desc | head 1", lambda t: t["host"].to_pylist() == ["pc-4"]),
        ("| top 2 by pid | project host, pid", lambda t: t["pid"].to_pylist() == [1000 + 4 * 59_999, 1000 + 4 * 59_998]),
        ("| timeline(1h) by host | head 2", lambda t: t.num_rows == 2),
        ('| where host in ("PC-1", "pc-2") | count', lambda t: t["count"][0].as_py() == 24_000),
        ('| search "job 6" | count', lambda t: t["count"][0].as_py() == len([i for i in range(60_000) if i % 5 and i % 7 == 6])),
        ("| extend h = upper(host) | project h | head 1", lambda t: t["h"][0].as_py().startswith("PC-")),
    ]:
        t = execute_text(make_context(case), f"{base} {tail}")[-1].table
        assert check(t), (tail, t.slice(0, 3).to_pylist())
        assert not any(str(x.type).startswith("dictionary") for x in t.columns), tail
