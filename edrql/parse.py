"""Parse stage: text → list of statements (``edrql.ast``), or a ParseError that
says where (line, column, caret), what was found, what was expected, and a hint.

The driver (the grammar, its cache, ``parse``) and the Lark → AST transformer of
statements and expressions; the stages are built in edrql/parsestages.py, syntax
errors explained in edrql/parseerrors.py.
"""
from __future__ import annotations

import ast as _pyast
import functools

from lark import Lark, Token, UnexpectedInput, v_args
from lark.exceptions import VisitError

from . import ast as A
from .errors import ParseError
from .parseerrors import syntax_error
from .grammarfile import grammar_text
from .parsestages import I64, StageBuilder, meta_pos, token_pos


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    opts = dict(parser="lalr", propagate_positions=True, maybe_placeholders=True)
    path = _grammar_cache()
    if path:
        try:
            return Lark(grammar_text(), cache=path, **opts)
        except (OSError, EOFError, ValueError, TypeError, AttributeError):
            pass
    return Lark(grammar_text(), **opts)


def _grammar_cache() -> str | None:
    """Where Lark keeps the analysed grammar between runs (building the LALR tables takes
    ~0.2 s of every command's start): the user's own cache folder (the one cached cases
    use), private to the user, named by the grammar's and Lark's hash; Lark checks the
    hash inside too. None (no cache) when the folder cannot be made."""
    import hashlib
    import os

    import lark
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    d = os.path.join(base, "edrql")
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
    except OSError:
        return None
    if not os.access(d, os.W_OK):
        return None
    key = hashlib.sha256((lark.__version__ + grammar_text()).encode("utf-8")).hexdigest()[:20]
    return os.path.join(d, f"grammar-{key}.lark-cache")


_UNITS_NS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9,
             "d": 86400 * 10**9, "w": 7 * 86400 * 10**9}


def duration_ns(text: str) -> int:
    for unit in ("ns", "us", "ms", "s", "m", "h", "d", "w"):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return int(round(float(text[: -len(unit)]) * _UNITS_NS[unit]))
    raise ValueError(text)


def unquote(tok: Token) -> str:
    s = str(tok)
    if tok.type == "RAW_STRING":
        return s[2:-1]
    body = s[1:-1]
    if "\\" not in body:
        return body
    # Python-style escapes (\n \t \\ \" \' \xNN \uNNNN); an unknown escape keeps its backslash
    return _pyast.literal_eval('"' + body.replace('"', '\\"').replace("\\\\\"", "\\\"") + '"') \
        if s[0] == "'" else _pyast.literal_eval(s)


#: deepest nesting of expressions (not, -, calls, parentheses, chained + - * /) accepted;
#: deeper input is a clear error rather than a RecursionError anywhere downstream
MAX_DEPTH = 100


def _too_big(what: str, tok: Token, hint: str) -> ParseError:
    return ParseError(f"{what} too large: {str(tok)[:40]}", tok.line, tok.column, hint)


