"""Issue 11, lineage part: no silently dropped or duplicated process.

Every child of every input is returned; a parent's creation time recorded by its
child a little off its own is the same process; "unknown" ids are not identities;
a case with no host at all works; the completeness hint judges the tree's own part."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow.compute as pc

from edrql import lineage
from test_lineage import S, T0, _rows, act, events, procs_by, run, start

ZERO_GUID = "{00000000-0000-0000-0000-000000000000}"


# ---------------------------------------------------------------- children / descendants
def test_example_children_include_an_input_that_is_a_child_of_another(example_case):
    r = run(example_case, 'procs | where name in ("winword.exe", "powershell.exe") | children()')
    got = {(x["name"], x["pid"]) for x in _rows(r.table)}
    assert ("powershell.exe", 6640) in got
    # every child by parent link, no more, no less
    lin = example_case.lineage
    names = pc.utf8_lower(lin.procs["name"]).to_pylist()
    inputs = [i for i, n in enumerate(names) if n in ("winword.exe", "powershell.exe")]
    assert r.table.num_rows == int(np.isin(lin.parent_idx, inputs).sum())


def test_descendants_list_nested_inputs_once_at_their_depth():
    lin = lineage.build(events([
        start(T0, 10, r"C:\a\a.exe", pstart=T0),
        start(T0 + S, 20, r"C:\a\b.exe", ppid=10, ppstart=T0, pstart=T0 + S),
        start(T0 + 2 * S, 30, r"C:\a\c.exe", ppid=20, ppstart=T0 + S, pstart=T0 + 2 * S),
    ]))
    from edrql.lineage_ops import descendants_of
    idx = {n: i for i, n in enumerate(lin.procs["name"].to_pylist())}
    out = descendants_of(lin, [idx["a.exe"], idx["b.exe"]])
    assert sorted(out) == sorted([(idx["b.exe"], 1), (idx["c.exe"], 1)])
    assert descendants_of(lin, [idx["a.exe"], idx["b.exe"]], 1) == out


# ---------------------------------------------------------------- creation-time tolerance
def _defender_like(ref_offset_s: float, *extra):
    """A parent started at T0 + 1 s whose child records its creation time ref_offset_s earlier."""
    p_start = T0 + S
    return events([
        start(p_start, 100, r"C:\w\powershell.exe", pstart=p_start),
        start(T0 + 5 * S, 200, r"C:\w\csc.exe", ppid=100, pstart=T0 + 5 * S,
              ppstart=p_start - int(ref_offset_s * S), pimage=r"C:\w\powershell.exe",
              pname="powershell.exe"),
        *extra,
    ])


def test_parent_creation_time_a_little_off_is_the_same_process():
    lin = lineage.build(_defender_like(0.7))
    assert [r["seen"] for r in procs_by(lin, "powershell.exe")] == ["start_event"]
    child = procs_by(lin, "csc.exe")[0]
    parent = procs_by(lin, "powershell.exe")[0]
    assert child["link"] == "exact" and child["parent"] == parent["proc"]
    assert parent["start"].startswith("2023-08-10T14:00:01.000")     # its own start, not the reference


def test_creation_times_never_merge_two_lives():
    # beyond the tolerance: another life of pid 100, referenced only
    far = lineage.build(_defender_like(3.0))
    assert sorted(r["seen"] for r in procs_by(far, "powershell.exe")) == ["referenced", "start_event"]
    # another image under that pid: another life
    other = lineage.build(events([
        start(T0 + S, 100, r"C:\w\notepad.exe", pstart=T0 + S),
        start(T0 + 5 * S, 200, r"C:\w\csc.exe", ppid=100, ppstart=T0 + S // 2,
              pimage=r"C:\w\powershell.exe", pname="powershell.exe"),
    ]))
    assert procs_by(other, "powershell.exe")[0]["seen"] == "referenced"
    assert procs_by(other, "csc.exe")[0]["parent"] != procs_by(other, "notepad.exe")[0]["proc"]
    # two started lives both within the tolerance: ambiguous, so no merge
    two = lineage.build(_defender_like(0.5, start(T0 + S + S // 2, 100, r"C:\w\powershell.exe",
                                                  pstart=T0 + S + S // 2)))
    assert sorted(r["seen"] for r in procs_by(two, "powershell.exe")) == \
        ["referenced", "start_event", "start_event"]


# ---------------------------------------------------------------- "unknown" ids
def test_unknown_parent_ids_are_not_one_phantom_parent():
    rows = []
    for i, unknown in enumerate([ZERO_GUID, "00000000-0000-0000-0000-000000000000", "0", ""]):
        rows.append(start(T0 + i * S, 300 + i, rf"C:\x\kid{i}.exe", ppid=50 + i, puid=f"K{i}",
                          ppuid=unknown, pimage=rf"C:\x\parent{i}.exe"))
    rows.append(act(T0 + 9 * S, 77, image=r"C:\x\actor.exe", puid=ZERO_GUID))
    rows.append(act(T0 + 10 * S, 78, image=r"C:\x\other.exe", puid=ZERO_GUID))
    lin = lineage.build(events(rows))
    p = _rows(lin.procs)
    assert not any(r["puid"] and set(r["puid"]) <= set("{}0-") for r in p)
    assert not any(r["proc"].endswith(("|0", "|", "0000}", "-000000000000")) for r in p)
    kids = [r for r in p if r["name"].startswith("kid")]
    assert len(kids) == 4 and all(r["link"] != "exact" for r in kids)
    assert len({r["parent"] for r in kids}) == len(kids) or all(r["parent"] is None for r in kids)
    assert {r["name"] for r in p if r["name"] in ("actor.exe", "other.exe")} == {"actor.exe", "other.exe"}
    assert len([r for r in p if r["name"] in ("actor.exe", "other.exe")]) == 2


def test_crowdstrike_style_zero_upid_is_unknown():
    lin = lineage.build(events([
        start(T0, 11, r"C:\x\a.exe", puid="aid1:111", ppuid="aid1:0"),
        start(T0 + S, 12, r"C:\x\b.exe", puid="aid1:112", ppuid="aid1:0"),
    ]))
    assert all(r["parent"] is None for r in _rows(lin.procs))
    assert lin.procs.num_rows == 2


def test_mapping_field_that_yields_empty_text_is_null(tmp_path):
    import pyarrow as pa

    from edrql.normalize import Ctx
    from edrql.profiles.mapping import load
    m = tmp_path / "m.toml"
    m.write_text('[time]\nfield = "t"\n[fields]\nhost = "h"\n'
                 'ppuid = { field = "parent", map = { "none" = "" } }\n'
                 'user = { value = "" }\n')
    raw = pa.table({"t": ["2023-08-10T14:00:00Z"] * 2, "h": ["pc1", "pc1"], "parent": ["none", "P1"]})
    out = load(str(m)).normalize(raw, Ctx()).columns
    assert out["ppuid"].to_pylist() == [None, "P1"]
    assert out["user"].to_pylist() == [None, None]


# ---------------------------------------------------------------- a case with no host
SQUID = ("1691676000.100    120 10.9.9.9 TCP_MISS/200 512 GET http://a.example/x - HIER_DIRECT/198.51.100.1 text/html\n"
         "1691676001.200     80 10.9.9.9 TCP_TUNNEL/200 900 CONNECT b.example:443 - HIER_DIRECT/198.51.100.2 -\n")


def test_proxy_log_alone_through_every_table(tmp_path):
    log = tmp_path / "access.log"
    log.write_text(SQUID)
    case = str(tmp_path / "case")
    ing = subprocess.run([sys.executable, "-m", "edrql", "ingest", str(log), "--case", case],
                         capture_output=True, text=True)
    assert ing.returncode == 0, ing.stderr
    for q in ("procs", "http", "dns", "network", "hostmap", "clocks", "pidreuse()",
              "procs | netcheck()", "procs | tree()"):
        r = subprocess.run([sys.executable, "-m", "edrql", case, "-c", q, "--format", "json"],
                           capture_output=True, text=True)
        assert r.returncode == 0, (q, r.stderr)
        assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "edrql", case, "-c", "http | count", "--format", "csv"],
                       capture_output=True, text=True)
    assert r.stdout.replace('"', "").split() == ["count", "2"]


# ---------------------------------------------------------------- completeness hint
def _hint_case(tmp_path, leaf_active_at_end: bool):
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    from mde_fixture import row, write
    rows = [row(0, ProcessId="1000", FileName="cmd.exe", FolderPath=r"C:\Windows\System32\cmd.exe"),
            row(1, ProcessId="2000", FileName="ping.exe", FolderPath=r"C:\Windows\System32\ping.exe",
                InitiatingProcessId="1000", InitiatingProcessFileName="cmd.exe",
                InitiatingProcessFolderPath=r"C:\Windows\System32\cmd.exe",
                InitiatingProcessCreationTime=row(0)["ProcessCreationTime"])]
    actor = dict(InitiatingProcessId="2000", InitiatingProcessFileName="ping.exe",
                 InitiatingProcessFolderPath=r"C:\Windows\System32\ping.exe",
                 InitiatingProcessCreationTime=row(1)["ProcessCreationTime"]) if leaf_active_at_end \
        else {}                   # else explorer.exe (the ancestor) is what is active at the end
    rows.append(row(3000, ActionType="FileCreated", FileName="x.txt", FolderPath=r"C:\t\x.txt",
                    ProcessId="", ProcessCreationTime="", **actor))
    path = tmp_path / "edr.csv"
    write(path, rows)
    root = str(tmp_path / "case")
    ingest([str(path)], Case.create_or_open(root), Options())
    return Case.open(root)


def test_completeness_hint_quiet_on_a_complete_tree(tmp_path):
    case = _hint_case(tmp_path, leaf_active_at_end=False)
    r = run(case, 'procs | where name == "cmd.exe" | tree()')
    assert "explorer.exe" in [x["name"] for x in _rows(r.table)]
    assert not any("later export" in s for s in r.extra["footer"]), r.extra["footer"]


def test_completeness_hint_when_a_leaf_is_active_at_the_end(tmp_path):
    case = _hint_case(tmp_path, leaf_active_at_end=True)
    r = run(case, 'procs | where name == "cmd.exe" | tree()')
    hint = [s for s in r.extra["footer"] if "later export" in s]
    assert len(hint) == 1 and "0 min" in hint[0] and "ping.exe" in hint[0]
