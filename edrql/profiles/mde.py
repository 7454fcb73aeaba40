"""Microsoft Defender for Endpoint — Advanced Hunting exports.

Any subset/order of the Device*Events columns, or a union of tables in one file
(CSV), and the same rows as JSON (portal/API JSON, or streaming-API envelopes
whose fields sit under ``properties.``). For ``ProcessCreated`` the new process
is the acting process and ``InitiatingProcess*`` is its parent; for every other
row ``InitiatingProcess*`` is the acting process and ``InitiatingProcessParent*``
its parent.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..normalize import (Ctx, Normalized, basename, blank_to_null, col, envelope_view, join_path, lookup,
                         parse_time, pick, reg_key, to_int)

EVENTS = {
    "ProcessCreated": "process_start",
    "FileCreated": "file_create",
    "FileModified": "file_modify",
    "FileDeleted": "file_delete",
    "FileRenamed": "file_rename",
    "RegistryValueSet": "registry_set",
    "RegistryKeyCreated": "registry_create",
    "RegistryValueDeleted": "registry_delete",
    "RegistryKeyDeleted": "registry_delete",
    "ConnectionSuccess": "network_connect",
    "ConnectionAttempt": "network_connect",
    "ConnectionFailed": "network_connect",
    "ConnectionFound": "network_connect",
    "ConnectionRequest": "network_connect",
    "ConnectionAcknowledged": "network_connect",
    "InboundConnectionAccepted": "network_accept",
    "ListeningConnectionCreated": "network_accept",
    "DnsConnectionInspected": "dns_query",
    "HttpConnectionInspected": "http",
    "ImageLoaded": "image_load",
}

_MARKERS = {"InitiatingProcessFileName", "InitiatingProcessId", "ReportId", "DeviceName", "DeviceId"}


class _MDE:
    name = "mde"
    vendor = "Microsoft Defender for Endpoint"
    dedup_key = ["DeviceName", "Timestamp", "ReportId"]  # documented unique triple

    def detect(self, columns: set[str]) -> int:
        cols = {c.removeprefix("properties.") for c in columns}
        if "ActionType" not in cols or not ({"DeviceName", "DeviceId"} & cols):
            return 0
        return 10 + len(_MARKERS & cols)

    def normalize(self, raw: pa.Table, ctx: Ctx) -> Normalized:
        r = _view(raw)
        n = raw.num_rows
        action = col(r, "ActionType")
        event = lookup(action, EVENTS, "other")
        is_ps = pc.equal(event, "process_start")

        ts, tzd = parse_time(col(r, "Timestamp", "TimeGenerated", "envelope.time"), ctx)

        def user(dom: str, name: str) -> pa.Array:
            d, u = col(r, dom), col(r, name)
            return pc.coalesce(pc.binary_join_element_wise(d, u, "\\"), u)

        init_image = join_path(col(r, "InitiatingProcessFolderPath"), col(r, "InitiatingProcessFileName"))
        new_image = join_path(col(r, "FolderPath"), col(r, "FileName"))
        init_start, _ = parse_time(col(r, "InitiatingProcessCreationTime"), ctx)
        parent_start, _ = parse_time(col(r, "InitiatingProcessParentCreationTime"), ctx)
        new_start, _ = parse_time(col(r, "ProcessCreationTime"), ctx)
        init_pid = to_int(col(r, "InitiatingProcessId"))
        init_user = user("InitiatingProcessAccountDomain", "InitiatingProcessAccountName")

        out = {
            "ts": ts,
            "host": col(r, "DeviceName", "DeviceId"),
            "event": event,
            "action": action,
            "pid": pick(is_ps, to_int(col(r, "ProcessId")), init_pid),
            "ppid": pick(is_ps, init_pid, to_int(col(r, "InitiatingProcessParentId", "CreatedProcessParentId"))),
            "image": pick(is_ps, new_image, init_image),
            "cmdline": pick(is_ps, col(r, "ProcessCommandLine"), col(r, "InitiatingProcessCommandLine")),
            "user": pick(is_ps, user("AccountDomain", "AccountName"), init_user),
            "pstart": pick(is_ps, new_start, init_start),
            "pimage": pick(is_ps, init_image, col(r, "InitiatingProcessParentFileName")),
            "pcmdline": pick(is_ps, col(r, "InitiatingProcessCommandLine"), pa.nulls(n, pa.string())),
            "ppstart": pick(is_ps, init_start, parent_start),
        }
        is_file = pc.fill_null(pc.or_(pc.starts_with(event, "file_"), pc.equal(event, "image_load")), False)
        out["path"] = pick(is_file, new_image, pa.nulls(n, pa.string()))
        out["path_old"] = join_path(col(r, "PreviousFolderPath"), col(r, "PreviousFileName"))
        with_hash = pc.or_(is_file, is_ps)
        out["sha256"] = pick(with_hash, col(r, "SHA256"), pa.nulls(n, pa.string()))
        out["md5"] = pick(with_hash, col(r, "MD5"), pa.nulls(n, pa.string()))
        out["reg_key"] = reg_key(col(r, "RegistryKey"))
        out["reg_value"] = col(r, "RegistryValueName")
        out["reg_data"] = col(r, "RegistryValueData")
        out["proto"] = pc.utf8_lower(col(r, "Protocol"))
        out["laddr"] = col(r, "LocalIP")
        out["lport"] = to_int(col(r, "LocalPort"))
        out["raddr"] = col(r, "RemoteIP")
        out["rport"] = to_int(col(r, "RemotePort"))
        remote_url = col(r, "RemoteUrl")
        has_slash = pc.fill_null(pc.match_substring(remote_url, "/"), False)
        out["url"] = pick(has_slash, remote_url, pa.nulls(n, pa.string()))
        out["domain"] = blank_to_null(pc.replace_substring_regex(
            remote_url, r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://)?([^/:?#]*).*$", r"\1"))
        out["outcome"] = pick(pc.starts_with(event, "network_"), action, pa.nulls(n, pa.string()))
        # the export names the files itself: no need to cut paths
        if "FileName" in r.column_names or "InitiatingProcessFileName" in r.column_names:
            name = pick(is_ps, col(r, "FileName"), col(r, "InitiatingProcessFileName"))
            missing = pc.and_(pc.is_null(name), pc.is_valid(out["image"]))
            if pc.any(missing).as_py():
                name = pc.coalesce(name, basename(out["image"]))
            out["name"] = name
            out["file"] = pick(is_file, col(r, "FileName"), pa.nulls(n, pa.string()))
            out["pname"] = pick(is_ps, col(r, "InitiatingProcessFileName"),
                                col(r, "InitiatingProcessParentFileName"))
        else:
            out["name"] = basename(out["image"])
        return Normalized(out, tzd)


def _view(raw: pa.Table) -> pa.Table:
    """Streaming-API envelopes keep the row under ``properties.``: look through it."""
    return envelope_view(raw, "properties.")


PROFILE = _MDE()
