"""A Sigma hunt: rules over events → one row per hit, a per-rule summary and the receipt.
Shared by ``edrql hunt`` (edrql/cli.py) and the ``sigma()`` stage (edrql/sigma/stage.py).

    Fields(table) → engine.evaluate(rules, fields) → hit rows:
    ts, host, rule_id, rule, level, tags, proc, name, cmdline, matched, author,
    parent_link, trust, source, record

``proc`` is the acting process instance from the case's lineage (the row found again among
the case's events by source and record: edrql/eventrows.py), so ``| tree()`` and
``| events()`` work on the hits; ``parent_link`` and ``trust`` say, for rules that read
Parent* fields, what the lineage knows of that parent (edrql/sigma/parentlink.py). The
rule's id, title, author and level are kept on every row (DRL 1.1).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..names import resolve_column
from .receipt import Receipt, build

HIT_COLUMNS = ("ts", "host", "rule_id", "rule", "level", "tags", "proc", "name", "cmdline",
               "matched", "author", "parent_link", "trust", "source", "record")
SUMMARY_COLUMNS = ("rule", "rule_id", "level", "author", "hits", "hosts", "first", "last")
_LEVEL_RANK = {"informational": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


@dataclass
class Hunt:
    hits: pa.Table          # HIT_COLUMNS, by ts
    summary: pa.Table       # SUMMARY_COLUMNS, one row per rule that fired
    receipt: Receipt


def load_rules(paths, level: str | None = None, tags=(), memo: dict | None = None):
    """(the RuleSet of ``paths`` kept by ``level`` and ``tags``, how many rules those left out).
    engine's rules.load caches the compiled rules on disk; ``memo`` (a query Context's: one
    REPL session) keeps them per paths, level and tags."""
    from .rules import filter_rules, load, rule_files
    key = ("sigma.rules", tuple(os.path.abspath(p) for p in paths), level,
           tuple(t.lower() for t in tags), tuple(_stamp(f) for f in rule_files(list(paths))))
    if memo is not None and key in memo:
        return memo[key]
    every = load(list(paths))
    rs = filter_rules(every, level=level, tags=list(tags)) if level or tags else every
    out = (rs, len(every.rules) - len(rs.rules))
    if memo is not None:
        memo[key] = out
    return out


def _stamp(path) -> tuple:
    """A rule file as the session's memo keys it: a file edited, added or removed in the
    session is read again."""
    try:
        st = os.stat(path)
        return (str(path), st.st_size, st.st_mtime_ns)
    except OSError:
        return (str(path), -1, -1)


def run(table: pa.Table, ruleset, ctx=None, paths=(), left_out: int = 0) -> Hunt:
    """Every rule of ``ruleset`` over ``table`` (events-shaped: normalized and raw.* columns);
    ``ctx`` (a query Context over the case) ties hits to the lineage."""
    from .engine import evaluate
    from .fieldmap import Fields
    outcome = evaluate(ruleset.rules, Fields(table))
    hits, rid = hit_rows(table, ruleset.rules, outcome.hits, ctx)
    summary, per_rule = _summary(hits, rid, ruleset.rules)
    doubtful = hits.filter(pc.is_valid(hits.column("trust")))
    receipt = build(paths, ruleset, outcome, per_rule, table.num_rows, doubtful.num_rows, left_out)
    if doubtful.num_rows:
        import json
        from ..render import to_json
        receipt.trust_notes = json.loads(to_json(doubtful.select(
            ["ts", "host", "rule_id", "rule", "proc", "name", "parent_link", "trust"])))
    return Hunt(hits, summary, receipt)


def _plain(v) -> pa.Array:
    v = v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v
    return v.dictionary_decode() if pa.types.is_dictionary(v.type) else v


def _column(t: pa.Table, name: str, rows: pa.Array, typ) -> pa.Array:
    c = resolve_column(name, t.column_names)
    if c is None:
        return pa.nulls(len(rows), typ)
    return _plain(t.column(c).take(rows))


def hit_rows(t: pa.Table, rules, hits: pa.Table, ctx=None) -> tuple[pa.Table, np.ndarray]:
    """The engine's hits (row, rule, matched) as HIT_COLUMNS rows, by time (ties: rule order,
    then row), and the rule index of each."""
    from ..eventrows import Procs
    from .parentlink import links, reads_parent
    rows = pc.fill_null(hits.column("row"), -1).to_numpy(zero_copy_only=False).astype(np.int64)
    rid = pc.fill_null(hits.column("rule"), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    ts = _column(t, "ts", pa.array(rows, pa.int64()), pa.timestamp("ns", "UTC"))
    key = pc.fill_null(ts.cast(pa.int64()), np.iinfo(np.int64).max).to_numpy(zero_copy_only=False) \
        if len(rows) else np.zeros(0, np.int64)
    order = np.lexsort((rows, rid, key))
    rows, rid = rows[order], rid[order]
    ra, ka = pa.array(rows, pa.int64()), pa.array(rid, pa.int64())

    def per_rule(values) -> pa.Array:
        return pa.array(values, pa.string()).take(ka)

    procs = Procs(ctx, t) if ctx is not None else None
    proc = procs.at(rows) if procs is not None and procs.available() else None
    wants = np.array([reads_parent(r.fields) for r in rules], bool)[rid] if len(rules) else \
        np.zeros(0, bool)
    parent_link, trust = links(ctx, t, rows, wants)
    matched = _plain(hits.column("matched")).take(pa.array(order, pa.int64())) \
        if "matched" in hits.column_names else pa.nulls(len(rows), pa.string())
    cols = {
        "ts": ts.take(pa.array(order, pa.int64())),
        "host": _column(t, "host", ra, pa.string()),
        "rule_id": per_rule([r.id for r in rules]),
        "rule": per_rule([r.title for r in rules]),
        "level": per_rule([r.level for r in rules]),
        "tags": per_rule([", ".join(r.attack) or None for r in rules]),
        "proc": _plain(proc) if proc is not None else pa.nulls(len(rows), pa.string()),
        "name": _column(t, "name", ra, pa.string()),
        "cmdline": _column(t, "cmdline", ra, pa.string()),
        "matched": matched,
        "author": per_rule([r.author for r in rules]),
        "parent_link": parent_link, "trust": trust,
        "source": _column(t, "source", ra, pa.string()),
        "record": _column(t, "record", ra, pa.int64()),
    }
    return pa.table({c: cols[c] for c in HIT_COLUMNS}), rid


def _summary(hits: pa.Table, rid: np.ndarray, rules) -> tuple[pa.Table, dict]:
    """One row per rule that fired (most severe first, then most hits), and rule index →
    (hits, hosts) for the receipt."""
    g = pa.table({"k": pa.array(rid, pa.int64()), "host": hits.column("host"),
                  "ts": hits.column("ts")}).group_by("k", use_threads=False).aggregate(
        [("k", "count"), ("host", "count_distinct"), ("ts", "min"), ("ts", "max")])
    k = g.column("k").to_numpy().astype(np.int64)
    n = g.column("k_count").to_numpy().astype(np.int64)
    rank = np.array([_LEVEL_RANK.get(str(rules[i].level).lower(), -1) for i in k], np.int64)
    order = np.lexsort((k, -n, -rank))
    g, k = g.take(pa.array(order, pa.int64())), k[order]
    ka = pa.array(k, pa.int64())

    def per_rule(values) -> pa.Array:
        return pa.array(values, pa.string()).take(ka)

    summary = pa.table({
        "rule": per_rule([r.title for r in rules]) if rules else pa.array([], pa.string()),
        "rule_id": per_rule([r.id for r in rules]) if rules else pa.array([], pa.string()),
        "level": per_rule([r.level for r in rules]) if rules else pa.array([], pa.string()),
        "author": per_rule([r.author for r in rules]) if rules else pa.array([], pa.string()),
        "hits": g.column("k_count"), "hosts": g.column("host_count_distinct"),
        "first": g.column("ts_min"), "last": g.column("ts_max")})
    per = dict(zip(k.tolist(), zip(g.column("k_count").to_pylist(),
                                   g.column("host_count_distinct").to_pylist())))
    return summary.select(list(SUMMARY_COLUMNS)), per


# ---------------------------------------------------------------- the sigma() stage
def stage_result(ctx, cur, path: str, level: str | None):
    """``sigma(PATH[, level=…])`` over the input rows (or, as a source, the case's events).
    The receipt is one note of several lines, starting "sigma: " (said in every output
    format: edrql/query.py)."""
    from ..results import Result
    rs, left_out = load_rules([path], level=level, memo=getattr(ctx, "memo", None))
    t = cur.table if cur is not None else ctx.case.events
    h = run(t, rs, ctx, [path], left_out)
    title = cur.title if cur is not None else "sigma"
    return Result(title, h.hits, [h.receipt.text()], "rows",
                  {"sigma": h.receipt.to_json(), "sigma_summary": h.summary})
