"""Mapping files: describe any other export (SentinelOne, Carbon Black, Trend, in-house)
in a small TOML file and get a profile for it.

Format (every key below is optional unless marked *required*)::

    name = "sentinelone-sdl"           # profile name (default: the file name without .toml)
    vendor = "SentinelOne"             # vendor text stored in every row (default: name)
    description = "..."

    [time]                             # *required*
    field = "event.time"               # or a list of candidates: first non-blank value wins
    format = "epoch_ms"                # see TIME_FORMATS (default "iso")
    tz = "UTC"                         # zone of zone-less iso values; the field's own definition,
                                       # it wins over --tz (default: --tz, else UTC)

    [fields]                           # normalized column = source column(s)
    host = "endpoint.name"
    pid = ["src.process.pid", "pid"]   # candidates, first non-blank wins
    pstart = { field = "src.process.startTime", format = "epoch_ms" }
    puid = { join = ["agent.uuid", "src.process.uid"], sep = ":" }
    sha256 = { field = "process_hash", regex = '[0-9a-fA-F]{64}' }
    proto = { field = "proto", map = { "6" = "tcp" } }

    [event]                            # the normalized event type
    field = "event.type"               # raw value → [event.map] (case-insensitive) → else default
    default = "other"
    # value = "network_connect"        # instead of field: every row is this event
    [event.map]
    "Process Creation" = "process_start"
    [[event.refine]]                   # applied in order after the map
    from = "network_connect"           # only rows currently of this event (optional)
    field = "event.network.direction"
    equals = "INCOMING"                # case-insensitive; a list means any of them
    # matches = "ACTION_FILE_DELETE"   # or a regex searched in the value
    to = "network_accept"

    [when.process_start]               # per-event overrides: for rows of that event these
    pid = "tgt.process.pid"            # specs replace [fields] (no fallback to [fields])

    [dedup]
    key = ["event.id"]                 # raw fields identifying a record (else: whole record)

    [detect]
    require = ["event.time", "agent.uuid"]   # extra columns that must be present

A field spec is a column name, a list of candidate names, or a table with:
``field`` (name or list), ``join`` (list of names joined with ``sep``, default ``\\``;
null parts are skipped; the result is null when the *last* part is null, unless
``require = "any"`` or ``"all"``), ``value`` (a constant), ``regex`` (search; the
whole match or the group named ``(?P<v>...)``), ``map`` (value → value,
case-insensitive, unmapped values kept), and for time fields ``format``/``tz``.
Integer fields (pid, ppid, lport, rport, http_status) take decimal or ``0x`` hex
and unwrap one-element lists (``[868]``); ``reg_key`` roots are normalized
(``\\REGISTRY\\MACHINE``, ``HKEY_LOCAL_MACHINE``, ``MACHINE`` → ``HKLM``); ``proto``
is lower-cased, ``PROTO_``/``IPPROTO_`` prefixes dropped and IANA numbers named.
``action`` defaults to the raw value of the ``[event]`` field.
"""
from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from ..normalize import (Ctx, Normalized, blank_to_null, col, lookup, nulls, parse_time, pick,
                         reg_key, to_int)
from ..readers.base import SourceError
from ..schema import COLUMNS, EVENT_TYPES, TS

# ====================================================================== time formats
TIME_FORMATS = {
    "iso": "ISO-8601 text; an explicit zone is honoured, zone-less values use tz",
    "auto": "epoch digits (unit by magnitude) or else ISO-8601 text",
    "epoch": "Unix epoch, unit by magnitude: <=10 digits s, 11-13 ms, 14-16 us, 17-18 FILETIME, 19 ns",
    "epoch_s": "Unix epoch seconds (fraction allowed)",
    "epoch_ms": "Unix epoch milliseconds",
    "epoch_us": "Unix epoch microseconds",
    "epoch_ns": "Unix epoch nanoseconds",
    "filetime": "Windows FILETIME, decimal (100 ns since 1601)",
    "filetime_hex": "Windows FILETIME, hexadecimal with or without 0x",
}

