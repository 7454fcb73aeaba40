"""Highlighting from the grammar's own tokens.

The text is cut into tokens by the Lark grammar's terminals (``grammar/edrql.lark``),
ignored ones included, so what is coloured as a keyword, a string or a number
is exactly what the parser will read as one. Lexing errors do not stop the
colouring: an unterminated string runs to the end of its line, any other bad
character is marked and lexing resumes after it.
"""
from __future__ import annotations

import functools
import re

from prompt_toolkit.formatted_text.utils import split_lines
from prompt_toolkit.lexers import Lexer

STRING_T = {"STRING", "RAW_STRING"}
NUMBER_T = {"INT", "FLOAT", "HEX", "DURATION", "TIMESTAMP"}
CONSTANT_T = {"TRUE", "FALSE", "NULL"}
OPERATOR_T = {"COMPARE", "STRING_OP", "IN", "IN_TILDE", "HAS_LIST", "ADD_OP", "MUL_OP", "EQUAL", "MINUS", "AND", "OR",
              "NOT", "BETWEEN", "__ANON_0", "__ANON_1", "__ANON_2",
              "LIKE", "COLON"}          # ---- EQL wildcards (issue 14): like, !like_cs, :
KEYWORD_T = {"LET", "WHERE", "PROJECT", "EXTEND", "SORT", "ORDER", "BY", "HEAD", "TAKE", "LIMIT",
             "TAIL", "COUNT", "STATS", "SUMMARIZE", "AS", "DISTINCT", "TOP", "SAVE", "SEARCH",
             "REGEX", "DIRECTION", "CS",
             # ---- KQL tabular operators
             "PROJECT_AWAY", "PROJECT_KEEP", "PROJECT_RENAME", "PROJECT_REORDER", "NULLS", "RENDER",
             "WITH",
             # ---- eqlpipes: EQL's pipes and sort … nocase
             "UNIQUE", "UNIQUE_COUNT", "FILTER", "NOCASE"}
#: words the basic lexer reads as NAME although the parser reads them as keywords/operators
WORD_KEYWORDS = {"asc": "keyword", "desc": "keyword", "in_cs": "operator", "cs": "keyword"}
SPACE_T = {"__IGNORE_1", "__IGNORE_2"}

STYLE = {
    "keyword": "class:edrql.keyword", "operator": "class:edrql.operator",
    "string": "class:edrql.string", "number": "class:edrql.number",
    "constant": "class:edrql.number", "comment": "class:edrql.comment",
    "field": "class:edrql.field", "function": "class:edrql.function",
    "stage": "class:edrql.stage", "table": "class:edrql.table", "param": "class:edrql.param",
    "pipe": "class:edrql.pipe", "error": "class:edrql.error", "dot": "class:edrql.dot",
    "punct": "", "space": "",
}

STYLE_RULES = {
    "edrql.keyword": "#5f87ff bold", "edrql.stage": "#5f87ff bold", "edrql.operator": "#d75fd7",
    "edrql.string": "#5faf5f", "edrql.number": "#d7af5f", "edrql.comment": "#808080 italic",
    "edrql.field": "", "edrql.function": "#00afaf", "edrql.table": "#af87ff bold",
    "edrql.param": "#d7875f", "edrql.pipe": "#ff875f bold", "edrql.error": "bg:#870000 #ffffff",
    "edrql.dot": "#00afaf bold", "edrql.hidden": "reverse",
    "matching-bracket.cursor": "bg:#444444 #ffffff bold",
    "matching-bracket.other": "bg:#444444 #ffffff bold",
    "validation-toolbar": "bg:#870000 #ffffff",
}


@functools.lru_cache(maxsize=1)
def _basic_lexer():
    """Lark's basic lexer over every terminal of the grammar, ignored ones included."""
    from ..parse import parser
    return parser()._build_lexer(dont_ignore=True)


