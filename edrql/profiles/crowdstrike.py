"""CrowdStrike Falcon — FDR NDJSON, legacy Event Search CSV, LogScale / NG-SIEM exports.

Shapes handled (all detected by content):

* FDR: NDJSON, every value a string; ``timestamp`` epoch ms (cloud time),
  ``ContextTimeStamp`` epoch ``s.ms`` (or FILETIME), ``ProcessStartTime`` epoch ``s.ms``.
* Event Search (Splunk) CSV: ``_time`` (ISO or epoch), numeric fields with a
  ``_decimal`` suffix (``TargetProcessId_decimal``, ``ProcessStartTime_decimal``); the
  ``_decimal`` spelling is preferred when a file has both, so ids agree across rows.
* LogScale: tag fields with a ``#`` prefix (``#event_simpleName``) and ``@timestamp``
  epoch ms; ``#name`` is read as ``name`` when the plain name is absent.

Semantics:

* ``ts`` is the cloud time (``timestamp`` / ``@timestamp`` / ``_time``); the endpoint
  clock ``ContextTimeStamp`` is used only when none of those is present.
* process events (ProcessRollup2, SyntheticProcessRollup2, EndOfProcess, TerminateProcess)
  describe ``TargetProcessId``; every other event's acting process is
  ``ContextProcessId``. Falcon process ids (UPIDs) are unique per sensor only, so
  ``puid``/``ppuid`` are ``<aid>:<UPID>`` (bare UPID when a row has no ``aid``).
* ``pid`` is the OS pid ``RawProcessId``. On non-process events it is kept only when
  the row names no other target process (``TargetProcessId`` absent or equal to
  ``ContextProcessId``), because on cross-process events (injection) it may be the
  target's pid. The parent's OS pid is not in PR2 → ``ppid`` stays null.
* ``pimage`` is ``ParentBaseFileName`` (a name only: that is all PR2 carries).
* ``image`` keeps the NT device form (``\\Device\\HarddiskVolume3\\...``): the volume →
  drive letter mapping is host-specific and not in the data.
* *FileWritten / NewExecutableWritten / NewScriptWritten / DirectoryCreate → file_create
  (a "written" event reports a new file being written, as Elastic's FDR pipeline
  categorizes it); file_modify is not emitted.
* Network rows carry no image: join ``puid`` to the PR2 row's ``puid``.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..normalize import (Ctx, Normalized, basename, blank_to_null, col, lookup, nulls, pick,
                         reg_key, to_int)
from ..values import join_skip, parse_as, proto_name

EVENTS = {
    "ProcessRollup2": "process_start",
    "SyntheticProcessRollup2": "process_start",
    "EndOfProcess": "process_end",
    "TerminateProcess": "process_end",
    "NetworkConnectIP4": "network_connect",
    "NetworkConnectIP6": "network_connect",
    "NetworkReceiveAcceptIP4": "network_accept",
    "NetworkReceiveAcceptIP6": "network_accept",
    "DnsRequest": "dns_query",
    "SuspiciousDnsRequest": "dns_query",
    "ClassifiedModuleLoad": "image_load",
    "ImageHash": "image_load",
    "DriverLoad": "image_load",
    "NewExecutableWritten": "file_create",
    "NewScriptWritten": "file_create",
    "DirectoryCreate": "file_create",
    "FileDeleteInfo": "file_delete",
    "ExecutableDeleted": "file_delete",
    "FileRenameInfo": "file_rename",
}
PROCESS_EVENTS = ("process_start", "process_end")

_ID_FIELDS = {"event_simpleName", "aid", "cid", "aip", "ComputerName", "TargetProcessId",
              "ContextProcessId", "ParentProcessId", "RawProcessId", "ConfigBuild",
              "event_platform", "timestamp", "ContextTimeStamp"}


class _CrowdStrike:
    name = "crowdstrike"
    vendor = "CrowdStrike Falcon"
    # FDR records carry a per-event ``id``; the excerpt shows it is not unique alone
    # (two events of one sensor share it), so the key adds name and cloud time.
    dedup_key = ["aid", "id", "event_simpleName", "timestamp"]

    def detect(self, columns: set[str]) -> int:
        cols = {_plain(c) for c in columns}
        if "event_simpleName" not in cols:
            return 0
        ids = {"aid", "cid", "aip", "ComputerName", "TargetProcessId", "ContextProcessId"}
        if not (ids & cols):
            return 0
        return 10 + len(_ID_FIELDS & cols)

    def normalize(self, raw: pa.Table, ctx: Ctx) -> Normalized:
        r = _view(raw)
        n = raw.num_rows

        def c(*names: str) -> pa.Array:
            """Value of a CrowdStrike field, preferring the Event Search ``_decimal`` spelling."""
            cand = []
            for nm in names:
                cand += [nm + "_decimal", nm]
            return col(r, *cand)

        action = col(r, "event_simpleName")
        event = lookup(action, EVENTS, ignore_case=False)
        written = pc.fill_null(pc.match_substring_regex(action, r"FileWritten$"), False)
        event = pick(written, pa.array(["file_create"] * n, pa.string()) if n else nulls(0), event)
        event = pc.coalesce(event, _registry_event(action, c("RegOperationType")))
        event = pc.fill_null(event, "other")
        is_proc = pc.fill_null(pc.is_in(event, value_set=pa.array(PROCESS_EVENTS)), False)
        is_load = pc.fill_null(pc.equal(event, "image_load"), False)
        none = nulls(n)

        # ---- time
        ts, why_all = None, []
        for f in ("timestamp", "@timestamp", "_time", "ContextTimeStamp"):
            v = c(f)
            if ts is not None:
                v = pc.if_else(pc.is_null(ts), v, pa.scalar(None, pa.string()))
            if v.null_count == n:
                continue
            t, why = parse_as(v, "auto", ctx)
            ts = t if ts is None else pc.coalesce(ts, t)
            why_all.append(f"{f}: {why}" if not why_all else f"{f} (where the above is absent): {why}")
        if ts is None:
            ts = nulls(n, pa.timestamp("ns", tz="UTC"))
        tzd = "; ".join(why_all) or "no time field"
        pstart = parse_as(c("ProcessStartTime"), "auto", ctx)[0]

        # ---- process identity
        aid = col(r, "aid")
        target, context = c("TargetProcessId"), c("ContextProcessId")
        upid = pick(is_proc, pc.coalesce(target, context), pc.coalesce(context, target))

        def qualified(v: pa.Array) -> pa.Array:
            joined = join_skip([aid, v], ":")
            return pc.if_else(pc.is_valid(v), joined, pa.scalar(None, pa.string()))

        raw_pid = to_int(c("RawProcessId"))
        own = pc.fill_null(pc.or_(pc.is_null(target), pc.equal(target, context)), True)
        pid = pick(pc.or_(is_proc, own), raw_pid, pa.nulls(n, pa.int64()))

        image = pick(is_proc, col(r, "ImageFileName"),
                     pick(is_load, col(r, "ContextImageFileName"),
                          col(r, "ContextImageFileName", "ImageFileName")))
        name = pc.coalesce(basename(image), pick(is_proc, none, col(r, "ContextBaseFileName")))
        cmdline = pick(is_load, none, col(r, "CommandLine"))

        sha256 = _hash(col(r, "SHA256HashData"))
        md5 = _hash(col(r, "MD5HashData"))

        ip6 = pc.fill_null(pc.match_substring_regex(action, r"IP6$"), False)
        laddr = pick(ip6, col(r, "LocalAddressIP6", "LocalAddressIP4"),
                     col(r, "LocalAddressIP4", "LocalAddressIP6"))
        raddr = pick(ip6, col(r, "RemoteAddressIP6", "RemoteAddressIP4"),
                     col(r, "RemoteAddressIP4", "RemoteAddressIP6"))

        out = {
            "ts": ts,
            "host": col(r, "ComputerName", "aid"),
            "event": event,
            "action": action,
            "pid": pid,
            "image": image,
            "name": name,
            "cmdline": cmdline,
            "user": col(r, "UserName"),
            "pstart": pick(is_proc, pstart, nulls(n, pstart.type)),
            "puid": qualified(upid),
            "ppuid": qualified(c("ParentProcessId")),
            "pimage": col(r, "ParentBaseFileName"),
            "path": pick(is_load, col(r, "ImageFileName", "TargetImageFileName", "TargetFileName"),
                         col(r, "TargetFileName")),
            "path_old": col(r, "SourceFileName"),
            "sha256": sha256,
            "md5": md5,
            "reg_key": reg_key(col(r, "RegObjectName")),
            "reg_value": col(r, "RegValueName"),
            "reg_data": col(r, "RegStringValue"),
            "proto": proto_name(c("Protocol")),
            "laddr": laddr,
            "lport": to_int(c("LocalPort")),
            "raddr": raddr,
            "rport": to_int(c("RemotePort")),
            "dns_query": col(r, "DomainName"),
            "dns_answer": blank_to_null(pc.utf8_rtrim(col(r, "IP4Records", "CNAMERecords"),
                                                      characters="; ")),
        }
        return Normalized(out, tzd)


def _plain(name: str) -> str:
    return name[1:] if name.startswith("#") else name


def _view(raw: pa.Table) -> pa.Table:
    """LogScale tags: ``#event_simpleName`` read as ``event_simpleName`` (when not both)."""
    names = raw.column_names
    if not any(n.startswith("#") for n in names):
        return raw
    have = set(names)
    return raw.rename_columns([n[1:] if n.startswith("#") and n[1:] not in have else n
                               for n in names])


