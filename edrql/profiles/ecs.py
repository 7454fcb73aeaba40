"""Elastic Common Schema (Elastic Defend / Endpoint, Elastic integrations) — NDJSON,
``_search`` hits (``_source.`` prefixed fields) and Kibana CSV exports.

* ``event.category`` / ``event.type`` may be lists (kept as JSON text by the reader:
  ``["network"]``); they are matched word-wise.
* Event: process start/end; file creation/change/deletion and ``rename``; registry
  creation/change/deletion; network start/connection (``connection_accepted`` or an
  inbound ``network.direction`` → network_accept); DNS (``dns.question.name`` or a
  ``lookup_*`` action) → dns_query; library → image_load; else other.
* For an accepted (inbound) connection ECS's ``source`` is the remote peer, so
  ``laddr``/``lport`` come from ``destination.*`` and ``raddr``/``rport`` from ``source.*``.
* ``puid``/``ppuid`` are ``process.entity_id`` / ``process.parent.entity_id`` as given;
  ``process.parent.Ext.real`` (true parent under PPID spoofing) is left in the raw columns.
* ``@timestamp``: ISO with zone, epoch digits, or Kibana's ``Jun 29, 2020 @ 14:00:00.000``
  (zone-less: read in --tz; Kibana CSV renders times in the browser/space zone).
* Winlogbeat / Elastic Agent Windows-event documents (``winlog.*`` fields) are not
  claimed: they belong to the Windows event profile.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..normalize import (Ctx, Normalized, basename, blank_to_null, col, nulls, pick, reg_key,
                         to_int)
from ..values import join_skip, parse_as, proto_name

_MARKERS = {"process.entity_id", "event.category", "event.type", "event.action", "event.kind",
            "event.dataset", "event.module", "ecs.version", "agent.type", "host.name",
            "host.hostname", "process.pid", "process.executable", "data_stream.dataset"}


class _ECS:
    name = "ecs"
    vendor = "Elastic (ECS)"
    dedup_key = ["event.id"]

    def detect(self, columns: set[str]) -> int:
        cols = {c.removeprefix("_source.") for c in columns}
        if any(c.startswith("winlog.") for c in cols):
            return 0
        if "@timestamp" not in cols or not ({"process.entity_id", "event.category"} & cols):
            return 0
        return 3 + min(len(_MARKERS & cols), 6)      # 4..9: below MDE (10+)

    def normalize(self, raw: pa.Table, ctx: Ctx) -> Normalized:
        r = _view(raw)
        n = raw.num_rows

        cat = pc.utf8_lower(col(r, "event.category"))
        typ = pc.utf8_lower(col(r, "event.type"))
        act = col(r, "event.action")
        act_l = pc.utf8_lower(act)
        direction = pc.utf8_lower(col(r, "network.direction"))

        cache: dict = {}

        def has(arr, *words):
            key = (id(arr), words)
            if key not in cache:
                pat = r"(^|[^a-z_])(" + "|".join(words) + r")([^a-z_]|$)"
                cache[key] = pc.fill_null(pc.match_substring_regex(arr, pat), False)
            return cache[key]

        def is_act(*names):
            return pc.fill_null(pc.is_in(act_l, value_set=pa.array(list(names))), False)

        dns = pc.or_(pc.is_valid(col(r, "dns.question.name")),
                     pc.fill_null(pc.starts_with(act_l, "lookup_"), False))
        inbound = pc.or_(is_act("connection_accepted", "udp_flow_inbound"),
                         pc.fill_null(pc.is_in(direction, value_set=pa.array(
                             ["ingress", "inbound", "incoming"])), False))
        net_start = pc.and_(has(cat, "network"), has(typ, "start", "connection"))
        has_value = pc.is_valid(col(r, "registry.value"))
        rules = [  # (condition, event) — first match wins
            (dns, "dns_query"),
            (pc.and_(has(cat, "process"), has(typ, "start")), "process_start"),
            (pc.and_(has(cat, "process"), has(typ, "end")), "process_end"),
            (pc.and_(has(cat, "file"), is_act("rename")), "file_rename"),
            (pc.and_(has(cat, "file"), has(typ, "deletion")), "file_delete"),
            (pc.and_(has(cat, "file"), has(typ, "creation")), "file_create"),
            (pc.and_(has(cat, "file"), pc.or_(has(typ, "change"), is_act("overwrite", "modification"))),
             "file_modify"),
            (pc.and_(has(cat, "registry"), has(typ, "deletion")), "registry_delete"),
            (pc.and_(pc.and_(has(cat, "registry"), has(typ, "creation")), pc.invert(has_value)),
             "registry_create"),
            (pc.and_(has(cat, "registry"), has(typ, "change", "creation")), "registry_set"),
            (pc.and_(net_start, inbound), "network_accept"),
            (net_start, "network_connect"),
            (has(cat, "library"), "image_load"),
        ]
        event = pa.array(["other"] * n, pa.string()) if n else nulls(0)
        for cond, name in reversed(rules):
            event = pick(cond, pa.array([name] * n, pa.string()) if n else nulls(0), event)
        is_proc = pc.fill_null(pc.starts_with(event, "process_"), False)
        is_load = pc.fill_null(pc.equal(event, "image_load"), False)
        is_accept = pc.fill_null(pc.equal(event, "network_accept"), False)

        ts, tzd = parse_as(col(r, "@timestamp"), "auto", ctx)
        pstart = parse_as(col(r, "process.start"), "auto", ctx)[0]
        ppstart = parse_as(col(r, "process.parent.start"), "auto", ctx)[0]

        image = col(r, "process.executable")
        pimage = col(r, "process.parent.executable", "process.parent.name")
        user_name, user_dom = col(r, "user.name"), col(r, "user.domain")
        user = pc.if_else(pc.is_valid(user_name),
                          join_skip([user_dom, user_name], "\\"),
                          pa.scalar(None, pa.string()))

        src_ip, dst_ip = col(r, "source.ip"), col(r, "destination.ip")
        src_port, dst_port = to_int(col(r, "source.port")), to_int(col(r, "destination.port"))

        out = {
            "ts": ts,
            "host": col(r, "host.name", "host.hostname", "agent.hostname", "observer.hostname"),
            "event": event,
            "action": col(r, "event.action", "event.code"),
            "pid": to_int(col(r, "process.pid")),
            "ppid": to_int(col(r, "process.parent.pid", "process.ppid")),
            "image": image,
            "name": pc.coalesce(col(r, "process.name"), basename(image)),
            "cmdline": col(r, "process.command_line"),
            "user": user,
            "pstart": pstart,
            "puid": col(r, "process.entity_id"),
            "pimage": pimage,
            "pname": pc.coalesce(col(r, "process.parent.name"), basename(pimage)),
            "pcmdline": col(r, "process.parent.command_line"),
            "ppstart": ppstart,
            "ppuid": col(r, "process.parent.entity_id"),
            "path": pick(is_load, col(r, "dll.path", "file.path"), col(r, "file.path")),
            "path_old": col(r, "file.Ext.original.path"),
            "sha256": pick(is_proc, col(r, "process.hash.sha256"),
                           pick(is_load, col(r, "dll.hash.sha256", "file.hash.sha256"),
                                col(r, "file.hash.sha256"))),
            "md5": pick(is_proc, col(r, "process.hash.md5"),
                        pick(is_load, col(r, "dll.hash.md5", "file.hash.md5"), col(r, "file.hash.md5"))),
            "reg_key": reg_key(_registry_key(r)),
            "reg_value": col(r, "registry.value"),
            "reg_data": _list_text(col(r, "registry.data.strings")),
            "proto": proto_name(col(r, "network.transport", "network.iana_number")),
            "laddr": pick(is_accept, dst_ip, src_ip),
            "lport": pick(is_accept, dst_port, src_port),
            "raddr": pick(is_accept, src_ip, dst_ip),
            "rport": pick(is_accept, src_port, dst_port),
            "domain": col(r, "destination.domain", "url.domain"),
            "url": col(r, "url.full", "url.original"),
            "dns_query": col(r, "dns.question.name"),
            "dns_answer": _list_text(col(r, "dns.resolved_ip")),
            "http_method": col(r, "http.request.method"),
            "http_status": to_int(col(r, "http.response.status_code")),
            "outcome": col(r, "event.outcome"),
        }
        return Normalized(out, f"@timestamp: {tzd}")


def _view(raw: pa.Table) -> pa.Table:
    """Elasticsearch ``_search`` hits keep the document under ``_source.``: look through it."""
    if not any(c.startswith("_source.") for c in raw.column_names):
        return raw
    have = set(raw.column_names)
    return raw.rename_columns([c.removeprefix("_source.") if c.startswith("_source.")
                               and c.removeprefix("_source.") not in have else c
                               for c in raw.column_names])


def _registry_key(r: pa.Table) -> pa.Array:
    """Key with hive: ``registry.hive`` + ``registry.key``, else ``registry.path`` without
    its trailing value name, else ``registry.key``."""
    hive, key, path, value = (col(r, "registry.hive"), col(r, "registry.key"),
                              col(r, "registry.path"), col(r, "registry.value"))
    both = pc.and_(pc.is_valid(hive), pc.is_valid(key))
    joined = pick(both, pc.binary_join_element_wise(hive, key, "\\"), pa.nulls(len(r), pa.string()))
    ends = pc.fill_null(pc.equal(pc.utf8_lower(pc.replace_substring_regex(path, r"^.*\\", "")),
                                 pc.utf8_lower(value)), False)
    from_path = pick(ends, pc.replace_substring_regex(path, r"\\[^\\]*$", ""), path)
    return pc.coalesce(joined, from_path, key)


def _list_text(arr: pa.Array) -> pa.Array:
    """ECS lists arrive as JSON text: ``["a"]`` → ``a`` (JSON escapes undone);
    ``["a","b"]`` → ``a; b``; other text unchanged."""
    if arr.null_count == len(arr):
        return arr
    is_list = pc.fill_null(pc.match_substring_regex(arr, r'^\[\s*".*"\s*\]$'), False)
    body = pc.replace_substring_regex(arr, r'^\[\s*"(.*)"\s*\]$', r"\1")
    body = pc.replace_substring_regex(body, r'"\s*,\s*"', "; ")
    body = pc.replace_substring(body, "\\\\", "\x00")
    body = pc.replace_substring(body, '\\"', '"')
    body = pc.replace_substring(body, "\x00", "\\")
    return blank_to_null(pick(is_list, body, arr))


PROFILE = _ECS()
