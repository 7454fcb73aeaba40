"""Sigma logsources and fields over small hand-made events tables (no shared data needed)."""
from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np
import pyarrow as pa

from edrql.schema import SCHEMA
from edrql.sigma.fieldmap import Fields
from edrql.sigma.logsources import Coverage, service_channels

SYSMON = "Microsoft-Windows-Sysmon/Operational"
WIN, MDE = "Windows Event Log", "Microsoft Defender for Endpoint"


def table(rows: list[dict]) -> pa.Table:
    """An events table: the normalized columns (typed, null when not given) + raw.* strings."""
    cols = {}
    for f in SCHEMA:
        cols[f.name] = pa.array([r.get(f.name) for r in rows], f.type)
    raw = sorted({k for r in rows for k in r if k.startswith("raw.")})
    for k in raw:
        cols[k] = pa.array([None if r.get(k) is None else str(r[k]) for r in rows], pa.string())
    return pa.table(cols)


def ls(category=None, product="windows", service=None):
    return NS(category=category, product=product, service=service)


def sysmon(eid: int, event: str, **raw) -> dict:
    r = {"vendor": WIN, "event": event, "action": str(eid), "host": "WS1",
         "raw.System.EventID": str(eid), "raw.System.Channel": SYSMON,
         "raw.System.Provider.Name": "Microsoft-Windows-Sysmon"}
    r.update({"raw." + k: v for k, v in raw.items()})
    return r


def mde(action: str, event: str, **cols) -> dict:
    r = {"vendor": MDE, "event": event, "action": action, "host": "WS2"}
    r.update(cols)
    return r


def test_sysmon_fields_are_raw_case_insensitive_and_eventid_numeric():
    t = table([sysmon(1, "process_start", Image=r"C:\x\a.exe", CommandLine="a -x"),
               sysmon(11, "file_create", Image=r"C:\x\b.exe", TargetFilename=r"C:\t\f.txt")])
    f = Fields(t)
    pc_ls = ls("process_creation")
    rows = f.rows(pc_ls)
    assert rows.tolist() == [0] and rows.dtype == np.int64
    assert f.values("image", rows, pc_ls).to_pylist() == [r"C:\x\a.exe"]
    assert f.values("CommandLine", rows, pc_ls).to_pylist() == ["a -x"]
    ev = f.values("EventID", rows, pc_ls)
    assert pa.types.is_int64(ev.type) and ev.to_pylist() == [1]
    assert f.values("Channel", rows, pc_ls).to_pylist() == [SYSMON]
    assert f.values("Provider_Name", rows, pc_ls).to_pylist() == ["Microsoft-Windows-Sysmon"]
    assert f.values("NoSuchField", rows, pc_ls) is None
    assert f.column_of("Image", pc_ls) == "raw.Image"
    assert f.rows(ls("file_event")).tolist() == [1]


def test_security_4688_renamed_to_sysmon_names():
    r = {"vendor": WIN, "event": "process_start", "action": "4688", "user": "CORP\\bob",
         "raw.System.EventID": "4688", "raw.System.Channel": "Security",
         "raw.NewProcessName": r"C:\Windows\System32\cmd.exe", "raw.ParentProcessName": r"C:\p.exe",
         "raw.ProcessId": "0x10", "raw.NewProcessId": "0x20", "raw.MandatoryLabel": "S-1-16-12288",
         "raw.CommandLine": "cmd /c whoami"}
    t = table([r, sysmon(1, "process_start", Image=r"C:\s.exe", ParentImage=r"C:\sp.exe",
                         IntegrityLevel="Medium", User="CORP\\amy")])
    f = Fields(t)
    x = ls("process_creation")
    rows = f.rows(x)
    assert rows.tolist() == [0, 1]
    assert f.values("Image", rows, x).to_pylist() == [r"C:\Windows\System32\cmd.exe", r"C:\s.exe"]
    assert f.values("ParentImage", rows, x).to_pylist() == [r"C:\p.exe", r"C:\sp.exe"]
    assert f.values("IntegrityLevel", rows, x).to_pylist() == ["High", "Medium"]
    assert f.values("User", rows, x).to_pylist() == ["CORP\\bob", "CORP\\amy"]
    assert f.values("ProcessId", rows, x).to_pylist()[0] == "0x20"


