"""Sigma fields over edrql's normalized columns: every vendor but the Windows event log.

The resolvers of ``fieldmap.Fields`` for Defender, CrowdStrike, ECS, mapped exports and
proxies (docs/sigma.md, "Fields and logsources"): each takes the columns of a group's rows
(``fieldmap._At``: ``col(name)``, ``raw(*aliases)``, ``n``, ``procs()``) and returns the
Sigma field's values there, or None.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import fieldtables as T
from .logsources import one_chunk
from ..normalize import to_int

MDE = "Microsoft Defender for Endpoint"
CROWDSTRIKE = "CrowdStrike Falcon"
ECS = "Elastic (ECS)"
_NULL = pa.scalar(None, pa.string())


def _empty(arr) -> bool:
    return arr is None or arr.null_count == len(arr)


def _text(arr):
    if arr is None:
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = one_chunk(arr)
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    return arr if pa.types.is_string(arr.type) else arr.cast(pa.string())


def _pick(cond: pa.Array, a, b):
    """a where cond, else b (either may be None: nulls)."""
    if a is not None and b is None and pc.all(cond).as_py():
        return a
    if a is None and b is not None and not pc.any(cond).as_py():
        return b
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


def _event_is(at, *events: str) -> pa.Array:
    def mask():
        ev = at.col("event")
        if ev is None:
            return pa.array(np.zeros(at.n, dtype=bool))
        return pc.fill_null(pc.is_in(ev, value_set=pa.array(list(events))), False)
    return at.memo(("event",) + events, mask)


def _vendor_is(at, name: str):
    """(mask of the rows of this vendor or None, whether that is every row)."""
    def mask():
        vendor = at.col("vendor")
        if vendor is None:
            return None, True
        m = pc.fill_null(pc.equal(vendor, name), False)
        return m, pc.sum(m).as_py() == at.n
    return at.memo(("vendor", name), mask)


def _of_vendor(at, name: str, v):
    """v on the rows of this vendor, null on the others."""
    mine, every = _vendor_is(at, name)
    return v if every or mine is None else pc.if_else(mine, v, pa.nulls(at.n, v.type))


def _only(at, name: str, *events: str):
    v = at.col(name)
    if v is None:
        return None
    return pc.if_else(_event_is(at, *events), v, pa.nulls(at.n, v.type))


def _registry_target(at):
    key, val = at.col("reg_key"), at.col("reg_value")
    if key is None:
        return None
    if val is None or _empty(val):
        return key
    has = pc.fill_null(pc.not_equal(val, ""), False)
    joined = pc.binary_join_element_wise(key, val, "\\")
    return pc.if_else(has, joined, key)


def _registry_event_type(at):
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


def _registry_details(at):
    """reg_data, with Defender's DWORD/QWORD numbers written as Sysmon writes them
    (``DWORD (0x00000001)``, ``QWORD (0x00000000-0x00000001)``): rules compare that text."""
    data = at.col("reg_data")
    kind = at.raw("RegistryValueType")                  # Defender: Dword, Qword …
    cs_kind = at.raw("RegType")                         # CrowdStrike: 4 REG_DWORD, 11 REG_QWORD
    if cs_kind is not None:
        cs_kind = _lookup(cs_kind, {"4": "dword", "11": "qword"})
        kind = cs_kind if kind is None else pc.coalesce(kind, cs_kind)
    ecs_kind = at.raw("registry.data.type")             # ECS: REG_DWORD, REG_QWORD
    if ecs_kind is not None:
        ecs_kind = _lookup(pc.utf8_upper(ecs_kind), {"REG_DWORD": "dword", "REG_QWORD": "qword"})
        kind = ecs_kind if kind is None else pc.coalesce(kind, ecs_kind)
    cs_num = at.raw("RegIntegerValue", "RegNumericValue")
    if cs_num is not None:
        data = cs_num if data is None else pc.coalesce(data, cs_num)
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


def _json_key(at, column: str, key: str):
    """A string (or the list of strings, joined with ';') under ``key`` in a JSON text column."""
    txt = at.raw(column)
    if txt is None:
        return None
    m = pc.struct_field(pc.extract_regex(
        txt, rf'"{key}"\s*:\s*(?P<v>"(?:[^"\\]|\\.)*"|\[[^\]]*\]|-?[0-9][0-9.]*)'), "v")
    m = pc.replace_substring_regex(pc.replace_substring_regex(m, r'^\[\s*|\s*\]$', ""), r'^"|"$', "")
    m = pc.replace_substring(pc.replace_substring(m, '\\"', '"'), "\\\\", "\\")   # JSON escapes
    return pc.replace_substring_regex(m, r'"\s*,\s*"', ";")


def _mde_additional(f: str, at):
    """A Sigma field Defender keeps in AdditionalFields (DeviceEvents, DNS inspection)."""
    v = _json_key(at, "AdditionalFields", T.MDE_ADDITIONAL[f])
    if _empty(v):
        return None
    if f == "pipename":      # \Device\NamedPipe\x → \x, as Sysmon writes it
        v = pc.replace_substring_regex(v, r"(?i)^\\device\\namedpipe", "")
    elif f == "grantedaccess":   # a number → Sysmon's hex text
        num = to_int(v)
        enc = pc.dictionary_encode(num)
        hexes = pa.array([None if x is None else f"0x{x:x}" for x in enc.dictionary.to_pylist()], pa.string())
        v = pc.coalesce(pc.take(hexes, enc.indices), v)
    return v


def _hashes(at):
    """Sysmon-style ``SHA1=…,MD5=…,SHA256=…`` from separate hash columns, built once per
    distinct combination (a dictionary array: the engine encodes nothing more)."""
    cols = [(label, arr) for label, arr in (("SHA1", vendor_raw("sha1", at)), ("MD5", at.col("md5")),
                                            ("SHA256", at.col("sha256"))) if not _empty(arr)]
    if not cols:
        return None

    def build(distinct: list[pa.Array]) -> pa.Array:
        parts = [pc.binary_join_element_wise(pa.scalar(label + "="), pc.utf8_upper(_text(v)), "")
                 for (label, _), v in zip(cols, distinct)]
        # pairwise, not null_handling="skip": pyarrow 26 drops the rows where every part is null
        out = parts[0]
        for p in parts[1:]:
            out = pc.if_else(pc.is_null(out), p, pc.if_else(pc.is_null(p), out, pc.binary_join_element_wise(out, p, ",")))
        return out
    return distinct_map([arr for _, arr in cols], build)


def distinct_map(arrays: list[pa.Array], build) -> pa.Array:
    """``build`` over the distinct combinations of ``arrays`` (row-aligned), as a dictionary
    array over the rows: one string built per combination, not per row. The combination key
    is re-numbered after each array, so it never exceeds the row count (a mixed-radix key of
    three large dictionaries would overflow int64)."""
    n = len(arrays[0])
    key = np.zeros(n, dtype=np.int64)
    for a in arrays:
        enc = a if pa.types.is_dictionary(a.type) else pc.dictionary_encode(a)
        if isinstance(enc, pa.ChunkedArray):
            enc = one_chunk(enc)
        width = len(enc.dictionary) + 1                      # + 1: null
        codes = np.asarray(pc.fill_null(enc.indices, width - 1).to_numpy(zero_copy_only=False), dtype=np.int64)
        _, key = np.unique(key * width + codes, return_inverse=True)
        key = key.astype(np.int64).reshape(-1)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    at = pa.array(first.astype(np.int64))
    distinct = []
    for a in arrays:
        v = a.take(at)
        v = one_chunk(v) if isinstance(v, pa.ChunkedArray) else v
        distinct.append(v.dictionary_decode() if pa.types.is_dictionary(v.type) else v)
    values = build(distinct)
    return pa.DictionaryArray.from_arrays(pa.array(inverse.astype(np.int32).reshape(-1)), values)


def _accept(at) -> pa.Array:
    return _event_is(at, "network_accept")


def _dir(at, when_out: str, when_in: str):
    a, b = at.col(when_out), at.col(when_in)
    if a is None or b is None:
        return a if b is None else b
    return pc.if_else(_accept(at), b, a)


def _initiated(at):
    net = _event_is(at, "network_connect", "network_accept")
    out = pc.if_else(_accept(at), pa.scalar("false"), pa.scalar("true"))
    return pc.if_else(net, out, _NULL)


def _url_part(at, pattern: str):
    url = at.col("url")
    if url is None:
        return None
    m = pc.extract_regex(url, pattern)
    return pc.struct_field(m, "p")


_URL_PATH = r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*)?(?P<p>[^?#]*)"
_URL_QUERY = r"^[^?#]*(?P<p>\?[^#]*)"
_URL_EXT = r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*)?[^?#]*/[^/?#]*\.(?P<p>[^./?#]+)(?:[?#]|$)"

def _image_by_id(at, key: str):
    """The image of the process_start row whose puid is this row's ``key`` (puid/ppuid)."""
    ids = at.col(key)
    if ids is None or _empty(ids) or at.procs is None:
        return None
    puids, images = at.procs()
    if not len(puids):
        return None
    return pc.take(images, pc.index_in(_text(ids), value_set=puids))


