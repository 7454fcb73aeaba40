"""Windows event logs: EVTX flattening, the winevent profile, on small own fixtures."""
from __future__ import annotations

import json
import struct
import zlib

import pyarrow as pa
import pytest

from conftest import FIXTURES
from edrql.normalize import Ctx, build
from edrql.profiles import detect, winevent
from edrql.readers import csvread, evtxread, jsonread
from edrql.readers.base import Input, SourceError, string_table

FX = FIXTURES / "winevent"
NS = {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"}


def _inp(path) -> Input:
    return Input(str(path), str(path), None, path.stat().st_size)


def ingest(path, reader=jsonread, ctx=None):
    batch = reader.read(_inp(path))
    norm = winevent.PROFILE.normalize(batch.table, ctx or Ctx())
    table, bad = build(batch, norm, winevent.PROFILE.vendor, str(path))
    return batch, norm, table, bad


def rows(table, **where):
    out = []
    for r in table.to_pylist():
        if all(r.get(k) == v for k, v in where.items()):
            out.append(r)
    return out


def one(table, **where):
    found = rows(table, **where)
    assert len(found) == 1, (where, len(found))
    return found[0]


# ------------------------------------------------------------------ flattening
LIB_RECORD = {"Event": {
    "#attributes": NS,
    "System": {
        "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon",
                                     "Guid": "5770385F-C22A-43E0-BF4C-06F5698FFBD9"}},
        "EventID": 3, "Version": 5, "Level": 4, "Task": 3, "Opcode": 0,
        "Keywords": "0x8000000000000000",
        "TimeCreated": {"#attributes": {"SystemTime": "2025-10-24T23:56:57.832430Z"}},
        "EventRecordID": 111828, "Correlation": None,
        "Execution": {"#attributes": {"ProcessID": 3308, "ThreadID": 4008}},
        "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "dc.example",
        "Security": {"#attributes": {"UserID": "S-1-5-18"}}},
    "EventData": {"ProcessId": 9880, "Image": "C:\\x.exe", "Initiated": True, "RuleName": "-"}}}


def test_flatten_system_attributes_and_eventdata():
    flat = evtxread.flatten_record(LIB_RECORD)
    assert flat["System.EventID"] == "3"
    assert flat["System.Channel"] == "Microsoft-Windows-Sysmon/Operational"
    assert flat["System.Computer"] == "dc.example"
    assert flat["System.EventRecordID"] == "111828"
    assert flat["System.TimeCreated.SystemTime"] == "2025-10-24T23:56:57.832430Z"
    assert flat["System.Provider.Name"] == "Microsoft-Windows-Sysmon"
    assert flat["System.Provider.Guid"] == "5770385F-C22A-43E0-BF4C-06F5698FFBD9"
    assert flat["System.Execution.ProcessID"] == "3308"
    assert flat["System.Execution.ThreadID"] == "4008"
    assert flat["System.Security.UserID"] == "S-1-5-18"
    assert flat["System.Correlation"] is None
    # EventData by bare name; numbers and booleans as text
    assert flat["ProcessId"] == "9880"
    assert flat["Image"] == "C:\\x.exe"
    assert flat["Initiated"] == "true"
    assert flat["RuleName"] == "-"
    # the constant event-schema namespace is not a field
    assert not any("xmlns" in k for k in flat)
    assert all(v is None or isinstance(v, str) for v in flat.values())


def test_flatten_text_with_attributes_userdata_and_data_lists():
    rec = {"Event": {"#attributes": NS, "System": {
        "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7045},
        "Channel": "System", "Computer": "h"},
        "UserData": {"LogFileCleared": {
            "#attributes": {"xmlns": "http://manifests.microsoft.com/win/2004/08/windows/eventlog"},
            "SubjectUserName": "Administrator"}},
        "EventData": {"Data": {"#text": ["a", "b"]}, "Binary": None},
        "RenderingInfo": {"#attributes": {"Culture": "en-US"}, "Message": "hello"}}}
    flat = evtxread.flatten_record(rec)
    assert flat["System.EventID"] == "7045"
    assert flat["System.EventID.Qualifiers"] == "16384"
    assert flat["UserData.LogFileCleared.SubjectUserName"] == "Administrator"
    # a namespace that is data (which schema UserData follows) is kept
    assert flat["UserData.LogFileCleared.xmlns"].startswith("http://manifests")
    assert json.loads(flat["Data"]) == ["a", "b"]
    assert flat["Binary"] is None
    assert flat["RenderingInfo.Culture"] == "en-US"
    assert flat["RenderingInfo.Message"] == "hello"


