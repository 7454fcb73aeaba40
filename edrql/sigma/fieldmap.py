"""Sigma field names → the values of an events table, per row, for every vendor.

``Fields(table)`` is what the engine reads a case through (the contract in
docs/sigma.md, "Fields and logsources"):

* Windows event log rows (Sysmon, Security, any channel): Sigma's field taxonomy *is*
  the EventData of these events, so a field is the raw field of that name
  (``raw.Image``, ``raw.TargetObject``; Winlogbeat/OTRF spellings are looked through),
  ``EventID`` / ``Channel`` / ``Provider_Name`` / ``Computer`` are System fields, and on
  Security 4688 / 5156 rows the Sysmon names are renamed to theirs (``Image`` →
  ``NewProcessName`` …, ``fieldtables.SECURITY_4688``).
* Every other vendor (Defender, CrowdStrike, ECS, mapped exports, proxies): the
  normalized column that means the same thing (``Image`` → ``image``, ``TargetObject``
  → ``reg_key\\reg_value``, ``DestinationIp`` → the responder's address …), then the
  vendor's raw field for what edrql does not normalize (``OriginalFileName`` →
  Defender ``ProcessVersionInfoOriginalFileName`` …), then a raw field spelled like
  the Sigma field.
* Field names are matched case-insensitively. A field no column of these rows can hold
  (all null there) is ``None``: the engine treats it as absent and says so.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import fieldtables as T
from .logsources import Coverage, raw_value
from ..normalize import to_int

MDE = "Microsoft Defender for Endpoint"
CROWDSTRIKE = "CrowdStrike Falcon"
ECS = "Elastic (ECS)"
_NULL = pa.scalar(None, pa.string())


def _ls_key(ls) -> tuple:
    return (getattr(ls, "category", None), getattr(ls, "product", None), getattr(ls, "service", None))


def _empty(arr) -> bool:
    return arr is None or arr.null_count == len(arr)


def _text(arr):
    if arr is None:
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    return arr if pa.types.is_string(arr.type) else arr.cast(pa.string())


class _At:
    """The table's columns at some rows (taken once per column)."""

    def __init__(self, table: pa.Table, raw_idx: dict, rows: np.ndarray):
        self.table, self.raw_idx = table, raw_idx
        self.idx = pa.array(rows, pa.int64())
        self.n = len(rows)
        self._cache: dict = {}
        self.used: list[str] = []

    def col(self, name: str):
        if name not in self._cache:
            if name not in self.table.column_names:
                self._cache[name] = None
            else:
                c = self.table.column(name).take(self.idx)
                c = c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c
                if pa.types.is_dictionary(c.type):
                    c = c.cast(c.type.value_type)
                self._cache[name] = c
        c = self._cache[name]
        if c is not None and not _empty(c):
            self.used.append(name)
        return c

    def raw(self, *aliases: str):
        names = [n for a in aliases if a for n in self.raw_idx.get(_canon(a), [])]
        vals = [self.col(n) for n in names]
        vals = [_text(v) for v in vals if v is not None and not _empty(v)]
        if not vals:
            return None
        return vals[0] if len(vals) == 1 else pc.coalesce(*vals)

    def mask(self, m: np.ndarray) -> pa.Array:
        return pa.array(m[self.idx.to_numpy()])


def _field_index(idx: dict[str, list[str]]) -> dict[str, list[str]]:
    """Raw names as Sigma spells them too: without blanks (Defender's ``Threat Name`` is
    ``ThreatName``) and, for UserData events, by the leaf name (``UserData.X.Operation``)."""
    out = {k: list(v) for k, v in idx.items()}
    for key, names in idx.items():
        alts = []
        if " " in key:
            alts.append(key.replace(" ", ""))
        if key.startswith("userdata."):
            alts.append(key.rsplit(".", 1)[-1])
        for a in alts:
            lst = out.setdefault(a, [])
            lst += [n for n in names if n not in lst]
    return out


def _canon(name: str) -> str:
    from ..profiles.winevent import canon
    return canon(name)


