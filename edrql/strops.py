"""KQL's term operators and the rules for missing values in comparisons (vectorized).

Terms. KQL splits a text into *terms*: maximal runs of ASCII letters and digits
(``C:\\Windows\\System32\\cmd.exe`` has the terms ``C``, ``Windows``, ``System32``,
``cmd``, ``exe``). ``x has "t"`` is true when ``t`` occurs in ``x`` as whole terms: the
needle's own other characters match literally, and where its first (last) character is a
letter or digit, the character before (after) the match must not be one — so
``has "-nop"`` does not match ``-NoProfile``, and ``has "system32\\cmd"`` matches the path
above. ``hasprefix`` only bounds the start, ``hassuffix`` only the end. Each needle
becomes one RE2 pattern run by ``pc.match_substring_regex``; ``has_any`` over many
needles is one alternation, or — for long lists of single-term needles — a set
membership test over the terms split out of the values (``pc.split_pattern_regex`` and
``pc.index_in``), whichever is cheaper (see ``TERM_SET_MIN``).

Missing values (KQL: a string is never null). Text predicates read a missing text as
the empty string: ``FolderPath !contains "system32"`` keeps a row with no FolderPath,
``FolderPath != ""`` drops it. Other kinds follow KQL's null rules for ``==``/``!=``:
a null against a value is unequal (``==`` false, ``!=`` true), two nulls are unknown;
ordering (``<``, ``between``) with a null is unknown, so ``where`` drops it.

No imports from ``expr``: this module is imported by it.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .npkeys import distinct

#: the character class of a term's characters (KQL: ASCII alphanumerics)
_WORD = "0-9A-Za-z"
_START = f"(?:^|[^{_WORD}])"        # a term starts here: start of text or a non-term character
_END = f"(?:$|[^{_WORD}])"
_SPLIT = f"[^{_WORD}]+"
#: has_any/has_all with at least this many single-term needles test set membership of the
#: values' terms instead of alternation regexes. Measured on 200,000 generated FolderPath
#: values (69,228 distinct): 500 terms 0.020 s by regex / 0.112 s by set; 4,000: 0.160 / 0.115;
#: 10,000: 0.407 / 0.117 (command lines, 3,506 distinct: the set takes 0.021 s at any size)
TERM_SET_MIN = 2000
#: needles per alternation regex: RE2's DFA has a bounded memory budget in Arrow, past which
#: it falls back to a far slower engine (4,000 needles: 2.1 s where 1,000 take 0.03 s)
_CHUNK = 500

#: the string predicates (base names; ``!`` and ``_cs`` forms too) run by Evaluator._strop
STRING_PREDICATES = ("contains", "startswith", "endswith", "matches", "has", "hasprefix",
                     "hassuffix",
                     "like")        # ---- EQL wildcards (issue 14): like, like_cs, :
EMPTY_TERM_HINT = 'e.g. cmdline has "-enc"; for missing or empty text: x == "" or isnull(x)'
#: operator → which ends of the needle must fall on term boundaries
TERM_KINDS = {"has": (True, True), "hasprefix": (True, False), "hassuffix": (False, True)}


def re2_literal(text: str) -> str:
    """A literal for an RE2 pattern: letters and digits as they are, the rest as \\x{…}."""
    return "".join(c if c.isalnum() else f"\\x{{{ord(c):x}}}" for c in text)


def _word(c: str) -> bool:
    return c.isascii() and c.isalnum()


def is_term(needle: str) -> bool:
    """Is the needle one whole term (only ASCII letters and digits)?"""
    return bool(needle) and all(_word(c) for c in needle)


def term_pattern(needle: str, kind: str = "has") -> str:
    """The RE2 pattern of ``x <kind> needle`` (kind: has, hasprefix, hassuffix)."""
    start, end = TERM_KINDS[kind]
    return ((_START if start and _word(needle[0]) else "") + re2_literal(needle) +
            (_END if end and _word(needle[-1]) else ""))


def _any_pattern(needles: list[str]) -> str:
    """One alternation for ``has`` of any of the needles (grouped by their boundaries)."""
    groups: dict[tuple[bool, bool], list[str]] = {}
    for n in needles:
        groups.setdefault((_word(n[0]), _word(n[-1])), []).append(re2_literal(n))
    return "|".join((_START if s else "") + "(?:" + "|".join(lits) + ")" + (_END if e else "")
                    for (s, e), lits in groups.items())


def _regex_any(values, needles: list[str], cs: bool):
    out = None
    for i in range(0, len(needles), _CHUNK):
        m = pc.match_substring_regex(values, _any_pattern(needles[i:i + _CHUNK]), ignore_case=not cs)
        out = m if out is None else pc.or_(out, m)
    return out


def _term_index(values, terms: list[str], cs: bool):
    """For every term of every value: (row, index of the term in ``terms`` or -1)."""
    parts = pc.split_pattern_regex(values, _SPLIT)
    flat = pc.list_flatten(parts)
    rows = pc.list_parent_indices(parts).to_numpy(zero_copy_only=False)
    if not cs:
        flat = pc.ascii_lower(flat)
    idx = pc.index_in(flat, value_set=pa.array(terms, pa.string()))
    return rows, pc.fill_null(idx, -1).to_numpy(zero_copy_only=False)


def _with_nulls(values, hits: np.ndarray):
    """A boolean array from hits, null where the value is null."""
    mask = pc.is_null(values).to_numpy(zero_copy_only=False) if values.null_count else None
    return pa.array(hits, pa.bool_(), mask=mask)


def _on_distinct(values, fn):
    """fn over the distinct values, spread to the rows (when values repeat enough)."""
    if len(values) < 10_000:
        return fn(values)
    enc = pc.dictionary_encode(values)
    if len(enc.dictionary) > len(values) // 2:
        return fn(values)
    return pc.take(fn(enc.dictionary), enc.indices)


def _terms_any(values, terms: list[str], cs: bool):
    def run(vals):
        rows, idx = _term_index(vals, terms, cs)
        hits = np.zeros(len(vals), bool)
        hits[rows[idx >= 0]] = True
        return _with_nulls(vals, hits)
    return _on_distinct(values, run)


def _terms_all(values, terms: list[str], cs: bool):
    k = len(terms)

    def run(vals):
        rows, idx = _term_index(vals, terms, cs)
        found = idx >= 0
        pairs = distinct(rows[found].astype(np.int64) * k + idx[found])
        counts = np.bincount(pairs // k, minlength=len(vals)) if len(pairs) else \
            np.zeros(len(vals), np.int64)
        return _with_nulls(vals, counts == k)
    return _on_distinct(values, run)


def _needles(needles, cs: bool) -> list[str]:
    out = dict.fromkeys(n if cs else n.lower() for n in needles)      # distinct, in order
    return list(out)


def has_any(values, needles: list[str], cs: bool = False):
    """``values has_any (needles)``: true where any needle occurs as whole terms."""
    needles = _needles(needles, cs)
    if not needles:
        return pc.and_(pc.is_valid(values), pa.scalar(False))
    terms = [n for n in needles if is_term(n)]
    if len(terms) < TERM_SET_MIN:
        return _regex_any(values, needles, cs)
    out = _terms_any(values, terms, cs)
    others = [n for n in needles if not is_term(n)]
    return pc.or_(out, _regex_any(values, others, cs)) if others else out


def has_all(values, needles: list[str], cs: bool = False):
    """``values has_all (needles)``: true where every needle occurs as whole terms."""
    needles = _needles(needles, cs)
    terms = [n for n in needles if is_term(n)]
    rest = needles if len(terms) < TERM_SET_MIN else [n for n in needles if not is_term(n)]
    out = _terms_all(values, terms, cs) if len(terms) >= TERM_SET_MIN else None
    for n in rest:
        m = pc.match_substring_regex(values, term_pattern(n), ignore_case=not cs)
        out = m if out is None else pc.and_(out, m)
    return out if out is not None else pc.is_valid(values)


# ---------------------------------------------------------------- missing values
def text_as_empty(out, pred):
    """A text predicate's result where the text was missing: what it gives for ""."""
    if isinstance(out, pa.Scalar):
        return out if out.is_valid else pred(pa.array([""], pa.string()))[0]
    if not out.null_count:
        return out
    return pc.fill_null(out, pred(pa.array([""], pa.string()))[0])


