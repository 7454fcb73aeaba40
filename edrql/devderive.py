"""Defender-schema columns worked out from edrql's normalized columns (every vendor but
Defender, and Defender columns an export lacks): ActionType from the normalized event,
Defender's registry roots, accounts, hashes, the initiating process and its parent from the
process instances. ``f`` is a devtables frame (the rows of one table with their instances)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .devschema import MDE, I, S, column_type
from .fnlib.textcast import json_string
from .normalize import basename, blank_to_null, lookup, to_int

#: other vendors' logon actions → Defender's ActionType
_LOGONS = {"4624": "LogonSuccess", "4625": "LogonFailed", "UserLogon": "LogonSuccess",
           "UserLogonFailed": "LogonFailed", "UserLogonFailed2": "LogonFailed"}
LOGON_VENDORS = {"4624": "Windows Event Log", "4625": "Windows Event Log",
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




def flat(a):
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


def _codes(a) -> tuple[np.ndarray, list]:
    """Dictionary codes (null → -1) and the distinct values of a text column; a chunked
    column is encoded chunk by chunk with one shared dictionary (no concatenation); a
    dictionary array is read as it is (its dictionary holds distinct values)."""
    enc = a if isinstance(a, pa.DictionaryArray) else pc.dictionary_encode(a)
    if isinstance(enc, pa.ChunkedArray):
        if enc.num_chunks == 0:
            return np.zeros(0, np.int64), []
        enc = enc.unify_dictionaries()
        values = enc.chunks[0].dictionary
        idx = pa.chunked_array([c.indices for c in enc.chunks], enc.type.index_type)
    else:
        values, idx = enc.dictionary, enc.indices
    return pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64), values.to_pylist()


def per_distinct(arrays: list, fn) -> np.ndarray:
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
    key = flat(key)
    if key.null_count == len(key):
        return key
    user_sid = pc.fill_null(pc.starts_with(key, "HKU\\S-1-5-21-"), False)
    if pc.any(user_sid).as_py():
        key = pc.if_else(user_sid, pc.utf8_replace_slice(key, 0, 4, "HKEY_CURRENT_USER\\"), key)
    for short, long in _ROOTS:              # a root no key starts with costs one test
        hit = pc.fill_null(pc.starts_with(key, short), False)
        if pc.any(hit).as_py():
            key = pc.if_else(hit, pc.utf8_replace_slice(key, 0, len(short), long), key)
        root = pc.fill_null(pc.equal(key, short[:-1]), False)      # the root alone
        if pc.any(root).as_py():
            key = pc.if_else(root, pa.scalar(long[:-1]), key)
    return key


def hash_in(text, algo: str) -> pa.Array:
    """``ALGO=hex`` out of a Sysmon Hashes list, lower case."""
    m = pc.extract_regex(pc.fill_null(text, ""), rf"(?i)(?:^|,)\s*{algo}=(?P<h>[0-9a-f]+)")
    return pc.utf8_lower(pc.struct_field(m, [0]))


def _action_type(f) -> pa.Array:
    """Defender's own ActionType; for other vendors one from the normalized event."""
    sysmon = pc.fill_null(_sysmon_of(f), False)
    cols = [f.col("vendor"), f.col("event"), f.col("action"),
            pc.if_else(sysmon, pa.scalar("s"), pa.scalar(None, S))]
    labels: list = []

    def name(vendor, event, action, sysmon_row):
        if vendor == MDE:
            out = action
        elif event == "other":
            out = (_LOGONS.get(action) if LOGON_VENDORS.get(action) == vendor else None) or \
                (_SYSMON_ACTIONS.get(action) if sysmon_row else None) or action
        else:
            out = _ACTIONS.get(event, action)
        if out not in labels:
            labels.append(out)
        return labels.index(out)
    if f.n == 0:
        return pa.array([], S)
    codes = per_distinct(cols, name)
    out = pc.take(pa.array(labels, S), pa.array(codes))
    # a deleted value (not a key) is RegistryValueDeleted, as Defender says
    value_del = pc.and_(pc.fill_null(pc.equal(out, "RegistryKeyDeleted"), False),
                        pc.and_(pc.is_valid(f.col("reg_value")), pc.invert(f.mde)))
    return pc.if_else(value_del, pa.scalar("RegistryValueDeleted"), out)


def _sysmon_of(f) -> pa.Array:
    """Which rows come from Sysmon (its channel or provider), worked out once per frame."""
    return f.derived("sysmon", lambda: _sysmon_rows(f))


def _sysmon_rows(f) -> pa.Array:
    out = None
    for name in ("Channel", "System.Channel", "SourceName", "System.Provider.Name"):
        if f.has_raw(name):
            m = pc.fill_null(pc.match_substring(f.raw(name), "sysmon", ignore_case=True), False)
            out = m if out is None else pc.or_(out, m)
    return out if out is not None else pa.repeat(pa.scalar(False), f.n)


#: initiating-process columns: (events column on a creation — the parent's —, events column
#: on other rows — the actor's —, procs column of the initiating instance as a fallback)
_INITIATING = {
    "InitiatingProcessFileName": ("pname", "name", "name"),
    "InitiatingProcessFolderPath": ("pimage", "image", "image"),
    "InitiatingProcessId": ("ppid", "pid", "pid"),
    "InitiatingProcessCommandLine": ("pcmdline", "cmdline", "cmdline"),
    "InitiatingProcessCreationTime": ("ppstart", "pstart", "start"),
}


def derive(f, c: str, table_name: str):
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
    if table_name == "DeviceEvents" and c in ("FileName", "FolderPath", "ProcessId"):
        return _target(f, c)
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
    if c in _INITIATING:        # the row's own field, else the initiating instance's
        for_creation, for_other, of_instance = _INITIATING[c]
        return f.sel(lambda: pc.coalesce(e(for_creation), p("ip", of_instance)),
                     lambda: pc.coalesce(e(for_other), p("ip", of_instance)))
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


def _target(f, c: str):
    """DeviceEvents: the file of the event (a pipe's name), else — Sysmon 8 and 10, as
    Defender's CreateRemoteThreadApiCall / OpenProcessApiCall — the target process."""
    if c == "ProcessId":
        return pc.if_else(_sysmon_of(f), to_int(f.raw("TargetProcessId")), pa.scalar(None, I))
    target = pc.if_else(_sysmon_of(f), f.raw("TargetImage"), pa.scalar(None, S))
    if c == "FolderPath":
        return pc.coalesce(f.col("path"), target)
    return pc.coalesce(f.col("file"), basename(target))


def _dns_fields(f):
    """A DNS query's question and answer as Defender's DnsQueryResponse carries them in
    AdditionalFields (JSON text)."""
    q = f.col("dns_query")
    if q.null_count == len(q):
        return None
    ans = pc.fill_null(json_string(f.col("dns_answer")), '""')
    text = pc.binary_join_element_wise('{"DnsQueryString":', json_string(q),
                                       ',"DnsQueryResult":', ans, '}', "")
    return pc.if_else(pc.is_valid(q), text, pa.scalar(None, S))