def _image(at):
    own = at.col("image")
    if own is not None and own.null_count == 0:
        return own
    joined = _image_by_id(at, "puid")
    if joined is None:
        return own
    return joined if own is None else pc.coalesce(own, joined)


def _parent_image(at):
    """pimage; where it is a bare file name, the parent's own image when its process_start
    row is in the data (linked by the vendor's process id, never by PID)."""
    own = at.col("pimage")
    if own is None or _empty(own):
        return _image_by_id(at, "ppuid")
    bare = pc.invert(pc.fill_null(pc.match_substring_regex(own, r"[\\/]"), True))
    if not pc.any(bare).as_py():
        return own
    joined = _image_by_id(at, "ppuid")
    if joined is None:
        return own
    return pc.if_else(pc.and_(bare, pc.is_valid(joined)), joined, own)


_FILE_EVENTS = ("file_create", "file_modify", "file_delete", "file_rename")

#: Sigma field (lower case) → its value over the normalized columns (non-Windows vendors)
GENERIC = {
    "image": _image,
    "processname": _image,
    "sourceimage": _image,
    "commandline": lambda a: a.col("cmdline"),
    "parentimage": _parent_image,
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


def vendor_raw(f: str, at):
    """A vendor's raw field for what edrql does not normalize."""
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
        v = _of_vendor(at, name, v)
        out = v if out is None else pc.coalesce(out, v)
    if f in T.MDE_ADDITIONAL:
        v = _mde_additional(f, at)
        if not _empty(v):
            v = _of_vendor(at, MDE, v)
            out = v if out is None else pc.coalesce(out, v)
    if f in T.PROXY_RAW:
        v = at.raw(*T.PROXY_RAW[f])
        if not _empty(v):
            out = v if out is None else pc.coalesce(out, v)
    return out
