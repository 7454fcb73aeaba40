"""Proxy logs as ``http`` events (Squid native access.log for now).

A proxy knows the client address, not the endpoint's name: ``host`` stays
null and ``laddr`` carries the client address.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..normalize import Ctx, Normalized, blank_to_null, col, pick, to_int
from ..values import epoch_to_ts

_URL = r"^(?:(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://)?(?P<host>[^/:?#\s]+)(?::(?P<port>\d+))?"


def url_parts(url: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(scheme, host, port) of URLs or CONNECT ``host:port`` targets."""
    m = pc.extract_regex(url, _URL)
    return (blank_to_null(pc.struct_field(m, "scheme")), blank_to_null(pc.struct_field(m, "host")),
            to_int(blank_to_null(pc.struct_field(m, "port"))))


class _Squid:
    name = "squid"
    vendor = "Squid"
    dedup_key = None

    def detect(self, columns: set[str]) -> int:
        return 20 if {"remotehost", "code", "peerstatus", "peerhost"} <= columns else 0

    def normalize(self, raw: pa.Table, ctx: Ctx) -> Normalized:
        n = raw.num_rows
        url = col(raw, "url")
        scheme, host, port = url_parts(url)
        default_port = pc.if_else(pc.equal(pc.fill_null(scheme, ""), "https"), 443, 80)
        peer = col(raw, "peerhost")
        peer_is_ip = pc.fill_null(pc.match_substring_regex(peer, r"^[0-9a-fA-F:.]+$"), False)
        out = {
            "ts": epoch_to_ts(col(raw, "time"), "s"),
            "event": pa.array(["http"] * n, pa.string()),
            "action": col(raw, "code"),
            "laddr": col(raw, "remotehost"),
            "raddr": pick(peer_is_ip, peer, pa.nulls(n, pa.string())),
            "rport": pc.coalesce(port, default_port),
            "domain": host,
            "url": url,
            "http_method": col(raw, "method"),
            "http_status": to_int(col(raw, "status")),
            "outcome": col(raw, "code"),
            "user": col(raw, "rfc931"),
            "proto": pa.array(["tcp"] * n, pa.string()),
        }
        return Normalized(out, "epoch seconds (UTC by definition)")


SQUID = _Squid()
