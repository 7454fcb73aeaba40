"""The ``sigma("PATH" [, level="high"])`` stage: its checks (before any row is read) and its
run (the hunt of edrql/sigma/hunt.py over the stage's input rows).

This module is light: the checker (edrql/plan.py) and the executor's pipe table
(edrql/execute.py) import it at start-up; pySigma, the engine and the field map load
only when the stage runs.

    events | where host == "pc-sales-07.contoso.local" | sigma("rules/") | tree()
"""
from __future__ import annotations

import os

from ..errors import QueryError
from ..fnspec import TEXT

#: Sigma's levels, lowest first; ``level=`` (and ``edrql hunt --level``) is a minimum
LEVELS = ("informational", "low", "medium", "high", "critical")
#: the stage's named arguments
KWARGS = ("level",)


def level_problem(level: str | None) -> str | None:
    """Why ``level`` is not a Sigma level (None: it is, or it is not given)."""
    if level is None or level.lower() in LEVELS:
        return None
    return f"unknown level {level!r}"


def path_problem(path: str) -> str | None:
    """Why ``path`` cannot hold rules (None: a file or a folder that exists)."""
    if not path:
        return "an empty rules path"
    if not os.path.exists(path):
        return f"no such rules file or folder: {path}"
    return None


def _text_arg(call, expr, what: str) -> str:
    from .. import ast as A
    if isinstance(expr, A.Lit) and isinstance(expr.value, str):
        return expr.value
    raise QueryError(f"sigma(): {what} is a quoted text", getattr(expr, "pos", call.pos),
                     'e.g. sigma("rules/windows", level="high")')


def arguments(call) -> tuple[str, str | None]:
    """(rules path, minimum level or None) of a ``sigma(…)`` call; every mistake is a
    QueryError at its place with a hint (the checker calls this before any row is read)."""
    if len(call.args) != 1:
        raise QueryError("sigma() takes one rules path (a .yml file or a folder of them)",
                         call.pos, 'e.g. sigma("rules/"), sigma("rules/", level="high")')
    path = _text_arg(call, call.args[0], "the rules path")
    for name, expr in call.kwargs.items():
        if name not in KWARGS:
            raise QueryError(f"sigma() has no argument {name}=", getattr(expr, "pos", call.pos),
                             'its named argument: level= (e.g. level="high")')
    level = None
    if "level" in call.kwargs:
        level = _text_arg(call, call.kwargs["level"], "level=")
        bad = level_problem(level)
        if bad:
            raise QueryError(f"sigma(): {bad}", call.kwargs["level"].pos,
                             "levels, lowest first: " + ", ".join(LEVELS) +
                             " (level= keeps that level and above)")
        level = level.lower()
    bad = path_problem(path)
    if bad:
        raise QueryError(f"sigma(): {bad}", call.args[0].pos,
                         f"a path relative to {os.getcwd()}, or an absolute one: a Sigma .yml "
                         "file or a folder of them (read recursively)")
    return path, level


def check(call) -> None:
    """The checker's rules for ``sigma(…)`` (edrql/plan.py)."""
    arguments(call)


def output_columns(cols, call) -> list[str]:
    from .hunt import HIT_COLUMNS
    return list(HIT_COLUMNS)


def run(ctx, cur, call):
    """The stage: one row per (input row, rule) hit; the receipt's short form is the
    result's notes, its JSON form ``extra["sigma"]``. As a source (``sigma("rules/")``)
    it reads every event of the case."""
    from .hunt import stage_result
    path, level = arguments(call)
    return stage_result(ctx, cur, path, level)


run.output_columns = output_columns
run.arg_kinds = ((frozenset({TEXT}),), {"level": frozenset({TEXT})})
