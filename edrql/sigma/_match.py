"""One field's distinct values against every test of a logsource group, in one pass.

A :class:`Column` holds a field's values at the group's rows dictionary-encoded: ``codes``
(int32 per row; null rows get the extra code ``ndict``), the distinct texts, their lower
case, and the rows of each code (CSR) so a test's rows are gathered from its codes without
touching other rows. :func:`match_tests` decides every test of the field over the distinct
values: one Aho–Corasick automaton per case mode holds every literal piece of every glob;
equals/startswith/endswith/contains are decided from match positions, globs with inner
wildcards are confirmed on their candidates with one regular expression; ``re`` runs RE2
(Arrow) over the distinct values, Python ``re`` where RE2 refuses the pattern; numbers,
CIDR, null/exists and booleans are vector tests over the distinct values.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .rules import Test

STAR, ONE = ("*",), ("?",)
_EQ, _SW, _EW, _CONTAINS, _CAND = 0, 1, 2, 3, 4
_BEGIN, _END = "\ue000", "\ue001"      # value framing for anchored keys (private-use characters)
_NUMBER = r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$"
_RE2_META = set("\\.^$|?*+()[]{}")


class Column:
    """A field's values at a group's rows, encoded once (see the module doc)."""

    def __init__(self, values: pa.Array | pa.ChunkedArray | None, n: int):
        if values is None:                               # no column holds this field
            values = pa.nulls(n, pa.string())
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if not pa.types.is_dictionary(values.type):
            values = pc.dictionary_encode(values)
        dic, idx = values.dictionary, values.indices
        codes = pc.fill_null(pc.cast(idx, pa.int32()), -1).to_numpy().astype(np.int32)
        if dic.null_count:                               # a null dictionary entry is a null row
            codes[np.isin(codes, np.flatnonzero(dic.is_null().to_numpy(zero_copy_only=False)))] = -1
        counts = np.bincount(codes[codes >= 0], minlength=len(dic))
        used = np.flatnonzero(counts)
        if len(used) < len(dic) // 2 or dic.null_count:  # a shared dictionary: keep the used part
            remap = np.full(len(dic), -1, np.int32)
            remap[used] = np.arange(len(used), dtype=np.int32)
            codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1).astype(np.int32)
            dic = dic.take(pa.array(used))
        self.numeric_type = pa.types.is_integer(dic.type) or pa.types.is_floating(dic.type)
        self.text = dic if pa.types.is_string(dic.type) else pc.cast(dic, pa.string())
        if pa.types.is_large_string(self.text.type):
            self.text = pc.cast(self.text, pa.string())
        self._numbers = pc.cast(dic, pa.float64()).to_numpy(zero_copy_only=False) \
            if self.numeric_type else None
        self.ndict = len(dic)
        codes[codes < 0] = self.ndict
        self.codes = codes
        self.counts = np.bincount(self.codes, minlength=self.ndict + 1)
        self._order = None
        self._lower = None
        self._lower_list = None
        self._list = None
        self._v4 = self._v6 = None

    def restrict(self, rows: np.ndarray) -> "Column":
        """The same distinct values (and what was read from them) at a subset of the rows."""
        c = object.__new__(Column)
        c.__dict__.update(self.__dict__)
        c.codes = self.codes[rows]
        c.counts = np.bincount(c.codes, minlength=self.ndict + 1)
        c._order = None
        return c

    # the distinct values, as Arrow arrays and as Python lists (for the automaton)
    @property
    def lower(self) -> pa.Array:
        if self._lower is None:
            self._lower = pc.utf8_lower(self.text)
        return self._lower

    def framed(self, cased: bool) -> list:
        """The distinct values (lower case unless cased) between the anchor characters."""
        if cased:
            if self._list is None:
                self._list = _frame(self.text)
            return self._list
        if self._lower_list is None:
            self._lower_list = _frame(self.lower)
        return self._lower_list

    def v4(self):
        """(is IPv4, its number) per distinct value, read once."""
        if self._v4 is None:
            from ..fnlib.cidr import _v4_numbers
            self._v4 = _v4_numbers(self.text)
        return self._v4

    def v6(self):
        if self._v6 is None:
            from ..fnlib.cidr import _v6_hex
            self._v6 = _v6_hex(self.text)
        return self._v6

    @property
    def numbers(self) -> np.ndarray:
        """float64 per distinct value; NaN where the text is no decimal number."""
        if self._numbers is None:
            ok = pc.fill_null(pc.match_substring_regex(self.text, _NUMBER), False)
            vals = pc.if_else(ok, self.text, pa.scalar(None, pa.string()))
            self._numbers = pc.fill_null(pc.cast(pc.utf8_trim_whitespace(vals), pa.float64()),
                                         math.nan).to_numpy(zero_copy_only=False)
        return self._numbers

    def rows_of(self, codes: np.ndarray) -> np.ndarray:
        """Sorted group-local row positions whose code is in ``codes``."""
        if len(codes) == 0:
            return np.zeros(0, np.int64)
        if self._order is None:
            self._order = np.argsort(self.codes, kind="stable")
            self._starts = np.concatenate([[0], np.cumsum(self.counts)])
        s, e = self._starts[codes], self._starts[codes + 1]
        lens = e - s
        total = int(lens.sum())
        if total == 0:
            return np.zeros(0, np.int64)
        offs = np.repeat(s - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
        pos = np.arange(total) + offs
        return np.sort(self._order[pos]).astype(np.int64)

    def count_of(self, codes: np.ndarray) -> int:
        return int(self.counts[codes].sum()) if len(codes) else 0


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    if len(x) == 0:
        return x
    x = np.sort(x)
    return x[np.concatenate([[True], x[1:] != x[:-1]])]


def text(s: str) -> pa.Scalar:
    """A typed string scalar (an untyped one costs Arrow a failed dateutil import per call)."""
    return pa.scalar(s, pa.string())


def _frame(values: pa.Array) -> list:
    return pc.binary_join_element_wise(text(_BEGIN), pc.fill_null(values, text("")), text(_END),
                                       text("")).to_pylist()


def _cidr(col: Column, net) -> np.ndarray:
    """Distinct values that are addresses in the network (IPv4, IPv4-mapped IPv6, IPv6)."""
    out = np.zeros(col.ndict, bool)
    if net.version == 4:
        ok, nums = col.v4()
        lo, hi = int(net.network_address), int(net.broadcast_address)
        out[np.flatnonzero(ok)] = (nums >= lo) & (nums <= hi)
    else:
        from ..fnlib.cidr import _v6_test
        ok, hexes = col.v6()
        if len(hexes):
            out[np.flatnonzero(ok)] = pc.fill_null(_v6_test(hexes, net), False) \
                .to_numpy(zero_copy_only=False)
    return np.flatnonzero(out).astype(np.int32)


def _bool_codes(mask) -> np.ndarray:
    if isinstance(mask, (pa.Array, pa.ChunkedArray)):
        mask = pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
    return np.flatnonzero(mask).astype(np.int32)


def glob_shape(parts: tuple) -> tuple[int, str | None]:
    """(kind, literal) for a glob that is one literal with optional '*' at its ends, else
    (_CAND, None)."""
    lead = bool(parts) and parts[0] == STAR
    trail = len(parts) > int(lead) and parts[-1] == STAR
    mid = parts[int(lead):len(parts) - int(trail)]
    if len(mid) == 1 and isinstance(mid[0], str):
        kind = _CONTAINS if lead and trail else _EW if lead else _SW if trail else _EQ
        return kind, mid[0]
    if not mid:
        return (-1, "") if (lead or trail) else (_EQ, "")   # -1: any value at all
    return _CAND, None


def glob_regex(parts: tuple) -> str:
    """An anchored RE2/Python pattern for a glob (literals escaped, '*' → .*, '?' → .)."""
    out = ["(?s)^"]
    for p in parts:
        if p == STAR:
            out.append(".*")
        elif p == ONE:
            out.append(".")
        else:
            out.append(_escape(p))
    out.append("$")
    return "".join(out)


def _escape(s: str) -> str:
    out = []
    for ch in s:
        if ch in _RE2_META:
            out.append("\\" + ch)
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\x{{{ord(ch):02x}}}")
        else:
            out.append(ch)
    return "".join(out)


def _lowered(texts: set[str]) -> dict[str, str]:
    """Pattern literals lower-cased by the same function as the values (Arrow's utf8_lower)."""
    keys = sorted(texts)
    return dict(zip(keys, pc.utf8_lower(pa.array(keys, pa.string())).to_pylist()))


def match_tests(col: Column, tests: list[Test]) -> dict[Test, np.ndarray]:
    """Every test of one field → sorted codes (int32) of the distinct values it is true for
    (the null code ``col.ndict`` included where the test holds for absent values)."""
    out: dict[Test, np.ndarray] = {}
    globs = {False: [], True: []}
    for t in tests:
        if t.op == "glob":
            globs[t.cased].append(t)
        elif t.op != "fieldref":
            out[t] = _vector_test(col, t)
    for cased, ts in globs.items():
        if ts:
            out.update(_globs(col, ts, cased))
    return out


def _vector_test(col: Column, t: Test) -> np.ndarray:
    null = np.array([col.ndict], np.int32)
    if t.op == "null":
        return np.concatenate([_bool_codes(pc.equal(col.text, text(""))), null])
    if t.op == "exists":
        return np.arange(col.ndict, dtype=np.int32) if t.arg else null
    if t.op == "bool":
        want = ["true", "1"] if t.arg else ["false", "0"]
        return _bool_codes(pc.is_in(col.lower, pa.array(want)))
    if t.op == "num":
        n = t.arg
        by_num = col.numbers == n
        by_text = pc.fill_null(pc.equal(col.lower, str(n).lower()), False).to_numpy(zero_copy_only=False)
        return _bool_codes(by_num | by_text)
    if t.op == "cmp":
        op, n = t.arg
        x = col.numbers
        with np.errstate(invalid="ignore"):
            m = {"lt": x < n, "lte": x <= n, "gt": x > n, "gte": x >= n,
                 "neq": ~(x == n)}[op]
        return _bool_codes(m)
    if t.op == "cidr":
        import ipaddress
        return _cidr(col, ipaddress.ip_network(t.arg, strict=False))
    if t.op == "re":
        return _bool_codes(regex_over(col.text, *t.arg))
    raise ValueError(f"unknown test {t.op}")


def regex_over(values: pa.Array, pattern: str, flags: str) -> np.ndarray:
    """Sigma ``re`` (a search, not anchored) over distinct values: RE2 through Arrow, or
    Python's ``re`` (one call per distinct value) for what RE2 refuses (look-around,
    back-references)."""
    prefix = f"(?{flags})" if flags else ""
    try:
        return pc.fill_null(pc.match_substring_regex(values, prefix + pattern), False) \
            .to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        rx = re.compile(prefix + pattern)
        return np.fromiter((v is not None and rx.search(v) is not None for v in values.to_pylist()),
                           bool, len(values))


def _globs(col: Column, tests: list[Test], cased: bool) -> dict[Test, np.ndarray]:
    out: dict[Test, np.ndarray] = {}
    keys: dict[str, int] = {}
    ent_key, ent_test = [], []
    confirm: dict[int, str] = {}
    low = {} if cased else _lowered({p for t in tests for p in t.arg if isinstance(p, str)})
    for ti, t in enumerate(tests):
        parts = t.arg if cased else tuple(low[p] if isinstance(p, str) else p for p in t.arg)
        kind, lit = glob_shape(parts)
        if kind == -1:
            out[t] = np.arange(col.ndict, dtype=np.int32)
            continue
        if kind == _EQ and lit == "":
            out[t] = _bool_codes(pc.equal(col.text, text("")))
            continue
        if kind == _CAND:
            pieces = [p for p in parts if isinstance(p, str)]
            confirm[ti] = glob_regex(parts)
            if not pieces:                               # only wildcards: '?', '?*', …
                vals = col.text if cased else col.lower
                out[t] = _bool_codes(pc.match_substring_regex(vals, confirm.pop(ti)))
                continue
            lit = max(pieces, key=len)
        # anchors make equals/startswith/endswith keys match only where they hold
        key = (_BEGIN if kind in (_EQ, _SW) else "") + lit + (_END if kind in (_EQ, _EW) else "")
        ent_key.append(keys.setdefault(key, len(keys)))
        ent_test.append(ti)
    if keys:
        found = _automaton_pairs(col, keys, cased, np.array(ent_key), np.array(ent_test))
        vals = col.text if cased else col.lower
        for ti, t in enumerate(tests):
            if t in out:
                continue
            codes = found.get(ti, np.zeros(0, np.int32))
            if ti in confirm and len(codes):
                ok = pc.match_substring_regex(vals.take(pa.array(codes)), confirm[ti])
                codes = codes[pc.fill_null(ok, False).to_numpy(zero_copy_only=False)]
            out[t] = codes
    return out


def _automaton_pairs(col, keys, cased, ent_key, ent_test) -> dict:
    """One automaton over every distinct value (framed by the anchor characters): the keys
    found in each value, expanded to their tests → (test → sorted codes)."""
    import ahocorasick
    A = ahocorasick.Automaton()
    for key, k in keys.items():
        A.add_word(key, k)
    A.make_automaton()
    it = A.iter
    found = [[k for _, k in it(s)] for s in col.framed(cased)]
    lens = np.fromiter((len(f) for f in found), np.int64, len(found))
    if not lens.sum():
        return {}
    m_key = np.fromiter((k for f in found for k in f), np.int64, int(lens.sum()))
    m_vi = np.repeat(np.arange(len(found), dtype=np.int64), lens)
    nkeys = len(keys)
    pair = _sorted_unique(m_vi * nkeys + m_key)            # each key once per value
    m_vi, m_key = pair // nkeys, pair % nkeys
    # entries grouped by key (CSR), each (value, key) expanded to the key's tests
    order = np.argsort(ent_key, kind="stable")
    e_test, e_key = ent_test[order], ent_key[order]
    kstart = np.searchsorted(e_key, np.arange(nkeys + 1))
    cnt = kstart[m_key + 1] - kstart[m_key]
    rep = np.repeat(np.arange(len(m_vi)), cnt)
    first = np.repeat(kstart[m_key] - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt)
    e = np.arange(len(rep)) + first
    width = col.ndict + 1
    tv = _sorted_unique(e_test[e].astype(np.int64) * width + m_vi[rep])
    t_of, v_of = tv // width, (tv % width).astype(np.int32)
    bounds = np.searchsorted(t_of, np.arange(int(ent_test.max()) + 2))
    return {ti: v_of[bounds[ti]:bounds[ti + 1]] for ti in np.unique(ent_test).tolist()
            if bounds[ti + 1] > bounds[ti]}
