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

import concurrent.futures as cf
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .lineage_links import AMBIGUOUS, CONFLICT, LINKS, _links
from .npkeys import NONE, asof, best_row, group_max, group_min, nearest_within, unique_within
from .npkeys import dense_ids as _dense
from .fnspec import INT, TEXT, TIME
from .schema import TS
from . import segcodec
from .segcodec import plain, plain_table
from .stamp import segments_stamp
from .caselock import open_sink

MERGE_TOLERANCE_NS = 2 * 10**9      # same process seen by two channels
# A child's record of its parent's creation time can differ from the parent's own: in
# Defender's export a child's InitiatingProcessCreationTime precedes its parent's
# ProcessCreationTime by 0.03-1.23 s (30 pairs in msticpy's export; the next distance,
# between different lives, is 4.9 s). Within this, a start known only from such references
# is the one started life of that pid on that host, if exactly one is that close.
CREATION_TOLERANCE_NS = MERGE_TOLERANCE_NS
# a vendor id that says "unknown": empty, 0, the all-zero GUID (also after "aid:")
UNKNOWN_ID = r"^(?:[^:{}]*:)?\s*[{(]?[0-]*[})]?\s*$"

#: the procs table's columns and their kinds (the checker reads the kinds: lineagepred
#: checks a PRED before any lineage is built)
PROCS_KINDS = {"proc": TEXT, "host": TEXT, "pid": INT, "start": TIME, "end": TIME,
               "name": TEXT, "image": TEXT, "cmdline": TEXT, "user": TEXT, "ppid": INT,
               "parent": TEXT, "parent_start": TIME, "link": TEXT, "candidates": INT,
               "seen": TEXT, "pname": TEXT, "pimage": TEXT, "puid": TEXT, "first_seen": TIME,
               "last_seen": TIME, "events": INT, "parent_note": TEXT, "candidate_procs": TEXT}
PROCS_COLUMNS = list(PROCS_KINDS)


@dataclass
class Lineage:
    procs: pa.Table            # one row per instance (PROCS_COLUMNS)
    event_proc: np.ndarray     # per events row: index into procs of its acting process, or -1
    parent_idx: np.ndarray     # per instance: index of the parent instance, or -1


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


def _text_keys(col, n: int):
    """Host codes and vendor-id codes of every row (Arrow kernels: run on a second
    thread while the numeric columns are converted)."""
    host, host_dict = _codes(col("host"))
    if col("puid").null_count == n and col("ppuid").null_count == n:   # PID-only sources
        puid = ppuid = np.full(n, -1, np.int64)
        uid_dict = pa.array([], pa.string())
    else:
        uids = pa.chunked_array([col("puid").combine_chunks(), col("ppuid").combine_chunks()])
        uid_codes, uid_dict = _codes(uids)
        # "unknown" written as an id (0, empty, the all-zero GUID) is no identity: tested
        # on the distinct values only
        unknown = pc.fill_null(pc.match_substring_regex(uid_dict, UNKNOWN_ID), False)
        unknown = unknown.to_numpy(zero_copy_only=False)
        if unknown.any():
            uid_codes = np.where(unknown[np.maximum(uid_codes, 0)], -1, uid_codes)
        puid, ppuid = uid_codes[:n], uid_codes[n:]
    return host, host_dict, puid, ppuid, uid_dict


def _event_flags(event) -> tuple[np.ndarray, np.ndarray]:
    """Which rows are process starts and exits: one dictionary encoding of the
    event column, then integer compares."""
    codes, labels = _codes(event)
    labels = labels.to_pylist()
    flag = {}
    for name in ("process_start", "process_end"):
        flag[name] = codes == labels.index(name) if name in labels else np.zeros(len(codes), bool)
    return flag["process_start"], flag["process_end"]


