#!/usr/bin/env python3
"""Generate a large Microsoft Defender for Endpoint Advanced Hunting-shaped CSV export.

    python benchmarks/gen_defender.py OUT.csv [--rows N] [--seed S] [--check]

One file holding a union of DeviceProcessEvents, DeviceFileEvents,
DeviceNetworkEvents, DeviceRegistryEvents and DeviceImageLoadEvents rows over
~3 days and ~200 hosts, with a consistent process lineage (PIDs reused,
parents alive at creation, every acting process started earlier by a
ProcessCreated row or a long-running system process that predates the data).

Everything is vectorized: a per-host process table (numpy arrays; parents are
indices of earlier processes), event rows as indices into it and into pools of
realistic strings; strings are assembled with pyarrow.compute and written in
~200k-row chunks by pyarrow.csv.CSVWriter (RFC 4180 quoting, CRLF records).

Needles for search benchmarks are counted in the written data and printed on
stderr and to OUT.csv.needles.json. Deterministic for a given --seed.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import random
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

HEADER = ("Timestamp,DeviceId,DeviceName,ActionType,FileName,FolderPath,SHA256,MD5,ProcessId,"
          "ProcessCommandLine,ProcessCreationTime,AccountDomain,AccountName,InitiatingProcessFileName,"
          "InitiatingProcessFolderPath,InitiatingProcessId,InitiatingProcessCommandLine,"
          "InitiatingProcessCreationTime,InitiatingProcessAccountName,InitiatingProcessParentId,"
          "InitiatingProcessParentFileName,InitiatingProcessParentCreationTime,RemoteIP,RemotePort,"
          "RemoteUrl,LocalIP,LocalPort,Protocol,RegistryKey,RegistryValueName,RegistryValueData,"
          "PreviousFileName,PreviousFolderPath,ReportId").split(",")
INT_COLUMNS = {"ProcessId", "InitiatingProcessId", "InitiatingProcessParentId", "RemotePort",
               "LocalPort", "ReportId"}

DATA_START = np.datetime64("2024-11-04T00:00:00", "s").astype(np.int64)  # epoch seconds, a Monday
DAYS = 3
TICK = 10_000_000            # 100 ns ticks per second (7 fractional digits)
N_HOSTS = 200
CHUNK = 200_000

NEEDLE_CMD = "xQz7NeedlE_hunt.dll"
NEEDLE_CMD_ROWS = 7
NEEDLE_REG = "ZqR9RegOnly_persist"
NEEDLE_REG_ROWS = 5
NEEDLE_CASE = ["ÉvilCorp", "évilcorp", "ÉVILCORP"]   # one row each
NEWLINE_EVERY = 50_000

# ------------------------------------------------------------------ event mix
# (ActionType, table, share of rows)
ACTIONS = [
    ("ProcessCreated", "proc", 0.12),
    ("FileCreated", "file", 0.15), ("FileModified", "file", 0.12),
    ("FileDeleted", "file", 0.05), ("FileRenamed", "file", 0.03),
    ("ConnectionSuccess", "net", 0.14), ("ConnectionFailed", "net", 0.03),
    ("InboundConnectionAccepted", "net", 0.03),
    ("RegistryValueSet", "reg", 0.12), ("RegistryKeyCreated", "reg", 0.04),
    ("RegistryValueDeleted", "reg", 0.02),
    ("ImageLoaded", "dll", 0.15),
]

# ------------------------------------------------------------------ users
FIRST = ["james", "mary", "robert", "patricia", "john", "jennifer", "michael", "linda", "david",
         "elizabeth", "william", "barbara", "richard", "susan", "joseph", "jessica", "thomas",
         "sarah", "chris", "karen", "daniel", "lisa", "matthew", "nancy", "anthony", "betty",
         "mark", "sandra", "paul", "ashley", "steven", "kimberly", "andrew", "emily", "kenji",
         "yuki", "amelie", "lukas", "sofia", "mateo", "aisha", "omar", "priya", "arjun", "li",
         "wei", "olga", "ivan", "fatima", "noah"]
LAST = ["smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "martin",
        "lopez", "wilson", "anderson", "thomas", "taylor", "moore", "jackson", "lee", "perez",
        "white", "harris", "clark", "lewis", "walker", "hall", "young", "king", "wright", "scott",
        "tanaka", "suzuki", "muller", "schmidt", "dubois", "rossi", "kowalski", "novak", "khan",
        "patel", "singh", "chen", "wang", "ivanova", "silva", "santos", "okafor", "nguyen"]
SID_PREFIX = "S-1-5-21-3623811015-3361044348-30300820-"

# ------------------------------------------------------------------ images
# name, folder (may hold {U}), account (S system, L local service, N network service,
# U user, I inherit), spawner, fallback parent root, child weight, command-line templates.
# Templates: {U} user name, {R} decimal token, {H} hex token, {G} GUID-ish token.
W = r"C:\Windows" + "\\"
S32 = W + "System32\\"
PF = "C:\\Program Files\\"
PF86 = "C:\\Program Files (x86)\\"
UL = "C:\\Users\\{U}\\AppData\\Local\\"
UR = "C:\\Users\\{U}\\AppData\\Roaming\\"
OFF = PF + "Microsoft Office\\root\\Office16\\"
CHR = PF + "Google\\Chrome\\Application\\"
EDG = PF86 + "Microsoft\\Edge\\Application\\"
DEF = "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24090.11-0\\"
SENSE = PF + "Windows Defender Advanced Threat Protection\\"
PSH = S32 + "WindowsPowerShell\\v1.0\\"

_CHROME_FLAGS = ("--lang=en-US --device-scale-factor=1 --num-raster-threads=4 "
                 "--enable-main-frame-before-activation --renderer-client-id={R} "
                 "--time-ticks-at-unix-epoch=-1730{R} --launch-time-ticks={R} "
                 "--field-trial-handle=2236,i,{R},{H},262144 "
                 "--variations-seed-version=20241029-180050.637000 --mojo-platform-channel-handle={R} "
                 "/prefetch:1")

IMAGES: list[tuple] = [
    # roots / session
    ("System", "", "S", 1, "V", 0, ["System"]),
    ("Registry", "", "S", 0, "V", 0, ["Registry"]),
    ("smss.exe", S32, "S", 1, "V", 0, [r"\SystemRoot\System32\smss.exe"]),
    ("csrss.exe", S32, "S", 0, "V", 0, [r"%SystemRoot%\system32\csrss.exe ObjectDirectory=\Windows SharedSection=1024,20480,768 Windows=On SubSystemType=Windows ServerDll=basesrv,1 ServerDll=winsrv:UserServerDllInitialization,3 ServerDll=sxssrv,4 ProfileControl=Off MaxRequestThreads=16"]),
    ("wininit.exe", S32, "S", 1, "V", 0, ["wininit.exe"]),
    ("winlogon.exe", S32, "S", 1, "V", 0, ["winlogon.exe"]),
    ("services.exe", S32, "S", 1, "V", 0, [r"C:\Windows\system32\services.exe"]),
    ("lsass.exe", S32, "S", 0, "V", 0, [r"C:\Windows\system32\lsass.exe"]),
    ("svchost.exe", S32, "S", 1, "V", 1, [
        r"C:\Windows\system32\svchost.exe -k DcomLaunch -p",
        r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule",
        r"C:\Windows\System32\svchost.exe -k NetworkService -p -s Dnscache",
        r"C:\Windows\system32\svchost.exe -k LocalServiceNetworkRestricted -p -s EventLog",
        r"C:\Windows\system32\svchost.exe -k LocalSystemNetworkRestricted -p -s SysMain",
        r"C:\Windows\system32\svchost.exe -k netsvcs -p -s BITS",
        r"C:\Windows\system32\svchost.exe -k wsappx -p -s ClipSVC",
        r"C:\Windows\System32\svchost.exe -k utcsvc -p",
        r"C:\Windows\system32\svchost.exe -k UnistackSvcGroup -s CDPUserSvc_{H}",
        r"C:\Windows\system32\svchost.exe -k netsvcs -p -s wuauserv",
        r"C:\Windows\System32\svchost.exe -k LocalServiceNoNetworkFirewall -p"]),
    ("spoolsv.exe", S32, "S", 1, "V", 0, [r"C:\Windows\System32\spoolsv.exe"]),
    ("MsMpEng.exe", DEF, "S", 1, "V", 0, ['"' + DEF + 'MsMpEng.exe"']),
    ("MsSense.exe", SENSE, "S", 1, "V", 0, ['"MsSense.exe"']),
    ("SearchIndexer.exe", S32, "S", 1, "V", 0, [r"C:\Windows\system32\SearchIndexer.exe /Embedding"]),
    ("explorer.exe", W, "U", 1, "E", 1, [r"C:\Windows\Explorer.EXE", r"C:\Windows\explorer.exe /factory,{75dff2b7-6936-4c06-a8bb-676a7b00b24b} -Embedding"]),
    ("userinit.exe", S32, "U", 1, "E", 0, [r"C:\Windows\system32\userinit.exe"]),
    ("sihost.exe", S32, "U", 1, "H", 2, ["sihost.exe"]),
    # children
    ("conhost.exe", S32, "I", 0, "E", 60, [r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1", r"\??\C:\Windows\system32\conhost.exe 0x4", "conhost.exe"]),
    ("cmd.exe", S32, "I", 1, "E", 30, [
        r'"C:\Windows\system32\cmd.exe" /c "C:\Users\{U}\AppData\Local\Temp\{H}.bat"',
        r'C:\Windows\system32\cmd.exe /d /s /c "git rev-parse --abbrev-ref HEAD"',
        r'cmd.exe /c echo {R} > \\.\pipe\{H}',
        r'"cmd.exe" /c ipconfig /all && whoami /groups && net user {U} /domain',
        r'C:\Windows\system32\cmd.exe /c ""C:\Program Files\Git\cmd\git.exe" fetch --all --prune"',
        r'"C:\Windows\System32\cmd.exe" /c copy /Y "\\fs01.corp.example\deploy\agent\cfg_{R}.xml" "C:\ProgramData\Agent\config.xml"',
        r'cmd /c "reg query HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall /s | findstr /i "DisplayName""',
        r'C:\Windows\system32\cmd.exe /c schtasks /query /fo csv /v > C:\Users\{U}\AppData\Local\Temp\t{R}.csv']),
    ("powershell.exe", PSH, "I", 1, "E", 22, "POWERSHELL"),
    ("pwsh.exe", PF + "PowerShell\\7\\", "I", 1, "E", 2, [
        r'"C:\Program Files\PowerShell\7\pwsh.exe" -NoLogo -NoProfile -Command "Get-ChildItem -Path C:\Users\{U}\source -Recurse -Filter *.cs | Measure-Object"',
        r'"C:\Program Files\PowerShell\7\pwsh.exe" -WorkingDirectory ~ -Command "& {{ Invoke-Pester -Path ./tests -Output Detailed }}" -JobId {R}']),
    ("rundll32.exe", S32, "I", 1, "E", 6, [
        r'"C:\Windows\system32\rundll32.exe" C:\Windows\system32\shell32.dll,SHCreateLocalServerRunDll {9aa46009-3ce0-458a-a354-715610a075e6} -Embedding',
        r'C:\Windows\system32\rundll32.exe C:\Windows\System32\shell32.dll,Control_RunDLL C:\Windows\System32\desk.cpl,,0',
        r'"C:\Windows\System32\rundll32.exe" C:\Windows\System32\LogiLDA.dll,LogiFetch',
        r'rundll32.exe "C:\Windows\system32\printui.dll",PrintUIEntryDPIAware /il /Gw /n"\\print01.corp.example\Floor{R}-Color"',
        r'C:\Windows\system32\rundll32.exe C:\Windows\system32\inetcpl.cpl,ClearMyTracksByProcess Flags:{R} WinX:0 WinY:0 IEFrame:0000000000000000']),
    ("regsvr32.exe", S32, "I", 1, "E", 1, [r'"C:\Windows\System32\regsvr32.exe" /s "C:\Program Files\Common Files\microsoft shared\ink\tipband.dll"', r"regsvr32 /s /n /i:{H} scrobj.dll"]),
    ("taskhostw.exe", S32, "I", 1, "T", 8, ["taskhostw.exe", "taskhostw.exe KEYROAMING", "taskhostw.exe Install $(Arg0)", "taskhostw.exe SYSTEM", "taskhostw.exe -RegisterDevice -ProtectionStateChanged -FreeNetworkOnly"]),
    ("dllhost.exe", S32, "I", 1, "H", 12, [r"C:\Windows\system32\DllHost.exe /Processid:{AB8902B4-09CA-4BB6-B78D-A8F59079A8D5}", r"C:\Windows\system32\DllHost.exe /Processid:{3EB3C877-1F16-487C-9050-104DBCD66683}", r"C:\Windows\system32\DllHost.exe /Processid:{973D20D7-562D-44B9-B70B-5A0F49CCDF3F}"]),
    ("WmiPrvSE.exe", S32 + "wbem\\", "N", 1, "H", 10, [r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding", r"C:\Windows\system32\wbem\wmiprvse.exe -Embedding"]),
    ("SearchProtocolHost.exe", S32, "S", 0, "X", 14, [r'"C:\Windows\system32\SearchProtocolHost.exe" Global\UsGthrFltPipeMssGthrPipe{R}_ Global\UsGthrCtrlFltPipeMssGthrPipe{R} 1 -2147483646 "Software\Microsoft\Windows Search" "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT; MS Search 4.0 Robot)" "C:\ProgramData\Microsoft\Search\Data\Temp\usgthrsvc" "DownLevelDaemon" ']),
    ("SearchFilterHost.exe", S32, "S", 0, "X", 14, [r'"C:\Windows\system32\SearchFilterHost.exe" 0 824 828 836 8192 832 {R} ']),
    ("backgroundTaskHost.exe", S32, "I", 0, "H", 10, [r'"C:\Windows\system32\backgroundTaskHost.exe" -ServerName:BackgroundTaskHost.WebAccountProvider', r'"C:\Windows\system32\BackgroundTaskHost.exe" -ServerName:App.AppXmtcan0h2tfbfy7k9kn8hbxb6dmzz1zh0.mca']),
    ("RuntimeBroker.exe", S32, "I", 0, "H", 10, [r"C:\Windows\System32\RuntimeBroker.exe -Embedding"]),
    ("smartscreen.exe", S32, "I", 0, "H", 3, [r"C:\Windows\System32\smartscreen.exe -Embedding"]),
    ("ctfmon.exe", S32, "I", 0, "E", 1, ['"ctfmon.exe"']),
    ("WerFault.exe", S32, "I", 0, "E", 2, [r"C:\Windows\system32\WerFault.exe -u -p {R} -s {R}", r"C:\Windows\system32\WerFault.exe -pss -s {R} -p {R} -ip {R}"]),
    ("wermgr.exe", S32, "S", 0, "T", 1, [r'"C:\Windows\system32\wermgr.exe" -upload', r'"C:\Windows\system32\wermgr.exe" -outofband -queuereporting']),
    ("schtasks.exe", S32, "I", 0, "E", 2, [r'schtasks.exe /create /tn "\Microsoft\Office\OfficeTelemetry_{H}" /tr "C:\Program Files\Microsoft Office\root\Office16\msoia.exe scan upload" /sc daily /st 09:{R}', r'"schtasks.exe" /query /tn "GoogleUpdateTaskMachineUA{H}"']),
    ("sc.exe", S32, "I", 0, "E", 1, [r'sc.exe query "WinDefend"', r'"C:\Windows\system32\sc.exe" config "wuauserv" start= demand', r"sc qc Spooler"]),
    ("net.exe", S32, "I", 1, "E", 2, [r"net use \\fs01.corp.example\home$\{U} /persistent:no", r'"net.exe" localgroup administrators', r"net user {U} /domain", r'net.exe group "Domain Admins" /domain']),
    ("net1.exe", S32, "I", 0, "E", 1, [r"C:\Windows\system32\net1 use \\fs01.corp.example\home$\{U} /persistent:no", r"C:\Windows\system32\net1 user {U} /domain"]),
    ("whoami.exe", S32, "I", 0, "E", 1, ['"C:\\Windows\\system32\\whoami.exe" /all', "whoami /groups", "whoami"]),
    ("ipconfig.exe", S32, "I", 0, "E", 1, ["ipconfig /all", '"C:\\Windows\\system32\\ipconfig.exe" /flushdns', "ipconfig /renew"]),
    ("ping.exe", S32, "I", 0, "E", 1, ["ping -n 1 dc01.corp.example", "ping 10.20.{R}.1 -n 4", "PING.EXE -4 -n 2 fs01"]),
    ("tasklist.exe", S32, "I", 0, "E", 1, ['tasklist /v /fo csv', 'tasklist /FI "IMAGENAME eq chrome.exe" /NH']),
    ("taskkill.exe", S32, "I", 0, "E", 1, [r'taskkill /F /IM "Teams.exe" /T', "taskkill /PID {R} /F"]),
    ("reg.exe", S32, "I", 0, "E", 2, [r'reg.exe query "HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion" /v ProductName', r'REG ADD "HKCU\Software\Microsoft\Windows\CurrentVersion\Explorer\Advanced" /v HideFileExt /t REG_DWORD /d 0 /f', r'reg export HKLM\SOFTWARE\Policies C:\Users\{U}\AppData\Local\Temp\pol_{R}.reg /y']),
    ("certutil.exe", S32, "I", 0, "E", 1, [r'certutil.exe -urlcache -split -f "http://pki.corp.example/crl/CorpIssuingCA{R}.crl" C:\Windows\Temp\ca.crl', r"certutil -hashfile C:\Users\{U}\Downloads\setup_{R}.exe SHA256", "certutil -store -user My"]),
    ("bitsadmin.exe", S32, "I", 0, "E", 1, [r"bitsadmin /transfer job{R} /download /priority normal https://dl.corp.example/tools/pkg_{H}.msi C:\Windows\Temp\pkg.msi"]),
    ("mshta.exe", S32, "I", 1, "E", 1, [r'"C:\Windows\System32\mshta.exe" "C:\Users\{U}\AppData\Local\Temp\info_{H}.hta" {1E460BD7-F1C3-4B2E-88BF-4E770A288AF5}{1E460BD7-F1C3-4B2E-88BF-4E770A288AF5}']),
    ("wscript.exe", S32, "I", 1, "E", 1, [r'"C:\Windows\System32\WScript.exe" "\\dc01.corp.example\NETLOGON\logon_{R}.vbs"', r'"C:\Windows\System32\WScript.exe" "C:\Users\{U}\Downloads\Invoice_{R}.js"']),
    ("cscript.exe", S32, "I", 1, "E", 1, [r'cscript.exe //nologo "C:\Program Files\Microsoft Office\root\Office16\OSPP.VBS" /dstatus', r'"C:\Windows\System32\cscript.exe" //B //NoLogo C:\Windows\System32\slmgr.vbs /dli']),
    ("msiexec.exe", S32, "S", 1, "V", 3, [r"C:\Windows\system32\msiexec.exe /V", r"C:\Windows\System32\MsiExec.exe -Embedding {H}{H} C", r'"C:\Windows\System32\msiexec.exe" /i "C:\Users\{U}\Downloads\ZoomInstallerFull_{R}.msi" /qn']),
    ("notepad.exe", S32, "I", 0, "E", 2, [r'"C:\Windows\system32\NOTEPAD.EXE" C:\Users\{U}\Documents\notes_{R}.txt', r'"C:\Windows\System32\notepad.exe" "C:\Users\{U}\Desktop\todo, week {R}.txt"', "notepad.exe"]),
    ("mmc.exe", S32, "I", 1, "E", 1, [r'"C:\Windows\system32\mmc.exe" "C:\Windows\system32\eventvwr.msc" /s', r'"C:\Windows\system32\mmc.exe" "C:\Windows\system32\compmgmt.msc" /s']),
    ("gpupdate.exe", S32, "I", 0, "T", 1, ["gpupdate.exe /force", "gpupdate /target:computer /wait:{R}"]),
    ("nslookup.exe", S32, "I", 0, "E", 1, ["nslookup dc01.corp.example", "nslookup -type=SRV _ldap._tcp.corp.example"]),
    ("netsh.exe", S32, "I", 0, "E", 1, ["netsh wlan show interfaces", 'netsh advfirewall firewall add rule name="Allow {R}" dir=in action=allow protocol=TCP localport={R}', "netsh interface ip show config"]),
    ("wevtutil.exe", S32, "I", 0, "E", 1, ['wevtutil qe Security /q:"*[System[(EventID=4624)]]" /c:{R} /f:text', "wevtutil el"]),
    ("vssadmin.exe", S32, "I", 0, "E", 1, ["vssadmin list shadows", "vssadmin.exe list writers"]),
    ("WMIC.exe", S32 + "wbem\\", "I", 0, "E", 1, ['wmic computersystem get name,domain,model /format:csv', 'wmic process where "name=\'chrome.exe\'" get ProcessId,CommandLine /format:list', "wmic os get Caption,Version,BuildNumber"]),
    ("systeminfo.exe", S32, "I", 0, "E", 1, ["systeminfo /fo csv", "systeminfo"]),
    ("findstr.exe", S32, "I", 0, "E", 1, ['findstr /i /c:"error" C:\\ProgramData\\Agent\\logs\\agent_{R}.log', "findstr /s /i password *.config"]),
    ("curl.exe", S32, "I", 0, "E", 1, ['curl.exe -s -o NUL -w "%{http_code}" https://intranet.corp.example/health', 'curl -fsSL https://api.github.com/repos/corp-example/tools/releases/latest -H "Accept: application/json"']),
    ("tar.exe", S32, "I", 0, "E", 1, [r'tar.exe -xf "C:\Users\{U}\Downloads\build_{R}.zip" -C "C:\Users\{U}\source\out"']),
    ("robocopy.exe", S32, "I", 0, "E", 1, [r'robocopy "C:\Users\{U}\Documents" "\\fs01.corp.example\home$\{U}\Documents" /MIR /R:1 /W:1 /LOG+:C:\Users\{U}\AppData\Local\Temp\robo_{R}.log']),
    ("xcopy.exe", S32, "I", 0, "E", 1, [r'xcopy "\\fs01.corp.example\deploy\fonts\*.*" C:\Windows\Fonts /Y /I']),
    ("hostname.exe", S32, "I", 0, "E", 1, ["hostname"]),
    ("quser.exe", S32, "I", 0, "E", 1, ["quser", "quser /server:localhost"]),
    ("consent.exe", S32, "S", 0, "H", 1, ["consent.exe {R} 408 000001D2{H}"]),
    ("audiodg.exe", S32, "L", 0, "H", 1, [r"C:\Windows\system32\AUDIODG.EXE 0x{H}"]),
    ("fontdrvhost.exe", S32, "S", 0, "V", 0, ['"fontdrvhost.exe"']),
    ("dwm.exe", S32, "S", 0, "V", 0, ['"dwm.exe"']),
    ("LogonUI.exe", S32, "S", 0, "V", 1, ['"LogonUI.exe" /flags:0x2 /state0:0xa3b{R} /state1:0x41c64e6d']),
    ("SecurityHealthService.exe", S32, "S", 0, "V", 1, [r"C:\Windows\system32\SecurityHealthService.exe"]),
    ("SgrmBroker.exe", S32, "S", 0, "V", 1, [r"C:\Windows\system32\SgrmBroker.exe"]),
    ("MpCmdRun.exe", DEF, "S", 0, "T", 3, ['"' + DEF + 'MpCmdRun.exe" -wdenable', '"' + DEF + 'MpCmdRun.exe" SignaturesUpdateService -ScheduleJob -UnmanagedUpdate -ScheduleJobMs {R}', '"' + DEF + 'MpCmdRun.exe" -IdleTask -TaskName WdCacheMaintenance']),
    ("NisSrv.exe", DEF, "L", 0, "V", 0, ['"' + DEF + 'NisSrv.exe"']),
    ("SenseIR.exe", SENSE, "S", 1, "M", 1, ['"' + SENSE + 'SenseIR.exe" "OnlineSenseIR" "{G}"']),
    ("SenseCncProxy.exe", SENSE, "S", 0, "M", 2, ['"' + SENSE + 'SenseCncProxy.exe"']),
    ("SenseNdr.exe", SENSE, "S", 0, "M", 1, ['"' + SENSE + 'SenseNdr.exe" "{G}"']),
    ("OneDrive.exe", UL + "Microsoft\\OneDrive\\", "U", 1, "E", 1, ['"C:\\Users\\{U}\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe" /background', '"C:\\Users\\{U}\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe" /updateInstalled /background']),
    ("ms-teams.exe", PF + "WindowsApps\\MSTeams_24277.3507.3205.5228_x64__8wekyb3d8bbwe\\", "U", 1, "E", 4, [r'"C:\Program Files\WindowsApps\MSTeams_24277.3507.3205.5228_x64__8wekyb3d8bbwe\ms-teams.exe" msteams:system-initiated', r'"C:\Program Files\WindowsApps\MSTeams_24277.3507.3205.5228_x64__8wekyb3d8bbwe\ms-teams.exe" --type=renderer --webview-exe-name=ms-teams.exe --embedded-browser-webview=1 ' + _CHROME_FLAGS]),
    ("msedgewebview2.exe", PF86 + "Microsoft\\EdgeWebView\\Application\\130.0.2849.68\\", "I", 1, "E", 10, ['"C:\\Program Files (x86)\\Microsoft\\EdgeWebView\\Application\\130.0.2849.68\\msedgewebview2.exe" --type=renderer --noerrdialogs --user-data-dir="C:\\Users\\{U}\\AppData\\Local\\Packages\\MSTeams_8wekyb3d8bbwe\\LocalCache\\Microsoft\\MSTeams\\EBWebView" ' + _CHROME_FLAGS, '"C:\\Program Files (x86)\\Microsoft\\EdgeWebView\\Application\\130.0.2849.68\\msedgewebview2.exe" --type=utility --utility-sub-type=network.mojom.NetworkService --lang=en-US --service-sandbox-type=none --mojo-platform-channel-handle={R} /prefetch:3']),
    ("chrome.exe", CHR, "I", 1, "E", 40, [
        '"' + CHR + 'chrome.exe" ',
        '"' + CHR + 'chrome.exe" --type=renderer --extension-process ' + _CHROME_FLAGS,
        '"' + CHR + 'chrome.exe" --type=renderer ' + _CHROME_FLAGS,
        '"' + CHR + 'chrome.exe" --type=utility --utility-sub-type=network.mojom.NetworkService --lang=en-US --service-sandbox-type=none --field-trial-handle=2236,i,{R},{H},262144 /prefetch:3',
        '"' + CHR + 'chrome.exe" --type=gpu-process --gpu-preferences=UAAAAAAAAADgAAAEAAAAAAAAAAAAAAAAAABgAAEAAAAAAAAAAAAAAAAAAAACAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA --field-trial-handle=2236,i,{R},{H},262144 --mojo-platform-channel-handle={R} /prefetch:2',
        '"' + CHR + 'chrome.exe" --single-argument https://intranet.corp.example/wiki/Page_{R}?view=edit&from=mail,inbox',
        '"' + CHR + 'chrome.exe" --type=crashpad-handler "--user-data-dir=C:\\Users\\{U}\\AppData\\Local\\Google\\Chrome\\User Data" /prefetch:4 --monitor-self-annotation=ptype=crashpad-handler "--database=C:\\Users\\{U}\\AppData\\Local\\Google\\Chrome\\User Data\\Crashpad" --url=https://clients2.google.com/cr/report --annotation=channel= --annotation=plat=Win64 --annotation=prod=Chrome --annotation=ver=130.0.6723.92 --initial-client-data=0x{H},0x{H},0x128,0x12c,0x130,0x7ffc{H}']),
    ("msedge.exe", EDG, "I", 1, "E", 25, [
        '"' + EDG + 'msedge.exe" --type=renderer --disable-gpu-compositing ' + _CHROME_FLAGS,
        '"' + EDG + 'msedge.exe" --type=utility --utility-sub-type=storage.mojom.StorageService --lang=en-US --service-sandbox-type=service --field-trial-handle=2076,i,{R},{H},262144 /prefetch:8',
        '"' + EDG + 'msedge.exe" --profile-directory=Default --no-startup-window --win-session-start /prefetch:5',
        '"' + EDG + 'msedge.exe" --single-argument https://outlook.office.com/mail/inbox/id/AAQkAD{H}{H}%3D',
        '"' + EDG + 'msedge.exe" --type=gpu-process --gpu-preferences=UAAAAAAAAADgAAAEAAAAAAAAAAAAAAAAAABgAAEAAAAAAAAAAAAAAAAAAAACAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA --field-trial-handle=2076,i,{R},{H},262144 --mojo-platform-channel-handle={R} /prefetch:2']),
    ("firefox.exe", PF + "Mozilla Firefox\\", "I", 1, "E", 3, ['"C:\\Program Files\\Mozilla Firefox\\firefox.exe" -contentproc --channel={R} -childID {R} -isForBrowser -prefsHandle {R} -prefMapHandle {R} -prefsLen {R} -prefMapSize 244798 -parentBuildID 20241021104407 -appDir "C:\\Program Files\\Mozilla Firefox\\browser" - {R} tab', '"C:\\Program Files\\Mozilla Firefox\\firefox.exe" -osint -url "https://support.corp.example/ticket/{R}"']),
    ("WINWORD.EXE", OFF, "I", 1, "E", 3, ['"' + OFF + 'WINWORD.EXE" /n "C:\\Users\\{U}\\Documents\\Report Q{R}, final.docx" /o ""', '"' + OFF + 'WINWORD.EXE" /n "C:\\Users\\{U}\\Downloads\\Invoice_{R}.doc"', '"' + OFF + 'WINWORD.EXE" /Automation -Embedding']),
    ("EXCEL.EXE", OFF, "I", 1, "E", 3, ['"' + OFF + 'EXCEL.EXE" "C:\\Users\\{U}\\OneDrive - Corp Example\\Budget {R}.xlsx"', '"' + OFF + 'EXCEL.EXE" /dde', '"' + OFF + 'EXCEL.EXE" /automation -Embedding']),
    ("POWERPNT.EXE", OFF, "I", 1, "E", 1, ['"' + OFF + 'POWERPNT.EXE" "C:\\Users\\{U}\\Documents\\All hands {R}.pptx" /ou ""']),
    ("OUTLOOK.EXE", OFF, "I", 1, "E", 2, ['"' + OFF + 'OUTLOOK.EXE" ', '"' + OFF + 'OUTLOOK.EXE" /recycle', '"' + OFF + 'OUTLOOK.EXE" -Embedding']),
    ("ONENOTE.EXE", OFF, "I", 1, "E", 1, ['"' + OFF + 'ONENOTE.EXE" /tsr', '"' + OFF + 'ONENOTE.EXE" /hyperlink "onenote:https://corp-my.sharepoint.com/personal/{U}_corp_example/Documents/Notebooks/Work#Meeting {R}"']),
    ("OfficeClickToRun.exe", PF + "Common Files\\microsoft shared\\ClickToRun\\", "S", 1, "V", 1, ['"C:\\Program Files\\Common Files\\microsoft shared\\ClickToRun\\OfficeClickToRun.exe" /service', '"C:\\Program Files\\Common Files\\microsoft shared\\ClickToRun\\OfficeClickToRun.exe" deliverymechanism=492350f6-3a01-4f97-b9c0-c7c6ddf67d60 platform=x64 culture=en-us productstoadd=O365ProPlusRetail.16_en-us_x-none updatepromptuser=True displaylevel=False']),
    ("Code.exe", UL + "Programs\\Microsoft VS Code\\", "I", 1, "E", 6, ['"C:\\Users\\{U}\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe" --type=utility --utility-sub-type=node.mojom.NodeService --lang=en-US --service-sandbox-type=none --dns-result-order=ipv4first --inspect-port=0 --user-data-dir="C:\\Users\\{U}\\AppData\\Roaming\\Code" --standard-schemes=vscode-webview,vscode-file --secure-schemes=vscode-webview,vscode-file --cors-schemes=vscode-webview,vscode-file --fetch-schemes=vscode-webview,vscode-file --service-worker-schemes=vscode-webview --code-cache-schemes=vscode-webview,vscode-file --field-trial-handle=1892,i,{R},{H},262144 --disable-features=CalculateNativeWinOcclusion,SpareRendererForSitePerProcess --mojo-platform-channel-handle={R} /prefetch:3', '"C:\\Users\\{U}\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe" "C:\\Users\\{U}\\source\\repos\\service-{R}"']),
    ("git.exe", PF + "Git\\cmd\\", "I", 1, "E", 8, ['"C:\\Program Files\\Git\\cmd\\git.exe" -c core.quotepath=false -c color.ui=false fetch origin --prune --recurse-submodules=on-demand', '"C:\\Program Files\\Git\\cmd\\git.exe" status -z -uall', '"C:\\Program Files\\Git\\cmd\\git.exe" rev-parse --show-toplevel', 'git.exe log --format="%H,%an,%s" -n {R} -- "src/app/module_{H}.py"', '"C:\\Program Files\\Git\\cmd\\git.exe" for-each-ref --sort -committerdate --format %(refname) %(objectname) %(*objectname)']),
    ("python.exe", UL + "Programs\\Python\\Python312\\", "I", 1, "E", 4, ['"C:\\Users\\{U}\\AppData\\Local\\Programs\\Python\\Python312\\python.exe" -m pytest -q tests/test_{H}.py', '"C:\\Users\\{U}\\AppData\\Local\\Programs\\Python\\Python312\\python.exe" c:\\Users\\{U}\\.vscode\\extensions\\ms-python.python-2024.18.0-win32-x64\\python_files\\get_output_via_markers.py c:/Users/{U}/.vscode/extensions/ms-python.python-2024.18.0-win32-x64/python_files/printEnvVariables.py', 'python.exe -c "import json,sys; print(json.load(open(sys.argv[1]))[\'version\'])" package_{R}.json']),
    ("java.exe", PF + "Eclipse Adoptium\\jdk-17.0.12.7-hotspot\\bin\\", "I", 1, "E", 1, "JAVA"),
    ("javaw.exe", PF + "Eclipse Adoptium\\jdk-17.0.12.7-hotspot\\bin\\", "I", 1, "E", 1, "JAVA"),
    ("node.exe", PF + "nodejs\\", "I", 1, "E", 3, ['"C:\\Program Files\\nodejs\\node.exe" "C:\\Users\\{U}\\AppData\\Roaming\\npm\\node_modules\\npm\\bin\\npm-cli.js" run build -- --mode=production --env.build={R}', '"C:\\Program Files\\nodejs\\node.exe" C:\\Users\\{U}\\source\\web\\node_modules\\.bin\\..\\vite\\bin\\vite.js --port 51{R}']),
    ("7zG.exe", PF + "7-Zip\\", "I", 0, "E", 1, ['"C:\\Program Files\\7-Zip\\7zG.exe" x -o"C:\\Users\\{U}\\Downloads\\archive_{R}\\" -an -ai#7zMap{R}:40:7zEvent{R}']),
    ("7z.exe", PF + "7-Zip\\", "I", 0, "E", 1, ['"C:\\Program Files\\7-Zip\\7z.exe" a -tzip "C:\\Users\\{U}\\Desktop\\logs_{R}.zip" "C:\\ProgramData\\Agent\\logs\\*"']),
    ("Acrobat.exe", PF + "Adobe\\Acrobat DC\\Acrobat\\", "I", 1, "E", 2, ['"C:\\Program Files\\Adobe\\Acrobat DC\\Acrobat\\Acrobat.exe" "C:\\Users\\{U}\\Downloads\\Statement, {R}.pdf"']),
    ("AcroCEF.exe", PF + "Adobe\\Acrobat DC\\Acrobat\\acrocef_1\\", "I", 0, "E", 4, ['"C:\\Program Files\\Adobe\\Acrobat DC\\Acrobat\\acrocef_1\\AcroCEF.exe" --type=renderer --log-severity=disable --user-agent-product="ReaderServices/24.3.20180 Chrome/105.0.0.0" --lang=en-US --log-file="C:\\Program Files\\Adobe\\Acrobat DC\\Acrobat\\acrocef_1\\debug.log" --mojo-platform-channel-handle={R} --field-trial-handle=1700,i,{R},{H},131072 /prefetch:1']),
    ("AdobeARM.exe", PF86 + "Common Files\\Adobe\\ARM\\1.0\\", "I", 0, "T", 1, ['"C:\\Program Files (x86)\\Common Files\\Adobe\\ARM\\1.0\\AdobeARM.exe" /PRODUCT:Reader /VERSION:24.0 /MODE:3']),
    ("Zoom.exe", UR + "Zoom\\bin\\", "I", 1, "E", 2, ['"C:\\Users\\{U}\\AppData\\Roaming\\Zoom\\bin\\Zoom.exe" "--url=zoommtg://zoom.us/join?action=join&confno=8{R}&pwd={H}&browser=chrome"']),
    ("slack.exe", UL + "slack\\app-4.41.97\\", "I", 1, "E", 3, ['"C:\\Users\\{U}\\AppData\\Local\\slack\\app-4.41.97\\slack.exe" --type=renderer --user-data-dir="C:\\Users\\{U}\\AppData\\Roaming\\Slack" --standard-schemes=app,slack-webapp-dev --enable-sandbox ' + _CHROME_FLAGS]),
    ("putty.exe", PF + "PuTTY\\", "I", 0, "E", 1, ['"C:\\Program Files\\PuTTY\\putty.exe" -ssh {U}@bastion.corp.example -P 22']),
    ("mstsc.exe", S32, "I", 0, "E", 1, ['"C:\\Windows\\system32\\mstsc.exe" /v:srv-{R}.corp.example', '"C:\\Windows\\system32\\mstsc.exe" "C:\\Users\\{U}\\Documents\\Default.rdp"']),
    ("WindowsTerminal.exe", PF + "WindowsApps\\Microsoft.WindowsTerminal_1.21.2911.0_x64__8wekyb3d8bbwe\\", "I", 1, "E", 1, ['"C:\\Program Files\\WindowsApps\\Microsoft.WindowsTerminal_1.21.2911.0_x64__8wekyb3d8bbwe\\WindowsTerminal.exe" ']),
    ("OpenConsole.exe", PF + "WindowsApps\\Microsoft.WindowsTerminal_1.21.2911.0_x64__8wekyb3d8bbwe\\", "I", 0, "E", 1, ['"C:\\Program Files\\WindowsApps\\Microsoft.WindowsTerminal_1.21.2911.0_x64__8wekyb3d8bbwe\\OpenConsole.exe" --headless --width 120 --height 30 --signal 0x{H} --server 0x{H}']),
    ("MSBuild.exe", PF + "Microsoft Visual Studio\\2022\\Professional\\MSBuild\\Current\\Bin\\amd64\\", "I", 1, "E", 2, ['"C:\\Program Files\\Microsoft Visual Studio\\2022\\Professional\\MSBuild\\Current\\Bin\\amd64\\MSBuild.exe" /nologo /nodemode:1 /nodeReuse:true /low:false', '"C:\\Program Files\\Microsoft Visual Studio\\2022\\Professional\\MSBuild\\Current\\Bin\\amd64\\MSBuild.exe" C:\\Users\\{U}\\source\\repos\\Service{R}\\Service.sln /t:Build /p:Configuration=Release /m /v:m']),
    ("csc.exe", W + "Microsoft.NET\\Framework64\\v4.0.30319\\", "I", 1, "E", 1, ['"C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\csc.exe" /noconfig /fullpaths @"C:\\Users\\{U}\\AppData\\Local\\Temp\\{H}\\{H}.cmdline"']),
    ("cvtres.exe", W + "Microsoft.NET\\Framework64\\v4.0.30319\\", "I", 0, "E", 1, ['C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\cvtres.exe /NOLOGO /READONLY /MACHINE:IX86 "/OUT:C:\\Users\\{U}\\AppData\\Local\\Temp\\RES{H}.tmp" "c:\\Users\\{U}\\AppData\\Local\\Temp\\{H}\\CSC{H}.TMP"']),
    ("TiWorker.exe", W + "WinSxS\\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.22621.4317_none_f0a2ebd7a5a2a4e4\\", "S", 0, "H", 1, [r"C:\Windows\winsxs\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.22621.4317_none_f0a2ebd7a5a2a4e4\TiWorker.exe -Embedding"]),
    ("TrustedInstaller.exe", W + "servicing\\", "S", 1, "V", 1, [r"C:\Windows\servicing\TrustedInstaller.exe"]),
    ("MoUsoCoreWorker.exe", S32, "S", 0, "H", 2, [r"C:\Windows\System32\mousocoreworker.exe -Embedding"]),
    ("UsoClient.exe", S32, "S", 0, "T", 1, ["C:\\Windows\\system32\\usoclient.exe StartScan", "usoclient.exe StartOobeAppsScanAfterUpdate"]),
    ("CompatTelRunner.exe", S32, "S", 1, "T", 1, [r"C:\Windows\system32\compattelrunner.exe -m:appraiser.dll -f:DoScheduledTelemetryRun -cv:{H}.1", r"C:\Windows\system32\compattelrunner.exe -maintenance"]),
    ("DeviceCensus.exe", S32, "S", 0, "T", 1, [r"C:\Windows\system32\devicecensus.exe SystemCxt", r"C:\Windows\system32\devicecensus.exe UserCxt"]),
    ("sdiagnhost.exe", S32, "S", 0, "H", 1, [r"C:\Windows\System32\sdiagnhost.exe -Embedding"]),
    ("ShellExperienceHost.exe", W + "SystemApps\\ShellExperienceHost_cw5n1h2txyewy\\", "U", 0, "H", 1, [r'"C:\Windows\SystemApps\ShellExperienceHost_cw5n1h2txyewy\ShellExperienceHost.exe" -ServerName:App.AppXtk181tbxbce2qsex02s8tw7hfxa9xb3t.mca']),
    ("StartMenuExperienceHost.exe", W + "SystemApps\\Microsoft.Windows.StartMenuExperienceHost_cw5n1h2txyewy\\", "U", 0, "H", 1, [r'"C:\Windows\SystemApps\Microsoft.Windows.StartMenuExperienceHost_cw5n1h2txyewy\StartMenuExperienceHost.exe" -ServerName:App.AppXywbrabmsek0gm3tkwpr5kwzbs55tkqay.mca']),
    ("SearchApp.exe", W + "SystemApps\\Microsoft.Windows.Search_cw5n1h2txyewy\\", "U", 0, "H", 2, [r'"C:\Windows\SystemApps\Microsoft.Windows.Search_cw5n1h2txyewy\SearchApp.exe" -ServerName:CortanaUI.AppX8z9r6jm96hw4bsbneegw0kyxx296wr9t.mca']),
    ("TextInputHost.exe", W + "SystemApps\\MicrosoftWindows.Client.CBS_cw5n1h2txyewy\\", "U", 0, "H", 1, [r'"C:\Windows\SystemApps\MicrosoftWindows.Client.CBS_cw5n1h2txyewy\TextInputHost.exe" -ServerName:InputApp.AppXk0k6mrh4r2q0ct33a9wgbez0x7v9cz5y.mca']),
    ("LockApp.exe", W + "SystemApps\\Microsoft.LockApp_cw5n1h2txyewy\\", "U", 0, "H", 1, [r'"C:\Windows\SystemApps\Microsoft.LockApp_cw5n1h2txyewy\LockApp.exe" -ServerName:WindowsDefaultLockScreen.AppX7y4nbzq37zn4ks9k7amqjywdat7d3j2z.mca']),
    ("SystemSettings.exe", W + "ImmersiveControlPanel\\", "U", 0, "H", 1, [r'"C:\Windows\ImmersiveControlPanel\SystemSettings.exe" -ServerName:microsoft.windows.immersivecontrolpanel']),
    ("ApplicationFrameHost.exe", S32, "U", 0, "H", 1, [r"C:\Windows\system32\ApplicationFrameHost.exe -Embedding"]),
    ("GoogleUpdate.exe", PF86 + "Google\\Update\\", "S", 1, "T", 2, ['"C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe" /ua /installsource scheduler', '"C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe" /svc']),
    ("MicrosoftEdgeUpdate.exe", PF86 + "Microsoft\\EdgeUpdate\\", "S", 1, "T", 2, ['"C:\\Program Files (x86)\\Microsoft\\EdgeUpdate\\MicrosoftEdgeUpdate.exe" /ua /installsource scheduler', '"C:\\Program Files (x86)\\Microsoft\\EdgeUpdate\\MicrosoftEdgeUpdate.exe" /c']),
    ("setup.exe", CHR + "130.0.6723.92\\Installer\\", "S", 0, "T", 1, ['"C:\\Program Files\\Google\\Chrome\\Application\\130.0.6723.92\\Installer\\setup.exe" --delete-old-versions --system-level --verbose-logging']),
    ("VSSVC.exe", S32, "S", 0, "V", 1, [r"C:\Windows\system32\vssvc.exe"]),
    ("WmiApSrv.exe", S32 + "wbem\\", "S", 0, "V", 1, [r"C:\Windows\system32\wbem\WmiApSrv.exe"]),
    ("cleanmgr.exe", S32, "I", 0, "T", 1, [r'"C:\Windows\system32\cleanmgr.exe" /autoclean /d C:']),
    ("defrag.exe", S32, "S", 0, "T", 1, [r"C:\Windows\system32\defrag.exe -p bf8 -s 00000000000003b8 -b -OnlyPreferSSD -Verbose"]),
    ("Dism.exe", S32, "S", 1, "T", 1, ['"C:\\Windows\\System32\\Dism.exe" /Online /Cleanup-Image /StartComponentCleanup /Quiet']),
    ("DismHost.exe", "C:\\Windows\\Temp\\{G}\\", "S", 0, "T", 1, ['C:\\Windows\\TEMP\\{G}\\dismhost.exe {G}']),
    ("sppsvc.exe", S32, "N", 0, "V", 1, [r"C:\Windows\system32\sppsvc.exe"]),
    ("SppExtComObj.Exe", S32, "N", 0, "H", 1, [r"C:\Windows\system32\SppExtComObj.exe -Embedding"]),
    ("unsecapp.exe", S32 + "wbem\\", "I", 0, "H", 1, [r"C:\Windows\system32\wbem\unsecapp.exe -Embedding"]),
    ("ngen.exe", W + "Microsoft.NET\\Framework64\\v4.0.30319\\", "S", 1, "T", 1, [r'"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\ngen.exe" install "System.Windows.Forms, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089" /NoDependencies /noroot /version:v4.0.30319 /LegacyServiceBehavior']),
    ("mscorsvw.exe", W + "Microsoft.NET\\Framework64\\v4.0.30319\\", "S", 0, "T", 1, [r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\mscorsvw.exe -StartupEvent {H} -InterruptEvent 0 -NGENProcess {H} -Pipe {H} -Comment \"NGen Worker Process\""]),
    ("vmtoolsd.exe", PF + "VMware\\VMware Tools\\", "S", 0, "V", 0, ['"C:\\Program Files\\VMware\\VMware Tools\\vmtoolsd.exe"']),
    ("TeamViewer.exe", PF + "TeamViewer\\", "I", 0, "E", 1, ['"C:\\Program Files\\TeamViewer\\TeamViewer.exe" --IPCport 5939 --Module 1']),
    ("AnyDesk.exe", PF86 + "AnyDesk\\", "I", 0, "E", 1, ['"C:\\Program Files (x86)\\AnyDesk\\AnyDesk.exe" --local-control']),
    ("procexp64.exe", "C:\\Users\\{U}\\Downloads\\SysinternalsSuite\\", "I", 0, "E", 1, ['"C:\\Users\\{U}\\Downloads\\SysinternalsSuite\\procexp64.exe" /e']),
    ("Autoruns64.exe", "C:\\Users\\{U}\\Downloads\\SysinternalsSuite\\", "I", 0, "E", 1, ['"C:\\Users\\{U}\\Downloads\\SysinternalsSuite\\Autoruns64.exe" -accepteula']),
    ("notepad++.exe", PF + "Notepad++\\", "I", 0, "E", 1, ['"C:\\Program Files\\Notepad++\\notepad++.exe" "C:\\Users\\{U}\\Desktop\\config, copy ({R}).ini"']),
    ("WinRAR.exe", PF + "WinRAR\\", "I", 0, "E", 1, ['"C:\\Program Files\\WinRAR\\WinRAR.exe" x -iext -ow -ver -imon1 -- "C:\\Users\\{U}\\Downloads\\docs_{R}.rar" "C:\\Users\\{U}\\Downloads\\docs_{R}\\"']),
    ("nvcontainer.exe", PF + "NVIDIA Corporation\\NvContainer\\", "S", 1, "V", 0, ['"C:\\Program Files\\NVIDIA Corporation\\NvContainer\\nvcontainer.exe" -s NvContainerLocalSystem -f "C:\\ProgramData\\NVIDIA\\NvContainerLocalSystem.log" -l 3 -d "C:\\Program Files\\NVIDIA Corporation\\NvContainer\\plugins\\LocalSystem" -r -p 30000 -st "C:\\Program Files\\NVIDIA Corporation\\NvContainer\\NvContainerTelemetryApi.dll"']),
    ("igfxEM.exe", S32 + "DriverStore\\FileRepository\\iigd_dch.inf_amd64_3b7b5b9c0d4c1f2a\\", "U", 0, "E", 0, ['"C:\\Windows\\System32\\DriverStore\\FileRepository\\iigd_dch.inf_amd64_3b7b5b9c0d4c1f2a\\igfxEM.exe"']),
    ("RtkAudUService64.exe", S32 + "DriverStore\\FileRepository\\realtekservice.inf_amd64_9c5f8d6b8a1e2f3d\\", "S", 0, "V", 0, ['"C:\\Windows\\System32\\DriverStore\\FileRepository\\realtekservice.inf_amd64_9c5f8d6b8a1e2f3d\\RtkAudUService64.exe" -background']),
    ("InstallUtil.exe", W + "Microsoft.NET\\Framework64\\v4.0.30319\\", "I", 0, "E", 0, [r'"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\InstallUtil.exe" /u C:\ProgramData\Agent\plugin_{H}.dll']),
    ("msdt.exe", S32, "I", 0, "E", 0, [r'"C:\Windows\system32\msdt.exe" -path C:\Windows\diagnostics\system\networking -skip TRUE -ep NetworkDiagnosticsPNI']),
    ("cmdkey.exe", S32, "I", 0, "E", 1, ["cmdkey /list", r"cmdkey /add:fs01.corp.example /user:CORP\{U} /pass"]),
    ("icacls.exe", S32, "I", 0, "E", 1, [r'icacls "C:\ProgramData\Agent" /grant "CORP\Domain Users":(OI)(CI)RX /T /C /Q']),
    ("attrib.exe", S32, "I", 0, "E", 1, [r'attrib +h +s "C:\Users\{U}\AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Startup\desktop.ini"']),
    ("timeout.exe", S32, "I", 0, "E", 1, ["timeout /t {R} /nobreak"]),
    ("chcp.com", S32, "I", 0, "E", 1, ["chcp 65001", "chcp.com 437"]),
    ("where.exe", S32, "I", 0, "E", 1, ["where python", "where.exe /r C:\\Users\\{U} *.kdbx"]),
    ("fsutil.exe", S32, "I", 0, "E", 1, ["fsutil volume diskfree C:", "fsutil fsinfo drives"]),
    ("bcdedit.exe", S32, "I", 0, "E", 0, ["bcdedit /enum {current}"]),
    ("mountvol.exe", S32, "I", 0, "E", 0, ["mountvol"]),
    ("wsl.exe", S32, "I", 1, "E", 1, ['"C:\\Windows\\System32\\wsl.exe" -d Ubuntu-22.04 -- bash -lc "cd ~/src && make -j4 test TARGET={R}"']),
    ("docker.exe", PF + "Docker\\Docker\\resources\\bin\\", "I", 0, "E", 1, ['"C:\\Program Files\\Docker\\Docker\\resources\\bin\\docker.exe" compose -f C:\\Users\\{U}\\source\\stack\\docker-compose.yml up -d --build']),
    ("Docker Desktop.exe", PF + "Docker\\Docker\\", "I", 1, "E", 1, ['"C:\\Program Files\\Docker\\Docker\\Docker Desktop.exe" --type=renderer --user-data-dir="C:\\Users\\{U}\\AppData\\Roaming\\Docker Desktop" ' + _CHROME_FLAGS]),
    ("Spotify.exe", UR + "Spotify\\", "I", 1, "E", 2, ['"C:\\Users\\{U}\\AppData\\Roaming\\Spotify\\Spotify.exe" --type=renderer --log-severity=disable --user-agent-product="Chrome/129.0.6668.101 Spotify/1.2.50.335" ' + _CHROME_FLAGS]),
    ("KeePass.exe", PF + "KeePass Password Safe 2\\", "I", 0, "E", 1, ['"C:\\Program Files\\KeePass Password Safe 2\\KeePass.exe" "\\\\fs01.corp.example\\home$\\{U}\\vault.kdbx"']),
    ("FileCoAuth.exe", UL + "Microsoft\\OneDrive\\24.201.1006.0005\\", "I", 0, "E", 2, ['"C:\\Users\\{U}\\AppData\\Local\\Microsoft\\OneDrive\\24.201.1006.0005\\FileCoAuth.exe" -Embedding']),
    ("OneDriveStandaloneUpdater.exe", UL + "Microsoft\\OneDrive\\", "I", 0, "T", 1, ['"C:\\Users\\{U}\\AppData\\Local\\Microsoft\\OneDrive\\OneDriveStandaloneUpdater.exe" /reporting']),
    ("SecurityHealthSystray.exe", S32, "U", 0, "E", 0, ['"C:\\Windows\\System32\\SecurityHealthSystray.exe"']),
    ("PhoneExperienceHost.exe", PF + "WindowsApps\\Microsoft.YourPhone_1.24092.211.0_x64__8wekyb3d8bbwe\\", "U", 0, "H", 1, ['"C:\\Program Files\\WindowsApps\\Microsoft.YourPhone_1.24092.211.0_x64__8wekyb3d8bbwe\\PhoneExperienceHost.exe" -ComServer:Background -Embedding']),
    ("CrossDeviceResume.exe", W + "SystemApps\\MicrosoftWindows.Client.CBS_cw5n1h2txyewy\\", "U", 0, "H", 1, ['"C:\\Windows\\SystemApps\\MicrosoftWindows.Client.CBS_cw5n1h2txyewy\\CrossDeviceResume.exe" /tileid MicrosoftWindows.Client.CBS_cw5n1h2txyewy!CrossDeviceResumeApp']),
    ("Widgets.exe", PF + "WindowsApps\\MicrosoftWindows.Client.WebExperience_424.1301.270.9_x64__cw5n1h2txyewy\\Dashboard\\", "U", 0, "H", 1, ['"C:\\Program Files\\WindowsApps\\MicrosoftWindows.Client.WebExperience_424.1301.270.9_x64__cw5n1h2txyewy\\Dashboard\\Widgets.exe" -ServerName:Microsoft.Windows.DashboardServer']),
    ("WidgetService.exe", PF + "WindowsApps\\Microsoft.WidgetsPlatformRuntime_1.6.1.0_x64__8wekyb3d8bbwe\\WidgetService\\", "U", 0, "H", 1, ['"C:\\Program Files\\WindowsApps\\Microsoft.WidgetsPlatformRuntime_1.6.1.0_x64__8wekyb3d8bbwe\\WidgetService\\WidgetService.exe" -Embedding']),
    ("UserOOBEBroker.exe", S32 + "oobe\\", "U", 0, "H", 1, [r"C:\Windows\System32\oobe\UserOOBEBroker.exe -Embedding"]),
    ("DataExchangeHost.exe", S32, "U", 0, "H", 1, [r"C:\Windows\system32\DataExchangeHost.exe -Embedding"]),
    ("MusNotifyIcon.exe", S32, "U", 0, "T", 1, [r"%systemroot%\system32\MusNotifyIcon.exe NotifyTrayIcon {R}"]),
    ("GameBar.exe", PF + "WindowsApps\\Microsoft.XboxGamingOverlay_7.124.10071.0_x64__8wekyb3d8bbwe\\", "U", 0, "H", 0, ['"C:\\Program Files\\WindowsApps\\Microsoft.XboxGamingOverlay_7.124.10071.0_x64__8wekyb3d8bbwe\\GameBar.exe" -ServerName:App.AppXbdkk0yrkwpcgeaem8zk81k8py1eaahny.mca']),
    ("HxTsr.exe", PF + "WindowsApps\\microsoft.windowscommunicationsapps_16005.14326.22102.0_x64__8wekyb3d8bbwe\\", "U", 0, "H", 1, ['"C:\\Program Files\\WindowsApps\\microsoft.windowscommunicationsapps_16005.14326.22102.0_x64__8wekyb3d8bbwe\\HxTsr.exe" -ServerName:Hx.IPC.Server']),
    ("splwow64.exe", W, "I", 0, "E", 1, [r"C:\Windows\splwow64.exe 8192"]),
    ("PrintIsolationHost.exe", S32, "S", 0, "V", 1, [r"C:\Windows\System32\PrintIsolationHost.exe -Embedding"]),
    ("lpremove.exe", S32, "S", 0, "T", 1, [r"C:\Windows\system32\lpremove.exe"]),
    ("wsqmcons.exe", S32, "S", 0, "T", 1, [r"C:\Windows\System32\wsqmcons.exe"]),
    ("CompPkgSrv.exe", S32, "I", 0, "H", 1, [r"C:\Windows\System32\CompPkgSrv.exe -Embedding"]),
    ("Microsoft.SharePoint.exe", UL + "Microsoft\\OneDrive\\24.201.1006.0005\\", "I", 0, "E", 1, ['"C:\\Users\\{U}\\AppData\\Local\\Microsoft\\OneDrive\\24.201.1006.0005\\Microsoft.SharePoint.exe" /silentConfig']),
    ("wuauclt.exe", S32, "S", 0, "T", 1, ['"C:\\Windows\\system32\\wuauclt.exe" /RunHandlerComServer']),
]

# Roots started before the data: (image name, template index, parent root or None, external parent)
ROOTS = [
    ("System", 0, None, ("", 0)),
    ("Registry", 0, 0, None),
    ("smss.exe", 0, 0, None),
    ("csrss.exe", 0, None, ("smss.exe", 1)),
    ("wininit.exe", 0, None, ("smss.exe", 1)),
    ("winlogon.exe", 0, None, ("smss.exe", 2)),
    ("services.exe", 0, 4, None),
    ("lsass.exe", 0, 4, None),
    ("svchost.exe", 0, 6, None),    # 8  DcomLaunch
    ("svchost.exe", 1, 6, None),    # 9  Schedule
    ("svchost.exe", 2, 6, None),    # 10 Dnscache
    ("svchost.exe", 3, 6, None),    # 11 EventLog
    ("spoolsv.exe", 0, 6, None),
    ("MsMpEng.exe", 0, 6, None),    # 13
    ("MsSense.exe", 0, 6, None),    # 14
    ("SearchIndexer.exe", 0, 6, None),  # 15
    ("explorer.exe", 0, None, ("userinit.exe", 3)),   # 16
    ("sihost.exe", 0, 8, None),
    ("OneDrive.exe", 0, 16, None),
    ("svchost.exe", 4, 6, None),    # 19 SysMain
    ("nvcontainer.exe", 0, 6, None),
    ("SecurityHealthSystray.exe", 0, 16, None),
    ("igfxEM.exe", 0, 16, None),
    ("dwm.exe", 0, 5, None),
]
ROOT_FOR_CAT = {"E": 16, "V": 6, "H": 8, "T": 9, "M": 14, "X": 15}
# fallback acting root per table: (root indices, weights)
ACT_ROOTS = {
    "file": ([16, 13, 0, 9, 15, 18, 19], [30, 25, 15, 10, 8, 8, 4]),
    "net": ([10, 14, 8, 9, 18, 0, 13], [25, 25, 15, 10, 10, 10, 5]),
    "reg": ([8, 9, 16, 6, 13, 11, 14], [25, 20, 20, 10, 10, 10, 5]),
    "dll": ([16, 8, 9, 13, 14, 17], [25, 20, 20, 15, 10, 10]),
}

DLLS = [(n, S32) for n in (
    "ntdll.dll", "kernel32.dll", "KernelBase.dll", "user32.dll", "gdi32.dll", "win32u.dll", "advapi32.dll",
    "msvcrt.dll", "sechost.dll", "rpcrt4.dll", "combase.dll", "ole32.dll", "oleaut32.dll", "shell32.dll",
    "shlwapi.dll", "ws2_32.dll", "crypt32.dll", "bcrypt.dll", "bcryptprimitives.dll", "ucrtbase.dll",
    "msvcp_win.dll", "imm32.dll", "uxtheme.dll", "dwmapi.dll", "wintrust.dll", "winhttp.dll", "wininet.dll",
    "dnsapi.dll", "iphlpapi.dll", "netapi32.dll", "samcli.dll", "wldap32.dll", "secur32.dll", "sspicli.dll",
    "mswsock.dll", "userenv.dll", "profapi.dll", "powrprof.dll", "cfgmgr32.dll", "setupapi.dll", "version.dll",
    "winmm.dll", "dbghelp.dll", "dbgcore.dll", "amsi.dll", "clbcatq.dll", "propsys.dll", "windows.storage.dll",
    "wldp.dll", "kernel.appcore.dll", "cryptbase.dll", "cryptsp.dll", "rsaenh.dll", "ncrypt.dll", "ntasn1.dll",
    "vaultcli.dll", "taskschd.dll", "wbemcomn.dll", "wbemprox.dll", "fastprox.dll", "wbemsvc.dll",
    "dpapi.dll", "samlib.dll", "msasn1.dll", "wtsapi32.dll", "winsta.dll", "urlmon.dll", "iertutil.dll",
    "srvcli.dll", "netutils.dll", "mpr.dll", "davhlpr.dll", "psapi.dll", "comctl32.dll", "textinputframework.dll",
    "CoreMessaging.dll", "CoreUIComponents.dll", "d3d11.dll", "dxgi.dll", "d2d1.dll", "DWrite.dll",
    "mscoree.dll", "edputil.dll", "MpOav.dll", "vbscript.dll", "jscript9.dll", "scrrun.dll", "wshom.ocx",
    "msxml6.dll", "schannel.dll", "mskeyprotect.dll", "ncryptsslp.dll", "gpapi.dll", "fwpuclnt.dll",
    "rasadhlp.dll", "nlaapi.dll", "winnsi.dll", "dhcpcsvc.dll", "dhcpcsvc6.dll")] + [
    ("clr.dll", W + "Microsoft.NET\\Framework64\\v4.0.30319\\"),
    ("clrjit.dll", W + "Microsoft.NET\\Framework64\\v4.0.30319\\"),
    ("mscorlib.ni.dll", W + "assembly\\NativeImages_v4.0.30319_64\\mscorlib\\a1b2c3d4e5f60718293a4b5c6d7e8f90\\"),
    ("System.Management.Automation.ni.dll", W + "assembly\\NativeImages_v4.0.30319_64\\System.Manaa57fc8cc#\\9f0e1d2c3b4a59687f8e9d0c1b2a3948\\"),
    ("chrome.dll", CHR + "130.0.6723.92\\"), ("chrome_elf.dll", CHR + "130.0.6723.92\\"),
    ("msedge.dll", EDG + "130.0.2849.68\\"), ("mso20win32client.dll", PF + "Common Files\\Microsoft Shared\\Office16\\"),
    ("mso.dll", PF + "Common Files\\Microsoft Shared\\Office16\\"), ("wwlib.dll", OFF), ("VBE7.DLL", PF + "Common Files\\Microsoft Shared\\VBA\\VBA7.1\\"),
    ("MpClient.dll", DEF), ("MpSvc.dll", DEF), ("mpengine.dll", "C:\\ProgramData\\Microsoft\\Windows Defender\\Definition Updates\\{G}\\"),
    ("python312.dll", UL + "Programs\\Python\\Python312\\"), ("libcrypto-3.dll", UL + "Programs\\Python\\Python312\\DLLs\\"),
    ("node.dll", PF + "nodejs\\"), ("ffmpeg.dll", UL + "Programs\\Microsoft VS Code\\"),
    ("tmp{H}.dll", "C:\\Users\\{U}\\AppData\\Local\\Temp\\"), ("jvm.dll", PF + "Eclipse Adoptium\\jdk-17.0.12.7-hotspot\\bin\\server\\"),
]

FILE_DIRS = [
    "C:\\Users\\{U}\\AppData\\Local\\Temp\\", "C:\\Users\\{U}\\Downloads\\", "C:\\Users\\{U}\\Documents\\",
    "C:\\Users\\{U}\\Desktop\\", "C:\\Users\\{U}\\AppData\\Local\\Google\\Chrome\\User Data\\Default\\Cache\\Cache_Data\\",
    "C:\\Users\\{U}\\AppData\\Local\\Microsoft\\Edge\\User Data\\Default\\Code Cache\\js\\",
    "C:\\Users\\{U}\\AppData\\Roaming\\Microsoft\\Windows\\Recent\\", "C:\\Users\\{U}\\OneDrive - Corp Example\\Projects\\Q4, planning\\",
    "C:\\Users\\{U}\\AppData\\Local\\Packages\\MSTeams_8wekyb3d8bbwe\\LocalCache\\Microsoft\\MSTeams\\Logs\\",
    "C:\\Users\\{U}\\source\\repos\\service\\obj\\Release\\net8.0\\", "C:\\Users\\{U}\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\",
    "C:\\Windows\\Temp\\", "C:\\Windows\\Prefetch\\", "C:\\Windows\\SoftwareDistribution\\Download\\{H}\\",
    "C:\\Windows\\System32\\winevt\\Logs\\", "C:\\Windows\\System32\\Tasks\\Microsoft\\Windows\\UpdateOrchestrator\\",
    "C:\\ProgramData\\Microsoft\\Windows Defender\\Scans\\History\\Service\\", "C:\\ProgramData\\Microsoft\\Windows\\WER\\ReportQueue\\AppCrash_{H}\\",
    "C:\\ProgramData\\Agent\\logs\\", "C:\\ProgramData\\Microsoft\\Windows Defender Advanced Threat Protection\\DataCollection\\{H}\\",
    "C:\\Windows\\ServiceProfiles\\LocalService\\AppData\\Local\\lastalive{R}\\", "C:\\$Recycle.Bin\\" + SID_PREFIX + "{R}\\",
]
FILE_DIR_W = [14, 8, 6, 3, 14, 8, 4, 3, 4, 4, 1, 6, 4, 3, 3, 2, 2, 1, 4, 2, 1, 1]
FILE_NAMES = [
    "{H}.tmp", "~DF{H}.TMP", "chrome_url_fetcher_{R}.tmp", "f_{H}", "{H}_0", "data_{R}.json", "MSTeams_{R}.log",
    "Report {R}, draft.docx", "Budget \"final\" v{R}.xlsx", "invoice_{R}.pdf", "setup_{R}.exe", "{H}.pf",
    "CHROME.EXE-{H}.pf", "POWERSHELL.EXE-{H}.pf", "MicrosoftEdgeUpdate.exe", "agent_{R}.log", "Microsoft-Windows-PowerShell%4Operational.evtx",
    "Security.evtx", "Report.wer", "{H}.cab", "AM_Delta_Patch_1.421.{R}.0.exe", "desktop.ini", "~$port {R}.docx",
    "thumbcache_{R}.db", "{H}.lnk", "Meeting notes {R}.txt", "screenshot {R}.png", "build_{R}.zip", "Schedule Scan",
]
FILE_NAME_W = [10, 6, 4, 10, 8, 5, 4, 2, 1, 2, 1, 4, 2, 1, 1, 3, 1, 1, 1, 2, 1, 1, 1, 2, 3, 1, 2, 1, 1]
PREV_NAMES = ["{H}.tmp", "Unconfirmed {R}.crdownload", "~WRL{R}.tmp", "{H}.partial", "New Text Document.txt", "New folder ({R})"]

REG_KEYS = [
    "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run",
    "HKEY_CURRENT_USER\\{S}\\Software\\Microsoft\\Windows\\CurrentVersion\\Run",
    "HKEY_CURRENT_USER\\{S}\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\RecentDocs\\.docx",
    "HKEY_CURRENT_USER\\{S}\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\UserAssist\\{CEBFF5CD-ACE2-4F4F-9178-9926F41749EA}\\Count",
    "HKEY_CURRENT_USER\\{S}\\Software\\Microsoft\\Office\\16.0\\Common\\Internet\\Server Cache\\https://corp-my.sharepoint.com/personal/{R}/",
    "HKEY_CURRENT_USER\\{S}\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\ZoneMap",
    "HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\bam\\State\\UserSettings\\{S}",
    "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows Defender\\Signature Updates",
    "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache\\Tasks\\{G}",
    "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache\\Tree\\Microsoft\\Windows\\UpdateOrchestrator\\Schedule Scan",
    "HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\Tcpip\\Parameters\\Interfaces\\{G}",
    "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WINEVT\\Channels\\Microsoft-Windows-PowerShell/Operational",
    "HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Control\\Session Manager\\AppCompatCache",
    "HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\Exclusions\\Paths",
    "HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\{H}",
    "HKEY_CURRENT_USER\\{S}\\Software\\Classes\\Local Settings\\Software\\Microsoft\\Windows\\Shell\\MuiCache",
    "HKEY_CURRENT_USER\\{S}\\Software\\Google\\Chrome\\PreferenceMACs\\Default\\extensions.settings",
    "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages\\Package_for_RollupFix~31bf3856ad364e35~amd64~~22621.{R}.1.9",
    "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\SystemCertificates\\AuthRoot\\Certificates\\{H}{H}",
    "HKEY_CURRENT_USER\\{S}\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\ComDlg32\\OpenSavePidlMRU\\*",
]
REG_KEY_W = [2, 3, 6, 8, 4, 2, 12, 6, 4, 3, 4, 2, 3, 1, 2, 6, 4, 3, 3, 5]
REG_NAMES = ["OneDrive", "SecurityHealth", "MRUListEx", "{H}", "LastScanRun", "SignatureLocation", "Index",
             "ProxyEnable", "AutoConfigURL", "DhcpIPAddress", "Start", "ImagePath", "Enabled", "Blob", "Type",
             "C:\\Users\\{U}\\AppData\\Local\\Temp\\{H}.exe.FriendlyAppName", "Teams", "Zoom", "Flags", "Security"]
REG_DATA = [
    "\"C:\\Users\\{U}\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe\" /background", "%windir%\\system32\\SecurityHealthSystray.exe",
    "0", "1", "2", "4294967295", "0x{H}", "{H}{H}{H}", "C:\\ProgramData\\Microsoft\\Windows Defender\\Definition Updates\\{G}",
    "10.20.{R}.17", "http://wpad.corp.example/proxy.pac", "\\??\\C:\\Windows\\system32\\drivers\\{H}.sys",
    "\"C:\\Program Files\\Zoom\\bin\\Zoom.exe\" --autostart, minimized", "Setup \"Corp\" Agent, v{R}", "{G}",
    "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -NoProfile -WindowStyle Hidden -Command \"IEX (New-Object Net.WebClient).DownloadString('http://update.corp.example/u{R}.ps1')\"",
    "Microsoft Teams (work or school)", "{R}", "Default", "en-US,de-DE",
]
REG_DATA_W = [3, 2, 20, 15, 4, 2, 8, 12, 3, 3, 1, 1, 1, 1, 6, 1, 1, 10, 2, 1]

DOMAINS = ["www.google.com", "clients2.google.com", "update.googleapis.com", "login.microsoftonline.com",
           "graph.microsoft.com", "outlook.office365.com", "teams.microsoft.com", "corp-my.sharepoint.com",
           "corp.sharepoint.com", "settings-win.data.microsoft.com", "v10.events.data.microsoft.com",
           "winatp-gw-eus.microsoft.com", "us-v20.events.data.microsoft.com", "ctldl.windowsupdate.com",
           "fe2cr.update.microsoft.com", "go.microsoft.com", "www.bing.com", "edge.microsoft.com",
           "api.github.com", "github.com", "objects.githubusercontent.com", "pypi.org", "files.pythonhosted.org",
           "registry.npmjs.org", "zoom.us", "us05web.zoom.us", "slack.com", "wss-primary.slack.com",
           "spclient.wg.spotify.com", "cdn.jsdelivr.net", "fonts.gstatic.com", "ocsp.digicert.com",
           "crl3.digicert.com", "time.windows.com", "intranet.corp.example", "dc01.corp.example",
           "fs01.corp.example", "print01.corp.example", "pki.corp.example", "wpad.corp.example",
           "update.corp.example", "www.youtube.com", "i.ytimg.com", "www.linkedin.com", "static.licdn.com",
           "docs.python.org", "stackoverflow.com", "cdn.sstatic.net", "aws.amazon.com", "s3.amazonaws.com",
           "d1x9k2kq8mlmb.cloudfront.net", "api.segment.io", "browser.events.data.msn.com", "ntp.msn.com",
           "assets.msn.com", "img-s-msn-com.akamaized.net", "arc.msn.com", "ris.api.iris.microsoft.com",
           "self.events.data.microsoft.com", "officeclient.microsoft.com", "nexusrules.officeapps.live.com",
           "ecs.office.com", "mobile.events.data.microsoft.com", "login.live.com", "dns.google",
           "pastebin.com", "transfer.sh", "cdn.discordapp.com", "raw.githubusercontent.com",
           "xn--80ak6aa92e.com", "bdc7-203-0-113-42.ngrok-free.app"]
DOMAIN_W = [30, 15, 10, 25, 20, 25, 20, 15, 10, 15, 20, 25, 15, 8, 8, 5, 10, 8, 6, 6, 4, 3, 3, 3, 4, 3,
            5, 5, 4, 3, 4, 6, 4, 3, 12, 10, 10, 4, 3, 3, 2, 6, 4, 4, 3, 2, 4, 3, 2, 3, 3, 2, 5, 5, 5, 3,
            3, 3, 5, 4, 3, 4, 4, 4, 2, 1, 1, 1, 1, 1, 1]
REMOTE_PORTS = [443, 80, 53, 445, 135, 389, 88, 3389, 8080, 5985, 123, 636, 8443, 1900, 5353, 9354, 4443]
REMOTE_PORT_W = [70, 8, 5, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
INBOUND_PORTS = [445, 3389, 135, 5985, 139, 5357, 49666]


def _split_template(t: str) -> tuple[list[str], list[str]]:
    """'a{U}b{R}c' → (['a','b','c'], ['U','R']). Braces other than {U},{R},{H},{G},{S} stay."""
    lits, slots, cur, i = [], [], [], 0
    while i < len(t):
        if t[i] == "{" and i + 2 < len(t) and t[i + 2] == "}" and t[i + 1] in "URHGS":
            lits.append("".join(cur))
            cur = []
            slots.append(t[i + 1])
            i += 3
        elif t.startswith("{{", i) or t.startswith("}}", i):
            cur.append(t[i])
            i += 2
        else:
            cur.append(t[i])
            i += 1
    lits.append("".join(cur))
    return lits, slots


class Pool:
    """Templates with up to K slots, rendered for many rows at once."""

    def __init__(self, templates: list[str]):
        split = [_split_template(t) for t in templates]
        self.k = max(len(s) for _, s in split)
        self.size = len(templates)
        self.lits = []
        for j in range(self.k + 1):
            self.lits.append(pa.array([l[j] if j < len(l) else "" for l, _ in split], pa.string()))
        self.slots = np.zeros((len(templates), max(self.k, 1)), dtype="U1")
        for i, (_, s) in enumerate(split):
            for j, c in enumerate(s):
                self.slots[i, j] = c
        self.slots[self.slots == ""] = "-"

    def render(self, var: np.ndarray, fills: dict) -> pa.Array:
        """var: template index per row; fills: slot letter → callable(n) or pa.Array (per row)."""
        n = len(var)
        idx = pa.array(var)
        parts = [self.lits[0].take(idx)]
        for j in range(self.k):
            kinds = self.slots[var, j]
            fill = None
            for letter in np.unique(kinds):
                if letter == "-":
                    continue
                f = fills[letter]
                val = f(n) if callable(f) else f
                mask = pa.array(kinds == letter)
                fill = pc.if_else(mask, val, fill if fill is not None else "")
            parts.append(fill if fill is not None else pa.repeat(pa.scalar("", pa.string()), n))
            parts.append(self.lits[j + 1].take(idx))
        return pc.binary_join_element_wise(*parts, "")


_HEX = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2")


def hex_strings(rng: np.random.Generator, n: int, nbytes: int, upper=False) -> pa.Array:
    raw = np.frombuffer(rng.bytes(n * nbytes), dtype=np.uint8).reshape(n, nbytes)
    s = np.frombuffer(_HEX[raw].tobytes(), dtype=f"S{2 * nbytes}")
    arr = pa.array(s).cast(pa.string())
    return pc.utf8_upper(arr) if upper else arr


def guid_strings(rng: np.random.Generator, n: int) -> pa.Array:
    h = hex_strings(rng, n, 16, upper=True)
    p = [pc.utf8_slice_codeunits(h, a, b) for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))]
    return pc.binary_join_element_wise("{", pc.binary_join_element_wise(*p, "-"), "}", "")


def dec_strings(rng: np.random.Generator, n: int, lo=1, hi=99999) -> pa.Array:
    return pc.cast(pa.array(rng.integers(lo, hi, n)), pa.string())


def weighted(rng, n, weights) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return rng.choice(len(w), size=n, p=w / w.sum())


def fmt_ticks(ticks: np.ndarray) -> pa.Array:
    """100 ns ticks since the epoch → 'YYYY-MM-DDTHH:MM:SS.fffffffZ'."""
    ts = pa.array(ticks * 100, pa.int64()).cast(pa.timestamp("ns"))
    s = pc.strftime(ts, format="%Y-%m-%dT%H:%M:%S")   # 9 fractional digits for ns
    return pc.binary_join_element_wise(pc.utf8_slice_codeunits(s, 0, 27), "Z", "")


# ------------------------------------------------------------------ PowerShell / Java pools
def _powershell_templates(r: random.Random) -> list[str]:
    ps = "powershell.exe"
    full = '"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"'
    out = [
        full + ' -NoProfile -ExecutionPolicy Bypass -File "C:\\ProgramData\\Agent\\scripts\\inventory_{R}.ps1"',
        ps + ' -NoLogo -NonInteractive -Command "Get-Process | Where-Object { $_.CPU -gt 100 } | Select-Object Name,Id,CPU | ConvertTo-Csv -NoTypeInformation"',
        full + ' -ExecutionPolicy Restricted -Command Write-Host \'Final result: 1\';',
        ps + ' -nop -w hidden -c "Get-CimInstance Win32_LogicalDisk | ForEach-Object { \\"$($_.DeviceID),$($_.FreeSpace)\\" }"',
        full + ' -NoProfile -NonInteractive -WindowStyle Hidden -Command "& \'C:\\Program Files\\Microsoft Monitoring Agent\\Agent\\Health Service State\\Monitoring Host Temporary Files {R}\\{R}\\CheckCertificates.ps1\' -ThresholdDays 30"',
        full + ' -ExecutionPolicy AllSigned -NoProfile -NonInteractive -Command "& {$OutputEncoding = [Console]::OutputEncoding =[Text.Encoding]::UTF8;$scriptFileStream = [System.IO.File]::Open(\'C:\\ProgramData\\Microsoft\\Windows Defender Advanced Threat Protection\\DataCollection\\{R}\\{G}.ps1\', [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, [System.IO.FileShare]::Read);$calculatedHash = Microsoft.PowerShell.Utility\\Get-FileHash \'C:\\ProgramData\\Microsoft\\Windows Defender Advanced Threat Protection\\DataCollection\\{R}\\{G}.ps1\' -Algorithm SHA256;if (!($calculatedHash.Hash -eq \'{H}{H}{H}{H}{H}{H}{H}{H}\')) { exit 323;}; . \'C:\\ProgramData\\Microsoft\\Windows Defender Advanced Threat Protection\\DataCollection\\{R}\\{G}.ps1\' }"',
        ps + ' -Command "Import-Module ActiveDirectory; Get-ADUser -Filter \\"SamAccountName -like \'{U}*\'\\" -Properties LastLogonDate, PasswordLastSet | Export-Csv C:\\Users\\{U}\\AppData\\Local\\Temp\\ad_{R}.csv"',
        full + ' -NoExit -Command "Set-Location -LiteralPath \'C:\\Users\\{U}\\source\\repos\'"',
    ]
    scripts = []
    verbs = ["Get-ChildItem -Path $env:TEMP -Filter *.tmp | Remove-Item -Force -ErrorAction SilentlyContinue",
             "$s = New-Object System.Net.WebClient; $s.Headers.Add('User-Agent','Mozilla/5.0 (Windows NT 10.0; Win64; x64)')",
             "[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12",
             "$r = Invoke-RestMethod -Uri 'https://intranet.corp.example/api/v2/checkin' -Method Post -Body (@{host=$env:COMPUTERNAME; user=$env:USERNAME} | ConvertTo-Json)",
             "Get-WinEvent -FilterHashtable @{LogName='Security'; Id=4624; StartTime=(Get-Date).AddHours(-1)} | Select-Object -First 50",
             "$k = 'HKCU:\\Software\\Microsoft\\Windows\\CurrentVersion\\Run'; Get-ItemProperty -Path $k",
             "foreach ($f in Get-ChildItem 'C:\\ProgramData\\Agent\\logs') { if ($f.LastWriteTime -lt (Get-Date).AddDays(-7)) { Remove-Item $f.FullName } }",
             "$b = [System.Convert]::FromBase64String($d); $a = [System.Reflection.Assembly]::Load($b)",
             "Start-Sleep -Seconds 30", "Write-Output \"done, exit=$LASTEXITCODE\"",
             "Get-Service | Where-Object {$_.Status -eq 'Running'} | Export-Csv -Path \"$env:TEMP\\svc.csv\" -NoTypeInformation",
             "Add-MpPreference -ExclusionPath 'C:\\ProgramData\\Agent\\cache'",
             "$wc.DownloadFile('https://dl.corp.example/packages/tool.zip', \"$env:TEMP\\tool.zip\")",
             "Expand-Archive -Path \"$env:TEMP\\tool.zip\" -DestinationPath 'C:\\ProgramData\\Agent\\tools' -Force"]
    for i in range(24):
        k = r.choice([1, 1, 2, 2, 3, 4, 6, 9, 14, 20])
        body = ("; ".join(r.choice(verbs) for _ in range(k)))[:1480] + f" # {i}"
        scripts.append(base64.b64encode(body.encode("utf-16-le")).decode())
    enc = []
    for b64 in scripts:
        flags = r.choice(["-NoP -NonI -W Hidden -Exec Bypass -enc", "-nop -w hidden -encodedcommand",
                          "-NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand", "-enc"])
        enc.append(f"{r.choice([ps, full])} {flags} {b64}")
    return out * 8 + enc    # most PowerShell command lines are plain; about 1 in 4 is -enc


def _java_templates(r: random.Random) -> list[str]:
    out = []
    jars = ["commons-lang3-3.14.0", "guava-33.1.0-jre", "jackson-databind-2.17.0", "jackson-core-2.17.0",
            "slf4j-api-2.0.12", "logback-classic-1.5.3", "netty-all-4.1.108.Final", "spring-core-6.1.5",
            "spring-context-6.1.5", "spring-beans-6.1.5", "kotlin-stdlib-1.9.23", "httpclient5-5.3.1",
            "log4j-core-2.23.1", "log4j-api-2.23.1", "protobuf-java-3.25.3", "gson-2.10.1", "okhttp-4.12.0"]
    for i in range(40):
        n = r.choice([3, 8, 20, 40, 60])
        cp = ";".join(f"C:\\Users\\{{U}}\\.m2\\repository\\lib\\{r.choice(jars)}.jar" for _ in range(n))
        out.append('"C:\\Program Files\\Eclipse Adoptium\\jdk-17.0.12.7-hotspot\\bin\\java.exe" '
                   f'-Xmx{r.choice([512, 1024, 2048])}m -Dfile.encoding=UTF-8 -cp "{cp}" com.corp.app.Main{i} --port 80{i:02d}')
    return out


# ------------------------------------------------------------------ generator
class Gen:
    def __init__(self, rows: int, seed: int):
        self.n = rows
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.r = random.Random(seed)
        self.t0 = DATA_START * TICK

    # ---------------------------------------------------------- static pools
    def pools(self):
        rng, r = self.rng, self.r
        self.host_names = pa.array([f"{'srv' if i % 25 == 24 else 'ws'}-{(i * 37 + 11) % 9000 + 10:04d}.corp.example"
                                    for i in range(N_HOSTS)])
        self.device_ids = hex_strings(rng, N_HOSTS, 20)
        users = sorted({f"{f[0]}{l}" if i % 3 else f"{f}.{l}" for i, (f, l) in
                        enumerate((r.choice(FIRST), r.choice(LAST)) for _ in range(400))})
        r.shuffle(users)
        self.users = users[:N_HOSTS]
        self.host_user = pa.array(self.users)
        self.host_sid = pa.array([SID_PREFIX + str(1104 + i * 3) for i in range(N_HOSTS)])
        self.host_ip = pa.array([f"10.{20 + i // 250}.{(i * 7) % 250 + 1}.{(i * 13) % 240 + 10}" for i in range(N_HOSTS)])
        # accounts: 0 system, 1 local service, 2 network service, 3+h user of host h
        self.acct_name = pa.array(["system", "local service", "network service"] + self.users)
        self.acct_dom = pa.array(["nt authority"] * 3 + ["corp"] * N_HOSTS)

        # images
        names, folders, acct, spawn, pcat, weight, var_off, var_cnt, templates = [], [], [], [], [], [], [], [], []
        for name, folder, a, sp, cat, w, tpl in IMAGES:
            if tpl == "POWERSHELL":
                tpl = _powershell_templates(r)
            elif tpl == "JAVA":
                tpl = _java_templates(r)
                if name == "javaw.exe":
                    tpl = [t.replace("java.exe", "javaw.exe") for t in tpl]
            names.append(name)
            folders.append(folder + name if folder else "")
            acct.append(a)
            spawn.append(sp)
            pcat.append(cat)
            weight.append(w)
            var_off.append(len(templates))
            var_cnt.append(len(tpl))
            templates.extend(tpl)
        self.img_name = pa.array(names)
        self.img_index = {n: i for i, n in enumerate(names)}
        self.img_path = Pool(folders)
        self.img_acct = np.array(acct)
        self.img_spawn = np.array(spawn, bool)
        self.img_cat = np.array(pcat)
        self.img_weight = np.array(weight, float)
        self.var_off = np.array(var_off)
        self.var_cnt = np.array(var_cnt)
        self.cmd_pool = Pool(templates)
        # image hashes: 3 versions per image
        self.img_sha = hex_strings(rng, len(names) * 3, 32)
        self.img_md5 = hex_strings(rng, len(names) * 3, 16)
        self.dll_name = Pool([d[0] for d in DLLS])
        self.dll_path = Pool([d[1] + d[0] for d in DLLS])
        self.dll_sha = hex_strings(rng, len(DLLS) * 2, 32)
        self.dll_md5 = hex_strings(rng, len(DLLS) * 2, 16)
        self.file_dir = Pool(FILE_DIRS)
        self.file_name = Pool(FILE_NAMES)
        self.prev_name = Pool(PREV_NAMES)
        self.reg_key = Pool(REG_KEYS)
        self.reg_name = Pool(REG_NAMES)
        self.reg_data = Pool(REG_DATA)
        self.domains = pa.array(DOMAINS)
        self.dom_ip = pa.array([f"{r.choice([13, 20, 40, 52, 104, 142, 151, 172, 185, 192, 203])}.{r.randrange(256)}."
                                f"{r.randrange(256)}.{r.randrange(1, 255)}" for _ in range(len(DOMAINS) * 4)])
        self.internal = {"intranet.corp.example", "dc01.corp.example", "fs01.corp.example",
                         "print01.corp.example", "pki.corp.example", "wpad.corp.example", "update.corp.example"}
        dom_int = np.array([d in self.internal for d in DOMAINS])
        ipl = self.dom_ip.to_pylist()
        for i, d in enumerate(DOMAINS):
            if dom_int[i]:
                for v in range(4):
                    ipl[i * 4 + v] = f"10.1.{i}.{10 + v}"
        self.dom_ip = pa.array(ipl)

    # ---------------------------------------------------------- rows: time, host, action
    def rows(self):
        rng, n = self.rng, self.n
        hours = np.arange(DAYS * 24)
        hod = hours % 24
        w = np.where((hod >= 8) & (hod < 19), 4.0, 1.0) * np.where(hod == 12, 0.7, 1.0)
        w[(hours // 24) == 2] *= 0.9
        h = np.sort(weighted(rng, n, w))
        base = (h * 3600 * TICK + rng.integers(0, 3600 * TICK, n))
        base.sort()
        jitter = rng.normal(0, 0.3 * TICK, n).astype(np.int64)     # roughly increasing
        self.t = self.t0 + np.maximum(base + jitter, 0)
        hw = rng.lognormal(0, 0.8, N_HOSTS)
        self.host = weighted(rng, n, hw).astype(np.int64)
        shares = [a[2] for a in ACTIONS]
        self.act = weighted(rng, n, shares)
        self.table = np.array([a[1] for a in ACTIONS])[self.act]
        self.action_names = pa.array([a[0] for a in ACTIONS])
        # ReportId: per-host counter in file order
        order = np.argsort(self.host, kind="stable")
        hs = self.host[order]
        starts = np.searchsorted(hs, np.arange(N_HOSTS))
        rank = np.empty(n, np.int64)
        rank[order] = np.arange(n) - starts[hs]
        self.report = rank + 1000 + (np.arange(N_HOSTS) * 7919 % 50000)[self.host]

    # ---------------------------------------------------------- the process table
    def processes(self):
        rng = self.rng
        R = len(ROOTS)
        ps_rows = np.flatnonzero(self.table == "proc")
        nc = len(ps_rows)
        # roots: per host
        rh = np.repeat(np.arange(N_HOSTS), R)
        rk = np.tile(np.arange(R), N_HOSTS)
        boot = self.t0 - rng.integers(1 * 86400, 12 * 86400, N_HOSTS) * TICK
        root_off = np.array([0, 2, 3, 8, 9, 12, 15, 16, 20, 21, 22, 23, 25, 26, 28, 40, 95, 97, 110, 30, 27, 112, 111, 96], np.int64)
        rstart = boot[rh] + root_off[rk] * TICK + rng.integers(0, TICK, len(rh))
        rimg = np.array([self.img_index[x[0]] for x in ROOTS])[rk]
        rvar = self.var_off[rimg] + np.array([x[1] for x in ROOTS])[rk]
        # children
        cimg = weighted(rng, nc, self.img_weight)
        cvar = self.var_off[cimg] + (rng.random(nc) * self.var_cnt[cimg]).astype(np.int64)
        chost = self.host[ps_rows]
        cstart = self.t[ps_rows] - rng.integers(0, 500_000, nc)   # created ≤ 50 ms before the event
        # all processes, sorted by (host, start)
        host = np.concatenate([rh, chost])
        start = np.concatenate([rstart, cstart])
        img = np.concatenate([rimg, cimg])
        var = np.concatenate([rvar, cvar])
        is_root = np.concatenate([np.ones(len(rh), bool), np.zeros(nc, bool)])
        rootk = np.concatenate([rk, np.full(nc, -1)])
        row_of = np.concatenate([np.full(len(rh), -1), ps_rows])
        order = np.lexsort((start, host))
        host, start, img, var, is_root, rootk, row_of = (a[order] for a in (host, start, img, var, is_root, rootk, row_of))
        P = len(host)
        hoff = np.searchsorted(host, np.arange(N_HOSTS + 1))
        k = np.arange(P) - hoff[host]            # ordinal within host; roots first (0..R-1)
        inv = np.empty(P, np.int64)
        inv[order] = np.arange(P)
        self.root_idx = inv[:N_HOSTS * R].reshape(N_HOSTS, R)   # [host, root k] → process index
        assert (rootk[self.root_idx] == np.arange(R)[None, :]).all() and (k[self.root_idx] < R).all()

        # PIDs: roots from small distinct values; children cycle through a per-host pool of M pids
        M = 1024
        pid = np.zeros(P, np.int64)
        cand = np.arange(8, 20004, 4)
        pools = np.empty((N_HOSTS, M), np.int64)
        root_pids = np.empty((N_HOSTS, R), np.int64)
        for hh in range(N_HOSTS):
            perm = rng.permutation(cand)
            root_pids[hh] = np.concatenate([[4], np.sort(perm[:R - 1] % 1200 // 4 * 4 + 8)])
            rp = np.unique(root_pids[hh])
            while len(rp) < R:   # rare collision after the modulo: redraw
                perm = rng.permutation(cand)
                root_pids[hh] = np.concatenate([[4], np.sort(perm[:R - 1] % 1200 // 4 * 4 + 8)])
                rp = np.unique(root_pids[hh])
            rest = perm[~np.isin(perm, rp)]
            pools[hh] = rest[:M]
        pid[self.root_idx] = root_pids
        ck = k - R
        child = ~is_root
        pid[child] = pools[host[child], ck[child] % M]
        # lifetimes, capped so a PID is free again before the host reuses it (ordinal + M)
        life = np.where(rng.random(P) < 0.6, 10 ** rng.uniform(-1, 1.8, P),
                        np.where(rng.random(P) < 0.75, 10 ** rng.uniform(1.8, 3.9, P), 10 ** rng.uniform(3.9, 5.5, P)))
        exit_ = start + (life * TICK).astype(np.int64)
        j = np.arange(P) + M
        jh = np.minimum(j, P - 1)
        cap = np.where((j < P) & (host[jh] == host), start[jh] - 1, np.iinfo(np.int64).max)
        exit_ = np.minimum(exit_, cap)
        exit_[is_root] = np.iinfo(np.int64).max
        eligible = np.ones(P, bool)      # may act or be a parent (needle processes may not)

        self.P, self.host_p, self.start, self.img, self.var, self.is_root = P, host, start, img, var, is_root
        self.pid, self.exit, self.eligible, self.hoff, self.k = pid, exit_, eligible, hoff, k
        self.row_of = row_of
        self.proc_of_row = np.full(self.n, -1, np.int64)
        self.proc_of_row[row_of[child]] = np.flatnonzero(child)

        # needle processes: rundll32 with the needle in a command-line token; never act or parent
        self.needle_procs = self._pick_needle_procs(NEEDLE_CMD_ROWS + 1)
        self.eligible[self.needle_procs] = False

        # parents
        parent = np.full(P, -1, np.int64)
        roots_parent = np.array([-1 if x[2] is None else x[2] for x in ROOTS])
        for rkk in range(R):
            if roots_parent[rkk] >= 0:
                parent[self.root_idx[:, rkk]] = self.root_idx[:, roots_parent[rkk]]
        ci = np.flatnonzero(child)
        d = rng.geometric(0.25, len(ci))
        cand_p = ci - d
        ok = (cand_p >= hoff[host[ci]] + R) & (k[ci] - d >= R)
        cand_p = np.where(ok, cand_p, 0)
        ok &= (exit_[cand_p] > start[ci]) & eligible[cand_p] & self.img_spawn[img[cand_p]]
        ok &= rng.random(len(ci)) < 0.55
        cat = self.img_cat[img[ci]]
        fb_k = np.vectorize(ROOT_FOR_CAT.get)(cat)
        parent[ci] = np.where(ok, cand_p, self.root_idx[host[ci], fb_k])
        assert (start[parent[ci]] < start[ci]).all() and (exit_[parent[ci]] > start[ci]).all()
        self.parent = parent

        # accounts: fixed per image, or inherited (pointer jumping up the tree)
        acct = np.full(P, 0, np.int64)
        a = self.img_acct[img]
        acct[a == "L"] = 1
        acct[a == "N"] = 2
        acct[a == "U"] = 3 + host[a == "U"]
        ref = np.where(a == "I", parent, np.arange(P))
        ref[ref < 0] = np.flatnonzero(ref < 0)
        for _ in range(20):
            nxt = ref[ref]
            if (nxt == ref).all():
                break
            ref = nxt
        self.acct = acct[ref]

        # parent fields for InitiatingProcessParent*: pid / image / start of each process's parent
        ext = {x[3][1]: x[3][0] for x in ROOTS if x[3] is not None}
        ppid = np.where(parent >= 0, pid[np.maximum(parent, 0)], 0)
        pimg = np.where(parent >= 0, img[np.maximum(parent, 0)], -1)
        pstart = np.where(parent >= 0, start[np.maximum(parent, 0)], 0)
        for rkk, x in enumerate(ROOTS):
            if x[3] is not None:
                ix = self.root_idx[:, rkk]
                name, slot = x[3]
                if name:
                    ppid[ix] = 300 + 4 * slot + 8 * (self.host_p[ix] % 50)
                    pimg[ix] = self.img_index[name]
                    pstart[ix] = start[ix] - (slot + 1) * TICK // 3
                else:
                    ppid[ix], pimg[ix], pstart[ix] = 0, -1, 0
        del ext
        self.ppid, self.pimg, self.pstart = ppid, pimg, pstart

    def _pick_needle_procs(self, count):
        """Processes that will carry the command-line needle: late on a host, never used again."""
        rng = self.rng
        cand = np.flatnonzero(~self.is_root & (self.img == self.img_index["rundll32.exe"]))
        return np.sort(rng.choice(cand, size=min(count, len(cand)), replace=False))

    # ---------------------------------------------------------- acting processes for other rows
    def actors(self):
        rng = self.rng
        other = np.flatnonzero(self.proc_of_row < 0)
        h = self.host[other]
        t = self.t[other]
        BIG = np.int64(1) << 46
        rel = self.start - (self.t0 - 40 * 86400 * TICK)
        key = self.host_p * BIG + rel
        q = h * BIG + (t - (self.t0 - 40 * 86400 * TICK))
        last = np.searchsorted(key, q, side="left") - 1          # last process started before t
        R = len(ROOTS)
        # two tries: a recent process, then one started up to hours earlier (long-lived ones)
        cand = np.zeros(len(other), np.int64)
        ok = np.zeros(len(other), bool)
        for p in (0.25, 0.01):
            c = last - (rng.geometric(p, len(other)) - 1)
            good = c >= self.hoff[h] + R
            c = np.where(good, c, 0)
            good &= (self.start[c] < t) & (self.exit[c] > t) & self.eligible[c] & ~ok
            cand = np.where(good, c, cand)
            ok |= good
        ok &= rng.random(len(other)) < 0.8
        fb = np.empty(len(other), np.int64)
        tab = self.table[other]
        for name, (ks, ws) in ACT_ROOTS.items():
            m = tab == name
            fb[m] = np.array(ks)[weighted(rng, int(m.sum()), ws)]
        actor = np.where(ok, cand, self.root_idx[h, fb])
        assert (self.start[actor] < t).all() and (self.exit[actor] > t).all()
        self.proc_of_row[other] = actor
        # the row's initiating process: the parent for ProcessCreated, the actor otherwise
        is_ps = self.table == "proc"
        self.init = np.where(is_ps, self.parent[np.maximum(self.proc_of_row, 0)], self.proc_of_row)

    # ---------------------------------------------------------- per-process strings
    def process_strings(self):
        rng = self.rng
        P = self.P
        user = self.host_user.take(pa.array(self.host_p))
        fills = {"U": user, "R": lambda n: dec_strings(rng, n), "H": lambda n: hex_strings(rng, n, 4),
                 "G": lambda n: guid_strings(rng, n), "S": self.host_sid.take(pa.array(self.host_p))}
        cmd = self.cmd_pool.render(self.var, fills)
        # needles: the token inside a longer command-line argument
        nd = self.needle_procs
        nd_user = [self.users[h] for h in self.host_p[nd]]
        texts = [f'"C:\\Windows\\system32\\rundll32.exe" C:\\Users\\{u}\\AppData\\Local\\Temp\\'
                 f'~upd{i:03d}_{NEEDLE_CMD},DllRegisterServer /s' for i, u in enumerate(nd_user)]
        self.needle_cmd_procs = nd[:NEEDLE_CMD_ROWS]
        # the extra one carries one of the case-folding needles
        texts[-1] = (f'"C:\\Windows\\system32\\rundll32.exe" "\\\\fs01.corp.example\\share\\{NEEDLE_CASE[2]}\\'
                     f'agent.dll",Start')
        mask = np.zeros(P, bool)
        mask[nd] = True
        cmd = pc.replace_with_mask(cmd, pa.array(mask), pa.array(texts))
        # a few multi-line command lines (a PowerShell script pasted on the command line)
        ml = np.flatnonzero(~self.is_root & self.eligible & (self.img == self.img_index["powershell.exe"]))
        ml = np.sort(rng.choice(ml, size=max(1, self.n // (NEWLINE_EVERY * 8)), replace=False))
        m2 = np.zeros(P, bool)
        m2[ml] = True
        ml_txt = pa.array([f'powershell.exe -NoProfile -Command "$ErrorActionPreference = \'Stop\'\r\n'
                           f'Get-ChildItem C:\\ProgramData\\Agent\\drop{i} | Remove-Item\r\nexit 0"' for i in range(len(ml))])
        cmd = pc.replace_with_mask(cmd, pa.array(m2), ml_txt)
        self.p_cmd = cmd
        self.p_name = self.img_name.take(pa.array(self.img))
        self.p_path = self.img_path.render(self.img, fills)
        self.p_start = fmt_ticks(self.start)
        self.p_acct = self.acct_name.take(pa.array(self.acct))
        self.p_dom = self.acct_dom.take(pa.array(self.acct))
        ver = (self.host_p % 3)
        self.p_sha = self.img_sha.take(pa.array(self.img * 3 + ver))
        self.p_md5 = self.img_md5.take(pa.array(self.img * 3 + ver))
        self.p_pname = pa.concat_arrays([self.img_name, pa.array([""])]).take(
            pa.array(np.where(self.pimg >= 0, self.pimg, len(IMAGES))))
        self.p_pname = pc.if_else(pa.array(self.pimg >= 0), self.p_pname, pa.nulls(P, pa.string()))
        self.p_pstart = pc.if_else(pa.array(self.pimg >= 0), fmt_ticks(np.maximum(self.pstart, 0)), pa.nulls(P, pa.string()))
        self.needle_case_proc = nd[-1]

    # ---------------------------------------------------------- row-level choices
    def row_choices(self):
        rng = self.rng
        n = self.n
        tab = self.table
        self.file_rows = np.flatnonzero(tab == "file")
        self.net_rows = np.flatnonzero(tab == "net")
        self.reg_rows = np.flatnonzero(tab == "reg")
        self.dll_rows = np.flatnonzero(tab == "dll")
        nf, nn, nr, nd = len(self.file_rows), len(self.net_rows), len(self.reg_rows), len(self.dll_rows)
        self.f_dir = weighted(rng, nf, FILE_DIR_W)
        self.f_name = weighted(rng, nf, FILE_NAME_W)
        self.f_prev = rng.integers(0, len(PREV_NAMES), nf)
        self.f_hash = rng.random(nf) < 0.8
        dw = 1.0 / (np.arange(len(DLLS)) + 3) ** 0.9
        self.d_idx = weighted(rng, nd, dw)
        self.d_ver = rng.integers(0, 2, nd)
        self.r_key = weighted(rng, nr, REG_KEY_W)
        self.r_name = rng.integers(0, len(REG_NAMES), nr)
        self.r_data = weighted(rng, nr, REG_DATA_W)
        self.n_dom = weighted(rng, nn, DOMAIN_W)
        self.n_has_url = rng.random(nn) < 0.65
        self.n_ipv = rng.integers(0, 4, nn)
        self.n_rport = np.array(REMOTE_PORTS)[weighted(rng, nn, REMOTE_PORT_W)]
        self.n_lport = rng.integers(49152, 65536, nn)
        self.n_in_port = np.array(INBOUND_PORTS)[rng.integers(0, len(INBOUND_PORTS), nn)]
        self.n_rand_ip = rng.integers(0, 2**32, nn, dtype=np.uint64)
        self.n_v6 = rng.random(nn) < 0.04

        # row-level needles and newlines
        act = self.act
        reg_set = np.flatnonzero(self.action_names.to_numpy(zero_copy_only=False)[act] == "RegistryValueSet")
        picks = rng.choice(reg_set, size=NEEDLE_REG_ROWS + 1 + max(1, n // NEWLINE_EVERY), replace=False)
        self.needle_reg_rows = np.sort(picks[:NEEDLE_REG_ROWS])
        self.case_reg_row = picks[NEEDLE_REG_ROWS]
        self.newline_reg_rows = np.sort(picks[NEEDLE_REG_ROWS + 1:])
        fc = np.flatnonzero(self.action_names.to_numpy(zero_copy_only=False)[act] == "FileCreated")
        self.case_file_row = rng.choice(fc)

    # ---------------------------------------------------------- one chunk → Table
    def chunk(self, a: int, b: int) -> pa.Table:
        rng = self.rng
        n = b - a
        host = self.host[a:b]
        tab = self.table[a:b]
        ts = fmt_ticks(self.t[a:b])
        cols: dict[str, pa.Array] = {}
        cols["Timestamp"] = ts
        hidx = pa.array(host)
        cols["DeviceId"] = self.device_ids.take(hidx)
        cols["DeviceName"] = self.host_names.take(hidx)
        cols["ActionType"] = self.action_names.take(pa.array(self.act[a:b]))
        user_row = self.host_user.take(hidx)

        proc = self.proc_of_row[a:b]
        init = self.init[a:b]
        is_ps = tab == "proc"

        def take(arr, idx, mask):
            return arr.take(pa.array(np.where(mask, idx, 0), mask=~mask))

        # local indices of each table within the chunk
        def local(global_rows):
            lo, hi = np.searchsorted(global_rows, [a, b])
            return global_rows[lo:hi] - a, slice(lo, hi)

        fl, fs = local(self.file_rows)
        nl, ns = local(self.net_rows)
        rl, rs = local(self.reg_rows)
        dl, ds = local(self.dll_rows)

        def scatter(parts, null_default=True):
            """parts: list of (local rows, values array aligned with rows); others null."""
            vals, idx = [], np.full(n, -1, np.int64)
            off = 0
            for lr, v in parts:
                if len(lr) == 0:
                    continue
                idx[lr] = off + np.arange(len(lr))
                vals.append(v)
                off += len(v)
            if not vals:
                return pa.nulls(n, pa.string())
            cat = pa.concat_arrays([v.cast(pa.string()) if v.type != pa.string() else v for v in vals])
            return cat.take(pa.array(np.maximum(idx, 0), mask=idx < 0))

        psl = np.flatnonzero(is_ps)
        pp = proc[psl]
        fu = user_row.take(pa.array(fl))
        fills_f = {"U": fu, "R": lambda k: dec_strings(rng, k), "H": lambda k: hex_strings(rng, k, 4),
                   "G": lambda k: guid_strings(rng, k)}
        fdir = self.file_dir.render(self.f_dir[fs], fills_f)
        fname = self.file_name.render(self.f_name[fs], fills_f)
        fpath = pc.binary_join_element_wise(fdir, fname, "")
        fsha = hex_strings(rng, len(fl), 32)
        fmd5 = hex_strings(rng, len(fl), 16)
        fh = pa.array(self.f_hash[fs])
        fsha = pc.if_else(fh, fsha, pa.nulls(len(fl), pa.string()))
        fmd5 = pc.if_else(fh, fmd5, pa.nulls(len(fl), pa.string()))
        du = user_row.take(pa.array(dl))
        fills_d = {"U": du, "R": lambda k: dec_strings(rng, k), "H": lambda k: hex_strings(rng, k, 4),
                   "G": lambda k: guid_strings(rng, k)}
        dname = self.dll_name.render(self.d_idx[ds], fills_d)
        dpath = self.dll_path.render(self.d_idx[ds], fills_d)
        dsha = self.dll_sha.take(pa.array(self.d_idx[ds] * 2 + self.d_ver[ds]))
        dmd5 = self.dll_md5.take(pa.array(self.d_idx[ds] * 2 + self.d_ver[ds]))

        # case-folding needle in a file name
        if a <= self.case_file_row < b:
            j = int(np.searchsorted(fl, self.case_file_row - a))
            u = self.users[host[self.case_file_row - a]]
            nm = f"Facture_{NEEDLE_CASE[0]}_2024-11.pdf"
            m = np.zeros(len(fl), bool)
            m[j] = True
            fname = pc.replace_with_mask(fname, pa.array(m), pa.array([nm]))
            fpath = pc.replace_with_mask(fpath, pa.array(m), pa.array([f"C:\\Users\\{u}\\Downloads\\{nm}"]))

        cols["FileName"] = scatter([(psl, self.p_name.take(pa.array(pp))), (fl, fname), (dl, dname)])
        cols["FolderPath"] = scatter([(psl, self.p_path.take(pa.array(pp))), (fl, fpath), (dl, dpath)])
        cols["SHA256"] = scatter([(psl, self.p_sha.take(pa.array(pp))), (fl, fsha), (dl, dsha)])
        cols["MD5"] = scatter([(psl, self.p_md5.take(pa.array(pp))), (fl, fmd5), (dl, dmd5)])
        cols["ProcessId"] = take(pa.array(self.pid), proc, is_ps)
        cols["ProcessCommandLine"] = take(self.p_cmd, proc, is_ps)
        cols["ProcessCreationTime"] = take(self.p_start, proc, is_ps)
        cols["AccountDomain"] = take(self.p_dom, proc, is_ps)
        cols["AccountName"] = take(self.p_acct, proc, is_ps)
        ii = pa.array(init)
        cols["InitiatingProcessFileName"] = self.p_name.take(ii)
        cols["InitiatingProcessFolderPath"] = self.p_path.take(ii)
        cols["InitiatingProcessId"] = pa.array(self.pid[init])
        cols["InitiatingProcessCommandLine"] = self.p_cmd.take(ii)
        cols["InitiatingProcessCreationTime"] = self.p_start.take(ii)
        cols["InitiatingProcessAccountName"] = self.p_acct.take(ii)
        cols["InitiatingProcessParentId"] = pa.array(self.ppid[init], mask=self.pimg[init] < 0)
        cols["InitiatingProcessParentFileName"] = self.p_pname.take(ii)
        cols["InitiatingProcessParentCreationTime"] = self.p_pstart.take(ii)

        # network
        nn = len(nl)
        act = self.act[a:b]
        inbound = pa.array(self.action_names.to_numpy(zero_copy_only=False)[act[nl]] == "InboundConnectionAccepted")
        has_url = self.n_has_url[ns] & ~inbound.to_numpy(zero_copy_only=False)
        dom = self.n_dom[ns]
        url = self.domains.take(pa.array(dom))
        url = pc.if_else(pa.array(has_url), url, pa.nulls(nn, pa.string()))
        rip_dom = self.dom_ip.take(pa.array(dom * 4 + self.n_ipv[ns]))
        ri = self.n_rand_ip[ns]
        rip_rand = pc.binary_join_element_wise(
            pc.cast(pa.array((ri >> 24) % 223 + 1), pa.string()), pc.cast(pa.array((ri >> 16) & 255), pa.string()),
            pc.cast(pa.array((ri >> 8) & 255), pa.string()), pc.cast(pa.array(ri % 254 + 1), pa.string()), ".")
        rip_in = pc.binary_join_element_wise("10.20.", pc.cast(pa.array((ri >> 8) % 250 + 1), pa.string()), ".",
                                             pc.cast(pa.array(ri % 250 + 2), pa.string()), "")
        rip = pc.if_else(pa.array(has_url), rip_dom, rip_rand)
        rip = pc.if_else(inbound, rip_in, rip)
        v6 = pa.array(self.n_v6[ns])
        rip = pc.if_else(v6, pc.binary_join_element_wise("::ffff:", rip, ""), rip)
        lip = self.host_ip.take(pa.array(host[nl]))
        lip = pc.if_else(v6, pc.binary_join_element_wise("::ffff:", lip, ""), lip)
        inb = inbound.to_numpy(zero_copy_only=False)
        rport = np.where(inb, self.n_lport[ns], self.n_rport[ns])
        lport = np.where(inb, self.n_in_port[ns], self.n_lport[ns])
        proto = np.where(np.isin(rport, [53, 123, 1900, 5353]) & ~inb, "Udp", "Tcp")

        def iscatter(lr, vals):
            out = np.zeros(n, np.int64)
            m = np.zeros(n, bool)
            out[lr] = vals
            m[lr] = True
            return pa.array(out, mask=~m)

        cols["RemoteIP"] = scatter([(nl, rip)])
        cols["RemotePort"] = iscatter(nl, rport)
        cols["RemoteUrl"] = scatter([(nl, url)])
        cols["LocalIP"] = scatter([(nl, lip)])
        cols["LocalPort"] = iscatter(nl, lport)
        cols["Protocol"] = scatter([(nl, pa.array(proto))])

        # registry
        nr = len(rl)
        ru = user_row.take(pa.array(rl))
        fills_r = {"U": ru, "S": self.host_sid.take(pa.array(host[rl])), "R": lambda k: dec_strings(rng, k),
                   "H": lambda k: hex_strings(rng, k, 4), "G": lambda k: guid_strings(rng, k)}
        rkey = self.reg_key.render(self.r_key[rs], fills_r)
        rname = self.reg_name.render(self.r_name[rs], fills_r)
        rdata = self.reg_data.render(self.r_data[rs], fills_r)
        ran = self.action_names.to_numpy(zero_copy_only=False)[act[rl]]
        created = pa.array(ran == "RegistryKeyCreated")
        deleted = pa.array(ran == "RegistryValueDeleted")
        rname = pc.if_else(created, pa.nulls(nr, pa.string()), rname)
        rdata = pc.if_else(pc.or_(created, deleted), pa.nulls(nr, pa.string()), rdata)
        # row-level overrides: registry needle, case needle, multi-line values
        over = {}
        for gi in self.needle_reg_rows[(self.needle_reg_rows >= a) & (self.needle_reg_rows < b)]:
            u = self.users[self.host[gi]]
            over[gi] = f'"C:\\Users\\{u}\\AppData\\Roaming\\Microsoft\\Crypto\\{NEEDLE_REG}.exe" --silent, --tray'
        if a <= self.case_reg_row < b:
            over[self.case_reg_row] = f"{NEEDLE_CASE[1]} updater service"
        for gi in self.newline_reg_rows[(self.newline_reg_rows >= a) & (self.newline_reg_rows < b)]:
            over[gi] = 'line one of a note\r\nline "two", with a comma\nline three'
        if over:
            m = np.zeros(nr, bool)
            pos = np.searchsorted(rl, np.array(sorted(over)) - a)
            m[pos] = True
            rdata = pc.replace_with_mask(rdata, pa.array(m), pa.array([over[g] for g in sorted(over)]))
        cols["RegistryKey"] = scatter([(rl, rkey)])
        cols["RegistryValueName"] = scatter([(rl, rname)])
        cols["RegistryValueData"] = scatter([(rl, rdata)])

        # renames
        fan = self.action_names.to_numpy(zero_copy_only=False)[act[fl]]
        ren = fan == "FileRenamed"
        pn = self.prev_name.render(self.f_prev[fs], fills_f)
        ppath = pc.binary_join_element_wise(fdir, pn, "")
        rm = pa.array(ren)
        cols["PreviousFileName"] = scatter([(fl, pc.if_else(rm, pn, pa.nulls(len(fl), pa.string())))])
        cols["PreviousFolderPath"] = scatter([(fl, pc.if_else(rm, ppath, pa.nulls(len(fl), pa.string())))])
        cols["ReportId"] = pa.array(self.report[a:b])
        return pa.table([cols[c] for c in HEADER], names=HEADER)

    # ---------------------------------------------------------- write
    def write(self, path: str, log=print):
        t0 = time.perf_counter()
        self.pools()
        self.rows()
        self.processes()
        self.actors()
        self.process_strings()
        self.row_choices()
        log(f"gen: model ready in {time.perf_counter() - t0:.1f}s "
            f"({self.P:,} processes, {int((self.table == 'proc').sum()):,} process starts)")
        counts = {"cmd": 0, "reg": 0, "case_ci": 0, "newline_rows": 0}
        counts.update({v: 0 for v in NEEDLE_CASE})
        where = {"cmd": set(), "reg": set()}
        tmp = path + ".tmp"
        schema = None
        with open(tmp, "wb") as fh:
            fh.write((",".join(HEADER) + "\r\n").encode())
            writer = None
            for a in range(0, self.n, CHUNK):
                b = min(self.n, a + CHUNK)
                t = self.chunk(a, b)
                if writer is None:
                    schema = t.schema
                    writer = pcsv.CSVWriter(fh, schema, write_options=pcsv.WriteOptions(
                        include_header=False, eol="\r\n", batch_size=4096))
                self._count(t, counts, where)
                writer.write_table(t)
            writer.close()
        os.replace(tmp, path)
        size = os.path.getsize(path)
        log(f"gen: wrote {self.n:,} records, {size / 1e9:.3f} GB to {path} in {time.perf_counter() - t0:.1f}s")
        ps = int((self.table == "proc").sum())
        needles = {
            "file": os.path.abspath(path), "rows": self.n, "bytes": size, "seed": self.seed,
            "process_starts": ps, "hosts": N_HOSTS,
            "time_range": [fmt_ticks(np.array([self.t.min()]))[0].as_py(), fmt_ticks(np.array([self.t.max()]))[0].as_py()],
            "needles": {
                "cmdline": {"string": NEEDLE_CMD, "rows": counts["cmd"], "columns": sorted(where["cmd"]),
                            "note": "inside a longer command-line token (…\\~updNNN_xQz7NeedlE_hunt.dll,DllRegisterServer)"},
                "registry_only": {"string": NEEDLE_REG, "rows": counts["reg"], "columns": sorted(where["reg"])},
                "case_folding": {"strings": {v: counts[v] for v in NEEDLE_CASE},
                                 "rows_case_insensitive": counts["case_ci"],
                                 "note": "same word with accents and mixed case; 'evilcorp' without the accent matches none"},
            },
            "newline_rows": counts["newline_rows"],
        }
        with open(path + ".needles.json", "w", encoding="utf-8") as fh:
            json.dump(needles, fh, indent=1, ensure_ascii=False)
        log(f"gen: needle {NEEDLE_CMD!r}: {counts['cmd']} rows ({', '.join(sorted(where['cmd']))})")
        log(f"gen: needle {NEEDLE_REG!r}: {counts['reg']} rows ({', '.join(sorted(where['reg']))})")
        log("gen: needle case-folding: " + ", ".join(f"{v!r}: {counts[v]}" for v in NEEDLE_CASE)
            + f"; case-insensitive 'évilcorp': {counts['case_ci']} rows")
        log(f"gen: rows with an embedded newline: {counts['newline_rows']}")
        return needles

    def _count(self, t: pa.Table, counts, where):
        string_cols = [c for c in t.column_names if t.schema.field(c).type == pa.string()]

        def rows_with(s, ignore_case=False, bucket=None):
            hit = None
            for c in string_cols:
                m = pc.fill_null(pc.match_substring(t[c], s, ignore_case=ignore_case), False)
                if bucket is not None and pc.any(m).as_py():
                    bucket.add(c)
                hit = m if hit is None else pc.or_(hit, m)
            return int(pc.sum(hit).as_py() or 0)

        counts["cmd"] += rows_with(NEEDLE_CMD, bucket=where["cmd"])
        counts["reg"] += rows_with(NEEDLE_REG, bucket=where["reg"])
        for v in NEEDLE_CASE:
            counts[v] += rows_with(v)
        counts["case_ci"] += rows_with("évilcorp", ignore_case=True)
        hit = None
        for c in string_cols:
            m = pc.fill_null(pc.or_(pc.match_substring(t[c], "\n"), pc.match_substring(t[c], "\r")), False)
            hit = m if hit is None else pc.or_(hit, m)
        counts["newline_rows"] += int(pc.sum(hit).as_py() or 0)


def check_file(path: str, needles: dict | None, log=print) -> None:
    """Re-read the whole file with Python's csv module: RFC 4180 records, 34 fields each."""
    import csv
    csv.field_size_limit(1 << 30)
    t0 = time.perf_counter()
    n = bad = nl = 0
    hits = {NEEDLE_CMD: 0, NEEDLE_REG: 0}
    with open(path, encoding="utf-8", newline="") as fh:
        rd = csv.reader(fh)
        header = next(rd)
        assert header == HEADER, header
        for row in rd:
            n += 1
            if len(row) != len(HEADER):
                bad += 1
            line = ",".join(row)
            if "\n" in line or "\r" in line:
                nl += 1
            for k in hits:
                if k in line:
                    hits[k] += 1
    log(f"check: {n:,} records, {bad} with a wrong field count, {nl} with embedded newlines, "
        f"needles {hits} ({time.perf_counter() - t0:.1f}s)")
    if needles:
        assert n == needles["rows"], (n, needles["rows"])
        assert hits[NEEDLE_CMD] == needles["needles"]["cmdline"]["rows"]
        assert hits[NEEDLE_REG] == needles["needles"]["registry_only"]["rows"]
    assert bad == 0