def test_mixed_vendors_assembled_in_row_order():
    t = table([mde("ProcessCreated", "process_start", image=r"C:\m1.exe", cmdline="m1",
                   pimage=r"C:\mp.exe"),
               sysmon(1, "process_start", Image=r"C:\s1.exe", CommandLine="s1"),
               mde("ProcessCreated", "process_start", image=r"C:\m2.exe", cmdline="m2")])
    f = Fields(t)
    x = ls("process_creation")
    rows = f.rows(x)
    assert f.values("Image", rows, x).to_pylist() == [r"C:\m1.exe", r"C:\s1.exe", r"C:\m2.exe"]
    assert f.values("CommandLine", rows[1:], x).to_pylist() == ["s1", "m2"]
    assert f.values("ParentImage", rows, x).to_pylist() == [r"C:\mp.exe", None, None]
    assert "image" in f.column_of("Image", x) and "raw.Image" in f.column_of("Image", x)


def test_generic_registry_target_details_eventtype():
    t = table([mde("RegistryValueSet", "registry_set", image=r"C:\reg.exe", reg_key=r"HKLM\S\K",
                   reg_value="V", reg_data="1", **{"raw.RegistryValueType": "Dword"}),
               mde("RegistryKeyCreated", "registry_create", reg_key=r"HKCU\S\New"),
               mde("RegistryValueDeleted", "registry_delete", reg_key=r"HKLM\S\K", reg_value="Old"),
               mde("RegistryValueSet", "registry_set", reg_key=r"HKLM\S\Q", reg_value="Q", reg_data="4294967297",
                   **{"raw.RegistryValueType": "Qword"})])
    f = Fields(t)
    ev = ls("registry_event")
    rows = f.rows(ev)
    assert rows.tolist() == [0, 1, 2, 3]
    assert f.rows(ls("registry_set")).tolist() == [0, 3]
    assert f.rows(ls("registry_add")).tolist() == [1]
    assert f.rows(ls("registry_delete")).tolist() == [2]
    assert f.values("TargetObject", rows, ev).to_pylist() == [
        r"HKLM\S\K\V", r"HKCU\S\New", r"HKLM\S\K\Old", r"HKLM\S\Q\Q"]
    assert f.values("EventType", rows, ev).to_pylist() == ["SetValue", "CreateKey", "DeleteValue", "SetValue"]
    assert f.values("Details", rows, ev).to_pylist() == [
        "DWORD (0x00000001)", None, None, "QWORD (0x00000001-0x00000001)"]


def test_generic_network_direction_and_hashes():
    t = table([mde("ConnectionSuccess", "network_connect", laddr="10.0.0.5", lport=50000,
                   raddr="198.51.100.1", rport=443, domain="x.example", proto="tcp"),
               mde("InboundConnectionAccepted", "network_accept", laddr="10.0.0.5", lport=3389,
                   raddr="198.51.100.9", rport=51000),
               mde("ProcessCreated", "process_start", md5="aa", sha256="bb", **{"raw.SHA1": "cc"})])
    f = Fields(t)
    net = ls("network_connection")
    rows = f.rows(net)
    assert f.values("DestinationIp", rows, net).to_pylist() == ["198.51.100.1", "10.0.0.5"]
    assert f.values("SourceIp", rows, net).to_pylist() == ["10.0.0.5", "198.51.100.9"]
    assert f.values("DestinationPort", rows, net).to_pylist() == [443, 3389]
    assert f.values("Initiated", rows, net).to_pylist() == ["true", "false"]
    assert f.values("DestinationHostname", rows, net).to_pylist() == ["x.example", None]
    p = ls("process_creation")
    assert f.values("Hashes", f.rows(p), p).to_pylist() == ["SHA1=CC,MD5=AA,SHA256=BB"]
    assert f.values("sha1", f.rows(p), p).to_pylist() == ["cc"]


