"""CrowdStrike, Elastic ECS and mapping-file profiles on small hand-written fixtures."""
from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from conftest import FIXTURES, ROOT
from edrql import profiles
from edrql.normalize import Ctx, build
from edrql import values
from edrql.profiles import crowdstrike, ecs, mapping
from edrql.readers import csvread, jsonread
from edrql.readers.base import Input, SourceError
from edrql.schema import NAMES

VENDOR = FIXTURES / "vendor"
EXAMPLES = ROOT / "examples" / "mappings"
A1 = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
A2 = "f9e8d7c6b5a493827160f5e4d3c2b1a0"


def _inp(path) -> Input:
    path = str(path)
    return Input(path, os.path.abspath(path), None, os.path.getsize(path))


def ingest(path, profile=None, ctx=None, reader=None):
    """Read + normalize + build one fixture; returns (rows as dicts, quarantine, batch, norm)."""
    path = str(path)
    reader = reader or (csvread if path.endswith(".csv") else jsonread)
    batch = reader.read(_inp(path))
    prof = profile or profiles.detect(set(batch.table.column_names))
    assert prof is not None, f"no profile for {path}"
    norm = prof.normalize(batch.table, ctx or Ctx())
    table, quarantine = build(batch, norm, prof.vendor, path)
    assert table.num_rows + len(quarantine) + len(batch.quarantine) == batch.records_read
    assert table.column_names[: len(NAMES)] == NAMES
    return rows(table), quarantine, batch, norm, prof


def rows(table: pa.Table) -> list[dict]:
    """Rows with timestamps as int64 ns (exact) so tests can compare full precision."""
    cols = {}
    for name in table.column_names:
        c = table[name]
        cols[name] = pc.cast(c, pa.int64()) if pa.types.is_timestamp(c.type) else c
    return pa.table(cols).to_pylist()


def ns(iso: str) -> int:
    """ISO text (up to 9 fractional digits, Z) → ns since the epoch, exactly."""
    return pa.array([iso]).cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())[0].as_py()


def by(rows_, key, value):
    hits = [r for r in rows_ if r[key] == value]
    assert hits, f"no row with {key}={value!r}"
    return hits[0]


