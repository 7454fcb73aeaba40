"""Exhaustive search: substring (or RE2 regex) over every text column, raw vendor
fields included, plus the quarantine's raw text — with a receipt saying exactly
what was read. Substring, never token based: a term must occur inside one value
(a match made only by joining two adjacent values does not count).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import ast as A
from .compare import is_str
from .errors import QueryError
from .names import did_you_mean, resolve_column
from .npkeys import distinct
from .segcodec import plain


@dataclass
class Receipt:
    terms: str
    case_sensitive: bool
    rows_scanned: int = 0
    columns_scanned: int = 0
    bytes_scanned: int = 0
    bytes_represented: int = 0
    quarantine_scanned: int = 0
    quarantine_searched: bool = False
    quarantine_bytes: int = 0
    hosts: int = 0
    first: str | None = None
    last: str | None = None
    hits: int = 0
    quarantine_hits: int = 0
    seconds: float = 0.0
    engine: str = ""
    columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the statement that ran this search ("statement 2", "let ps")
    statement: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        span = f"{self.first} .. {self.last}" if self.first else "no time range"
        where = f"{self.statement}: " if self.statement.startswith("let ") else ""
        return (where + f"search {self.terms}{' (case-sensitive)' if self.case_sensitive else ''}: "
                f"{self.hits:,} hit(s) in {self.rows_scanned:,} rows × {self.columns_scanned} "
                f"columns ({self._bytes_text()}), {self._quarantine_text()}; "
                f"{self.hosts} host(s), {span}; {self.seconds * 1000:.0f} ms"
                + ("".join("; " + n for n in self.notes)))


    def _quarantine_text(self) -> str:
        if not self.quarantine_searched:
            return "quarantine not searched (only the whole events table's search reads it)"
        return (f"{self.quarantine_hits} hit(s) in {self.quarantine_scanned:,} quarantined "
                f"records ({_size(self.quarantine_bytes)})")

    def _bytes_text(self) -> str:
        if self.bytes_represented and self.bytes_represented != self.bytes_scanned:
            return (f"{_size(self.bytes_represented)} of text, read as "
                    f"{_size(self.bytes_scanned)} of distinct values")
        return _size(self.bytes_scanned)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def describe(term) -> str:
    if isinstance(term, A.SText):
        return '"' + term.text + '"'
    if isinstance(term, A.SRegex):
        return f'regex("{term.pattern}")'
    if term.op == "not":
        return "not " + describe(term.terms[0])
    return "(" + f" {term.op} ".join(describe(t) for t in term.terms) + ")"


def leaves(term) -> list:
    if isinstance(term, (A.SText, A.SRegex)):
        return [term]
    return [x for t in term.terms for x in leaves(t)]


def _positive_leaves(term, negated=False) -> list:
    if isinstance(term, (A.SText, A.SRegex)):
        return [] if negated else [term]
    if term.op == "not":
        return _positive_leaves(term.terms[0], not negated)
    return [x for t in term.terms for x in _positive_leaves(t, negated)]


class _Matcher:
    """Leaf masks per column (vectorized Arrow; lower-cased copies cached)."""

    def __init__(self, cs: bool, columns: dict):
        self.cs = cs
        self.columns = columns
        self.lowered: dict[str, pa.Array] = {}

    def leaf(self, name: str, leaf) -> pa.Array:
        col = self.columns[name]
        if isinstance(leaf, A.SRegex):
            return regex_mask(col, leaf, self.cs)
        if self.cs:
            return pc.match_substring(col, leaf.text)
        if name not in self.lowered:
            self.lowered[name] = pc.utf8_lower(col)
        return pc.match_substring(self.lowered[name], leaf.text.lower())


def regex_mask(col, leaf, cs: bool):
    try:
        return pc.match_substring_regex(col, leaf.pattern, ignore_case=not cs)
    except pa.ArrowInvalid as x:
        raise QueryError(f"bad regular expression: {x}", leaf.pos,
                         "RE2 syntax: no backreferences or lookaround") from None


def _combine(term, hit: dict) -> pa.Array:
    if isinstance(term, (A.SText, A.SRegex)):
        return hit[id(term)]
    if term.op == "not":
        return pc.invert(_combine(term.terms[0], hit))
    out = _combine(term.terms[0], hit)
    for t in term.terms[1:]:
        out = (pc.and_ if term.op == "and" else pc.or_)(out, _combine(t, hit))
    return out


def scan(names: list[str], n: int, term, matcher):
    """Row mask and per-column hit masks (positive leaves) over text columns."""
    row_hit = {id(lf): pa.array(np.zeros(n, bool)) for lf in leaves(term)}
    positive = {id(lf) for lf in _positive_leaves(term)}
    col_hits: dict[str, pa.Array] = {}
    for name in names:
        col_any = None
        for lf in leaves(term):
            mask = pc.fill_null(matcher.leaf(name, lf), False)
            row_hit[id(lf)] = pc.or_(row_hit[id(lf)], mask)
            if id(lf) in positive:
                col_any = mask if col_any is None else pc.or_(col_any, mask)
        if col_any is not None:
            col_hits[name] = col_any
    return _combine(term, row_hit), col_hits


def _bytes(col) -> int:
    if len(col) == 0 or col.null_count == len(col):
        return 0
    return int(pc.sum(pc.binary_length(col)).as_py() or 0)


def search_table(t: pa.Table, st: A.Search, ctx, quarantine: bool = True, whole: bool = False):
    """Search the rows of ``t``. ``whole``: ``t`` has every row of the case's events (and
    at least the columns the later stages read): the stored segments are scanned, every text
    column of the events' schema, and the hit rows taken from ``t``."""
    t0 = time.perf_counter()
    schema = ctx.case.events_schema() if whole and hasattr(ctx.case, "events_schema") else t.schema
    if st.columns:
        names = []
        for c in st.columns:
            r = resolve_column(c, schema.names)
            if r is None:
                raise QueryError(f"unknown field {c!r} in search … in (…)", st.pos,
                                 did_you_mean(c, schema.names))
            names.append(r)
    else:       # an earlier search's ``matched`` names columns: not data
        names = [c for c in schema.names if _is_text(schema, c) and c != "matched"]
    if "matched" in t.column_names:          # this search's matched replaces it
        t = t.drop_columns(["matched"])
    cols = _Plain(t)
    rc = Receipt(describe(st.term), st.case_sensitive, rows_scanned=t.num_rows,
                 columns_scanned=len(names), columns=names)
    hits = None
    scanner = _scanner(ctx, t, whole)
    if scanner is None and any(c not in t.column_names for c in names):
        t = ctx.case.events                  # (no scanner: the rows are read whole)
        cols = _Plain(t)
    if scanner is not None:
        rc.engine = "search index (compact store" + ("" if st.case_sensitive else ", lower-cased") \
            + (f"; {scanner.old_layout} format 1 segment(s) encoded in memory" if scanner.old_layout
               else "") + ")"
        _cover_from_manifest(ctx.case, rc)
        if isinstance(st.term, A.SText) and all(_is_text(schema, c) for c in names):
            hits = _one_term(t, st, scanner, names, rc)     # row sets only, no full-length masks
        else:
            mask, col_hits = _scan_index(names, t.num_rows, st, scanner, cols, rc, schema)
    else:
        rc.engine = "vectorized"
        plain = {c: cols[c] for c in names}
        rc.bytes_scanned = sum(_bytes(c) for c in plain.values())
        mask, col_hits = scan(names, t.num_rows, st.term, _Matcher(st.case_sensitive, plain))
        _cover(t, rc)
    if hits is None:
        hits = _rows(t, mask)
        sel = pc.indices_nonzero(mask)
        matched = _matched_names({k: pc.take(v, sel) for k, v in col_hits.items()}, hits.num_rows)
        hits = hits.append_column("matched", matched)
    rc.hits = hits.num_rows
    if quarantine and not st.columns:
        rc.quarantine_searched = True
        q = ctx.case.quarantine
        rc.quarantine_scanned = q.num_rows
        if q.num_rows:
            qcols = {"quarantine.raw": q["raw"], "quarantine.reason": q["reason"]}
            rc.quarantine_bytes = sum(_bytes(c) for c in qcols.values())
            qmask, qcol_hits = scan(list(qcols), q.num_rows, st.term,
                                    _Matcher(st.case_sensitive, qcols))
            qh = q.filter(qmask)
            rc.quarantine_hits = qh.num_rows
            if qh.num_rows:
                qm = _matched_names({k: v.filter(qmask) for k, v in qcol_hits.items()}, qh.num_rows)
                extra = pa.table({"source": qh["source"], "record": qh["record"], "matched": qm,
                                  "quarantine_reason": qh["reason"], "quarantine_raw": qh["raw"]})
                for c in extra.column_names:    # a stored text column: plain, as extra's
                    if c in hits.column_names and pa.types.is_dictionary(hits.schema.field(c).type):
                        i = hits.column_names.index(c)
                        hits = hits.set_column(i, c, _Plain(hits)[c])
                hits = pa.concat_tables([hits, extra], promote_options="permissive")
    rc.seconds = time.perf_counter() - t0
    return hits, rc