def test_proxy_fields_from_url():
    t = table([{"vendor": "Squid", "event": "http", "url": "http://evil.example/a/b.ps1?x=1",
                "domain": "evil.example", "http_method": "GET", "http_status": 200, "user_agent": "curl/8"},
               {"vendor": "Squid", "event": "http", "url": "http://ok.example/"}])
    f = Fields(t)
    px = ls("proxy", product=None)
    rows = f.rows(px)
    assert rows.tolist() == [0, 1]
    assert f.values("c-uri-extension", rows, px).to_pylist() == ["ps1", None]
    assert f.values("c-uri-query", rows, px).to_pylist() == ["?x=1", None]
    assert f.values("c-uri-stem", rows, px).to_pylist() == ["/a/b.ps1", "/"]
    assert f.values("cs-host", rows, px).to_pylist() == ["evil.example", None]
    assert f.values("sc-status", rows, px).to_pylist() == [200, None]
    assert f.values("c-useragent", rows, px).to_pylist() == ["curl/8", None]
    assert f.values("Hashes", rows, px) is None
    assert f.rows(ls("process_creation")).tolist() == []


def test_sysmon_category_by_event_id_not_by_edrql_event():
    t = table([sysmon(15, "file_create", TargetFilename=r"C:\a:Zone.Identifier"),
               sysmon(11, "file_create", TargetFilename=r"C:\b"),
               sysmon(10, "other", SourceImage=r"C:\s.exe", TargetImage=r"C:\lsass.exe", GrantedAccess="0x1010"),
               sysmon(17, "other", PipeName=r"\evil"),
               sysmon(14, "registry_set", TargetObject=r"HKLM\a", NewName=r"HKLM\b"),
               sysmon(12, "registry_delete", TargetObject=r"HKLM\c", EventType="DeleteKey")])
    f = Fields(t)
    assert f.rows(ls("file_event")).tolist() == [1]
    assert f.rows(ls("create_stream_hash")).tolist() == [0]
    assert f.rows(ls("process_access")).tolist() == [2]
    assert f.rows(ls("pipe_created")).tolist() == [3]
    assert f.rows(ls("registry_set")).tolist() == []
    assert f.rows(ls("registry_rename")).tolist() == [4]
    assert f.rows(ls("registry_event")).tolist() == [4, 5]
    pa_ls = ls("process_access")
    assert f.values("GrantedAccess", f.rows(pa_ls), pa_ls).to_pylist() == ["0x1010"]


def test_vendor_actions_kept_as_other():
    t = table([mde("NamedPipeEvent", "other"), mde("OpenProcessApiCall", "other"),
               mde("DriverLoad", "other"),
               {"vendor": "CrowdStrike Falcon", "event": "image_load", "action": "DriverLoad",
                "path": r"\Device\HarddiskVolume3\x.sys"}])
    f = Fields(t)
    assert f.rows(ls("pipe_created")).tolist() == [0]
    assert f.rows(ls("process_access")).tolist() == [1]
    assert f.rows(ls("driver_load")).tolist() == [2, 3]
    assert f.rows(ls("image_load")).tolist() == []


