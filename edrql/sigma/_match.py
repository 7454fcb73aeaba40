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
from itertools import chain

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..npkeys import distinct
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
        self._non_ascii = None

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

    def non_ascii(self) -> np.ndarray:
        """Codes of the distinct values holding a character beyond ASCII."""
        if self._non_ascii is None:
            self._non_ascii = _bool_codes(pc.match_substring_regex(self.text, "[^\\x00-\\x7f]"))
        return self._non_ascii

    def framed(self, cased: bool) -> tuple[str, np.ndarray]:
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


def text(s: str) -> pa.Scalar:
    """A typed string scalar (an untyped one costs Arrow a failed dateutil import per call)."""
    return pa.scalar(s, pa.string())


def _frame(values: pa.Array) -> tuple[str, np.ndarray]:
    """The distinct values, each between the anchor characters, as ONE text (the automaton
    walks it in one call instead of one call per value) and where each value starts in it
    (code points; len(values) + 1 entries). An anchor character inside a value (log text is
    attacker-controlled; NTFS allows these in names) is replaced by U+FFFD first, so that a
    value cannot fake an end or a start: 'svchost.exe\ue001x\\evil.exe' must not end with
    'svchost.exe'. (No Sigma rule's string holds these private-use characters.)"""
    v = pc.fill_null(values, text(""))
    v = v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v
    if pa.types.is_large_string(v.type):
        v = v.cast(pa.string())
    raw = _bytes_of(v)
    if "\ue000".encode() in raw or "\ue001".encode() in raw:     # a C scan, not a regex pass
        v = pc.replace_substring_regex(v, "[\ue000\ue001]", "\ufffd")
        raw = _bytes_of(v)
    if raw.isascii():              # code points = bytes: lengths from the offsets
        offs = np.frombuffer(v.buffers()[1], np.int32)[v.offset:v.offset + len(v) + 1]
        lens = np.diff(offs).astype(np.int64) + 2
    else:
        lens = pc.utf8_length(v).to_numpy(zero_copy_only=False).astype(np.int64) + 2
    f = pc.binary_join_element_wise(text(_BEGIN), v, text(_END), text(""))
    whole = _bytes_of(f).decode("utf-8")
    return whole, np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)


def _bytes_of(v: pa.Array) -> bytes:
    """The UTF-8 bytes of a string array's values, end to end (its data buffer's slice)."""
    if not len(v) or v.buffers()[2] is None:
        return b""
    offs = np.frombuffer(v.buffers()[1], np.int32)[v.offset:v.offset + len(v) + 1]
    return v.buffers()[2].to_pybytes()[int(offs[0]):int(offs[-1])]


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
    (the null code ``col.ndict`` included where the test holds for absent values).

    A regular expression with a literal every match must contain ('\\appdata\\' in
    '\\appdata\\.*\\.exe') rides in the field's automaton pass as a 'contains' key, and
    runs only on the values holding that literal: one RE2 scan of every distinct value per
    regex cost most of a rule set's time on a large case."""
    out: dict[Test, np.ndarray] = {}
    globs = {False: [], True: []}
    prefiltered = []                     # (regex test, its literal's contains test)
    for t in tests:
        if t.op == "glob":
            globs[t.cased].append(t)
        elif t.op == "re" and (lit := required_literal(*t.arg)) is not None:
            ci = lit[1]
            probe = Test(t.field, "glob", (STAR, lit[0], STAR), not ci)
            globs[not ci].append(probe)
            prefiltered.append((t, probe))
        elif t.op != "fieldref":
            out[t] = _vector_test(col, t)
    found: dict[Test, np.ndarray] = {}
    for cased, ts in globs.items():
        if ts:
            found.update(_globs(col, list(dict.fromkeys(ts)), cased))
    out.update({t: found[t] for t in tests if t.op == "glob"})
    for t, probe in prefiltered:
        codes = found[probe]
        if not probe.cased:              # RE2 folds ſ→s and K→k; lower() does not: values
            codes = np.union1d(codes, col.non_ascii()).astype(np.int32)   # with non-ASCII text too
        if len(codes):
            codes = codes[codes < col.ndict]
            codes = codes[regex_over(col.text.take(pa.array(codes)), *t.arg)]
        out[t] = codes.astype(np.int32)
    return out