class Fields:
    """Sigma's view of an events table (normalized + ``raw.*`` columns)."""

    def __init__(self, table: pa.Table):
        self.table = table
        self.cov = Coverage(table)
        self.raw = _field_index(self.cov.raw)
        self._rows: dict[tuple, np.ndarray] = {}
        self._used: dict[tuple, list[str]] = {}
        self._at: tuple | None = None
        self._is4688 = self.cov.security & (self.cov.eid == 4688)
        self._is5156 = self.cov.security & (self.cov.eid == 5156)

    # ------------------------------------------------------------------ contract
    def rows(self, ls) -> np.ndarray:
        key = _ls_key(ls)
        if key not in self._rows:
            self._rows[key] = np.flatnonzero(self.cov.mask(*key)).astype(np.int64)
        return self._rows[key]

    def why_none(self, ls) -> str:
        return self.cov.why_none(*_ls_key(ls))

    def values(self, field: str, rows: np.ndarray, ls) -> pa.Array | None:
        rows = np.asarray(rows, dtype=np.int64)
        f = field.lower()
        cat = (getattr(ls, "category", None) or "").lower()
        win = self.cov.windows_log[rows]
        parts = []   # (positions in rows, values)
        used: list[str] = []
        for sel, fn in ((win, self._windows), (~win, self._generic)):
            if not sel.any():
                continue
            pos = np.flatnonzero(sel) if not sel.all() else None
            sub = rows if pos is None else rows[pos]
            at = self._take(sub)
            v = fn(f, at, sub, cat)
            if v is not None and isinstance(v, pa.ChunkedArray):
                v = v.combine_chunks()
            used += [u for u in at.used if u not in used]
            at.used.clear()
            if not _empty(v):
                parts.append((pos, v))
        self._used[(f, _ls_key(ls))] = used
        if not parts:
            return None
        if len(parts) == 1 and parts[0][0] is None:
            return parts[0][1]
        return _assemble(parts, len(rows))

    def column_of(self, field: str, ls) -> str:
        used = self._used.get((field.lower(), _ls_key(ls)))
        if used is None:
            self.values(field, self.rows(ls), ls)
            used = self._used.get((field.lower(), _ls_key(ls))) or []
        used = [u for u in used if u != "vendor"]
        return ", ".join(used) if used else "(no column)"

    def keyword_columns(self) -> list[str]:
        """Every raw text column (a keyword searches the whole event as the vendor wrote it)."""
        out = []
        for name, typ in zip(self.table.column_names, self.table.schema.types):
            if not name.startswith("raw."):
                continue
            t = typ.value_type if pa.types.is_dictionary(typ) else typ
            if pa.types.is_string(t) or pa.types.is_large_string(t):
                out.append(name)
        return out

    # ------------------------------------------------------------------ resolvers
    def _take(self, rows: np.ndarray) -> _At:
        # the engine asks field after field for one group's rows: reuse the takes
        if self._at is not None and self._at[0] is rows:
            return self._at[1]
        at = _At(self.table, self.raw, rows)
        self._at = (rows, at)
        return at

    def _windows(self, f: str, at: _At, rows: np.ndarray, cat: str):
        if f in T.WINDOWS_SYSTEM:
            v = at.raw(*T.WINDOWS_SYSTEM[f])
            if f in T.NUMERIC and v is not None:
                return to_int(v)
            return v
        v = at.raw(f)
        i4688, i5156 = self._is4688[rows], self._is5156[rows]
        if f in T.SECURITY_4688 and i4688.any():
            alt = at.raw(T.SECURITY_4688[f])
            if f == "integritylevel" and alt is not None:
                alt = _lookup(pc.utf8_upper(alt), T.INTEGRITY_SIDS)
            v = _pick(pa.array(i4688), alt, v)
        elif f == "user" and i4688.any():
            v = _pick(pa.array(i4688), at.col("user"), v)
        if f in T.SECURITY_5156 and i5156.any():
            v = _pick(pa.array(i5156), at.raw(T.SECURITY_5156[f]), v)
        elif f == "initiated" and i5156.any():
            out = pc.if_else(pc.equal(at.col("event"), "network_accept"), pa.scalar("false"), pa.scalar("true"))
            v = _pick(pa.array(i5156), out, v)
        if v is None and f in ("md5", "sha1", "sha256", "imphash"):
            v = _hash_of(at.raw("Hashes", "Hash"), f)
        return v

    def _generic(self, f: str, at: _At, rows: np.ndarray, cat: str):
        fn = _GENERIC.get(f)
        v = fn(at) if fn is not None else None
        if _empty(v):
            v = _vendor_raw(f, at)
        if _empty(v):
            v = at.raw(f)
        return v


