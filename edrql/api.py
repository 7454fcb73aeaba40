"""The language from Python (and Jupyter)::

    import edrql
    case = edrql.open("./case")                      # a case folder, or raw export files
    t = case.query('events | where name == $n | take 5', n="cmd.exe")   # a pyarrow.Table
    df = t.to_pandas()                               # when pandas is installed

``case.query`` returns the last statement's table; ``case.run`` returns every shown
result with its notes, search receipts and footer (``QueryResult``). Mistakes raise
``edrql.QueryError`` with ``.line``, ``.column``, ``.hint``; ``str(e)`` is the text the
command line prints (the line, a caret under the token, the hint).

Opening reads a case as the command line does: a case folder is opened read-only (no
writer lock is taken; an ingest running at the same time is not disturbed); export files
(or folders, zips) are ingested once into the cached case ``edrql EXPORT -c`` uses.
"""
from __future__ import annotations

import datetime as _dt
import os
import warnings
from dataclasses import dataclass, field

from . import ast as A
from .errors import QueryError as _QueryError
from .store import CaseError

__all__ = ["open", "Case", "QueryResult", "QueryError", "CaseError"]


class QueryError(_QueryError):
    """A mistake in a query (it does not parse, names something unknown, mixes kinds …).

    ``message``, ``line``, ``column`` (1-based; 0 when the mistake has no place), ``hint``
    and ``query`` (the text run); ``str(e)`` is what ``edrql -c`` prints after ``edrql:``.
    """

    def __init__(self, message: str, pos: A.Pos, hint: str, query: str, text: str):
        super().__init__(message, pos, hint)
        self.query, self._text = query, text

    @property
    def line(self) -> int:
        return self.pos.line

    @property
    def column(self) -> int:
        return self.pos.column

    def __str__(self) -> str:
        return self._text


@dataclass
class QueryResult:
    """One shown result of a script: its table and what the command line prints under it."""
    title: str
    table: object                     # pyarrow.Table
    #: notes (host comparisons, grouping that joined spellings …)
    notes: list = field(default_factory=list)
    #: every line printed under the table: notes, receipts, tree footers, the now() line
    footer: list = field(default_factory=list)
    #: receipts of the searches this result ran (or the lets before it), as dicts
    receipts: list = field(default_factory=list)
    #: the reference time, when now()/ago() were read: {"now": ISO, "source": …, "text": …}
    now: dict | None = None
    kind: str = "rows"

    def to_pandas(self):
        return self.table.to_pandas()

    def __repr__(self) -> str:
        t = self.table
        return f"<QueryResult {self.title!r}: {t.num_rows:,} rows × {t.num_columns} columns>"