def required_literal(pattern: str, flags: str) -> tuple[str, bool] | None:
    """(the longest ASCII run of literal characters every match of the regex contains, the
    regex ignores case), or None when it has none of 3 characters or more (alternation at
    the top, classes only, or a pattern Python's parser does not read)."""
    import re._constants as C
    import re._parser as P
    try:
        parsed = P.parse(f"(?{flags})" + pattern if flags else pattern)
    except Exception:            # RE2-only syntax: no prefilter, the regex still runs
        return None
    ci = bool(parsed.state.flags & re.IGNORECASE)
    best, run = "", []
    for op, av in list(parsed) + [(None, None)]:
        if op is C.LITERAL and av < 128:
            run.append(chr(av))
            continue
        if len(run) > len(best):
            best = "".join(run)
        run = []
    return (best, ci) if len(best) >= 3 else None


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
    long_run = re.fullmatch(r"\.\{(\d+),(\d*)\}", pattern)
    if long_run and "m" not in flags:
        # '.{1000,}' (a command line of 1,000 characters): a length test, not RE2's
        # thousand-state automaton (3.8 s over 11k values). A value holds a match when it
        # holds a run of that many characters '.' matches: all of it without a newline
        # (or with the s flag); values with newlines are left to the regex itself.
        n = int(long_run.group(1))
        ok = pc.fill_null(pc.greater_equal(pc.utf8_length(values), n), False) \
            .to_numpy(zero_copy_only=False)
        if "s" not in flags:
            nl = pc.fill_null(pc.match_substring(values, "\n"), False).to_numpy(zero_copy_only=False)
            ok &= ~nl
            if nl.any():
                at = np.flatnonzero(nl)
                ok[at] = regex_over(values.take(pa.array(at)), pattern + "(?:)", flags)
        return ok
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
    found in each value, expanded to their tests → (test → sorted codes). Unanchored ASCII
    keys of one or two characters ('i', '-t': windash spellings, short flags) are found with
    a byte table instead (:func:`_short_pairs`): nearly every value holds them, often many
    times, and each automaton match is a Python tuple — on a large command-line field they
    were two thirds of the automaton's matches."""
    import ahocorasick
    short = {key: k for key, k in keys.items() if len(key) <= 2 and key.isascii()}
    pairs = [_short_pairs(col.text if cased else col.lower, short, len(keys))] if short else []
    if len(short) < len(keys):
        A = ahocorasick.Automaton()
        for key, k in keys.items():
            if key not in short:
                A.add_word(key, k)
        A.make_automaton()
        whole, starts = col.framed(cased)
        flat = np.fromiter(chain.from_iterable(A.iter(whole)), np.int64)
        if len(flat):
            m_key = flat[1::2]                                 # (end position, key) pairs
            m_vi = np.searchsorted(starts, flat[0::2], side="right") - 1
            pairs.append(m_vi * len(keys) + m_key)
    pair = distinct(np.concatenate(pairs)) if pairs else np.zeros(0, np.int64)
    if not len(pair):
        return {}
    nkeys = len(keys)
    m_vi, m_key = pair // nkeys, pair % nkeys                  # each key once per value
    # entries grouped by key (CSR), each (value, key) expanded to the key's tests
    order = np.argsort(ent_key, kind="stable")
    e_test, e_key = ent_test[order], ent_key[order]
    kstart = np.searchsorted(e_key, np.arange(nkeys + 1))
    cnt = kstart[m_key + 1] - kstart[m_key]
    rep = np.repeat(np.arange(len(m_vi)), cnt)
    first = np.repeat(kstart[m_key] - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt)
    e = np.arange(len(rep)) + first
    width = col.ndict + 1
    tv = distinct(e_test[e].astype(np.int64) * width + m_vi[rep])
    t_of, v_of = tv // width, (tv % width).astype(np.int32)
    bounds = np.searchsorted(t_of, np.arange(int(ent_test.max()) + 2))
    return {ti: v_of[bounds[ti]:bounds[ti + 1]] for ti in np.unique(ent_test).tolist()
            if bounds[ti + 1] > bounds[ti]}


_MARK_CELLS = 1 << 25     # the value × key table of _short_pairs: at most 32 MB at a time


def _short_pairs(values: pa.Array, keys: dict[str, int], nkeys: int) -> np.ndarray:
    """(value code × nkeys + key) for every value holding one of ``keys`` (ASCII, one or two
    characters, no anchor), each pair once. Read from the UTF-8 bytes: an ASCII byte is
    never part of a longer character, so a byte (or byte pair) equal to a key is an
    occurrence of it; a pair must not straddle two values. Occurrences are marked in a
    value × key table (one byte per cell), so repeats cost no sort."""
    v = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if not len(v) or v.buffers()[2] is None:
        return np.zeros(0, np.int64)
    block = max(1, _MARK_CELLS // len(v))          # keys per table: at most _MARK_CELLS cells
    if len(keys) > block:
        items = list(keys.items())
        return np.concatenate([_short_pairs(v, dict(items[i:i + block]), nkeys)
                               for i in range(0, len(items), block)])
    offs = np.frombuffer(v.buffers()[1], np.int32)[v.offset:v.offset + len(v) + 1]
    buf = np.frombuffer(v.buffers()[2], np.uint8)[offs[0]:offs[-1]]
    vid = np.repeat(np.arange(len(v), dtype=np.int32), np.diff(offs))  # the value of each byte
    local = list(keys)                                                 # key → column of the table
    mark = np.zeros((len(v), len(local)), np.bool_)
    one = [(ord(key), j) for j, key in enumerate(local) if len(key) == 1]
    if one:
        lut = np.full(256, -1, np.int16 if len(local) < 32767 else np.int32)
        for b, j in one:
            lut[b] = j
        col = lut[buf]
        pos = np.flatnonzero(col >= 0)
        mark[vid[pos], col[pos]] = True
    two = [(ord(key[0]) << 8 | ord(key[1]), j) for j, key in enumerate(local) if len(key) == 2]
    if two and len(buf) > 1:
        lut = np.full(65536, -1, np.int16 if len(local) < 32767 else np.int32)
        for b, j in two:
            lut[b] = j
        col = lut[(buf[:-1].astype(np.uint16) << 8) | buf[1:]]
        pos = np.flatnonzero(col >= 0)
        pos = pos[vid[pos] == vid[pos + 1]]                            # not across two values
        mark[vid[pos], col[pos]] = True
    vi, j = np.nonzero(mark)
    ids = np.array([keys[k] for k in local], np.int64)
    return vi.astype(np.int64) * nkeys + ids[j]