def test_powershell_and_services_by_channel():
    ps = {"vendor": WIN, "event": "other", "action": "4104", "raw.System.EventID": "4104",
          "raw.System.Channel": "Microsoft-Windows-PowerShell/Operational", "raw.ScriptBlockText": "iex"}
    sec = {"vendor": WIN, "event": "other", "action": "4624", "raw.System.EventID": "4624",
           "raw.System.Channel": "Security"}
    sentinel = {"vendor": WIN, "event": "process_start", "action": "4688", "raw.EventID": "4688",
                "raw.NewProcessName": r"C:\a.exe"}   # Sentinel SecurityEvent: no channel column
    t = table([ps, sec, sentinel])
    f = Fields(t)
    assert f.rows(ls("ps_script")).tolist() == [0]
    assert f.rows(ls("ps_module")).tolist() == []
    assert f.rows(ls(service="powershell")).tolist() == [0]
    assert f.rows(ls(service="security")).tolist() == [1, 2]
    assert f.rows(ls(service="system")).tolist() == []
    assert f.why_none(ls(service="system")) == "no Windows System channel events in this data"
    assert "ldap" in f.why_none(ls(service="ldap"))
    assert f.why_none(ls("ps_module")) == "you exported no PowerShell module (4103) events"
    assert service_channels("powershell") == ["Microsoft-Windows-PowerShell/Operational",
                                              "PowerShellCore/Operational"]
    x = ls("ps_script")
    assert f.values("ScriptBlockText", f.rows(x), x).to_pylist() == ["iex"]


def test_products_from_raw_os_paths_and_host():
    t = table([{"vendor": "CrowdStrike Falcon", "event": "process_start", "host": "m1",
                "image": "/usr/bin/curl", "raw.event_platform": "Mac"},
               {"vendor": "Elastic (ECS)", "event": "process_start", "host": "l1", "image": "/usr/bin/curl"},
               {"vendor": "Elastic (ECS)", "event": "network_connect", "host": "l1"},   # no path: host says
               {"vendor": "Elastic (ECS)", "event": "process_start", "host": "a1",
                "image": "/Applications/Safari.app/Contents/MacOS/Safari"},
               mde("ProcessCreated", "process_start", image=r"C:\w.exe"),
               {"vendor": "Squid", "event": "http", "url": "http://x/"},
               dict(sysmon(1, "process_start", Image="/usr/bin/bash"), image="/usr/bin/bash", host="lx")])
    cov = Coverage(t)
    assert cov.products.tolist() == ["macos", "linux", "linux", "macos", "windows", "", "linux"]
    f = Fields(t)
    assert f.rows(ls("process_creation", "linux")).tolist() == [1, 6]
    assert f.rows(ls("network_connection", "linux")).tolist() == [2]
    assert f.rows(ls("process_creation", "macos")).tolist() == [0, 3]
    assert f.why_none(ls("process_creation", "aws", "cloudtrail")) == "no AWS events in this data"


def test_why_none_sentences():
    t = table([sysmon(1, "process_start", Image=r"C:\a.exe")])
    f = Fields(t)
    assert f.why_none(ls("registry_set")) == "you exported no registry events"
    assert f.why_none(ls(service="security")) == "no Windows Security channel events in this data"
    assert f.why_none(ls("process_creation", "linux")) == "no Linux events in this data"
    assert "antivirus" in f.why_none(ls("antivirus", product=None))
    assert f.rows(ls("antivirus", product=None)).tolist() == []


def test_keyword_columns_are_raw_text():
    t = table([sysmon(1, "process_start", Image=r"C:\a.exe", CommandLine="x")])
    kw = Fields(t).keyword_columns()
    assert "raw.CommandLine" in kw and "raw.Image" in kw
    assert all(c.startswith("raw.") for c in kw)


def test_dictionary_columns_read_as_text():
    t = table([sysmon(1, "process_start", Image=r"C:\a.exe"), sysmon(1, "process_start", Image=r"C:\a.exe")])
    i = t.column_names.index("raw.Image")
    t = t.set_column(i, "raw.Image", t.column("raw.Image").dictionary_encode())
    f = Fields(t)
    x = ls("process_creation")
    assert f.values("Image", f.rows(x), x).to_pylist() == [r"C:\a.exe"] * 2


