"""Text that reaches a terminal: hidden characters made visible, unambiguously.

Log text is attacker-controlled. A command line holding ``ESC[1K`` can blank the
row it is printed on; ``invoice_<U+202E>fdp.exe`` reads as ``invoice_exe.pdf``.
Everything edrql writes to a terminal (tables, trees, the REPL, error and
ingest messages, progress) goes through :func:`term`; machine formats
(csv, tsv, json, ndjson) keep the exact value.

The visible form is a name in angle brackets: ``⟨ESC⟩``, ``⟨CR⟩``, ``⟨RLO⟩``,
``⟨U+0085⟩``; an undecodable source byte (stored as the private-use code point
U+10FF00 + byte, see :data:`BYTE_BASE`) shows as ``⟨x81⟩``. The brackets
themselves, if they occur in the data, are escaped too (``⟨U+27E8⟩``), so
every ``⟨…⟩`` on screen is an escape and nothing else. A value is *flagged*
when it held a character that can hide or reorder text (every escaped one
except TAB, LF and the CR of a CRLF line end, which are merely shown).
"""
from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

BYTE_BASE = 0x10FF00          # undecodable byte b is stored as chr(BYTE_BASE + b)

_C0 = ("NUL SOH STX ETX EOT ENQ ACK BEL BS TAB LF VT FF CR SO SI DLE DC1 DC2 DC3 DC4 NAK SYN "
       "ETB CAN EM SUB ESC FS GS RS US").split()
NAMES: dict[int, str] = {i: n for i, n in enumerate(_C0)}
NAMES.update({0x7F: "DEL", 0x061C: "ALM", 0x200B: "ZWSP", 0x200C: "ZWNJ", 0x200D: "ZWJ",
              0x200E: "LRM", 0x200F: "RLM", 0x2028: "LSEP", 0x2029: "PSEP",
              0x202A: "LRE", 0x202B: "RLE", 0x202C: "PDF", 0x202D: "LRO", 0x202E: "RLO",
              0x2060: "WJ", 0x2066: "LRI", 0x2067: "RLI", 0x2068: "FSI", 0x2069: "PDI",
              0xFEFF: "BOM"})
SHOWN_ONLY = {0x09, 0x0A}     # escaped for layout, not flagged

# every character that is escaped (the same set in Python's re and in RE2 via pyarrow)
_CLASS = (r"\x00-\x1f\x7f-\x9f\x{061c}\x{200b}-\x{200f}\x{2028}-\x{202e}\x{2060}-\x{2064}"
          r"\x{2066}-\x{2069}\x{27e8}\x{27e9}\x{feff}\x{fff9}-\x{fffb}\x{10ff00}-\x{10ffff}")
RE2_ANY = f"[{_CLASS}]"
_RE2_OTHER = "[" + _CLASS.replace(r"\x00-\x1f", r"\x00-\x08\x0b\x0c\x0e-\x1f") + "]"   # not TAB LF CR
# flagged: all of those but TAB and LF, and CR only when no LF follows it (CRLF hides nothing)
RE2_FLAG = "[" + _CLASS.replace(r"\x00-\x1f", r"\x00-\x08\x0b\x0c\x0e-\x1f") + r"]|\r([^\n]|\z)"


def _py(re2: str) -> re.Pattern:
    """The same pattern for Python's re (\\x{…} → \\U…, RE2's \\z → \\Z)."""
    py = re.sub(r"\\x\{([0-9a-f]+)\}", lambda m: "\\U" + m.group(1).rjust(8, "0"), re2)
    return re.compile(py.replace(r"\z", r"\Z"))


_PY_ANY = _py(RE2_ANY)
_PY_FLAG = _py(RE2_FLAG)


def _visible(m: re.Match) -> str:
    cp = ord(m.group(0))
    if cp >= BYTE_BASE:
        return f"⟨x{cp - BYTE_BASE:02x}⟩"
    name = NAMES.get(cp)
    return f"⟨{name}⟩" if name else f"⟨U+{cp:04X}⟩"


def term(s) -> str:
    """One value as it may be written to a terminal (None → '')."""
    if s is None:
        return ""
    s = str(s)
    return _PY_ANY.sub(_visible, s) if _PY_ANY.search(s) else s


def is_flagged(s) -> bool:
    """The value holds a character that could hide or reorder text on a terminal."""
    return s is not None and _PY_FLAG.search(str(s)) is not None


def undecodable(b: int) -> str:
    """How an undecodable source byte is stored in text columns."""
    return chr(BYTE_BASE + b)


def escape_column(c: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """A string column made terminal-safe, and a boolean mask of flagged rows.

    Vectorized: the regex tests run in Arrow, and so does the escaping of rows whose
    only escaped characters are TAB, LF and CR (most Windows event text: CRLF); only
    the rare rows holding any other one go through Python.
    """
    if isinstance(c, pa.ChunkedArray):
        c = c.combine_chunks()
    if pa.types.is_dictionary(c.type):
        c = c.cast(c.type.value_type)
    if not pa.types.is_string(c.type):
        c = c.cast(pa.string())
    hit = pc.fill_null(pc.match_substring_regex(c, RE2_ANY), False)
    if not pc.any(hit).as_py():
        return c, hit
    flag = pc.fill_null(pc.match_substring_regex(c, RE2_FLAG), False)
    other = pc.fill_null(pc.match_substring_regex(c, _RE2_OTHER), False)
    out = c
    if pc.any(pc.and_not(hit, other)).as_py():
        layout = c
        for ch, name in (("\r", "⟨CR⟩"), ("\n", "⟨LF⟩"), ("\t", "⟨TAB⟩")):
            layout = pc.replace_substring(layout, ch, name)
        out = pc.if_else(other, c, layout)
    if pc.any(other).as_py():
        fixed = pa.array([term(v) for v in pc.filter(c, other).to_pylist()], pa.string())
        out = pc.replace_with_mask(out, other, fixed)
    return out, flag


def term_lines(s) -> str:
    """A message of several lines for a terminal: each line escaped, the line breaks kept."""
    return "\n".join(term(line) for line in str(s if s is not None else "").split("\n"))


_TOKEN_START = "⟨"


def clip(s: str, limit: int) -> str:
    """Already-escaped text cut to at most ``limit`` characters, ending in ``…`` when cut.

    A cut never splits a ``⟨…⟩`` escape (it would read as something else): the
    whole escape is dropped instead.
    """
    if len(s) <= limit:
        return s
    keep = s[: max(limit - 1, 1)]
    start = keep.rfind(_TOKEN_START)
    if start >= 0 and "⟩" not in keep[start:]:
        keep = keep[:start]
    return keep + "…"


_TOKEN = re.compile("⟨[^⟨⟩]{1,8}⟩")


def shown_as(texts, most: int = 6) -> str:
    """The distinct escapes in already-escaped texts, for a footer: ``⟨ESC⟩ ⟨RLO⟩ …``."""
    seen: dict[str, None] = {}
    for t in texts:
        for tok in _TOKEN.findall(t or ""):
            seen.setdefault(tok, None)
    names = list(seen)
    return " ".join(names[:most]) + (" …" if len(names) > most else "")


def hidden_note(rows: int, texts=(), what: str = "row(s)") -> str:
    """The footer line under output with flagged values ('' when there are none)."""
    if not rows:
        return ""
    kinds = shown_as(texts) or "⟨name⟩"
    return (f"! {rows:,} {what} hold hidden or control characters, shown escaped as {kinds}; "
            "csv/json output keeps the exact value")
