"""Parent resolution of process instances (``lineage.build``'s last step): by the
reference a child's own record gives (``exact``), else by time — the parent pid's
instance alive at the child's start (``inferred``), several possible (``ambiguous``),
none (``missing``). Vectorized with numpy sorted searches.
"""
from __future__ import annotations

import numpy as np

from .npkeys import NONE, asof
from .npkeys import dense_ids as _dense

LINKS = ["missing", "exact", "inferred", "ambiguous", "conflict"]
MISSING, EXACT, INFERRED, AMBIGUOUS, CONFLICT = range(5)


def _links(k, n, best, ref_rows, ref_ids, ppid, ppstart, ppuid, i_host, i_pid, i_start,
           i_first, i_end):
    """Parent of every instance: by the reference its own record gives (exact), else
    the parent pid's instance alive at its start (inferred / ambiguous / missing)."""
    has_best = best >= 0
    b = np.where(has_best, best, 0)
    c_ppid = np.where(has_best, ppid[b], NONE)
    c_ppstart = np.where(has_best, ppstart[b], NONE)
    c_ppuid = np.where(has_best, ppuid[b], -1)
    # parent-ref observations map an event row to the parent instance it names
    prow_inst = np.full(n, -1, np.int64)
    prow_inst[ref_rows] = ref_ids
    parent = np.full(k, -1, np.int64)
    link = np.zeros(k, np.int8)
    ncand = np.zeros(k, np.int64)
    by_ref = has_best & (prow_inst[b] >= 0) & ((c_ppuid >= 0) | (c_ppstart != NONE))
    parent[by_ref] = prow_inst[b[by_ref]]
    link[by_ref] = EXACT
    ncand[by_ref] = 1
    cand_lists = _no_candidates()

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
        link[need[good]] = INFERRED
        ncand[need[good]] = 1
        exited[need[dead]] = True
        cand_lists = _unknown_start_candidates(need, par, good, i_host, i_pid, i_start, i_first,
                                               i_end, child_t, c_ppid, parent, link, ncand)
    # notes for roots and missing parents
    notes = np.zeros(k, np.int8)
    no_parent = (parent < 0) & (link != AMBIGUOUS)
    notes[no_parent & (c_ppid == NONE) & (c_ppuid < 0)] = 1
    notes[no_parent & (c_ppid != NONE) & ~exited] = 2
    notes[no_parent & exited] = 3
    return parent, link, ncand, cand_lists, notes


def _no_candidates():
    """An empty CSR of ambiguous-link candidates: (children, offsets, instances)."""
    return np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int64)


def _unknown_start_candidates(need, par, good, i_host, i_pid, i_start, i_first, i_end, child_t,
                              c_ppid, parent, link, ncand):
    """Instances of the parent pid with no known start (seen only as actors) may have
    started between the time-based candidate's start and the child: count them, and
    call the link ambiguous when more than one instance remains possible.

    Vectorized over (child, unknown-start instance) pairs with the same host and pid.
    Returns the candidates of ambiguous links as CSR (children, offsets, instances),
    the time-based candidate first, then the others by instance number."""
    none = _no_candidates()
    unk = np.nonzero(i_start == NONE)[0]
    if len(unk) == 0 or len(need) == 0:
        return none
    keys = _dense(np.concatenate([i_host[need], i_host[unk]]), np.concatenate([c_ppid[need], i_pid[unk]]))
    nk, uk = keys[: len(need)], keys[len(need):]
    order = np.argsort(uk, kind="stable")          # by key, then by instance number
    uk_s, unk_s = uk[order], unk[order]
    lo = np.searchsorted(uk_s, nk, "left")
    cnt = np.searchsorted(uk_s, nk, "right") - lo
    if not cnt.any():
        return none
    # every (child j, instance u) pair with the same host and parent pid
    pj = np.repeat(np.arange(len(need)), cnt)
    first_of = np.repeat(np.cumsum(cnt) - cnt, cnt)
    u = unk_s[np.repeat(lo, cnt) + np.arange(len(pj)) - first_of]
    c = need[pj]
    floor = np.where(good[pj], i_start[np.maximum(par[pj], 0)], NONE)
    ok = (u != c) & ((floor == NONE) | (i_first[u] > floor)) \
        & ~((i_end[u] != NONE) & (i_end[u] < child_t[c]))
    pj, u, c = pj[ok], u[ok], c[ok]
    if len(pj) == 0:
        return none
    sure = i_first[u] <= child_t[c]
    n_possible = np.bincount(pj, minlength=len(need))
    n_sure = np.bincount(pj[sure], minlength=len(need))
    # all possible lives started before the child: the latest of them (first on ties)
    settled = (n_sure > 0) & (n_sure == n_possible)
    m = settled[pj]
    if m.any():
        o = np.lexsort((-u[m], i_first[u[m]], pj[m]))
        pm, um = pj[m][o], u[m][o]
        last = np.r_[pm[1:] != pm[:-1], True]
        js = pm[last]
        parent[need[js]], link[need[js]], ncand[need[js]] = um[last], INFERRED, 1
    # otherwise: the time-based candidate (if any) and every possible life
    open_ = (n_possible > 0) & ~settled
    total = good.astype(np.int64) + n_possible
    one = open_ & (total == 1)
    if one.any():
        j1 = np.nonzero(one)[0]
        only = np.full(len(need), -1, np.int64)
        only[pj] = u                                 # the single possible life, if no candidate
        pick = np.where(good[j1], par[j1], only[j1])
        parent[need[j1]], link[need[j1]], ncand[need[j1]] = pick, INFERRED, 1
    amb = open_ & (total > 1)
    if not amb.any():
        return none
    ja = np.nonzero(amb)[0]
    parent[need[ja]], link[need[ja]], ncand[need[ja]] = -1, AMBIGUOUS, total[ja]
    # CSR of the candidates: the time-based one first, then the possible lives in order
    sel = amb[pj]
    lists_j = np.concatenate([ja[good[ja]], pj[sel]])
    lists_u = np.concatenate([par[ja[good[ja]]], u[sel]])
    rank = np.concatenate([np.zeros(int(good[ja].sum()), np.int64), np.ones(int(sel.sum()), np.int64)])
    o = np.lexsort((rank, lists_j))                 # stable: keeps instance order within a child
    counts = total[ja]
    return need[ja], np.concatenate([[0], np.cumsum(counts)]), lists_u[o]
