"""Defender-schema tables over every vendor: ``DeviceProcessEvents``, ``DeviceFileEvents``,
``DeviceNetworkEvents``, ``DeviceRegistryEvents``, ``DeviceImageLoadEvents``,
``DeviceEvents`` and ``DeviceLogonEvents``, with Defender's column names and types.

Which table a row belongs to: Defender rows by their own ActionType (the table the export
names, when it has a ``Type`` column); every other vendor's by edrql's normalized
``event`` (process_start → DeviceProcessEvents, file_* → DeviceFileEvents …; logons
(Security 4624/4625, CrowdStrike UserLogon*) → DeviceLogonEvents; everything else →
DeviceEvents). Proxy and network-sensor records (``http`` from a proxy) are no device's
events and stay in ``http``.

Values: a Defender row carries the export's own value (its ``raw.*`` column, cast to
Defender's type) wherever the export has that column; every other vendor's row is filled
from the normalized columns and, for the initiating process's parent and hashes, from
the process instances of the lineage (``procs``). What a vendor cannot provide is null.
Extra columns: ``proc`` and ``parent`` (process-instance keys: the created process for
DeviceProcessEvents, else the initiating process, so a row can be fed to ``tree()``),
``vendor``, ``source`` and ``record`` (where the row came from).

All columnar: one dictionary lookup per distinct event/action value, Arrow takes by
index arrays; nothing per row in Python. Built tables are kept per opened case.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .normalize import Ctx, basename, blank_to_null, parse_time, to_int
from .npkeys import best_row
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

_INTS = {"FileSize", "ProcessId", "InitiatingProcessId", "InitiatingProcessParentId",
         "RemotePort", "LocalPort", "ReportId", "record"}
_TIMES = {"Timestamp", "ProcessCreationTime", "InitiatingProcessCreationTime",
          "InitiatingProcessParentCreationTime"}


def column_type(name: str) -> pa.DataType:
    return TS if name in _TIMES else I if name in _INTS else S


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
_ORDER = list(TABLES)


def schema(name: str) -> pa.Schema:
    return pa.schema([pa.field(c, column_type(c)) for c in TABLES[name].columns])


# ---------------------------------------------------------------- which rows go where
#: normalized event → table, for vendors other than Defender
_EVENT_TABLE = {
    "process_start": "DeviceProcessEvents", "process_end": "DeviceEvents",
    "file_create": "DeviceFileEvents", "file_modify": "DeviceFileEvents",
    "file_delete": "DeviceFileEvents", "file_rename": "DeviceFileEvents",
    "registry_set": "DeviceRegistryEvents", "registry_create": "DeviceRegistryEvents",
    "registry_delete": "DeviceRegistryEvents",
    "network_connect": "DeviceNetworkEvents", "network_accept": "DeviceNetworkEvents",
    "dns_query": "DeviceEvents", "image_load": "DeviceImageLoadEvents",
    "other": "DeviceEvents",
}
#: Defender's own rows: DNS and HTTP inspections are DeviceNetworkEvents
_MDE_EVENT_TABLE = dict(_EVENT_TABLE, dns_query="DeviceNetworkEvents",
                        http="DeviceNetworkEvents", process_end="DeviceEvents")
_MDE_LOGONS = {"LogonSuccess", "LogonFailed", "LogonAttempted"}
#: other vendors' logon actions → Defender's ActionType
_LOGONS = {"4624": "LogonSuccess", "4625": "LogonFailed", "UserLogon": "LogonSuccess",
           "UserLogonFailed": "LogonFailed", "UserLogonFailed2": "LogonFailed"}
_LOGON_VENDORS = {"4624": "Windows Event Log", "4625": "Windows Event Log",
                  "UserLogon": "CrowdStrike Falcon", "UserLogonFailed": "CrowdStrike Falcon",
                  "UserLogonFailed2": "CrowdStrike Falcon"}
#: normalized event → Defender ActionType (other vendors)
_ACTIONS = {
    "process_start": "ProcessCreated", "process_end": "ProcessTerminated",
    "file_create": "FileCreated", "file_modify": "FileModified", "file_delete": "FileDeleted",
    "file_rename": "FileRenamed", "registry_set": "RegistryValueSet",
    "registry_create": "RegistryKeyCreated", "registry_delete": "RegistryKeyDeleted",
    "network_connect": "ConnectionSuccess", "network_accept": "InboundConnectionAccepted",
    "dns_query": "DnsQueryResponse", "image_load": "ImageLoaded",
}
#: Sysmon events without an edrql event type that Defender reports in DeviceEvents
_SYSMON_ACTIONS = {"8": "CreateRemoteThreadApiCall", "10": "OpenProcessApiCall",
                   "17": "NamedPipeEvent", "18": "NamedPipeEvent"}
_LOGON_TYPES = {"2": "Interactive", "3": "Network", "4": "Batch", "5": "Service",
                "7": "Unlock", "8": "NetworkCleartext", "9": "NewCredentials",
                "10": "RemoteInteractive", "11": "CachedInteractive"}


def _flat(a):
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


def _codes(a) -> tuple[np.ndarray, list]:
    """Dictionary codes (null → -1) and the distinct values of a text column; a chunked
    column is encoded chunk by chunk with one shared dictionary (no concatenation)."""
    enc = pc.dictionary_encode(a)
    if isinstance(enc, pa.ChunkedArray):
        if enc.num_chunks == 0:
            return np.zeros(0, np.int64), []
        enc = enc.unify_dictionaries()
        values = enc.chunks[0].dictionary
        idx = pa.chunked_array([c.indices for c in enc.chunks], enc.type.index_type)
    else:
        values, idx = enc.dictionary, enc.indices
    return pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64), values.to_pylist()


def _per_distinct(arrays: list, fn) -> np.ndarray:
    """fn(*values) → int code for each distinct combination of the text columns, per row
    (one Python call per distinct combination, not per row)."""
    codes, dicts = [], []
    for a in arrays:
        c, d = _codes(a)
        codes.append(c)
        dicts.append(d + [None])
    key = np.zeros(len(codes[0]), np.int64)
    space = 1
    for c, d in zip(codes, dicts):
        key = key * len(d) + np.where(c < 0, len(d) - 1, c)
        space *= len(d)
    if space <= 1 << 22:                      # few combinations: a lookup table, no sort
        present = np.nonzero(np.bincount(key, minlength=space))[0]
        table = np.zeros(space, np.int64)
        table[present] = [fn(*_unpack(k, dicts)) for k in present.tolist()]
        return table[key]
    uniq, inv = np.unique(key, return_inverse=True)
    return np.array([fn(*_unpack(k, dicts)) for k in uniq.tolist()], np.int64)[inv]


def _unpack(k: int, dicts: list) -> list:
    vals = []
    for d in reversed(dicts):
        k, r = divmod(k, len(d))
        vals.append(d[r])
    return vals[::-1]


def _raw_name(columns, name: str) -> str | None:
    for c in ("raw." + name, "raw.properties." + name):
        if c in columns:
            return c
    return None


def assignment(case) -> np.ndarray:
    """Per events row: the index (in TABLES order) of its Device* table, or -1."""
    cache = case.__dict__.setdefault("_devtables", {})
    if "assign" in cache:
        return cache["assign"]
    ev = case.events
    if ev.num_rows == 0:
        cache["assign"] = np.zeros(0, np.int64)
        return cache["assign"]
    typ = _raw_name(ev.column_names, "Type")
    cols = [ev["vendor"], ev["event"]] + ([ev[typ]] if typ else [])

    def table_of(vendor, event, exported=None, action=None):
        if vendor == MDE:
            if exported in TABLES:
                return _ORDER.index(exported)
            name = "DeviceLogonEvents" if action in _MDE_LOGONS else _MDE_EVENT_TABLE.get(event)
        elif event == "other" and _LOGON_VENDORS.get(action) == vendor:
            name = "DeviceLogonEvents"
        else:
            name = _EVENT_TABLE.get(event)
        return _ORDER.index(name) if name else -1
    proxy = _proxy_rows(case)
    out = _per_distinct(cols, table_of)
    # the action decides only among "other" events (logons): read it for those rows only
    other = pc.fill_null(pc.equal(ev["event"], "other"), False)
    if pc.any(other).as_py():
        rows = np.nonzero(other.to_numpy(zero_copy_only=False))[0]
        sub = [c.filter(other) for c in cols] + ([] if typ else [pa.nulls(len(rows), S)])
        out[rows] = _per_distinct(sub + [ev["action"].filter(other)], table_of)
    if proxy is not None:
        out = np.where(proxy, -1, out)
    # one creation seen by two channels (Sysmon 1 and Security 4688: one instance in the
    # lineage) is one DeviceProcessEvents row, as in Defender: the instance's chosen start
    ps = np.nonzero(out == _ORDER.index("DeviceProcessEvents"))[0]
    if len(ps):
        who = np.asarray(case.lineage.event_proc, np.int64)[ps]
        chosen = _start_rows(case)
        again = (who >= 0) & (chosen[np.maximum(who, 0)] != ps) if len(chosen) else who < -1
        out[ps[again]] = -1
    cache["assign"] = out
    return out


def _proxy_rows(case):
    sources = case.proxy_sources() if hasattr(case, "proxy_sources") else set()
    if not sources:
        return None
    return pc.fill_null(pc.is_in(case.events["source"], value_set=pa.array(sorted(sources))),
                        False).to_numpy(zero_copy_only=False)


# ---------------------------------------------------------------- building a table
def table(case, name: str, needed: set | None = None) -> pa.Table:
    """The rows of one Device* table, kept per opened case. ``needed``: build only the
    columns named there (matched as queries match names: exactly or ignoring case), for a
    pipeline that reads no others; None: every column."""
    cache = case.__dict__.setdefault("_devtables", {})
    if name in cache:
        return cache[name] if needed is None else _select(cache[name], needed)
    cols = TABLES[name].columns
    if needed is not None:
        low = {c.lower() for c in needed}
        cols = [c for c in cols if c in needed or c.lower() in low]
    f = cache.get(("frame", name))
    if f is None:
        f = cache[("frame", name)] = _Frame(case, np.nonzero(assignment(case) ==
                                                             _ORDER.index(name))[0])
    done = cache.setdefault(("columns", name), {})
    for c in cols:
        if c not in done:
            done[c] = _typed(f.value(c, name), c, f.n)
    full = schema(name)
    out = pa.table({c: done[c] for c in cols}, schema=pa.schema([full.field(c) for c in cols]))
    if needed is None:
        cache[name] = out
        del cache[("frame", name)], cache[("columns", name)]    # the table holds them now
    return out


def _select(t: pa.Table, needed: set) -> pa.Table:
    low = {c.lower() for c in needed}
    return t.select([c for c in t.column_names if c in needed or c.lower() in low])


def _typed(arr, name: str, n: int):
    want = column_type(name)
    if arr is None:
        return pa.nulls(n, want)
    arr = _flat(arr)
    return arr if arr.type == want else arr.cast(want)


def _split_user(user) -> tuple[pa.Array, pa.Array]:
    """DOMAIN\\name → (DOMAIN, name); a user without a domain has a null domain."""
    has = pc.fill_null(pc.match_substring(user, "\\"), False)
    dom = pc.if_else(has, pc.replace_substring_regex(user, r"\\.*$", ""),
                     pa.scalar(None, pa.string()))
    name = pc.replace_substring_regex(user, r"^[^\\]*\\", "")
    return dom, name


_ROOTS = [("HKLM\\", "HKEY_LOCAL_MACHINE\\"), ("HKCU\\", "HKEY_CURRENT_USER\\"),
          ("HKCR\\", "HKEY_CLASSES_ROOT\\"), ("HKU\\", "HKEY_USERS\\")]


def defender_key(key) -> pa.Array:
    """edrql's registry roots (HKLM\\ …) spelled as Defender spells them. A user's hive
    (HKU\\S-1-5-21-…) is HKEY_CURRENT_USER\\S-1-5-21-… as Defender reports it."""
    key = _flat(key)
    if key.null_count == len(key):
        return key
    user_sid = pc.fill_null(pc.starts_with(key, "HKU\\S-1-5-21-"), False)
    key = pc.if_else(user_sid, pc.utf8_replace_slice(key, 0, 4, "HKEY_CURRENT_USER\\"), key)
    for short, long in _ROOTS:
        hit = pc.fill_null(pc.starts_with(key, short), False)
        key = pc.if_else(hit, pc.utf8_replace_slice(key, 0, len(short), long), key)
        root = pc.fill_null(pc.equal(key, short[:-1]), False)      # the root alone
        key = pc.if_else(root, pa.scalar(long[:-1]), key)
    return key


def _hash_in(text, algo: str) -> pa.Array:
    """``ALGO=hex`` out of a Sysmon Hashes list, lower case."""
    m = pc.extract_regex(pc.fill_null(text, ""), rf"(?i)(?:^|,)\s*{algo}=(?P<h>[0-9a-f]+)")
    return pc.utf8_lower(pc.struct_field(m, [0]))


def _json_text(s) -> pa.Array:
    s = pc.replace_substring(s, "\\", "\\\\")
    s = pc.replace_substring(s, '"', '\\"')
    for ch, esc in (("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        s = pc.replace_substring(s, ch, esc)
    return s


class _Frame:
    """The events rows of one table, with their process instances: ``ap`` the acting
    process, ``ip`` the initiating process (the parent for a process creation), ``gp``
    the initiating process's parent (indices into procs, -1 unknown)."""

    def __init__(self, case, rows: np.ndarray):
        self.case, self.ev, self.n = case, case.events, len(rows)
        mask = np.zeros(case.events.num_rows, bool)
        mask[rows] = True
        self.mask = pa.array(mask, pa.bool_())     # a filter, not a take: segments are many chunks
        self._cache: dict = {}
        ps = pc.fill_null(pc.equal(self.col("event"), "process_start"), False)
        self.is_ps = ps.to_numpy(zero_copy_only=False) if self.n else np.zeros(0, bool)
        self.ps = pa.array(self.is_ps, pa.bool_())
        mde = pc.fill_null(pc.equal(self.col("vendor"), MDE), False)
        self.mde_np = mde.to_numpy(zero_copy_only=False) if self.n else np.zeros(0, bool)
        self.mde = pa.array(self.mde_np, pa.bool_())
        lin = case.lineage
        self.procs = lin.procs
        par = np.asarray(lin.parent_idx, np.int64)

        def up(x):
            return np.where(x >= 0, par[np.maximum(x, 0)], -1) if len(par) else x
        self.ap = np.asarray(lin.event_proc, np.int64)[rows] if self.n else np.zeros(0, np.int64)
        self.ip = np.where(self.is_ps, up(self.ap), self.ap)
        self.gp = up(self.ip)
        self.start_row = _start_rows(case)

    # ------------------------------------------------------------ sources
    def col(self, name: str):
        key = ("col", name)
        if key not in self._cache:
            self._cache[key] = _flat(self.ev[name].filter(self.mask)) if self.n else \
                pa.array([], self.ev.schema.field(name).type)
        return self._cache[key]

    def raw(self, name: str):
        c = _raw_name(self.ev.column_names, name)
        return self.col(c) if c is not None else pa.nulls(self.n, S)

    def has_raw(self, name: str) -> bool:
        return _raw_name(self.ev.column_names, name) is not None

    def proc(self, which: str, column: str):
        """A procs column for each row's ``ap``/``ip``/``gp`` instance."""
        key = ("proc", which, column)
        if key not in self._cache:
            idx = getattr(self, which)
            self._cache[key] = _flat(pc.take(self.procs[column], pa.array(
                np.maximum(idx, 0), pa.int64(), mask=idx < 0))) if self.n else \
                pa.array([], self.procs.schema.field(column).type)
        return self._cache[key]

    def start_col(self, column: str):
        """An events column at the start event of each row's initiating process."""
        key = ("start", column)
        if key not in self._cache:
            per_proc = _at_start(self.case, column)
            self._cache[key] = _flat(pc.take(per_proc, pa.array(
                np.maximum(self.ip, 0), pa.int64(), mask=self.ip < 0))) if self.n and \
                len(per_proc) else pa.nulls(self.n, S)
        return self._cache[key]

    def sel(self, a, b):
        """Row-wise: a() for process creations, b() for the others (only what is needed)."""
        if self.is_ps.all():
            return a()
        if not self.is_ps.any():
            return b()
        return pc.if_else(self.ps, _flat(a()), _flat(b()))

    # ------------------------------------------------------------ values
    def value(self, c: str, table_name: str):
        if c in ("proc", "parent"):
            return self.proc("ap", c)
        if c in ("vendor", "source", "record"):
            return self.col(c)
        derived = lambda: derive(self, c, table_name)      # noqa: E731
        if c == "ActionType" or not self.mde_np.any() or not self.has_raw(c):
            return derived()
        mine = self.defender(c)
        if self.mde_np.all():
            return mine
        return pc.if_else(self.mde, _typed(mine, c, self.n), _typed(derived(), c, self.n))

    def defender(self, c: str):
        """The export's own value, cast to Defender's type."""
        raw = blank_to_null(self.raw(c))
        if c in _INTS:
            return to_int(raw)
        if c in _TIMES:
            return parse_time(raw, Ctx())[0]
        return raw

    def sha1(self, start: bool):
        take = self.start_col if start else self.col
        out = None
        for name in ("Hashes", "Hash"):
            c = _raw_name(self.ev.column_names, name)
            if c is not None:
                h = _hash_in(take(c), "SHA1")
                out = h if out is None else pc.coalesce(out, h)
        for name in ("SHA1HashData", "SHA1"):           # CrowdStrike, Defender
            c = _raw_name(self.ev.column_names, name)
            if c is not None:
                h = pc.utf8_lower(blank_to_null(take(c)))
                out = h if out is None else pc.coalesce(out, h)
        return out


