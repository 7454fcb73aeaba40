"""Process trees for people: indented text (├─ └─, ASCII fallback), Mermaid and
Graphviz DOT — one process per line, with the link's trust shown inline.

Names, users and command lines come from the logs: in every form they are escaped
by :mod:`safetext` (``⟨ESC⟩``, ``⟨RLO⟩``…), a process holding such a character gets
the inline flag ``[hidden characters]``, and the text tree ends with a line counting
them. Mermaid and DOT labels are also quoted for their language (no syntax can be
injected through a label).
"""
from __future__ import annotations

import pyarrow as pa

from .render import py_rows
from .safetext import clip, hidden_note, is_flagged, term

TEXT_FIELDS = ("name", "user", "cmdline", "pname", "path")     # log text shown or flagged


def flags(r: dict) -> list[str]:
    out = []
    link = r.get("link")
    if link == "ambiguous":
        out.append(f"[ambiguous parent: {r.get('candidates')} candidates for pid {r.get('ppid')}]")
    elif link == "missing" and r.get("ppid") is not None:
        note = r.get("parent_note") or ""
        why = "before the data window" if "before the data window" in note else term(note)
        out.append(f"[parent missing: pid {r.get('ppid')}{' — ' + why if why else ''}]")
    elif link == "conflict":
        out.append(f"[conflict: source says parent is {term(_base(r.get('pname')))}, data says "
                   f"{term(r.get('_parent_name')) or '?'}]")
    elif link == "inferred":
        out.append("[parent inferred by time]")
    if r.get("seen") == "referenced":
        out.append("[referenced only]")
    if hidden(r):
        out.append("[hidden characters]")
    return out


def hidden(r: dict) -> bool:
    """The process's log text holds a character that could hide or reorder text."""
    return any(is_flagged(r.get(k)) for k in TEXT_FIELDS)


def _base(p):
    if not p:
        return "?"
    return p.replace("/", "\\").rsplit("\\", 1)[-1]


def text(t: pa.Table, width: int | None = None, ascii_only: bool = False) -> str:
    rows = py_rows(t)
    names = {r["proc"]: r["name"] for r in rows}
    tee, last, bar, blank = ("|-", "`-", "| ", "  ") if ascii_only else ("├─", "└─", "│ ", "  ")
    lines, flagged = [], []
    # is this node the last child at its depth? look ahead for a sibling
    for i, r in enumerate(rows):
        d = r["depth"]
        prefix = ""
        for level in range(1, d + 1):
            more = _has_next_at(rows, i, level)
            if level == d:
                prefix += (tee if more else last) + " "
            else:
                prefix += (bar if more else blank) + " "
        r["_parent_name"] = names.get(r.get("parent"))
        start = (r.get("start") or "")[:23].replace("T", " ") or "start ?"
        mark = "*" if r.get("focus") else ""
        head = f"{prefix}{mark}{term(r['name']) or '?'} ({r['pid']})  {start}  {term(r.get('user'))}"
        tail = " ".join(flags(r))
        cmd = term(r.get("cmdline"))
        line = f"{head}  {cmd}" if cmd else head
        if tail:
            line = f"{line}  {tail}" if not width else line
        if width and len(line) > width - (len(tail) + 2 if tail else 0):
            keep = max(width - (len(tail) + 2 if tail else 0) - 1, len(head))
            line = clip(line, keep + 1)
        if width and tail:
            line = f"{line}  {tail}"
        lines.append(line)
        if hidden(r):
            flagged.append(line)
    if flagged:
        lines.append(hidden_note(len(flagged), flagged, "process(es)"))
    return "\n".join(lines)


def _has_next_at(rows, i, level) -> bool:
    """Is there a later row at depth == level before the depth drops below level?"""
    for r in rows[i + 1:]:
        if r["depth"] < level:
            return False
        if r["depth"] == level:
            return True
    return False


def _label_lines(r) -> list[str]:
    """The node's label, line by line, escaped for a terminal-free reader (no control text)."""
    out = [f"{term(r['name']) or '?'} ({r['pid']})"]
    if r.get("start"):
        out.append(r["start"][:19])
    f = flags(r)
    if f:
        out.append(" ".join(f))
    return out


def _mermaid_text(s: str) -> str:
    """Text inside a Mermaid "quoted" label: characters that Mermaid or its HTML
    labels read as syntax become entity codes (``#quot;``, ``#35;``…)."""
    return "".join(f"#{ord(ch)};" if ch in _MERMAID_SPECIAL else ch for ch in s)


# quote, entity and HTML starts, Markdown marks, comment start, backslash: all as #code;
_MERMAID_SPECIAL = set('"#&<>`*_~%;\\')


def _dot_text(s: str) -> str:
    """Text inside a DOT "quoted" label: backslashes and quotes escaped (so ``\\N``, ``\\l``
    in a Windows path stay text and a quote cannot end the string)."""
    return s.replace("\\", "\\\\").replace('"', '\\"')


def mermaid(t: pa.Table) -> str:
    rows = py_rows(t)
    ids = {r["proc"]: f"p{i}" for i, r in enumerate(rows)}
    names = {r["proc"]: r["name"] for r in rows}
    out = ["flowchart TD"]
    for r in rows:
        r["_parent_name"] = names.get(r.get("parent"))
        label = "<br/>".join(_mermaid_text(x) for x in _label_lines(r))
        out.append(f'  {ids[r["proc"]]}["{label}"]')
    for r in rows:
        p = r.get("parent")
        if p in ids:
            arrow = "-->" if r["link"] == "exact" else "-.->"
            out.append(f'  {ids[p]} {arrow}|"{_mermaid_text(term(r["link"]))}"| {ids[r["proc"]]}')
    return "\n".join(out) + "\n"


def dot(t: pa.Table) -> str:
    rows = py_rows(t)
    ids = {r["proc"]: f"p{i}" for i, r in enumerate(rows)}
    names = {r["proc"]: r["name"] for r in rows}
    out = ["digraph tree {", '  node [shape=box, fontname="monospace"];']
    for r in rows:
        r["_parent_name"] = names.get(r.get("parent"))
        style = ', style="dashed"' if r.get("seen") == "referenced" else ""
        label = "\\n".join(_dot_text(x) for x in _label_lines(r))
        out.append(f'  {ids[r["proc"]]} [label="{label}"{style}];')
    for r in rows:
        p = r.get("parent")
        if p in ids:
            style = "" if r["link"] == "exact" else f' [style="dashed", label="{_dot_text(term(r["link"]))}"]'
            out.append(f"  {ids[p]} -> {ids[r['proc']]}{style};")
    out.append("}")
    return "\n".join(out) + "\n"