# ====================================================================== CrowdStrike
class TestCrowdStrikeFDR:
    @pytest.fixture(scope="class")
    @classmethod
    def res(cls):
        return ingest(VENDOR / "cs_fdr_small.ndjson")

    def test_detected_and_reconciled(self, res):
        r, q, batch, norm, prof = res
        assert prof.name == "crowdstrike"
        assert batch.records_read == 17
        assert len(r) == 16 and len(q) == 1
        assert q[0].record == 17 and "timestamp" in q[0].reason
        assert "timestamp" in norm.tz_decision

    def test_event_mapping(self, res):
        r = res[0]
        got = {x["raw.id"]: x["event"] for x in r}
        assert got == {
            "ev-01": "process_start", "ev-02": "process_end", "ev-03": "network_connect",
            "ev-04": "network_accept", "ev-05": "dns_query", "ev-06": "image_load",
            "ev-07": "file_create", "ev-08": "file_create", "ev-09": "file_delete",
            "ev-10": "file_rename", "ev-11": "registry_set", "ev-12": "registry_delete",
            "ev-13": "other", "ev-14": "other", "ev-15": "other", "ev-16": "process_start",
        }
        assert all(x["action"] == x["raw.event_simpleName"] for x in r)
        assert all(x["vendor"] == "CrowdStrike Falcon" for x in r)

    def test_process_start_columns(self, res):
        x = by(res[0], "raw.id", "ev-01")
        assert x["host"] == "WS01"
        assert x["pid"] == 4242                                # RawProcessId, the OS pid
        assert x["puid"] == f"{A1}:8040620588024"             # aid-qualified UPID
        assert x["ppuid"] == f"{A1}:8040620500001"
        assert x["ppid"] is None                               # PR2 has no parent OS pid
        assert x["image"] == r"\Device\HarddiskVolume3\Windows\System32\cmd.exe"  # no drive letter invented
        assert x["name"] == "cmd.exe"
        assert x["cmdline"] == "cmd.exe /c whoami"
        assert x["user"] == "alice"
        assert x["pimage"] == "explorer.exe" and x["pname"] == "explorer.exe"
        assert x["sha256"] is None                             # all-zero hash = absent
        assert x["md5"] == "0123456789abcdef0123456789abcdef"
        assert x["raw.SHA256HashData"] == "0" * 64             # raw kept untouched
        assert x["ts"] == ns("2023-11-14T22:13:20.456Z")       # epoch ms, exact
        assert x["pstart"] == ns("2023-11-14T22:13:20.123Z")   # epoch s.ms, exact

    def test_puid_is_per_sensor(self, res):
        r = res[0]
        a, b = by(r, "raw.id", "ev-01"), by(r, "raw.id", "ev-16")
        assert a["raw.TargetProcessId"] == b["raw.TargetProcessId"]
        assert a["puid"] != b["puid"] and b["puid"] == f"{A2}:8040620588024"

    def test_end_and_non_process_events_use_context_process(self, res):
        r = res[0]
        end = by(r, "raw.id", "ev-02")
        assert end["puid"] == f"{A1}:8040620588024" and end["pid"] == 4242
        net = by(r, "raw.id", "ev-03")
        assert net["puid"] == f"{A1}:8040620588024"           # ContextProcessId joins to PR2
        assert net["pid"] is None and net["image"] is None     # network rows carry no process
        inj = by(r, "raw.id", "ev-13")
        assert inj["puid"] == f"{A1}:8040620588024"           # the injector, not the target
        assert inj["pid"] is None                              # RawProcessId ambiguous there

    def test_network_dns_file_registry_columns(self, res):
        r = res[0]
        n4 = by(r, "raw.id", "ev-03")
        assert (n4["proto"], n4["laddr"], n4["lport"], n4["raddr"], n4["rport"]) == \
            ("tcp", "10.0.0.5", 50123, "93.184.216.34", 443)
        n6 = by(r, "raw.id", "ev-04")
        assert (n6["proto"], n6["laddr"], n6["raddr"], n6["lport"]) == ("udp", "fe80::1", "fe80::2", 53)
        d = by(r, "raw.id", "ev-05")
        assert d["dns_query"] == "example.org"
        assert d["dns_answer"] == "93.184.216.34;93.184.216.35"
        img = by(r, "raw.id", "ev-06")
        assert img["path"] == r"\Device\HarddiskVolume3\Windows\System32\evil.dll"
        assert img["file"] == "evil.dll" and img["md5"] is None and img["sha256"].startswith("3b4c")
        w = by(r, "raw.id", "ev-07")
        assert w["path"].endswith(r"\a.exe") and w["image"].endswith(r"\cmd.exe")
        ren = by(r, "raw.id", "ev-10")
        assert ren["path"].endswith(r"\c.dll") and ren["path_old"].endswith(r"\b.dll")
        reg = by(r, "raw.id", "ev-11")
        assert reg["reg_key"] == r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run"
        assert (reg["reg_value"], reg["reg_data"]) == ("updater", r"C:\Users\alice\a.exe")
        assert by(r, "raw.id", "ev-12")["reg_key"] == r"HKU\S-1-5-21-1\Software\Test"

    def test_context_timestamp_fallbacks(self, res):
        r = res[0]
        ft = by(r, "raw.id", "ev-14")                          # FILETIME ContextTimeStamp
        assert ft["ts"] == (133445123451234567 - 116444736000000000) * 100
        sm = by(r, "raw.id", "ev-15")                          # epoch s.ms ContextTimeStamp
        assert sm["ts"] == ns("2023-11-14T22:13:32.345Z")

    def test_dedup_key_present_and_unique(self, res):
        r = res[0]
        key = crowdstrike.PROFILE.dedup_key
        keys = {tuple(x["raw." + k] for k in key) for x in r}
        assert len(keys) == len(r)


