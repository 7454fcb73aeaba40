"""The analyst REPL (``edrql CASE`` on a terminal): completion from the grammar and
the data, highlighting, history, Ctrl-C cancel, paging and dot commands.

Modules: ``session`` (loop, checking, running), ``completer``, ``lexer``
(highlighting), ``keys`` (Enter/Alt-Enter), ``dotcmds`` (the dot-command registry),
``output`` (rendering, capping, paging, files), ``expanded`` (one block per record for
wide results), ``casewatch`` (the case changed on disk), ``visible`` (hidden characters
drawn visibly in the input line).
"""
from __future__ import annotations


def run_repl(case, **kw) -> int:
    from .session import run_repl as _run
    return _run(case, **kw)


__all__ = ["run_repl"]
