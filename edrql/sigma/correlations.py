"""Sigma correlation rules over the hits of the rules they name (docs/sigma.md, "Engine
semantics", Correlations).

The events of a correlation are the hit rows of its referenced rules (by ``name`` or ``id``),
with their ``ts`` and their group-by values (through ``Fields.values`` with each referenced
rule's logsource, aliases applied). Per group, sorted by time, every event opens a window
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


def _group_keys(spec, refs, ridx, rules, fields, rows, which) -> tuple[np.ndarray, list[str]]:
    """Group code per event (int64) and its text per code."""
    if not spec.group_by:
        return np.zeros(len(rows), np.int64), [""]
    alias = {name: dict(m) for name, m in spec.aliases}
    cols = []
    for g in spec.group_by:
        vals = np.empty(len(rows), dtype=object)
        for k, (ref, ri) in enumerate(zip(refs, ridx)):
            sel = np.flatnonzero(which == k)
            if not len(sel):
                continue
            fld = alias[g].get(ref, alias[g].get(rules[ri].id, g)) if g in alias else g
            v = fields.values(fld, rows[sel], rules[ri].logsource)
            vals[sel] = [None] * len(sel) if v is None else pc.cast(v, pa.string()).to_pylist()
        cols.append(pa.array(list(vals), pa.string()))
    joined = pc.binary_join_element_wise(
        *[pc.binary_join_element_wise(pa.scalar(f"{g}="), pc.fill_null(c, "(null)"), "")
          for g, c in zip(spec.group_by, cols)], ", ")
    enc = pc.dictionary_encode(joined)
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), enc.dictionary.to_pylist()


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
    gcode, gtext = _group_keys(spec, spec.rules, ridx, rules, fields, rows, which)
    values = None
    if spec.type == "value_count":
        values = _value_codes(spec.field, spec, ridx, rules, fields, rows, which)
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
        ident = {"event_count": None, "value_count": values, "temporal": which}[spec.type]
        count = _distinct_in_windows(rows if ident is None else ident, end)
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


def _value_codes(fld, spec, ridx, rules, fields, rows, which) -> np.ndarray:
    alias = {name: dict(m) for name, m in spec.aliases}
    vals = np.empty(len(rows), dtype=object)
    for k, (ref, ri) in enumerate(zip(spec.rules, ridx)):
        sel = np.flatnonzero(which == k)
        if not len(sel):
            continue
        f = alias[fld].get(ref, fld) if fld in alias else fld
        v = fields.values(f, rows[sel], rules[ri].logsource)
        vals[sel] = [None] * len(sel) if v is None else pc.cast(v, pa.string()).to_pylist()
    enc = pc.dictionary_encode(pa.array(list(vals), pa.string()))
    return pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _distinct_in_windows(ident: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Distinct non-negative identities in each window [i, end[i]) (events sorted by group, ts).

    An event counts in window i when no earlier event of the same identity lies in [i, j):
    its previous occurrence ``prev[j] < i``. Counted per window with numpy over the window's
    slice; the loop is over windows (the referenced rules' hits), never over table rows."""
    n = len(ident)
    order = np.lexsort((np.arange(n), ident))
    prev = np.full(n, -1, np.int64)
    same = ident[order][1:] == ident[order][:-1]
    prev[order[1:][same]] = order[:-1][same]
    valid = ident >= 0
    out = np.zeros(n, np.int64)
    for i in range(n):
        e = end[i]
        out[i] = int(np.count_nonzero(valid[i:e] & (prev[i:e] < i)))
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
    """temporal_ordered: from each event of the first rule, the earliest event of rule 2 after
    it, then of rule 3 after that, … all before the window's end (loop over chain starts and
    rules, searchsorted for each step)."""
    n = len(which)
    hit = np.zeros(n, bool)
    count = np.zeros(n, np.int64)
    pos = [np.flatnonzero(which == k) for k in range(nrules)]
    for i in pos[0].tolist():
        chain, at = [i], i
        for k in range(1, nrules):
            p = pos[k]
            j = np.searchsorted(p, at, side="right")
            if j >= len(p) or p[j] >= end[i]:
                chain = None
                break
            at = int(p[j])
            chain.append(at)
        if chain:
            hit[chain] = True
            count[chain] = nrules
    return hit, count