def test_flatten_plain_data_and_name_collisions_keep_both():
    rec = {"Event": {"System": {"EventID": 100, "Channel": "Application"},
                     "EventData": {"Data": "caller=sppsvc.exe"}},
           "collector": {"host": "wec1"}}
    flat = evtxread.flatten_record(rec)
    assert flat["Data"] == "caller=sppsvc.exe"
    assert flat["collector.host"] == "wec1"
    out: dict = {}
    evtxread._put(out, "A", "1")
    evtxread._put(out, "A", "2")
    assert out == {"A": "1", "A_2": "2"}


def test_flatten_separate_attributes_style():
    """evtx_dump --separate-json-attributes (chainsaw's output) gives the same names."""
    sep = {"Event_attributes": NS, "Event": {"System": {
        "Provider_attributes": {"Name": "Microsoft-Windows-Sysmon"}, "EventID": 3,
        "TimeCreated_attributes": {"SystemTime": "2025-10-24T23:56:57.832430Z"},
        "EventRecordID": 111828, "Correlation": None,
        "Execution_attributes": {"ProcessID": 3308, "ThreadID": 4008},
        "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "dc.example",
        "Security_attributes": {"UserID": "S-1-5-18"}},
        "EventData": {"ProcessId": 9880}}}
    flat = evtxread.flatten_record(sep)
    full = evtxread.flatten_record(LIB_RECORD)
    for k, v in flat.items():
        assert full[k] == v, k
    assert flat["System.TimeCreated.SystemTime"] == "2025-10-24T23:56:57.832430Z"
    # and the generic JSON spelling of it is understood by the profile
    generic = jsonread.rows_to_table([jsonread.flatten(sep)])
    assert "Event.System.TimeCreated_attributes.SystemTime" in generic.column_names
    cols = winevent.PROFILE.normalize(generic, Ctx()).columns
    assert cols["event"].to_pylist() == ["network_connect"]
    assert cols["ts"][0].as_py().isoformat() == "2025-10-24T23:56:57.832430+00:00"


def test_is_evtx_json():
    assert evtxread.is_evtx_json(LIB_RECORD)
    assert not evtxread.is_evtx_json({"Event": "x"})
    assert not evtxread.is_evtx_json({"EventID": 1})
    assert not evtxread.is_evtx_json({"Event": {"Data": 1}})


def test_flatten_then_profile_equals_generic_json_spelling():
    """The profile reads the rendering both flattened by flatten_record and by the
    generic JSON flattener (Event.System.EventID, ...#attributes.SystemTime)."""
    path = FX / "evtx_render.json"
    objs = [o for _, o, _, _ in jsonread.iter_objects(path.read_text())]
    generic = jsonread.rows_to_table([jsonread.flatten(o) for o in objs])
    flat = jsonread.rows_to_table([evtxread.flatten_record(o) for o in objs])
    assert "Event.System.EventID" in generic.column_names
    assert "System.EventID" in flat.column_names
    # the JSON reader itself uses the EVTX spelling for evtx-library renderings
    assert "System.EventID" in jsonread.read(_inp(path)).table.column_names
    a = winevent.PROFILE.normalize(generic, Ctx()).columns
    b = winevent.PROFILE.normalize(flat, Ctx()).columns
    for name in ("ts", "host", "event", "action", "pid", "ppid", "image", "cmdline", "user",
                 "puid", "ppuid", "sha256", "laddr", "lport", "raddr", "rport", "domain"):
        assert a[name].equals(b[name]), name
    assert b["action"].to_pylist() == ["1", "3", "7045", "1102", "600"]
    assert b["event"].to_pylist() == ["process_start", "network_accept", "other", "other", "other"]
    # Sysmon 3 with Initiated=false: local side is the Destination
    assert b["laddr"][1].as_py() == "10.0.0.1" and b["lport"][1].as_py() == 445
    assert b["raddr"][1].as_py() == "10.0.0.9" and b["domain"][1].as_py() == "attacker.corp.example"
    assert b["ts"][2].value == 1761350220123456700  # 9 fraction digits kept


