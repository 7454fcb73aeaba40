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

    proxy = true                       # top-level: rows are proxy / network-sensor records
                                       # (correlated with EDR processes like Squid or Zeek rows)

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

from ..normalize import Ctx, Normalized, blank_to_null, col, lookup, nulls, pick, reg_key, to_int
from ..values import (TIME_FORMATS, join_skip, parse_as, proto_name,  # noqa: F401 (re-exported)
                      unwrap_list)
from ..readers.base import SourceError
from ..schema import COLUMNS, EVENT_TYPES, TS

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

_TOP = {"name", "vendor", "description", "time", "fields", "event", "when", "dedup", "detect",
        "proxy"}
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


@dataclass
class MappingProfile:
    """A profile described by a mapping file (same protocol as the built-in profiles)."""

    path: str
    name: str
    vendor: str
    time: Spec
    fields: dict[str, Spec]
    event_fields: list[str]
    event_value: str | None
    event_map: dict[str, str]
    event_default: str
    refine: list[Refine]
    when: dict[str, dict[str, Spec]]
    dedup_key: list[str] | None
    require: list[str]
    is_proxy: bool = False

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
                    pc.if_else(pc.is_valid(parts[-1]), a, pa.scalar(None, pa.string()))
        else:
            a = col(raw, *spec.fields)
        if spec.regex is not None and a.null_count < len(a):
            st = pc.extract_regex(a, spec.regex)
            names = [st.type.field(i).name for i in range(st.type.num_fields)]
            part = pc.struct_field(st, names.index("v") if "v" in names else 0)
            a = blank_to_null(pc.if_else(pc.is_valid(st), part, pa.scalar(None, pa.string())))
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
        return blank_to_null(a)      # a map or value that yields "" is no value (null)


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
    dd = _one_key_table(doc, "dedup", "key", err)
    dedup_key = _names(dd["key"], "dedup.key", err) if "key" in dd else None
    dt = _one_key_table(doc, "detect", "require", err)
    require = _names(dt.get("require", []), "detect.require", err)

    proxy = doc.get("proxy", False)
    if not isinstance(proxy, bool):
        raise err("proxy", "must be true or false (true: rows are proxy/network-sensor records "
                  "that edrql attributes to EDR processes)")
    return MappingProfile(path, name, vendor, time, fields, event_fields, event_value, event_map,
                          event_default, refine, when, dedup_key or None, require, proxy)


def _string(v, key, err) -> str:
    if not isinstance(v, str) or not v:
        raise err(key, f"must be a non-empty string, not {v!r}")
    return v


def _one_key_table(doc: dict, section: str, key: str, err) -> dict:
    """A ``[section]`` table whose only allowed key is ``key`` (a list of raw field names)."""
    tbl = doc.get(section, {})
    if not isinstance(tbl, dict):
        raise err(section, f"must be a table with {key} = [raw field names]")
    for k in tbl:
        if k != key:
            raise err(f"{section}.{k}", f"unknown key{_hint(k, (key,))}")
    return tbl


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
