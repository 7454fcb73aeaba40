"""The syntax tree's nodes (edrql/ast.py) share one __repr__/__eq__ and compile each class's
__init__ on its first use instead of at import; they must behave as the standard dataclasses
they were: same fields, constructor, repr, equality, unhashability, dataclasses.replace."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from edrql import ast as A

ROOT = Path(__file__).resolve().parents[1]
NODES = [c for c in vars(A).values() if isinstance(c, type) and dataclasses.is_dataclass(c)
         and c.__module__ == A.__name__ and c is not A.Pos]


def _standard(cls):
    """The same class made by the standard decorator."""
    fields = [(f.name, f.type, dataclasses.field(default=f.default) if f.default is not
               dataclasses.MISSING else dataclasses.field(default_factory=f.default_factory)
               if f.default_factory is not dataclasses.MISSING else dataclasses.field())
              for f in dataclasses.fields(cls)]
    return dataclasses.make_dataclass(cls.__name__, fields)


def _required(cls):
    return [f for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING]


def test_there_are_nodes_and_pos_is_the_frozen_standard_one():
    assert len(NODES) > 40
    p = A.Pos(1, 2, 3, 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.line = 5
    assert hash(p) == hash(A.Pos(1, 2, 3, 4))


@pytest.mark.parametrize("cls", NODES, ids=lambda c: c.__name__)
def test_every_node_behaves_as_its_standard_dataclass(cls):
    std = _standard(cls)
    args = [f"v{i}" for i, _ in enumerate(_required(cls))]
    mine, theirs = cls(*args), std(*args)
    assert repr(mine).replace(cls.__qualname__, "X", 1) == repr(theirs).replace(std.__qualname__, "X", 1)
    assert mine == cls(*args) and not (mine != cls(*args))
    assert [getattr(mine, f.name) for f in dataclasses.fields(cls)] == \
        [getattr(theirs, f.name) for f in dataclasses.fields(std)]
    with pytest.raises(TypeError):
        hash(mine)
    by_name = cls(**{f.name: a for f, a in zip(_required(cls), args)})
    assert by_name == mine
    for f in dataclasses.fields(cls):              # a factory gives each node its own value
        if f.default_factory is not dataclasses.MISSING:
            assert getattr(cls(*args), f.name) is not getattr(mine, f.name)
    if _required(cls):
        other = dataclasses.replace(mine, **{_required(cls)[0].name: "changed"})
        assert other != mine and getattr(other, _required(cls)[0].name) == "changed"
        with pytest.raises(TypeError):
            cls()
    with pytest.raises(TypeError):
        cls(*args, no_such_field=1)
    assert mine != object() and (mine == 1) is False


def test_nodes_of_different_classes_are_never_equal():
    assert A.Field("x") != A.Param("x")
    assert A.Field("x", A.Pos(1, 1)) != A.Field("x", A.Pos(1, 2))


def test_importing_the_tree_generates_no_method():
    """The import compiles no __init__ (each class's is made on its first node)."""
    script = ("import edrql.ast as A, edrql.records as R, sys; "
              "print(sum(c.__init__ is R._node_init for c in vars(A).values() "
              "if isinstance(c, type) and hasattr(c, '_node_spec')))")
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       cwd=str(ROOT), timeout=60)
    assert p.returncode == 0 and int(p.stdout) == len(NODES), p.stderr
