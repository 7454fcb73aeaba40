"""Sigma correlation rules over the hits of the rules they name (docs/sigma.md, "Engine
semantics", Correlations).

The events of a correlation are the hit rows of its referenced rules (by ``name`` or ``id``),
with their ``ts`` and their group-by values (through ``Fields.values`` with each referenced
rule's logsource, aliases applied; compared case-insensitively; an event lacking one is in no
group). Per group, sorted by time, every event opens a window
``[ts, ts + timespan]``; a window fires when its condition holds:

- ``event_count``: the number of distinct events (rows) in the window;
- ``value_count``: the number of distinct non-null values of the condition field;
- ``temporal``: the number of distinct referenced rules with an event in the window
  (default: all of them);
- ``temporal_ordered``: the referenced rules' events occur in the order written, the chain
  starting at the window's first event and ending within the timespan.

A correlation's hit rows are the events of its firing windows (for ``temporal_ordered``: the
events of the chain), each once; ``matched`` names the group and the window's count.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_NS_PER_MS = 1_000_000


class CorrelationError(Exception):
    pass


def run_correlations(rules, corr: list[int], parts: list, fields, status: list) -> list:
    """(rows, rule index, matched) per firing correlation; status filled for each one."""
    by_rule: dict[int, np.ndarray] = {}
    for rows, i, _ in parts:
        by_rule[i] = rows if i not in by_rule else np.concatenate([by_rule[i], rows])
    out = []
    for ci in corr:
        r = rules[ci]
        try:
            rows, matched = _one(r, rules, by_rule, fields)
        except CorrelationError as e:
            status[ci] = ("failed", str(e))
            continue
        if len(rows):
            out.append((rows, ci, matched))
            status[ci] = ("fired", f"{len(rows)} hits")
        else:
            status[ci] = ("no hits", "")
    return out


def _resolve(ref: str, rules) -> int:
    for i, r in enumerate(rules):
        if r.kind == "detection" and (r.name == ref or r.id == ref):
            return i
    if any(r.kind == "correlation" and ref in (r.name, r.id) for r in rules):
        raise CorrelationError(f"refers to correlation {ref!r}: a correlation over a correlation "
                               "is not supported")
    raise CorrelationError(f"refers to rule {ref!r}, which is not among the detection rules loaded")


def _timestamps(fields, rows: np.ndarray) -> np.ndarray:
    table = getattr(fields, "table", None)
    if table is None or "ts" not in table.column_names:
        raise CorrelationError("the events have no ts column to put in time windows")
    ts = table.column("ts").take(pa.array(rows))
    if pa.types.is_timestamp(ts.type):
        ts = pc.cast(ts, pa.timestamp("ns", tz=ts.type.tz))
        ns = pc.cast(ts, pa.int64())
    else:
        ns = pc.cast(ts, pa.int64())
    return pc.fill_null(ns, np.iinfo(np.int64).min).to_numpy(zero_copy_only=False)


def _field_texts(name, spec, ridx, rules, fields, rows, which) -> pa.Array:
    """A correlation field's text per event, through each referenced rule's field (aliases)."""
    alias = {a: dict(m) for a, m in spec.aliases}
    vals = np.empty(len(rows), dtype=object)
    for k, (ref, ri) in enumerate(zip(spec.rules, ridx)):
        sel = np.flatnonzero(which == k)
        if not len(sel):
            continue
        fld = alias[name].get(ref, alias[name].get(rules[ri].id, name)) if name in alias else name
        v = fields.values(fld, rows[sel], rules[ri].logsource)
        vals[sel] = [None] * len(sel) if v is None else pc.cast(v, pa.string()).to_pylist()
    return pa.array(list(vals), pa.string())


def _group_keys(spec, ridx, rules, fields, rows, which) -> tuple[np.ndarray, list[str]]:
    """Group code per event (-1: a group-by value is absent, the event is in no group) and
    each group's text; values are grouped case-insensitively, shown as first seen."""
    if not spec.group_by:
        return np.zeros(len(rows), np.int64), [""]
    cols = [_field_texts(g, spec, ridx, rules, fields, rows, which) for g in spec.group_by]
    absent = np.zeros(len(rows), bool)
    for c in cols:
        absent |= np.asarray(pc.is_null(c))
    shown = pc.binary_join_element_wise(
        *[pc.binary_join_element_wise(pa.scalar(f"{g}=", pa.string()), pc.fill_null(c, pa.scalar("", pa.string())),
                                      pa.scalar("", pa.string()))
          for g, c in zip(spec.group_by, cols)], pa.scalar(", ", pa.string()))
    enc = pc.dictionary_encode(pc.utf8_lower(shown))
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    first = np.full(len(enc.dictionary), -1, np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    texts = shown.take(pa.array(first)).to_pylist()
    codes[absent] = -1
    return codes, texts


def _value_codes(spec, ridx, rules, fields, rows, which) -> np.ndarray:
    """value_count's field per event, case-insensitively coded (-1: absent)."""
    v = pc.utf8_lower(_field_texts(spec.field, spec, ridx, rules, fields, rows, which))
    enc = pc.dictionary_encode(v)
    return pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _one(r, rules, by_rule, fields):
    spec = r.correlation
    ridx = [_resolve(ref, rules) for ref in spec.rules]
    chunks = [(k, by_rule.get(ri, np.zeros(0, np.int64))) for k, ri in enumerate(ridx)]
    rows = np.concatenate([c for _, c in chunks]).astype(np.int64)
    which = np.concatenate([np.full(len(c), k, np.int64) for k, c in chunks])
    if len(rows) == 0:
        return rows, pa.array([], pa.string())
    ts = _timestamps(fields, rows)
    keep = ts != np.iinfo(np.int64).min
    rows, which, ts = rows[keep], which[keep], ts[keep]
    gcode, gtext = _group_keys(spec, ridx, rules, fields, rows, which)
    values = _value_codes(spec, ridx, rules, fields, rows, which) \
        if spec.type == "value_count" else None
    grouped = gcode >= 0
    rows, which, ts, gcode = rows[grouped], which[grouped], ts[grouped], gcode[grouped]
    if values is not None:
        values = values[grouped]
    if len(rows) == 0:
        return rows, pa.array([], pa.string())
    order = np.lexsort((which, ts, gcode))
    rows, which, ts, gcode = rows[order], which[order], ts[order], gcode[order]
    if values is not None:
        values = values[order]
    ms = (ts - ts.min()) // _NS_PER_MS
    span = spec.timespan * 1000
    key = gcode * (int(ms.max()) + span + 2) + ms
    end = np.searchsorted(key, key + span, side="right")       # window [i, end)
    if spec.type == "temporal_ordered":
        hit, count = _ordered(which, key, end, len(ridx))
    else:
        if spec.type == "event_count":
            count = distinct_in_windows(rows, end)
        elif spec.type == "value_count":
            count = distinct_in_windows(values, end)
        else:
            count = kinds_in_windows(which, end, len(ridx))
        hit = _holds(spec.op, count, spec.count)
        hit = _spread(hit, end)
    if not hit.any():
        return np.zeros(0, np.int64), pa.array([], pa.string())
    # one event per row (a row may hit several referenced rules)
    sel = np.flatnonzero(hit)
    ev_rows, first = np.unique(rows[sel], return_index=True)
    g = gcode[sel][first]
    c = count[sel][first] if count is not None else np.zeros(len(first), np.int64)
    what = {"event_count": "events", "value_count": f"distinct {spec.field}",
            "temporal": "rules", "temporal_ordered": "rules in order"}[spec.type]
    texts = [f"{spec.type}: {gtext[k] or 'all events'}; {n} {what} within {spec.timespan}s"
             for k, n in zip(g.tolist(), c.tolist())]
    return ev_rows, pa.array(texts, pa.string())


def distinct_in_windows(ident: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Distinct non-negative identities in each window [i, end[i]) — both ends move forward
    only (events sorted by group and time), so one pass keeps the window's counts: a loop
    over the referenced rules' hits, O(hits), never over table rows."""
    n = len(ident)
    out = np.zeros(n, np.int64)
    held: dict[int, int] = {}
    ids = ident.tolist()
    ends = end.tolist()
    e = 0
    for i in range(n):
        while e < ends[i]:
            v = ids[e]
            if v >= 0:
                held[v] = held.get(v, 0) + 1
            e += 1
        out[i] = len(held)
        v = ids[i]
        if v >= 0:
            if held[v] == 1:
                del held[v]
            else:
                held[v] -= 1
    return out


def kinds_in_windows(which: np.ndarray, end: np.ndarray, kinds: int) -> np.ndarray:
    """How many of the referenced rules have an event in each window [i, end[i])."""
    n = len(which)
    out = np.zeros(n, np.int64)
    at = np.arange(n)
    for k in range(kinds):
        pos = np.flatnonzero(which == k)
        j = np.searchsorted(pos, at)                  # the rule's next event from i on
        nxt = np.where(j < len(pos), pos[np.minimum(j, len(pos) - 1)] if len(pos) else 0, n)
        out += nxt < end
    return out


def _holds(op: str, x: np.ndarray, n: int) -> np.ndarray:
    return {"lt": x < n, "lte": x <= n, "gt": x > n, "gte": x >= n, "eq": x == n, "neq": x != n}[op]


def _spread(fire: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Every event inside some firing window [i, end[i])."""
    d = np.zeros(len(fire) + 1, np.int64)
    starts = np.flatnonzero(fire)
    np.add.at(d, starts, 1)
    np.add.at(d, end[starts], -1)
    return np.cumsum(d)[:-1] > 0


def _ordered(which, key, end, nrules):
    """temporal_ordered: from each event of the first rule, the earliest event of rule 2
    strictly later in time, then of rule 3 after that, … all within the window (a loop over
    chain starts and rules, searchsorted for each step; events at the same instant are not
    ordered)."""
    n = len(which)
    hit = np.zeros(n, bool)
    count = np.zeros(n, np.int64)
    pos = [np.flatnonzero(which == k) for k in range(nrules)]
    pkey = [key[p] for p in pos]
    for i in pos[0].tolist():
        chain, at = [i], i
        for k in range(1, nrules):
            j = np.searchsorted(pkey[k], key[at], side="right")     # strictly later in time
            if j >= len(pos[k]) or pos[k][j] >= end[i]:
                chain = None
                break
            at = int(pos[k][j])
            chain.append(at)
        if chain:
            hit[chain] = True
            count[chain] = nrules
    return hit, count