def test_crowdstrike_event_search_csv():
    r, q, batch, norm, prof = ingest(VENDOR / "cs_eventsearch.csv")
    assert prof.name == "crowdstrike" and not q
    pr2 = by(r, "event", "process_start")
    assert pr2["ts"] == ns("2023-11-14T22:13:20.456Z")        # _time ISO with +0000
    assert pr2["puid"] == f"{A1}:8040620588024"              # from TargetProcessId_decimal
    assert pr2["ppuid"] == f"{A1}:8040620500001"
    assert pr2["pid"] == 4242 and pr2["pstart"] == ns("2023-11-14T22:13:20.123Z")
    assert pr2["cmdline"] == 'cmd.exe /c "echo a,b"'
    net = by(r, "event", "network_connect")
    assert net["ts"] == ns("2023-11-14T22:13:21.5Z")          # _time epoch seconds
    assert net["puid"] == f"{A1}:8040620588024"              # ContextProcessId_decimal
    assert (net["proto"], net["rport"]) == ("tcp", 443)


def test_crowdstrike_logscale_tags():
    r, q, batch, norm, prof = ingest(VENDOR / "cs_logscale.ndjson")
    assert prof.name == "crowdstrike" and not q
    assert [x["event"] for x in r] == ["process_start", "dns_query"]
    assert r[0]["ts"] == ns("2023-11-14T22:13:20.456Z")        # @timestamp epoch ms (a JSON number)
    assert r[0]["raw.#event_simpleName"] == "ProcessRollup2"   # raw names kept as exported
    assert r[1]["dns_query"] == "example.org" and r[1]["puid"] == f"{A1}:8040620588024"


def test_crowdstrike_detect():
    d = crowdstrike.PROFILE.detect
    assert d({"event_simpleName", "aid", "timestamp"}) >= 10
    assert d({"#event_simpleName", "aid", "@timestamp"}) >= 10
    assert d({"event_simpleName", "ComputerName", "_time", "TargetProcessId_decimal"}) >= 10
    assert d({"event_simpleName"}) == 0                        # no sensor/process id field
    assert d({"aid", "timestamp"}) == 0
    assert d({"ActionType", "DeviceName", "Timestamp"}) == 0


# ====================================================================== ECS
class TestECS:
    @pytest.fixture(scope="class")
    @classmethod
    def res(cls):
        return ingest(VENDOR / "ecs_endpoint.ndjson")

    def test_detected_and_reconciled(self, res):
        r, q, batch, norm, prof = res
        assert prof.name == "ecs"
        assert len(r) == 12 and len(q) == 1 and q[0].record == 13

    def test_event_mapping(self, res):
        got = {x["raw.event.id"]: x["event"] for x in res[0]}
        assert got == {
            "E01": "process_start", "E02": "process_end", "E03": "file_create",
            "E04": "file_rename", "E05": "file_delete", "E06": "file_modify",
            "E07": "registry_set", "E08": "network_connect", "E09": "network_accept",
            "E10": "dns_query", "E11": "image_load", "E12": "other",
        }

    def test_process_columns(self, res):
        x = by(res[0], "raw.event.id", "E01")
        assert x["ts"] == ns("2023-11-14T22:13:20.123456789Z")    # 9 digits kept
        assert x["pstart"] == ns("2023-11-14T22:13:20.1234567Z")
        assert x["ppstart"] == ns("2023-11-14T08:00:00Z")
        assert (x["pid"], x["ppid"], x["puid"], x["ppuid"]) == (4242, 1000, "EID-CHILD", "EID-PARENT")
        assert x["image"] == r"C:\Windows\System32\cmd.exe" and x["name"] == "cmd.exe"
        assert x["pimage"] == r"C:\Windows\explorer.exe" and x["pname"] == "explorer.exe"
        assert x["cmdline"] == "cmd.exe /c whoami" and x["pcmdline"] == r"C:\Windows\explorer.exe"
        assert x["user"] == r"CORP\alice" and x["host"] == "ws01.corp.example"
        assert x["sha256"] == "aa" * 32 and x["md5"] == "bb" * 16
        assert x["action"] == "start"

    def test_file_registry_network_dns_library(self, res):
        r = res[0]
        f = by(r, "raw.event.id", "E03")
        assert f["path"] == r"C:\Users\alice\a.exe" and f["sha256"] == "cc" * 32
        ren = by(r, "raw.event.id", "E04")
        assert ren["path_old"] == r"C:\Users\alice\a.exe" and ren["file"] == "b.exe"
        reg = by(r, "raw.event.id", "E07")
        assert reg["reg_key"] == r"HKU\S-1-5-21-1\Software\Microsoft\Windows\CurrentVersion\Run"
        assert reg["reg_value"] == "updater"
        assert reg["reg_data"] == r"C:\Users\alice\b.exe"           # JSON list unwrapped, unescaped
        out = by(r, "raw.event.id", "E08")
        assert (out["laddr"], out["lport"], out["raddr"], out["rport"], out["proto"]) == \
            ("10.0.0.5", 50123, "93.184.216.34", 443, "tcp")
        inn = by(r, "raw.event.id", "E09")                        # source = remote peer when accepted
        assert (inn["laddr"], inn["lport"], inn["raddr"], inn["rport"]) == \
            ("10.0.0.5", 3389, "10.0.0.99", 61000)
        d = by(r, "raw.event.id", "E10")
        assert d["dns_query"] == "example.org" and d["dns_answer"] == "93.184.216.34; 93.184.216.35"
        lib = by(r, "raw.event.id", "E11")
        assert lib["path"] == r"C:\Windows\System32\evil.dll" and lib["sha256"] == "dd" * 32
        assert lib["image"] == r"C:\Windows\System32\cmd.exe"

    def test_dedup_key(self, res):
        assert ecs.PROFILE.dedup_key == ["event.id"]