def _start_rows(case) -> np.ndarray:
    """Per process instance: the events row of its start event, or -1. Of several (one start
    seen by two channels) the one with a vendor process id, then hashes, then the first."""
    cache = case.__dict__.setdefault("_devtables", {})
    if "start_row" not in cache:
        ev, lin = case.events, case.lineage
        k = lin.procs.num_rows
        starts = np.nonzero(pc.fill_null(pc.equal(ev["event"], "process_start"), False)
                            .to_numpy(zero_copy_only=False))[0]
        who = np.asarray(lin.event_proc, np.int64)[starts]
        ok = who >= 0
        starts, who = starts[ok], who[ok]
        idx = pa.array(starts, pa.int64())
        score = np.zeros(len(starts), np.int64)
        for weight, column in ((2, "puid"), (1, "sha256")):
            valid = pc.is_valid(pc.take(ev[column], idx)).to_numpy(zero_copy_only=False) \
                if len(starts) else np.zeros(0, bool)
            score += weight * valid
        cache["start_row"] = best_row(k, who, starts, score)
    return cache["start_row"]


def _at_start(case, column: str) -> pa.Array:
    """Per process instance: ``column`` of its start event (kept per case)."""
    cache = case.__dict__.setdefault("_devtables", {})
    key = ("at_start", column)
    if key not in cache:
        at = _start_rows(case)
        ok = at >= 0
        mask = np.zeros(case.events.num_rows, bool)
        mask[at[ok]] = True
        # the start rows in row order (one filter), then into instance order
        vals = _flat(case.events[column].filter(pa.array(mask, pa.bool_())))
        order = np.full(len(at), -1, np.int64)
        rank = np.cumsum(mask) - 1
        order[ok] = rank[at[ok]]
        cache[key] = pc.take(vals, pa.array(np.maximum(order, 0), pa.int64(), mask=order < 0)) \
            if len(vals) else pa.nulls(len(at), S)
    return cache[key]


