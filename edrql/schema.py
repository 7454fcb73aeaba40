"""The normalized events schema: column names and types are a contract.

Every reader/profile produces these columns (missing ones are null); the raw
vendor fields ride beside them as ``raw.<OriginalName>`` string columns.
"""
from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("ns", tz="UTC")
S = pa.string()
I = pa.int64()

#: (name, type, description) — the order is the order of the store's columns.
COLUMNS: list[tuple[str, pa.DataType, str]] = [
    ("ts", TS, "event time, UTC, nanoseconds"),
    ("host", S, "host name as the source names it"),
    ("event", S, "normalized category (see EVENT_TYPES)"),
    ("action", S, "the vendor's own event name or id"),
    ("vendor", S, "source product family"),
    ("source", S, "source file (archive!member for zip members)"),
    ("record", I, "1-based record number in the source"),
    ("pid", I, "acting process id (the new process for process_start)"),
    ("ppid", I, "parent process id of the acting process"),
    ("image", S, "acting process image path"),
    ("name", S, "basename of image"),
    ("cmdline", S, "acting process command line"),
    ("user", S, "acting process user"),
    ("pstart", TS, "acting process start time, when the source gives it"),
    ("puid", S, "vendor process id / GUID of the acting process"),
    ("pimage", S, "parent image (path, or only a name when that is all the source gives)"),
    ("pname", S, "basename of pimage"),
    ("pcmdline", S, "parent command line"),
    ("ppstart", TS, "parent start time"),
    ("ppuid", S, "vendor process id / GUID of the parent"),
    ("path", S, "file path (file events, image loads)"),
    ("file", S, "basename of path"),
    ("path_old", S, "previous path of a renamed file"),
    ("sha256", S, "SHA-256 of the file (or image for process_start)"),
    ("md5", S, "MD5 of the file (or image for process_start)"),
    ("reg_key", S, "registry key, roots normalized to HKLM\\ HKU\\ HKCU\\ HKCR\\"),
    ("reg_value", S, "registry value name"),
    ("reg_data", S, "registry value data"),
    ("proto", S, "network protocol, lower case (tcp, udp, ...)"),
    ("laddr", S, "local address"),
    ("lport", I, "local port"),
    ("raddr", S, "remote address"),
    ("rport", I, "remote port"),
    ("domain", S, "remote host name"),
    ("url", S, "URL"),
    ("dns_query", S, "DNS question name"),
    ("dns_answer", S, "DNS answer(s) as text"),
    ("http_method", S, "HTTP method"),
    ("http_status", I, "HTTP status code"),
    ("outcome", S, "vendor outcome (e.g. proxy action, connection success/failure)"),
    ("cmdline_decoded", S, "derived: the PowerShell -EncodedCommand/-enc/-e payload of cmdline, decoded (base64 of UTF-16LE)"),
    ("url_decoded", S, "derived: url with %XX escapes decoded, when it has any"),
    ("user_agent", S, "HTTP User-Agent (proxy and network-sensor logs)"),
    ("bytes_in", I, "bytes received by the client (response/download size)"),
    ("bytes_out", I, "bytes sent by the client (request/upload size)"),
]

SCHEMA = pa.schema([pa.field(n, t) for n, t, _ in COLUMNS])
NAMES = [n for n, _, _ in COLUMNS]

EVENT_TYPES = [
    "process_start", "process_end",
    "file_create", "file_modify", "file_delete", "file_rename",
    "registry_set", "registry_create", "registry_delete",
    "network_connect", "network_accept", "dns_query",
    "image_load", "http", "other",
]

RAW_PREFIX = "raw."

QUARANTINE_SCHEMA = pa.schema([
    pa.field("source", S),
    pa.field("record", I),
    pa.field("reader", S),
    pa.field("reason", S),
    pa.field("raw", S),
])