# ------------------------------------------------------------------ OTRF flat JSON
@pytest.fixture(scope="module")
def otrf():
    return ingest(FX / "otrf_mixed.ndjson")


EXPECT = [
    # (action, event, extra equality checks)
    ("1", "process_start", {"pid": 7448, "ppid": 4544, "puid": "81056205-565C-64DC-2304-000000000800",
                            "ppuid": "81056205-D124-64D4-6A00-000000000800", "user": "CORP\\alice",
                            "pimage": "C:\\Windows\\explorer.exe", "pname": "explorer.exe",
                            "pcmdline": "C:\\Windows\\Explorer.EXE", "name": "msedge.exe",
                            "md5": "ad8536c7440638d40156e883ac25086e",
                            "sha256": "73d84d249f16b943d1d3f9dd9e516fadd323e70939c29b4a640693eb8818ee9a"}),
    ("5", "process_end", {"pid": 7448, "puid": "81056205-565C-64DC-2304-000000000800"}),
    ("7", "image_load", {"path": "C:\\Windows\\System32\\fltLib.dll", "file": "fltLib.dll",
                         "md5": "d778391d413afbdb9ce4896acaacbd00", "pid": 7448}),
    ("8", "other", {"pid": 7448, "image": "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
                    "puid": "81056205-565C-64DC-2304-000000000800", "user": "CORP\\alice"}),
    ("10", "other", {"pid": 7448, "puid": "81056205-565C-64DC-2304-000000000800", "user": "CORP\\alice"}),
    ("11", "file_create", {"path": "C:\\Users\\alice\\Downloads\\invoice.zip", "file": "invoice.zip"}),
    ("14", "registry_set", {"reg_key": "HKLM\\SOFTWARE\\Example\\Old", "reg_value": None,
                            "reg_data": "HKLM\\SOFTWARE\\Example\\New"}),
    ("15", "file_create", {"path": "C:\\Users\\alice\\Downloads\\invoice.zip:Zone.Identifier",
                           "sha256": "0e0a5e2e07d5d2e6f0e2a1f1d5e8d8e4c7a5b3f1a2b3c4d5e6f708192a3b4c5d"}),
    ("17", "other", {"path": "\\crashpad_7448_LVFV", "file": "crashpad_7448_LVFV"}),
    ("18", "other", {"path": "\\crashpad_7448_LVFV"}),
    ("22", "dns_query", {"dns_query": "example.com", "domain": "example.com",
                         "dns_answer": "::ffff:93.184.216.34;", "outcome": "0"}),
    ("23", "file_delete", {"path": "C:\\Users\\alice\\AppData\\Local\\Temp\\a.tmp",
                           "md5": "0cc175b9c0f1b6a831c399e269772661"}),
    ("26", "file_delete", {"path": "C:\\Users\\alice\\AppData\\Local\\Temp\\b.tmp"}),
    ("2", "other", {"path": "C:\\Users\\alice\\x.txt"}),
    ("4689", "process_end", {"pid": 7448, "ppid": None, "name": "msedge.exe", "user": "CORP\\alice"}),
    ("4624", "other", {"pid": 0x2b0, "name": "svchost.exe", "user": "CORP\\WS01$"}),
    ("4104", "other", {"pid": None, "image": None}),
]


@pytest.mark.parametrize("action,event,checks", EXPECT, ids=[e[0] for e in EXPECT])
def test_event_mapping(otrf, action, event, checks):
    _, _, table, _ = otrf
    r = one(table, action=action, event=event)
    assert r["host"] == "WS01.corp.example"
    for k, v in checks.items():
        assert r[k] == v, k


