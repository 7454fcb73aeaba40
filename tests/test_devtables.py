"""Defender-schema tables over every vendor, and the one table catalog.

Small fixtures (tests/fixtures/devtables) record the same activity — explorer.exe starts
powershell.exe, which runs whoami.exe and connects to 93.184.216.34:443 — as Sysmon (with a
Security 4624 logon), Security 4688 (Sentinel CSV), CrowdStrike FDR and a Defender export:
the same hunting question must give the same rows on each.
"""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from edrql import catalog, devtables
from edrql.query import execute_text, make_context

FIX = Path(__file__).resolve().parent / "fixtures" / "devtables"
VENDORS = {"sysmon": "sysmon.ndjson", "security": "sec4688.csv", "crowdstrike": "cs_fdr.ndjson",
           "defender": "mde.csv"}


def _case(root: Path, *files: str):
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    case = Case.create_or_open(str(root))
    ingest([str(FIX / f) for f in files], case, Options())
    return Case.open(str(root))


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    base = tmp_path_factory.mktemp("devtables")
    return {v: _case(base / v, f) for v, f in VENDORS.items()}


def rows(case, query: str) -> list[dict]:
    return execute_text(make_context(case), query)[-1].table.to_pylist()


def test_same_question_same_rows_on_every_vendor(cases):
    q = ('DeviceProcessEvents | where FileName =~ "powershell.exe" '
         '| project Timestamp, DeviceName, InitiatingProcessFileName, ProcessCommandLine')
    got = {v: rows(c, q) for v, c in cases.items()}
    assert len(got["defender"]) == 1
    assert got["defender"][0]["InitiatingProcessFileName"] == "explorer.exe"
    for v in VENDORS:
        assert got[v] == got["defender"], v


def test_parent_of_the_initiating_process_from_lineage(cases):
    """Only Defender records InitiatingProcessParentFileName itself; for the others it
    comes from the process instances (or the parent's own record of its parent)."""
    q = ('DeviceProcessEvents | where FileName == "whoami.exe" | project ProcessId, '
         'InitiatingProcessFileName, InitiatingProcessId, InitiatingProcessParentFileName')
    want = [{"ProcessId": 5100, "InitiatingProcessFileName": "powershell.exe",
             "InitiatingProcessId": 5000, "InitiatingProcessParentFileName": "explorer.exe"}]
    for v, c in cases.items():
        assert rows(c, q) == want, v


def test_tree_from_device_process_events_on_every_vendor(cases):
    q = 'DeviceProcessEvents | where FileName == "whoami.exe" | tree() | project depth, name, focus'
    for v, c in cases.items():
        got = rows(c, q)
        names = [r["name"].lower() for r in got]
        assert names[-2:] == ["powershell.exe", "whoami.exe"], v
        assert got[-1]["focus"] is True and got[-1]["depth"] == got[-2]["depth"] + 1, v


def test_network_question_on_every_vendor_with_network_data(cases):
    q = ('DeviceNetworkEvents | where RemotePort == 443 '
         '| project ActionType, RemoteIP, RemotePort, LocalPort, Protocol, '
         'InitiatingProcessFileName, InitiatingProcessId')
    want = [{"ActionType": "ConnectionSuccess", "RemoteIP": "93.184.216.34", "RemotePort": 443,
             "LocalPort": 50123, "Protocol": "Tcp", "InitiatingProcessFileName": "powershell.exe",
             "InitiatingProcessId": 5000}]
    for v in ("sysmon", "crowdstrike", "defender"):
        assert rows(cases[v], q) == want, v
    assert rows(cases["security"], q) == []          # 4688 only: no network events


def test_registry_roots_spelled_as_defender(cases):
    q = ('DeviceRegistryEvents | where ActionType == "RegistryValueSet" '
         '| project RegistryKey, RegistryValueName, RegistryValueData')
    assert rows(cases["sysmon"], q) == rows(cases["defender"], q) == [{
        "RegistryKey": r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Run",
        "RegistryValueName": "updater", "RegistryValueData": r"C:\Users\alice\updater.exe"}]
    created = rows(cases["sysmon"], 'DeviceRegistryEvents '
                   '| where ActionType == "RegistryKeyCreated" | project RegistryKey')
    assert created == [{"RegistryKey": r"HKEY_CURRENT_USER\S-1-5-21-1-2-3-1001\Software\Updater"}]


