"""Parse stage: text → list of statements (``edrql.ast``), or a ParseError that
says where (line, column, caret), what was found, what was expected, and a hint.
"""
from __future__ import annotations

import ast as _pyast
import functools
from dataclasses import dataclass
from pathlib import Path

from lark import Lark, Token, UnexpectedInput, v_args
from lark.visitors import Transformer_NonRecursive
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken, VisitError

from . import ast as A

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


def grammar_text() -> str:
    try:
        from importlib.resources import files
        return (files("edrql.grammar") / "edrql.lark").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return (Path(__file__).resolve().parent.parent / "grammar" / "edrql.lark").read_text(
            encoding="utf-8")


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


def _pos(meta) -> A.Pos:
    if getattr(meta, "empty", True):
        return A.NOPOS
    return A.Pos(meta.line, meta.column, meta.end_line, meta.end_column)


def _tpos(tok: Token) -> A.Pos:
    return A.Pos(tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column)


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
_I64 = 2**63 - 1


def _too_big(what: str, tok: Token, hint: str) -> ParseError:
    return ParseError(f"{what} too large: {str(tok)[:40]}", tok.line, tok.column, hint)


@v_args(meta=True)
class _Build(Transformer_NonRecursive):
    # non-recursive: a query nested thousands of levels deep reaches the depth check
    # below instead of exhausting Python's stack
    # ------------------------------------------------------------ statements
    def start(self, meta, items):
        return [i for i in items if i is not None]

    def let_stmt(self, meta, items):
        name, value, *stages = items
        if isinstance(value, (A.Search, A.UnionOf, A.DataTable, A.ExternalData)):
            # let hits = search "x" | …; let T = datatable(…)[…]; let U = union a, b
            return A.Let(str(name), A.Pipeline(value, stages, _pos(meta)), _pos(meta))
        if stages:
            if not isinstance(value, A.Field):
                raise ParseError("a pipeline must start with a table name", value.pos.line,
                                 value.pos.column, "let x = events | where …")
            value = A.Pipeline(A.Table(value.name, value.pos), stages, _pos(meta))
        return A.Let(str(name), value, _pos(meta))

    def pipeline(self, meta, items):
        source, *stages = items
        return A.Pipeline(source, stages, _pos(meta))

    def table(self, meta, items):
        return A.Table(items[0][0], _pos(meta))

    def name(self, meta, items):
        tok = items[0]
        text = str(tok)[1:-1] if tok.type == "QUOTED_NAME" else str(tok)
        return (text, _tpos(tok))

    # ------------------------------------------------------------ stages
    def where_stage(self, meta, items):
        return A.Where(items[0], _pos(meta))

    def project_stage(self, meta, items):
        return A.Project(items, _pos(meta))

    def named_item(self, meta, items):
        return A.Item(str(items[0]), items[1], _pos(meta))

    def plain_item(self, meta, items):
        return A.Item(None, items[0], _pos(meta))

    def extend_stage(self, meta, items):
        return A.Extend(items, _pos(meta))

    def assign(self, meta, items):
        return A.Item(str(items[0]), items[1], _pos(meta))

    def sort_stage(self, meta, items):
        return A.Sort(items, _pos(meta))

    def sort_key(self, meta, items):
        expr, direction, nulls = items
        desc = None if direction is None else str(direction) == "desc"
        return A.SortKey(expr, desc, _pos(meta),
                         None if nulls is None else str(nulls).split()[-1])

    # a row count beyond any table (head 99999999999999999999) means "all rows"
    def head_stage(self, meta, items):
        return A.Head(min(int(items[0]), _I64), _pos(meta))

    def tail_stage(self, meta, items):
        return A.Tail(min(int(items[0]), _I64), _pos(meta))

    def count_stage(self, meta, items):
        return A.Count(_pos(meta))

    def stats_stage(self, meta, items):
        *aggs, by = items
        return A.Stats(aggs, by or [], _pos(meta))

    def agg_as(self, meta, items):
        call, name = items
        return A.Agg(str(name) if name is not None else None, call, _pos(meta))

    def agg_named(self, meta, items):
        return A.Agg(str(items[0]), items[1], _pos(meta))

    # ---- KQL tabular operators
    def agg_call(self, meta, items):
        return self.func_call(meta, items)

    def agg_star(self, meta, items):
        tok = items[0]
        if str(tok) != "*":
            raise ParseError(f"unexpected {str(tok)!r} in an aggregation's arguments",
                             tok.line, tok.column, "write an expression, or * for every column")
        return A.Star(_tpos(tok))

    def plain_assign(self, meta, items):
        return A.Item(None, items[0], _pos(meta))

    def col_pattern(self, meta, items):
        tok = items[0]
        return tok[0] if isinstance(tok, tuple) else str(tok)

    def rename(self, meta, items):
        return (items[0][0], items[1][0])

    def project_away_stage(self, meta, items):
        return A.ProjectAway(list(items[1:]), False, _pos(meta))

    def project_keep_stage(self, meta, items):
        return A.ProjectAway(list(items[1:]), True, _pos(meta))

    def project_rename_stage(self, meta, items):
        return A.ProjectRename(list(items[1:]), _pos(meta))

    def render_stage(self, meta, items):
        return A.Render(str(items[0]), _pos(meta))

    def project_reorder_stage(self, meta, items):
        return A.ProjectReorder(list(items[1:]), _pos(meta))

    def by_clause(self, meta, items):
        return list(items)

    def distinct_stage(self, meta, items):
        return A.Distinct(list(items), _pos(meta))

    def top_stage(self, meta, items):
        return A.Top(min(int(items[0]), _I64), items[1], _pos(meta))

    def save_stage(self, meta, items):
        return A.Save(items[0].value, _pos(meta))

    def call_stage(self, meta, items):
        name, *rest = items
        by = rest.pop() if rest and (rest[-1] is None or isinstance(rest[-1], list)) else None
        args, kwargs = [], {}
        for a in rest:
            if a is None:
                continue
            if isinstance(a, tuple):
                kwargs[a[0]] = a[1]
            else:
                args.append(a)
        return A.PipeCall(str(name), args, kwargs, by or [], _pos(meta))

    def named_arg(self, meta, items):
        return (str(items[0]), items[1])

    def pos_arg(self, meta, items):
        return items[0]

    # ---- joins: join, lookup, union, mv-expand, datatable, externaldata, in (table)
    def join_stage(self, meta, items):
        return _joinish(A.Join, "join", items, meta)

    def lookup_stage(self, meta, items):
        return _joinish(A.Lookup, "lookup", items, meta)

    def union_stage(self, meta, items):
        opts = _opts("union", [i for i in items if isinstance(i, tuple)], _UNION_OPTS)
        pipes = [i for i in items if isinstance(i, A.Pipeline)]
        names = [p.source.name if isinstance(p.source, A.Table) and not p.stages
                 else f"union_arg{k}" for k, p in enumerate(pipes)]
        kind = opts.get("kind", "outer")
        return A.UnionOf(pipes, kind, opts.get("withsource"), names, _pos(meta))

    def tab_opt(self, meta, items):
        return (str(items[0]), str(items[1]), _tpos(items[0]))

    def tab_arg(self, meta, items):
        x = items[0]
        if isinstance(x, A.Pipeline):
            return x
        return A.Pipeline(A.Table(x[0], x[1]), [], x[1])

    def join_same(self, meta, items):
        return A.JoinOn(items[0][0], items[0][0], _pos(meta))

    def join_sides(self, meta, items):
        a, op, b = items
        if str(op) != "==":
            raise ParseError(f"a join condition compares with ==, not {op}", op.line, op.column,
                             "on $left.pid == $right.pid")
        sides = {str(a).split(".", 1)[0]: str(a).split(".", 1)[1],
                 str(b).split(".", 1)[0]: str(b).split(".", 1)[1]}
        if set(sides) != {"$left", "$right"}:
            raise ParseError("a join condition names one column of each side", a.line, a.column,
                             "on $left.pid == $right.pid")
        return A.JoinOn(sides["$left"], sides["$right"], _pos(meta))

    def mvexpand_stage(self, meta, items):
        _, *rest = items
        limit = rest.pop() if rest and (rest[-1] is None or isinstance(rest[-1], Token)) else None
        return A.MvExpand(rest, None if limit is None else min(int(limit), _I64), _pos(meta))

    def mv_item(self, meta, items):
        name, expr, typ = items
        return A.MvItem(None if name is None else str(name), expr,
                        None if typ is None else str(typ), _pos(meta))

    def datatable(self, meta, items):
        cols = [i for i in items if isinstance(i, A.ColumnDecl)]
        vals = [i for i in items if i is not None and not isinstance(i, A.ColumnDecl)]
        return A.DataTable(cols, vals, _pos(meta))

    def externaldata(self, meta, items):
        cols = [i for i in items if isinstance(i, A.ColumnDecl)]
        paths = [i.value for i in items if isinstance(i, A.Lit)]
        opts = next((i for i in items if isinstance(i, dict)), {})
        return A.ExternalData(cols, paths, opts, _pos(meta))

    def col_decl(self, meta, items):
        return A.ColumnDecl(items[0][0], str(items[1]), _pos(meta))

    def with_opts(self, meta, items):
        return dict(items)

    def with_opt(self, meta, items):
        return (str(items[0]), items[1])

    def in_tabular(self, meta, items):
        expr, op, src, *stages = items
        if not isinstance(src, A.Field):
            raise ParseError("a tabular expression in in (…) starts with a table name",
                             src.pos.line, src.pos.column, "name in (iocs | project name)")
        sub = A.Subquery(A.Pipeline(A.Table(src.name, src.pos), stages, _pos(meta)), src.pos)
        return A.InList(expr, [sub], str(op), _pos(meta))

    # ------------------------------------------------------------ search
    def search_stage(self, meta, items):
        cs, term, *cols = items
        columns = [c[0] for c in cols if c is not None]
        return A.Search(term, cs is not None, columns, _pos(meta))

    def search_text(self, meta, items):
        return A.SText(items[0].value, _pos(meta))

    def search_regex(self, meta, items):
        return A.SRegex(items[0].value, _pos(meta))

    def search_negate(self, meta, items):
        return A.SBool("not", [items[0]], _pos(meta))

    def search_or(self, meta, items):
        return A.SBool("or", list(items), _pos(meta))

    def search_and(self, meta, items):
        return A.SBool("and", list(items), _pos(meta))

    # ------------------------------------------------------------ expressions
    def or_expr(self, meta, items):
        return _balanced("or", items)

    def and_expr(self, meta, items):
        return _balanced("and", items)

    def not_(self, meta, items):
        return A.Unary("not", items[0], _pos(meta))

    def neg(self, meta, items):
        return A.Unary("-", items[0], _pos(meta))

    def compare(self, meta, items):
        return A.Binary(str(items[1]), items[0], items[2], _pos(meta))

    def strop(self, meta, items):
        op = str(items[1])
        if op.lstrip("!").startswith("matches") and op.endswith("regex"):
            op = op.split()[0] + "_cs"          # KQL's `matches regex` is case-sensitive
        return A.Binary(op, items[0], items[2], _pos(meta))

    # ---- KQL string operators (strops)
    def has_list(self, meta, items):
        expr, op, *vals = items
        return A.InList(expr, vals, str(op), _pos(meta))

    def in_list(self, meta, items):
        expr, op, *vals = items
        return A.InList(expr, vals, str(op), _pos(meta))

    def between(self, meta, items):
        return A.Between(items[0], items[1], items[2], False, _pos(meta))

    def not_between(self, meta, items):
        return A.Between(items[0], items[1], items[2], True, _pos(meta))

    def sum(self, meta, items):
        return _fold_ops(items, meta)

    def product(self, meta, items):
        return _fold_ops(items, meta)

    def func_call(self, meta, items):
        name, *args = items
        return A.Call(str(name), [a for a in args if a is not None], _pos(meta))

    # ---- dynamic values
    def member_index(self, meta, items):
        return A.Member(items[0], items[1], _pos(meta))

    def member_dot(self, meta, items):
        base, tok = items
        for key in str(tok).split("."):             # x.a.b is one NAME token after the dot
            base = A.Member(base, A.Lit(key, "str", _tpos(tok)), _pos(meta))
        return base

    @staticmethod
    def _dyn(x):
        """A value inside dynamic(…): true/false/null come as literals."""
        return x.value if isinstance(x, A.Lit) else x

    def dynamic_lit(self, meta, items):
        return A.Lit(items[0], "dynamic", _pos(meta))

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
        return A.Lit(text, "str", _pos(meta))

    def int_lit(self, meta, items):
        return A.Lit(_int64(items[0], int(items[0])), "int", _pos(meta))

    def hex_lit(self, meta, items):
        return A.Lit(_int64(items[0], int(str(items[0]), 16)), "int", _pos(meta))

    def float_lit(self, meta, items):
        v = float(items[0])
        if v in (float("inf"), float("-inf")):
            raise _too_big("number", items[0], "the largest number is about 1.8e308")
        return A.Lit(v, "float", _pos(meta))

    def duration_lit(self, meta, items):
        ns = duration_ns(str(items[0]))
        if ns > _I64:
            raise _too_big("duration", items[0],
                           "durations reach about 292 years (106751d, 15250w)")
        return A.Lit(ns, "duration", _pos(meta))

    def time_lit(self, meta, items):
        return A.Lit(str(items[0]), "time", _pos(meta))

    def true_lit(self, meta, items):
        return A.Lit(True, "bool", _pos(meta))

    def false_lit(self, meta, items):
        return A.Lit(False, "bool", _pos(meta))

    def null_lit(self, meta, items):
        return A.Lit(None, "null", _pos(meta))

    def param(self, meta, items):
        return A.Param(str(items[0])[1:], _pos(meta))


