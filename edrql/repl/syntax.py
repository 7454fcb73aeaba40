"""Text helpers for completion: where the cursor sits (code, comment, string),
which field a string is compared with, escaping, and fuzzy ranking.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..safetext import term

WORD_RE = re.compile(r"(?:!?[A-Za-z_][A-Za-z0-9_.@#$]*|\$[A-Za-z0-9_]*|`[^`\n]*|[=!<>~]+)$")
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_@#$]+)*")
VALUE_OPS = {"COMPARE", "STRING_OP"}
MAX_SHOWN = 300


@dataclass
class Cand:
    text: str          # inserted
    key: str           # matched against the word
    meta: str = ""
    display: str | None = None


def match_tier(word: str, key: str) -> int | None:
    """0 prefix, 1 substring, 2 subsequence (all case-insensitive), None no match."""
    if not word:
        return 0
    w, k = word.lower(), key.lower()
    if k.startswith(w):
        return 0
    if w in k:
        return 1
    it = iter(k)
    return 2 if all(c in it for c in w) else None


def rank(cands, word: str, exact_drop: bool = False, limit: int = MAX_SHOWN) -> list[Cand]:
    """Prefix matches, then substring, then subsequence; at most limit."""
    tiers: list[list[Cand]] = [[], [], []]
    seen = set()
    for c in cands:
        if len(tiers[0]) >= limit:
            break
        if c.text in seen:
            continue
        t = match_tier(word, c.key)
        if t is None or (exact_drop and c.key == word):
            continue
        seen.add(c.text)
        tiers[t].append(c)
    return tiers[0] + tiers[1] + tiers[2]


def scan(before: str):
    """Where the cursor sits: ('code',), ('comment',) or ('string', start, quote, raw)."""
    i, n = 0, len(before)
    name_tail = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_@#$]*)+$")
    while i < n:
        c = before[i]
        if c == "#":
            if name_tail.search(before, 0, i) and i and before[i - 1] not in " \t\n":
                i += 1
                continue
            j = before.find("\n", i)
            if j < 0:
                return ("comment",)
            i = j
            continue
        if c == "`":
            j = before.find("`", i + 1)
            if j < 0:
                return ("code",)
            i = j + 1
            continue
        if c in "\"'":
            raw = i > 0 and before[i - 1] in "r@" and not (
                i > 1 and (before[i - 2].isalnum() or before[i - 2] in "_."))
            j = i + 1
            while j < n:
                ch = before[j]
                if ch == "\\" and not raw:
                    j += 2
                    continue
                if ch == c or ch == "\n":
                    break
                j += 1
            if j >= n:
                return ("string", i, c, raw)
            i = j + 1 if before[j] == c else j
            continue
        i += 1
    return ("code",)


def statement(toks) -> list:
    """The tokens of the statement the cursor is in."""
    for i in range(len(toks) - 1, -1, -1):
        if toks[i].type == "_SEP":
            return toks[i + 1:]
    return list(toks)


def value_field(stmt) -> str | None:
    """The field a string at the end of stmt is compared with, if any."""
    if not stmt:
        return None
    t = [x.type for x in stmt]
    name = lambda tok: tok.value[1:-1] if tok.type == "QUOTED_NAME" else tok.value  # noqa: E731
    if len(t) >= 2 and t[-1] in VALUE_OPS and t[-2] in ("NAME", "QUOTED_NAME"):
        return name(stmt[-2])
    # field in ("a", "b", |
    i = len(t) - 1
    while i >= 1 and t[i] == "COMMA" and t[i - 1] in ("STRING", "RAW_STRING"):
        i -= 2
    if i >= 2 and t[i] == "LPAR" and t[i - 1] == "IN" and t[i - 2] in ("NAME", "QUOTED_NAME"):
        return name(stmt[i - 2])
    # tree(host="…
    if len(t) >= 2 and t[-1] == "EQUAL" and t[-2] == "NAME" and "LPAR" in t:
        return {"host": "host"}.get(stmt[-2].value)
    return None


_SHORT = {"\n": "\\n", "\t": "\\t"}


def _code_escape(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    return f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"


def writable_raw(v: str, quote: str) -> bool:
    """v can be written exactly inside a raw string (no quote, nothing that needs an escape)."""
    return quote not in v and term(v) == v


def escape(v: str, quote: str, raw: bool) -> str:
    """v as the body of a string literal that reads back as v exactly; a character that
    would be hidden or reorder text on the terminal is written as \\uNNNN (\\n, \\t).
    Raw strings have no escapes: callers offer only values for which writable_raw()."""
    if raw:
        return v
    v = v.replace("\\", "\\\\").replace(quote, "\\" + quote)
    if term(v) != v:
        v = "".join(_code_escape(ch) if term(ch) != ch else ch for ch in v)
    return v