@v_args(meta=True)
class _Build(StageBuilder):
    # non-recursive (StageBuilder is a Transformer_NonRecursive): a query nested thousands of levels deep reaches the depth check
    # below instead of exhausting Python's stack
    # ------------------------------------------------------------ statements
    def start(self, meta, items):
        return [i for i in items if i is not None]

    def let_stmt(self, meta, items):
        name, value, *stages = items
        if isinstance(value, A.Sequence):        # ---- sequences: let s = sequence … | …
            return A.Let(str(name), self.pipeline(meta, [value] + stages), meta_pos(meta))
        if isinstance(value, (A.Search, A.UnionOf, A.DataTable, A.ExternalData)):
            # let hits = search "x" | …; let T = datatable(…)[…]; let U = union a, b
            return A.Let(str(name), A.Pipeline(value, stages, meta_pos(meta)), meta_pos(meta))
        if stages:
            if not isinstance(value, A.Field):
                raise ParseError("a pipeline must start with a table name", value.pos.line,
                                 value.pos.column, "let x = events | where …")
            value = A.Pipeline(A.Table(value.name, value.pos), stages, meta_pos(meta))
        return A.Let(str(name), value, meta_pos(meta))

    def pipeline(self, meta, items):
        source, *stages = items
        if isinstance(source, A.Sequence):      # ---- sequences: as a source, over events
            source, stages = A.Table("events", source.pos), [source] + stages
        return A.Pipeline(source, stages, meta_pos(meta))

    def table(self, meta, items):
        return A.Table(items[0][0], meta_pos(meta))

    def name(self, meta, items):
        tok = items[0]
        text = str(tok)[1:-1] if tok.type == "QUOTED_NAME" else str(tok)
        return (text, token_pos(tok))

    # ------------------------------------------------------------ expressions
    def or_expr(self, meta, items):
        return _balanced("or", items)

    def and_expr(self, meta, items):
        return _balanced("and", items)

    def not_(self, meta, items):
        return A.Unary("not", items[0], meta_pos(meta))

    def neg(self, meta, items):
        return A.Unary("-", items[0], meta_pos(meta))

    def compare(self, meta, items):
        return A.Binary(str(items[1]), items[0], items[2], meta_pos(meta))

    def strop(self, meta, items):
        op = str(items[1])
        if op.lstrip("!").startswith("matches") and op.endswith("regex"):
            op = op.split()[0] + "_cs"          # KQL's `matches regex` is case-sensitive
        return A.Binary(op, items[0], items[2], meta_pos(meta))

    # ---- KQL string operators (strops)
    def has_list(self, meta, items):
        expr, op, *vals = items
        return A.InList(expr, vals, str(op), meta_pos(meta))

    def in_list(self, meta, items):
        expr, op, *vals = items
        return A.InList(expr, vals, str(op), meta_pos(meta))

    # ---- EQL wildcards: x like "p", x : "p", x like ("p", "q") (an InList of op like…)
    def like(self, meta, items):
        expr, op, pat = items if len(items) == 3 else (items[0], ":", items[-1])
        return A.Binary(_like_op(op), expr, pat, meta_pos(meta))

    def like_list(self, meta, items):
        expr, op, *vals = items
        if not (isinstance(op, Token) and op.type == "LIKE"):    # ":" is filtered out
            vals, op = [op] + vals, ":"
        return A.InList(expr, vals, _like_op(op), meta_pos(meta))

    def between(self, meta, items):
        return A.Between(items[0], items[1], items[2], False, meta_pos(meta))

    def not_between(self, meta, items):
        return A.Between(items[0], items[1], items[2], True, meta_pos(meta))

    def sum(self, meta, items):
        return _fold_ops(items, meta)

    def product(self, meta, items):
        return _fold_ops(items, meta)

    def func_call(self, meta, items):
        name, *args = items
        return A.Call(str(name), [a for a in args if a is not None], meta_pos(meta))

    # ---- dynamic values
    def member_index(self, meta, items):
        return A.Member(items[0], items[1], meta_pos(meta))

    def member_dot(self, meta, items):
        base, tok = items
        for key in str(tok).split("."):             # x.a.b is one NAME token after the dot
            base = A.Member(base, A.Lit(key, "str", token_pos(tok)), meta_pos(meta))
        return base

    @staticmethod
    def _dyn(x):
        """A value inside dynamic(…): true/false/null come as literals."""
        return x.value if isinstance(x, A.Lit) else x

    def dynamic_lit(self, meta, items):
        return A.Lit(items[0], "dynamic", meta_pos(meta))

    def dyn_list(self, meta, items):
        return [self._dyn(x) for x in items if x is not None]

    def dyn_bag(self, meta, items):
        return {k: v for k, v in (x for x in items if x is not None)}

    def dyn_pair(self, meta, items):
        return (items[0].value, self._dyn(items[1]))

    def dyn_string(self, meta, items):
        return items[0].value

    def dyn_number(self, meta, items):
        return int(items[0]) if items[0].type == "INT" else float(items[0])

    def dyn_negative(self, meta, items):
        return -self.dyn_number(meta, items)

    def field(self, meta, items):
        text, pos = items[0]
        return A.Field(text, pos)

    def string(self, meta, items):
        text = unquote(items[0])
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ParseError("a string cannot hold a lone surrogate (\\ud800-\\udfff)",
                             items[0].line, items[0].column,
                             "write the character itself, or a surrogate pair") from None
        return A.Lit(text, "str", meta_pos(meta))

    def int_lit(self, meta, items):
        return A.Lit(_int64(items[0], int(items[0])), "int", meta_pos(meta))

    def hex_lit(self, meta, items):
        return A.Lit(_int64(items[0], int(str(items[0]), 16)), "int", meta_pos(meta))

    def float_lit(self, meta, items):
        v = float(items[0])
        if v in (float("inf"), float("-inf")):
            raise _too_big("number", items[0], "the largest number is about 1.8e308")
        return A.Lit(v, "float", meta_pos(meta))

    def duration_lit(self, meta, items):
        ns = duration_ns(str(items[0]))
        if ns > I64:
            raise _too_big("duration", items[0],
                           "durations reach about 292 years (106751d, 15250w)")
        return A.Lit(ns, "duration", meta_pos(meta))

    def time_lit(self, meta, items):
        return A.Lit(str(items[0]), "time", meta_pos(meta))

    def true_lit(self, meta, items):
        return A.Lit(True, "bool", meta_pos(meta))

    def false_lit(self, meta, items):
        return A.Lit(False, "bool", meta_pos(meta))

    def null_lit(self, meta, items):
        return A.Lit(None, "null", meta_pos(meta))

    def param(self, meta, items):
        return A.Param(str(items[0])[1:], meta_pos(meta))


