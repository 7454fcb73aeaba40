"""EDR ⇄ proxy correlation: which process made the request the proxy saw.

* **Host ↔ address**: learned from the EDR's own network events (the local address
  of a host's connections), plus a user-supplied map; each entry says where it came from.
* **Clock skew**: per proxy source, the offset to the EDR clock is estimated from
  exact 5-tuple matches (client address and port, server address and port) as the
  median of the time differences, reported, and applied when matching by time.
* **Attribution** of each proxy record (``match``): ``tuple`` — the 5-tuple and the
  corrected time match an EDR network event, whose process is taken; ``window`` — no
  ports to match on, but exactly one process on the client's host talked to that
  destination (address or domain) in the EDR data within ``WINDOW`` of the corrected
  time, inside its lifetime; ``none`` — the proxy saw it and no EDR record explains it.

Everything is columnar: Arrow hash joins and numpy.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .segcodec import plain, plain_table

TUPLE_TOLERANCE_NS = 120 * 10**9      # after skew correction
WINDOW_NS = 300 * 10**9
NET_EVENTS = ["network_connect", "network_accept", "http", "dns_query"]


@dataclass
class Correlation:
    proc_idx: np.ndarray          # per events row: index into procs, or -1
    match: np.ndarray             # per events row: "tuple" | "window" | "none" | None (not proxy)
    pair_row: np.ndarray          # per proxy row: the EDR events row of its tuple match, or -1
    skew: pa.Table                # per proxy source: matches, offset, spread, applied
    hostmap: pa.Table             # addr, host, origin, events, first, last
    notes: list[str] = field(default_factory=list)


def _np(a, fill=-1):
    a = a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a
    if pa.types.is_timestamp(a.type):
        a = a.cast(pa.int64())
    return pc.fill_null(a, fill).to_numpy(zero_copy_only=False)


def proxy_mask(events: pa.Table, proxy_sources=None) -> np.ndarray:
    """Rows from network sensors and proxies: records that carry no endpoint process. By
    source when the case says which sources are proxies (mapping files with proxy = true
    included), else by the built-in proxy profiles' vendor names."""
    v = pc.fill_null(pc.is_in(events["vendor"], value_set=pa.array(proxy_vendors())), False)
    if proxy_sources:
        v = pc.or_(v, pc.fill_null(pc.is_in(events["source"],
                                            value_set=pa.array(sorted(proxy_sources))), False))
    return v.to_numpy(zero_copy_only=False)


def proxy_vendors() -> list[str]:
    from .profiles import registry
    return [p.vendor for p in registry() if getattr(p, "is_proxy", False)
            or p.name.split("_")[0] in ("squid", "zeek", "w3c", "zscaler")]


def host_map(events: pa.Table, user_map: dict[str, str] | None = None,
             proxy_sources=None) -> pa.Table:
    """Address → host from the EDR's own network events (local side), plus a user map."""
    edr = ~proxy_mask(events, proxy_sources)
    net = pc.is_in(events["event"], value_set=pa.array(NET_EVENTS)).to_numpy(zero_copy_only=False)
    sel = edr & net & ~np.asarray(pc.is_null(events["laddr"]).to_numpy(zero_copy_only=False)) & \
        ~np.asarray(pc.is_null(events["host"]).to_numpy(zero_copy_only=False))
    t = plain_table(events.filter(pa.array(sel)).select(["laddr", "host", "ts"]))
    t = t.filter(pc.invert(pc.is_in(t["laddr"], value_set=pa.array(
        ["127.0.0.1", "::1", "0.0.0.0", "::", "-"]))))
    g = t.group_by(["laddr", "host"]).aggregate([("ts", "count"), ("ts", "min"), ("ts", "max")])
    out = pa.table({"addr": g["laddr"], "host": g["host"],
                    "origin": pa.repeat(pa.scalar("edr local address"), g.num_rows),
                    "events": g["ts_count"], "first": g["ts_min"], "last": g["ts_max"]})
    if user_map:
        known = pc.unique(pc.drop_null(plain(events["host"])).combine_chunks()) if events.num_rows \
            else pa.array([], pa.string())
        u = pa.table({"addr": list(user_map), "host": [_as_edr_host(h, known) for h in user_map.values()],
                      "origin": ["user map"] * len(user_map),
                      "events": pa.nulls(len(user_map), pa.int64()),
                      "first": pa.nulls(len(user_map), out.schema.field("first").type),
                      "last": pa.nulls(len(user_map), out.schema.field("last").type)})
        out = pa.concat_tables([u, out])
    return out