def _matched_names(col_hits: dict[str, pa.Array], n: int) -> pa.Array:
    if not col_hits or n == 0:
        return pa.array([None] * n, pa.string())
    parts = [pc.if_else(m, pa.scalar(name), pa.scalar(None, pa.string()))
             for name, m in col_hits.items()]
    from .values import join_skip
    return join_skip(parts, ", ")


def _is_text(schema: pa.Schema, c: str) -> bool:
    """A stored text column (the scanner reads it; one with no value in any row has no codes
    and finds nothing)."""
    f = schema.field(c)
    return is_str(f.type) or pa.types.is_dictionary(f.type)


class _Plain(dict):
    """A table's columns as plain strings, decoded only when a path reads them."""

    def __init__(self, t: pa.Table):
        super().__init__()
        self.t = t

    def __missing__(self, c: str):
        col = plain(self.t.column(c))
        if not is_str(col.type):
            col = pc.cast(col, pa.string())
        self[c] = col
        return col


def _scanner(ctx, t: pa.Table, whole: bool):
    """The scanner of the stored segments when the search reads the whole events table."""
    case = ctx.case
    if not (whole or t is getattr(case, "_events", None)) or not hasattr(case, "manifest"):
        return None
    cache = case.__dict__.setdefault("_scanners", {})
    if "index" not in cache:
        from .fastscan import Scanner
        from .store import CaseError
        try:
            cache["index"] = Scanner(case)
        except (OSError, pa.ArrowInvalid, CaseError):
            return None
    sc = cache["index"]
    return sc if sc.num_rows == t.num_rows else None