def _int64(tok: Token, value: int) -> int:
    if value > I64:
        raise _too_big("number", tok, f"integers reach {I64:,}; compare a text field with a "
                       f"string instead: \"{str(tok)[:40]}\"")
    return value


def _balanced(op: str, items: list):
    """``a or b or c …`` as a balanced tree of Binary nodes: and/or are associative, so
    10,000 terms (an IOC sweep) nest only 14 deep and evaluate without deep recursion."""
    if len(items) == 1:
        return items[0]
    mid = len(items) // 2
    left, right = _balanced(op, items[:mid]), _balanced(op, items[mid:])
    a, b = left.pos, right.pos
    return A.Binary(op, left, right, A.Pos(a.line, a.column, b.end_line, b.end_column))


def _like_op(op) -> str:
    """EQL's ":" is like."""
    return "like" if str(op) == ":" else str(op)


def _fold_ops(items, meta):
    out = items[0]
    for i in range(1, len(items), 2):
        out = A.Binary(str(items[i]), out, items[i + 1], meta_pos(meta))
    return out


def parse(text: str) -> list[A.Statement]:
    """Parse a script (one or more statements)."""
    try:
        tree = parser().parse(text)
    except UnexpectedInput as e:
        raise syntax_error(e, text, parser()) from None
    try:
        statements = _Build().transform(tree)
        _check_depth(statements)
        return statements
    except ParseError as e:
        e.text = text
        raise
    except VisitError as e:
        if isinstance(e.orig_exc, ParseError):
            err = e.orig_exc
            err.text = text
            raise err from None
        if isinstance(e.orig_exc, (ValueError, SyntaxError)):
            meta = getattr(e.obj, "meta", None)
            line, col = (meta.line, meta.column) if meta and not meta.empty else (1, 1)
            raise ParseError(f"bad literal: {e.orig_exc}", line, col, "", text) from None
        raise


_NESTING = (A.Unary, A.Binary, A.Call, A.InList, A.Between, A.SBool)


def _check_depth(statements: list) -> None:
    """Reject expressions nested deeper than MAX_DEPTH (walked without recursion)."""
    stack = [(st, 0) for st in statements]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (list, tuple)):
            stack.extend((x, depth) for x in node)
            continue
        if isinstance(node, dict):
            stack.extend((x, depth) for x in node.values())
            continue
        if not hasattr(node, "__dataclass_fields__"):
            continue
        if depth > MAX_DEPTH:
            pos = getattr(node, "pos", A.NOPOS)
            raise ParseError(f"expression nested too deeply (more than {MAX_DEPTH} levels)",
                             pos.line or 1, pos.column or 1,
                             "split it into steps with let or extend; for many values use "
                             "in (…) or or-terms, which have no limit")
        deeper = depth + 1 if isinstance(node, _NESTING) else depth
        for name in node.__dataclass_fields__:
            if name != "pos":
                stack.append((getattr(node, name), deeper))