def test_every_record_is_stored_or_quarantined(otrf):
    batch, _, table, bad = otrf
    assert batch.records_read == 29
    assert table.num_rows + len(bad) + len(batch.quarantine) == 29
    assert set(table["event"].to_pylist()) <= set(winevent.EVENTS.values()) | {
        "network_accept", "registry_delete", "other"}


def test_sysmon_network_directions(otrf):
    _, _, table, _ = otrf
    out_, in_ = rows(table, action="3")
    assert out_["event"] == "network_connect"
    assert (out_["laddr"], out_["lport"], out_["raddr"], out_["rport"]) == (
        "192.168.1.41", 50123, "93.184.216.34", 443)
    assert out_["proto"] == "tcp" and out_["domain"] == "example.com"
    assert in_["event"] == "network_accept"
    assert (in_["laddr"], in_["lport"], in_["raddr"], in_["rport"]) == (
        "192.168.1.41", 389, "192.168.1.50", 61000)
    assert in_["domain"] == "ws02.corp.example"


def test_security_5156_directions(otrf):
    _, _, table, _ = otrf
    out_, in_ = rows(table, action="5156")
    assert out_["event"] == "network_connect" and out_["proto"] == "tcp"
    assert (out_["laddr"], out_["lport"], out_["raddr"], out_["rport"]) == (
        "192.168.1.41", 50123, "93.184.216.34", 443)
    assert out_["pid"] == 7448 and out_["name"] == "msedge.exe"
    assert in_["event"] == "network_accept"
    assert (in_["laddr"], in_["lport"], in_["raddr"], in_["rport"]) == (
        "192.168.1.41", 389, "192.168.1.50", 61000)


def test_registry_events(otrf):
    _, _, table, _ = otrf
    create, delete = rows(table, action="12")
    assert create["event"] == "registry_create"
    assert create["reg_key"] == "HKLM\\SOFTWARE\\Example\\Run" and create["reg_value"] is None
    assert delete["event"] == "registry_delete"
    assert delete["reg_key"] == "HKU\\S-1-5-21-1-2-3-1001\\Software\\Microsoft\\Windows\\CurrentVersion\\Run"
    assert delete["reg_value"] == "Updater"
    start, mui = rows(table, action="13")
    assert start["event"] == "registry_set"
    assert start["reg_key"] == "HKLM\\System\\CurrentControlSet\\Services\\WinDefend"
    assert start["reg_value"] == "Start" and start["reg_data"] == "DWORD (0x00000004)"
    # a value name holding a path (MuiCache) is not cut at its own backslashes
    assert mui["reg_key"].endswith("\\MuiCache\\3\\52C64B7E")
    assert mui["reg_value"] == "@%SystemRoot%\\system32\\shell32.dll,-21787"


def test_4688_hex_pids_and_user(otrf):
    _, _, table, _ = otrf
    by_system, by_user = rows(table, action="4688")
    assert by_system["event"] == "process_start"
    assert (by_system["pid"], by_system["ppid"]) == (0x1d18, 0x11c0) == (7448, 4544)
    assert by_system["image"].endswith("msedge.exe") and by_system["pname"] == "explorer.exe"
    # subject is the machine account creating a process for a user: the target account
    assert by_system["user"] == "CORP\\alice"
    assert by_system["pstart"] == by_system["ts"]
    assert (by_user["pid"], by_user["ppid"]) == (0x2bc, 0x1d18)
    assert by_user["user"] == "CORP\\alice"          # TargetUserName "-": the subject
    assert by_user["cmdline"] == "cmd.exe /c whoami"
    assert by_user["puid"] is None


def test_sysmon_pstart_is_utctime(otrf):
    _, _, table, _ = otrf
    r = one(table, action="1", event="process_start")
    assert r["pstart"].isoformat() == "2023-08-16T04:53:48.554000+00:00"
    assert r["ts"].isoformat() == "2023-08-16T04:53:48.554000+00:00"