def test_defender_key_roots():
    got = devtables.defender_key(pa.array([
        r"HKLM\SOFTWARE\x", r"HKU\.DEFAULT\y", r"HKCR\z", r"HKCU\Software", None, "HKLMX\\no",
        "HKCR"])).to_pylist()
    assert got == [r"HKEY_LOCAL_MACHINE\SOFTWARE\x", r"HKEY_USERS\.DEFAULT\y",
                   r"HKEY_CLASSES_ROOT\z", r"HKEY_CURRENT_USER\Software", None, "HKLMX\\no",
                   "HKEY_CLASSES_ROOT"]


def test_hashes_and_accounts_from_sysmon(cases):
    ps = rows(cases["sysmon"], 'DeviceProcessEvents | where FileName == "powershell.exe"')[0]
    assert ps["SHA1"] == "a1b2c3d4e5f60718293a4b5c6d7e8f9011223344"        # from Hashes
    assert ps["MD5"] == "0123456789abcdef0123456789abcdef"
    assert ps["FolderPath"] == r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
    assert (ps["AccountDomain"], ps["AccountName"]) == ("CORP", "alice")
    assert ps["ProcessCreationTime"] is not None
    dll = rows(cases["sysmon"], "DeviceImageLoadEvents")[0]
    assert (dll["FileName"], dll["SHA1"]) == ("amsi.dll", "1" * 40)
    # the initiating process's hashes come from its own start event
    assert dll["InitiatingProcessSHA256"] == "a" * 64
    assert dll["InitiatingProcessSHA1"] == ps["SHA1"]


def test_device_events_and_logons(cases):
    ev = {r["ActionType"]: r for r in rows(cases["sysmon"], "DeviceEvents")}
    assert set(ev) == {"DnsQueryResponse", "OpenProcessApiCall", "ProcessTerminated"}
    dns = json.loads(ev["DnsQueryResponse"]["AdditionalFields"])
    assert dns["DnsQueryString"] == "evil.example"
    assert ev["OpenProcessApiCall"]["InitiatingProcessFileName"] == "powershell.exe"
    [logon] = rows(cases["sysmon"], "DeviceLogonEvents")
    assert logon["ActionType"] == "LogonSuccess" and logon["LogonType"] == "RemoteInteractive"
    assert (logon["AccountDomain"], logon["AccountName"], logon["AccountSid"]) == \
        ("CORP", "alice", "S-1-5-21-1-2-3-1001")
    assert (logon["RemoteIP"], logon["RemotePort"], logon["RemoteDeviceName"]) == \
        ("10.0.0.9", 50000, "JUMP01")
    assert logon["InitiatingProcessFileName"] == "svchost.exe"
    [mde] = rows(cases["defender"], "DeviceLogonEvents")
    assert (mde["ActionType"], mde["AccountName"], mde["RemoteIP"]) == ("LogonSuccess", "alice",
                                                                        "10.0.0.9")


def test_deliberate_differences(cases):
    """DeviceId is the host where the vendor has none (CrowdStrike: aid); ReportId of a
    non-Defender row is its record number; Defender's own values are kept."""
    one = ('DeviceProcessEvents | where FileName == "powershell.exe" '
           '| project DeviceId, ReportId, record')
    assert rows(cases["sysmon"], one) == [{"DeviceId": "WS01", "ReportId": 1, "record": 1}]
    assert rows(cases["crowdstrike"], one)[0]["DeviceId"] == "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    assert rows(cases["defender"], one) == [{"DeviceId": "d1e2f3", "ReportId": 101, "record": 1}]


def test_missing_columns_are_null_not_errors(cases):
    for v, c in cases.items():
        r = rows(c, 'DeviceProcessEvents | where FileName == "whoami.exe" '
                    '| project FileSize, InitiatingProcessAccountSid, AdditionalFields')
        assert r == [{"FileSize": None, "InitiatingProcessAccountSid": None,
                      "AdditionalFields": None}], v
    # a table with no rows on this vendor still has its columns and types
    empty = execute_text(make_context(cases["security"]), "DeviceRegistryEvents")[-1].table
    assert empty.num_rows == 0 and empty.schema == devtables.schema("DeviceRegistryEvents")


