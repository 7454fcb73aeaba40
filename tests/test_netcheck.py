"""netcheck(): proxy-only traffic belongs to the host, reported once per proxy line,
with the processes alive then as candidates, never as an attribution."""
from __future__ import annotations

from edrql.query import execute_text, make_context
from edrql.render import py_rows
from mde_fixture import row, write

HEADER = ["Timestamp", "DeviceId", "DeviceName", "ActionType", "FileName", "FolderPath", "ProcessId",
          "ProcessCreationTime", "InitiatingProcessId", "InitiatingProcessFileName",
          "InitiatingProcessFolderPath", "InitiatingProcessCreationTime", "RemoteIP", "RemotePort",
          "LocalIP", "LocalPort", "ReportId"]


def run(case, q):
    return execute_text(make_context(case), q)[-1].table


def test_example_proxy_only_lines_once_each_with_candidates(example_case):
    t = run(example_case, 'procs | netcheck() | where flow == "proxy-only"')
    rows = py_rows(t.select(["proc", "name", "pid", "host", "record", "source", "domain", "candidates",
                             "candidate_names"]))
    keys = [(r["source"], r["record"]) for r in rows]
    assert len(keys) == len(set(keys))                           # each proxy line once
    c2 = [r for r in rows if r["domain"] == "cdn-telemetry.example"]
    assert len(c2) == 14                                         # 14 lines, not 795 + 226 + …
    assert all(r["proc"] is None and r["name"] is None and r["pid"] is None for r in rows)
    assert all(r["host"] == "pc-sales-07.contoso.local" for r in c2)
    assert all(r["candidates"] > 5 and r["candidate_names"].endswith(f"+{r['candidates'] - 5} more")
               for r in c2)
    # the attributed part is unchanged: EDR events of each process, proxy rows matched to it
    att = run(example_case, 'procs | netcheck() | where flow != "proxy-only" '
                            '| where proc == "" or isnull(proc) | count')
    assert att["count"][0].as_py() == 0


def test_single_process_netcheck_names_it_only_as_candidate(example_case):
    t = run(example_case, 'procs | where name == "updsvc.exe" | netcheck() | where flow == "proxy-only"')
    rows = py_rows(t.select(["proc", "candidates", "candidate_names"]))
    assert rows and all(r["proc"] is None and r["candidates"] == 1 and
                        r["candidate_names"] == "updsvc.exe (5112)" for r in rows)


def test_candidates_are_the_inputs_alive_on_that_host(tmp_path):
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    conn = dict(InitiatingProcessId="700", InitiatingProcessFileName="svc.exe",
                InitiatingProcessFolderPath=r"C:\x\svc.exe", ProcessId="", ProcessCreationTime="",
                InitiatingProcessCreationTime=row(0)["ProcessCreationTime"])
    edr = [row(0, ProcessId="700", FileName="svc.exe", FolderPath=r"C:\x\svc.exe"),
           row(1, ProcessId="800", FileName="short.exe", FolderPath=r"C:\x\short.exe"),
           # pid 800 reused at 14:04:10: the first life (short.exe) was over by then
           row(250, ProcessId="800", FileName="later.exe", FolderPath=r"C:\x\later.exe"),
           row(3, ActionType="ConnectionSuccess", RemoteIP="198.51.100.9", RemotePort="443",
               LocalIP="10.1.1.5", LocalPort="50000", **conn),
           row(600, ActionType="FileCreated", FileName="x", FolderPath=r"C:\t\x", **conn)]
    path = tmp_path / "edr.csv"
    write(path, edr, header=HEADER)
    squid = tmp_path / "access.log"
    # 14:05:00Z: svc.exe and later.exe alive, short.exe gone; two requests, one line each
    squid.write_text("1691676300.000     50 10.1.1.5 TCP_MISS/200 100 GET http://c2.example/a - "
                     "HIER_DIRECT/203.0.113.7 text/html\n"
                     "1691676301.000     50 10.1.1.5 TCP_MISS/200 100 GET http://c2.example/b - "
                     "HIER_DIRECT/203.0.113.7 text/html\n")
    root = str(tmp_path / "case")
    ingest([str(path), str(squid)], Case.create_or_open(root), Options())
    case = Case.open(root)
    t = run(case, 'procs | netcheck() | where flow == "proxy-only"')
    rows = py_rows(t.select(["proc", "host", "url", "candidates", "candidate_names"]))
    assert [r["url"] for r in rows] == ["http://c2.example/a", "http://c2.example/b"]
    assert all(r["proc"] is None and r["host"] == "pc-01" for r in rows)
    names = [r["candidate_names"] for r in rows]
    assert all(n.startswith("later.exe (800), svc.exe (700)") and "short.exe" not in n
               for n in names), names                           # newest first
    assert [r["candidates"] for r in rows] == [3, 3]              # with explorer.exe, the parent
