"""How the checker words a value of the wrong kind: how an expression is named in a
message (``what``), what a place needs (``need``: "numbers or durations"), the conversion
that fixes it (``fix``: "convert it: toint(raw.bytes)"), and the whole error
(``kind_error``: "sum() needs numbers or durations; name is text").
"""
from __future__ import annotations

from . import ast as A
from .errors import QueryError
from .fnspec import BOOL, DATE, DURATION, INT, LIST, NOUNS, NUMBER, SCALAR, TEXT, TIME


def what(e) -> str:
    """How an expression is named in a message: its field name, call or literal."""
    if isinstance(e, A.Field):
        return e.name
    if isinstance(e, A.Call):
        return f"{e.name}(…)"
    if isinstance(e, A.Param):
        return f"${e.name}"
    if isinstance(e, A.Unary) and e.op == "-" and isinstance(e.operand, A.Lit):
        return "-" + what(e.operand)
    if isinstance(e, A.Lit) and e.kind == "str":
        return '"' + (e.value if len(e.value) <= 30 else e.value[:29] + "…") + '"'
    if isinstance(e, A.Lit) and e.kind == "duration":
        return duration_text(e.value)
    if isinstance(e, A.Lit) and e.kind == "time":
        return e.value
    if isinstance(e, A.Lit) and e.kind in ("int", "float", "bool", "null"):
        return str(e.value).lower() if e.kind in ("bool", "null") else str(e.value)
    return "the expression"


def duration_text(ns: int) -> str:
    for unit, size in (("d", 86400 * 10**9), ("h", 3600 * 10**9), ("m", 60 * 10**9),
                       ("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if ns and ns % size == 0:
            return f"{ns // size}{unit}"
    return f"{ns}ns"


def need(accepted) -> str:
    acc = set(accepted)
    if SCALAR <= acc:
        return "a single value (not a list)"
    words = [w for k, w in ((INT, "numbers"), (TIME, "timestamps"), (DURATION, "durations"),
                            (TEXT, "text"), (BOOL, "true/false values"), (DATE, "dates"))
             if k in acc]
    if len(words) > 2:
        return ", ".join(words[:-1]) + " or " + words[-1]
    return " or ".join(words) or "no value"


def fix(accepted, e, kind: str) -> str:
    w = what(e)
    if w == "the expression":
        w = "…"
    acc = set(accepted)
    if kind == LIST:
        return "values() makes a list; use dcount() or count() to count, or keep it as output"
    if isinstance(e, (A.Lit, A.Param)):          # a constant: write it as the right kind
        for k, example in ((DURATION, "a duration: 5m, 30s, 1h"),
                           (TIME, "a time: 2023-08-10T14:00:00Z"), (INT, "a number: 1000"),
                           (BOOL, "true or false")):
            if k in acc:
                return "write " + example
        return f"write {need(acc)}"
    if kind == TEXT and acc & NUMBER:
        return f"convert it: toint({w})"
    if kind == TEXT and TIME in acc:
        return f"convert it: todatetime({w})"
    if TEXT in acc and kind != TEXT:
        return f"convert it: tostring({w})"
    if kind in NUMBER and DURATION in acc:
        return "write a duration: 5m, 30s, 1h"
    return ""


def kind_error(subject: str, accepted, e, kind: str) -> QueryError:
    return QueryError(f"{subject} needs {need(accepted)}; {what(e)} is {NOUNS[kind]}",
                      e.pos, fix(accepted, e, kind))


def compare_hint(e: A.Binary, lk: str, rk: str) -> str:
    ks = {lk, rk}
    if TIME in ks and ks & NUMBER:
        return "write a time: 2023-08-10T14:00:00Z, or a string \"2023-08-10 14:00\""
    if DURATION in ks and ks & NUMBER:
        return "write a duration: 5m, 30s"
    if LIST in ks:
        return "values() makes a list; compare single values"
    other = e.right if rk != TEXT else e.left
    return fix({TEXT}, other, rk if other is e.right else lk) if TEXT in ks else ""