def test_types_and_kinds_without_reading_rows(cases, tmp_path):
    from edrql.plan import check, table_columns
    from edrql.parse import parse
    case = _case(tmp_path / "fresh", "sec4688.csv")
    ctx = make_context(case)
    cols = table_columns(ctx)
    assert cols["DeviceProcessEvents"]["Timestamp"] == "time"
    assert cols["DeviceNetworkEvents"]["RemotePort"] == "int"
    assert cols["DeviceProcessEvents"]["ProcessCommandLine"] == "text"
    check(parse("DeviceNetworkEvents | where RemotePort > 1000 | project Timestamp"), ctx)
    assert not ctx.memo                                  # nothing was built for the check
    for name in devtables.TABLES:
        t = execute_text(make_context(cases["sysmon"]), name)[-1].table
        assert t.schema == devtables.schema(name), name
        assert {"proc", "parent", "vendor", "source", "record"} <= set(t.column_names)


def test_one_creation_seen_by_two_channels_is_one_row(tmp_path):
    """Sysmon 1 and Security 4688 of the same starts (one instance each in the lineage)."""
    case = _case(tmp_path / "both", "sysmon.ndjson", "sec4688.csv")
    got = rows(case, "DeviceProcessEvents | project FileName, SHA1, vendor")
    assert [r["FileName"] for r in got] == ["powershell.exe", "whoami.exe"]
    assert all(r["SHA1"] for r in got)               # the Sysmon row (vendor id, hashes) is kept
    assert rows(case, 'events | where event == "process_start" | count')[0]["count"] == 4


def test_built_once_per_memo_never_kept_on_the_case(cases):
    """A table is remembered in the caller's memo (a query Context's), not on the case."""
    c = cases["sysmon"]
    memo: dict = {}
    a = devtables.table(c, "DeviceProcessEvents", memo=memo)
    assert devtables.table(c, "DeviceProcessEvents", memo=memo) is a
    assert devtables.table(c, "DeviceProcessEvents") is not a        # no memo: built again
    assert not [k for k in c.__dict__ if "devtables" in k]
    ctx = make_context(c)
    execute_text(ctx, "DeviceProcessEvents | count")
    assert "DeviceProcessEvents" not in ctx.memo and ("frame", "DeviceProcessEvents") in ctx.memo
    assert "DeviceProcessEvents" not in make_context(c).memo


def test_proxy_records_are_not_device_events(example_case):
    proxy = rows(example_case, 'events | where vendor == "Squid" | count')[0]["count"]
    assert proxy > 0
    n = rows(example_case, 'DeviceNetworkEvents | where vendor == "Squid" | count')[0]["count"]
    assert n == 0


def test_catalog_is_the_one_list(example_case):
    from edrql.functions import tables_doc
    from edrql.plan import table_columns
    from types import SimpleNamespace

    from edrql.repl.completer import EdrqlCompleter
    old = ["events", "files", "registry", "network", "dns", "http", "quarantine", "procs",
           "hostmap", "clocks"]
    assert list(catalog.TABLES)[:len(old)] == old
    assert tables_doc() == catalog.docs()
    ctx = make_context(example_case)
    assert set(catalog.TABLES) <= set(table_columns(ctx))
    for name in catalog.TABLES:                     # every table runs
        execute_text(ctx, f"{name} | take 1")
    comp = EdrqlCompleter(SimpleNamespace(ctx=ctx))
    assert {c.key for c in comp._tables()} >= set(catalog.TABLES)
    with pytest.raises(Exception) as e:
        execute_text(ctx, "DeviceFileEvent | take 1")
    assert "DeviceFileEvents" in str(getattr(e.value, "hint", ""))


def test_lets_and_pipe_tables_still_listed(example_case):
    ctx = make_context(example_case)
    execute_text(ctx, 'let t = DeviceProcessEvents | take 2')
    assert "t" in catalog.names(ctx)
    assert catalog.columns(ctx)["t"]["ProcessId"] == "int"


def test_schema_doc_lists_every_column_per_table():
    text = (Path(__file__).resolve().parents[1] / "docs" / "schema.md").read_text(encoding="utf-8")
    part = text.split("## Defender-schema tables", 1)[1].split("\n## ", 1)[0]
    sections = dict(s.split("\n", 1) for s in part.split("\n### ")[1:])
    assert set(sections) == set(devtables.TABLES)
    for name, spec in devtables.TABLES.items():
        for c in spec.columns:
            assert f"| `{c}` | " in sections[name], (name, c)