# ---- joins: options of join, lookup and union
_JOIN_KINDS = {"innerunique", "inner", "leftouter", "leftanti", "anti", "leftantisemi", "leftsemi",
               "rightanti", "rightantisemi", "rightsemi", "rightouter", "fullouter"}
_UNION_OPTS = {"kind": {"outer", "inner"}, "withsource": None, "isfuzzy": {"true", "false"}}


def _opts(stage: str, opts: list, allowed: dict) -> dict:
    out = {}
    for name, value, pos in opts:
        if name.startswith("hint.") and stage == "join":
            out[name] = value                 # execution hints: accepted, noted, ignored
            continue
        if name not in allowed:
            raise ParseError(f"{stage} has no option {name}=", pos.line, pos.column,
                             f"its options: {', '.join(n + '=' for n in allowed)}")
        if allowed[name] is not None and value not in allowed[name]:
            raise ParseError(f"{stage} {name}={value} is not known", pos.line, pos.column,
                             f"{name}= takes " + ", ".join(sorted(allowed[name])))
        out[name] = value
    return out


def _joinish(cls, stage: str, items, meta):
    kinds = _JOIN_KINDS if cls is A.Join else {"leftouter", "inner"}
    opts = _opts(stage, [i for i in items if isinstance(i, tuple)], {"kind": kinds})
    right = next(i for i in items if isinstance(i, A.Pipeline))
    on = [i for i in items if isinstance(i, A.JoinOn)]
    if cls is A.Join:
        hints = {k: v for k, v in opts.items() if k.startswith("hint.")}
        return A.Join(opts.get("kind"), right, on, hints, _pos(meta))
    return A.Lookup(opts.get("kind"), right, on, _pos(meta))


