"""Lineage on synthetic cases: one per link status, plus the example case's pitfalls."""
from __future__ import annotations

import pyarrow as pa
import pytest

from edrql import lineage
from edrql.schema import SCHEMA

T0 = 1_691_676_000 * 10**9  # 2023-08-10T14:00:00Z
S = 10**9


def events(rows: list[dict]) -> pa.Table:
    cols = {name: [r.get(name) for r in rows] for name in SCHEMA.names}
    return pa.table({n: pa.array(v, SCHEMA.field(n).type) for n, v in cols.items()})


def start(ts, pid, image, ppid=None, host="h1", **kw):
    return dict(ts=ts, host=host, event="process_start", pid=pid, ppid=ppid, image=image,
                name=image.rsplit("\\", 1)[-1], **kw)


def act(ts, pid, event="file_create", host="h1", **kw):
    if kw.get("image"):
        kw.setdefault("name", kw["image"].rsplit("\\", 1)[-1])
    return dict(ts=ts, host=host, event=event, pid=pid, **kw)


def procs_by(lin, name):
    p = lin.procs
    return [r for r in _rows(p) if r["name"] == name]


def _rows(t):
    from edrql.render import py_rows
    return py_rows(t)


def test_exact_by_vendor_id():
    lin = lineage.build(events([
        start(T0, 100, r"C:\a\parent.exe", puid="G1"),
        start(T0 + S, 200, r"C:\a\child.exe", ppid=100, puid="G2", ppuid="G1", pimage=r"C:\a\parent.exe"),
    ]))
    child = procs_by(lin, "child.exe")[0]
    assert child["link"] == "exact" and child["parent"] == "h1|G1" and child["candidates"] == 1


def test_exact_by_pid_and_start_despite_reuse():
    lin = lineage.build(events([
        start(T0, 100, r"C:\b\browser.exe", pstart=T0),
        start(T0 + 600 * S, 100, r"C:\w\powershell.exe", pstart=T0 + 600 * S),
        start(T0 + 700 * S, 300, r"C:\w\rundll32.exe", ppid=100, ppstart=T0 + 600 * S,
              pimage=r"C:\w\powershell.exe"),
    ]))
    child = procs_by(lin, "rundll32.exe")[0]
    assert child["link"] == "exact"
    assert child["parent"].startswith("h1|100|2023-08-10T14:10:00")


def test_inferred_by_time_picks_the_live_instance():
    lin = lineage.build(events([
        start(T0, 100, r"C:\b\browser.exe"),
        start(T0 + 600 * S, 100, r"C:\w\powershell.exe"),
        start(T0 + 300 * S, 301, r"C:\w\early.exe", ppid=100),
        start(T0 + 700 * S, 302, r"C:\w\late.exe", ppid=100),
    ]))
    early, late = procs_by(lin, "early.exe")[0], procs_by(lin, "late.exe")[0]
    assert early["link"] == late["link"] == "inferred"
    assert early["parent"].startswith("h1|100|2023-08-10T14:00:00")
    assert late["parent"].startswith("h1|100|2023-08-10T14:10:00")


def test_exit_event_proves_a_candidate_dead():
    lin = lineage.build(events([
        start(T0, 100, r"C:\b\short.exe"),
        act(T0 + 60 * S, 100, "process_end"),
        start(T0 + 120 * S, 400, r"C:\x\orphan.exe", ppid=100),
    ]))
    orphan = procs_by(lin, "orphan.exe")[0]
    assert orphan["link"] == "missing" and orphan["parent"] is None
    assert "exited" in orphan["parent_note"]
    short = procs_by(lin, "short.exe")[0]
    assert short["end"] is not None and short["seen"] == "start_event"


def test_parent_outside_the_window():
    lin = lineage.build(events([
        start(T0, 500, r"C:\x\child.exe", ppid=4),
    ]))
    child = procs_by(lin, "child.exe")[0]
    assert child["link"] == "missing" and "before the data window" in child["parent_note"]