def test_unknown_event_kept_with_raw_fields(otrf):
    _, _, table, _ = otrf
    r = one(table, action="4104")
    assert r["event"] == "other"
    assert r["raw.ScriptBlockText"] == "Get-Process | Out-Null"
    assert r["raw.Channel"] == "Microsoft-Windows-PowerShell/Operational"
    # event id 1 of another channel is not a Sysmon process start
    sys1 = one(table, **{"raw.Channel": "System"})
    assert sys1["event"] == "other" and sys1["action"] == "1"
    assert sys1["raw.NewTime"] == "2023-08-16T04:53:52.000Z"


def test_unparseable_time_is_quarantined(otrf):
    _, norm, table, bad = otrf
    assert len(bad) == 1
    q = bad[0]
    assert q.reason == "unparseable time in TimeCreated"
    assert json.loads(q.raw)["Image"] == "C:\\bad\\time.exe"
    assert q.record == 29
    assert "C:\\bad\\time.exe" not in table["image"].to_pylist()
    assert "TimeCreated" in norm.tz_decision


def test_detect_prefers_winevent():
    batch = jsonread.read(_inp(FX / "otrf_mixed.ndjson"))
    cols = set(batch.table.column_names)
    assert winevent.PROFILE.detect(cols) >= 10
    assert detect(cols) is winevent.PROFILE
    assert winevent.PROFILE.detect({"Timestamp", "DeviceName", "ActionType", "ReportId"}) == 0
    assert winevent.PROFILE.detect({"a", "b"}) == 0


def test_dedup_key_for():
    p = winevent.PROFILE
    assert p.dedup_key_for(set(p.dedup_key)) == p.dedup_key
    assert p.dedup_key_for({"winlog.computer_name", "winlog.channel", "winlog.record_id",
                            "@timestamp", "x"})[2] == "winlog.record_id"
    assert p.dedup_key_for({"Hostname", "Channel", "EventID"}) is None


# ------------------------------------------------------------------ other shapes
def test_winlogbeat_nested_names():
    batch, _, table, bad = ingest(FX / "winlogbeat.ndjson")
    assert not bad and table.num_rows == 3
    assert detect(set(batch.table.column_names)) is winevent.PROFILE
    ps = one(table, action="1")
    assert ps["event"] == "process_start" and ps["host"] == "WS01.corp.example"
    assert ps["pid"] == 7448 and ps["ppid"] == 4544 and ps["name"] == "msedge.exe"
    assert ps["puid"] == "81056205-565C-64DC-2304-000000000800"
    assert ps["md5"] == "ad8536c7440638d40156e883ac25086e"
    assert ps["pstart"].isoformat() == "2023-08-16T04:53:48.550000+00:00"
    sec = one(table, action="4688")
    assert (sec["event"], sec["pid"], sec["ppid"], sec["user"]) == ("process_start", 0x2bc, 0x1d18, "CORP\\alice")
    net = one(table, action="3")
    # no winlog.computer_name on this line: host.name
    assert net["host"] == "ws01" and net["proto"] == "udp" and net["rport"] == 53


def test_casing_variants():
    batch, _, table, bad = ingest(FX / "casing.ndjson")
    assert not bad
    assert detect(set(batch.table.column_names)) is winevent.PROFILE
    ps = one(table, action="1")
    assert (ps["event"], ps["host"], ps["pid"], ps["ppid"], ps["name"]) == (
        "process_start", "ws03", 8000, 4544, "notepad.exe")
    assert ps["sha256"].endswith("abc")
    sec = one(table, action="4688")
    assert (sec["event"], sec["pid"], sec["ppid"], sec["user"]) == (
        "process_start", 0x1f40, 0x11c0, "CORP\\bob")