def test_ecs_detect():
    d = ecs.PROFILE.detect
    assert 0 < d({"@timestamp", "event.category", "host.name", "process.entity_id"}) < 10
    assert d({"@timestamp", "process.entity_id"}) > 0
    assert d({"_source.@timestamp", "_source.event.category"}) > 0
    # Winlogbeat / Elastic Agent Windows events belong to the Windows profile
    assert d({"@timestamp", "event.category", "host.name", "winlog.event_id", "winlog.channel"}) == 0
    assert d({"@timestamp", "EventID", "Hostname"}) == 0           # OTRF-style JSON
    assert d({"event.category", "process.entity_id"}) == 0         # no @timestamp
    # the MDE profile outranks ECS even on a strange mix of both
    mixed = {"@timestamp", "event.category", "ActionType", "DeviceName", "DeviceId"}
    assert profiles.detect(mixed).name == "mde"


def test_ecs_search_hits_and_kibana_time():
    raw = pa.table({
        "_source.@timestamp": ["Jun 29, 2020 @ 14:00:00.000", "Jun 9, 2020 @ 09:30:00.500",
                               "1593439200000"],
        "_source.event.category": ['["process"]', "process", "process"],
        "_source.event.type": ['["start"]', "start", "end"],
        "_source.process.entity_id": ["a", "b", "c"],
        "_source.process.pid": ["1", "0x10", "3"],
    })
    norm = ecs.PROFILE.normalize(raw, Ctx(tz="Asia/Tokyo", tz_given=True))
    c = norm.columns
    assert c["event"].to_pylist() == ["process_start", "process_start", "process_end"]
    assert c["puid"].to_pylist() == ["a", "b", "c"]
    assert c["pid"].to_pylist() == [1, 16, 3]
    ts = pc.cast(c["ts"], pa.int64()).to_pylist()
    assert ts[0] == ns("2020-06-29T05:00:00Z")                  # zone-less: read in --tz
    assert ts[1] == ns("2020-06-09T00:30:00.5Z")
    assert ts[2] == ns("2020-06-29T14:00:00Z")                  # epoch ms
    assert "Asia/Tokyo" in norm.tz_decision