def test_two_channels_one_instance():
    lin = lineage.build(events([
        start(T0, 600, r"C:\x\tool.exe", puid="G6", pstart=T0, ppuid="G5"),         # Sysmon 1
        start(T0 + 300_000_000, 600, r"C:\x\tool.exe", ppid=5),                        # 4688
        act(T0 + 2 * S, 600, "file_create", puid="G6"),
    ]))
    tools = procs_by(lin, "tool.exe")
    assert len(tools) == 1 and tools[0]["events"] == 3 and tools[0]["seen"] == "start_event"


def test_conflict_console_style_wrong_parent_name():
    lin = lineage.build(events([
        start(T0, 100, r"C:\w\powershell.exe", pstart=T0),
        start(T0 + S, 200, r"C:\w\cmd.exe", ppid=100, ppstart=T0, pimage=r"C:\b\msedge.exe"),
    ]))
    child = procs_by(lin, "cmd.exe")[0]
    assert child["link"] == "conflict" and child["pname"].endswith("msedge.exe")


def test_ambiguous_when_an_unknown_start_life_may_fit():
    lin = lineage.build(events([
        start(T0, 100, r"C:\b\first.exe"),
        start(T0 + 300 * S, 700, r"C:\x\kid.exe", ppid=100),
        act(T0 + 900 * S, 100, "network_connect", image=r"C:\b\second.exe"),  # a life seen only later
    ]))
    kid = procs_by(lin, "kid.exe")[0]
    assert kid["link"] == "ambiguous" and kid["candidates"] == 2 and kid["parent"] is None
    listed = kid["candidate_procs"].split(", ")
    assert len(listed) == 2 and all(x.startswith("h1|100|") for x in listed)


def test_events_attributed_and_never_pid_alone():
    lin = lineage.build(events([
        start(T0, 100, r"C:\b\a.exe"),
        act(T0 + S, 100),
        start(T0 + 100 * S, 100, r"C:\b\b.exe"),
        act(T0 + 101 * S, 100),
    ]))
    a, b = procs_by(lin, "a.exe")[0], procs_by(lin, "b.exe")[0]
    assert a["events"] == 2 and b["events"] == 2 and a["proc"] != b["proc"]


# ---------------------------------------------------------------- the example case
def run(case, q):
    from edrql.query import execute_text, make_context
    return execute_text(make_context(case), q)[-1]


def test_example_chain_word_powershell_rundll32(example_case):
    r = run(example_case, 'procs | where name == "rundll32.exe" and pid == 7288 | ancestors()')
    names = [x["name"] for x in _rows(r.table)]
    assert names[:3] == ["powershell.exe", "WINWORD.EXE", "explorer.exe"]
    links = run(example_case, 'procs | where pid in (6640, 7288, 3876) and seen == "start_event" '
                              '| project name, link')
    assert {x["name"]: x["link"] for x in _rows(links.table)} == {
        "msedge.exe": "exact", "powershell.exe": "exact", "rundll32.exe": "exact", "WINWORD.EXE": "exact"}


def test_example_pidreuse_reports_the_browser_never_as_parent(example_case):
    r = run(example_case, "pidreuse() | where pid == 6640")
    rows = _rows(r.table)
    assert [x["name"] for x in rows] == ["msedge.exe", "powershell.exe"]
    assert rows[0]["pid_only_wrong"] == 2 and rows[1]["pid_only_wrong"] == 6
    tree = run(example_case, 'procs | where name == "powershell.exe" and pid == 6640 | tree()')
    path = [x["path"] for x in _rows(tree.table) if x["name"] == "rundll32.exe"][0]
    assert "msedge" not in path and "WINWORD.EXE > powershell.exe > rundll32.exe" in path


def test_example_tree_text_and_footer(example_case):
    from edrql import treeview
    r = run(example_case, 'procs | where name == "winword.exe" | tree()')
    txt = treeview.text(r.table)
    assert "└─ rundll32.exe (7288)" in txt and "*WINWORD.EXE (3876)" in txt
    assert any(line.startswith("data window for pc-sales-07") for line in r.extra["footer"])
    assert any("referenced only" in line for line in r.extra["footer"])
    assert "flowchart TD" in treeview.mermaid(r.table) and "digraph" in treeview.dot(r.table)
    ascii_txt = treeview.text(r.table, ascii_only=True)
    assert "`- rundll32.exe (7288)" in ascii_txt


