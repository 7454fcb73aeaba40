"""``pyarrow.compute`` imported for a one-shot command without its help texts (issue 13: a
one-shot process pays only for what its query touches).

Importing ``pyarrow.compute`` wraps each of Arrow's ~290 compute functions in a Python
function, and gives each wrapper an ``inspect.Signature`` and a docstring scraped from
its options class's numpydoc text (``pyarrow.vendored.docscrape``, which imports pydoc):
~15 of the ~27 ms the import takes, every run, for what only ``help()`` shows.
``import_compute`` imports it with those two helpers stubbed for the import's duration:
the wrappers are the same functions and behave the same (the ``options`` and keyword
arguments are handled by the wrapper itself, not its signature); only their ``__doc__``
lacks the parameter list and their ``__signature__`` is unset (``inspect.signature`` then
reads the wrapper's own ``*args, memory_pool=None, options=None, **kwargs``).

Only the command line's one-shot queries use it (cli); the REPL, the Python API and the
tests import ``pyarrow.compute`` as it is. Anything unexpected (another pyarrow whose
import needs more of them) restores what was stubbed and imports the module as usual.
"""
from __future__ import annotations

import sys

_DOCSCRAPE = "pyarrow.vendored.docscrape"


class _NoParameters:
    """What ``inspect.signature(options_class)`` is asked for: its parameters (none)."""
    parameters: dict = {}


class _Parameter:
    """Stands for ``inspect.Parameter`` while the wrappers are made: its kinds, and nothing."""
    POSITIONAL_ONLY = POSITIONAL_OR_KEYWORD = VAR_POSITIONAL = KEYWORD_ONLY = VAR_KEYWORD = 0

    def __new__(cls, *args, **kwargs):
        return None


class _NoDoc(dict):
    """Stands for ``docscrape.NumpyDocString``: a docstring without parameters."""

    def __init__(self, doc=None):
        super().__init__(Parameters=[])


def _stub_module():
    import types
    m = types.ModuleType(_DOCSCRAPE)
    m.NumpyDocString = _NoDoc
    return m


def import_compute() -> None:
    """Import ``pyarrow.compute`` (if no one has yet) without building its help texts."""
    if "pyarrow.compute" in sys.modules:
        return
    import inspect

    import pyarrow.vendored
    saved = inspect.signature, inspect.Signature, inspect.Parameter
    had_docscrape = _DOCSCRAPE in sys.modules
    if not had_docscrape:
        sys.modules[_DOCSCRAPE] = _stub_module()
    inspect.signature = lambda obj, *a, **k: _NoParameters
    inspect.Signature = lambda *a, **k: None
    inspect.Parameter = _Parameter
    try:
        import pyarrow.compute  # noqa: F401
    except Exception:           # not the pyarrow this was written for: the usual way
        sys.modules.pop("pyarrow.compute", None)
    finally:
        inspect.signature, inspect.Signature, inspect.Parameter = saved
        if not had_docscrape:
            sys.modules.pop(_DOCSCRAPE, None)
            if isinstance(getattr(pyarrow.vendored, "docscrape", None), type(sys)) and \
                    getattr(pyarrow.vendored.docscrape, "NumpyDocString", None) is _NoDoc:
                del pyarrow.vendored.docscrape
    if "pyarrow.compute" not in sys.modules:
        import pyarrow.compute  # noqa: F401,F811