# ====================================================================== time helpers
def test_epoch_helpers_full_precision_and_guards():
    a = pa.array(["1700000000.123456789", "1700000000123", "1700000000123456", "0", "", None,
                  "133445123451234567", "1700000000123456789", "99999999999999999999", "abc",
                  "9999999999999"])
    got = pc.cast(values.epoch_auto(a), pa.int64()).to_pylist()
    assert got[0] == 1700000000123456789                       # s with 9 digits: exact
    assert got[1] == 1700000000123000000                       # ms
    assert got[2] == 1700000000123456000                       # us
    assert got[3:6] == [None, None, None]                      # zero / blank = absent
    assert got[6] == (133445123451234567 - 116444736000000000) * 100   # FILETIME
    assert got[7] == 1700000000123456789                       # ns
    assert got[8] is None and got[9] is None                   # too long / not a number
    assert got[10] is None                                     # ms beyond 2262: null, no overflow
    # an explicit unit never overflows into an exception
    big = values.epoch_to_ts(pa.array(["1700000000123", "1.5"]), "s")
    assert pc.cast(big, pa.int64()).to_pylist() == [None, 1_500_000_000]
    ft = values.filetime_to_ts_safe(pa.array(["1d7540221dedd62", "0x1d7540221dedd62", "zz"]), True)
    want = (0x1d7540221dedd62 - 116444736000000000) * 100
    assert pc.cast(ft, pa.int64()).to_pylist() == [want, want, None]


def test_clean_iso_variants():
    a = pa.array(["2022-02-10 11:50:51.686294 +0000 UTC", "2022-02-10 11:50:51.2 +0000 UTC",
                  "2022-02-10T11:50:51.2725926-05:00", "Feb 10, 2022 @ 11:50:51.000"])
    ts, why = values.parse_as(a, "iso", Ctx())
    got = pc.cast(ts, pa.int64()).to_pylist()
    assert got == [ns("2022-02-10T11:50:51.686294Z"), ns("2022-02-10T11:50:51.2Z"),
                   ns("2022-02-10T16:50:51.2725926Z"), ns("2022-02-10T11:50:51Z")]


# ====================================================================== mapping files
def test_example_mappings_load():
    s1 = mapping.load(str(EXAMPLES / "sentinelone_dv.toml"))
    cb = mapping.load(str(EXAMPLES / "carbonblack_cloud.toml"))
    assert (s1.name, s1.vendor, s1.dedup_key) == ("sentinelone-dv", "SentinelOne", ["event.id"])
    assert cb.name == "carbonblack-cloud"
    for p in (s1, cb):
        assert callable(p.detect) and callable(p.normalize)


def test_sentinelone_csv_round_trip():
    prof = mapping.load(str(EXAMPLES / "sentinelone_dv.toml"))
    r, q, batch, norm, _ = ingest(VENDOR / "s1_sdl.csv", profile=prof)
    assert batch.fmt == "csv" and batch.records_read == 9
    assert len(r) == 8 and len(q) == 1 and q[0].record == 9      # blank event.time
    assert "epoch_ms" in norm.tz_decision
    assert [x["event"] for x in r] == ["process_start", "network_connect", "network_accept",
                                       "dns_query", "file_create", "registry_set", "http", "other"]
    ps = r[0]
    assert ps["ts"] == ns("2022-10-03T15:32:29.470Z")
    # process creation: the created process is the subject, its creator the parent
    assert (ps["pid"], ps["ppid"]) == (4242, 1000)
    assert (ps["puid"], ps["ppuid"]) == ("agent-1:AAAA000000000002", "agent-1:AAAA000000000001")
    assert ps["image"] == r"C:\Windows\System32\cmd.exe" and ps["name"] == "cmd.exe"
    assert ps["pimage"] == r"C:\Windows\explorer.exe" and ps["pname"] == "explorer.exe"
    assert ps["cmdline"] == 'cmd.exe /c "whoami"'
    assert ps["pstart"] == ns("2022-10-03T15:32:29.400Z")
    assert ps["ppstart"] == ns("2022-10-03T12:26:40Z")
    assert ps["user"] is None                          # tgt.process.user absent: no fallback to src
    net = r[1]
    assert (net["pid"], net["puid"], net["user"]) == (4242, "agent-1:AAAA000000000002", r"CORP\alice")
    assert (net["laddr"], net["lport"], net["raddr"], net["rport"]) == ("10.0.0.5", 50123, "93.184.216.34", 443)
    assert r[2]["pid"] == 4 and r[2]["image"] == "System"
    assert r[3]["dns_query"] == "example.org"
    assert r[4]["path"] == r"C:\Users\alice\a.exe" and r[4]["file"] == "a.exe"
    assert r[5]["reg_key"] == r"HKLM\SYSTEM\ControlSet001\Services\evil"
    assert (r[6]["http_method"], r[6]["url"]) == ("GET", "http://example.org/x")
    assert r[7]["action"] == "Login" and r[7]["vendor"] == "SentinelOne"
    assert prof.detect(set(batch.table.column_names)) >= 100


