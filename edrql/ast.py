"""The edrql syntax tree: plain dataclasses, built by ``parse`` from Lark's tree.

Every node carries ``pos`` (line, column, end_line, end_column; 1-based) so
that semantic errors can point at the offending text.
"""
from __future__ import annotations

from dataclasses import field
from typing import Any, Union

from .records import record as dataclass

# ``@dataclass`` here is edrql.records.record: the dataclass's fields as always (``walk``,
# ``dataclasses.replace`` and ``__dataclass_fields__`` work unchanged), but one ``__repr__``
# and ``__eq__`` shared by every node and each class's ``__init__`` compiled when its first
# node is made: three methods generated per class at import took ~12 ms of every command's
# start, for ~50 classes of which a query makes a handful.


@dataclass(frozen=True)
class Pos:
    line: int = 0
    column: int = 0
    end_line: int = 0
    end_column: int = 0


NOPOS = Pos()


# ---------------------------------------------------------------- expressions
@dataclass
class Lit:
    value: Any
    kind: str              # str int float bool null duration time
    pos: Pos = NOPOS


@dataclass
class Field:
    name: str
    pos: Pos = NOPOS


@dataclass
class Param:
    name: str
    pos: Pos = NOPOS


@dataclass
class Call:
    name: str
    args: list["Expr"]
    pos: Pos = NOPOS


@dataclass
class Unary:
    op: str                # "-" or "not"
    operand: "Expr"
    pos: Pos = NOPOS


@dataclass
class Binary:
    op: str                # and or + - * / % == != === !== =~ !~ < <= > >= contains... matches_cs
    left: "Expr"
    right: "Expr"
    pos: Pos = NOPOS


@dataclass
class InList:
    expr: "Expr"
    items: list["Expr"]
    op: str                # in in_cs !in !in_cs
    pos: Pos = NOPOS


@dataclass
class Between:
    expr: "Expr"
    low: "Expr"
    high: "Expr"
    negate: bool = False
    pos: Pos = NOPOS


# ---- dynamic values
@dataclass
class Member:
    """A member of a dynamic value or list: ``x.key``, ``x["key"]``, ``x[0]``."""
    base: "Expr"
    key: "Expr"
    pos: Pos = NOPOS


Expr = Union[Lit, Field, Param, Call, Unary, Binary, InList, Between, Member]


# ---------------------------------------------------------------- search terms
@dataclass
class SText:
    text: str
    pos: Pos = NOPOS


@dataclass
class SRegex:
    pattern: str
    pos: Pos = NOPOS


@dataclass
class SBool:
    op: str                # and or not
    terms: list["STerm"]
    pos: Pos = NOPOS


STerm = Union[SText, SRegex, SBool]


# ---------------------------------------------------------------- stages
@dataclass
class Item:
    """``name = expr`` or a bare ``expr`` (its name is derived)."""
    name: str | None
    expr: Expr
    pos: Pos = NOPOS


@dataclass
class Where:
    expr: Expr
    pos: Pos = NOPOS


@dataclass
class Project:
    items: list[Item]
    pos: Pos = NOPOS


@dataclass
class Extend:
    items: list[Item]
    pos: Pos = NOPOS


@dataclass
class SortKey:
    expr: Expr
    desc: bool | None = None     # None: not written (sort and top: desc, as in KQL)
    pos: Pos = NOPOS
    nulls: str | None = None     # "first" | "last"; None: KQL's default (asc: first, desc: last)


@dataclass
class Sort:
    keys: list[SortKey]
    pos: Pos = NOPOS


@dataclass
class Head:
    n: int
    pos: Pos = NOPOS


@dataclass
class Tail:
    n: int
    pos: Pos = NOPOS


@dataclass
class Count:
    pos: Pos = NOPOS


@dataclass
class Agg:
    name: str | None
    call: Call
    pos: Pos = NOPOS


@dataclass
class Stats:
    aggs: list[Agg]
    by: list[Item]
    pos: Pos = NOPOS


@dataclass
class Distinct:
    exprs: list[Expr]
    pos: Pos = NOPOS


@dataclass
class Top:
    n: int
    key: SortKey
    pos: Pos = NOPOS


@dataclass
class Save:
    path: str
    pos: Pos = NOPOS


@dataclass
class Search:
    term: STerm
    case_sensitive: bool = False
    columns: list[str] = field(default_factory=list)
    pos: Pos = NOPOS


@dataclass
class PipeCall:
    """A function-style pipe: ``timeline(5m) by event``, ``tree()``, ``children()``…"""
    name: str
    args: list[Expr]
    kwargs: dict[str, Expr]
    by: list[Item]
    pos: Pos = NOPOS


# ---- joins: join, lookup, union, mv-expand; datatable / externaldata sources; in (table)
@dataclass
class JoinOn:
    """One equality of a join's ``on``: ``Key`` (left = right = Key) or ``$left.a == $right.b``."""
    left: str
    right: str
    pos: Pos = NOPOS


@dataclass
class Join:
    kind: str | None               # None: not written (innerunique, KQL's default)
    right: "Pipeline"
    on: list[JoinOn]
    hints: dict[str, str] = field(default_factory=dict)
    pos: Pos = NOPOS


