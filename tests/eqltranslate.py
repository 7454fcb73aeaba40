"""EQL query text -> edrql query text over a let table of EQL's raw events (tests only).

The query is parsed by the installed ``eql`` package (eql.parser.parse_query) and its AST
(eql.ast) is written out in edrql's words, over a let table (``eqldata`` by default) that holds
EQL's raw field names plus a ``ts`` time column (what edrql's ``sequence`` orders by).
What edrql cannot say raises ``Unsupported(reason)``; the reasons are short and grouped so a
suite run can count them.

``translate(text, columns, types)`` returns ``(edrql_text, fields)``: ``fields`` are the
event fields the query names; a caller adds those missing from the data as all-null columns
(EQL reads a missing field as null; edrql refuses an unknown column).
"""
from __future__ import annotations

import json

from eql import ast as E
from eql.parser import ignore_missing_functions, parse_query


class Unsupported(Exception):
    """An EQL construct edrql cannot express; ``str(exc)`` is the (grouped) reason."""


# EQL functions whose edrql function of the same name has the same meaning
_SAME = {"length", "indexOf", "number", "string", "add", "subtract", "multiply", "divide",
         "modulo", "concat", "startsWith", "endsWith", "stringContains", "between",
         "cidrMatch", "arrayContains", "arrayCount", "arraySearch", "safe", "match",
         "matchLite", "wildcard"}
_LAMBDA = {"arrayCount", "arraySearch"}
# functions that ignore case in edrql and have no case-sensitive form there
_CASE_FREE = {"indexOf", "startsWith", "endsWith", "stringContains", "between", "arrayContains",
              "match", "matchLite"}
_CS_FORMS = {"indexOf": "indexof", "startsWith": "startswith_cs", "endsWith": "endswith_cs",
             "stringContains": "contains_cs"}
