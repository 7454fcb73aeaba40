"""The sequence engine: which ordered runs of step matches form complete sequences.

Pure numpy, arrays in and arrays out; the stage around it (edrql/sequenceops.py) turns a
table into these arrays and the answer back into rows. The rules are those of EQL's own
Python engine (eql/engine.py, ``_convert_sequence``), stated in docs/language.md,
*Sequences*:

- events are taken in order of their *position* (time order, ties in input order);
- per join key and per stage (k steps done) at most one partial sequence is pending: a
  sequence that reaches stage k replaces the one pending there for its key; a match of
  step k+1 takes the pending stage-k sequence of its key (the slot is emptied) and moves
  it to stage k+1;
- one event may match several steps: the steps are tried last to first, so it never
  advances a sequence by two steps (it may finish one and start another);
- an ``until`` event discards every pending sequence of its key before the same event
  is tried against the steps;
- ``maxspan``: a sequence whose first event is more than maxspan before the event that
  would advance it is gone (first-to-last <= maxspan).

How (no loop over rows): one pass per stage. The stage's *arrivals* (sequences that just
did k steps: key, position, start time), the step's *candidates* (matches of step k+1)
and the until events (*clears*) are sorted together by (key, position, kind) with
clear < candidate < arrival at one position. A stage holds at most one sequence per key
and every candidate or clear empties it, so what a candidate finds pending is exactly
the element just before it in that order, when that element is an arrival of the same
key. The candidates that advance one are the next stage's arrivals.
"""
from __future__ import annotations

import numpy as np

_CLEAR, _CAND, _ARRIVE = 0, 1, 2


def _i64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.int64)


def match(steps: list, until=None, maxspan: int | None = None, with_keys: bool = False):
    """Complete sequences as an (n, len(steps)) array of positions, one row per sequence,
    ordered by the position of its last event.

    ``steps``: per step ``(pos, key, ts)``: the positions of the events that match the
    step (distinct), their join-key ids (int; rows without a key are left out by the
    caller: a null key never joins) and their times (int, e.g. ns). ``until``: ``(pos,
    key)`` of the until events, or None. ``maxspan``: the largest last-minus-first time.
    """
    if len(steps) < 1:
        raise ValueError("a sequence has steps")
    pos0, key0, ts0 = (_i64(x) for x in steps[0])
    a_key, a_pos, a_start = key0, pos0, ts0
    chain = pos0.reshape(-1, 1)
    if until is not None:
        u_pos, u_key = _i64(until[0]), _i64(until[1])
    else:
        u_pos = u_key = np.zeros(0, np.int64)
    for step in steps[1:]:
        c_pos, c_key, c_ts = (_i64(x) for x in step)
        if len(a_pos) == 0 or len(c_pos) == 0:
            none = np.zeros((0, len(steps)), np.int64)
            return (none, np.zeros(0, np.int64)) if with_keys else none
        nu, nc = len(u_pos), len(c_pos)
        key = np.concatenate([u_key, c_key, a_key])
        pos = np.concatenate([u_pos, c_pos, a_pos])
        kind = np.concatenate([np.full(nu, _CLEAR, np.int8), np.full(nc, _CAND, np.int8),
                               np.full(len(a_pos), _ARRIVE, np.int8)])
        # one int64 sort key (key, position, kind), each value once: no stability needed
        width = int(pos.max(initial=0)) + 1
        if key.min(initial=0) < 0 or (int(key.max(initial=0)) + 1) * width * 3 >= 2**63:
            key = np.unique(key, return_inverse=True)[1].reshape(-1).astype(np.int64)
        order = np.argsort((key * width + pos) * 3 + kind)
        ks, kd = key[order], kind[order]
        ci = np.flatnonzero(kd == _CAND)
        ci = ci[ci > 0]
        prev = ci - 1
        ok = (kd[prev] == _ARRIVE) & (ks[prev] == ks[ci])
        cand = order[ci[ok]] - nu
        arr = order[prev[ok]] - nu - nc
        if maxspan is not None:
            live = c_ts[cand] - a_start[arr] <= maxspan
            cand, arr = cand[live], arr[live]
        a_key, a_pos, a_start = c_key[cand], c_pos[cand], a_start[arr]
        chain = np.concatenate([chain[arr], c_pos[cand].reshape(-1, 1)], axis=1)
    by_end = np.argsort(chain[:, -1], kind="stable")
    return (chain[by_end], a_key[by_end]) if with_keys else chain[by_end]


def occurs_between(seq_key, lo, hi, ev_pos, ev_key) -> np.ndarray:
    """Per sequence: whether some event (ev_pos, ev_key) of its key lies strictly between
    positions lo and hi (a negated step ``![…]`` between two steps)."""
    seq_key, lo, hi = _i64(seq_key), _i64(lo), _i64(hi)
    ev_pos, ev_key = _i64(ev_pos), _i64(ev_key)
    if not len(seq_key) or not len(ev_pos):
        return np.zeros(len(seq_key), bool)
    keys, inv = np.unique(np.concatenate([seq_key, ev_key]), return_inverse=True)
    inv = inv.reshape(-1).astype(np.int64)
    width = int(max(hi.max(initial=0), ev_pos.max(initial=0))) + 2
    s_k, e_k = inv[:len(seq_key)], inv[len(seq_key):]
    code = np.sort(e_k * width + ev_pos)
    first = np.searchsorted(code, s_k * width + lo, side="right")
    last = np.searchsorted(code, s_k * width + hi, side="left")
    return last > first


def positions(ts) -> tuple[np.ndarray, np.ndarray]:
    """The time order of rows: ``(order, pos)`` with ``order[p]`` the row at position p and
    ``pos[row]`` its position (ties keep input order)."""
    t = _i64(ts)
    order = np.argsort(t, kind="stable")
    pos = np.empty(len(t), np.int64)
    pos[order] = np.arange(len(t), dtype=np.int64)
    return order, pos
