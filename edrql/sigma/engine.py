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

from ._match import STAR, Column, _escape, _lowered, match_tests, text
from ..unify import data_key
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
    group_rows = {}
    for ls, idxs in groups.items():
        rows = np.asarray(fields.rows(ls), dtype=np.int64)
        if len(rows):
            group_rows[ls] = rows
            continue
        why = fields.why_none(ls)
        for i in idxs:
            status[i] = ("not applicable", why)
    with_kw = [ls for ls in group_rows if any(t.field is None for i in groups[ls] for t in rules[i].tests)]
    kw = Keywords(fields, [rules[i] for ls in with_kw for i in groups[ls]],
                  _union_rows([group_rows[ls] for ls in with_kw]) if with_kw else None)
    for ls, rows in group_rows.items():
        idxs = groups[ls]
        g = Group(fields, ls, rows, [rules[i] for i in idxs], kw)
        for i in idxs:
            r = rules[i]
            missing[i] = g.missing_of(r)
            bad = g.failure_of(r)
            if bad:
                status[i] = ("failed", bad)
                continue
            try:
                local = g.fire(r)
                matched = g.matched(r, local) if len(local) else None
            except Exception as e:      # a defect of ours, reported on the rule, not raised
                status[i] = ("failed", f"internal error: {type(e).__name__}: {' '.join(str(e).split())}")
                continue
            if len(local):
                parts.append((rows[local], i, matched))
                status[i] = ("fired", f"{len(local)} hits")
    corr = [i for i, r in enumerate(rules) if r.kind == "correlation"]
    if corr:
        from .correlations import run_correlations
        parts.extend(run_correlations(rules, corr, parts, fields, status, missing))
    return Outcome(_assemble(parts), status, missing)


def _union_rows(sets: list[np.ndarray]) -> np.ndarray:
    """The sorted union of row sets (a mark per row, not a sort of their concatenation: the
    groups with keywords can cover every row of a large case many times over)."""
    mark = np.zeros(int(max(int(r.max()) for r in sets)) + 1, np.bool_)
    for r in sets:
        mark[r] = True
    return np.flatnonzero(mark)


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


def _decide(col: Column, tests: list[Test], codes: dict, failed: dict) -> None:
    """match_tests, and when it raises, the test(s) at fault found and the rest kept."""
    uniq = list(dict.fromkeys(tests))
    try:
        codes.update(match_tests(col, uniq))
    except Exception:
        for t in uniq:
            try:
                codes.update(match_tests(col, [t]))
            except Exception as e:
                failed[t] = f"{t.field or 'keyword'}: {' '.join(str(e).split())}"


class Keywords:
    """Every keyword test of every rule over every keyword column, decided once (over the rows
    of the groups that have keywords): the distinct values of all keyword columns side by side
    in one dictionary, one automaton over it; a keyword test then holds per column on the
    codes found in that column's stretch. Groups take their rows' codes."""

    def __init__(self, fields, rules: list[Rule], rows: np.ndarray | None):
        tests = list(dict.fromkeys(t for r in rules for t in r.tests if t.field is None))
        self.rows = rows                  # the table rows searched: those of groups with keywords
        self.cols: dict[str, Column] = {}
        self.codes: dict[Test, np.ndarray] = {}
        self.failed: dict[Test, str] = {}
        self.per_test: dict[Test, list[Test]] = {t: [] for t in tests}
        if not tests:
            return
        table = getattr(fields, "table", None)
        if table is None:
            for t in tests:
                self.per_test[t] = [t]
                self.failed[t] = "keywords: these Fields have no table to search"
            return
        whole = {t: _kw_test(t, "") for t in tests}
        pattern = _keyword_pattern(list(whole.values()))
        for c in fields.keyword_columns():
            if c in table.column_names and not _may_hold(table.column(c), pattern):
                continue                  # no value of the whole column can match: not read
            col = Column(keyword_values(fields, c, rows, LogSource(None, None, None)), len(rows))
            if col.ndict:
                self.cols["\0" + c] = col
        if not self.cols:
            return
        names = list(self.cols)
        pick = [_candidates(self.cols[f].text, pattern) for f in names]
        starts = np.cumsum([0] + [len(c) for c in pick])
        side = pa.concat_arrays([self.cols[f].text.take(pa.array(c)) for f, c in zip(names, pick)])
        back = np.concatenate(pick).astype(np.int32)              # stacked code → column code
        n = len(side)
        stacked = Column(pa.DictionaryArray.from_arrays(pa.array(np.arange(n, dtype=np.int32)), side), n)
        found: dict[Test, np.ndarray] = {}
        _decide(stacked, list(whole.values()), found, self.failed)
        for t, wt in whole.items():
            if wt in self.failed:
                self.failed[t] = self.failed.pop(wt)
                self.per_test[t] = [t]
                continue
            got = found[wt]
            at = np.searchsorted(starts, got, side="right") - 1      # which column
            for k in np.unique(at).tolist():
                kt = _kw_test(t, names[k][1:])
                self.codes[kt] = np.sort(back[got[at == k]]).astype(np.int32)
                self.per_test[t].append(kt)