def _action_type(f: _Frame) -> pa.Array:
    """Defender's own ActionType; for other vendors one from the normalized event."""
    sysmon = pc.fill_null(_sysmon_of(f), False)
    cols = [f.col("vendor"), f.col("event"), f.col("action"),
            pc.if_else(sysmon, pa.scalar("s"), pa.scalar(None, S))]
    labels: list = []

    def name(vendor, event, action, sysmon_row):
        if vendor == MDE:
            out = action
        elif event == "other":
            out = (_LOGONS.get(action) if _LOGON_VENDORS.get(action) == vendor else None) or \
                (_SYSMON_ACTIONS.get(action) if sysmon_row else None) or action
        else:
            out = _ACTIONS.get(event, action)
        if out not in labels:
            labels.append(out)
        return labels.index(out)
    if f.n == 0:
        return pa.array([], S)
    codes = _per_distinct(cols, name)
    out = pc.take(pa.array(labels, S), pa.array(codes))
    # a deleted value (not a key) is RegistryValueDeleted, as Defender says
    value_del = pc.and_(pc.fill_null(pc.equal(out, "RegistryKeyDeleted"), False),
                        pc.and_(pc.is_valid(f.col("reg_value")), pc.invert(f.mde)))
    return pc.if_else(value_del, pa.scalar("RegistryValueDeleted"), out)