def test_carbonblack_json_round_trip():
    prof = mapping.load(str(EXAMPLES / "carbonblack_cloud.toml"))
    r, q, batch, norm, _ = ingest(VENDOR / "cbc_events.ndjson", profile=prof)
    assert len(r) == 10 and not q
    assert [x["event"] for x in r] == ["process_start", "network_connect", "network_accept",
                                       "file_create", "file_modify", "registry_set",
                                       "registry_create", "image_load", "other", "process_end"]
    ps = r[0]
    assert ps["ts"] == ns("2022-02-10T11:50:51.686294Z")       # Go-style "+0000 UTC"
    # procstart is emitted by the parent: turned around so the child is the subject
    assert (ps["pid"], ps["ppid"]) == (2748, 1684)
    assert ps["puid"].split("-")[2] == "00000abc" and ps["ppuid"].split("-")[2] == "00000694"
    assert ps["image"] == r"c:\windows\system32\cmd.exe" and ps["cmdline"] == "cmd.exe /c whoami"
    assert ps["pimage"] == r"c:\windows\explorer.exe"
    assert ps["pstart"] == (0x1d7540221def000 - 116444736000000000) * 100   # FILETIME in the GUID
    assert ps["ppstart"] == (0x1d7540221dedd62 - 116444736000000000) * 100
    assert ps["sha256"] == "cd" * 32 and ps["md5"] == "fedcba9876543210fedcba9876543210"
    net = r[1]
    assert (net["pid"], net["proto"], net["domain"], net["rport"]) == (1684, "tcp", "example.org", 443)
    assert net["sha256"] == "ab" * 32 and net["md5"] == "0123456789abcdef0123456789abcdef"
    assert r[2]["proto"] == "udp"
    assert r[3]["sha256"] == "ee" * 32 and r[3]["path"] == r"c:\users\alice\a.exe"
    assert r[5]["reg_key"].startswith("HKLM\\SOFTWARE\\")
    assert r[7]["sha256"] == "ff" * 32 and r[7]["md5"] == "22" * 16
    end = r[9]
    assert end["pid"] == 1684                                   # "[1684]" list unwrapped
    assert end["ts"] == ns("2022-02-10T11:51:00.123Z")          # second time candidate
    assert end["action"] == "endpoint.event.procend ACTION_PROCESS_TERMINATE"


def test_inhouse_csv_mapping_round_trip(tmp_path):
    src = tmp_path / "edr.csv"
    src.write_text(
        "When,Box,Kind,Proc,PPid,Exe,Cmd,Dst,DPort,Proto,Key\n"
        "2024-03-01 10:00:00.1234567,srv1,spawn,0x1f4,4,C:\\x\\a.exe,a.exe -q,,,,\n"
        "2024-03-01 10:00:01,srv1,conn,500,,C:\\x\\a.exe,,198.51.100.7,8443,TCP,\n"
        "2024-03-01 10:00:02,srv1,reg,500,,,,,,,HKEY_LOCAL_MACHINE\\Software\\X\n"
        "yesterday,srv1,spawn,1,,,,,,,\n", encoding="utf-8")
    mf = tmp_path / "inhouse.toml"
    mf.write_text('''
name = "inhouse"
[time]
field = "When"
tz = "Asia/Tokyo"
[fields]
host = "Box"
pid = "Proc"
ppid = "PPid"
image = "Exe"
cmdline = "Cmd"
raddr = "Dst"
rport = "DPort"
proto = "Proto"
reg_key = "Key"
puid = { join = ["Box", "Proc"], sep = "/" }
[event]
field = "Kind"
[event.map]
spawn = "process_start"
CONN = "network_connect"
reg = "registry_set"
''', encoding="utf-8")
    prof = mapping.load(str(mf))
    assert prof.name == "inhouse" and prof.vendor == "inhouse" and prof.dedup_key is None
    r, q, batch, norm, _ = ingest(src, profile=prof)
    assert len(r) == 3 and len(q) == 1 and q[0].record == 4
    assert "Asia/Tokyo" in norm.tz_decision
    assert r[0]["ts"] == ns("2024-03-01T01:00:00.1234567Z")
    assert (r[0]["pid"], r[0]["ppid"], r[0]["name"], r[0]["puid"]) == (500, 4, "a.exe", "srv1/0x1f4")
    assert (r[1]["event"], r[1]["proto"], r[1]["rport"]) == ("network_connect", "tcp", 8443)
    assert r[2]["reg_key"] == r"HKLM\Software\X" and r[2]["action"] == "reg"
    assert prof.detect({"When", "Box", "Kind"}) >= 100
    assert prof.detect({"Box", "Kind"}) == 0                    # no time column
    assert prof.detect({"When", "Kind"}) == 0                   # no host column


