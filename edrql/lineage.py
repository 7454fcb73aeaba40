"""Process lineage: process instances (``procs``) rebuilt from every event, with a
parent link that says how sure it is.

Identity of an instance: the vendor's unique id (GUID, UPID) when the source has
one; otherwise host + pid + start time; never host + pid alone. Evidence merged
into an instance: start and exit events, the acting-process fields of every other
event, and the parent fields of children. A start seen through two channels (Sysmon
1 with a GUID and Security 4688 without) within ``MERGE_TOLERANCE`` is one instance.

Parent resolution, in order, and the ``link`` it gives:
  vendor parent id → ``exact``; parent pid + parent start time → ``exact``;
  the instance of the parent pid alive at the child's start → ``inferred``
  (several possible → ``ambiguous``, none → ``missing``). A resolved parent whose
  image disagrees with the name the source itself recorded for the parent is
  ``conflict``: the console's wrong-name tree.

All steps are columnar: Arrow hash group-by/joins and numpy sorted searches.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .npkeys import dense_ids as _dense
from .schema import TS

MERGE_TOLERANCE_NS = 2 * 10**9      # same process seen by two channels
NONE = np.iinfo(np.int64).min       # "no time" in int64 arrays

PROCS_COLUMNS = ["proc", "host", "pid", "start", "end", "name", "image", "cmdline", "user",
                 "ppid", "parent", "parent_start", "link", "candidates", "seen", "pname",
                 "puid", "first_seen", "last_seen", "events", "parent_note", "candidate_procs"]


@dataclass
class Lineage:
    procs: pa.Table            # one row per instance (PROCS_COLUMNS)
    event_proc: np.ndarray     # per events row: index into procs of its acting process, or -1
    parent_idx: np.ndarray     # per instance: index of the parent instance, or -1
    candidates: list           # per instance: list of candidate instance indices (ambiguous)


# ---------------------------------------------------------------- numpy helpers
def _i64(arr) -> np.ndarray:
    """int64/timestamp Arrow array → numpy int64 with NONE for nulls."""
    a = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if pa.types.is_timestamp(a.type):
        a = a.cast(pa.int64())
    return pc.fill_null(a, NONE).to_numpy(zero_copy_only=False).astype(np.int64)


def _codes(arr) -> np.ndarray:
    """Strings → int64 codes (null → -1), via Arrow's dictionary encoding."""
    a = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    d = pc.dictionary_encode(a)
    return pc.fill_null(d.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64), d.dictionary


