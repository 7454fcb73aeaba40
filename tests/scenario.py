"""One small intrusion, written as three vendors would export it.

Word opens a macro document; the macro starts PowerShell (``-nop -w hidden -enc``),
which writes a loader DLL and its config to Temp, calls out over HTTP and starts
rundll32 on the DLL; rundll32 sets a Run key and beacons to a C2 address. Beside it,
benign activity that a careless query would also hit: a PowerShell with ``-NoProfile``
(``has "-nop"`` must not match it), a ``cmd /c whoami`` and a file write with no
command line. The same events are rendered as a Defender Advanced Hunting CSV, Sysmon
JSON lines and CrowdStrike FDR JSON lines, so that one hunting query can be run over
each and must give the same answer wherever the vendor records the fact.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

HOST = "ws42.corp.example"
SHORT = "WS42"
SID = "S-1-5-21-1004336348-1177238915-682003330-1107"
T0 = datetime(2024, 3, 5, 10, 0, 0, tzinfo=timezone.utc)


@dataclass
class Proc:
    pid: int
    image: str
    cmdline: str
    start: datetime
    parent: "Proc | None" = None
    user: str = "bob"
    guid: str = ""
    sha256: str = ""

    @property
    def name(self) -> str:
        return self.image.rsplit("\\", 1)[-1]

    @property
    def folder(self) -> str:
        return self.image.rsplit("\\", 1)[0]


def _t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _hash(n: int) -> str:
    return f"{n:064x}"


EXPLORER = Proc(4000, r"C:\Windows\explorer.exe", r"C:\Windows\Explorer.EXE", _t(-3600),
                guid="{6a1d0000-0000-0000-0000-000000004000}", sha256=_hash(1))
WORD = Proc(5100, r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
            r'"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE" /n '
            r'"C:\Users\bob\Downloads\invoice-0305.docm"', _t(0), EXPLORER,
            guid="{6a1d0000-0000-0000-0000-000000005100}", sha256=_hash(2))
PS_EVIL = Proc(6200, r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
               "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=",
               _t(30), WORD, guid="{6a1d0000-0000-0000-0000-000000006200}", sha256=_hash(3))
PS_GOOD = Proc(6300, r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
               r"powershell.exe -NoProfile -File C:\scripts\backup.ps1", _t(45), EXPLORER,
               guid="{6a1d0000-0000-0000-0000-000000006300}", sha256=_hash(3))
RUNDLL = Proc(7300, r"C:\Windows\System32\rundll32.exe",
              r"rundll32.exe C:\Users\bob\AppData\Local\Temp\ldr64.dll,Start", _t(90), PS_EVIL,
              guid="{6a1d0000-0000-0000-0000-000000007300}", sha256=_hash(4))
CMD = Proc(8000, r"C:\Windows\System32\cmd.exe", "cmd.exe /c whoami", _t(120), EXPLORER,
           guid="{6a1d0000-0000-0000-0000-000000008000}", sha256=_hash(5))
PROCESSES = [WORD, PS_EVIL, PS_GOOD, RUNDLL, CMD]


@dataclass
class FileWrite:
    at: datetime
    by: Proc
    path: str


@dataclass
class Connect:
    at: datetime
    by: Proc
    raddr: str
    rport: int
    lport: int


@dataclass
class RegSet:
    at: datetime
    by: Proc
    key: str            # below HKEY_CURRENT_USER\<SID>
    value: str
    data: str


FILES = [FileWrite(_t(40), PS_EVIL, r"C:\Users\bob\AppData\Local\Temp\ldr64.dll"),
         FileWrite(_t(41), PS_EVIL, r"C:\Users\bob\AppData\Local\Temp\ldr64.cfg"),
         FileWrite(_t(50), PS_GOOD, r"C:\scripts\backup.log")]
CONNECTS = [Connect(_t(35), PS_EVIL, "198.51.100.7", 80, 50100),
            Connect(_t(95), RUNDLL, "203.0.113.50", 443, 50111),
            Connect(_t(155), RUNDLL, "203.0.113.50", 443, 50112)]
REGS = [RegSet(_t(100), RUNDLL, r"Software\Microsoft\Windows\CurrentVersion\Run", "Updater",
               r"rundll32.exe C:\Users\bob\AppData\Local\Temp\ldr64.dll,Start")]


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


# ---------------------------------------------------------------- Defender
DEFENDER_COLUMNS = [
    "Timestamp", "DeviceId", "DeviceName", "ActionType", "FileName", "FolderPath", "SHA256",
    "ProcessId", "ProcessCommandLine", "ProcessCreationTime", "AccountDomain", "AccountName",
    "InitiatingProcessFileName", "InitiatingProcessFolderPath", "InitiatingProcessId",
    "InitiatingProcessCommandLine", "InitiatingProcessCreationTime", "InitiatingProcessAccountName",
    "InitiatingProcessParentId", "InitiatingProcessParentFileName",
    "InitiatingProcessParentCreationTime", "RemoteIP", "RemotePort", "LocalIP", "LocalPort",
    "Protocol", "RegistryKey", "RegistryValueName", "RegistryValueData", "ReportId"]


def _initiating(p: Proc) -> dict:
    par = p.parent
    return {"InitiatingProcessFileName": p.name, "InitiatingProcessFolderPath": p.image,
            "InitiatingProcessId": p.pid, "InitiatingProcessCommandLine": p.cmdline,
            "InitiatingProcessCreationTime": _iso(p.start), "InitiatingProcessAccountName": p.user,
            "InitiatingProcessParentId": par.pid if par else "",
            "InitiatingProcessParentFileName": par.name if par else "",
            "InitiatingProcessParentCreationTime": _iso(par.start) if par else ""}


def defender_rows() -> list[dict]:
    rows = []
    for p in PROCESSES:
        rows.append({"Timestamp": _iso(p.start), "ActionType": "ProcessCreated", "FileName": p.name,
                     "FolderPath": p.image, "SHA256": p.sha256, "ProcessId": p.pid,
                     "ProcessCommandLine": p.cmdline, "ProcessCreationTime": _iso(p.start),
                     "AccountDomain": "corp", "AccountName": p.user, **_initiating(p.parent)})
    for f in FILES:
        rows.append({"Timestamp": _iso(f.at), "ActionType": "FileCreated",
                     "FileName": f.path.rsplit("\\", 1)[-1], "FolderPath": f.path,
                     **_initiating(f.by)})
    for c in CONNECTS:
        rows.append({"Timestamp": _iso(c.at), "ActionType": "ConnectionSuccess", "RemoteIP": c.raddr,
                     "RemotePort": c.rport, "LocalIP": "10.1.2.42", "LocalPort": c.lport,
                     "Protocol": "Tcp", **_initiating(c.by)})
    for r in REGS:
        rows.append({"Timestamp": _iso(r.at), "ActionType": "RegistryValueSet",
                     "RegistryKey": f"HKEY_CURRENT_USER\\{SID}\\{r.key}",
                     "RegistryValueName": r.value, "RegistryValueData": r.data, **_initiating(r.by)})
    rows.sort(key=lambda r: r["Timestamp"])
    for i, r in enumerate(rows):
        r.update({"DeviceId": "9f3c2a7b5d1e4f60a8b9c0d1e2f3a4b5c6d7e8f9", "DeviceName": HOST,
                  "ReportId": 1000 + i})
    return rows


def write_defender(path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, DEFENDER_COLUMNS)
        w.writeheader()
        for r in defender_rows():
            w.writerow(r)
    return path


# ---------------------------------------------------------------- Sysmon
def _sysmon_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def _sysmon(eid: int, t: datetime, **fields) -> dict:
    return {"SourceName": "Microsoft-Windows-Sysmon", "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Hostname": HOST, "EventID": eid, "UtcTime": _sysmon_time(t),
            "TimeCreated": t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z",
            **fields}


def sysmon_records() -> list[dict]:
    recs = []
    for p in PROCESSES:
        par = p.parent
        recs.append(_sysmon(1, p.start, ProcessGuid=p.guid, ProcessId=str(p.pid), Image=p.image,
                            CommandLine=p.cmdline, User=f"CORP\\{p.user}",
                            Hashes=f"SHA256={p.sha256.upper()}", ParentProcessGuid=par.guid,
                            ParentProcessId=str(par.pid), ParentImage=par.image,
                            ParentCommandLine=par.cmdline))
    for f in FILES:
        recs.append(_sysmon(11, f.at, ProcessGuid=f.by.guid, ProcessId=str(f.by.pid), Image=f.by.image,
                            TargetFilename=f.path, CreationUtcTime=_sysmon_time(f.at),
                            User=f"CORP\\{f.by.user}"))
    for c in CONNECTS:
        recs.append(_sysmon(3, c.at, ProcessGuid=c.by.guid, ProcessId=str(c.by.pid), Image=c.by.image,
                            User=f"CORP\\{c.by.user}", Protocol="tcp", Initiated="true",
                            SourceIp="10.1.2.42", SourcePort=str(c.lport), DestinationIp=c.raddr,
                            DestinationPort=str(c.rport)))
    for r in REGS:
        recs.append(_sysmon(13, r.at, EventType="SetValue", ProcessGuid=r.by.guid,
                            ProcessId=str(r.by.pid), Image=r.by.image,
                            TargetObject=f"HKU\\{SID}\\{r.key}\\{r.value}", Details=r.data))
    recs.sort(key=lambda r: r["UtcTime"])
    for i, r in enumerate(recs, 1):
        r["EventRecordID"] = i
    return recs


def write_sysmon(path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in sysmon_records()), encoding="utf-8")
    return path


# ---------------------------------------------------------------- CrowdStrike FDR
AID = "5b6c7d8e9f00112233445566778899aa"


def _upid(p: Proc) -> str:
    return str(90000000000 + p.pid)


def _cs_path(path: str) -> str:
    return "\\Device\\HarddiskVolume3" + path[2:]


def _ms(t: datetime) -> str:
    return str(int(t.timestamp() * 1000))


def crowdstrike_records() -> list[dict]:
    recs = []
    for p in PROCESSES:
        recs.append({"event_simpleName": "ProcessRollup2", "timestamp": _ms(p.start),
                     "ProcessStartTime": f"{p.start.timestamp():.3f}", "TargetProcessId": _upid(p),
                     "ParentProcessId": _upid(p.parent), "RawProcessId": str(p.pid),
                     "ImageFileName": _cs_path(p.image), "CommandLine": p.cmdline,
                     "ParentBaseFileName": p.parent.name, "UserName": p.user,
                     "SHA256HashData": p.sha256})
    for f in FILES:
        recs.append({"event_simpleName": "NewExecutableWritten" if f.path.endswith(".dll")
                     else "GenericFileWritten", "timestamp": _ms(f.at),
                     "ContextProcessId": _upid(f.by), "TargetFileName": _cs_path(f.path)})
    for c in CONNECTS:
        recs.append({"event_simpleName": "NetworkConnectIP4", "timestamp": _ms(c.at),
                     "ContextProcessId": _upid(c.by), "Protocol": "6", "LocalAddressIP4": "10.1.2.42",
                     "LocalPort": str(c.lport), "RemoteAddressIP4": c.raddr,
                     "RemotePort": str(c.rport), "ConnectionDirection": "0"})
    for r in REGS:
        recs.append({"event_simpleName": "AsepValueUpdate", "timestamp": _ms(r.at),
                     "ContextProcessId": _upid(r.by),
                     "RegObjectName": f"\\REGISTRY\\USER\\{SID}\\{r.key}",
                     "RegValueName": r.value, "RegStringValue": r.data, "RegOperationType": "1"})
    recs.sort(key=lambda r: r["timestamp"])
    for i, r in enumerate(recs, 1):
        r.update({"aid": AID, "cid": "c0ffee", "ComputerName": SHORT, "id": f"ev-{i:03d}",
                  "event_platform": "Win"})
    return recs


def write_crowdstrike(path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in crowdstrike_records()), encoding="utf-8")
    return path


WRITERS = {"defender": ("defender.csv", write_defender), "sysmon": ("sysmon.ndjson", write_sysmon),
           "crowdstrike": ("crowdstrike_fdr.ndjson", write_crowdstrike)}


@dataclass
class Expect:
    """What the scenario holds, for tests that check counts."""
    processes: int = len(PROCESSES)
    files: int = len(FILES)
    connects: int = len(CONNECTS)
    registry: int = len(REGS)
    hosts: list = field(default_factory=lambda: [HOST])