def _keyword_pattern(tests: list[Test]) -> str | None:
    """One RE2 pattern true for every distinct value a keyword test can be true for: the
    longest literal of each test (case folded where the test is not cased), or any non-ASCII
    character (RE2's case folding and Arrow's lower() differ there; the automaton decides
    those). None when a test has no literal (only wildcards): every value is a candidate.
    A keyword column holds most of a table's text (hashes, times, ids), so this cuts what the
    automaton walks to the few values that can match: on a 2.2M-row Defender case, 257 MB of
    distinct text to a few kilobytes, and most keyword columns are not read at all."""
    longest = []
    for t in tests:
        lits = [p for p in t.arg if isinstance(p, str) and p]
        if not lits:
            return None
        longest.append((max(lits, key=len), t.cased))
    low = _lowered({lit for lit, cased in longest if not cased})
    # uncased: the literal as the automaton compares it (lower-cased by Arrow), folded by RE2
    # over ASCII values — the same answer there ('K' lowers to 'k' and RE2 folds both)
    alts = [_escape(lit) if cased else f"(?i:{_escape(low[lit])})" for lit, cased in longest]
    return "|".join(dict.fromkeys(alts)) + "|[^\\x00-\\x7f]"


def _candidates(values: pa.Array, pattern: str | None) -> np.ndarray:
    """Codes of the distinct values ``pattern`` (from :func:`_keyword_pattern`) holds for;
    all of them when it is None or RE2 refuses it."""
    if pattern is None:
        return np.arange(len(values), dtype=np.int64)
    try:
        mask = pc.match_substring_regex(values, pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return np.arange(len(values), dtype=np.int64)
    return np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))


def _may_hold(column, pattern: str | None) -> bool:
    """Whether some value of a whole table column can hold a keyword (True when unsure).
    A dictionary column is decided on its dictionary when that is small beside the rows
    (most columns: one search of a few values, the rows read only on a hit), else on the
    entries its rows use (a case's dictionaries can hold a whole family's strings, of which
    one column uses a part)."""
    if pattern is None:
        return True
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    used_of: dict = {}
    for ch in chunks:
        if not len(ch):
            continue
        if not pa.types.is_dictionary(ch.type):
            if not pa.types.is_string(ch.type) or len(_candidates(ch, pattern)):
                return True
            continue
        dic = ch.dictionary
        if not pa.types.is_string(dic.type):
            return True
        if ch.null_count == len(ch) or not len(dic):
            continue
        if len(dic) * 4 <= len(ch):       # a small dictionary: search it, its rows only on a hit
            hit = np.zeros(len(dic) + 1, np.bool_)
            hit[_candidates(dic, pattern)] = True
            if hit.any() and hit[pc.fill_null(ch.indices, len(dic)).to_numpy(zero_copy_only=False)].any():
                return True
            continue
        used = used_of.setdefault(data_key(dic), (dic, np.zeros(len(dic) + 1, np.bool_)))[1]
        used[pc.fill_null(ch.indices, len(dic)).to_numpy(zero_copy_only=False)] = True
    for dic, used in used_of.values():
        at = np.flatnonzero(used[:-1])
        if len(at) and len(_candidates(dic.take(pa.array(at)), pattern)):
            return True
    return False