def _name_codes(names) -> np.ndarray:
    """Case-insensitive codes of image names: encode, lower the few distinct values, re-code."""
    a = names.combine_chunks() if isinstance(names, pa.ChunkedArray) else names
    enc = pc.dictionary_encode(a)
    low = pc.dictionary_encode(pc.utf8_lower(enc.dictionary)).indices
    codes = pc.take(low, enc.indices)
    return pc.fill_null(codes, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def asof(left_g, left_t, right_g, right_t) -> np.ndarray:
    """For each left (g, t): index of the right row with the same g and the largest
    t' <= t (ties: the last such row), or -1. Vectorized: one sort + searchsorted."""
    n = len(left_g)
    if n == 0 or len(right_g) == 0:
        return np.full(n, -1, np.int64)
    allt = np.concatenate([left_t, right_t])
    _, inv = np.unique(allt, return_inverse=True)
    m = int(inv.max()) + 2
    lk = left_g * m + inv[:n]
    rk = right_g * m + inv[n:]
    order = np.argsort(rk, kind="stable")
    rks = rk[order]
    pos = np.searchsorted(rks, lk, side="right") - 1
    ok = pos >= 0
    pos_c = np.where(ok, pos, 0)
    ok &= right_g[order][pos_c] == left_g
    return np.where(ok, order[pos_c], -1)


def nearest_within(left_g, left_t, right_g, right_t, tol: int) -> np.ndarray:
    """Index of the right row with the same g and |t' - t| <= tol (closest), or -1."""
    if len(right_g) == 0:
        return np.full(len(left_g), -1, np.int64)
    before = asof(left_g, left_t, right_g, right_t)
    after = asof(left_g, -left_t, right_g, -right_t)
    db = np.where(before >= 0, left_t - right_t[np.maximum(before, 0)], np.iinfo(np.int64).max)
    da = np.where(after >= 0, right_t[np.maximum(after, 0)] - left_t, np.iinfo(np.int64).max)
    pick = np.where(db <= da, before, after)
    dist = np.minimum(db, da)
    return np.where(dist <= tol, pick, -1)


# ---------------------------------------------------------------- build
def build(events: pa.Table) -> Lineage:
    n = events.num_rows
    col = events.column
    host, host_dict = _codes(col("host"))
    pid = _i64(col("pid"))
    ppid = _i64(col("ppid"))
    ts = _i64(col("ts"))
    pstart = _i64(col("pstart"))
    ppstart = _i64(col("ppstart"))
    uids = pa.chunked_array([col("puid").combine_chunks(), col("ppuid").combine_chunks()])
    uid_codes, uid_dict = _codes(uids)
    puid, ppuid = uid_codes[:n], uid_codes[n:]
    event = col("event")
    is_start = pc.fill_null(pc.equal(event, "process_start"), False).to_numpy(zero_copy_only=False)
    is_end = pc.fill_null(pc.equal(event, "process_end"), False).to_numpy(zero_copy_only=False)

    # observations: acting process of each row (A) and parent fields (P, with uid or start)
    a_rows = np.nonzero((host >= 0) & ((pid != NONE) | (puid >= 0)))[0]
    p_rows = np.nonzero((host >= 0) & ((ppuid >= 0) | ((ppid != NONE) & (ppstart != NONE))))[0]
    o_host = np.concatenate([host[a_rows], host[p_rows]])
    o_pid = np.concatenate([pid[a_rows], ppid[p_rows]])
    o_uid = np.concatenate([puid[a_rows], ppuid[p_rows]])
    # a start event's own time is the process start when the source gives none
    a_start = np.where((pstart[a_rows] == NONE) & is_start[a_rows], ts[a_rows], pstart[a_rows])
    o_start = np.concatenate([a_start, ppstart[p_rows]])
    o_ts = np.concatenate([ts[a_rows], ts[p_rows]])
    o_row = np.concatenate([a_rows, p_rows])
    o_acting = np.concatenate([np.ones(len(a_rows), bool), np.zeros(len(p_rows), bool)])
    n_obs = len(o_row)
    inst = np.full(n_obs, -1, np.int64)

    # 1) vendor ids: one instance per (host, uid)
    has_uid = o_uid >= 0
    g_uid = np.full(n_obs, -1, np.int64)
    if has_uid.any():
        g_uid[has_uid] = _dense(o_host[has_uid], o_uid[has_uid])
    n_u = int(g_uid.max()) + 1 if has_uid.any() else 0
    inst[has_uid] = g_uid[has_uid]
    # the start of each uid instance (min over observations that know it)
    u_start = np.full(n_u, np.iinfo(np.int64).max, np.int64)
    m = has_uid & (o_start != NONE)
    np.minimum.at(u_start, g_uid[m], o_start[m])
    u_start[u_start == np.iinfo(np.int64).max] = NONE
    u_host = np.zeros(n_u, np.int64)
    u_pid = np.full(n_u, NONE, np.int64)
    u_host[g_uid[has_uid]] = o_host[has_uid]
    mp = has_uid & (o_pid != NONE)
    u_pid[g_uid[mp]] = o_pid[mp]

    # 2) host + pid + start for the rest; merged into a uid instance started within tolerance
    s_mask = (~has_uid) & (o_start != NONE) & (o_pid != NONE)
    next_id = n_u
    if s_mask.any():
        s_idx = np.nonzero(s_mask)[0]
        hp_all = _dense(np.concatenate([o_host[s_idx], u_host]), np.concatenate([o_pid[s_idx], u_pid]))
        hp_s, hp_u = hp_all[: len(s_idx)], hp_all[len(s_idx):]
        has_u_start = u_start != NONE
        u_ids = np.nonzero(has_u_start)[0]
        hit = nearest_within(hp_s, o_start[s_idx], hp_u[u_ids], u_start[u_ids], MERGE_TOLERANCE_NS)
        merged = hit >= 0
        inst[s_idx[merged]] = u_ids[hit[merged]]
        # a source whose process start field and event time disagree (clock trouble):
        # match start events on the event time too
        u_start_ev = np.full(n_u, np.iinfo(np.int64).max, np.int64)
        mev = has_uid & o_acting & is_start[o_row]
        np.minimum.at(u_start_ev, g_uid[mev], o_ts[mev])
        u_ev_ids = np.nonzero(u_start_ev != np.iinfo(np.int64).max)[0]
        left = ~merged & o_acting[s_idx] & is_start[o_row[s_idx]]
        if left.any() and len(u_ev_ids):
            li = np.nonzero(left)[0]
            hit2 = nearest_within(hp_s[li], o_ts[s_idx[li]], hp_u[u_ev_ids], u_start_ev[u_ev_ids],
                                  MERGE_TOLERANCE_NS)
            ok2 = hit2 >= 0
            inst[s_idx[li[ok2]]] = u_ev_ids[hit2[ok2]]
            merged[li[ok2]] = True
        rest = s_idx[~merged]
        if len(rest):
            # starts in microseconds: a pid cannot be reused within one, and the key packs
            # into one integer (one sort instead of three)
            g = _dense(o_host[rest], o_pid[rest], o_start[rest] // 1000)
            inst[rest] = next_id + g
            next_id += int(g.max()) + 1

    # instance table so far (for time-based resolution)
    def inst_starts(k):
        st = np.full(k, np.iinfo(np.int64).max, np.int64)
        mm = (inst >= 0) & (o_start != NONE)
        np.minimum.at(st, inst[mm], o_start[mm])
        st[st == np.iinfo(np.int64).max] = NONE
        return st

    # 3) acting observations with neither uid nor start: the instance of that pid alive then
    pend = np.nonzero((inst < 0) & (o_pid != NONE))[0]
    if len(pend):
        k = next_id
        i_start = inst_starts(k)
        i_host = np.zeros(k, np.int64)
        i_pid = np.full(k, NONE, np.int64)
        known = inst >= 0
        i_host[inst[known]] = o_host[known]
        mp = known & (o_pid != NONE)
        i_pid[inst[mp]] = o_pid[mp]
        cand = np.nonzero(i_start != NONE)[0]
        hp = _dense(np.concatenate([o_host[pend], i_host[cand]]),
                    np.concatenate([o_pid[pend], i_pid[cand]]))
        hit = asof(hp[: len(pend)], o_ts[pend], hp[len(pend):], i_start[cand])
        ok = hit >= 0
        # an image that differs from the live instance's is another life of that pid
        name_code = _name_codes(col("name"))
        i_name = np.full(k, -1, np.int64)
        sm = known & o_acting & is_start[o_row]
        i_name[inst[sm]] = name_code[o_row[sm]]
        mine = name_code[o_row[pend]]
        theirs = i_name[cand[np.maximum(hit, 0)]]
        ok &= ~((mine >= 0) & (theirs >= 0) & (mine != theirs))
        inst[pend[ok]] = cand[hit[ok]]
        left = pend[~ok]
        if len(left):  # no live instance that fits: one referenced instance per pid and image
            g = _dense(o_host[left], o_pid[left], name_code[o_row[left]])
            inst[left] = next_id + g
            next_id += int(g.max()) + 1
    return _assemble(events, host_dict, uid_dict, inst, o_row, o_acting, o_host, o_pid, o_uid,
                     o_start, o_ts, next_id, is_start, is_end, ppid, ppstart, ppuid, pid)


def _group_min(k: int, ids: np.ndarray, vals: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.full(k, np.iinfo(np.int64).max, np.int64)
    m = mask & (vals != NONE)
    np.minimum.at(out, ids[m], vals[m])
    out[out == np.iinfo(np.int64).max] = NONE
    return out


def _group_max(k: int, ids: np.ndarray, vals: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.full(k, NONE, np.int64)
    m = mask & (vals != NONE)
    np.maximum.at(out, ids[m], vals[m])
    return out


def _best_row(k: int, ids: np.ndarray, rows: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Per instance, the event row with the highest score (earliest row on ties); -1 if none.
    One scatter-max over (score, -row) packed into an int64: no sort."""
    out = np.full(k, -1, np.int64)
    if len(ids) == 0:
        return out
    span = int(rows.max()) + 1
    packed = score.astype(np.int64) * span + (span - 1 - rows)
    best = np.full(k, -1, np.int64)
    np.maximum.at(best, ids, packed)
    has = best >= 0
    out[has] = span - 1 - (best[has] % span)
    return out


def _labels(values: np.ndarray) -> pa.Array:
    """A few distinct labels (object array, None allowed) → string array, without a
    Python object per row: codes into the distinct labels, then one take."""
    uniq = [u for u in dict.fromkeys(values.tolist())]
    lookup = {u: i for i, u in enumerate(uniq)}
    if len(uniq) > 64:
        return pa.array(list(values), pa.string())
    codes = np.zeros(len(values), np.int32)
    for u, i in lookup.items():
        codes[values == u] = i if u is not None else 0
    dict_arr = pa.array(uniq, pa.string())
    null_mask = np.array([u is None for u in uniq])[codes] if None in lookup else None
    idx = pa.array(codes, pa.int32(), mask=null_mask)
    return pc.take(dict_arr, idx)


def _ts_array(v: np.ndarray) -> pa.Array:
    return pa.array(np.where(v == NONE, 0, v), pa.int64(), mask=(v == NONE)).cast(TS)


def _take_str(arr, rows: np.ndarray) -> pa.Array:
    a = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    idx = pa.array(np.where(rows < 0, 0, rows), pa.int64(), mask=(rows < 0))
    return pc.take(a, idx)


def _lower_base(arr: pa.Array) -> pa.Array:
    return pc.utf8_lower(pc.replace_substring_regex(arr, r"^.*[\\/]", ""))


def _assemble(events, host_dict, uid_dict, inst, o_row, o_acting, o_host, o_pid, o_uid,
              o_start, o_ts, k, is_start, is_end, ppid, ppstart, ppuid, pid) -> Lineage:
    n = events.num_rows
    ok = inst >= 0
    ids, rows = inst[ok], o_row[ok]
    acting = o_acting[ok]
    i_host = np.zeros(k, np.int64)
    i_host[ids] = o_host[ok]
    i_pid = np.full(k, NONE, np.int64)
    mp = o_pid[ok] != NONE
    i_pid[ids[mp]] = o_pid[ok][mp]
    i_uid = np.full(k, -1, np.int64)
    mu = o_uid[ok] >= 0
    i_uid[ids[mu]] = o_uid[ok][mu]
    i_start = _group_min(k, ids, o_start[ok], np.ones(len(ids), bool))
    i_first = _group_min(k, ids, o_ts[ok], np.ones(len(ids), bool))
    i_last = _group_max(k, ids, o_ts[ok], np.ones(len(ids), bool))
    row_start = is_start[rows] & acting
    row_end = is_end[rows] & acting
    i_end = _group_min(k, ids, events.column("ts").combine_chunks().cast(pa.int64()).to_numpy(
        zero_copy_only=False)[rows] if len(rows) else np.zeros(0, np.int64), row_end)
    has_start_ev = np.zeros(k, bool)
    has_start_ev[ids[row_start]] = True
    has_exit_ev = np.zeros(k, bool)
    has_exit_ev[ids[row_end]] = True
    n_events = np.bincount(ids[acting], minlength=k)

    # attributes: a start row first, then any acting row; parent-ref rows only as a fallback
    ra = rows[acting]
    score = row_start[acting] * 4 + (ppuid[ra] >= 0) * 2 + (ppstart[ra] != NONE) * 1
    best = _best_row(k, ids[acting], ra, score.astype(np.int64))
    pref = _best_row(k, ids[~acting], rows[~acting], np.zeros((~acting).sum(), np.int64))
    col = events.column
    image = pc.coalesce(_take_str(col("image"), best), _take_str(col("pimage"), pref))
    cmdline = pc.coalesce(_take_str(col("cmdline"), best), _take_str(col("pcmdline"), pref))
    user = _take_str(col("user"), best)
    name = pc.replace_substring_regex(image, r"^.*[\\/]", "")

    # the parent as the instance's own record states it
    has_best = best >= 0
    b = np.where(has_best, best, 0)
    c_ppid = np.where(has_best, ppid[b], NONE)
    c_ppstart = np.where(has_best, ppstart[b], NONE)
    c_ppuid = np.where(has_best, ppuid[b], -1)
    src_pname = _take_str(col("pimage"), best)

    # parent-ref observations map an event row to the parent instance it names
    prow_inst = np.full(n, -1, np.int64)
    pr = ~acting
    prow_inst[rows[pr]] = ids[pr]
    parent = np.full(k, -1, np.int64)
    link = np.full(k, "missing", dtype=object)
    ncand = np.zeros(k, np.int64)
    by_ref = has_best & (prow_inst[b] >= 0) & ((c_ppuid >= 0) | (c_ppstart != NONE))
    parent[by_ref] = prow_inst[b[by_ref]]
    link[by_ref] = "exact"
    ncand[by_ref] = 1
    cand_lists: list = [None] * k

    # time-based: the instance of the parent pid alive at the child's start
    child_t = np.where(i_start != NONE, i_start, i_first)
    need = np.nonzero(~by_ref & (c_ppid != NONE))[0]
    exited = np.zeros(k, bool)
    if len(need):
        cands = np.nonzero(i_start != NONE)[0]
        hp = _dense(np.concatenate([i_host[need], i_host[cands]]),
                    np.concatenate([c_ppid[need], i_pid[cands]]))
        hit = asof(hp[: len(need)], child_t[need], hp[len(need):], i_start[cands])
        found = hit >= 0
        par = np.where(found, cands[np.maximum(hit, 0)], -1)
        dead = found & (i_end[np.maximum(par, 0)] != NONE) & (i_end[np.maximum(par, 0)] < child_t[need])
        good = found & ~dead & (par != need)
        parent[need[good]] = par[good]
        link[need[good]] = "inferred"
        ncand[need[good]] = 1
        exited[need[dead]] = True
        _unknown_start_candidates(need, par, good, i_host, i_pid, i_start, i_first, i_end, child_t,
                                  c_ppid, parent, link, ncand, cand_lists)
    # conflict: the source's own parent name disagrees with the resolved parent's image
    has_parent = parent >= 0
    pidx = pa.array(np.where(has_parent, parent, 0))
    resolved_name = pc.if_else(pa.array(has_parent), pc.take(name, pidx), pa.scalar(None, pa.string()))
    differs = pc.fill_null(pc.not_equal(_lower_base(src_pname), pc.utf8_lower(resolved_name)), False)
    differs = differs.to_numpy(zero_copy_only=False) & (link != "ambiguous")
    link[differs] = "conflict"

    # notes for roots and missing parents
    notes = np.full(k, None, dtype=object)
    no_parent = ~has_parent & (link != "ambiguous")
    notes[no_parent & (c_ppid == NONE) & (c_ppuid < 0)] = "no parent recorded"
    before = no_parent & (c_ppid != NONE) & ~exited
    notes[before] = "parent not in the data: started before the data window or its start was not exported"
    notes[no_parent & exited] = "the only instance of the parent pid had exited before the child started"

    event_proc = np.full(n, -1, np.int64)
    event_proc[rows[acting]] = ids[acting]
    seen = np.where(has_start_ev, "start_event", np.where(has_exit_ev, "exit_event", "referenced"))
    host_s = pc.take(host_dict, pa.array(i_host))
    uid_s = pc.take(uid_dict, pa.array(np.where(i_uid >= 0, i_uid, 0), pa.int64(), mask=i_uid < 0))
    start_a = _ts_array(i_start)
    first_a = _ts_array(i_first)
    from .timefmt import iso
    start_txt = iso(start_a)
    seen_txt = pc.binary_join_element_wise("seen ", iso(first_a), "")
    pid_txt = pc.cast(pa.array(np.where(i_pid == NONE, 0, i_pid), mask=i_pid == NONE), pa.string())
    proc = pc.coalesce(
        pc.binary_join_element_wise(host_s, uid_s, "|"),
        pc.binary_join_element_wise(host_s, pc.fill_null(pid_txt, "?"), pc.coalesce(start_txt, seen_txt), "|"))
    parent_key = pc.if_else(pa.array(has_parent), pc.take(proc, pidx), pa.scalar(None, pa.string()))
    table = pa.table({
        "proc": proc, "host": host_s,
        "pid": pa.array(np.where(i_pid == NONE, 0, i_pid), pa.int64(), mask=i_pid == NONE),
        "start": start_a, "end": _ts_array(i_end), "name": name, "image": image,
        "cmdline": cmdline, "user": user,
        "ppid": pa.array(np.where(c_ppid == NONE, 0, c_ppid), pa.int64(), mask=c_ppid == NONE),
        "parent": parent_key,
        "parent_start": pc.if_else(pa.array(has_parent), pc.take(start_a, pidx),
                                   pa.scalar(None, TS)),
        "link": _labels(link),
        "candidates": pa.array(ncand, pa.int64()),
        "seen": _labels(seen),
        "pname": src_pname,
        "puid": uid_s, "first_seen": first_a, "last_seen": _ts_array(i_last),
        "events": pa.array(n_events, pa.int64()),
        "parent_note": _labels(notes),
    })
    # an ambiguous link lists its candidates (their proc keys)
    amb = [i for i, c in enumerate(cand_lists) if c]
    cands = np.full(k, None, dtype=object)
    if amb:
        keys = proc.to_pylist()
        for i in amb:
            cands[i] = ", ".join(keys[j] for j in cand_lists[i])
    table = table.append_column("candidate_procs", pa.array(list(cands), pa.string()))
    return Lineage(table, event_proc, parent, cand_lists)


def _unknown_start_candidates(need, par, good, i_host, i_pid, i_start, i_first, i_end, child_t,
                              c_ppid, parent, link, ncand, cand_lists) -> None:
    """Instances of the parent pid with no known start (seen only as actors) may have
    started between the time-based candidate's start and the child: count them, and
    call the link ambiguous when more than one instance remains possible."""
    unk = np.nonzero(i_start == NONE)[0]
    if len(unk) == 0:
        return
    index: dict[tuple[int, int], list[int]] = {}
    for u in unk:                 # few: only sources without start times produce these
        index.setdefault((int(i_host[u]), int(i_pid[u])), []).append(int(u))
    for j, c in enumerate(need):
        others = index.get((int(i_host[c]), int(c_ppid[c])))
        if not others:
            continue
        lo = i_start[par[j]] if good[j] else NONE
        possible = [u for u in others if u != c and (lo == NONE or i_first[u] > lo)
                    and not (i_end[u] != NONE and i_end[u] < child_t[c])]
        if not possible:
            continue
        already = [par[j]] if good[j] else []
        sure = [u for u in possible if i_first[u] <= child_t[c]]
        if sure and not [u for u in possible if i_first[u] > child_t[c]]:
            best = max(sure, key=lambda u: i_first[u])
            parent[c], link[c], ncand[c] = best, "inferred", 1
            continue
        cl = already + possible
        if len(cl) == 1:
            parent[c], link[c], ncand[c] = cl[0], "inferred", 1
        else:
            parent[c], link[c], ncand[c] = -1, "ambiguous", len(cl)
            cand_lists[c] = cl


def children_index(lin: Lineage) -> tuple[np.ndarray, np.ndarray]:
    """CSR adjacency (offsets, child ids sorted by start) of the resolved links, cached."""
    cached = getattr(lin, "_children", None)
    if cached is not None:
        return cached
    k = len(lin.parent_idx)
    par = lin.parent_idx
    starts = _i64(lin.procs.column("start"))
    kids = np.nonzero(par >= 0)[0]
    order = np.lexsort((starts[kids], par[kids]))
    kids = kids[order]
    counts = np.bincount(par[kids], minlength=k)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    lin._children = (offsets, kids)
    return lin._children


# ---------------------------------------------------------------- persistence
def _stamp(case) -> str:
    from .store import segments_stamp
    return segments_stamp(case.manifest)


def load_or_build(case) -> Lineage:
    """Lineage is derived data: built once per state of the case and kept in
    ``CASE/derived/`` (memory-mapped afterwards); any ingest changes the stamp."""
    import os
    d = os.path.join(case.root, "derived")
    stamp = _stamp(case)
    path = os.path.join(d, f"lineage-{stamp}.arrow")
    if os.path.exists(path):
        try:
            t = pa.ipc.open_file(pa.memory_map(path, "r")).read_all()
            meta = t.schema.metadata or {}
            n_procs = int(meta[b"procs"])
            procs = t.slice(0, n_procs).select(PROCS_COLUMNS)
            parent_idx = _i64(t.column("parent_idx").slice(0, n_procs))
            event_proc = np.load(os.path.join(d, f"event_proc-{stamp}.npy"), mmap_mode="r")
            return Lineage(procs, event_proc, parent_idx, [None] * n_procs)
        except (OSError, KeyError, ValueError, pa.ArrowInvalid):
            pass
    lin = build(case.events)
    if os.access(case.root, os.W_OK):
        try:
            os.makedirs(d, exist_ok=True)
            t = lin.procs.append_column("parent_idx", pa.array(lin.parent_idx, pa.int64()))
            t = t.replace_schema_metadata({"procs": str(lin.procs.num_rows)})
            tmp = path + f".{os.getpid()}.tmp"
            with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, t.schema) as w:
                w.write_table(t)
            np.save(os.path.join(d, f"event_proc-{stamp}.npy.tmp.npy"), lin.event_proc)
            os.replace(os.path.join(d, f"event_proc-{stamp}.npy.tmp.npy"),
                       os.path.join(d, f"event_proc-{stamp}.npy"))
            os.replace(tmp, path)
        except OSError:
            pass
    return lin
