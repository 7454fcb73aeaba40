"""The two kinds of user mistake, and how they are shown.

``ParseError``: the text is not edrql (raised by ``parse``; built from Lark's errors in
``parseerrors``). ``QueryError``: the text parses but is wrong for the data — an unknown
field, a value of the wrong kind — found by the checker (``plan``) or while running.
Both carry a position and a hint; neither is ever shown as a traceback.
"""
from __future__ import annotations

from .records import record as dataclass

from . import ast as A


class QueryError(Exception):
    """A user mistake found while checking or running a query (has a position)."""

    def __init__(self, message: str, pos: A.Pos = A.NOPOS, hint: str = ""):
        super().__init__(message)
        self.message, self.pos, self.hint = message, pos, hint


@dataclass
class ParseError(Exception):
    message: str
    line: int
    column: int
    hint: str = ""
    text: str = ""

    def __str__(self) -> str:
        return format_error(self.message, self.text, self.line, self.column, self.hint)


def format_error(message: str, text: str, line: int, column: int, hint: str = "",
                 width: int = 1) -> str:
    """``line L, column C: message`` + the line + a caret (+ hint)."""
    out = [f"line {line}, column {column}: {message}"]
    lines = text.splitlines() or [""]
    if 1 <= line <= len(lines):
        src = lines[line - 1].expandtabs(1)
        out.append("  " + src)
        out.append("  " + " " * max(column - 1, 0) + "^" * max(width, 1))
    if hint:
        out.append(f"hint: {hint}")
    return "\n".join(out)