def _int64(tok: Token, value: int) -> int:
    if value > _I64:
        raise _too_big("number", tok, f"integers reach {_I64:,}; compare a text field with a "
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


def _fold_ops(items, meta):
    out = items[0]
    for i in range(1, len(items), 2):
        out = A.Binary(str(items[i]), out, items[i + 1], _pos(meta))
    return out


def parse(text: str) -> list[A.Statement]:
    """Parse a script (one or more statements)."""
    try:
        tree = parser().parse(text)
    except UnexpectedInput as e:
        raise _error(e, text) from None
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


def _error(e: UnexpectedInput, text: str) -> ParseError:
    kql = _kql_error(e, text)
    if kql is not None:
        return kql
    hint = ""
    try:
        label = e.match_examples(parser().parse, EXAMPLES, use_accepts=True)
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
        exp = _expected(e.expected)
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
    return ParseError(f"unexpected {found}; expected {_expected(e.accepts or e.expected)}",
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


def _expected(names) -> str:
    human = sorted({TERMINALS.get(n, _keyword(n)) for n in names})
    if len(human) > 8:
        human = human[:8] + ["…"]
    return ", ".join(human)


def _keyword(name: str) -> str:
    """A keyword or anonymous terminal by its text (``where``, ``!between``)."""
    try:
        pattern = parser().get_terminal(name).pattern
        if pattern.type == "str":
            return pattern.value
    except KeyError:
        pass
    return name.lower()