_CMP = {"==": "==", "=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _str(s: str) -> str:
    return json.dumps(s)        # "…" with \\ and \" escapes: edrql's string syntax


class _Writer:
    def __init__(self, types: dict, case_sensitive: bool = False, fold_order: bool = True):
        self.cs = case_sensitive
        self.fold = fold_order      # < > on text as tolower(a) < tolower(b) (EQL's ordering)    # EQL's case-sensitive mode: edrql's _cs / === forms
        self.types = types          # column -> "text" | "number" | "other" (data's own columns)
        self.fields: set[str] = set()
        self.scope: list[str] = []  # lambda variables in force
        self.event_steps: set | None = None   # in a filter after a sequence: events[i] read

    # ----------------------------------------------------------------- expressions
    def textish(self, node) -> bool:
        if isinstance(node, E.String):
            return True
        if isinstance(node, E.Field) and not node.path and node.base not in self.scope:
            return self.types.get(node.base) == "text"
        return False

    def expr(self, n) -> str:
        if isinstance(n, E.Boolean):
            return "true" if n.value else "false"
        if isinstance(n, E.Null):
            return "null"
        if isinstance(n, E.Number):
            return repr(n.value)
        if isinstance(n, E.String):
            return _str(n.value)
        if isinstance(n, E.Field):
            return self.field(n)
        if isinstance(n, E.IsNull):
            return f"isnull({self.expr(n.expr)})"
        if isinstance(n, E.IsNotNull):
            return f"isnotnull({self.expr(n.expr)})"
        if isinstance(n, E.Not):
            return f"not ({self.expr(n.term)})"
        if isinstance(n, E.And):
            return "(" + " and ".join(self.expr(t) for t in n.terms) + ")"
        if isinstance(n, E.Or):
            return "(" + " or ".join(self.expr(t) for t in n.terms) + ")"
        if isinstance(n, E.Comparison):
            return self.comparison(n)
        if isinstance(n, E.InSet):
            op = "in_cs" if self.cs and self.textish(n.expression) else "in"
            items = ", ".join(self.expr(c) for c in n.container)
            return f"({self.expr(n.expression)} {op} ({items}))"
        if isinstance(n, E.MathOperation):
            return f"({self.expr(n.left)} {n.operator} {self.expr(n.right)})"
        if isinstance(n, E.FunctionCall):
            return self.call(n)
        if isinstance(n, E.NamedSubquery):
            raise Unsupported(f"'{n.query_type} of [...]' over raw pid fields (edrql's lineage "
                              "predicates read the case's process instances)")
        raise Unsupported(f"EQL node {type(n).__name__}")

    def field(self, n) -> str:
        if n.base in self.scope:
            base = n.base
        else:
            if n.base == "events":
                if (self.event_steps is None or len(n.path) < 2 or not isinstance(n.path[0], int)
                        or not isinstance(n.path[1], str)):
                    raise Unsupported("pipes reading a sequence's events[i]")
                self.event_steps.add(n.path[0])
                n = E.Field(n.path[1], n.path[2:])
            self.fields.add(n.base)
            base = n.base
        if any(isinstance(p, str) for p in n.path):
            raise Unsupported("members of nested objects (x.y: struct fields, lists of objects)")
        out = base
        for p in n.path:
            out += f"[{p}]" if isinstance(p, int) else f".{p}"
        return out

    def comparison(self, n) -> str:
        op = _CMP[n.comparator]
        left, right = self.expr(n.left), self.expr(n.right)
        text = self.textish(n.left) or self.textish(n.right)
        if self.cs:
            if text and op in ("==", "!="):
                op = "===" if op == "==" else "!=="
            return f"({left} {op} {right})"     # edrql orders text by code point, as EQL here
        if op not in ("==", "!=") and text and self.fold:
            # EQL orders text ignoring case; edrql's < > on text is by code point
            left, right = f"tolower({left})", f"tolower({right})"
        return f"({left} {op} {right})"

    def call(self, n) -> str:
        name = n.name
        if name == "substring":
            return self.substring(n.arguments)
        if name not in _SAME:
            raise Unsupported(f"function {name}")
        if self.cs and name == "wildcard":
            pats = ", ".join(self.expr(a) for a in n.arguments[1:])
            pats = pats if len(n.arguments) == 2 else f"({pats})"
            return f"({self.expr(n.arguments[0])} like_cs {pats})"
        if self.cs and name in _CS_FORMS:
            args = [self.expr(a) for a in n.arguments]
            if name == "indexOf":           # KQL's indexof is case-sensitive, -1 when absent
                call = f"indexof({args[0]}, {args[1]}, {args[2] if len(args) > 2 else 0})"
                return f"iff({call} >= 0, {call}, toint(null))"
            return f"({args[0]} {_CS_FORMS[name]} {args[1]})"
        if self.cs and name in _CASE_FREE:
            raise Unsupported(f"case-sensitive {name}() (edrql's ignores case)")
        if name in _LAMBDA:
            lst, var, cond = n.arguments
            self.scope.append(var.base)
            try:
                body = self.expr(cond)
            finally:
                self.scope.pop()
            return f"{name}({self.expr(lst)}, {var.base}, {body})"
        return f"{name}({', '.join(self.expr(a) for a in n.arguments)})"

    def substring(self, args) -> str:
        """EQL's substring(s, start[, end]) is Python's s[start:end]; edrql's is KQL's
        substring(s, start, length) with constant non-negative start and length. Counted from
        the end (negative start and end) it is the regex extract of the tail."""
        if len(args) not in (2, 3) or not all(isinstance(a, E.Number) for a in args[1:]):
            raise Unsupported("EQL substring(s, start, end) with computed or mixed-sign bounds")
        s = self.expr(args[0])
        a = args[1].value
        b = args[2].value if len(args) == 3 else None
        if a >= 0 and (b is None or b >= 0):
            return f"substring({s}, {a})" if b is None else f"substring({s}, {a}, {max(b - a, 0)})"
        if a < 0 and (b is None or b < 0):
            m, k = -a, -(b or 0)
            return f'extract({_str(f"(?s)(.{{0,{max(m - k, 0)}}}).{{{k}}}$")}, 1, {s})'
        raise Unsupported("EQL substring(s, start, end) with computed or mixed-sign bounds")

    # ----------------------------------------------------------------- queries
    def event_filter(self, q) -> str:
        cond = self.expr(q.query)
        if q.event_type == "any":
            return cond
        return f'event_type == {_str(q.event_type)} and {cond}'

    def sort_key(self, k) -> str:
        if not isinstance(k, E.Field) or k.path:
            raise Unsupported("sort by an expression")
        return f"{self.field(k)} asc nocase"

    def pipes(self, pipes, steps: int | None) -> list[str]:
        out = []
        for p in pipes:
            kind = type(p).__name__
            args = p.arguments
            if kind in ("HeadPipe", "TailPipe"):
                n = args[0].value if args else 50
                out.append(f"{'head' if kind == 'HeadPipe' else 'tail'} {n * (steps or 1)}")
            elif steps is not None and kind == "FilterPipe":
                # the sequences one of whose events passes: a let of the sequence's rows
                self.event_steps = set()
                cond = self.expr(args[0])
                read, self.event_steps = self.event_steps, None
                if len(read) != 1:
                    raise Unsupported("a filter after a sequence reading none or several events")
                out.append(("filter-sequences", read.pop() + 1, cond))
            elif steps is not None:
                raise Unsupported(f"EQL pipe {kind[:-4].lower()} after a sequence")
            elif kind == "FilterPipe":
                out.append(f"filter {self.expr(args[0])}")
            elif kind == "SortPipe":
                out.append("sort by " + ", ".join(self.sort_key(a) for a in args))
            elif kind in ("UniquePipe", "UniqueCountPipe"):
                word = "unique" if kind == "UniquePipe" else "unique_count"
                out.append(f"{word} {', '.join(self.expr(a) for a in args)}")
            elif kind == "CountPipe":
                raise Unsupported("count pipe (its output has no events to compare)")
            else:
                raise Unsupported(f"EQL pipe {kind}")
        return out

    def sequence(self, s) -> list[str]:
        pre, steps = [], []
        subs = list(s.queries) + ([s.close] if s.close is not None else [])
        for i, sub in enumerate(subs, 1):
            if sub.data.get("fork"):
                raise Unsupported("sequence fork=")
            if sub.data.get("is_negated"):
                raise Unsupported("negated sequence step")
            keys = []
            for j, k in enumerate(sub.join_values, 1):
                if isinstance(k, E.Field) and not k.path:
                    keys.append(self.field(k))
                else:                           # an expression key: a column of its own
                    name = f"_k{i}_{j}"
                    pre.append(f"extend {name} = {self.expr(k)}")
                    keys.append(name)
            step = f"[{self.event_filter(sub.query)}]"
            if keys:
                step += " by " + ", ".join(keys)
            if s.close is not None and i == len(subs):
                step = "until " + step
            steps.append(step)
        head = "sequence"
        if s.max_span is not None:
            head += f" with maxspan={s.max_span.quantity}{s.max_span.unit.value}"
        return pre + [head + " " + " ".join(steps)]


def _kind(t) -> str:
    import pyarrow as pa
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return "number"
    return "other"


def translate(text: str, schema=None, table: str = "eqldata",
              case_sensitive: bool = False, fold_order: bool = True) -> tuple[str, set]:
    """EQL ``text`` -> (edrql text over ``table``, field names the query reads).
    ``schema``: the let table's pyarrow schema (text columns get EQL's case-free ordering).
    ``case_sensitive``: EQL's case-sensitive mode (``===``, ``in_cs``, ``like_cs``).
    ``fold_order``: write EQL's case-free text ordering as ``tolower(a) < tolower(b)`` (edrql's
    ``<`` on text is by code point, though its ``==`` ignores case)."""
    with ignore_missing_functions:
        q = parse_query(text)
    w = _Writer({f.name: _kind(f.type) for f in schema} if schema is not None else {},
                case_sensitive, fold_order)
    first = q.first
    if isinstance(first, E.EventQuery):
        stages = [f"where {w.event_filter(first)}"] + w.pipes(q.pipes, None)
    elif isinstance(first, E.Sequence):
        stages = w.sequence(first) + w.pipes(q.pipes, len(first.queries))
    elif isinstance(first, E.Join):
        raise Unsupported("join")
    elif isinstance(first, E.Sample):
        raise Unsupported("sample")
    else:
        raise Unsupported(type(first).__name__)
    text, lets = table, []
    for s in stages:
        if isinstance(s, str):
            text += " | " + s
            continue
        _, step, cond = s           # keep the sequences whose event of that step passes
        n = len(lets)
        lets.append(f"let _s{n} = {text}; let _keep{n} = _s{n} | where step == {step} and "
                    f"{cond} | project sequence; ")
        text = f"_s{n} | where sequence in (_keep{n})"
    return "".join(lets) + text, w.fields