def _sysmon_of(f: _Frame) -> pa.Array:
    out = None
    for name in ("Channel", "System.Channel", "SourceName", "System.Provider.Name"):
        if f.has_raw(name):
            m = pc.fill_null(pc.match_substring(f.raw(name), "sysmon", ignore_case=True), False)
            out = m if out is None else pc.or_(out, m)
    return out if out is not None else pa.repeat(pa.scalar(False), f.n)


def derive(f: _Frame, c: str, table_name: str):
    """Column ``c`` from edrql's normalized columns (every vendor but Defender)."""
    e, p = f.col, f.proc
    n = f.n
    none = lambda: None                                # noqa: E731
    logon = table_name == "DeviceLogonEvents"
    if c == "Timestamp":
        return e("ts")
    if c == "DeviceId":
        return pc.coalesce(blank_to_null(f.raw("aid")), e("host"))
    if c == "DeviceName":
        return e("host")
    if c == "ActionType":
        return _action_type(f)
    if c == "FileName":
        return f.sel(lambda: e("name"), lambda: e("file"))
    if c == "FolderPath":
        return f.sel(lambda: e("image"), lambda: e("path"))
    if c in ("SHA256", "MD5"):
        return e(c.lower())
    if c == "SHA1":
        return f.sha1(False)
    if c == "ProcessId":
        return f.sel(lambda: e("pid"), none)
    if c == "ProcessCommandLine":
        return f.sel(lambda: e("cmdline"), none)
    if c == "ProcessCreationTime":
        return f.sel(lambda: pc.coalesce(e("pstart"), e("ts")), none)
    if c in ("AccountDomain", "AccountName"):
        if logon:          # Security 4624/4625, else CrowdStrike UserLogon (UserName)
            if c == "AccountDomain":
                return blank_to_null(f.raw("TargetDomainName"))
            return pc.coalesce(blank_to_null(f.raw("TargetUserName")),
                               blank_to_null(f.raw("UserName")))
        return f.sel(lambda: _split_user(e("user"))[c == "AccountName"], none)
    if c == "AccountSid":
        return pc.coalesce(blank_to_null(f.raw("TargetUserSid")),
                           blank_to_null(f.raw("UserSid"))) if logon else None
    if c == "LogonId":
        return blank_to_null(f.raw("TargetLogonId")) if logon else None
    if c == "LogonType":
        from .normalize import lookup
        return lookup(f.raw("LogonType"), _LOGON_TYPES)
    if c == "RemoteDeviceName":
        return blank_to_null(f.raw("WorkstationName"))
    if c in ("InitiatingProcessAccountDomain", "InitiatingProcessAccountName"):
        i = c == "InitiatingProcessAccountName"
        return f.sel(lambda: _split_user(p("ip", "user"))[i], lambda: _split_user(
            pc.coalesce(e("user"), p("ip", "user")))[i])
    if c == "InitiatingProcessSHA1":
        return f.sha1(True)
    if c in ("InitiatingProcessSHA256", "InitiatingProcessMD5"):
        return f.start_col(c.removeprefix("InitiatingProcess").lower())   # its start event's
    if c == "InitiatingProcessFileName":
        return f.sel(lambda: pc.coalesce(e("pname"), p("ip", "name")),
                     lambda: pc.coalesce(e("name"), p("ip", "name")))
    if c == "InitiatingProcessFolderPath":
        return f.sel(lambda: pc.coalesce(e("pimage"), p("ip", "image")),
                     lambda: pc.coalesce(e("image"), p("ip", "image")))
    if c == "InitiatingProcessId":
        return f.sel(lambda: pc.coalesce(e("ppid"), p("ip", "pid")),
                     lambda: pc.coalesce(e("pid"), p("ip", "pid")))
    if c == "InitiatingProcessCommandLine":
        return f.sel(lambda: pc.coalesce(e("pcmdline"), p("ip", "cmdline")),
                     lambda: pc.coalesce(e("cmdline"), p("ip", "cmdline")))
    if c == "InitiatingProcessCreationTime":
        return f.sel(lambda: pc.coalesce(e("ppstart"), p("ip", "start")),
                     lambda: pc.coalesce(e("pstart"), p("ip", "start")))
    if c == "InitiatingProcessParentFileName":
        # a creation's: the resolved grandparent, else the parent's own record of its parent
        return f.sel(lambda: pc.coalesce(p("gp", "name"), p("ip", "pname")),
                     lambda: pc.coalesce(e("pname"), p("gp", "name")))
    if c == "InitiatingProcessParentId":
        return f.sel(lambda: pc.coalesce(p("ip", "ppid"), p("gp", "pid")),
                     lambda: pc.coalesce(e("ppid"), p("gp", "pid")))
    if c == "InitiatingProcessParentCreationTime":
        return f.sel(lambda: p("gp", "start"), lambda: pc.coalesce(e("ppstart"), p("gp", "start")))
    if c == "RemoteIP":
        return blank_to_null(f.raw("IpAddress")) if logon else e("raddr")
    if c == "RemotePort":
        return to_int(f.raw("IpPort")) if logon else e("rport")
    if c == "RemoteUrl":
        return pc.coalesce(e("url"), e("domain")) if table_name == "DeviceNetworkEvents" else \
            None
    if c == "LocalIP":
        return e("laddr")
    if c == "LocalPort":
        return e("lport")
    if c == "Protocol":
        return pc.utf8_capitalize(e("proto"))
    if c == "RegistryKey":
        return defender_key(e("reg_key"))
    if c == "RegistryValueName":
        return e("reg_value")
    if c == "RegistryValueData":
        return e("reg_data")
    if c == "PreviousFolderPath":
        return e("path_old")
    if c == "PreviousFileName":
        return basename(e("path_old"))
    if c == "AdditionalFields":
        return _dns_fields(f) if table_name == "DeviceEvents" else None
    if c == "ReportId":
        return e("record")
    return pa.nulls(n, column_type(c))       # InitiatingProcessAccountSid, FileSize, Previous*


def _dns_fields(f: _Frame):
    """A DNS query's question and answer as Defender's DnsQueryResponse carries them in
    AdditionalFields (JSON text)."""
    q = f.col("dns_query")
    if q.null_count == len(q):
        return None
    ans = pc.fill_null(_json_text(f.col("dns_answer")), "")
    text = pc.binary_join_element_wise('{"DnsQueryString":"', _json_text(q),
                                       '","DnsQueryResult":"', ans, '"}', "")
    return pc.if_else(pc.is_valid(q), text, pa.scalar(None, S))