def _hash(arr: pa.Array) -> pa.Array:
    """All-zero hashes mean "not computed" → null; hex lower-cased."""
    zero = pc.fill_null(pc.match_substring_regex(arr, r"^0+$"), False)
    return pc.utf8_lower(pc.if_else(zero, pa.scalar(None, pa.string()), arr))


def _registry_event(action: pa.Array, op: pa.Array) -> pa.Array:
    """Asep*/Reg* registry events → registry_set, refined by the event name and
    RegOperationType (2/4 delete, 3 create, per Elastic's FDR field reference)."""
    n = len(action)
    is_reg = pc.fill_null(pc.and_(
        pc.match_substring_regex(action, r"^(Asep|Reg[A-Z])"),
        pc.match_substring_regex(action, r"(Value|Key)\w*(Update|Create|Created|Delete|Deleted|Set|Commit)$")),
        False)
    deleted = pc.or_(pc.fill_null(pc.match_substring_regex(action, r"Delete"), False),
                     pc.fill_null(pc.is_in(op, value_set=pa.array(["2", "4"])), False))
    created = pc.or_(pc.fill_null(pc.match_substring_regex(action, r"Create"), False),
                     pc.fill_null(pc.equal(op, "3"), False))

    def const(v: str) -> pa.Array:
        return pa.array([v] * n, pa.string()) if n else nulls(0)

    out = pick(deleted, const("registry_delete"),
               pick(created, const("registry_create"), const("registry_set")))
    return pc.if_else(is_reg, out, pa.scalar(None, pa.string()))


PROFILE = _CrowdStrike()