def _as_edr_host(name: str, known: pa.Array) -> str:
    """A user map's host name spelt as the EDR data spells that machine (the host-name rule:
    ``pc-07`` is ``PC-07.corp.example``), when exactly one stored host is meant; else as given."""
    from .hostnames import match_values
    if not len(known):
        return name
    hit = match_values(known, name)
    return known[int(hit.argmax())].as_py() if hit.sum() == 1 else name


def correlate(events: pa.Table, lineage, user_map: dict[str, str] | None = None,
              proxy_sources=None) -> Correlation:
    n = events.num_rows
    proxy = proxy_mask(events, proxy_sources)
    proc_idx = np.full(n, -1, np.int64)
    match = np.full(n, None, dtype=object)
    match[proxy] = "none"
    pair_row = np.full(n, -1, np.int64)
    hm = host_map(events, user_map, proxy_sources)
    notes: list[str] = []
    if not proxy.any():
        return Correlation(proc_idx, match, pair_row, _empty_skew(), hm, notes)

    ev_proc = lineage.event_proc
    is_net = pc.is_in(events["event"], value_set=pa.array(NET_EVENTS)).to_numpy(zero_copy_only=False)
    edr_net = is_net & ~proxy & (ev_proc >= 0)
    ts = _np(events["ts"], 0).astype(np.int64)
    rows = np.arange(n)

    # ---- 1) exact 5-tuples → per-source clock offset
    def tuple_table(mask):
        t = events.filter(pa.array(mask)).select(["laddr", "lport", "raddr", "rport", "source"])
        return t.append_column("row", pa.array(rows[mask])).append_column("t", pa.array(ts[mask]))
    P = tuple_table(proxy & ~_null(events, "lport") & ~_null(events, "rport"))
    E = tuple_table(edr_net & ~_null(events, "lport") & ~_null(events, "rport"))
    skew_rows, offsets = [], {}
    if P.num_rows and E.num_rows:
        J = P.join(E.drop_columns(["source"]), ["laddr", "lport", "raddr", "rport"],
                   join_type="inner", left_suffix="_p", right_suffix="_e")
        if J.num_rows:
            d = _np(J["t_p"], 0).astype(np.int64) - _np(J["t_e"], 0).astype(np.int64)
            srcs = np.asarray(J["source"].to_pylist(), dtype=object)
            for s in np.unique(srcs):
                ds = d[srcs == s]
                off = int(np.median(ds))
                spread = int(np.median(np.abs(ds - off)))
                offsets[s] = off
                skew_rows.append({"source": s, "tuple_matches": int(len(ds)), "offset_ns": off,
                                  "offset": _fmt_offset(off), "spread_s": spread / 1e9,
                                  "applied": True})
            corr = d - np.array([offsets[s] for s in srcs], np.int64)
            good = np.abs(corr) <= TUPLE_TOLERANCE_NS
            prow, erow = _np(J["row_p"]), _np(J["row_e"])
            order = np.lexsort((np.abs(corr), prow))
            prow, erow, good = prow[order], erow[order], good[order]
            first = np.ones(len(prow), bool)
            first[1:] = prow[1:] != prow[:-1]
            pick = first & good
            proc_idx[prow[pick]] = ev_proc[erow[pick]]
            match[prow[pick]] = "tuple"
            pair_row[prow[pick]] = erow[pick]
    for s in np.unique(np.asarray(events.filter(pa.array(proxy))["source"].to_pylist(), dtype=object)):
        if s not in offsets:
            skew_rows.append({"source": s, "tuple_matches": 0, "offset_ns": 0, "offset": "unknown",
                              "spread_s": None, "applied": False})
    skew = pa.Table.from_pylist(skew_rows) if skew_rows else _empty_skew()

    # ---- 2) window: client address → host; one process that talked to that destination
    rest = proxy & (proc_idx < 0)
    if rest.any() and hm.num_rows:
        _window(events, lineage, hm, rest, edr_net, ts, offsets, proc_idx, match)
    return Correlation(proc_idx, match, pair_row, skew, hm, notes)