def test_classic_data_falls_back_to_message():
    ps = {"vendor": WIN, "event": "other", "action": "400", "raw.EventID": "400",
          "raw.Channel": "Windows PowerShell", "raw.Message": "HostApplication=powershell.exe -enc AAA"}
    f = Fields(table([ps]))
    x = ls("ps_classic_start")
    assert f.rows(x).tolist() == [0]
    assert f.values("Data", f.rows(x), x).to_pylist() == ["HostApplication=powershell.exe -enc AAA"]
    assert f.column_of("Data", x) == "raw.Message"


def test_defender_additional_fields():
    pipe = mde("NamedPipeEvent", "other", image=r"C:\x.exe",
               **{"raw.AdditionalFields": '{"PipeName":"\\\\Device\\\\NamedPipe\\\\msagent_12","FileOperation":"File created"}'})
    acc = mde("OpenProcessApiCall", "other", image=r"C:\x.exe",
              **{"raw.AdditionalFields": '{"DesiredAccess":5136}', "raw.FolderPath": r"C:\Windows\System32\lsass.exe"})
    f = Fields(table([pipe, acc]))
    p, a = ls("pipe_created"), ls("process_access")
    assert f.values("PipeName", f.rows(p), p).to_pylist() == [r"\msagent_12"]
    assert f.values("GrantedAccess", f.rows(a), a).to_pylist() == ["0x1410"]
    assert f.values("TargetImage", f.rows(a), a).to_pylist() == [r"C:\Windows\System32\lsass.exe"]
    assert f.values("SourceImage", f.rows(a), a).to_pylist() == [r"C:\x.exe"]


def test_rows_in_any_order_and_subsets():
    t = table([sysmon(1, "process_start", Image=f"C:\\{i}.exe") for i in range(4)])
    f = Fields(t)
    x = ls("process_creation")
    assert f.values("Image", np.array([3, 2, 1, 0]), x).to_pylist() == [r"C:\3.exe", r"C:\2.exe", r"C:\1.exe", r"C:\0.exe"]
    assert f.values("Image", np.array([1, 3]), x).to_pylist() == [r"C:\1.exe", r"C:\3.exe"]
    assert f.values("Image", f.rows(x), x).to_pylist() == [f"C:\\{i}.exe" for i in range(4)]


def test_forwarded_events_by_provider():
    fwd = {"vendor": WIN, "event": "other", "action": "4104", "raw.System.EventID": "4104",
           "raw.System.Channel": "ForwardedEvents", "raw.System.Provider.Name": "Microsoft-Windows-PowerShell"}
    task = dict(fwd, action="106", **{"raw.System.EventID": "106",
                                      "raw.System.Provider.Name": "Microsoft-Windows-TaskScheduler"})
    f = Fields(table([fwd, task]))
    assert f.rows(ls("ps_script")).tolist() == [0]
    assert f.rows(ls(service="taskscheduler")).tolist() == [1]
    assert f.rows(ls(service="system")).tolist() == []


def test_antivirus_from_defender_channel_and_mde():
    av = {"vendor": WIN, "event": "other", "action": "1116", "raw.System.EventID": "1116",
          "raw.System.Channel": "Microsoft-Windows-Windows Defender/Operational",
          "raw.Threat Name": "HackTool:Win32/Mimikatz", "raw.Path": r"file:_C:\Users\Public\m.exe"}
    other = dict(av, action="5007", **{"raw.System.EventID": "5007"})
    mdeav = mde("AntivirusDetection", "other", image=r"C:\x.exe",
                **{"raw.AdditionalFields": '{"ThreatName":"Trojan:Win32/Emotet"}',
                   "raw.FolderPath": r"C:\Temp\e.dll"})
    f = Fields(table([av, other, mdeav]))
    x = ls("antivirus", product=None)
    rows = f.rows(x)
    assert rows.tolist() == [0, 2]
    assert f.values("Signature", rows, x).to_pylist() == ["HackTool:Win32/Mimikatz", "Trojan:Win32/Emotet"]
    assert f.values("Filename", rows, x).to_pylist() == [r"file:_C:\Users\Public\m.exe", r"C:\Temp\e.dll"]