def check_lineage(path: str, log=print) -> dict:
    """Lineage and key invariants, checked with DuckDB over the written file (times compared
    as text: the fixed-width ISO format sorts chronologically)."""
    import duckdb
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{path}', all_varchar=true, header=true)")
    start = np.datetime_as_string(np.datetime64(int(DATA_START), "s")) + ".0000000Z"
    q = {
        "rows": "SELECT count(*) FROM t",
        "dup_report_ids": "SELECT count(*) FROM (SELECT DeviceName, ReportId FROM t GROUP BY ALL HAVING count(*) > 1)",
        "dup_process_keys": "SELECT count(*) FROM (SELECT DeviceName, ProcessId, ProcessCreationTime FROM t "
                            "WHERE ActionType = 'ProcessCreated' GROUP BY ALL HAVING count(*) > 1)",
        "pids_reused": "SELECT count(*) FROM (SELECT DeviceName, ProcessId FROM t WHERE ActionType = 'ProcessCreated' "
                       "GROUP BY ALL HAVING count(*) > 1)",
        # every initiating process was created by an earlier ProcessCreated row, or predates the data
        "unknown_initiating": f"""SELECT count(*) FROM t r WHERE r.InitiatingProcessCreationTime >= '{start}' AND NOT EXISTS (
            SELECT 1 FROM t p WHERE p.ActionType = 'ProcessCreated' AND p.DeviceName = r.DeviceName
              AND p.ProcessId = r.InitiatingProcessId AND p.ProcessCreationTime = r.InitiatingProcessCreationTime
              AND p.ProcessCreationTime < r.Timestamp)""",
        # PID reuse: no other process got the same PID between the initiating process's creation and the row
        "pid_reused_while_alive": """SELECT count(*) FROM t r JOIN t p ON p.ActionType = 'ProcessCreated'
            AND p.DeviceName = r.DeviceName AND p.ProcessId = r.InitiatingProcessId
            WHERE p.ProcessCreationTime > r.InitiatingProcessCreationTime AND p.ProcessCreationTime <= r.Timestamp""",
        # the parent fields of a row agree with the initiating process's own ProcessCreated row
        "parent_mismatch": """SELECT count(*) FROM t r JOIN t p ON p.ActionType = 'ProcessCreated'
            AND p.DeviceName = r.DeviceName AND p.ProcessId = r.InitiatingProcessId
            AND p.ProcessCreationTime = r.InitiatingProcessCreationTime
            WHERE p.InitiatingProcessId IS DISTINCT FROM r.InitiatingProcessParentId
               OR p.InitiatingProcessFileName IS DISTINCT FROM r.InitiatingProcessParentFileName
               OR p.InitiatingProcessCreationTime IS DISTINCT FROM r.InitiatingProcessParentCreationTime
               OR p.FileName IS DISTINCT FROM r.InitiatingProcessFileName
               OR p.ProcessCommandLine IS DISTINCT FROM r.InitiatingProcessCommandLine""",
        "parent_not_before_child": """SELECT count(*) FROM t WHERE ActionType = 'ProcessCreated'
            AND NOT (InitiatingProcessCreationTime < ProcessCreationTime AND ProcessCreationTime <= Timestamp)""",
        "child_share_of_initiating": """SELECT round(avg(CASE WHEN InitiatingProcessCreationTime >= '%s' THEN 1 ELSE 0 END), 3)
            FROM t WHERE ActionType <> 'ProcessCreated'""" % start,
    }
    out = {k: con.execute(v).fetchone()[0] for k, v in q.items()}
    log(f"check: lineage {out} ({time.perf_counter() - t0:.1f}s)")
    bad = [k for k in ("dup_report_ids", "dup_process_keys", "unknown_initiating", "pid_reused_while_alive",
                       "parent_mismatch", "parent_not_before_child") if out[k]]
    assert not bad, bad
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=2_200_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--check", action="store_true", help="re-read the file with Python's csv module and check lineage/key invariants with DuckDB")
    args = ap.parse_args(argv)
    if args.rows < 20_000:
        ap.error("--rows must be at least 20000")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    needles = Gen(args.rows, args.seed).write(args.out, log)
    if args.check:
        check_file(args.out, needles, log)
        check_lineage(args.out, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
