"""Lineage pipes: the ``procs`` table, ``tree()``, ``children()``, ``descendants()``,
``ancestors()``, ``pidreuse()`` and ``events()``.

They take a pipeline's processes (rows with a ``proc`` column, e.g. from
``procs | where …``) or direct arguments: ``tree(host="PC-SALES-07", pid=6640)``,
with ``at="2023-08-10T14:30:00Z"`` when that pid had several lives, or
``proc="…"``. Work grows with the size of the answer, not of the case.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import QueryError
from .results import Result
from .expr import Evaluator
from .lineage import NONE, PROCS_COLUMNS, _i64, children_index
from .npkeys import distinct, group_max
from .render import py_rows
from .store import iso_ns

LATE_EXPORT_HINT_NS = 15 * 60 * 10**9   # activity this close to the end of a host's data


def _const(ctx, call, name, expr):
    v = Evaluator(pa.table({"_": [0]}), ctx.scope).eval(expr)
    if not isinstance(v, pa.Scalar):
        raise QueryError(f"{call.name}(): {name}= must be a constant", call.pos)
    return v


def select(ctx, cur, call) -> np.ndarray:
    """Indices into procs of the input processes."""
    lin = ctx.case.lineage
    procs = lin.procs
    if call.kwargs.keys() & {"host", "pid", "proc", "at"}:
        return _direct(ctx, call, procs)
    if cur is None:
        raise QueryError(f"{call.name}() needs processes: procs | where name == \"winword.exe\" | "
                         f"{call.name}(), or {call.name}(host=\"PC-01\", pid=1234)", call.pos)
    if "proc" not in cur.table.column_names:
        raise QueryError(f"{call.name}() takes processes (rows with a proc column)", call.pos,
                         f"start from procs: procs | where … | {call.name}()")
    # hash the (usually few) input keys, scan the instances once
    wanted = pc.unique(cur.table["proc"].drop_null())
    hit = pc.is_in(procs["proc"], value_set=wanted)
    return pc.indices_nonzero(hit).to_numpy(zero_copy_only=False).astype(np.int64)


def _direct(ctx, call, procs) -> np.ndarray:
    kw = call.kwargs
    if "proc" in kw:
        key = _const(ctx, call, "proc", kw["proc"]).as_py()
        hit = pc.indices_nonzero(pc.equal(procs["proc"], key)).to_numpy(zero_copy_only=False)
        if len(hit) == 0:
            raise QueryError(f"no process {key!r}", call.pos)
        return hit[:1].astype(np.int64)
    if "host" not in kw or "pid" not in kw:
        raise QueryError(f"{call.name}() takes host= and pid= (and at= when the pid had several lives)",
                         call.pos)
    host = str(_const(ctx, call, "host", kw["host"]).as_py()).lower()
    pid = _const(ctx, call, "pid", kw["pid"]).as_py()
    from .hostnames import compare           # the one host-name rule, as host == … uses it
    hm, host_note = compare(procs["host"], None, [host], "==")
    m = pc.and_(pc.fill_null(hm, False), pc.fill_null(pc.equal(procs["pid"], int(pid)), False))
    lives = pc.indices_nonzero(m).to_numpy(zero_copy_only=False).astype(np.int64)
    if len(lives) == 0:
        raise QueryError(f"no process with pid {pid} on host {host!r}", call.pos,
                         (host_note or "").removeprefix("note: ")
                         or "procs | where pid == … lists what there is")
    if "at" in kw:
        from .compare import time_scalar
        at = time_scalar(str(_const(ctx, call, "at", kw["at"]).as_py()), ctx.scope.tz, call.pos).value
        starts = _i64(procs["start"])[lives]
        firsts = _i64(procs["first_seen"])[lives]
        t = np.where(starts != NONE, starts, firsts)
        ok = t <= at
        if not ok.any():
            raise QueryError(f"pid {pid} on {host} had no life started by {iso_ns(at)}", call.pos)
        return np.array([lives[ok][np.argmax(t[ok])]])
    if len(lives) > 1:
        rows = py_rows(procs.take(pa.array(lives)).select(["start", "name", "first_seen"]))
        desc = "; ".join(f"{r['name']} from {r['start'] or 'seen ' + str(r['first_seen'])}" for r in rows)
        raise QueryError(f"pid {pid} on {host} had {len(lives)} lives: {desc}", call.pos,
                         f'pick one with at="…", e.g. {call.name}(host="{host}", pid={pid}, at="…")')
    return lives


def ancestors_of(lin, i: int) -> list[int]:
    out, seen = [], {i}
    p = lin.parent_idx[i]
    while p >= 0 and p not in seen:
        out.append(int(p))
        seen.add(p)
        p = lin.parent_idx[p]
    return out


def descendants_of(lin, roots, max_depth: int | None = None) -> list[tuple[int, int]]:
    """(index, depth) breadth-first below roots, each process once at its smallest depth.

    An input process that is itself below another input is returned too (a root
    only keeps a process from being expanded twice, not from being listed)."""
    offsets, kids = children_index(lin)
    k = len(offsets) - 1
    listed = np.zeros(k, bool)
    expanded = np.zeros(k, bool)
    frontier = distinct(np.asarray(roots, np.int64))
    expanded[frontier] = True
    out_i, out_d = [], []
    depth = 0
    while len(frontier) and (max_depth is None or depth < max_depth):
        depth += 1
        lo, n = offsets[frontier], offsets[frontier + 1] - offsets[frontier]
        at = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
        nxt = kids[at]
        nxt = nxt[~listed[nxt]]
        listed[nxt] = True
        out_i.append(nxt)
        out_d.append(np.full(len(nxt), depth, np.int64))
        frontier = nxt[~expanded[nxt]]
        expanded[frontier] = True
    if not out_i:
        return []
    return list(zip(np.concatenate(out_i).tolist(), np.concatenate(out_d).tolist()))


def _rows(lin, order: list[int], extra: dict) -> pa.Table:
    t = lin.procs.take(pa.array(order, pa.int64())) if order else lin.procs.slice(0, 0)
    for k, v in extra.items():
        t = t.append_column(k, v)
    return t


# ---------------------------------------------------------------- pipes
def procs_table(ctx, cur, call):
    return ctx.case.lineage.procs


procs_table.is_table = True
procs_table.table_columns = lambda ctx: PROCS_COLUMNS


def tree(ctx, cur, call) -> Result:
    lin = ctx.case.lineage
    focus = select(ctx, cur, call)
    nodes = set(focus.tolist())
    for i in focus.tolist():
        nodes.update(ancestors_of(lin, i))
    below = [c for c, _ in descendants_of(lin, focus)]
    nodes.update(below)
    offsets, kids = children_index(lin)
    roots = sorted((n for n in nodes if lin.parent_idx[n] < 0 or lin.parent_idx[n] not in nodes),
                   key=lambda n: _i64(lin.procs["start"])[n])
    order, depth, path = [], [], []
    names = lin.procs["name"].to_pylist()
    stack = [(r, 0, names[r] or "?") for r in reversed(roots)]
    seen = set()
    while stack:
        n, d, pth = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        order.append(n)
        depth.append(d)
        path.append(pth)
        ch = [int(c) for c in kids[offsets[n]:offsets[n + 1]] if int(c) in nodes]
        for c in reversed(ch):
            stack.append((c, d + 1, f"{pth} > {names[c] or '?'}"))
    fset = set(focus.tolist())
    t = _rows(lin, order, {"depth": pa.array(depth, pa.int64()), "path": pa.array(path),
                           "focus": pa.array([o in fset for o in order])})
    own = distinct(np.concatenate([focus, np.asarray(below, np.int64)]))
    return Result(call.name, t, [], "tree", {"footer": completeness(ctx, t, roots, lin, own)})


def completeness(ctx, t: pa.Table, roots: list[int], lin, own: np.ndarray) -> list[str]:
    """What the tree cannot know: data window, why each root is a root, referenced-only
    nodes, and whether a later export would likely add to it (judged on ``own``: the
    input processes and their descendants; an ancestor such as explorer.exe that is
    active to the end of the data says nothing about this tree)."""
    if t.num_rows == 0:
        return ["(no processes)"]
    hosts = ctx.case.manifest.get("hosts", {})
    lines = []
    for h in sorted(set(t["host"].to_pylist())):
        w = hosts.get(h, {})
        lines.append(f"data window for {h}: {w.get('first')} .. {w.get('last')}")
    p = lin.procs
    for r in roots:
        row = py_rows(p.slice(r, 1))[0]
        why = row["parent_note"] or ""
        if row["link"] == "ambiguous":
            why = f"parent ambiguous: {row['candidates']} candidates for pid {row['ppid']}"
        elif row["parent"] is None and row["ppid"] is not None and not why:
            why = f"parent pid {row['ppid']} not resolved"
        if row["seen"] == "referenced" and row["start"] is not None:
            w = hosts.get(row["host"], {})
            if w.get("first") and row["start"] < w["first"]:
                why = (why + "; " if why else "") + "started before the data window"
        lines.append(f"root {row['name']} pid {row['pid']} ({row['seen']}): {why or 'no parent recorded'}")
    ref = pc.sum(pc.equal(t["seen"], "referenced")).as_py() or 0
    if ref:
        lines.append(f"{ref} process(es) are referenced only (no start event in the data)")
    lines.extend(_late_export_hints(hosts, lin.procs, own))
    return lines


def _late_export_hints(hosts: dict, p: pa.Table, own: np.ndarray) -> list[str]:
    """Per host: when the data ends soon after the latest activity of the tree's own
    part (inputs and descendants), a later export may add to it."""
    last = _i64(p["last_seen"])[own]
    enc = pc.dictionary_encode(pc.take(p["host"], pa.array(own)).combine_chunks())
    code = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    known = (code >= 0) & (last != NONE)
    latest = group_max(len(enc.dictionary), code, last, known)      # per host of the tree
    out = []
    for c in sorted(range(len(enc.dictionary)), key=lambda c: enc.dictionary[c].as_py()):
        h, top = enc.dictionary[c].as_py(), int(latest[c])
        end = hosts.get(h, {}).get("last")
        if not end or top == NONE:
            continue
        i = int(own[known & (code == c) & (last == top)][0])
        end_ns = pa.scalar(end).cast(pa.timestamp("ns", "UTC")).value
        gap = end_ns - top
        if gap <= LATE_EXPORT_HINT_NS:
            who = f"{p['name'][i].as_py() or '?'} pid {p['pid'][i].as_py()}"
            out.append(f"{h}: the data ends {gap / 6e10:.0f} min after the latest activity of this "
                       f"tree's processes ({who}); a later export may add descendants "
                       "(edrql ingest LATER_EXPORT --case DIR, then run the query again)")
    return out


def children(ctx, cur, call) -> pa.Table:
    lin = ctx.case.lineage
    out = descendants_of(lin, select(ctx, cur, call), 1)
    return _rows(lin, [i for i, _ in out], {})


def descendants(ctx, cur, call) -> pa.Table:
    lin = ctx.case.lineage
    depth = None
    if call.args:
        depth = _const(ctx, call, "depth", call.args[0]).as_py()
    out = descendants_of(lin, select(ctx, cur, call), depth)
    return _rows(lin, [i for i, _ in out], {"depth": pa.array([d for _, d in out], pa.int64())})


def ancestors(ctx, cur, call) -> pa.Table:
    lin = ctx.case.lineage
    order, level, of = [], [], []
    keys = lin.procs["proc"].to_pylist()
    for i in select(ctx, cur, call).tolist():
        for lv, a in enumerate(ancestors_of(lin, i), 1):
            order.append(a)
            level.append(lv)
            of.append(keys[i])
    return _rows(lin, order, {"level": pa.array(level, pa.int64()), "of": pa.array(of, pa.string())})


def pidreuse(ctx, cur, call) -> pa.Table:
    """Per host and pid with more than one instance: each life, and how many links in the
    data a PID-only join would get wrong (children of the other lives it would attach)."""
    lin = ctx.case.lineage
    p = lin.procs
    hp = pa.table({"host": p["host"], "pid": p["pid"], "i": pa.array(np.arange(p.num_rows))})
    if cur is not None or call.kwargs:
        sel = select(ctx, cur, call)
        keep = hp.take(pa.array(sel)).select(["host", "pid"])
        hp = hp.join(keep.group_by(["host", "pid"]).aggregate([]), ["host", "pid"], join_type="inner")
    g = hp.group_by(["host", "pid"]).aggregate([("i", "list"), ("i", "count")])
    g = g.filter(pc.greater(g["i_count"], 1))
    offsets, _ = children_index(lin)
    nkids = np.diff(offsets)
    order, lives, wrong = [], [], []
    for idxs in g["i_list"].to_pylist():
        total = int(sum(nkids[i] for i in idxs))
        for i in sorted(idxs, key=lambda j: _i64(p["start"])[j]):
            order.append(i)
            lives.append(len(idxs))
            wrong.append(total - int(nkids[i]))
    t = _rows(lin, order, {"lives": pa.array(lives, pa.int64()),
                           "children": pa.array([int(nkids[i]) for i in order], pa.int64()),
                           "pid_only_wrong": pa.array(wrong, pa.int64())})
    cols = ["host", "pid", "lives", "proc", "start", "end", "last_seen", "name", "image", "children",
            "pid_only_wrong", "link", "parent"]
    t = t.select(cols)
    return t.take(pc.sort_indices(t, sort_keys=[("host", "ascending", "at_end"),
                                                 ("pid", "ascending", "at_end"),
                                                 ("start", "ascending", "at_end")]))


def proc_events(ctx, cur, call) -> pa.Table:
    """Every event attributed to the input processes (descendants=true adds theirs), by time."""
    lin = ctx.case.lineage
    sel = select(ctx, cur, call)
    if "descendants" in call.kwargs and _const(ctx, call, "descendants", call.kwargs["descendants"]).as_py():
        sel = distinct(np.concatenate([sel, np.array([i for i, _ in descendants_of(lin, sel)], np.int64)]))
    mask = np.isin(lin.event_proc, sel)
    ev = ctx.case.events.filter(pa.array(mask))
    idx = lin.event_proc[mask]
    ev = ev.append_column("proc", pc.take(lin.procs["proc"], pa.array(idx)))
    return ev.take(pc.sort_indices(ev, sort_keys=[("ts", "ascending", "at_end")]))


def pipes() -> dict:
    return {"procs": procs_table, "tree": tree, "children": children, "descendants": descendants,
            "ancestors": ancestors, "pidreuse": pidreuse, "events": proc_events}


tree.output_columns = lambda cols, call: PROCS_COLUMNS + ["depth", "path", "focus"]
children.output_columns = lambda cols, call: list(PROCS_COLUMNS)
descendants.output_columns = lambda cols, call: PROCS_COLUMNS + ["depth"]
ancestors.output_columns = lambda cols, call: PROCS_COLUMNS + ["level", "of"]
pidreuse.output_columns = lambda cols, call: ["host", "pid", "lives", "proc", "start", "end",
                                              "last_seen", "name", "image", "children",
                                              "pid_only_wrong", "link", "parent"]