# ---------------------------------------------------------------------- helpers
def _assemble(parts, n: int) -> pa.Array:
    types = {p[1].type for p in parts}
    if len(types) > 1:
        parts = [(pos, _text(v)) for pos, v in parts]
    order = np.concatenate([p[0] for p in parts])
    vals = pa.concat_arrays([p[1] for p in parts])
    if len(order) < n:    # a group without values: nulls at its positions
        missing = np.setdiff1d(np.arange(n), order)
        order = np.concatenate([order, missing])
        vals = pa.concat_arrays([vals, pa.nulls(len(missing), vals.type)])
    inv = np.empty(n, dtype=np.int64)
    inv[order] = np.arange(n)
    return vals.take(pa.array(inv))


def _pick(cond: pa.Array, a, b):
    if a is None:
        a = pa.nulls(len(cond), pa.string())
    if b is None:
        b = pa.nulls(len(cond), a.type)
    if a.type != b.type:
        a, b = _text(a), _text(b)
    return pc.if_else(cond, a, b)


def _lookup(arr: pa.Array, table: dict[str, str]) -> pa.Array:
    keys = pa.array(list(table), pa.string())
    vals = pa.array(list(table.values()), pa.string())
    i = pc.index_in(arr, value_set=keys)
    return pc.coalesce(pc.take(vals, i), arr)


def _hash_of(hashes, algo: str):
    if hashes is None:
        return None
    m = pc.extract_regex(hashes, rf"(?i)(?:^|[,;\s]){algo}=(?P<h>[0-9a-f]+)")
    return pc.struct_field(m, "h")


def _event_is(at: _At, *events: str) -> pa.Array:
    ev = at.col("event")
    if ev is None:
        return pa.array(np.zeros(at.n, dtype=bool))
    return pc.fill_null(pc.is_in(ev, value_set=pa.array(list(events))), False)


def _only(at: _At, name: str, *events: str):
    v = at.col(name)
    if v is None:
        return None
    return pc.if_else(_event_is(at, *events), v, pa.nulls(at.n, v.type))


def _registry_target(at: _At):
    key, val = at.col("reg_key"), at.col("reg_value")
    if key is None:
        return None
    if val is None or _empty(val):
        return key
    has = pc.fill_null(pc.not_equal(val, ""), False)
    joined = pc.binary_join_element_wise(key, val, "\\")
    return pc.if_else(has, joined, key)


def _registry_event_type(at: _At):
    ev = at.col("event")
    if ev is None:
        return None
    val = at.col("reg_value")
    has_val = pc.fill_null(pc.is_valid(val), False) if val is not None else pa.array(np.zeros(at.n, bool))
    delete = pc.if_else(has_val, pa.scalar("DeleteValue"), pa.scalar("DeleteKey"))
    out = pc.case_when(pc.make_struct(pc.equal(ev, "registry_set"), pc.equal(ev, "registry_create"),
                                      pc.equal(ev, "registry_delete")),
                       pa.scalar("SetValue"), pa.scalar("CreateKey"), delete)
    return out


