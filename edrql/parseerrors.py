"""Parse errors that teach: Lark's syntax errors as a ``ParseError`` (edrql/errors.py) that
says what was found, what was expected (terminals by their human names) and a hint.

The hints are data: ``EXAMPLES`` (known mistakes, matched by Lark's ``match_examples``),
and edrql/kqlhints.py for KQL that edrql does not run. The Lark parser is passed in
(``parse.parser()``), so this module does not import the parse driver.
"""
from __future__ import annotations

from lark import Lark, UnexpectedInput
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

from .errors import ParseError

# Human names for the grammar's terminals, used in "expected ..." messages.
TERMINALS = {
    "NAME": "a name", "QUOTED_NAME": "a `quoted name`", "STRING": "a string",
    "RAW_STRING": "a raw string", "INT": "a number", "HEX": "a hex number", "FLOAT": "a number",
    "DURATION": "a duration (30s, 5m, 2h, 1d)", "TIMESTAMP": "a timestamp", "PARAM": "a $parameter",
    "VBAR": "|", "LPAR": "(", "RPAR": ")", "COMMA": ",", "EQUAL": "=", "_SEP": "end of statement",
    "$END": "end of input", "COMPARE": "a comparison (== != < …)", "STRING_OP": "contains/has/startswith/…",
    "HAS_LIST": "has_any/has_all", "IN_TILDE": "in~",
    "IN": "in", "ADD_OP": "+ or -", "MUL_OP": "* / %", "DIRECTION": "asc or desc", "CS": "cs",
    "MINUS": "-", "__ANON_0": "..",
    "NULLS": "nulls first or nulls last", "WILDNAME": "a column pattern (Name*)",
    "PROJECT_AWAY": "project-away", "PROJECT_KEEP": "project-keep",
    "PROJECT_RENAME": "project-rename", "PROJECT_REORDER": "project-reorder",
}

# Known mistakes → hints (lark's match_examples picks the closest).
EXAMPLES = {
    "Stages are joined with '|': write `events | where …`, not `events where …`.": [
        "events where x == 1", "events project a", "events count",
    ],
    "Compare with `==` (one `=` assigns, in project/extend/stats).": [
        "events | where x = 1", "events | where name = \"a\" and x = 1",
    ],
    "A string needs closing quotes; for Windows paths use a raw string: r\"C:\\Windows\".": [
        "events | where x == \"abc", "events | where path == 'C:\\",
    ],
    "`in` takes a parenthesized list: `name in (\"a.exe\", \"b.exe\")`.": [
        "events | where name in \"a\"", "events | where name in [\"a\"]",
    ],
    # ---- strops
    "`has_any`/`has_all` take a parenthesized list: `cmdline has_any (\"-enc\", \"-nop\")`.": [
        "events | where x has_any \"a\"", "events | where x has_all [\"a\"]",
        "events | where x !has_any \"a\"",
    ],
    "`in~` takes a parenthesized list: `name in~ (\"a.exe\", \"b.exe\")`.": [
        "events | where x in~ \"a\"", "events | where x !in~ [\"a\"]",
    ],
    "`between` takes `(low .. high)`.": [
        "events | where ts between \"a\" and \"b\"", "events | where ts between (1, 2)",
    ],
    # ---- dynamic values
    "dynamic(…) holds constants written as JSON: dynamic([\"a\", 1]), dynamic({\"k\": [1]}); "
    "for columns use pack_array(…) or bag_pack(\"k\", …).": [
        "events | extend x = dynamic([name])", "events | extend x = dynamic({a: 1})",
        "events | extend x = dynamic([1, 2)", "events | extend x = dynamic(name)"],
    "A pipeline starts with a table (events, files, network, …) or `search`.": [
        "| where x == 1", "where x == 1",
    ],
    "`sort` needs `by`: `sort by ts desc`.": ["events | sort ts", "events | order ts"],
    "`head`/`take`/`tail` take a whole number: `head 20`.": ["events | head", "events | take x"],
    # ---- joins
    "KQL's wildcard table names (`union Device*`) are not supported: name each table, "
    "`union files, registry`.": ["union Device*", "union files, Device*"],
    "mv-expand's kind=, bagexpansion= and with_itemindex= are not supported: "
    "`mv-expand x [to typeof(T)] [limit N]`.": ["events | mv-expand kind=array x",
                                                 "events | mv-expand with_itemindex=i x"],
}


def syntax_error(e: UnexpectedInput, text: str, parser: Lark) -> ParseError:
    """Lark's error as a ParseError: what was found, what was expected, a hint (a known
    KQL construct, a let without its ';', or the closest of EXAMPLES)."""
    kql = _kql_error(e, text)
    if kql is not None:
        return kql
    hint = ""
    try:
        label = e.match_examples(parser.parse, EXAMPLES, use_accepts=True)
        hint = label or ""
    except Exception:  # match_examples is best effort
        hint = ""
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        msg = f"unexpected character {ch!r}"
        if ch in "\"'":
            msg = "unterminated string"
            hint = hint or "close the string on the same line; for paths use r\"C:\\dir\""
        return ParseError(msg, e.line, e.column, hint, text)
    if isinstance(e, UnexpectedEOF):
        lines = text.splitlines() or [""]
        exp = _expected(e.expected, parser)
        return ParseError(f"unexpected end of input; expected {exp}", len(lines),
                          len(lines[-1]) + 1, hint, text)
    assert isinstance(e, UnexpectedToken)
    tok = e.token
    found = "end of input" if tok.type == "$END" else (
        "end of statement" if tok.type == "_SEP" else repr(str(tok)))
    line, col = tok.line, tok.column
    if tok.type in ("$END", "_SEP"):
        lines = text.splitlines() or [""]
        line = min(line or len(lines), len(lines))
        col = len(lines[line - 1]) + 1
    return ParseError(f"unexpected {found}; expected {_expected(e.accepts or e.expected, parser)}",
                      line, col, hint, text)


# ---- errors that teach: KQL edrql does not run, a let without its ';'
def _kql_error(e: UnexpectedInput, text: str) -> ParseError | None:
    from . import kqlhints
    tok = getattr(e, "token", None)
    if isinstance(e, UnexpectedCharacters):
        offset = e.pos_in_stream
    elif tok is None or tok.type == "$END" or tok.start_pos is None:
        offset = len(text)
    else:
        offset = tok.start_pos
    if isinstance(e, UnexpectedToken) and tok.type not in ("$END", "_SEP"):
        at = kqlhints.missing_semicolon(text, offset)
        if at is not None:
            return ParseError(f"the let statement ends without ';' before {str(tok)!r}",
                              at[0], at[1], "end the let with ';' (KQL needs it before the next "
                              "statement)", text)
    found = kqlhints.syntax_hint(text, offset)
    if found is None:
        return None
    message, hint, at = found
    return ParseError(message, text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at),
                      hint, text)


def _expected(names, parser: Lark) -> str:
    human = sorted({TERMINALS.get(n, _keyword(n, parser)) for n in names})
    if len(human) > 8:
        human = human[:8] + ["…"]
    return ", ".join(human)


def _keyword(name: str, parser: Lark) -> str:
    """A keyword or anonymous terminal by its text (``where``, ``!between``)."""
    try:
        pattern = parser.get_terminal(name).pattern
        if pattern.type == "str":
            return pattern.value
    except KeyError:
        pass
    return name.lower()
