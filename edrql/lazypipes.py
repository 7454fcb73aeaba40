"""The pipes of the lineage and network modules (``procs``, ``tree()``, ``children()`` …,
``hostmap``, ``clocks``, ``netcheck()``), named by where they are implemented, so that a
query that uses none of them does not import edrql.lineage_ops, edrql.netops and the
lineage, correlation and numpy key code behind them.

A pipe here is a ``LazyPipe``: calling it imports its module and calls the function. What
the checker, the catalog and the REPL read of a pipe before it runs — ``is_table``,
``table_columns``, ``output_columns``, ``arg_kinds`` — is declared here and answered
without an import; any other attribute comes from the function itself. The functions keep
their own declarations (lineage_ops.py, netops.py: the truth); tests/test_first_contact.py
checks that every declaration here gives the same answer as the function's, so a column
added there and not here fails that test.
"""
from __future__ import annotations

import importlib

#: what the checker reads of a pipe (plan.py, catalog.py, repl/*): answered from the
#: declaration, never by importing the pipe's module
DECLARED = ("is_table", "table_columns", "output_columns", "arg_kinds")

#: lineage.PROCS_COLUMNS: the columns of ``procs`` and of the process pipes' rows
PROCS = ("proc host pid start end name image cmdline user ppid parent parent_start link "
         "candidates seen pname pimage puid first_seen last_seen events parent_note "
         "candidate_procs").split()
#: netops.NETCHECK_COLUMNS
NETCHECK = ("proc name pid host ts vendor event laddr lport raddr rport domain url http_method "
            "http_status outcome source record flow match candidates candidate_names").split()
PIDREUSE = ("host pid lives proc start end last_seen name image children pid_only_wrong link "
            "parent").split()
HOSTMAP = "addr host origin events first last".split()
CLOCKS = "source tuple_matches offset_ns offset spread_s applied".split()


def _table(columns: list[str]) -> dict:
    return {"is_table": True, "table_columns": lambda ctx: list(columns)}


def _rows(columns: list[str]) -> dict:
    return {"output_columns": lambda cols, call: list(columns)}


_NAMES = ("__name__", "__qualname__")


class LazyPipe:
    """A pipe function ``module.attr``, imported on its first call (or on the first read of
    an attribute it does not declare here)."""

    __slots__ = ("name", "module", "attr", "declared", "_fn")

    def __init__(self, name: str, module: str, attr: str, declared: dict):
        assert set(declared) <= set(DECLARED), declared
        self.name, self.module, self.attr, self.declared = name, module, attr, declared
        self._fn = None

    def function(self):
        if self._fn is None:
            self._fn = getattr(importlib.import_module(self.module), self.attr)
        return self._fn

    def __call__(self, *args, **kwargs):
        return self.function()(*args, **kwargs)

    def __getattr__(self, key):           # only for what the slots do not hold
        if key in DECLARED:
            try:
                return self.declared[key]
            except KeyError:
                raise AttributeError(key) from None
        if key in LazyPipe.__slots__ or key.startswith("__") and key not in _NAMES:
            raise AttributeError(key)     # a bare instance (copy, pickle), other protocols
        return getattr(self.function(), key)

    def __repr__(self) -> str:
        return f"<pipe {self.name}: {self.module}.{self.attr}>"


_LINEAGE = "edrql.lineage_ops"
_NET = "edrql.netops"

#: name → (module, function, declarations), in the order the pipes were always listed
PIPES = {
    "procs": (_LINEAGE, "procs_table", _table(PROCS)),
    "tree": (_LINEAGE, "tree", _rows(PROCS + ["depth", "path", "focus"])),
    "children": (_LINEAGE, "children", _rows(PROCS)),
    "descendants": (_LINEAGE, "descendants", _rows(PROCS + ["depth"])),
    "ancestors": (_LINEAGE, "ancestors", _rows(PROCS + ["level", "of"])),
    "pidreuse": (_LINEAGE, "pidreuse", _rows(PIDREUSE)),
    "events": (_LINEAGE, "proc_events", {}),
    "hostmap": (_NET, "hostmap_table", _table(HOSTMAP)),
    "clocks": (_NET, "clocks_table", _table(CLOCKS)),
    "netcheck": (_NET, "netcheck", _rows(NETCHECK)),
}


def pipes() -> dict[str, LazyPipe]:
    """The lineage and network pipes of a query Context (query.make_context)."""
    return {name: LazyPipe(name, module, attr, declared)
            for name, (module, attr, declared) in PIPES.items()}
