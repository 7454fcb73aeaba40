"""Every rule over an events table in one pass (see docs/sigma.md, "Engine semantics").

Rules are grouped by logsource; a group's rows come from ``Fields.rows``. For each field the
group's rules read, the values are fetched once, dictionary-encoded once, and every test of
every rule on that field is decided over the distinct values at once (``_match``). A rule is
then combined with numpy over its candidate rows only: the rows where its condition can be
true at all (for ``a and not b`` the rows of ``a``; for an ``or`` the union of its branches;
all rows only when the condition is satisfiable without any positive test, as ``not x``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._match import STAR, Column, match_tests
from .rules import LogSource, Rule, Test

HITS_SCHEMA = pa.schema([("row", pa.int64()), ("rule", pa.int32()), ("matched", pa.string())])


@dataclass
class Outcome:
    hits: pa.Table
    status: list[tuple[str, str]]
    missing: list[tuple[str, ...]]


def evaluate(rules: Sequence[Rule], fields) -> Outcome:
    """Run detection rules (and correlations over their hits); see the module doc."""
    status: list[tuple[str, str]] = [("no hits", "")] * len(rules)
    missing: list[tuple[str, ...]] = [()] * len(rules)
    parts: list[tuple[np.ndarray, int, pa.Array]] = []
    groups: dict[LogSource, list[int]] = {}
    for i, r in enumerate(rules):
        if r.kind == "detection":
            groups.setdefault(r.logsource, []).append(i)
    for ls, idxs in groups.items():
        rows = np.asarray(fields.rows(ls), dtype=np.int64)
        if len(rows) == 0:
            why = fields.why_none(ls)
            for i in idxs:
                status[i] = ("not applicable", why)
            continue
        g = Group(fields, ls, rows, [rules[i] for i in idxs])
        for i in idxs:
            r = rules[i]
            missing[i] = g.missing_of(r)
            bad = g.failure_of(r)
            if bad:
                status[i] = ("failed", bad)
                continue
            local = g.fire(r)
            if len(local):
                parts.append((rows[local], i, g.matched(r, local)))
                status[i] = ("fired", f"{len(local)} hits")
    corr = [i for i, r in enumerate(rules) if r.kind == "correlation"]
    if corr:
        from .correlations import run_correlations
        parts.extend(run_correlations(rules, corr, parts, fields, status))
    return Outcome(_assemble(parts), status, missing)


def _assemble(parts) -> pa.Table:
    if not parts:
        return HITS_SCHEMA.empty_table()
    row = np.concatenate([p[0] for p in parts]).astype(np.int64)
    rule = np.concatenate([np.full(len(p[0]), p[1], np.int32) for p in parts])
    matched = pa.concat_arrays([p[2].cast(pa.string()) for p in parts])
    order = np.lexsort((rule, row))
    return pa.table([pa.array(row[order]), pa.array(rule[order]),
                     matched.take(pa.array(order))], schema=HITS_SCHEMA)


def keyword_values(fields, col: str, rows: np.ndarray, ls: LogSource):
    """A keyword column's values at rows (the Fields' table when it has one)."""
    table = getattr(fields, "table", None)
    if table is not None and col in table.column_names:
        return table.column(col).take(pa.array(rows))
    return fields.values(col, rows, ls)


def _kw_test(t: Test, col: str) -> Test:
    """A keyword as a test on one keyword column: the value anywhere in the text."""
    parts = t.arg
    if not parts or parts[0] != STAR:
        parts = (STAR,) + parts
    if parts[-1] != STAR:
        parts = parts + (STAR,)
    return Test("\0" + col, "glob", parts, t.cased)


class Group:
    """One logsource group: its rows, its fields encoded, every test decided (codes)."""

    def __init__(self, fields, ls: LogSource, rows: np.ndarray, rules: list[Rule]):
        self.n = len(rows)
        self.cols: dict[str, Column] = {}
        self.absent: set[str] = set()
        self.codes: dict[Test, np.ndarray] = {}       # test (per column) → true codes
        self.failed: dict[Test, str] = {}
        self.kw = {}                                   # keyword test → its per-column tests
        kwcols = None
        by_field: dict[str, list[Test]] = {}
        for r in rules:
            for t in r.tests:
                if t.field is None:
                    if kwcols is None:
                        kwcols = list(fields.keyword_columns())
                    self.kw[t] = [_kw_test(t, c) for c in kwcols]
                    for kt in self.kw[t]:
                        by_field.setdefault(kt.field, []).append(kt)
                    continue
                by_field.setdefault(t.field, []).append(t)
                if t.op == "fieldref":
                    by_field.setdefault(t.arg[0], [])
        for f, tests in by_field.items():
            if f.startswith("\0"):
                vals = keyword_values(fields, f[1:], rows, ls)
            else:
                vals = fields.values(f, rows, ls)
                if vals is None:
                    self.absent.add(f)
            self.cols[f] = col = Column(vals, self.n)
            uniq = list(dict.fromkeys(tests))
            try:
                self.codes.update(match_tests(col, uniq))
            except Exception:                        # find the test(s) at fault, keep the rest
                for t in uniq:
                    try:
                        self.codes.update(match_tests(col, [t]))
                    except Exception as e:
                        self.failed[t] = f"{t.field}: {' '.join(str(e).split())}"

    # -------------------------------------------------------------- per rule
    def missing_of(self, r: Rule) -> tuple[str, ...]:
        return tuple(sorted(f for f in r.fields if f in self.absent))

    def failure_of(self, r: Rule) -> str:
        for t in r.tests:
            for x in self.kw.get(t, [t]):
                if x in self.failed:
                    return self.failed[x]
        return ""

    def fire(self, r: Rule) -> np.ndarray:
        """Sorted group-local rows where the rule's condition holds."""
        sup = self._support(r.cond, r)
        cand = np.arange(self.n, dtype=np.int64) if sup is None else sup[1]()
        if len(cand) == 0:
            return cand
        return cand[self._eval(r.cond, r, cand)]

    def _parts(self, t: Test) -> list[Test]:
        return self.kw.get(t, [t])

    def _support(self, node, r: Rule):
        """None (any row may match) or (estimated size, thunk → sorted rows) outside which
        the node is false."""
        op = node[0]
        if op == "t":
            t = r.tests[node[1]]
            if t.op == "fieldref":
                return None
            ts = self._parts(t)
            est = sum(self.cols[x.field].count_of(self.codes[x]) for x in ts)
            if len(ts) == 1:
                x = ts[0]
                return est, lambda: self.cols[x.field].rows_of(self.codes[x])
            return est, lambda: np.unique(np.concatenate(
                [self.cols[x.field].rows_of(self.codes[x]) for x in ts] + [np.zeros(0, np.int64)]))
        if op == "const":
            return None if node[1] else (0, lambda: np.zeros(0, np.int64))
        if op == "not":
            return None
        subs = [self._support(c, r) for c in node[1]]
        if op == "and":
            known = [s for s in subs if s is not None]
            return min(known, key=lambda s: s[0]) if known else None
        if any(s is None for s in subs):            # or
            return None
        return sum(s[0] for s in subs), lambda: np.unique(np.concatenate(
            [s[1]() for s in subs] + [np.zeros(0, np.int64)]))

    def _eval(self, node, r: Rule, cand: np.ndarray) -> np.ndarray:
        op = node[0]
        if op == "t":
            return self.test_at(r.tests[node[1]], cand)
        if op == "const":
            return np.full(len(cand), bool(node[1]))
        if op == "not":
            return ~self._eval(node[1], r, cand)
        out = None
        for c in node[1]:
            if out is not None:
                if op == "and" and not out.any():
                    return out
                if op == "or" and out.all():
                    return out
            v = self._eval(c, r, cand)
            out = v if out is None else (out & v if op == "and" else out | v)
        return out if out is not None else np.full(len(cand), op == "and")

    def test_at(self, t: Test, cand: np.ndarray) -> np.ndarray:
        if t.op == "fieldref":
            return self._fieldref(t, cand)
        out = np.zeros(len(cand), bool)
        for x in self._parts(t):
            codes = self.codes[x]
            got = self.cols[x.field].codes[cand]
            pos = np.searchsorted(codes, got)
            pos[pos >= len(codes)] = 0
            out |= (codes[pos] == got) if len(codes) else False
        return out

    def _texts_at(self, f: str, cand: np.ndarray, lower: bool) -> pa.Array:
        col = self.cols[f]
        codes = col.codes[cand]
        idx = pa.array(codes, mask=codes == col.ndict)
        return (col.lower if lower else col.text).take(idx)

    def _fieldref(self, t: Test, cand: np.ndarray) -> np.ndarray:
        """The field's value against another field's value on the same row (case-insensitive)."""
        other, mode = t.arg
        a = self._texts_at(t.field, cand, True)
        b = self._texts_at(other, cand, True)
        if mode == "eq":
            return pc.fill_null(pc.equal(a, b), False).to_numpy(zero_copy_only=False)
        ok = ~(np.asarray(pc.is_null(a)) | np.asarray(pc.is_null(b)))
        sa = np.array(pc.fill_null(a, "").to_pylist(), dtype=np.dtypes.StringDType())
        sb = np.array(pc.fill_null(b, "").to_pylist(), dtype=np.dtypes.StringDType())
        fn = {"startswith": np.strings.startswith, "endswith": np.strings.endswith,
              "contains": lambda x, y: np.strings.find(x, y) >= 0}[mode]
        return ok & np.asarray(fn(sa, sb))

    def matched(self, r: Rule, hits: np.ndarray) -> pa.Array:
        """'Field: value; …' per hit row, for the fields whose (non-negated) tests held."""
        pieces: list[pa.Array] = []
        shown: dict[str, np.ndarray] = {}
        for ti in _positive_tests(r.cond):
            t = r.tests[ti]
            for x in self._parts(t):
                m = self.test_at(x, hits) if t.op != "fieldref" else self._fieldref(t, hits)
                shown[x.field] = shown.get(x.field, np.zeros(len(hits), bool)) | m
        for f, m in shown.items():
            if not m.any():
                continue
            label = f[1:] if f.startswith("\0") else f
            vals = pc.fill_null(self._texts_at(f, hits, False), "")
            text = pc.binary_join_element_wise(pa.scalar(f"{label}: "), vals, "")
            pieces.append(pc.if_else(pa.array(m), text, pa.scalar(None, pa.string())))
        if not pieces:
            return pa.array([""] * len(hits), pa.string())
        # pairwise, not null_handling="skip": pyarrow 26 drops the rows where every piece is null
        out = pieces[0]
        for p in pieces[1:]:
            out = pc.if_else(pc.is_null(out), p,
                             pc.if_else(pc.is_null(p), out, pc.binary_join_element_wise(out, p, "; ")))
        return pc.fill_null(out, "")


def _positive_tests(node, neg: bool = False) -> list[int]:
    op = node[0]
    if op == "t":
        return [] if neg else [node[1]]
    if op == "const":
        return []
    if op == "not":
        return _positive_tests(node[1], not neg)
    return [i for c in node[1] for i in _positive_tests(c, neg)]
