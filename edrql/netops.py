"""Network pipes and tables: proxy attribution columns, ``hostmap``, ``clocks`` and
``netcheck()`` — the EDR's network events of a process beside what the proxy saw."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .correlate import NET_EVENTS, proxy_mask
from .lineage import NONE, _codes, _i64
from .lineage_ops import select
from .npkeys import distinct

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


NETCHECK_FIELDS = ["ts", "vendor", "event", "laddr", "lport", "raddr", "rport", "domain", "url",
                   "http_method", "http_status", "outcome", "source", "record"]
NETCHECK_COLUMNS = ["proc", "name", "pid", "host", *NETCHECK_FIELDS, "flow", "match", "candidates",
                    "candidate_names"]
SHORT_LIST = 5          # candidate processes named in a proxy-only row


def netcheck(ctx, cur, call) -> pa.Table:
    """Per input process: its EDR network events and the proxy records matched to it
    (``flow`` = ``both``), EDR events no proxy record matched (``edr-only``). Proxy
    records from the inputs' hosts' addresses that no EDR event explains
    (``proxy-only``) belong to the host, not to a process: each is listed once, with
    ``proc`` empty, ``candidates`` = how many input processes were alive on that host
    then and ``candidate_names`` the newest of them."""
    case = ctx.case
    ev, lin, cor = case.events, case.lineage, case.correlation
    sel = distinct(select(ctx, cur, call))
    procs = lin.procs
    k = procs.num_rows
    proxy = proxy_mask(ev, case.proxy_sources())
    net = pc.is_in(ev["event"], value_set=pa.array(NET_EVENTS)).to_numpy(zero_copy_only=False)
    chosen = np.zeros(k + 1, bool)          # index -1 (no process) lands on the spare slot
    chosen[sel] = True
    edr = net & ~proxy & chosen[lin.event_proc]
    via_proxy = proxy & chosen[cor.proc_idx]
    partnered = np.zeros(ev.num_rows, bool)
    partnered[cor.pair_row[cor.pair_row >= 0]] = True
    owner = np.where(edr, lin.event_proc, cor.proc_idx)
    keep = edr | via_proxy
    parts = []
    if keep.any():
        rows = np.nonzero(keep)[0]
        who = pa.array(owner[rows])
        flow = np.where(edr[rows] & ~partnered[rows], "edr-only", "both")
        t = ev.take(pa.array(rows)).select(NETCHECK_FIELDS)
        parts.append(_with(t, pc.take(procs["proc"], who), pc.take(procs["name"], who),
                           pc.take(procs["pid"], who), pc.take(procs["host"], who), flow,
                           cor.match[rows], pa.nulls(len(rows), pa.int64()),
                           pa.nulls(len(rows), pa.string())))
    only = _proxy_only(ctx, ev, procs, cor, proxy, sel)
    if only is not None:
        parts.append(only)
    if not parts:
        return _with(ev.slice(0, 0).select(NETCHECK_FIELDS), *[pa.array([], pa.string())] * 4,
                     np.zeros(0, str), np.zeros(0, object), pa.array([], pa.int64()),
                     pa.array([], pa.string()))
    out = pa.concat_tables(parts)
    return out.take(pc.sort_indices(out, sort_keys=[("proc", "ascending", "at_end"),
                                                    ("ts", "ascending", "at_end")]))


def _with(t, proc, name, pid, host, flow, match, candidates, candidate_names) -> pa.Table:
    """The netcheck column order around the event fields ``t``."""
    cols = {"proc": proc, "name": name, "pid": pa.array(pid, pa.int64()) if not isinstance(
        pid, (pa.Array, pa.ChunkedArray)) else pc.cast(pid, pa.int64()),
        "host": host}
    cols.update({c: t[c] for c in NETCHECK_FIELDS})
    cols["flow"] = pa.array(np.asarray(flow, object), pa.string())
    cols["match"] = pa.array(np.asarray(match, object), pa.string())
    cols["candidates"] = candidates
    cols["candidate_names"] = candidate_names
    return pa.table(cols)


netcheck.output_columns = lambda cols, call: list(NETCHECK_COLUMNS)


def _proxy_only(ctx, ev, procs, cor, proxy, sel):
    """Unexplained proxy records (match ``none``) from an address of an input's host,
    during the life of at least one input process there: one row per record."""
    rest = proxy & (cor.match == "none")
    if not rest.any() or not len(sel) or not cor.hostmap.num_rows:
        return None
    host_s = procs["host"]
    sel_hosts = pc.unique(pc.take(host_s, pa.array(sel)).drop_null())
    hm = cor.hostmap.select(["addr", "host"]).group_by(["addr", "host"]).aggregate([])
    hm = hm.filter(pc.is_in(hm["host"], value_set=sel_hosts))
    rows = np.nonzero(rest)[0]
    t_corr = _corrected_ts(ev, cor, rows)
    req = pa.table({"row": pa.array(rows), "t": pa.array(t_corr), "addr": ev["laddr"].take(pa.array(rows))})
    pairs = req.join(hm, "addr", join_type="inner")        # (record, host) by client address
    if not pairs.num_rows:
        return None
    lo, hi = _lifetimes(ctx, procs, sel)
    p_row = pairs["row"].to_numpy().astype(np.int64)
    p_t = pairs["t"].to_numpy().astype(np.int64)
    names = sel_hosts.combine_chunks() if isinstance(sel_hosts, pa.ChunkedArray) else sel_hosts
    p_h = pc.index_in(pairs["host"], value_set=names).to_numpy(zero_copy_only=False)
    s_h = pc.fill_null(pc.index_in(pc.take(host_s, pa.array(sel)), value_set=names), -1) \
        .to_numpy(zero_copy_only=False)
    c_rec, c_proc = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for h in np.unique(p_h):                # per host (few): records × lives started before
        on, mine = p_h == h, s_h == h
        order = np.argsort(lo[mine], kind="stable")
        s_idx, s_lo, s_hi = sel[mine][order], lo[mine][order], hi[mine][order]
        r, t = p_row[on], p_t[on]
        n_lo = np.searchsorted(s_lo, t, "right")
        rep = np.repeat(np.arange(len(r)), n_lo)
        j = np.arange(len(rep)) - np.repeat(np.cumsum(n_lo) - n_lo, n_lo)
        alive = s_hi[j] >= t[rep]
        c_rec.append(r[rep[alive]])
        c_proc.append(s_idx[j[alive]])
    rec, proc_i = np.concatenate(c_rec), np.concatenate(c_proc)
    if not len(rec):
        return None
    return _candidate_rows(ev, procs, cor, rec, proc_i)


def _candidate_rows(ev, procs, cor, rec, proc_i) -> pa.Table:
    """One row per record from its (record, candidate process) pairs: the count, the
    newest SHORT_LIST candidates by name and pid, and the hosts."""
    s, first = _i64(procs["start"]), _i64(procs["first_seen"])
    started = np.where(s != NONE, s, first)
    order = np.lexsort((proc_i, -started[proc_i], rec))     # newest first, then by instance
    rec, proc_i = rec[order], proc_i[order]
    # distinct (record, process): a record whose address maps to two hosts may repeat
    first = np.r_[True, (rec[1:] != rec[:-1]) | (proc_i[1:] != proc_i[:-1])]
    rec, proc_i = rec[first], proc_i[first]
    head = np.r_[True, rec[1:] != rec[:-1]]
    records = rec[head]
    start_at = np.nonzero(head)[0]
    count = np.diff(np.r_[start_at, len(rec)])
    rank = np.arange(len(rec)) - np.repeat(start_at, count)
    short = rank < SHORT_LIST
    label = pc.binary_join_element_wise(
        pc.fill_null(pc.take(procs["name"], pa.array(proc_i[short])), "?"), " (",
        pc.cast(pc.take(procs["pid"], pa.array(proc_i[short])), pa.string()), ")", "")
    if isinstance(label, pa.ChunkedArray):          # ListArray.from_arrays takes one array
        label = label.combine_chunks()
    shown = np.minimum(count, SHORT_LIST)
    lists = pa.ListArray.from_arrays(pa.array(np.r_[0, np.cumsum(shown)], pa.int32()), label)
    names = pc.binary_join(lists, ", ")
    more = count - shown
    if more.any():
        tail = pc.if_else(pa.array(more > 0), pc.binary_join_element_wise(
            ", +", pc.cast(pa.array(more), pa.string()), " more", ""), "")
        names = pc.binary_join_element_wise(names, tail, "")
    hosts = _hosts_of_records(procs, proc_i, start_at, count)
    n = len(records)
    t = ev.take(pa.array(records)).select(NETCHECK_FIELDS)
    none = pa.nulls(n, pa.string())
    return _with(t, none, none, pa.nulls(n, pa.int64()), hosts, ["proxy-only"] * n,
                 cor.match[records], pa.array(count, pa.int64()), names)


def _hosts_of_records(procs, proc_i, start_at, count) -> pa.Array:
    """The candidates' host of each record; the rare record whose address several hosts
    used is given all of them, joined with ", "."""
    code, labels = _codes(procs["host"])
    c = code[proc_i]
    lo, hi = np.minimum.reduceat(c, start_at), np.maximum.reduceat(c, start_at)
    hosts = pc.take(labels, pa.array(np.maximum(lo, 0), mask=lo < 0))
    mixed = np.nonzero(lo != hi)[0]
    if len(mixed):
        texts = hosts.to_pylist()
        for m in mixed.tolist():
            span = c[start_at[m]: start_at[m] + count[m]]
            texts[m] = ", ".join(sorted(labels[int(x)].as_py() for x in set(span.tolist()) if x >= 0))
        hosts = pa.array(texts, pa.string())
    return hosts


def _corrected_ts(ev, cor, rows) -> np.ndarray:
    """Proxy record times on the EDR clock (each source's estimated offset removed)."""
    ts = _i64(ev["ts"])[rows]
    if not cor.skew.num_rows:
        return ts
    src = ev["source"].take(pa.array(rows))
    idx = pc.index_in(src, value_set=cor.skew["source"])
    offs = np.r_[pc.fill_null(cor.skew["offset_ns"], 0).to_numpy(zero_copy_only=False), 0]
    return ts - offs[pc.fill_null(idx, -1).to_numpy(zero_copy_only=False)]


def _lifetimes(ctx, procs, sel) -> tuple[np.ndarray, np.ndarray]:
    """From the start (else first sight) to the end of each life as far as the data
    allows: its exit; else the start of the next life of its pid on that host; else the
    end of the host's data; else its last sight."""
    from .npkeys import asof, dense_ids
    start, first = _i64(procs["start"]), _i64(procs["first_seen"])
    end, last = _i64(procs["end"]), _i64(procs["last_seen"])
    lo = np.where(start != NONE, start, first)[sel]
    hi = end[sel].copy()
    host_c, labels = _codes(procs["host"])
    pid = _i64(procs["pid"])
    known = np.nonzero(start != NONE)[0]
    g = dense_ids(np.r_[host_c[sel], host_c[known]], np.r_[pid[sel], pid[known]])
    # the next later start of that host and pid: as-of search on negated times
    s_sel = start[sel]
    nxt = asof(g[: len(sel)], np.where(s_sel != NONE, -(s_sel + 1), np.iinfo(np.int64).min + 1),
               g[len(sel):], -start[known])
    later = np.where((nxt >= 0) & (s_sel != NONE), start[known[np.maximum(nxt, 0)]], NONE)
    hi = np.where(hi != NONE, hi, later)
    hosts = ctx.case.manifest.get("hosts", {})
    host_end = {h: pa.scalar(v["last"]).cast(pa.timestamp("ns", "UTC")).value
                for h, v in hosts.items() if v.get("last")}
    per_label = np.array([host_end.get(h, NONE) for h in labels.to_pylist()] + [NONE], np.int64)
    data_end = per_label[host_c[sel]]           # a null host (-1) takes the spare NONE
    hi = np.where(hi != NONE, hi, data_end)
    hi = np.where(hi != NONE, hi, last[sel])
    return lo, hi


def pipes() -> dict:
    return {"hostmap": hostmap_table, "clocks": clocks_table, "netcheck": netcheck}