def _null(events, name) -> np.ndarray:
    return pc.is_null(events[name]).to_numpy(zero_copy_only=False)


def _fmt_offset(ns: int) -> str:
    sign = "-" if ns < 0 else "+"
    s = abs(ns) / 1e9
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    return f"{sign}{int(d)}d {int(h):02d}:{int(m):02d}:{sec:06.3f}" if d else \
        f"{sign}{int(h):02d}:{int(m):02d}:{sec:06.3f}"


def _empty_skew() -> pa.Table:
    return pa.table({"source": pa.array([], pa.string()), "tuple_matches": pa.array([], pa.int64()),
                     "offset_ns": pa.array([], pa.int64()), "offset": pa.array([], pa.string()),
                     "spread_s": pa.array([], pa.float64()), "applied": pa.array([], pa.bool_())})


def _window(events, lineage, hm, rest, edr_net, ts, offsets, proc_idx, match) -> None:
    """Vectorized: hash joins on (host, destination), then a time filter and a
    "exactly one process" test per proxy record."""
    n = events.num_rows
    rows = np.arange(n)
    first_host = hm.group_by("addr", use_threads=False).aggregate([("host", "first")])
    src_off = {k: v for k, v in offsets.items()}
    P = plain_table(events.filter(pa.array(rest)).select(["laddr", "raddr", "domain", "source"]))
    P = P.append_column("row", pa.array(rows[rest])).append_column("t", pa.array(ts[rest]))
    off = pc.fill_null(pc.index_in(P["source"], value_set=pa.array(list(src_off) or [""])), -1)
    off_vals = np.array(list(src_off.values()) + [0], np.int64)
    P = P.set_column(P.column_names.index("t"), "t",
                     pa.array(_np(P["t"], 0).astype(np.int64) - off_vals[_np(off)]))
    P = P.join(first_host, keys="laddr", right_keys="addr", join_type="inner")
    P = P.rename_columns([("host" if c == "host_first" else c) for c in P.column_names])
    E = plain_table(events.filter(pa.array(edr_net)).select(["host", "raddr", "domain"]))
    E = E.append_column("te", pa.array(ts[edr_net])).append_column(
        "proc", pa.array(lineage.event_proc[edr_net]))
    E = E.set_column(E.column_names.index("domain"), "domain", pc.utf8_lower(E["domain"]))
    P = P.set_column(P.column_names.index("domain"), "domain", pc.utf8_lower(P["domain"]))
    pairs = []
    for key in ("raddr", "domain"):
        p = P.filter(pc.is_valid(P[key])).select(["row", "t", "host", key])
        e = E.filter(pc.is_valid(E[key])).select(["host", key, "te", "proc"])
        if p.num_rows and e.num_rows:
            j = p.join(e, keys=["host", key], join_type="inner")
            if j.num_rows:
                pairs.append(j.select(["row", "t", "te", "proc"]))
    if not pairs:
        return
    J = pa.concat_tables(pairs)
    dt = np.abs(_np(J["t"], 0).astype(np.int64) - _np(J["te"], 0).astype(np.int64))
    J = J.filter(pa.array(dt <= WINDOW_NS))
    if not J.num_rows:
        return
    g = J.group_by("row").aggregate([("proc", "count_distinct"), ("proc", "min")])
    one = pc.equal(g["proc_count_distinct"], 1)
    g = g.filter(one)
    r = _np(g["row"]).astype(np.int64)
    proc_idx[r] = _np(g["proc_min"]).astype(np.int64)
    match[r] = "window"