def raw_tokens(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, terminal, text) for the whole text; never raises."""
    from lark.exceptions import UnexpectedCharacters
    from lark.lexer import LexerThread

    out: list[tuple[int, int, str, str]] = []
    pos = 0
    while pos < len(text):
        try:
            for tok in LexerThread.from_text(_basic_lexer(), text[pos:]).lex(None):
                out.append((pos + tok.start_pos, pos + tok.end_pos, tok.type, str(tok)))
            break
        except UnexpectedCharacters as e:
            p = pos + e.pos_in_stream
            ch = text[p]
            if ch in "\"'":
                end = text.find("\n", p)
                end = len(text) if end < 0 else end
                if out and out[-1][2] == "NAME" and out[-1][3] in ("r", "@") and out[-1][1] == p:
                    p = out.pop()[0]   # r"… unterminated raw string
                out.append((p, end, "UNTERMINATED", text[p:end]))
                pos = end
            else:
                out.append((p, p + 1, "ERROR", ch))
                pos = p + 1
    return out


def classify(tokens: list[tuple[int, int, str, str]]) -> list[tuple[int, int, str]]:
    """(start, end, kind) with kinds of STYLE."""
    sig = [i for i, t in enumerate(tokens) if t[2] not in SPACE_T and t[2] != "COMMENT"]
    nxt = {a: b for a, b in zip(sig, sig[1:])}
    prv = {b: a for a, b in zip(sig, sig[1:])}
    out = []
    for i, (s, e, typ, val) in enumerate(tokens):
        if typ in SPACE_T:
            kind = "space"
        elif typ == "COMMENT":
            kind = "comment"
        elif typ == "_SEP":
            # a blank line may hold a comment
            last = s
            for m in re.finditer(r"#[^\n]*", val):
                out.append((last, s + m.start(), "space"))
                out.append((s + m.start(), s + m.end(), "comment"))
                last = s + m.end()
            out.append((last, e, "punct" if val == ";" else "space"))
            continue
        elif typ in STRING_T or typ == "UNTERMINATED":
            kind = "string"
        elif typ in NUMBER_T:
            kind = "number"
        elif typ in CONSTANT_T:
            kind = "constant"
        elif typ in OPERATOR_T:
            kind = "operator"
        elif typ == "VBAR":
            kind = "pipe"
        elif typ == "PARAM":
            kind = "param"
        elif typ == "ERROR":
            kind = "error"
        elif typ in ("NAME", "QUOTED_NAME", "WILDNAME") or typ in KEYWORD_T:
            after = tokens[nxt[i]][2] if i in nxt else None
            before = tokens[prv[i]][2] if i in prv else None
            if typ == "NAME" and val in WORD_KEYWORDS:
                kind = WORD_KEYWORDS[val]
            elif after == "LPAR" and typ != "SEARCH":
                kind = "stage" if before in (None, "VBAR", "_SEP") else "function"
            elif typ in KEYWORD_T:
                kind = "keyword"
            elif before in (None, "_SEP"):
                kind = "table"
            else:
                kind = "field"
        else:
            kind = "punct"
        out.append((s, e, kind))
    return out


def fragments(text: str) -> list[tuple[str, str]]:
    """Style/text fragments covering the whole text."""
    if text.lstrip().startswith("."):
        return [(STYLE["dot"], text)]
    frags, pos = [], 0
    for s, e, kind in classify(raw_tokens(text)):
        if s > pos:
            frags.append(("", text[pos:s]))
        if e > s:
            frags.append((STYLE[kind], text[s:e]))
        pos = max(pos, e)
    if pos < len(text):
        frags.append(("", text[pos:]))
    return frags


class EdrqlLexer(Lexer):
    """prompt_toolkit lexer: one lexing pass per text change, split into lines."""

    def __init__(self) -> None:
        self._cache: tuple[str, list] | None = None

    def lex_document(self, document):
        text = document.text
        if self._cache is None or self._cache[0] != text:
            self._cache = (text, list(split_lines(fragments(text))))
        lines = self._cache[1]

        def get_line(n: int):
            return lines[n] if 0 <= n < len(lines) else []
        return get_line
