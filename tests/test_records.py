"""edrql.records.record behaves as the standard @dataclass it replaces on the start-up path
(the syntax tree's nodes: tests/test_ast_nodes.py): constructor, defaults and factories,
repr (repr=False fields left out), equality, hashing, frozen instances, dataclasses.replace,
__post_init__, pickling; and the classes converted to it keep their fields."""
from __future__ import annotations

import dataclasses
import pickle
from dataclasses import field
import pytest

from edrql.records import record


def _pair(frozen: bool):
    def body():
        return {"__annotations__": {"a": "int", "b": "str", "c": "list", "d": "Callable"},
                "b": "x", "c": field(default_factory=list), "d": field(default=len, repr=False)}
    mine = record(type("R", (), body()), frozen=frozen)
    std = dataclasses.dataclass(type("R", (), body()), frozen=frozen)
    return mine, std


@pytest.mark.parametrize("frozen", [False, True])
def test_a_record_is_its_standard_dataclass(frozen):
    mine, std = _pair(frozen)
    m, s = mine(1), std(1)
    assert repr(m) == repr(s) == "R(a=1, b='x', c=[])"
    assert m == mine(1) and m != mine(2) and m != s and (m == 1) is False
    assert mine(1, "y", [3]) == mine(a=1, b="y", c=[3]) and mine(1).c is not mine(1).c
    assert [f.name for f in dataclasses.fields(mine)] == ["a", "b", "c", "d"]
    assert dataclasses.is_dataclass(m) and dataclasses.replace(m, b="z") == mine(1, "z")
    with pytest.raises(TypeError):
        mine()
    with pytest.raises(TypeError):
        mine(1, nope=2)
    if frozen:
        with pytest.raises(TypeError):
            hash(m)                                    # a list field: unhashable, as std
        h = mine(1, "x", (), len)
        assert hash(h) == hash(std(1, "x", (), len))
        with pytest.raises(dataclasses.FrozenInstanceError):
            h.a = 2
        with pytest.raises(dataclasses.FrozenInstanceError):
            del h.a
    else:
        with pytest.raises(TypeError):
            hash(m)
        m.a = 5
        assert m.a == 5


def test_post_init_and_pickling():
    @record
    class P:
        a: int
        b: int = 0

        def __post_init__(self):
            self.b = self.a * 2

    assert P(3).b == 6

    from edrql import ast as A
    pos = A.Pos(1, 2, 3, 4)                       # frozen records, as the parse cache keeps them
    node = A.Field("name", pos)
    back = pickle.loads(pickle.dumps(node, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == node and back.pos == pos and hash(back.pos) == hash(pos)
    with pytest.raises(dataclasses.FrozenInstanceError):
        back.pos.line = 9


def test_the_start_up_classes_are_records_with_their_fields():
    from edrql import catalog, errors, fnspec, results
    from edrql.execute import Context
    from edrql.expr import Scope
    f = fnspec.Stage("where", "where X", "keep rows", "events | where x")
    assert f == fnspec.Stage("where", "where X", "keep rows", "events | where x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.name = "x"
    e = errors.ParseError("bad", 1, 2, "a hint", "text")
    assert isinstance(e, Exception) and e.hint == "a hint" and "line 1, column 2: bad" in str(e)
    r = results.Result("t", None)
    assert r.notes == [] and r.kind == "rows" and r.extra == {}
    ctx = Context(case=None)
    assert isinstance(ctx.scope, Scope) and ctx.cancelled() is False and ctx.pipes == {}
    other = dataclasses.replace(ctx, scope=dataclasses.replace(ctx.scope, tz="Asia/Tokyo"))
    assert other.scope.tz == "Asia/Tokyo" and ctx.scope.tz == "UTC"
    spec = catalog.TABLES["events"]
    assert spec.prunable and spec.name == "events" and callable(spec.build)
    assert hash(spec) == hash(dataclasses.replace(spec))