@dataclass
class Lookup:
    kind: str | None               # None: leftouter
    right: "Pipeline"
    on: list[JoinOn]
    pos: Pos = NOPOS


@dataclass
class UnionOf:
    """``union [kind=outer|inner] [withsource=Col] T1, (T2 | …)`` (a source or a stage)."""
    items: list["Pipeline"]
    kind: str = "outer"
    withsource: str | None = None
    names: list[str] = field(default_factory=list)   # each item's name for withsource
    pos: Pos = NOPOS


@dataclass
class MvItem:
    name: str | None
    expr: "Expr"
    to: str | None = None          # typeof(T)
    pos: Pos = NOPOS


@dataclass
class MvExpand:
    items: list[MvItem]
    limit: int | None = None
    pos: Pos = NOPOS


@dataclass
class ColumnDecl:
    name: str
    type: str                      # KQL type name: string int long real bool datetime …
    pos: Pos = NOPOS


@dataclass
class DataTable:
    columns: list[ColumnDecl]
    values: list["Expr"]
    pos: Pos = NOPOS


@dataclass
class ExternalData:
    columns: list[ColumnDecl]
    paths: list[str]
    options: dict = field(default_factory=dict)       # name -> Lit
    pos: Pos = NOPOS


@dataclass
class Subquery:
    """A tabular expression inside ``x in (T | project c)``."""
    pipeline: "Pipeline"
    pos: Pos = NOPOS


# ---- KQL tabular operators
@dataclass
class Star:
    """``*`` as an aggregation's argument: every column (arg_max(ts, *), take_any(*))."""
    pos: Pos = NOPOS


@dataclass
class ProjectAway:
    """``project-away a, b*`` (``keep``: ``project-keep``): drop (keep) matching columns."""
    patterns: list[str]
    keep: bool = False
    pos: Pos = NOPOS


@dataclass
class ProjectRename:
    pairs: list[tuple[str, str]]     # (new, old)
    pos: Pos = NOPOS


@dataclass
class Render:
    """``render timechart [with (…)]``: KQL's chart; edrql shows the table and says so."""
    kind: str
    pos: Pos = NOPOS


@dataclass
class ProjectReorder:
    patterns: list[str]
    pos: Pos = NOPOS


# ---- sequences: EQL's sequence as a source or a stage (edrql/sequenceops.py)
@dataclass
class SeqStep:
    """One ``[CATEGORY where EXPR] by k, …`` of a sequence (``until`` is one too)."""
    category: str | None           # EQL event type (process, file, …); None: [EXPR]
    expr: "Expr"
    by: list[Field] = field(default_factory=list)
    cat_pos: Pos = NOPOS
    pos: Pos = NOPOS
    negated: bool = False          # ![…]: the key's next event of the category must not match


@dataclass
class SeqOpt:
    """``name=value`` after ``with`` (maxspan=5m, output=sequences)."""
    name: str
    value: object                  # Lit (duration, int, str …) or a bare name (str)
    pos: Pos = NOPOS


@dataclass
class Sequence:
    by: list[Field]
    options: list[SeqOpt]
    steps: list[SeqStep]
    until: SeqStep | None = None
    pos: Pos = NOPOS


Stage = Union[Where, Project, Extend, Sort, Head, Tail, Count, Stats, Distinct, Top, Save,
              Search, PipeCall, Join, Lookup, UnionOf, MvExpand, Sequence]


# ---------------------------------------------------------------- statements
@dataclass
class Table:
    name: str
    pos: Pos = NOPOS


@dataclass
class Pipeline:
    source: Union[Table, Search, PipeCall, UnionOf, DataTable, ExternalData, Sequence]
    stages: list[Stage]
    pos: Pos = NOPOS


@dataclass
class Let:
    name: str
    value: Union[Expr, Pipeline]
    pos: Pos = NOPOS


Statement = Union[Let, Pipeline]


def walk(node):
    """Every AST node below (and including) node, depth first."""
    if isinstance(node, list):
        for x in node:
            yield from walk(x)
    elif isinstance(node, dict):
        for x in node.values():
            yield from walk(x)
    elif hasattr(node, "__dataclass_fields__"):
        yield node
        for name in node.__dataclass_fields__:
            if name != "pos":
                yield from walk(getattr(node, name))


def field_names(node) -> set[str]:
    """Names of every field an expression (or any AST node) reads."""
    return {n.name for n in walk(node) if isinstance(n, Field)} | _member_fields(node)


# ---- funcs: columns read by name
def _member_fields(node) -> set[str]:
    """The columns a dynamic member may read (raw.AdditionalFields.Foo reads the column
    raw.AdditionalFields: every dotted prefix), and those column_ifexists("name", …) names."""
    out = set()
    for n in walk(node):
        if isinstance(n, Field) and "." in n.name:
            parts = n.name.split(".")
            out |= {".".join(parts[:i]) for i in range(1, len(parts))}
        elif isinstance(n, Call) and n.name == "column_ifexists" and n.args and \
                isinstance(n.args[0], Lit) and n.args[0].kind == "str":
            out.add(n.args[0].value)
    return out