def _registry_details(at: _At):
    """reg_data, with Defender's DWORD/QWORD numbers written as Sysmon writes them
    (``DWORD (0x00000001)``, ``QWORD (0x00000000-0x00000001)``): rules compare that text."""
    data = at.col("reg_data")
    kind = at.raw("RegistryValueType")
    if data is None or kind is None:
        return data
    kind = pc.utf8_lower(kind)
    num = to_int(data)
    is_d = pc.fill_null(pc.and_(pc.equal(kind, "dword"), pc.is_valid(num)), False)
    is_q = pc.fill_null(pc.and_(pc.equal(kind, "qword"), pc.is_valid(num)), False)
    if not (pc.any(is_d).as_py() or pc.any(is_q).as_py()):
        return data
    # the distinct numbers only (no vector hex formatting in Arrow)
    enc = pc.dictionary_encode(pc.if_else(pc.or_(is_d, is_q), num, pa.scalar(None, pa.int64())))
    nums = enc.dictionary.to_pylist()
    d_txt = pa.array([f"DWORD (0x{v & 0xFFFFFFFF:08x})" for v in nums], pa.string())
    q_txt = pa.array([f"QWORD (0x{(v >> 32) & 0xFFFFFFFF:08x}-0x{v & 0xFFFFFFFF:08x})" for v in nums],
                     pa.string())
    out = pc.if_else(is_d, pc.take(d_txt, enc.indices), data)
    return pc.if_else(is_q, pc.take(q_txt, enc.indices), out)


def _json_key(at: _At, column: str, key: str):
    """A string (or the list of strings, joined with ';') under ``key`` in a JSON text column."""
    txt = at.raw(column)
    if txt is None:
        return None
    m = pc.struct_field(pc.extract_regex(txt, rf'"{key}"\s*:\s*(?P<v>"(?:[^"\\]|\\.)*"|\[[^\]]*\])'), "v")
    m = pc.replace_substring_regex(pc.replace_substring_regex(m, r'^\[\s*|\s*\]$', ""), r'^"|"$', "")
    return pc.replace_substring_regex(m, r'"\s*,\s*"', ";")


def _hashes(at: _At):
    """Sysmon-style ``SHA1=…,MD5=…,SHA256=…`` from separate hash columns."""
    parts = []
    for label, arr in (("SHA1", _vendor_raw("sha1", at)), ("MD5", at.col("md5")), ("SHA256", at.col("sha256"))):
        if arr is None or _empty(arr):
            continue
        parts.append(pc.binary_join_element_wise(pa.scalar(label + "="), pc.utf8_upper(arr), ""))
    if not parts:
        return None
    # not binary_join_element_wise(..., null_handling="skip"): pyarrow 26 drops the rows where
    # every part is null (a shorter array), so the parts are joined pairwise
    out = parts[0]
    for p in parts[1:]:
        out = pc.if_else(pc.is_null(out), p, pc.if_else(pc.is_null(p), out, pc.binary_join_element_wise(out, p, ",")))
    return out


def _accept(at: _At) -> pa.Array:
    return _event_is(at, "network_accept")


def _dir(at: _At, when_out: str, when_in: str):
    a, b = at.col(when_out), at.col(when_in)
    if a is None or b is None:
        return a if b is None else b
    return pc.if_else(_accept(at), b, a)


def _initiated(at: _At):
    net = _event_is(at, "network_connect", "network_accept")
    out = pc.if_else(_accept(at), pa.scalar("false"), pa.scalar("true"))
    return pc.if_else(net, out, _NULL)


def _url_part(at: _At, pattern: str):
    url = at.col("url")
    if url is None:
        return None
    m = pc.extract_regex(url, pattern)
    return pc.struct_field(m, "p")


