"""Network pipes and tables: proxy attribution columns, ``hostmap``, ``clocks`` and
``netcheck()`` — the EDR's network events of a process beside what the proxy saw."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .correlate import proxy_mask
from .lineage import NONE, _i64
from .lineage_ops import select

NET_TABLES = ("http", "network", "dns")


def attributed(ctx, table_name: str, mask) -> pa.Table:
    """An events-derived table with ``proc``, ``match`` and, for proxy rows, the
    attributed process's ``name`` and ``pid``."""
    case = ctx.case
    ev = case.events
    lin, cor = case.lineage, case.correlation
    m = np.asarray(mask.to_numpy(zero_copy_only=False) if not isinstance(mask, np.ndarray) else mask)
    idx = np.where(cor.proc_idx >= 0, cor.proc_idx, lin.event_proc)[m]
    t = ev.filter(pa.array(m))
    procs = lin.procs
    take = pa.array(np.where(idx >= 0, idx, 0), pa.int64(), mask=idx < 0)
    proxy = proxy_mask(ev, case.proxy_sources())[m]
    name = pc.if_else(pa.array(proxy), pc.take(procs["name"], take), t["name"])
    pid = pc.if_else(pa.array(proxy), pc.take(procs["pid"], take), t["pid"])
    t = t.set_column(t.column_names.index("name"), "name", name)
    t = t.set_column(t.column_names.index("pid"), "pid", pid)
    t = t.append_column("proc", pc.take(procs["proc"], take))
    return t.append_column("match", pa.array(list(cor.match[m]), pa.string()))


def hostmap_table(ctx, cur, call):
    return ctx.case.correlation.hostmap


hostmap_table.is_table = True
hostmap_table.table_columns = lambda ctx: ["addr", "host", "origin", "events", "first", "last"]


def clocks_table(ctx, cur, call):
    return ctx.case.correlation.skew


clocks_table.is_table = True
clocks_table.table_columns = lambda ctx: ["source", "tuple_matches", "offset_ns", "offset",
                                          "spread_s", "applied"]


def netcheck(ctx, cur, call) -> pa.Table:
    """Per input process: its EDR network events and the proxy records matched to it
    (``flow`` = both), EDR events no proxy record matched (``edr-only``), and proxy
    records from its host's addresses during its lifetime that no EDR event explains
    (``proxy-only``)."""
    case = ctx.case
    ev, lin, cor = case.events, case.lineage, case.correlation
    sel = select(ctx, cur, call)
    n = ev.num_rows
    proxy = proxy_mask(ev, case.proxy_sources())
    net = pc.is_in(ev["event"], value_set=pa.array(["network_connect", "network_accept", "http",
                                                    "dns_query"])).to_numpy(zero_copy_only=False)
    ts = _i64(ev["ts"])
    offsets = dict(zip(cor.skew["source"].to_pylist(), cor.skew["offset_ns"].to_pylist())) \
        if cor.skew.num_rows else {}
    src = ev["source"].to_pylist() if proxy.any() else []
    corr_ts = ts.copy()
    if proxy.any():
        off = np.array([offsets.get(s, 0) or 0 for s in src], np.int64)
        corr_ts = np.where(proxy, ts - off, ts)
    partnered = np.zeros(n, bool)
    pr = cor.pair_row[cor.pair_row >= 0]
    partnered[pr] = True
    procs = lin.procs
    starts, lasts, ends = _i64(procs["start"]), _i64(procs["last_seen"]), _i64(procs["end"])
    hosts = procs["host"].to_pylist()
    addr_of: dict[str, set] = {}
    for a, h in zip(cor.hostmap["addr"].to_pylist(), cor.hostmap["host"].to_pylist()):
        addr_of.setdefault(h, set()).add(a)
    laddr = np.asarray(ev["laddr"].to_pylist(), dtype=object) if proxy.any() else None
    parts = []
    for i in sel.tolist():
        mine_edr = net & ~proxy & (lin.event_proc == i)
        mine_proxy = proxy & (cor.proc_idx == i)
        flow = np.full(n, None, dtype=object)
        flow[mine_edr] = np.where(partnered[mine_edr], "both", "edr-only")
        flow[mine_proxy] = "both"
        keep = mine_edr | mine_proxy
        addrs = addr_of.get(hosts[i], set())
        if addrs and proxy.any():
            lo = starts[i] if starts[i] != NONE else _i64(procs["first_seen"])[i]
            hi = _alive_until(ctx, procs, i, starts, ends, lasts)
            if lo != NONE and hi != NONE:
                window = proxy & (cor.match == "none") & (corr_ts >= lo) & (corr_ts <= hi) & \
                    np.isin(laddr, list(addrs))
                flow[window] = "proxy-only"
                keep |= window
        if keep.any():
            t = ev.filter(pa.array(keep)).select(
                ["ts", "vendor", "event", "laddr", "lport", "raddr", "rport", "domain", "url",
                 "http_method", "http_status", "outcome", "source", "record"])
            t = t.append_column("flow", pa.array(list(flow[keep]), pa.string()))
            t = t.append_column("match", pa.array(list(cor.match[keep]), pa.string()))
            k = int(keep.sum())
            t = t.add_column(0, "proc", pa.repeat(procs["proc"][i], k))
            t = t.add_column(1, "name", pa.repeat(procs["name"][i], k))
            t = t.add_column(2, "pid", pa.repeat(procs["pid"][i], k))
            parts.append(t)
    if not parts:
        return pa.table({c: pa.array([], pa.string()) for c in ["proc", "name", "pid", "flow"]})
    out = pa.concat_tables(parts)
    return out.take(pc.sort_indices(out, sort_keys=[("proc", "ascending", "at_end"),
                                                    ("ts", "ascending", "at_end")]))


netcheck.output_columns = lambda cols, call: ["proc", "name", "pid", "ts", "vendor", "event", "laddr",
                                              "lport", "raddr", "rport", "domain", "url", "http_method",
                                              "http_status", "outcome", "source", "record", "flow",
                                              "match"]


def _alive_until(ctx, procs, i, starts, ends, lasts) -> int:
    """The end of a process's life as far as the data allows: its exit; else the start
    of the next life of its pid on that host; else the end of the host's data."""
    if ends[i] != NONE:
        return int(ends[i])
    host, pid = procs["host"][i].as_py(), procs["pid"][i].as_py()
    same = pc.and_(pc.equal(procs["host"], host), pc.equal(procs["pid"], pid))
    later = starts[np.asarray(pc.fill_null(same, False).to_numpy(zero_copy_only=False))]
    later = later[(later != NONE) & (later > starts[i])] if starts[i] != NONE else later[:0]
    if len(later):
        return int(later.min())
    last = ctx.case.manifest.get("hosts", {}).get(host, {}).get("last")
    if last:
        return pa.scalar(last).cast(pa.timestamp("ns", "UTC")).value
    return int(lasts[i])


def pipes() -> dict:
    return {"hostmap": hostmap_table, "clocks": clocks_table, "netcheck": netcheck}