def test_sentinel_csv_with_leading_unnamed_column():
    batch, norm, table, bad = ingest(FX / "sentinel_4688.csv", reader=csvread)
    assert batch.table.column_names[0] == "col1"
    assert detect(set(batch.table.column_names)) is winevent.PROFILE
    assert not bad and table.num_rows == 3
    assert table["event"].to_pylist() == ["process_start"] * 3
    assert table["pid"].to_pylist() == [0x1d18, 0x2bc, 0xfb0]
    assert table["ppid"].to_pylist() == [0x888, 0x1d18, 0x1d18]
    assert table["host"].to_pylist() == ["HOST1"] * 3
    assert table["user"].to_pylist() == ["WORKGROUP\\HOST1$"] * 3
    assert table["pname"].to_pylist() == ["services.exe", "cmd.exe", "cmd.exe"]
    assert table["cmdline"][0].as_py() == '"cmd.exe" /c "echo, hi"'
    assert table["cmdline"][2].as_py() == "whoami /all\nsecond line"
    # +00:00, ISO Z and zone-less (UTC by definition) all read
    assert [t.isoformat() for t in table["ts"].to_pylist()] == [
        "2019-01-15T05:15:15.677000+00:00", "2019-01-15T05:15:16.001000+00:00",
        "2019-01-15T05:15:17.123000+00:00"]
    assert "TimeGenerated" in norm.tz_decision and "UTC" in norm.tz_decision


def test_time_preference_and_skew_note():
    raw = string_table({
        "EventID": ["1", "1"], "Channel": ["Microsoft-Windows-Sysmon/Operational"] * 2,
        "Hostname": ["h", "h"],
        "TimeCreated": ["2021-06-11T09:07:15.635Z", None],
        "UtcTime": ["2021-06-12 01:07:15.633", "2021-06-12 01:07:16.000"],
        "ProcessGuid": ["{a}", "{b}"], "ProcessId": ["1", "2"], "Image": ["x.exe", "y.exe"]})
    ctx = Ctx()
    norm = winevent.PROFILE.normalize(raw, ctx)
    ts = [t.isoformat() for t in norm.columns["ts"].to_pylist()]
    assert ts == ["2021-06-11T09:07:15.635000+00:00", "2021-06-12T01:07:16+00:00"]
    assert "-15h59m" in norm.tz_decision and ctx.notes and "UtcTime" in ctx.notes[0]


def test_zoneless_local_time_uses_tz():
    raw = string_table({"EventID": ["4624"], "Channel": ["Security"], "Hostname": ["h"],
                        "EventTime": ["2020-09-04 16:09:38"]})
    norm = winevent.PROFILE.normalize(raw, Ctx(tz="America/New_York", tz_given=True))
    assert norm.columns["ts"][0].as_py().isoformat() == "2020-09-04T20:09:38+00:00"
    assert "America/New_York" in norm.tz_decision


def test_empty_table():
    norm = winevent.PROFILE.normalize(pa.table({"EventID": pa.array([], pa.string())}), Ctx())
    assert len(norm.columns["event"]) == 0


# ------------------------------------------------------------------ EVTX reader without real files
def _file_header(chunks: int, next_id: int) -> bytes:
    h = bytearray(128)
    h[:8] = evtxread.MAGIC
    struct.pack_into("<QQQIHHHH", h, 8, 0, max(chunks - 1, 0), next_id, 128, 1, 3, 4096, chunks)
    struct.pack_into("<I", h, 124, zlib.crc32(bytes(h[:120])))
    return bytes(h) + bytes(4096 - 128)


def test_evtx_not_evtx(tmp_path):
    p = tmp_path / "x.evtx"
    p.write_bytes(b"not an event log" * 10)
    with pytest.raises(SourceError, match="not an EVTX"):
        evtxread.read(_inp(p))


def test_evtx_shorter_than_its_header(tmp_path):
    p = tmp_path / "x.evtx"
    p.write_bytes(_file_header(3, 200)[:1000])
    with pytest.raises(SourceError, match=r"truncated EVTX: 1000 bytes.*record id 199"):
        evtxread.read(_inp(p))


def test_evtx_header_only_counts_declared_records(tmp_path):
    """Header intact, every chunk cut off: the declared records are quarantined."""
    p = tmp_path / "x.evtx"
    p.write_bytes(_file_header(1, 11))
    batch = evtxread.read(_inp(p))
    assert batch.table.num_rows == 0
    assert batch.records_read == 10 == len(batch.quarantine)
    assert [q.record for q in batch.quarantine] == list(range(1, 11))
    assert all(q.reason.startswith("truncated EVTX") for q in batch.quarantine)
    assert json.loads(batch.quarantine[0].raw) == {"record_id": 1}
    assert batch.notes and "truncated" in batch.notes[0]
    assert batch.fmt == "evtx"