def test_ecs_export_fills_the_same_columns(tmp_path):
    case = _case(tmp_path / "ecs", "../vendor/ecs_endpoint.ndjson")
    [ps] = rows(case, "DeviceProcessEvents | project FileName, FolderPath, ProcessId, "
                      "InitiatingProcessFileName, InitiatingProcessId, AccountName")
    assert ps == {"FileName": "cmd.exe", "FolderPath": r"C:\Windows\System32\cmd.exe",
                  "ProcessId": 4242, "InitiatingProcessFileName": "explorer.exe",
                  "InitiatingProcessId": 1000, "AccountName": "alice"}
    [reg] = rows(case, "DeviceRegistryEvents | project RegistryKey")
    assert reg["RegistryKey"].startswith("HKEY_CURRENT_USER\\S-1-5-21-")


def test_repl_lists_and_describes_device_tables(example_case):
    from test_repl import Driver

    def script(d):
        d.run_line(".tables", "DeviceLogonEvents")
        d.run_line(".schema DeviceNetworkEvents", "RemotePort")
        d.run_line(".schema network", "match")                 # events' columns + attribution
        d.send("DeviceProc")
        d.snap["tab"] = d.tab()
        d.send("\x15")                                     # Ctrl-U: clear the line
        d.send('DeviceProcessEvents | where FileName == "whoa')
        d.snap["values"] = d.tab()
    d = Driver(example_case).run(script)
    assert d.snap["values"] == ['whoami.exe"']            # a value of the Device* column
    out = d.printed()
    assert "DeviceProcessEvents" in out and "Defender schema" in out
    assert "RemotePort" in out and "int64" in out
    assert "DeviceProcessEvents" in d.snap["tab"]


def test_defender_rows_go_to_the_table_the_export_names(tmp_path):
    """A union export with a Type column: a row's own table wins over edrql's guess from its
    ActionType (NetworkSignatureInspected is no edrql event type: DeviceEvents otherwise)."""
    src = tmp_path / "union.csv"
    src.write_text(
        "Timestamp,DeviceId,DeviceName,ActionType,Type,RemoteIP,RemotePort,"
        "InitiatingProcessFileName,InitiatingProcessId,ReportId\n"
        "2023-11-14T22:13:22.0000000Z,d1,WS01,NetworkSignatureInspected,DeviceNetworkEvents,"
        "93.184.216.34,443,powershell.exe,5000,7\n"
        "2023-11-14T22:13:23.0000000Z,d1,WS01,NetworkSignatureInspected,,93.184.216.34,443,"
        "powershell.exe,5000,8\n", encoding="utf-8")
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    case = Case.create_or_open(str(tmp_path / "c"))
    ingest([str(src)], case, Options())
    case = Case.open(str(tmp_path / "c"))
    net = rows(case, "DeviceNetworkEvents | project ActionType, RemotePort, ReportId")
    assert net == [{"ActionType": "NetworkSignatureInspected", "RemotePort": 443, "ReportId": 7}]
    assert rows(case, "DeviceEvents | project ReportId") == [{"ReportId": 8}]


def test_process_access_names_its_target_as_defender_does(cases):
    """Sysmon 10 as Defender's OpenProcessApiCall: FileName/FolderPath/ProcessId are the
    target (the published lsass-access hunt runs as written)."""
    q = ('DeviceEvents | where ActionType == "OpenProcessApiCall" and FileName =~ "lsass.exe" '
         '| project FileName, FolderPath, ProcessId, InitiatingProcessFileName')
    assert rows(cases["sysmon"], q) == [{
        "FileName": "lsass.exe", "FolderPath": r"C:\Windows\system32\lsass.exe", "ProcessId": 700,
        "InitiatingProcessFileName": "powershell.exe"}]


def test_a_pipeline_reading_no_column_still_sees_every_row(cases):
    c = cases["sysmon"]
    assert rows(c, "DeviceRegistryEvents | count") == [{"count": 2}]
    devtables.table(c, "DeviceRegistryEvents")              # built whole: the same answer
    assert rows(c, "DeviceRegistryEvents | count") == [{"count": 2}]
    assert rows(c, "DeviceRegistryEvents | summarize n = count()") == [{"n": 2}]
