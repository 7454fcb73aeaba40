"""The Defender-schema tables' declarations: names, docs, column lists and Arrow types
(built by edrql/devtables.py, filled by edrql/devderive.py)."""
from __future__ import annotations

from .records import record as dataclass

import pyarrow as pa

from .schema import TS

MDE = "Microsoft Defender for Endpoint"
S, I = pa.string(), pa.int64()

HEAD = ["Timestamp", "DeviceId", "DeviceName", "ActionType"]
FILE = ["FileName", "FolderPath", "SHA1", "SHA256", "MD5", "FileSize"]
PROCESS = ["ProcessId", "ProcessCommandLine", "ProcessCreationTime"]
ACCOUNT = ["AccountDomain", "AccountName", "AccountSid"]
NET = ["RemoteIP", "RemotePort", "RemoteUrl", "LocalIP", "LocalPort", "Protocol"]
REG = ["RegistryKey", "RegistryValueName", "RegistryValueData"]
PREV_REG = ["PreviousRegistryKey", "PreviousRegistryValueName", "PreviousRegistryValueData"]
INIT = ["InitiatingProcessAccountDomain", "InitiatingProcessAccountName",
        "InitiatingProcessAccountSid", "InitiatingProcessSHA1", "InitiatingProcessSHA256",
        "InitiatingProcessMD5", "InitiatingProcessFileName", "InitiatingProcessFolderPath",
        "InitiatingProcessId", "InitiatingProcessCommandLine", "InitiatingProcessCreationTime",
        "InitiatingProcessParentId", "InitiatingProcessParentFileName",
        "InitiatingProcessParentCreationTime"]
TAIL = ["AdditionalFields", "ReportId"]
EXTRAS = ["proc", "parent", "vendor", "source", "record"]

INTS = {"FileSize", "ProcessId", "InitiatingProcessId", "InitiatingProcessParentId",
         "RemotePort", "LocalPort", "ReportId", "record"}
TIMES = {"Timestamp", "ProcessCreationTime", "InitiatingProcessCreationTime",
          "InitiatingProcessParentCreationTime"}


def column_type(name: str) -> pa.DataType:
    return TS if name in TIMES else I if name in INTS else S


@dataclass(frozen=True)
class DevTable:
    doc: str
    hint: str
    columns: list


TABLES: dict[str, DevTable] = {
    "DeviceProcessEvents": DevTable(
        "Defender schema: process creations (ProcessCreated) of every vendor; proc is the "
        "created process", "process starts",
        HEAD + FILE + PROCESS + ACCOUNT + ["LogonId"] + INIT + TAIL + EXTRAS),
    "DeviceFileEvents": DevTable(
        "Defender schema: file creation, modification, deletion and renames of every vendor",
        "file events", HEAD + FILE + ["PreviousFileName", "PreviousFolderPath"] + INIT + TAIL
        + EXTRAS),
    "DeviceNetworkEvents": DevTable(
        "Defender schema: network connections (and Defender's DNS/HTTP inspections) of every "
        "vendor", "connections", HEAD + NET + INIT + TAIL + EXTRAS),
    "DeviceRegistryEvents": DevTable(
        "Defender schema: registry key and value events of every vendor, roots spelled "
        "HKEY_LOCAL_MACHINE\\…", "registry events", HEAD + REG + PREV_REG + INIT + TAIL + EXTRAS),
    "DeviceImageLoadEvents": DevTable(
        "Defender schema: DLL / image loads of every vendor", "image loads",
        HEAD + FILE + INIT + TAIL + EXTRAS),
    "DeviceEvents": DevTable(
        "Defender schema: every other device event (DNS queries, process access, pipes, "
        "process ends, vendor events without a Defender table)", "other events",
        HEAD + FILE + PROCESS + ACCOUNT + NET + REG + INIT + TAIL + EXTRAS),
    "DeviceLogonEvents": DevTable(
        "Defender schema: logons (Security 4624/4625, CrowdStrike UserLogon*, Defender's own)",
        "logons", HEAD + ACCOUNT + ["LogonType", "LogonId", "RemoteDeviceName", "RemoteIP",
                                    "RemotePort"] + INIT + TAIL + EXTRAS),
}
ORDER = list(TABLES)


def schema(name: str) -> pa.Schema:
    return pa.schema([pa.field(c, column_type(c)) for c in TABLES[name].columns])