def _param_text(name: str, value) -> str:
    """A keyword argument as the text ``--param NAME=VALUE`` would bind."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
            return value.isoformat() + "Z"
        return value.isoformat()
    raise TypeError(f"parameter ${name}: give text, a number, true/false or a datetime, "
                    f"not {type(value).__name__}")


class Case:
    """An opened case. Queries never change it; each ``query``/``run`` is a script of its own
    (``let`` names do not carry over, as with ``edrql -c``)."""

    def __init__(self, store_case, *, tz: str = "UTC", now=None, rejected=None):
        from .reftime import parse_setting
        self._case, self.tz = store_case, tz
        self._now = parse_setting(now, tz)
        #: sources of the cached case that could not be read (raw exports only)
        self.rejected = list(rejected or [])
        #: derived tables built for earlier queries (Device* rows and columns): the case is
        #: opened once and never changes under this object, so every query may share them
        self._memo: dict = {}

    @property
    def root(self) -> str:
        return self._case.root

    @property
    def manifest(self) -> dict:
        return self._case.manifest

    @property
    def store(self):
        """The underlying ``edrql.store.Case`` (events, quarantine, lineage …)."""
        return self._case

    def run(self, text: str, /, *, now=None, **params) -> list[QueryResult]:
        """Every shown result of the script ``text`` ($NAME from the keyword arguments;
        ``now=``: the reference time of now()/ago() for this run)."""
        from .errors import ParseError
        from .execute import footer_lines, pending_receipts, receipts_of
        from .query import execute_text, make_context
        from .reftime import RefTimeError, parse_setting
        try:
            setting = self._now if now is None else parse_setting(now, self.tz)
        except RefTimeError as e:
            raise ValueError(f"now={now!r}: {e}") from None
        bound = {k.lstrip("$"): _param_text(k, v) for k, v in params.items()}
        ctx = make_context(self._case, bound, self.tz, setting, "now=")
        ctx.memo = self._memo
        try:
            results = execute_text(ctx, text)
        except (ParseError, _QueryError) as e:
            raise _public(e, text) from None
        out = []
        for r in results:
            receipts = receipts_of(r)
            out.append(QueryResult(r.title, r.table, list(r.notes), footer_lines(r),
                                   [rc.to_dict() for rc in receipts], r.extra.get("now"), r.kind))
        left = pending_receipts(ctx)
        if left and out:          # searches in lets after the last result: under it
            out[-1].receipts.extend(rc.to_dict() for rc in left)
            out[-1].footer.extend(rc.text() for rc in left)
        return out

    def query(self, text: str, /, *, now=None, **params):
        """The last shown result's table (a ``pyarrow.Table``) of the script ``text``."""
        results = self.run(text, now=now, **params)
        if not results:
            raise QueryError("the script shows no result (it only binds names with let)",
                             A.NOPOS, "end it with a query, e.g. ps | take 10", text,
                             "the script shows no result (it only binds names with let)\n"
                             "hint: end it with a query, e.g. ps | take 10")
        return results[-1].table

    def __repr__(self) -> str:
        t = self.manifest.get("totals", {})
        return (f"<edrql.Case {self.root!r}: {t.get('rows', 0):,} rows, "
                f"{t.get('sources', 0)} source(s), {t.get('first') or '-'} .. {t.get('last') or '-'}>")


def _public(e: Exception, text: str) -> QueryError:
    from .errors import ParseError
    from .query import error_text
    shown = error_text(e, text)
    if isinstance(e, ParseError):
        return QueryError(e.message, A.Pos(e.line, e.column, e.line, e.column + 1), e.hint or "",
                          text, shown)
    return QueryError(e.message, e.pos, e.hint or "", text, shown)


def open(path, *more: str, tz: str | None = None, now=None, mapping: str | None = None,
         encoding: str | None = None, zip_password: str | None = None) -> Case:  # noqa: A001
    """Open a case folder (read-only) or raw export files (ingested once into the cache, as
    ``edrql EXPORT... -c`` does). ``tz``: the zone of zone-less times (ingest and query);
    ``now``: the reference time of now()/ago() (a time, ``"wall"``, or ``"end"``, the
    default: the end of the case's data). Raises ``edrql.CaseError`` when there is nothing
    to open or nothing could be read."""
    from .caseref import resolve
    from .ingest import Options
    from .readers.base import SourceError
    paths = [os.fspath(p) for p in ([path] if isinstance(path, (str, os.PathLike)) else list(path))]
    paths += [os.fspath(p) for p in more]
    if not paths:
        raise CaseError("edrql.open() needs a case folder or export files")
    if tz:
        import zoneinfo
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"tz={tz!r}: unknown time zone (try UTC, Europe/Berlin, Asia/Tokyo)") \
                from None
    opts = Options(tz=tz or "UTC", tz_given=bool(tz), mapping=mapping, encoding=encoding,
                   zip_password=zip_password)
    try:
        store_case, report = resolve(paths, opts)
    except SourceError as e:
        raise CaseError(str(e)) from None
    rejected = list(report.rejected) if report else []
    if rejected and not store_case.manifest.get("sources"):
        raise CaseError("nothing could be read: " + "; ".join(r["reason"] for r in rejected))
    for r in rejected:
        warnings.warn(f"edrql: rejected {r['reason']}", stacklevel=2)
    return Case(store_case, tz=tz or "UTC", now=now, rejected=rejected)