def _count_hosts(values) -> int:
    """Hosts as the host-name rule counts them (PC-01 and pc-01.corp.example: one)."""
    from .hostnames import distinct_codes, group_codes
    values = pa.array([v for v in values if v is not None], pa.string()) \
        if isinstance(values, list) else distinct_codes(values)[0]
    return len(distinct(group_codes(values))) if len(values) else 0


def _cover(t: pa.Table, rc: Receipt) -> None:
    if "host" in t.column_names and t.num_rows:
        rc.hosts = _count_hosts(t["host"])
    if "ts" in t.column_names and t.num_rows:
        from .store import iso_ns
        ts = pc.cast(t["ts"], pa.int64())
        rc.first, rc.last = iso_ns(pc.min(ts).as_py()), iso_ns(pc.max(ts).as_py())


def _cover_from_manifest(case, rc: Receipt) -> None:
    """The whole events table was searched: hosts and time range as the manifest counts them."""
    hosts = case.manifest.get("hosts", {})
    rc.hosts = _count_hosts([h for h in hosts if h != "(no host)"])
    tot = case.manifest.get("totals", {})
    rc.first, rc.last = tot.get("first"), tot.get("last")


def _scan_index(names, n, st, scanner, cols, rc, schema):
    """Row mask and per-column hit masks through the stored distinct values (numpy row
    sets); a column that is not text (``search … in (pid)``) is read vectorized."""
    term, cs = st.term, st.case_sensitive
    lvs = leaves(term)
    positive = {id(lf) for lf in _positive_leaves(term)}
    leaf_rows = {id(lf): [] for lf in lvs}
    col_rows: dict[str, list] = {}
    text = [c for c in names if _is_text(schema, c)]
    other = [c for c in names if c not in text]
    represented = 0
    matcher = _Matcher(cs, cols)          # (lower-cased copies kept across the terms)
    for lf in lvs:
        if isinstance(lf, A.SRegex):
            per_col, nbytes, cov = scanner.find_matching(
                lambda v, lf=lf: regex_mask(v, lf, cs), text)
        else:
            per_col, nbytes, cov = scanner.find_all(lf.text, cs, text)
        rc.bytes_scanned += nbytes
        represented = max(represented, cov)
        for name in other:
            m = pc.fill_null(matcher.leaf(name, lf), False)
            rows = pc.indices_nonzero(m).to_numpy(zero_copy_only=False).astype(np.int64)
            rc.bytes_scanned += _bytes(cols[name])
            if len(rows):
                per_col[name] = rows
        for name, rows in per_col.items():
            leaf_rows[id(lf)].append(rows)
            if id(lf) in positive:
                col_rows.setdefault(name, []).append(rows)
    rc.bytes_represented = represented + sum(_bytes(cols[c]) for c in other)

    def mask_of(rows_list):
        m = np.zeros(n, bool)
        for r in rows_list:
            m[r] = True
        return m

    hit = {k: pa.array(mask_of(v)) for k, v in leaf_rows.items()}
    col_hits = {c: pa.array(mask_of(col_rows[c])) for c in names if c in col_rows}
    return _combine(term, hit), col_hits


