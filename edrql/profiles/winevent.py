"""Windows event logs: Sysmon, Security and every other channel.

Shapes accepted (raw field names are compared case-insensitively, after these
prefixes are looked through):

* EVTX read by ``readers.evtxread`` and the evtx library's JSON rendering:
  ``System.EventID``, ``System.Channel``, ``System.TimeCreated.SystemTime``, EventData
  by bare name (also ``Event.System.*`` / ``Event.EventData.*`` with ``#attributes`` /
  ``#text`` when a generic JSON flattener saw the rendering);
* flat JSON lines (OTRF/Mordor, NXLog): ``EventID``, ``Channel``, ``SourceName``,
  ``Hostname``, ``TimeCreated`` / ``@timestamp`` / ``EventTime``, EventData at the top level;
* Winlogbeat: ``winlog.event_id``, ``winlog.channel``, ``winlog.provider_name``,
  ``winlog.computer_name``, ``winlog.record_id``, ``winlog.event_data.*``, ``@timestamp``,
  ``host.name`` (a few ECS fields such as ``process.executable`` are fallbacks);
* Microsoft Sentinel ``SecurityEvent`` CSV: ``TimeGenerated``, ``Computer``, ``EventID``,
  ``NewProcessId``… (no channel column: 4688/4689/5156 without channel or provider are
  taken as Security).

Decisions (documented contract):

* ``action`` is the event id as text (``1``, ``4688``); the channel and provider stay
  in the raw fields. Every event id of every channel is kept; unmapped ones are
  ``event = other``.
* Sysmon (channel or provider contains "sysmon"; or no channel/provider but a
  ``UtcTime``): 1 process_start, 5 process_end, 3 network_connect (network_accept when
  ``Initiated`` is false), 7 image_load, 11 and 15 (stream) file_create, 23/26
  file_delete, 12 registry_create / registry_delete (by ``EventType``), 13 registry_set,
  14 registry_set (rename: ``NewName`` in reg_data), 22 dns_query. 8 (remote thread),
  10 (process access), 17/18 (pipe created/connected) and the rest are ``other``; for
  8/10 the acting process is the *source* process (target stays raw); for 17/18 the
  pipe name is in ``path`` (pipes are files of the named-pipe file system) so a
  search on the pipe name finds them.
* Security 4688 process_start (pid = NewProcessId, ppid = ProcessId, both hex;
  image = NewProcessName, pimage = ParentProcessName, pstart = ts; user = the
  "Target Subject" TargetDomainName\\TargetUserName when given — 4688 v2 names there
  the account of the new process, e.g. when SYSTEM (MACHINE$) starts a process for a
  user — else the creator SubjectDomainName\\SubjectUserName). 4689 process_end
  (pid = ProcessId, image = ProcessName). 5156 network_connect / network_accept
  (Direction %%14592 = inbound), image = Application (an NT device path), proto from
  the IP protocol number. Other Security events: pid = ProcessId, image = ProcessName,
  user = Subject, when present.
* Network: Sysmon 3 and 5156 name the initiator "Source" and the responder
  "Destination" in both directions; laddr/lport are the Source for outbound and the
  Destination for inbound rows.
* Registry: ``reg_key`` from TargetObject with roots normalized; for value events
  (EventType ``SetValue``/``DeleteValue``…) the last path component is the value
  name (``reg_value``) and the rest the key, as MDE reports them.
* GUIDs (puid/ppuid) without braces, upper case (EVTX renders ``5AA1…``, OTRF
  ``{5aa1…}``); hashes lower case. The raw fields keep the original text.
* ``ts``: the first time field *present* among System.TimeCreated.SystemTime,
  TimeCreated, @timestamp, TimeGenerated, TimeCreatedUtc, UtcTime, EventTime. The
  event's own write time is preferred over Sysmon's UtcTime (which is only on Sysmon
  rows) so that all channels of one export share one clock. A present but
  unparseable value quarantines the row (no silent fallback). TimeGenerated /
  TimeCreatedUtc (Sentinel: UTC by definition) and UtcTime are read as UTC when
  zone-less; other zone-less values use --tz. When ts and Sysmon UtcTime disagree by
  more than a minute (median) a note says so.
* Sysmon 1 ``pstart`` is its UtcTime.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..normalize import Ctx, Normalized, basename, col, lookup, parse_time, pick, reg_key, to_int
from ..schema import TS

_PREFIXES = [  # (lower-case prefix, replacement) applied once, first match wins
    ("event.eventdata.", ""),
    ("event.system.", "system."),
    ("event.userdata.", "userdata."),
    ("event.renderinginfo.", "renderinginfo."),
    ("winlog.event_data.", ""),
    ("eventdata.", ""),
    ("event_data.", ""),
]

EVENTS = {
    "s1": "process_start", "s5": "process_end", "s3": "network_connect",
    "s7": "image_load", "s11": "file_create", "s15": "file_create",
    "s23": "file_delete", "s26": "file_delete", "s12": "registry_create",
    "s13": "registry_set", "s14": "registry_set", "s22": "dns_query",
    "w4688": "process_start", "w4689": "process_end", "w5156": "network_connect",
}

IP_PROTO = {"1": "icmp", "2": "igmp", "6": "tcp", "17": "udp", "41": "ipv6", "47": "gre",
            "50": "esp", "58": "ipv6-icmp", "132": "sctp"}

# (label, aliases, assume) in order of preference
_TIME_FIELDS = [
    ("System.TimeCreated.SystemTime", ("System.TimeCreated.SystemTime",), None),
    ("TimeCreated", ("TimeCreated",), None),
    ("@timestamp", ("@timestamp",), None),
    ("TimeGenerated", ("TimeGenerated",), "UTC"),
    ("TimeCreatedUtc", ("TimeCreatedUtc",), "UTC"),
    ("UtcTime", ("UtcTime",), "UTC"),
    ("EventTime", ("EventTime",), None),
]

_EID = ("System.EventID", "EventID", "winlog.event_id", "event_id", "event.code")
_CHANNEL = ("System.Channel", "Channel", "winlog.channel", "log_name")
_PROVIDER = ("System.Provider.Name", "SourceName", "winlog.provider_name", "source_name",
             "EventSourceName")
# "Computer" (Sentinel) after the OTRF/Winlogbeat names: in flat OTRF lines EventData
# sits at the top level, where a field named Computer would not be the logging host.
_HOST = ("System.Computer", "Hostname", "winlog.computer_name", "computer_name", "Computer",
         "host.name", "host.hostname")
_MARKERS = {"system.channel", "channel", "winlog.channel", "system.provider.name", "sourcename",
            "winlog.provider_name", "system.computer", "computer", "hostname",
            "winlog.computer_name", "system.eventrecordid", "winlog.record_id", "recordnumber",
            "utctime", "processguid", "newprocessid", "newprocessname", "subjectusername",
            "timegenerated", "timecreated", "system.timecreated.systemtime"}

_DEDUP_STYLES = [
    ["System.Computer", "System.Channel", "System.EventRecordID", "System.TimeCreated.SystemTime"],
    ["Event.System.Computer", "Event.System.Channel", "Event.System.EventRecordID",
     "Event.System.TimeCreated.#attributes.SystemTime"],
    ["winlog.computer_name", "winlog.channel", "winlog.record_id", "@timestamp"],
    ["Hostname", "Channel", "RecordNumber", "EventTime"],
]


def canon(name: str) -> str:
    """Raw field name → the lookup key (lower case, section prefixes and XML markers removed)."""
    n = name.lower()
    for p, rep in _PREFIXES:
        if n.startswith(p):
            n = rep + n[len(p):]
            break
    n = n.replace(".#attributes.", ".").replace("_attributes.", ".")
    if n.endswith(".#text"):
        n = n[: -len(".#text")]
    return n


class _Fields:
    """Case-insensitive, prefix-blind access to raw columns."""

    def __init__(self, raw: pa.Table):
        self.raw = raw
        self.idx: dict[str, list[str]] = {}
        for name in raw.column_names:
            self.idx.setdefault(canon(name), []).append(name)

    def names(self, *aliases: str) -> list[str]:
        return [r for a in aliases for r in self.idx.get(canon(a), [])]

    def get(self, *aliases: str) -> pa.Array:
        return col(self.raw, *self.names(*aliases))


def _guid(arr: pa.Array) -> pa.Array:
    return pc.utf8_upper(pc.utf8_trim(arr, "{} "))


def _hash(hashes: pa.Array, algo: str) -> pa.Array:
    if hashes.null_count == len(hashes):
        return hashes
    m = pc.extract_regex(hashes, rf"(?i)(?:^|[,;\s]){algo}=(?P<h>[0-9a-f]+)")
    return pc.utf8_lower(pc.struct_field(m, "h"))


# Value names that hold paths (MuiCache "@%SystemRoot%\\...,-100", Compatibility
# Assistant "C:\\...\\x.exe", BAM "\\Device\\HarddiskVolume4\\...") contain backslashes:
# the value starts at the first such marker, else after the last backslash.
_VALUE_MARKED = r"^(?P<k>.+?)\\(?P<v>(?:[A-Za-z]:\\|@|%|\\Device\\|\\\?\?\\).*)$"
_VALUE_LAST = r"^(?P<k>.*)\\(?P<v>[^\\]*)$"


def _split_value(target: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Sysmon TargetObject of a value event → (key, value name)."""
    if target.null_count == len(target):
        return target, target
    a = pc.extract_regex(target, _VALUE_MARKED)
    b = pc.extract_regex(target, _VALUE_LAST)
    return (pc.coalesce(pc.struct_field(a, "k"), pc.struct_field(b, "k")),
            pc.coalesce(pc.struct_field(a, "v"), pc.struct_field(b, "v")))