def or_missing(out, text, also_empty: bool, negated: bool):
    """A (host) comparison's result with missing text as "": unequal to a name, and — when
    "" is one of the wanted values (``host in ("", "pc-01")``) — equal to ""."""
    out = pc.fill_null(out, negated)
    if not also_empty:
        return out
    blank = pc.fill_null(pc.equal(text, ""), True)
    return pc.and_(out, pc.invert(blank)) if negated else pc.or_(out, blank)


def fill_text(a):
    """A text value with its missing values as ""; other values as they are."""
    if isinstance(a, pa.Scalar) or a.type == pa.null() or not a.null_count:
        return a
    return pc.fill_null(a, "")


def null_unequal(out, l, r, negated: bool):
    """KQL's ``==``/``!=`` with nulls: a null against a value is unequal (false for ==,
    true for !=); two nulls stay unknown. A ``null`` literal (type null) stays unknown."""
    if pa.null() in (l.type, r.type):
        return out
    ln = pc.is_null(l) if not isinstance(l, pa.Scalar) else pa.scalar(not l.is_valid)
    rn = pc.is_null(r) if not isinstance(r, pa.Scalar) else pa.scalar(not r.is_valid)
    one = pc.xor(ln, rn)
    if isinstance(one, pa.Scalar):
        return pa.scalar(negated) if one.as_py() else out
    if not pc.any(one).as_py():
        return out
    return pc.if_else(one, pa.scalar(negated), out)


def flatten_items(values: list) -> list:
    """The items of an in (…)/has_any (…) list, list values (a let of a list) spread out,
    nested lists too (KQL: ``x in (dynamic([1, [2, 3]]))`` is ``x in (1, 2, 3)``)."""
    out, todo = [], list(reversed(values))
    while todo:
        v = todo.pop()
        if isinstance(v, pa.Scalar) and (pa.types.is_list(v.type) or pa.types.is_large_list(v.type)):
            if v.is_valid:
                todo.extend(v.values[i] for i in reversed(range(len(v.values))))
        else:
            out.append(v)
    return out


def span_bound(low, high):
    """KQL: ``t between (low .. span)`` with a time low and a duration span means low + span."""
    if pa.types.is_timestamp(low.type) and pa.types.is_duration(high.type):
        return pc.add(low, high)
    return high