_NS_PER = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_I64 = 2**63 - 1
_FT_EPOCH = 116444736000000000   # 1970-01-01 in FILETIME
_NULL_S = pa.scalar(None, pa.string())


def _trim(arr: pa.Array) -> pa.Array:
    arr = blank_to_null(arr)
    return pc.utf8_trim_whitespace(arr) if arr.null_count < len(arr) else arr


def _zero_to_null(arr: pa.Array) -> pa.Array:
    """"0" / "0.000" mean "no time" in vendor exports."""
    z = pc.fill_null(pc.match_substring_regex(arr, r"^0+(\.0*)?$"), False)
    return pc.if_else(z, _NULL_S, arr)


def _int_digits(arr: pa.Array) -> pa.Array:
    return pc.utf8_length(pc.replace_substring_regex(arr, r"\..*$", ""))


def epoch_to_ts(arr: pa.Array, unit: str) -> pa.Array:
    """Epoch text in ``unit`` (s, ms, us, ns; fraction allowed) → timestamp[ns, UTC].

    Exact to the nanosecond (no floating point). Values that are not numbers, zero,
    or out of the timestamp range become null — never an exception.
    """
    mult = _NS_PER[unit]
    s = _zero_to_null(_trim(arr))
    ok = pc.fill_null(pc.match_substring_regex(s, r"^\d{1,19}(\.\d*)?$"), False)
    s = pc.if_else(ok, s, _NULL_S)
    ip_text = pc.replace_substring_regex(s, r"\..*$", "")
    # 19 digits may exceed int64: compare as text (same length → lexicographic order)
    fits = pc.or_(pc.less(pc.utf8_length(ip_text), 19),
                  pc.less_equal(ip_text, str(_I64)))
    ip_text = pc.if_else(pc.fill_null(fits, False), ip_text, _NULL_S)
    ip = pc.cast(ip_text, pa.int64())
    frac = pc.replace_substring_regex(s, r"^\d+\.?", "")
    frac9 = pc.cast(pc.utf8_slice_codeunits(pc.utf8_rpad(frac, 9, "0"), 0, 9), pa.int64())
    in_range = pc.fill_null(pc.less_equal(ip, _I64 // mult - 1), False)
    ip = pc.if_else(in_range, ip, pa.scalar(None, pa.int64()))
    ns = pc.add(pc.multiply(ip, mult), pc.divide(pc.multiply(frac9, mult), 10**9))
    return pc.cast(ns, TS)


def filetime_to_ts_safe(arr: pa.Array, hexadecimal: bool = False) -> pa.Array:
    """FILETIME text (decimal, or hex with/without 0x) → timestamp[ns, UTC]; zero and
    out-of-range values → null."""
    s = _zero_to_null(_trim(arr))
    if hexadecimal:
        bare = pc.replace_substring_regex(s, r"^0[xX]", "")
        s = pc.binary_join_element_wise(pa.scalar("0x"), bare, "")
    v = to_int(s)
    lo, hi = _FT_EPOCH - _I64 // 100, _FT_EPOCH + _I64 // 100
    ok = pc.fill_null(pc.and_(pc.greater(v, 0), pc.and_(pc.greater_equal(v, lo), pc.less_equal(v, hi))),
                      False)
    v = pc.if_else(ok, v, pa.scalar(None, pa.int64()))
    return pc.cast(pc.multiply(pc.subtract(v, _FT_EPOCH), 100), TS)


def epoch_auto(arr: pa.Array) -> pa.Array:
    """Epoch text whose unit is decided by the number of integer digits (a guard for
    fields documented as one unit but sometimes written in another):
    <=10 s, 11-13 ms, 14-16 us, 17-18 FILETIME (> 0x0100000000000000 in practice), 19 ns."""
    s = _zero_to_null(_trim(arr))
    num = pc.fill_null(pc.match_substring_regex(s, r"^\d{1,19}(\.\d*)?$"), False)
    s = pc.if_else(num, s, _NULL_S)
    d = _int_digits(s)
    out = nulls(len(arr), TS)

    def band(lo: int, hi: int) -> pa.Array:
        m = pc.fill_null(pc.and_(pc.greater_equal(d, lo), pc.less_equal(d, hi)), False)
        return pc.if_else(m, s, _NULL_S)

    for lo, hi, conv in ((1, 10, lambda a: epoch_to_ts(a, "s")),
                         (11, 13, lambda a: epoch_to_ts(a, "ms")),
                         (14, 16, lambda a: epoch_to_ts(a, "us")),
                         (17, 18, lambda a: filetime_to_ts_safe(pc.replace_substring_regex(a, r"\..*$", ""))),
                         (19, 19, lambda a: epoch_to_ts(a, "ns"))):
        part = band(lo, hi)
        if part.null_count < len(part):
            out = pc.coalesce(out, conv(part))
    return out


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def clean_iso(arr: pa.Array) -> pa.Array:
    """Bring common near-ISO spellings to ISO-8601 (vectorized):
    Go/Carbon Black ``2022-02-10 11:50:51.6 +0000 UTC`` → ``…11:50:51.6+0000``;
    a space before the offset; Kibana ``Jun 29, 2020 @ 14:00:00.000`` → ``2020-06-29T14:00:00.000``."""
    arr = _trim(arr)
    if arr.null_count == len(arr):
        return arr
    arr = pc.replace_substring_regex(arr, r"(\d)\s*([+-]\d\d:?\d\d)\s+(UTC|GMT|[A-Z]{3,5})$", r"\1\2")
    arr = pc.replace_substring_regex(arr, r"(\d)\s+([+-]\d\d:?\d\d)$", r"\1\2")
    kib = pc.fill_null(pc.match_substring_regex(arr, r"^[A-Z][a-z]{2} \d{1,2}, \d{4} @ "), False)
    if pc.any(kib).as_py():
        for i, m in enumerate(_MONTHS, 1):
            arr = pc.replace_substring_regex(arr, rf"^{m} (\d), (\d{{4}}) @ ", rf"\2-{i:02d}-0\1T")
            arr = pc.replace_substring_regex(arr, rf"^{m} (\d\d), (\d{{4}}) @ ", rf"\2-{i:02d}-\1T")
    return arr


def parse_as(arr: pa.Array, fmt: str, ctx: Ctx, tz: str | None = None) -> tuple[pa.Array, str]:
    """Time text in a named format (TIME_FORMATS) → (timestamp[ns, UTC], decision in words)."""
    if fmt == "iso":
        return parse_time(clean_iso(arr), ctx, assume=tz)
    if fmt == "auto":
        t = _trim(arr)
        num = pc.fill_null(pc.match_substring_regex(t, r"^\d+(\.\d*)?$"), False)
        ep = epoch_auto(pc.if_else(num, t, _NULL_S))
        if pc.all(pc.or_(num, pc.is_null(t))).as_py():
            return ep, "epoch values (unit by magnitude), UTC by definition"
        iso, why = parse_time(clean_iso(pc.if_else(num, _NULL_S, t)), ctx, assume=tz)
        return pc.coalesce(ep, iso), ("epoch values UTC by definition; " + why
                                      if pc.any(num).as_py() else why)
    if fmt == "epoch":
        return epoch_auto(arr), "epoch values (unit by magnitude), UTC by definition"
    if fmt.startswith("epoch_"):
        return epoch_to_ts(arr, fmt[6:]), f"{fmt} values, UTC by definition"
    if fmt in ("filetime", "filetime_hex"):
        return filetime_to_ts_safe(arr, fmt == "filetime_hex"), "FILETIME values, UTC by definition"
    raise ValueError(fmt)


# ====================================================================== value helpers
_PROTO_NUM = {"1": "icmp", "2": "igmp", "6": "tcp", "17": "udp", "47": "gre", "50": "esp",
              "58": "icmpv6", "132": "sctp"}


def proto_name(arr: pa.Array) -> pa.Array:
    """Protocol text → lower-case name: ``6`` → tcp, ``PROTO_UDP`` → udp, ``TCP`` → tcp."""
    a = pc.utf8_lower(_trim(arr))
    a = pc.replace_substring_regex(a, r"^(ip)?proto_", "")
    return pc.coalesce(lookup(a, _PROTO_NUM), a)


def join_skip(parts: list[pa.Array], sep: str) -> pa.Array:
    """Row-wise join of the non-null parts (null when all are null).

    Not ``binary_join_element_wise(null_handling="skip")``: in pyarrow 26 that drops
    the rows whose parts are all null, returning a shorter array.
    """
    acc = parts[0]
    for p in parts[1:]:
        acc = pc.coalesce(pc.binary_join_element_wise(acc, p, sep), acc, p)
    return acc


def unwrap_list(arr: pa.Array) -> pa.Array:
    """A one-element JSON list ``[868]`` / ``["x"]`` → its element (simple values only)."""
    return pc.replace_substring_regex(arr, r'^\[\s*"?([^",\[\]]*?)"?\s*\]$', r"\1")


# ====================================================================== the file format
_INT_FIELDS = {n for n, t, _ in COLUMNS if t == pa.int64()} - {"record"}
_TIME_FIELDS = {n for n, t, _ in COLUMNS if t == TS} - {"ts"}
_RESERVED = {"ts": "the event time is set in [time]",
             "event": "the event type is set in [event]",
             "vendor": "vendor is a top-level key",
             "source": "source is set by edrql (the file name)",
             "record": "record is set by edrql (the record number)"}
MAPPABLE = [n for n, _, _ in COLUMNS if n not in _RESERVED]
_ALIASES = {"command_line": "cmdline", "commandline": "cmdline", "cmd": "cmdline",
            "hostname": "host", "computer": "host", "computername": "host", "device": "host",
            "process_id": "pid", "processid": "pid", "parent_pid": "ppid", "parent_process_id": "ppid",
            "process_guid": "puid", "guid": "puid", "entity_id": "puid", "parent_guid": "ppuid",
            "parent_image": "pimage", "parent_cmdline": "pcmdline", "parent_command_line": "pcmdline",
            "username": "user", "account": "user", "hash": "sha256", "sha_256": "sha256",
            "src_ip": "laddr", "source_ip": "laddr", "local_ip": "laddr", "dst_ip": "raddr",
            "dest_ip": "raddr", "destination_ip": "raddr", "remote_ip": "raddr",
            "src_port": "lport", "source_port": "lport", "local_port": "lport",
            "dst_port": "rport", "dest_port": "rport", "destination_port": "rport",
            "remote_port": "rport", "protocol": "proto", "query": "dns_query",
            "registry_key": "reg_key", "key": "reg_key", "timestamp": "ts", "time": "ts",
            "filename": "path", "file_path": "path", "start_time": "pstart", "method": "http_method",
            "status": "http_status", "old_path": "path_old"}

_TOP = {"name", "vendor", "description", "time", "fields", "event", "when", "dedup", "detect"}
_SPEC_KEYS = {"field", "join", "sep", "require", "value", "regex", "map", "format", "tz"}


def _hint(word: str, choices, aliases: dict | None = None) -> str:
    if aliases and word.lower() in aliases:
        target = aliases[word.lower()]
        if target in _RESERVED:
            return f" ({_RESERVED[target]})"
        return f" (did you mean {target!r}?)"
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return ""


@dataclass
class Spec:
    key: str                             # "fields.pid" — for messages
    fields: list[str] = field(default_factory=list)
    join: list[str] | None = None
    sep: str = "\\"
    require: str = "last"
    value: str | None = None
    regex: str | None = None
    map: dict[str, str] | None = None
    format: str | None = None
    tz: str | None = None

    def columns(self) -> list[str]:
        return list(self.fields) + list(self.join or [])


@dataclass
class Refine:
    key: str
    field: str
    to: str
    frm: str | None = None
    equals: list[str] | None = None
    matches: str | None = None


class MappingProfile:
    """A profile described by a mapping file (same protocol as the built-in profiles)."""

    def __init__(self, path: str, name: str, vendor: str, time: Spec, fields: dict[str, Spec],
                 event_fields: list[str], event_value: str | None, event_map: dict[str, str],
                 event_default: str, refine: list[Refine], when: dict[str, dict[str, Spec]],
                 dedup_key: list[str] | None, require: list[str]):
        self.path = path
        self.name = name
        self.vendor = vendor
        self.time = time
        self.fields = fields
        self.event_fields = event_fields
        self.event_value = event_value
        self.event_map = event_map
        self.event_default = event_default
        self.refine = refine
        self.when = when
        self.dedup_key = dedup_key
        self.require = require

    def __repr__(self) -> str:
        return f"<mapping profile {self.name!r} from {self.path}>"

    # ------------------------------------------------------------ detect
    def detect(self, columns: set[str]) -> int:
        if not any(c in columns for c in self.time.columns()):
            return 0
        host = self.fields.get("host")
        if host is not None and host.columns() and not any(c in columns for c in host.columns()):
            return 0
        if not all(c in columns for c in self.require):
            return 0
        used = {c for s in self._all_specs() for c in s.columns()} | set(self.event_fields)
        return 100 + len(used & columns)

    def _all_specs(self):
        yield self.time
        yield from self.fields.values()
        for specs in self.when.values():
            yield from specs.values()

    # ------------------------------------------------------------ normalize
    def normalize(self, raw: pa.Table, ctx: Ctx) -> Normalized:
        n = raw.num_rows
        if self.time.value is None and not any(c in raw.column_names for c in self.time.columns()):
            shown = ", ".join(raw.column_names[:12]) + (" …" if raw.num_columns > 12 else "")
            raise SourceError(f"mapping {self.path}: [time] column {' / '.join(self.time.columns())} "
                              f"is not in this source (its columns: {shown})")
        ts, tzd = parse_as(self._text(raw, self.time), self.time.format or "iso", ctx,
                           self.time.tz)
        src = "/".join(self.time.fields)
        tzd = f"{src}: {tzd}" if src else tzd

        # event type
        if self.event_value is not None:
            event = pa.array([self.event_value] * n, pa.string()) if n else nulls(0)
            action_raw = nulls(n)
        else:
            action_raw = col(raw, *self.event_fields)
            event = lookup(action_raw, self.event_map, self.event_default) if self.event_map \
                else pc.fill_null(pc.cast(nulls(n), pa.string()), self.event_default)
        for r in self.refine:
            v = col(raw, r.field)
            if r.equals is not None:
                cond = pc.is_in(pc.utf8_lower(v), value_set=pa.array([e.lower() for e in r.equals]))
            else:
                cond = pc.match_substring_regex(v, r.matches)
            cond = pc.fill_null(cond, False)
            if r.frm is not None:
                cond = pc.and_(cond, pc.fill_null(pc.equal(event, r.frm), False))
            event = pick(cond, pa.array([r.to] * n, pa.string()) if n else nulls(0), event)

        out: dict[str, pa.Array] = {"ts": ts, "event": event}
        names = set(self.fields) | {f for specs in self.when.values() for f in specs}
        for name in names:
            base = self.fields.get(name)
            value = self._value(raw, name, base, ctx) if base else None
            for ev, specs in self.when.items():
                if name in specs:
                    over = self._value(raw, name, specs[name], ctx)
                    is_ev = pc.equal(event, ev)
                    value = pick(is_ev, over, value if value is not None else nulls(n, over.type))
            out[name] = value
        if "action" not in out:
            out["action"] = action_raw
        return Normalized(out, tzd)

    def _text(self, raw: pa.Table, spec: Spec) -> pa.Array:
        n = raw.num_rows
        if spec.value is not None:
            a = pa.array([spec.value] * n, pa.string()) if n else nulls(0)
        elif spec.join:
            parts = [col(raw, c) for c in spec.join]
            if spec.require == "all":
                a = pc.binary_join_element_wise(*parts, spec.sep)
            else:
                a = join_skip(parts, spec.sep)
                a = blank_to_null(a) if spec.require == "any" else \
                    pc.if_else(pc.is_valid(parts[-1]), a, _NULL_S)
        else:
            a = col(raw, *spec.fields)
        if spec.regex is not None and a.null_count < len(a):
            st = pc.extract_regex(a, spec.regex)
            names = [st.type.field(i).name for i in range(st.type.num_fields)]
            part = pc.struct_field(st, names.index("v") if "v" in names else 0)
            a = blank_to_null(pc.if_else(pc.is_valid(st), part, _NULL_S))
        if spec.map:
            a = pc.coalesce(lookup(a, spec.map), a)
        return a

    def _value(self, raw: pa.Table, name: str, spec: Spec, ctx: Ctx) -> pa.Array:
        a = self._text(raw, spec)
        if name in _INT_FIELDS:
            return to_int(unwrap_list(a))
        if name in _TIME_FIELDS:
            fmt = spec.format or self.time.format or "iso"
            return parse_as(a, fmt, ctx, spec.tz or self.time.tz)[0]
        if name == "reg_key":
            return reg_key(a)
        if name == "proto":
            return proto_name(a)
        return a


# ====================================================================== loading
def load(path: str) -> MappingProfile:
    """Read and validate a mapping file; errors raise SourceError naming the file and key."""
    def err(key: str, msg: str) -> SourceError:
        where = f"{path}: {key}: " if key else f"{path}: "
        return SourceError(where + msg)

    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise SourceError(f"{path}: mapping file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise SourceError(f"{path}: not valid TOML: {e}") from None
    except OSError as e:
        raise SourceError(f"{path}: cannot read mapping file: {e.strerror}") from None

    for k in doc:
        if k not in _TOP:
            raise err(k, f"unknown key{_hint(k, _TOP)}; expected one of: {', '.join(sorted(_TOP))}")

    stem = os.path.splitext(os.path.basename(path))[0]
    name = _string(doc.get("name", stem), "name", err)
    vendor = _string(doc.get("vendor", name), "vendor", err)

    # ---- [time]
    if "time" not in doc:
        raise err("time", 'missing [time] table: name the event-time column, e.g.\n'
                          '  [time]\n  field = "event.time"\n  format = "epoch_ms"')
    t = doc["time"]
    if isinstance(t, (str, list)):
        t = {"field": t}
    if not isinstance(t, dict):
        raise err("time", "must be a table with field/format/tz")
    for k in t:
        if k not in ("field", "format", "tz"):
            raise err(f"time.{k}", f"unknown key{_hint(k, ('field', 'format', 'tz'))}")
    if "field" not in t:
        raise err("time.field", "missing: name the event-time column (or a list of candidates)")
    time = _spec(t, "time", err, time_field=True)
    if time.format is None:
        time.format = "iso"

    # ---- [fields]
    fields = _fields(doc.get("fields", {}), "fields", err)

    # ---- [event]
    ev = doc.get("event", {})
    if isinstance(ev, str):
        ev = {"field": ev}
    if not isinstance(ev, dict):
        raise err("event", "must be a table (field, map, default, value, refine)")
    for k in ev:
        if k not in ("field", "map", "default", "value", "refine"):
            raise err(f"event.{k}", f"unknown key{_hint(k, ('field', 'map', 'default', 'value', 'refine'))}")
    event_fields = _names(ev.get("field", []), "event.field", err)
    event_value = ev.get("value")
    if event_value is not None:
        event_value = _event_name(event_value, "event.value", err)
        if event_fields:
            raise err("event", "give either field (with map) or value, not both")
    event_default = _event_name(ev.get("default", "other"), "event.default", err)
    emap = ev.get("map", {})
    if not isinstance(emap, dict):
        raise err("event.map", "must be a table of raw value = event type")
    event_map = {}
    for k, v in emap.items():
        event_map[str(k)] = _event_name(v, f'event.map."{k}"' if not re.match(r"^\w+$", str(k))
                                        else f"event.map.{k}", err)
    if event_map and not event_fields:
        raise err("event.field", "missing: [event.map] needs the column it maps (event.field)")
    refine = []
    rl = ev.get("refine", [])
    if isinstance(rl, dict):
        rl = [rl]
    if not isinstance(rl, list):
        raise err("event.refine", "must be an array of tables ([[event.refine]])")
    for i, r in enumerate(rl):
        key = f"event.refine[{i}]"
        if not isinstance(r, dict):
            raise err(key, "must be a table")
        allowed = ("from", "field", "equals", "matches", "to")
        for k in r:
            if k not in allowed:
                raise err(f"{key}.{k}", f"unknown key{_hint(k, allowed)}")
        for need in ("field", "to"):
            if need not in r:
                raise err(f"{key}.{need}", "missing")
        if ("equals" in r) == ("matches" in r):
            raise err(key, "give exactly one of equals (a value or list) or matches (a regex)")
        eq = r.get("equals")
        if eq is not None:
            eq = [str(x) for x in (eq if isinstance(eq, list) else [eq])]
        m = r.get("matches")
        if m is not None:
            _check_regex(m, f"{key}.matches", err, need_group=False)
        refine.append(Refine(key, _string(r["field"], f"{key}.field", err),
                             _event_name(r["to"], f"{key}.to", err),
                             _event_name(r["from"], f"{key}.from", err) if "from" in r else None,
                             eq, m))

    # ---- [when.<event>]
    when = {}
    w = doc.get("when", {})
    if not isinstance(w, dict):
        raise err("when", "must be tables [when.<event type>]")
    for evname, specs in w.items():
        _event_name(evname, f"when.{evname}", err)
        when[evname] = _fields(specs, f"when.{evname}", err)

    # ---- [dedup], [detect]
    dd = doc.get("dedup", {})
    if not isinstance(dd, dict):
        raise err("dedup", "must be a table with key = [raw field names]")
    for k in dd:
        if k != "key":
            raise err(f"dedup.{k}", f"unknown key{_hint(k, ('key',))}")
    dedup_key = _names(dd["key"], "dedup.key", err) if "key" in dd else None
    dt = doc.get("detect", {})
    if not isinstance(dt, dict):
        raise err("detect", "must be a table with require = [raw field names]")
    for k in dt:
        if k != "require":
            raise err(f"detect.{k}", f"unknown key{_hint(k, ('require',))}")
    require = _names(dt.get("require", []), "detect.require", err)

    return MappingProfile(path, name, vendor, time, fields, event_fields, event_value, event_map,
                          event_default, refine, when, dedup_key or None, require)


def _string(v, key, err) -> str:
    if not isinstance(v, str) or not v:
        raise err(key, f"must be a non-empty string, not {v!r}")
    return v


def _names(v, key, err) -> list[str]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise err(key, f"must be a column name or a list of column names, not {v!r}")
    return list(v)


def _event_name(v, key, err) -> str:
    if v not in EVENT_TYPES:
        raise err(key, f"unknown event type {v!r}{_hint(str(v), EVENT_TYPES)}; "
                       f"expected one of: {', '.join(EVENT_TYPES)}")
    return v


def _check_regex(pattern, key, err, need_group=True):
    if not isinstance(pattern, str) or not pattern:
        raise err(key, "must be a non-empty regular expression")
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise err(key, f"invalid regular expression: {e}") from None
    if need_group and rx.groups > len(rx.groupindex):
        raise err(key, "unnamed groups are not allowed: write (?:...) for grouping and "
                       "(?P<v>...) for the part to keep")
    try:
        if need_group:
            pc.extract_regex(pa.array([], pa.string()), _named(pattern))
        else:
            pc.match_substring_regex(pa.array([], pa.string()), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise err(key, f"regular expression not supported (RE2 syntax): {e}") from None


def _named(pattern: str) -> str:
    """extract_regex needs a named group: wrap a pattern that has none as (?P<v>...)."""
    return pattern if re.compile(pattern).groupindex else f"(?P<v>{pattern})"


def _fields(tbl, where, err) -> dict[str, Spec]:
    if not isinstance(tbl, dict):
        raise err(where, "must be a table of normalized field = source column(s)")
    out = {}
    for name, v in tbl.items():
        key = f"{where}.{name}"
        if name in _RESERVED:
            raise err(key, f"cannot be mapped here: {_RESERVED[name]}")
        if name not in MAPPABLE:
            raise err(key, f"unknown normalized field{_hint(name, MAPPABLE, _ALIASES)}; "
                           f"expected one of: {', '.join(MAPPABLE)}")
        out[name] = _spec(v, key, err, time_field=name in _TIME_FIELDS)
    return out


def _spec(v, key, err, time_field=False) -> Spec:
    if isinstance(v, (str, list)):
        return Spec(key, fields=_names(v, key, err))
    if not isinstance(v, dict):
        raise err(key, f"must be a column name, a list of names, or a table, not {v!r}")
    allowed = _SPEC_KEYS if time_field or key == "time" else _SPEC_KEYS - {"format", "tz"}
    for k in v:
        if k not in allowed:
            extra = " (format/tz apply to time fields only)" if k in ("format", "tz") else \
                _hint(k, allowed)
            raise err(f"{key}.{k}", f"unknown key{extra}")
    sources = [k for k in ("field", "join", "value") if k in v]
    if len(sources) != 1:
        raise err(key, "give exactly one of field (name or list), join (list) or value (constant)")
    s = Spec(key)
    if "field" in v:
        s.fields = _names(v["field"], f"{key}.field", err)
    if "join" in v:
        s.join = _names(v["join"], f"{key}.join", err)
        s.sep = v.get("sep", "\\")
        if not isinstance(s.sep, str):
            raise err(f"{key}.sep", "must be a string")
        s.require = v.get("require", "last")
        if s.require not in ("last", "any", "all"):
            raise err(f"{key}.require", f"must be last, any or all, not {s.require!r}")
    elif "sep" in v or "require" in v:
        raise err(key, "sep/require apply to join only")
    if "value" in v:
        if not isinstance(v["value"], (str, int)):
            raise err(f"{key}.value", "must be a string or number")
        s.value = str(v["value"])
    if "regex" in v:
        _check_regex(v["regex"], f"{key}.regex", err)
        s.regex = _named(v["regex"])
    if "map" in v:
        if not isinstance(v["map"], dict):
            raise err(f"{key}.map", "must be a table of raw value = normalized value")
        s.map = {str(a): str(b) for a, b in v["map"].items()}
    if "format" in v:
        f = v["format"]
        if f not in TIME_FORMATS:
            raise err(f"{key}.format", f"unknown time format {f!r}{_hint(str(f), TIME_FORMATS)}; "
                                       f"expected one of: {', '.join(TIME_FORMATS)}")
        s.format = f
    if "tz" in v:
        tz = v["tz"]
        if not isinstance(tz, str) or not _valid_tz(tz):
            raise err(f"{key}.tz", f"unknown time zone {tz!r} (use an IANA name such as "
                                   "'UTC', 'Asia/Tokyo' or an offset such as '+09:00')")
        s.tz = tz
    return s


def _valid_tz(tz: str) -> bool:
    try:
        pc.assume_timezone(pa.array([0], pa.timestamp("s")), tz)
        return True
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        return False
