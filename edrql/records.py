"""``record``: ``@dataclass`` for the classes every command makes at import, built cheaply.

A standard ``@dataclass`` generates, compiles and executes ``__init__``, ``__repr__`` and
``__eq__`` (and for ``frozen=True`` ``__setattr__``, ``__delattr__`` and ``__hash__``) per class
at import: ~0.2-0.4 ms a class, ~15 ms of every command's start for the ~60 classes a
one-shot query's modules declare, most of which it never makes. A ``record`` class is a
dataclass all the same (its fields, ``dataclasses.fields``/``replace``/``is_dataclass`` and
``__dataclass_fields__`` work unchanged; pickles as before), but with one ``__repr__``,
``__eq__`` (and for frozen ones ``__setattr__``/``__delattr__``/``__hash__``) shared by every
class, and each class's ``__init__`` compiled when its first instance is made. They behave
as the generated ones: ``Name(a=…, b=…)``; equal when of the same class with equal fields;
unhashable, or for frozen ones hashed by their fields and read-only
(``dataclasses.FrozenInstanceError``). Fields with ``repr=False`` are left out of the repr.
"""
from __future__ import annotations

from dataclasses import MISSING, FrozenInstanceError
from dataclasses import dataclass as _dataclass


def record(cls=None, *, frozen: bool = False):
    """``@record`` or ``@record(frozen=True)`` on a class written as for ``@dataclass``."""
    if cls is None:
        return lambda c: record(c, frozen=frozen)
    if "__doc__" not in cls.__dict__ or not cls.__doc__:
        cls.__doc__ = cls.__name__        # (dataclasses would call inspect.signature for it)
    cls = _dataclass(cls, init=False, repr=False, eq=False)
    fields = cls.__dataclass_fields__.values()
    cls._node_spec = tuple((f.name, f.default, f.default_factory) for f in fields)
    cls._repr_names = tuple(f.name for f in fields if f.repr)
    cls.__init__, cls.__repr__, cls.__eq__ = _node_init, _node_repr, _node_eq
    if frozen:
        cls.__setattr__, cls.__delattr__, cls.__hash__ = _frozen_set, _frozen_del, _node_hash
        cls.__dataclass_params__.frozen = True      # (dataclasses.replace reads it)
    else:
        cls.__hash__ = None
    cls._frozen = frozen
    return cls


def _node_init(self, *args, **kwargs):
    """The first instance of a class made in this process: compile that class's own
    ``__init__`` (as dataclasses would have at import), install it, and use it."""
    cls = type(self)
    init = _make_init(cls)
    cls.__init__ = init
    init(self, *args, **kwargs)


_FACTORY = object()          # a field's default comes from its default_factory


def _make_init(cls):
    ns, params, body = {"_FACTORY": _FACTORY, "_set": object.__setattr__}, [], []
    for name, default, factory in cls._node_spec:
        if default is not MISSING:
            ns[f"_d_{name}"] = default
            params.append(f"{name}=_d_{name}")
            value = name
        elif factory is not MISSING:
            ns[f"_f_{name}"] = factory
            params.append(f"{name}=_FACTORY")
            value = f"_f_{name}() if {name} is _FACTORY else {name}"
        else:
            params.append(name)
            value = name
        body.append(f"_set(self, {name!r}, {value})" if cls._frozen else f"self.{name} = {value}")
    post = ["self.__post_init__()"] if hasattr(cls, "__post_init__") else []
    src = f"def __init__(self, {', '.join(params)}):\n    " + ("\n    ".join(body + post) or "pass")
    exec(src, ns)
    init = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _node_repr(self):
    return f"{type(self).__qualname__}(" + ", ".join(
        f"{name}={getattr(self, name)!r}" for name in self._repr_names) + ")"


def _values(self) -> tuple:
    return tuple(getattr(self, name) for name, _, _ in self._node_spec)


def _node_eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _node_hash(self):
    return hash(_values(self))


def _frozen_set(self, name, value):
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_del(self, name):
    raise FrozenInstanceError(f"cannot delete field {name!r}")
