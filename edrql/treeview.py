"""Process trees for people: indented text (├─ └─, ASCII fallback), Mermaid and
Graphviz DOT — one process per line, with the link's trust shown inline."""
from __future__ import annotations

import pyarrow as pa

from .render import py_rows


def flags(r: dict) -> list[str]:
    out = []
    link = r.get("link")
    if link == "ambiguous":
        out.append(f"[ambiguous parent: {r.get('candidates')} candidates for pid {r.get('ppid')}]")
    elif link == "missing" and r.get("ppid") is not None:
        note = r.get("parent_note") or ""
        why = "before the data window" if "before the data window" in note else note
        out.append(f"[parent missing: pid {r.get('ppid')}{' — ' + why if why else ''}]")
    elif link == "conflict":
        out.append(f"[conflict: source says parent is {_base(r.get('pname'))}, data says "
                   f"{r.get('_parent_name') or '?'}]")
    elif link == "inferred":
        out.append("[parent inferred by time]")
    if r.get("seen") == "referenced":
        out.append("[referenced only]")
    return out


def _base(p):
    if not p:
        return "?"
    return p.replace("/", "\\").rsplit("\\", 1)[-1]


def text(t: pa.Table, width: int | None = None, ascii_only: bool = False) -> str:
    rows = py_rows(t)
    names = {r["proc"]: r["name"] for r in rows}
    tee, last, bar, blank = ("|-", "`-", "| ", "  ") if ascii_only else ("├─", "└─", "│ ", "  ")
    lines = []
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
        head = f"{prefix}{mark}{r['name'] or '?'} ({r['pid']})  {start}  {r.get('user') or ''}"
        tail = " ".join(flags(r))
        cmd = (r.get("cmdline") or "").replace("\r", " ").replace("\n", "⏎")
        line = f"{head}  {cmd}" if cmd else head
        if tail:
            line = f"{line}  {tail}" if not width else line
        if width and len(line) > width - (len(tail) + 2 if tail else 0):
            keep = max(width - (len(tail) + 2 if tail else 0) - 1, len(head))
            line = line[:keep] + "…"
        if width and tail:
            line = f"{line}  {tail}"
        lines.append(line)
    return "\n".join(lines)


def _has_next_at(rows, i, level) -> bool:
    """Is there a later row at depth == level before the depth drops below level?"""
    for r in rows[i + 1:]:
        if r["depth"] < level:
            return False
        if r["depth"] == level:
            return True
    return False


def _label(r) -> str:
    s = f"{r['name'] or '?'} ({r['pid']})"
    if r.get("start"):
        s += f"\\n{r['start'][:19]}"
    f = flags(r)
    if f:
        s += "\\n" + " ".join(f)
    return s.replace('"', "'")


def mermaid(t: pa.Table) -> str:
    rows = py_rows(t)
    ids = {r["proc"]: f"p{i}" for i, r in enumerate(rows)}
    out = ["flowchart TD"]
    for r in rows:
        out.append(f'  {ids[r["proc"]]}["{_label(r).replace(chr(92) + "n", "<br/>")}"]')
    for r in rows:
        p = r.get("parent")
        if p in ids:
            arrow = "-->" if r["link"] == "exact" else "-.->"
            out.append(f"  {ids[p]} {arrow}|{r['link']}| {ids[r['proc']]}")
    return "\n".join(out) + "\n"


def dot(t: pa.Table) -> str:
    rows = py_rows(t)
    ids = {r["proc"]: f"p{i}" for i, r in enumerate(rows)}
    out = ["digraph tree {", '  node [shape=box, fontname="monospace"];']
    for r in rows:
        style = ', style="dashed"' if r.get("seen") == "referenced" else ""
        out.append(f'  {ids[r["proc"]]} [label="{_label(r)}"{style}];')
    for r in rows:
        p = r.get("parent")
        if p in ids:
            style = "" if r["link"] == "exact" else ' [style="dashed", label="' + r["link"] + '"]'
            out.append(f"  {ids[p]} -> {ids[r['proc']]}{style};")
    out.append("}")
    return "\n".join(out) + "\n"