def test_early_export_tree_is_partial_then_completed(tmp_path):
    from conftest import ROOT
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    root = str(tmp_path / "c")
    ingest([str(ROOT / "examples/case/export_early.csv")], Case.create_or_open(root), Options())
    case = Case.open(root)
    q = 'procs | where name == "rundll32.exe" and pid == 7288 | tree()'
    early = run(case, q)
    assert [x["name"] for x in _rows(early.table)][-1] == "rundll32.exe"
    assert any("a later export may add descendants" in s for s in early.extra["footer"])
    ingest([str(ROOT / "examples/case/export_late.csv")], case, Options())
    late = run(Case.open(root), q)
    kids = [x["name"] for x in _rows(late.table) if x["depth"] > 4]
    assert {"cmd.exe", "schtasks.exe", "updsvc.exe"} <= set(kids)


def test_direct_arguments_and_errors(example_case):
    from edrql.errors import QueryError
    with pytest.raises(QueryError, match="had 2 lives"):
        run(example_case, 'tree(host="pc-sales-07", pid=6640)')
    r = run(example_case, 'children(host="pc-sales-07", pid=6640, at="2023-08-10T14:05:00Z")')
    assert set(x["name"] for x in _rows(r.table)) == {"msedge.exe"}
    ev = run(example_case, 'procs | where name == "updsvc.exe" | events()')
    assert {"image_load", "file_modify", "registry_set"} <= set(ev.table["event"].to_pylist())
    with pytest.raises(QueryError, match="takes processes"):
        run(example_case, "events | tree()")


def test_a_linked_process_has_no_root_note():
    # regression: a null note could be shown as another instance's note
    lin = lineage.build(events([
        start(T0, 5, r"C:\w\explorer.exe"),                  # a root: no parent recorded
        start(T0 + S, 100, r"C:\a\parent.exe", puid="G1"),
        start(T0 + 2 * S, 200, r"C:\a\child.exe", ppid=100, puid="G2", ppuid="G1",
              pimage=r"C:\a\parent.exe"),
    ]))
    child = procs_by(lin, "child.exe")[0]
    assert child["link"] == "exact" and child["parent_note"] is None
    assert procs_by(lin, "explorer.exe")[0]["parent_note"] == "no parent recorded"


def test_two_lives_first_seen_together_get_distinct_keys():
    # one pid acting under two images at the same instant, with no start for either
    lin = lineage.build(events([
        act(T0, 3136, image=r"C:\p\MsMpEng.exe"),
        act(T0, 3136, image=r"C:\p\other.exe"),
    ]))
    keys = [r["proc"] for r in _rows(lin.procs)]
    assert len(keys) == 2 and len(set(keys)) == 2
    assert sorted(k.endswith("#2") for k in keys) == [False, True]


def test_dense_ids_groups_equal_tuples_even_when_keys_need_64_bits():
    import numpy as np

    from edrql.npkeys import dense_ids
    host = np.array([0, 1, 0, 1, 0], np.int64)
    pid = np.array([4, 4, 4, 20000, 4], np.int64)
    # nanosecond-scale values spanning more than 40 bits, and a repeated tuple
    t = np.array([1 << 50, 1 << 50, 5, 7, 1 << 50], np.int64)
    ids = dense_ids(host, pid, t)
    assert ids[0] == ids[4] and len(set(ids.tolist())) == 4
    assert ids.tolist() == [0, 1, 2, 3, 0]            # first-seen order
    wide = np.array([-(1 << 62), 1 << 62, 0, 1 << 62, 0], np.int64)
    ids2 = dense_ids(wide, pid)
    assert ids2[2] == ids2[4] and len(set(ids2.tolist())) == 4


def test_first_of_each_marks_the_first_row_of_every_group():
    import numpy as np

    from edrql.npkeys import dense_ids, first_of_each
    keys = np.array([7, 3, 7, 9, 3, 9, 1], np.int64)
    assert first_of_each(dense_ids(keys)).tolist() == [True, True, False, True, False, False, True]