_URL_PATH = r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*)?(?P<p>[^?#]*)"
_URL_QUERY = r"^[^?#]*(?P<p>\?[^#]*)"
_URL_EXT = r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*)?[^?#]*/[^/?#]*\.(?P<p>[^./?#]+)(?:[?#]|$)"

_FILE_EVENTS = ("file_create", "file_modify", "file_delete", "file_rename")

#: Sigma field (lower case) → its value over the normalized columns (non-Windows vendors)
_GENERIC = {
    "image": lambda a: a.col("image"),
    "processname": lambda a: a.col("image"),
    "sourceimage": lambda a: a.col("image"),
    "commandline": lambda a: a.col("cmdline"),
    "parentimage": lambda a: a.col("pimage"),
    "parentcommandline": lambda a: a.col("pcmdline"),
    "user": lambda a: a.col("user"),
    "processid": lambda a: a.col("pid"),
    "parentprocessid": lambda a: a.col("ppid"),
    "processguid": lambda a: a.col("puid"),
    "parentprocessguid": lambda a: a.col("ppuid"),
    "md5": lambda a: a.col("md5"),
    "sha256": lambda a: a.col("sha256"),
    "hashes": _hashes,
    "targetfilename": lambda a: _only(a, "path", *_FILE_EVENTS),
    "sourcefilename": lambda a: _only(a, "path_old", "file_rename"),
    "imageloaded": lambda a: _only(a, "path", "image_load"),
    "targetobject": _registry_target,
    "objectname": _registry_target,
    "details": lambda a: _registry_details(a),
    "eventtype": _registry_event_type,
    "destinationip": lambda a: _dir(a, "raddr", "laddr"),
    "destinationport": lambda a: _dir(a, "rport", "lport"),
    "sourceip": lambda a: _dir(a, "laddr", "raddr"),
    "sourceport": lambda a: _dir(a, "lport", "rport"),
    "destinationhostname": lambda a: pc.if_else(_accept(a), _NULL, _text(a.col("domain"))),
    "sourcehostname": lambda a: pc.if_else(_accept(a), _text(a.col("domain")), _NULL),
    "initiated": _initiated,
    "protocol": lambda a: a.col("proto"),
    "queryname": lambda a: a.col("dns_query"),
    "query": lambda a: a.col("dns_query"),
    "queryresults": lambda a: a.col("dns_answer"),
    "answer": lambda a: a.col("dns_answer"),
    "computer": lambda a: a.col("host"),
    "computername": lambda a: a.col("host"),
    # proxy / webserver taxonomy
    "c-uri": lambda a: a.col("url"),
    "cs-uri": lambda a: a.col("url"),
    "c-uri-stem": lambda a: _url_part(a, _URL_PATH),
    "cs-uri-stem": lambda a: _url_part(a, _URL_PATH),
    "c-uri-query": lambda a: _url_part(a, _URL_QUERY),
    "cs-uri-query": lambda a: _url_part(a, _URL_QUERY),
    "c-uri-extension": lambda a: _url_part(a, _URL_EXT),
    "cs-host": lambda a: a.col("domain"),
    "r-dns": lambda a: a.col("domain"),
    "c-useragent": lambda a: a.col("user_agent"),
    "cs-user-agent": lambda a: a.col("user_agent"),
    "cs-method": lambda a: a.col("http_method"),
    "sc-status": lambda a: a.col("http_status"),
    "c-ip": lambda a: a.col("laddr"),
    "src_ip": lambda a: a.col("laddr"),
    "dst_ip": lambda a: a.col("raddr"),
    "cs-bytes": lambda a: a.col("bytes_out"),
    "sc-bytes": lambda a: a.col("bytes_in"),
}


def _vendor_raw(f: str, at: _At):
    """A vendor's raw field for what edrql does not normalize."""
    vendor = at.col("vendor")
    out = None
    for name, table in ((MDE, None), (CROWDSTRIKE, T.CROWDSTRIKE_RAW), (ECS, T.ECS_RAW)):
        if name == MDE:
            spec = T.MDE_RAW.get(f)
            if spec is None:
                continue
            is_ps = _event_is(at, "process_start")
            v = _pick(is_ps, at.raw(spec[0]) if spec[0] else None, at.raw(spec[1]) if spec[1] else None)
        else:
            if f not in table:
                continue
            v = at.raw(*table[f])
        if _empty(v):
            continue
        mine = pc.fill_null(pc.equal(vendor, name), False) if vendor is not None else None
        v = pc.if_else(mine, v, pa.nulls(at.n, v.type)) if mine is not None else v
        out = v if out is None else pc.coalesce(out, v)
    if f in ("queryname", "queryresults"):   # Defender DnsConnectionInspected: AdditionalFields JSON
        v = _json_key(at, "AdditionalFields", "query" if f == "queryname" else "answers")
        if not _empty(v):
            mine = pc.fill_null(pc.equal(vendor, MDE), False) if vendor is not None else None
            v = pc.if_else(mine, v, pa.nulls(at.n, v.type)) if mine is not None else v
            out = v if out is None else pc.coalesce(out, v)
    if f in T.PROXY_RAW:
        v = at.raw(*T.PROXY_RAW[f])
        if not _empty(v):
            out = v if out is None else pc.coalesce(out, v)
    return out


__all__ = ["Fields", "raw_value"]
