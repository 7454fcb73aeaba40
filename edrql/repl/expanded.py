"""Expanded (vertical) display, as psql/pgcli's ``\\x``: one block per record,
``field | value`` lines, long values wrapped under their column, null and empty
fields left out with a count per record. Chosen automatically (``.expanded
auto``) when a result has too many columns for the terminal; see docs/repl.md.

Every field name and value is made terminal-safe here (``safetext``): values with
``escape_column`` (vectorized over the shown rows), names with ``term``.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prompt_toolkit.utils import get_cwidth

from ..safetext import escape_column, term
from ..timefmt import iso

#: in auto mode a table is used while every column can get this many characters
#: (or its whole width, when narrower); otherwise the expanded display
MIN_COLUMN = 16
MODES = ("auto", "on", "off")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def text_column(c: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A column as display text (timestamps ISO UTC, lists/structs as JSON), not yet escaped."""
    if isinstance(c, pa.ChunkedArray):
        c = c.combine_chunks()
    t = c.type
    if pa.types.is_dictionary(t):
        return text_column(c.cast(t.value_type))
    if pa.types.is_timestamp(t):
        return iso(c if t.tz is not None else c.cast(pa.timestamp(t.unit, "UTC")))
    if pa.types.is_duration(t):
        secs = pc.divide(pc.cast(pc.cast(c, pa.int64()), pa.float64()), 1e9)
        return pc.binary_join_element_wise(pc.cast(secs, pa.string()), "s", "")
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_struct(t) or pa.types.is_map(t):
        return pa.array([None if v is None else json.dumps(v, default=str, ensure_ascii=False)
                         for v in c.to_pylist()], pa.string())
    if pa.types.is_string(t):
        return c
    if pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return c.cast(pa.string()) if not pa.types.is_binary(t) else \
            pa.array([None if v is None else v.decode("utf-8", "replace") for v in c.to_pylist()])
    return pc.cast(c, pa.string())


def _natural(t: pa.Table, name: str) -> int:
    """A column's widest cell or header, in characters (vectorized)."""
    if len(name) >= MIN_COLUMN:
        return len(name)
    txt = text_column(t.column(name))
    longest = pc.max(pc.utf8_length(txt)).as_py() if len(txt) else 0
    return max(len(name), longest or 0)


def too_wide(t: pa.Table, width: int) -> bool:
    """True when the table cannot give every column MIN_COLUMN characters (or its whole
    width when narrower) within the terminal's width."""
    n = t.num_columns
    if n <= 1 or not width:
        return False
    if 3 * n - 2 > width:                 # not even one character per column
        return True
    need = 2 * (n - 1)
    for name in t.column_names:
        need += min(_natural(t, name), MIN_COLUMN)
        if need > width:
            return True
    return False


def use_expanded(mode: str, t: pa.Table, width: int | None) -> bool:
    if mode == "on":
        return t.num_columns > 0
    if mode == "off" or not width:
        return False
    return too_wide(t, width)


def _narrow(s: str) -> bool:
    """Every character is one cell wide (ASCII, and safetext's ⟨ ⟩ brackets): cut by length."""
    return s.isascii() or s.replace("⟨", "").replace("⟩", "").isascii()


def _cut(s: str, room: int, first: int) -> list[str]:
    """s in pieces at most room display cells wide (the first piece: first; wide characters
    count 2), cut after a space when one is in the second half of the piece."""
    out = []
    narrow = _narrow(s)
    while s:
        lim = first if not out else room
        if narrow:
            end = min(lim, len(s))
        else:
            end, w = 0, 0
            while end < len(s) and w + max(get_cwidth(s[end]), 0) <= lim:
                w += max(get_cwidth(s[end]), 0)
                end += 1
            end = max(end, 1)
        if end < len(s):
            sp = s.rfind(" ", 0, end)
            if sp >= lim // 2:
                end = sp + 1
        out.append(s[:end])
        s = s[end:]
    return out or [""]