def _rows(t: pa.Table, mask) -> pa.Table:
    """The rows where mask is true (or at the given indices): a few hits as zero-copy
    slices, many through a filter."""
    if isinstance(mask, np.ndarray):
        idx = mask
        if len(idx) > 200 or len(idx) == 0:
            m = np.zeros(t.num_rows, bool)
            m[idx] = True
            return t.filter(pa.array(m))
    else:
        idx = pc.indices_nonzero(mask).to_numpy(zero_copy_only=False)
    if len(idx) > 200 or len(idx) == 0:
        return t.filter(mask)
    return pa.concat_tables([t.slice(int(i), 1) for i in idx])


def _one_term(t: pa.Table, st: A.Search, scanner, names: list[str], rc: Receipt) -> pa.Table:
    """A single text term through the index: the hit rows and, per row, the matched columns."""
    per_col, rc.bytes_scanned, rc.bytes_represented = scanner.find_all(
        st.term.text, st.case_sensitive, names)
    if not per_col:
        return t.slice(0, 0).append_column("matched", pa.array([], pa.string()))
    rows = distinct(np.concatenate(list(per_col.values())))
    if len(rows) > 10_000:                      # many hits: masks are cheaper than dicts
        mask = np.zeros(t.num_rows, bool)
        mask[rows] = True
        col_hits = {}
        for c, r in per_col.items():
            m = np.zeros(t.num_rows, bool)
            m[r] = True
            col_hits[c] = pa.array(m[rows])
        return _rows(t, pa.array(mask)).append_column("matched", _matched_names(col_hits, len(rows)))
    where = {int(r): [] for r in rows}
    for c in names:                             # column order, as the vectorized path gives
        for r in per_col.get(c, ()):
            where[int(r)].append(c)
    hits = _rows(t, rows)
    return hits.append_column("matched", pa.array([", ".join(where[int(r)]) for r in rows],
                                                  pa.string()))