def _is_in(arr: pa.Array, values: list[str]) -> pa.Array:
    return pc.fill_null(pc.is_in(arr, value_set=pa.array(values, pa.string())), False)


def _user(domain: pa.Array, name: pa.Array) -> pa.Array:
    return pc.coalesce(pc.binary_join_element_wise(domain, name, "\\"), name)


class _WinEvent:
    name = "winevent"
    vendor = "Windows Event Log"
    #: EVTX spelling; see dedup_key_for() for the other shapes. The event time is
    #: part of the key so that a record number used twice (a log recreated, an
    #: exporter that renumbers) cannot merge two different events.
    dedup_key = ["System.Computer", "System.Channel", "System.EventRecordID",
                 "System.TimeCreated.SystemTime"]

    def dedup_key_for(self, columns: set[str]) -> list[str] | None:
        """The (host, channel, record id, time) key in the spelling these columns use, or None."""
        for key in _DEDUP_STYLES:
            if all(k in columns for k in key):
                return key
        return None

    def detect(self, columns: set[str]) -> int:
        c = {canon(x) for x in columns}
        if not c & {"system.eventid", "eventid", "winlog.event_id", "event_id"}:
            return 0
        score = 10 + len(c & _MARKERS)
        if "system.eventid" in c or any(x.startswith("winlog.") for x in c):
            score += 10
        return score

    def normalize(self, raw: pa.Table, ctx: Ctx) -> Normalized:
        f = _Fields(raw)
        n = raw.num_rows
        null_s = pa.nulls(n, pa.string())
        null_i = pa.nulls(n, pa.int64())

        eid_text = f.get(*_EID)
        eid = to_int(eid_text)
        action = pc.coalesce(pc.cast(eid, pa.string()), eid_text)
        channel = f.get(*_CHANNEL)
        provider = f.get(*_PROVIDER)
        utc_text = f.get("UtcTime")
        no_source = pc.and_(pc.is_null(channel), pc.is_null(provider))

        def matches(arr, pattern):
            return pc.fill_null(pc.match_substring_regex(arr, pattern, ignore_case=True), False)

        is_sysmon = pc.or_(pc.or_(matches(channel, "sysmon"), matches(provider, "sysmon")),
                           pc.and_(no_source, pc.is_valid(utc_text)))
        is_sec = pc.or_(pc.or_(matches(channel, r"^security$"),
                               matches(provider, r"^microsoft-windows-security-auditing$")),
                        pc.and_(pc.and_(no_source, pc.invert(is_sysmon)),
                                _is_in(action, ["4688", "4689", "5156"])))
        is_sec = pc.and_(is_sec, pc.invert(is_sysmon))
        kind = pc.if_else(is_sysmon, pa.scalar("s"),
                          pc.if_else(is_sec, pa.scalar("w"), pa.scalar(None, pa.string())))
        key = pc.binary_join_element_wise(kind, action, "")

        def k(*names):
            return _is_in(key, list(names))

        event = lookup(key, EVENTS, "other")
        not_initiated = pc.fill_null(pc.equal(pc.utf8_lower(f.get("Initiated")), "false"), False)
        inbound = pc.or_(pc.and_(k("s3"), not_initiated),
                         pc.and_(k("w5156"), _is_in(pc.utf8_lower(f.get("Direction")),
                                                    ["%%14592", "inbound"])))
        inbound = pc.fill_null(inbound, False)
        event = pick(inbound, pa.array(["network_accept"] * n, pa.string()), event)
        evtype = f.get("EventType")
        reg_del = pc.and_(k("s12"), matches(evtype, "delete"))
        event = pick(reg_del, pa.array(["registry_delete"] * n, pa.string()), event)

        # -------------------------------------------------------------- time
        ts, which, tz_decision, errors = self._time(f, ctx, n)
        utc, _ = parse_time(utc_text, ctx, assume="UTC")
        note = self._skew_note(ts, utc, which, is_sysmon)
        if note:
            ctx.notes.append(note)
            tz_decision += "; " + note

        # -------------------------------------------------------------- process
        is_ps_sec = k("w4688")
        src_acting = k("s8", "s10")
        is_sysmon_ps = k("s1")
        proc_id = to_int(f.get("ProcessId"))
        parent_id = to_int(f.get("ParentProcessId", "process.parent.pid"))
        pid = pick(is_ps_sec, to_int(f.get("NewProcessId", "process.pid")),
                   pick(src_acting, to_int(f.get("SourceProcessId")),
                        pc.coalesce(proc_id, to_int(f.get("process.pid")))))
        ppid = pick(is_ps_sec, pc.coalesce(proc_id, parent_id), parent_id)
        image = pick(is_ps_sec, f.get("NewProcessName"),
                     pick(src_acting, f.get("SourceImage"),
                          f.get("Image", "ProcessName", "Application", "process.executable")))
        subject = _user(f.get("SubjectDomainName"), f.get("SubjectUserName"))
        target = _user(f.get("TargetDomainName"), f.get("TargetUserName"))
        has_target = pc.is_valid(f.get("TargetUserName"))
        user = pick(is_ps_sec, pick(has_target, target, subject),
                    pick(src_acting, f.get("SourceUser"),
                         pc.coalesce(f.get("User"), pick(is_sec, subject, null_s))))
        puid = pick(src_acting, f.get("SourceProcessGuid"), f.get("ProcessGuid", "process.entity_id"))
        pstart = pick(is_sysmon_ps, utc, pick(is_ps_sec, ts, pa.nulls(n, TS)))

        # -------------------------------------------------------------- files, hashes
        pipe = pick(k("s17", "s18"), f.get("PipeName"), null_s)
        path = pc.coalesce(f.get("TargetFilename", "ImageLoaded", "file.path"), pipe)
        hashes = f.get("Hashes", "Hash")

        # -------------------------------------------------------------- registry
        is_reg = k("s12", "s13", "s14")
        target_obj = pick(is_reg, f.get("TargetObject", "registry.path"), null_s)
        is_value = pc.and_(is_reg, matches(evtype, r"value$"))
        reg_parent, reg_leaf = _split_value(target_obj)
        split = pc.and_(is_value, pc.is_valid(reg_leaf))
        reg_data = pick(k("s13"), f.get("Details"), pick(k("s14"), f.get("NewName"), null_s))

        # -------------------------------------------------------------- network
        is_net = pc.fill_null(pc.starts_with(event, "network_"), False)
        src_ip = f.get("SourceIp", "SourceAddress", "source.ip")
        src_port = to_int(f.get("SourcePort", "source.port"))
        dst_ip = f.get("DestinationIp", "DestAddress", "destination.ip")
        dst_port = to_int(f.get("DestinationPort", "DestPort", "destination.port"))
        proto_text = f.get("Protocol", "network.transport")
        proto = pc.coalesce(lookup(proto_text, IP_PROTO), pc.utf8_lower(proto_text))
        only_net_s = lambda a: pick(is_net, a, null_s)  # noqa: E731
        only_net_i = lambda a: pick(is_net, a, null_i)  # noqa: E731
        is_dns = k("s22")
        qname = pick(is_dns, f.get("QueryName", "dns.question.name"), null_s)
        domain = pick(k("s3"), pick(inbound, f.get("SourceHostname"), f.get("DestinationHostname")),
                      qname)

        out = {
            "ts": ts,
            "host": f.get(*_HOST),
            "event": event,
            "action": action,
            "pid": pid,
            "ppid": ppid,
            "image": image,
            "cmdline": f.get("CommandLine", "process.command_line"),
            "user": user,
            "pstart": pstart,
            "puid": _guid(puid),
            "pimage": f.get("ParentImage", "ParentProcessName", "process.parent.executable"),
            "pcmdline": f.get("ParentCommandLine", "process.parent.command_line"),
            "ppuid": _guid(f.get("ParentProcessGuid", "process.parent.entity_id")),
            "path": path,
            "sha256": pc.coalesce(_hash(hashes, "SHA256"), pc.utf8_lower(f.get("hash.sha256"))),
            "md5": pc.coalesce(_hash(hashes, "MD5"), pc.utf8_lower(f.get("hash.md5"))),
            "reg_key": reg_key(pick(split, reg_parent, target_obj)),
            "reg_value": pick(split, reg_leaf, null_s),
            "reg_data": reg_data,
            "proto": only_net_s(proto),
            "laddr": only_net_s(pick(inbound, dst_ip, src_ip)),
            "lport": only_net_i(pick(inbound, dst_port, src_port)),
            "raddr": only_net_s(pick(inbound, src_ip, dst_ip)),
            "rport": only_net_i(pick(inbound, src_port, dst_port)),
            "domain": domain,
            "dns_query": qname,
            "dns_answer": pick(is_dns, f.get("QueryResults", "dns.answers"), null_s),
            "outcome": pick(is_dns, f.get("QueryStatus"), null_s),
        }
        out["name"] = basename(out["image"])
        return Normalized(out, tz_decision, errors)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _time(f: _Fields, ctx: Ctx, n: int):
        ts = pa.nulls(n, TS)
        which = pa.nulls(n, pa.string())
        remaining = pa.array(np.ones(n, dtype=bool))
        decisions = []
        for label, aliases, assume in _TIME_FIELDS:
            names = f.names(*aliases)
            if not names:
                continue
            txt = col(f.raw, *names)
            use = pc.and_(remaining, pc.is_valid(txt))
            count = pc.sum(use).as_py() or 0
            if not count:
                continue
            parsed, dec = parse_time(pc.if_else(use, txt, pa.scalar(None, pa.string())), ctx,
                                     assume=assume)
            ts = pc.if_else(use, parsed, ts)
            which = pc.if_else(use, pa.scalar(names[0]), which)
            decisions.append(f"ts from {names[0]} on {count} rows: {dec}")
            remaining = pc.and_(remaining, pc.invert(use))
        bad = pc.and_(pc.is_valid(which), pc.is_null(ts))
        errors = None
        if pc.any(bad).as_py():
            msg = pc.binary_join_element_wise(pa.scalar("unparseable time in "), which, "")
            errors = pc.if_else(bad, msg, pa.scalar(None, pa.string()))
        return ts, which, "; ".join(decisions) or "no time field", errors

    @staticmethod
    def _skew_note(ts, utc, which, is_sysmon) -> str | None:
        both = pc.and_(pc.and_(is_sysmon, pc.is_valid(utc)), pc.is_valid(ts))
        both = pc.and_(pc.fill_null(both, False), pc.fill_null(pc.not_equal(which, "UtcTime"), False))
        if not pc.any(both).as_py():
            return None
        a = pc.filter(ts, both).cast(pa.int64()).to_numpy()
        b = pc.filter(utc, both).cast(pa.int64()).to_numpy()
        d = (a - b) / 1e9
        med = float(np.median(d))
        if abs(med) <= 60:
            return None
        far = int((np.abs(d) > 60).sum())
        sign = "+" if med > 0 else "-"
        h, rem = divmod(abs(med), 3600)
        src = pc.filter(which, both)[0].as_py()
        return (f"{src} differs from Sysmon UtcTime by a median of {sign}{int(h)}h{int(rem // 60):02d}m "
                f"({far} of {len(d)} Sysmon rows beyond 1 minute); ts keeps {src}, UtcTime is in "
                f"raw.UtcTime (and pstart for process_start): check the export's clock")


PROFILE = _WinEvent()