class Group:
    """One logsource group: its rows, its fields encoded, every test decided (codes)."""

    def __init__(self, fields, ls: LogSource, rows: np.ndarray, rules: list[Rule], kw: Keywords):
        self.n = len(rows)
        self.cols: dict[str, Column] = {}
        self.absent: set[str] = set()
        self.codes: dict[Test, np.ndarray] = kw.codes   # test (per column) → true codes
        self.failed: dict[Test, str] = dict(kw.failed)
        self.kw = {}                                   # keyword test → its per-column tests
        by_field: dict[str, list[Test]] = {}
        for r in rules:
            for t in r.tests:
                if t.field is None:
                    self.kw[t] = kw.per_test[t]
                    for kt in self.kw[t]:
                        if kt.field not in self.cols and kt.field in kw.cols:
                            at = np.searchsorted(kw.rows, rows)     # group rows ⊆ searched rows
                            self.cols[kt.field] = kw.cols[kt.field].restrict(at)
                    continue
                by_field.setdefault(t.field, []).append(t)
                if t.op == "fieldref":
                    by_field.setdefault(t.arg[0], [])
        self.codes = dict(self.codes) if by_field else self.codes
        for f, tests in by_field.items():
            vals = fields.values(f, rows, ls)
            if vals is None:
                self.absent.add(f)
            elif len(vals) != self.n:             # a Fields defect: said, not matched wrongly
                for t in tests:
                    self.failed[t] = f"{f}: the field mapping gave {len(vals)} values for {self.n} rows"
                vals = None
            self.cols[f] = col = Column(vals, self.n)
            _decide(col, [t for t in tests if t not in self.failed], self.codes, self.failed)

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
            return est, lambda: self._union([self.cols[x.field].rows_of(self.codes[x]) for x in ts])
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
        est = sum(s[0] for s in subs)
        if est > self.n // 2:                    # most rows anyway: evaluate them all
            return None
        return est, lambda: self._union([s[1]() for s in subs])

    def _union(self, parts: list[np.ndarray]) -> np.ndarray:
        mark = np.zeros(self.n, bool)
        for p in parts:
            mark[p] = True
        return np.flatnonzero(mark).astype(np.int64)

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

    def _reached(self, node, r: Rule, hits: np.ndarray, reach: np.ndarray, out: list) -> None:
        """(test index, the hit rows where it is part of why the rule holds) for every test
        not under a ``not``: an ``and`` true at a row needs all its parts, an ``or`` the
        parts that are true there."""
        op = node[0]
        if op == "t":
            out.append((node[1], reach))
        elif op in ("and", "or") and reach.any():
            for c in node[1]:
                self._reached(c, r, hits, reach if op == "and" else reach & self._eval(c, r, hits), out)

    def matched(self, r: Rule, hits: np.ndarray) -> pa.Array:
        """'Field: value; …' per hit row, for the fields whose (non-negated) tests held in a
        branch of the condition that is true there: in ``a or b`` a row that fired by ``b``
        does not show what ``a``'s tests happened to match."""
        pieces: list[pa.Array] = []
        shown: dict[str, np.ndarray] = {}
        reached: list[tuple[int, np.ndarray]] = []
        self._reached(r.cond, r, hits, np.ones(len(hits), bool), reached)
        for ti, reach in reached:
            t = r.tests[ti]
            for x in self._parts(t):
                m = self.test_at(x, hits) if t.op != "fieldref" else self._fieldref(t, hits)
                shown[x.field] = shown.get(x.field, np.zeros(len(hits), bool)) | (m & reach)
        for f, m in shown.items():
            if not m.any():
                continue
            label = f[1:] if f.startswith("\0") else f
            vals = pc.fill_null(self._texts_at(f, hits, False), text(""))
            shown_text = pc.binary_join_element_wise(text(f"{label}: "), vals, text(""))
            pieces.append(pc.if_else(pa.array(m), shown_text, pa.scalar(None, pa.string())))
        if not pieces:
            return pa.array([""] * len(hits), pa.string())
        # pairwise, not null_handling="skip": pyarrow 26 drops the rows where every piece is null
        out = pieces[0]
        for p in pieces[1:]:
            out = pc.if_else(pc.is_null(out), p,
                             pc.if_else(pc.is_null(p), out, pc.binary_join_element_wise(out, p, text("; "))))
        return pc.fill_null(out, text(""))