def _wrap(s: str, room: int, first: int) -> list[str]:
    """A (terminal-safe) value as display lines: a new line after each ⟨LF⟩, long lines cut
    (the first line to first cells, the others to room)."""
    parts = s.split("⟨LF⟩")
    out: list[str] = []
    for i, part in enumerate(parts):
        piece = part + ("⟨LF⟩" if i < len(parts) - 1 else "")
        if piece or not out:
            out.extend(_cut(piece, room, first if not out else room))
    return out


def _flags(txt: pa.Array, flag: pa.Array) -> np.ndarray:
    """Rows whose value holds a character that can hide text. A CR right before a LF (Windows
    line ends, in every event Message) is shown as ⟨CR⟩⟨LF⟩ but does not flag the row."""
    if not pc.any(flag).as_py():
        return np.zeros(len(flag), bool)
    crlf = pc.fill_null(pc.match_substring(txt, "\r\n"), False)
    if pc.any(pc.and_(flag, crlf)).as_py():
        flag = escape_column(pc.replace_substring(txt, "\r\n", "\n"))[1]
    return flag.to_numpy(zero_copy_only=False)


def expanded_text(t: pa.Table, width: int | None, first: int = 1) -> tuple[str, int]:
    """The records of t as blocks; returns (text, number of records holding hidden characters).

    ``width`` wraps long values under the value column (None: no wrapping)."""
    names = t.column_names
    if not names or t.num_rows == 0:
        return "", 0
    values, keep, flags = [], [], []
    for n in names:
        txt = text_column(t.column(n))
        safe, flag = escape_column(txt)
        nonempty = pc.fill_null(pc.not_equal(safe, ""), False)
        keep.append(nonempty.to_numpy(zero_copy_only=False))
        flags.append(_flags(txt, flag))
        values.append(safe)
    keep_m = np.vstack(keep)                        # columns × rows
    flag_m = np.vstack(flags)
    flagged = flag_m.any(axis=0)
    shown_cols = [int(i) for i in np.nonzero(keep_m.any(axis=1))[0]]
    labels = [term(n) for n in names]
    longest = max((get_cwidth(labels[i]) for i in shown_cols), default=1)
    namew = min(longest, max(16, (width or 10**6) // 5))
    room = max((width or 0) - namew - 3, 20) if width else None
    cols, prefix, first_room = {}, {}, {}
    for i in shown_cols:
        cols[i] = values[i].to_pylist()
        lw = get_cwidth(labels[i])
        prefix[i] = labels[i] + " " * max(namew - lw, 0) + " | "
        first_room[i] = max(room - max(lw - namew, 0), 10) if room else None
    cont = " " * namew + " | "
    out = []
    for r in range(t.num_rows):
        idx = np.nonzero(keep_m[:, r])[0].tolist()
        left = len(names) - len(idx)
        head = f"-[ RECORD {first + r} ]-"
        if left:
            head += f" {left} empty field(s) left out "
        if flagged[r]:
            which = ", ".join(labels[i] for i in idx if flag_m[i, r])
            head += f"- hidden characters shown as ⟨…⟩ in: {which} "
        if width and len(head) < width:
            head += "-" * (width - get_cwidth(head))
        out.append(head)
        for i in idx:
            v = cols[i][r]
            fr = first_room[i]
            if fr is None or (len(v) <= fr and "⟨LF⟩" not in v and _narrow(v)):
                out.append(prefix[i] + v)
                continue
            pieces = _wrap(v, room, fr)
            out.append(prefix[i] + pieces[0])
            out.extend(cont + p for p in pieces[1:])
    return "\n".join(out) + "\n", int(flagged.sum())


def screen_lines(text: str, columns: int) -> int:
    """How many terminal lines text takes when printed at this width (long lines wrap)."""
    if not text:
        return 0
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if columns <= 0:
        return len(lines)
    n = 0
    for line in lines:
        if "\x1b" in line:
            line = _ANSI.sub("", line)
        w = len(line) if _narrow(line) else get_cwidth(line)
        n += max(1, -(-w // columns))
    return n