def test_mapping_source_without_time_column(tmp_path):
    mf = tmp_path / "m.toml"
    mf.write_text('[time]\nfield = "event.time"\nformat = "epoch_ms"\n', encoding="utf-8")
    prof = mapping.load(str(mf))
    with pytest.raises(SourceError, match=r"m\.toml.*event\.time.*not in this source"):
        prof.normalize(pa.table({"other": ["1"]}), Ctx())


@pytest.mark.parametrize("body, key, words", [
    ('name = "x"\n[fields]\nhost = "h"\n', "time", "missing [time]"),
    ('[time]\nformat = "epoch_ms"\n', "time.field", "missing"),
    ('[time]\nfield = "t"\nformat = "epoch_millis"\n', "time.format", "did you mean 'epoch_ms'"),
    ('[time]\nfield = "t"\n[fields]\ncmdlin = "c"\n', "fields.cmdlin", "did you mean 'cmdline'"),
    ('[time]\nfield = "t"\n[fields]\ncommand_line = "c"\n', "fields.command_line", "did you mean 'cmdline'"),
    ('[time]\nfield = "t"\n[fields]\nts = "c"\n', "fields.ts", "[time]"),
    ('[time]\nfield = "t"\n[fields]\npid = 5\n', "fields.pid", "column name"),
    ('[time]\nfield = "t"\n[fields]\npid = { feld = "p" }\n', "fields.pid.feld", "did you mean 'field'"),
    ('[time]\nfield = "t"\n[fields]\npid = { field = "p", format = "iso" }\n', "fields.pid.format",
     "time fields only"),
    ('[time]\nfield = "t"\n[fields]\npstart = { field = "p", format = "unix" }\n',
     "fields.pstart.format", "unknown time format"),
    ('[time]\nfield = "t"\n[fields]\nsha256 = { field = "h", regex = "([0-9a-f]{64})" }\n',
     "fields.sha256.regex", "unnamed groups"),
    ('[time]\nfield = "t"\ntz = "Mars/Base"\n', "time.tz", "unknown time zone"),
    ('[time]\nfield = "t"\n[event]\nfield = "e"\n[event.map]\nX = "proces_start"\n', "event.map.X",
     "did you mean 'process_start'"),
    ('[time]\nfield = "t"\n[feilds]\nhost = "h"\n', "feilds", "did you mean 'fields'"),
    ('[time]\nfield = "t"\n[when.process_begin]\npid = "p"\n', "when.process_begin", "unknown event type"),
    ('[time]\nfield = "t"\n[[event.refine]]\nfield = "d"\nto = "network_accept"\n', "event.refine[0]",
     "equals"),
    ('[time\nfield = "t"\n', "", "not valid TOML"),
])
def test_mapping_errors_name_file_and_key(tmp_path, body, key, words):
    mf = tmp_path / "bad.toml"
    mf.write_text(body, encoding="utf-8")
    with pytest.raises(SourceError) as ei:
        mapping.load(str(mf))
    msg = str(ei.value)
    assert msg.startswith(str(mf) + ": "), msg
    if key:
        assert f": {key}: " in msg, msg
    assert words in msg, msg


def test_mapping_missing_file(tmp_path):
    with pytest.raises(SourceError, match="mapping file not found"):
        mapping.load(str(tmp_path / "nope.toml"))
