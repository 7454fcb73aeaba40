"""A tiny Defender Advanced Hunting CSV writer for unit tests (our own fixtures)."""
from __future__ import annotations

import csv
import io

HEADER = ["Timestamp", "DeviceId", "DeviceName", "ActionType", "FileName", "FolderPath",
          "ProcessId", "ProcessCommandLine", "ProcessCreationTime", "InitiatingProcessFileName",
          "InitiatingProcessFolderPath", "InitiatingProcessId", "InitiatingProcessCommandLine",
          "InitiatingProcessCreationTime", "InitiatingProcessParentId",
          "InitiatingProcessParentFileName", "RemoteIP", "RemotePort", "ReportId"]


def row(i: int, **kw) -> dict:
    base = {
        "Timestamp": f"2023-08-10T14:{i // 60 % 60:02d}:{i % 60:02d}.123456{i % 10}Z",
        "DeviceId": "a" * 40, "DeviceName": "pc-01", "ActionType": "ProcessCreated",
        "FileName": "cmd.exe", "FolderPath": r"C:\Windows\System32\cmd.exe",
        "ProcessId": str(1000 + 4 * i), "ProcessCommandLine": f"cmd.exe /c echo {i}",
        "ProcessCreationTime": f"2023-08-10T14:{i // 60 % 60:02d}:{i % 60:02d}.123456{i % 10}Z",
        "InitiatingProcessFileName": "explorer.exe",
        "InitiatingProcessFolderPath": r"C:\Windows\explorer.exe", "InitiatingProcessId": "500",
        "InitiatingProcessCommandLine": "explorer.exe",
        "InitiatingProcessCreationTime": "2023-08-10T08:00:00.0000000Z",
        "InitiatingProcessParentId": "400", "InitiatingProcessParentFileName": "userinit.exe",
        "RemoteIP": "", "RemotePort": "", "ReportId": str(10 + i),
    }
    base.update(kw)
    return base


def write(path, rows: list[dict], header=HEADER, encoding="utf-8", bom=b"") -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\r\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    with open(path, "wb") as fh:
        fh.write(bom + buf.getvalue().encode(encoding))
