"""KQL's column operators: ``project-away``, ``project-keep``, ``project-rename``,
``project-reorder``, and the names ``extend`` gives to unnamed expressions.

Each works on column names only, so the checker (plan.py) and the executor share one
function that maps the input's names to the output's names (``output_names``); the
executor then selects/renames the Arrow columns (no row is touched).

Patterns: a name is matched as names are everywhere (exactly, then case-insensitively
when that is unambiguous; an unknown name is an error with the nearest names); a
pattern with ``*`` matches any run of characters, case-sensitively as KQL does, and may
match no column.
"""
from __future__ import annotations

import re

import pyarrow as pa

from . import ast as A
from .errors import QueryError
from .names import column_name, did_you_mean, resolve_column

STAGE_NODES = (A.ProjectAway, A.ProjectRename, A.ProjectReorder)


def _verb(st) -> str:
    if isinstance(st, A.ProjectAway):
        return "project-keep" if st.keep else "project-away"
    return "project-rename" if isinstance(st, A.ProjectRename) else "project-reorder"


def _matches(pattern: str, columns: list[str], st) -> list[str]:
    if "*" not in pattern:
        col = resolve_column(pattern, columns)
        if col is None:
            raise QueryError(f"{_verb(st)}: unknown column {pattern!r}", st.pos,
                             did_you_mean(pattern, columns) or "columns: " + ", ".join(columns[:12]))
        return [col]
    rx = re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$", re.S)
    return [c for c in columns if rx.match(c)]


def output_names(st, columns: list[str]) -> list[tuple[str, str]]:
    """(output name, input column) for each output column, in output order."""
    if isinstance(st, A.ProjectAway):
        hit: set[str] = set()
        for p in st.patterns:
            hit.update(_matches(p, columns, st))
        return [(c, c) for c in columns if (c in hit) == st.keep]
    if isinstance(st, A.ProjectRename):
        new_of: dict[str, str] = {}
        for new, old in st.pairs:
            col = _matches(old, columns, st)[0]
            new_of[col] = new
        out = [(new_of.get(c, c), c) for c in columns]
        seen: set[str] = set()
        for name, _ in out:
            if name in seen:
                raise QueryError(f"project-rename: column {name!r} appears twice", st.pos,
                                 f"rename it to another name, or project-away {name} first")
            seen.add(name)
        return out
    first: list[str] = []
    for p in st.patterns:
        first.extend(c for c in _matches(p, columns, st) if c not in first)
    return [(c, c) for c in first + [c for c in columns if c not in first]]


def run(st, t: pa.Table) -> pa.Table:
    pairs = output_names(st, t.column_names)
    return pa.table({new: t.column(old) for new, old in pairs})


def plan_columns(st, cols: dict | None) -> dict | None:
    """The checker's view: name → kind of the output columns."""
    if cols is None:
        return None
    return {new: cols[old] for new, old in output_names(st, list(cols))}


def extend_name(item: A.Item, i: int, columns) -> str:
    """The column an ``extend`` item writes: its name; for an unnamed expression KQL's
    name: a field keeps its name, anything else is Column1, Column2, … (the first free)."""
    if item.name is not None:
        return item.name
    if isinstance(item.expr, A.Field):
        return column_name(item.expr, i)
    n = 1
    while f"Column{n}" in columns:
        n += 1
    return f"Column{n}"
