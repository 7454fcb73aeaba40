"""What the language's registries are made of: the value kinds the checker knows and
the entry types (Function, Aggregation, Operator, Stage) that ``functions`` and the
modules adding to it declare. No implementations here.
"""
from __future__ import annotations

from .records import record as dataclass
from typing import Callable

import pyarrow as pa

# ---------------------------------------------------------------- value kinds
# What the checker (plan.py) knows of a value: one of these names. ANY = not known
# before running (the output of a pipe that does not declare its columns' types).
TEXT, INT, FLOAT, BOOL, TIME, DURATION, DATE, LIST, NULL, ANY = (
    "text", "int", "float", "bool", "time", "duration", "date", "list", "null", "any")
NUMBER = frozenset({INT, FLOAT})
SCALAR = frozenset({TEXT, INT, FLOAT, BOOL, TIME, DURATION, DATE})     # not a list

#: how a kind is named in messages ("sum() needs numbers; raw.bytes is text")
NOUNS = {TEXT: "text", INT: "a number", FLOAT: "a number", BOOL: "a true/false value",
         TIME: "a timestamp", DURATION: "a duration", DATE: "a date",
         LIST: "a list (from values())", NULL: "null", ANY: "a value"}


def kind_of(t: pa.DataType) -> str:
    """The checker's kind of an Arrow type."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    for test, kind in ((pa.types.is_string, TEXT), (pa.types.is_large_string, TEXT),
                       (pa.types.is_integer, INT), (pa.types.is_floating, FLOAT),
                       (pa.types.is_boolean, BOOL), (pa.types.is_timestamp, TIME),
                       (pa.types.is_duration, DURATION), (pa.types.is_date, DATE),
                       (pa.types.is_list, LIST), (pa.types.is_large_list, LIST),
                       (pa.types.is_null, NULL)):
        if test(t):
            return kind
    return ANY


@dataclass(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int
    impl: Callable
    doc: str
    example: str
    #: kinds each argument accepts (the last entry repeats); null is always accepted
    takes: tuple = (SCALAR,)
    #: the result's kind, or "same": the common kind of the arguments from ``same_from``
    returns: str = TEXT
    same_from: int = 0
    #: Arrow type a null argument is given before the call (the last entry repeats)
    null_as: tuple = (pa.string(),)
    #: the checker's own rule, when takes/returns cannot say it (case()): argument kinds →
    #: the kinds whose common kind is the result; raises ValueError(message, index of the
    #: argument at fault or None)
    kinds: Callable | None = None

    def accepts(self, i: int) -> frozenset:
        return self.takes[min(i, len(self.takes) - 1)]

    def null_type(self, i: int):
        return self.null_as[min(i, len(self.null_as) - 1)]


@dataclass(frozen=True)
class Aggregation:
    name: str
    arrow: str | None      # pyarrow hash aggregate, or None for count()
    needs_arg: bool
    doc: str
    example: str
    #: kinds the argument accepts (null always), and the result's kind ("same": the argument's)
    takes: frozenset = SCALAR | {LIST}
    returns: str = INT


@dataclass(frozen=True)
class Operator:
    name: str
    doc: str
    example: str


@dataclass(frozen=True)
class Stage:
    name: str
    syntax: str
    doc: str
    example: str