def build(events: pa.Table) -> Lineage:
    n = events.num_rows
    col = events.column
    with cf.ThreadPoolExecutor(max_workers=1) as pool:
        keys = pool.submit(_text_keys, col, n)
        pid = _i64(col("pid"))
        ppid = _i64(col("ppid"))
        ts = _i64(col("ts"))
        pstart = _i64(col("pstart"))
        ppstart = _i64(col("ppstart"))
        is_start, is_end = _event_flags(col("event"))
        host, host_dict, puid, ppuid, uid_dict = keys.result()

    # observations: acting process of each row (A) and parent fields (P, with uid or start)
    a_rows = np.nonzero((host >= 0) & ((pid != NONE) | (puid >= 0)))[0]
    p_rows = np.nonzero((host >= 0) & ((ppuid >= 0) | ((ppid != NONE) & (ppstart != NONE))))[0]

    def acting_part(a):       # every row usually has an acting process: no gather then
        return a if len(a_rows) == n else a[a_rows]
    o_host = np.concatenate([acting_part(host), host[p_rows]])
    o_pid = np.concatenate([acting_part(pid), ppid[p_rows]])
    o_uid = np.concatenate([acting_part(puid), ppuid[p_rows]])
    # a start event's own time is the process start when the source gives none
    a_start = acting_part(np.where((pstart == NONE) & is_start, ts, pstart))
    o_start = np.concatenate([a_start, ppstart[p_rows]])
    o_ts = np.concatenate([acting_part(ts), ts[p_rows]])
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
    u_start = group_min(n_u, g_uid, o_start, has_uid)
    u_host = np.zeros(n_u, np.int64)
    u_pid = np.full(n_u, NONE, np.int64)
    u_host[g_uid[has_uid]] = o_host[has_uid]
    mp = has_uid & (o_pid != NONE)
    u_pid[g_uid[mp]] = o_pid[mp]

    # 2) host + pid + start for the rest; merged into a uid instance started within tolerance
    s_mask = (~has_uid) & (o_start != NONE) & (o_pid != NONE)
    next_id = n_u
    if s_mask.all():            # the common PID-only source: every observation
        rest = None
    elif s_mask.any():
        s_idx = np.nonzero(s_mask)[0]
        merged = _merge_into_uid(s_idx, inst, o_host, o_pid, o_start, o_ts, o_acting, o_row,
                                 is_start, has_uid, g_uid, u_host, u_pid, u_start) \
            if n_u else np.zeros(len(s_idx), bool)
        rest = s_idx[~merged]
    else:
        rest = np.zeros(0, np.int64)
    if rest is None or len(rest):
        # starts in microseconds: a pid cannot be reused within one
        sub = slice(None) if rest is None else rest
        g = _dense(o_host[sub], o_pid[sub], o_start[sub] // 1000)
        g = _snap_referenced(g, o_host[sub], o_pid[sub], o_start[sub], o_ts[sub], o_acting[sub],
                             o_row[sub], is_start, col)
        inst[sub] = next_id + g
        next_id += int(g.max()) + 1 if len(g) else 0

    # 3) acting observations with neither uid nor start: the instance of that pid alive then
    pend = np.nonzero((inst < 0) & (o_pid != NONE))[0]
    if len(pend):
        k = next_id
        i_start = group_min(k, inst, o_start, inst >= 0)   # instances so far
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
        if len(cand):
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


def _snap_referenced(g, host, pid, start, ts, acting, rows, is_start, col) -> np.ndarray:
    """Instances (host, pid, start) without a start event whose start is within
    ``CREATION_TOLERANCE_NS`` of exactly one started instance of that host and pid join
    it: same name where both are known, and no activity before that start. Returns
    dense group ids again."""
    started_obs = acting & is_start[rows]
    if len(g) == 0 or not started_obs.any() or started_obs.all():
        return g
    k = int(g.max()) + 1
    started = np.zeros(k, bool)
    started[g[started_obs]] = True
    ref, anc = np.nonzero(~started)[0], np.nonzero(started)[0]
    if len(ref) == 0:
        return g
    # host, pid and start (to the microsecond) are each group's key: scatter, no reduction
    g_start, g_host, g_pid = (np.zeros(k, np.int64) for _ in range(3))
    g_start[g], g_host[g], g_pid[g] = start, host, pid
    hp = _dense(np.concatenate([g_host[ref], g_host[anc]]), np.concatenate([g_pid[ref], g_pid[anc]]))
    hit = unique_within(hp[: len(ref)], g_start[ref], hp[len(ref):], g_start[anc],
                        CREATION_TOLERANCE_NS)
    ref, to = ref[hit >= 0], anc[hit[hit >= 0]]
    if len(ref) == 0:
        return g
    near = np.zeros(k, bool)
    near[ref] = True
    g_first = group_min(k, g, ts, near[g])             # only the groups that may join
    ok = g_first[ref] >= g_start[to] - CREATION_TOLERANCE_NS
    if ok.any():     # names: a reference names the parent (pname), an action its actor (name)
        obs = np.arange(len(g))
        rep, rep_s = np.full(k, -1, np.int64), np.full(k, -1, np.int64)
        rep[g[::-1]] = obs[::-1]
        rep_s[g[started_obs][::-1]] = obs[started_obs][::-1]
        o = np.concatenate([rep[ref], rep_s[to]])
        who = pc.if_else(pa.array(acting[o]), _take_str(col("name"), rows[o]),
                         _take_str(col("pname"), rows[o]))
        low = pc.utf8_lower(who)
        differ = pc.fill_null(pc.not_equal(low[: len(ref)], low[len(ref):]), False)
        ok &= ~differ.to_numpy(zero_copy_only=False)
    if not ok.any():
        return g
    remap = np.arange(k)
    remap[ref[ok]] = to[ok]
    used = np.zeros(k, bool)
    used[remap] = True
    return (np.cumsum(used) - 1)[remap[g]]


def _merge_into_uid(s_idx, inst, o_host, o_pid, o_start, o_ts, o_acting, o_row, is_start,
                    has_uid, g_uid, u_host, u_pid, u_start) -> np.ndarray:
    """Observations without a vendor id that are the same process as a vendor-id
    instance (same host and pid, start within tolerance): assign them to it in
    ``inst``; returns which of ``s_idx`` were merged."""
    n_u = len(u_host)
    hp_all = _dense(np.concatenate([o_host[s_idx], u_host]), np.concatenate([o_pid[s_idx], u_pid]))
    hp_s, hp_u = hp_all[: len(s_idx)], hp_all[len(s_idx):]
    u_ids = np.nonzero(u_start != NONE)[0]
    hit = nearest_within(hp_s, o_start[s_idx], hp_u[u_ids], u_start[u_ids], MERGE_TOLERANCE_NS)
    merged = hit >= 0
    inst[s_idx[merged]] = u_ids[hit[merged]]
    # a source whose process start field and event time disagree (clock trouble):
    # match start events on the event time too
    u_start_ev = group_min(n_u, g_uid, o_ts, has_uid & o_acting & is_start[o_row])
    u_ev_ids = np.nonzero(u_start_ev != NONE)[0]
    left = ~merged & o_acting[s_idx] & is_start[o_row[s_idx]]
    if left.any() and len(u_ev_ids):
        li = np.nonzero(left)[0]
        hit2 = nearest_within(hp_s[li], o_ts[s_idx[li]], hp_u[u_ev_ids], u_start_ev[u_ev_ids],
                              MERGE_TOLERANCE_NS)
        ok2 = hit2 >= 0
        inst[s_idx[li[ok2]]] = u_ev_ids[hit2[ok2]]
        merged[li[ok2]] = True
    return merged


# link, seen and note labels are carried as small integer codes and turned into
# strings once, by one dictionary take
SEEN = ["start_event", "exit_event", "referenced"]
NOTES = [None, "no parent recorded",
         "parent not in the data: started before the data window or its start was not exported",
         "the only instance of the parent pid had exited before the child started"]


def _coded(codes: np.ndarray, labels: list) -> pa.Array:
    return pc.take(pa.array(labels, pa.string()), pa.array(codes.astype(np.int8, copy=False)))


def _ts_array(v: np.ndarray) -> pa.Array:
    return pa.array(np.where(v == NONE, 0, v), pa.int64(), mask=(v == NONE)).cast(TS)


def _take_str(arr, rows: np.ndarray) -> pa.Array:
    idx = pa.array(np.where(rows < 0, 0, rows), pa.int64(), mask=(rows < 0))
    return plain(pc.take(arr, idx).combine_chunks())


def _base(arr: pa.Array) -> pa.Array:
    """Basename of each path, computed on the distinct paths only."""
    enc = pc.dictionary_encode(arr)
    return pc.take(pc.replace_substring_regex(enc.dictionary, r"^.*[\\/]", ""), enc.indices)


def _strings(col, best: np.ndarray, pref: np.ndarray) -> dict:
    """Text attributes of each instance: from its best acting row; where that row
    lacks one, from the parent fields of a child's row (``pref``)."""
    def with_fallback(own: str, ref: str) -> pa.Array:
        v = _take_str(col(own), best)
        missing = pc.is_null(v).to_numpy(zero_copy_only=False)
        if not (missing & (pref >= 0)).any():
            return v
        return pc.coalesce(v, _take_str(col(ref), np.where(missing, pref, -1)))
    image = with_fallback("image", "pimage")
    return {
        "image": image, "name": _base(image),
        "cmdline": with_fallback("cmdline", "pcmdline"),
        "user": _take_str(col("user"), best),
    }


def _parent_names(pimage, best: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """The parent image each instance's own record gives, and its lower-cased base
    name (compared with the resolved parent's name to find conflicts)."""
    src = _take_str(pimage, best)
    return src, pc.utf8_lower(_base(src))


def _assemble(events, host_dict, uid_dict, inst, o_row, o_acting, o_host, o_pid, o_uid,
              o_start, o_ts, k, is_start, is_end, ppid, ppstart, ppuid, pid) -> Lineage:
    n = events.num_rows
    if (inst >= 0).all():
        ids, rows, acting, ts_ok, start_ok = inst, o_row, o_acting, o_ts, o_start
        pid_ok, uid_ok, host_ok = o_pid, o_uid, o_host
    else:
        ok = inst >= 0
        ids, rows, acting, ts_ok, start_ok = inst[ok], o_row[ok], o_acting[ok], o_ts[ok], o_start[ok]
        pid_ok, uid_ok, host_ok = o_pid[ok], o_uid[ok], o_host[ok]
    # acting observations come first, parent references after them: slices, not masks
    na = int(np.count_nonzero(acting))
    a_ids, ra, r_ids, rr = ids[:na], rows[:na], ids[na:], rows[na:]
    start_a, end_a = is_start[ra], is_end[ra]
    # attributes: a start row first, then any acting row; parent-ref rows only as a fallback
    score = start_a * np.int64(4) + (ppuid[ra] >= 0) * 2 + (ppstart[ra] != NONE)
    best = best_row(k, a_ids, ra, score)
    pref = best_row(k, r_ids, rr, np.zeros(len(rr), np.int64))
    # the text columns are gathered on a second thread while the numbers and links are
    # worked out here (Arrow's take releases the GIL)
    with cf.ThreadPoolExecutor(max_workers=1) as pool:
        texts = pool.submit(_strings, events.column, best, pref)
        i_host = np.zeros(k, np.int64)
        i_host[ids] = host_ok
        i_pid = np.full(k, NONE, np.int64)
        mp = pid_ok != NONE
        if mp.all():
            i_pid[ids] = pid_ok
        else:
            i_pid[ids[mp]] = pid_ok[mp]
        i_uid = np.full(k, -1, np.int64)
        mu = uid_ok >= 0
        if mu.any():
            i_uid[ids[mu]] = uid_ok[mu]
        # a start event's own start time, else the earliest any record gives
        i_start = group_min(k, a_ids, start_ok[:na], start_a)
        i_start = np.where(i_start != NONE, i_start, group_min(k, ids, start_ok))
        i_first = group_min(k, ids, ts_ok)
        i_last = group_max(k, ids, ts_ok)
        i_end = group_min(k, a_ids, ts_ok[:na], end_a)
        has_start_ev = np.zeros(k, bool)
        has_start_ev[a_ids[start_a]] = True
        has_exit_ev = np.zeros(k, bool)
        has_exit_ev[a_ids[end_a]] = True
        n_events = np.bincount(a_ids, minlength=k)
        links = _links(k, n, best, rr, r_ids, ppid, ppstart, ppuid, i_host, i_pid, i_start,
                       i_first, i_end)
        event_proc = np.full(n, -1, np.int64)
        event_proc[ra] = a_ids
        host_s = pc.take(host_dict, pa.array(i_host))
        start_ts = _ts_array(i_start)
        first_a = _ts_array(i_first)
        proc = _proc_keys(host_s, i_host, uid_dict, i_uid, i_pid, i_start, start_ts, first_a)
        src_pimage, src_base = _parent_names(events.column("pimage"), best)
        s = texts.result()
    parent, link, ncand, cand_lists, notes = links
    # conflict: the source's own parent name disagrees with the resolved parent's image
    has_parent = parent >= 0
    pidx = pa.array(np.where(has_parent, parent, 0))
    resolved = pc.utf8_lower(pc.take(s["name"], pidx))
    differs = pc.fill_null(pc.not_equal(src_base, resolved), False).to_numpy(zero_copy_only=False)
    link[differs & has_parent & (link != AMBIGUOUS)] = CONFLICT

    seen = np.where(has_start_ev, 0, np.where(has_exit_ev, 1, 2))
    parent_key = pc.if_else(pa.array(has_parent), pc.take(proc, pidx), pa.scalar(None, pa.string()))
    candidate_procs = _candidate_keys(proc, cand_lists, k)
    table = pa.table({
        "proc": proc, "host": host_s,
        "pid": pa.array(np.where(i_pid == NONE, 0, i_pid), pa.int64(), mask=i_pid == NONE),
        "start": start_ts, "end": _ts_array(i_end), "name": s["name"], "image": s["image"],
        "cmdline": s["cmdline"], "user": s["user"],
        "ppid": pa.array(np.where(best >= 0, ppid[np.maximum(best, 0)], 0), pa.int64(),
                         mask=(best < 0) | (ppid[np.maximum(best, 0)] == NONE)),
        "parent": parent_key,
        "parent_start": pc.if_else(pa.array(has_parent), pc.take(start_ts, pidx),
                                   pa.scalar(None, TS)),
        "link": _coded(link, LINKS),
        "candidates": pa.array(ncand, pa.int64()),
        "seen": _coded(seen, SEEN),
        # the parent as the instance's own record names it: pname its basename, pimage
        # the path (as in events: one meaning for one name)
        "pname": _base(src_pimage), "pimage": src_pimage,
        "puid": pc.take(uid_dict, pa.array(np.where(i_uid >= 0, i_uid, 0), pa.int64(), mask=i_uid < 0))
        if len(uid_dict) else pa.nulls(k, pa.string()),
        "first_seen": first_a, "last_seen": _ts_array(i_last),
        "events": pa.array(n_events, pa.int64()),
        "parent_note": _coded(notes, NOTES),
        "candidate_procs": candidate_procs,
    })
    return Lineage(table, event_proc, parent)


def _proc_keys(host_s, i_host, uid_dict, i_uid, i_pid, i_start, start_a, first_a) -> pa.Array:
    """``host|vendor id``, else ``host|pid|start`` (``seen <first time>`` when the start
    is unknown, with ``#2``, ``#3`` … for further lives of that pid first seen then)."""
    from .timefmt import iso
    when = iso(start_a)
    no_start = np.nonzero(i_start == NONE)[0]
    if len(no_start):
        seen_txt = pc.binary_join_element_wise("seen ", iso(pc.take(first_a, no_start)), "")
        # two lives of one pid first seen at the same instant: number the later ones
        g = _dense(i_host[no_start], i_pid[no_start], _i64(pc.take(first_a, no_start)))
        order = np.argsort(g, kind="stable")
        gs = g[order]
        head = np.r_[True, gs[1:] != gs[:-1]]
        pos = np.arange(len(gs))
        occurrence = np.empty(len(gs), np.int64)
        occurrence[order] = pos - np.maximum.accumulate(np.where(head, pos, 0)) + 1
        later = occurrence > 1
        if later.any():
            suffix = pc.if_else(pa.array(later), pc.binary_join_element_wise(
                " #", pc.cast(pa.array(occurrence), pa.string()), ""), "")
            seen_txt = pc.binary_join_element_wise(seen_txt, suffix, "")
        when = pc.coalesce(when, _scatter_str(seen_txt, no_start, len(i_start)))
    pid_txt = pc.cast(pa.array(np.where(i_pid == NONE, 0, i_pid), mask=i_pid == NONE), pa.string())
    by_pid = pc.binary_join_element_wise(host_s, pc.fill_null(pid_txt, "?"), when, "|")
    has_uid = i_uid >= 0
    if not has_uid.any():
        return by_pid
    uid_s = pc.take(uid_dict, pa.array(np.where(has_uid, i_uid, 0), pa.int64(), mask=~has_uid))
    return pc.coalesce(pc.binary_join_element_wise(host_s, uid_s, "|"), by_pid)


def _scatter_str(values: pa.Array, at: np.ndarray, k: int) -> pa.Array:
    """A length-k string array holding ``values`` at positions ``at`` and nulls elsewhere."""
    where = np.full(k, -1, np.int64)
    where[at] = np.arange(len(at))
    return pc.take(values, pa.array(np.maximum(where, 0), mask=where < 0))


def _candidate_keys(proc: pa.Array, cand_lists, k: int) -> pa.Array:
    """``candidate_procs``: for an ambiguous link, the ``proc`` keys of its candidates
    joined with ", " (Arrow list take + join; null elsewhere)."""
    children, offsets, flat = cand_lists
    if len(children) == 0:
        return pa.nulls(k, pa.string())
    lists = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pc.take(proc, pa.array(flat)))
    joined = pc.binary_join(lists, ", ")
    return _scatter_str(joined, children, k)


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
    return segments_stamp(case.manifest)


def load_or_build(case) -> Lineage:
    """Lineage is derived data: built once per state of the case and kept in
    ``CASE/derived/`` (memory-mapped afterwards); any ingest changes the stamp.

    The procs table is kept plain (no segcodec layout): a one-shot ``tree()`` then maps it
    and touches only the pages its filter and output read. Decoding the compact form cost
    every load a fresh copy of each text column (~117 MB of strings for 268k processes:
    0.1-0.5 s here, where fresh memory faults in slowly), for 76 MB saved on disk. A file
    written compact by an earlier edrql still loads (decoded) and is rewritten plain."""
    import os
    d = os.path.join(case.root, "derived")
    stamp = _stamp(case)
    path = os.path.join(d, f"lineage-{stamp}.arrow")
    if os.path.exists(path):
        try:
            stored = pa.ipc.open_file(pa.memory_map(path, "r")).read_all()
            meta = stored.schema.metadata or {}
            compact = segcodec.layout_of(stored.schema) is not None
            t = plain_table(segcodec.decode(stored)) if compact else stored
            n_procs = int(meta[b"procs"])
            procs = t.slice(0, n_procs).select(PROCS_COLUMNS)
            parent_idx = _mapped_i64(t.column("parent_idx").slice(0, n_procs))
            event_proc = np.load(os.path.join(d, f"event_proc-{stamp}.npy"), mmap_mode="r")
            lin = Lineage(procs, event_proc, parent_idx)
            if "child_offsets" in t.column_names:        # children_index, kept with it
                offsets = _mapped_i64(t.column("child_offsets").slice(0, n_procs + 1))
                kids = _mapped_i64(t.column("child_ids").slice(0, int(offsets[-1])))
                lin._children = (offsets, kids)
            if compact or "child_offsets" not in t.column_names:
                _save_procs(case, path, lin)
            return lin
        except (OSError, KeyError, ValueError, pa.ArrowInvalid):
            pass
    lin = build(case.events)
    if os.access(case.root, os.W_OK):
        try:            # the event links first: the procs file is what says "built"
            os.makedirs(d, exist_ok=True)
            np.save(os.path.join(d, f"event_proc-{stamp}.{os.getpid()}.tmp.npy"), lin.event_proc)
            os.replace(os.path.join(d, f"event_proc-{stamp}.{os.getpid()}.tmp.npy"),
                       os.path.join(d, f"event_proc-{stamp}.npy"))
        except OSError:
            return lin
        _save_procs(case, path, lin)
    return lin


def _mapped_i64(col) -> np.ndarray:
    """An int64 column of the mapped file as numpy without a copy when it can be (one chunk,
    no nulls), else as ``_i64`` makes it."""
    if col.num_chunks == 1 and col.null_count == 0 and col.type == pa.int64():
        return col.chunk(0).to_numpy()
    return _i64(col)


def _save_procs(case, path: str, lin: Lineage) -> bool:
    """Write the procs table, parent links and children index (``children_index``: one
    more offset than processes, so every column gets a last row, null for the procs
    columns; readers slice the procs), plain, to ``path`` (atomically); False when the case
    cannot be written."""
    import os
    if not os.access(case.root, os.W_OK):
        return False
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        k = lin.procs.num_rows
        offsets, kids = children_index(lin)
        procs = plain_table(lin.procs)
        t = pa.concat_tables([procs, pa.table({c: pa.nulls(1, f.type) for c, f in
                                               zip(procs.column_names, procs.schema)})])
        pad = np.full(k + 1 - len(kids), -1, np.int64)
        t = t.append_column("parent_idx", pa.array(np.r_[lin.parent_idx, -1], pa.int64()))
        t = t.append_column("child_offsets", pa.array(np.asarray(offsets, np.int64)))
        t = t.append_column("child_ids", pa.array(np.r_[np.asarray(kids, np.int64), pad]))
        t = t.combine_chunks().replace_schema_metadata({"procs": str(k)})   # one batch
        tmp = path + f".{os.getpid()}.tmp"
        with open_sink(tmp) as sink, pa.ipc.new_file(sink, t.schema) as w:
            w.write_table(t)
        os.replace(tmp, path)
    except OSError:
        return False
    return True
