"""edrql: a local query language and REPL over raw EDR log exports.

From Python (docs/python.md)::

    import edrql
    case = edrql.open("./case")
    table = case.query('events | where name == $n | take 5', n="cmd.exe")   # pyarrow.Table

``import edrql`` loads nothing heavy: the API (and pyarrow) load on first use of
``edrql.open`` or the other names below.
"""

from . import version as _version

__version__ = _version.__version__

#: the Python API's names, loaded from edrql.api on first use (import edrql stays fast)
_API = ("open", "Case", "QueryResult", "QueryError", "CaseError")


def __getattr__(name: str):
    if name in _API:
        from . import api
        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'edrql' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))
