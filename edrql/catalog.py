"""The table catalog: one declaration per table a query may start from.

Each entry names the table, says what it holds (docs, ``.tables``, help), how its rows
are produced from the case (``build``), its columns and their kinds from schemas alone
where that is possible (``columns``: the checker runs before any row is read) and a
short completion hint. The executor (``Context.table``), the checker
(``plan.table_columns``), ``functions.tables_doc``, the REPL's completion and dot
commands and the docs test all read this one list.

Tables that pipe modules produce (``procs``, ``hostmap``, ``clocks``) are built through
the context's pipes (``ctx.pipes[name]``) and the proxy attribution of ``network``, ``dns``
and ``http`` through ``ctx.attributed``, so this module imports neither the executor nor
the modules that import it.
"""
from __future__ import annotations

from .records import record as dataclass
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc

from . import devschema
from .fnspec import ANY, kind_of
from .names import resolve_column
from .segcodec import on_values


@dataclass(frozen=True)
class TableSpec:
    name: str
    doc: str
    #: ctx -> pa.Table (the rows)
    build: Callable
    #: ctx -> {column: kind} (or a list of names: kinds unknown), from schemas only
    columns: Callable
    #: ctx -> pa.Schema without reading rows, or None when only the built table knows it
    schema: Callable = lambda ctx: None
    #: a few words for the completion menu
    hint: str = ""
    #: built by the context's pipe of that name (lineage, network modules)
    via_pipe: bool = False
    #: build takes the columns a pipeline reads (ctx, needed) and may build only those
    prunable: bool = False


def schema_kinds(schema: pa.Schema) -> dict[str, str]:
    """name → kind of each column (a new dict; the kinds of the schema the checker was
    last asked for are kept: the events tables share one, the Device* ones are fixed)."""
    hit = _KINDS.get(id(schema))
    if hit is None or hit[0] is not schema:
        kinds = _TYPE_KINDS
        hit = _KINDS[id(schema)] = (schema, {f.name: kinds.get(f.type) or _type_kind(f.type)
                                             for f in schema})
        if len(_KINDS) > 64:
            _KINDS.clear()
            _KINDS[id(schema)] = hit
    return dict(hit[1])


_KINDS: dict = {}
_TYPE_KINDS: dict = {}      # Arrow type → kind: the few types a case has, each worked out once


def _type_kind(t: pa.DataType) -> str:
    kind = _TYPE_KINDS[t] = kind_of(t)
    return kind
_DEVICE_SCHEMAS: dict = {}


def _device_schema(name: str) -> pa.Schema:
    """A Device* table's schema (devschema.schema), made once."""
    if name not in _DEVICE_SCHEMAS:
        _DEVICE_SCHEMAS[name] = devschema.schema(name)
    return _DEVICE_SCHEMAS[name]


def _events_schema(ctx) -> pa.Schema:
    case = ctx.case
    return case.events_schema() if hasattr(case, "events_schema") else case.events.schema


def _quarantine_schema(ctx) -> pa.Schema:
    case = ctx.case
    return case.quarantine_schema() if hasattr(case, "quarantine_schema") else case.quarantine.schema


def events_of(ctx, needed: set | None, also: tuple = ()) -> pa.Table:
    """The case's events with (at least) the columns a pipeline reads (``needed``, None:
    all) and ``also``: a compact case decodes only those (Case.events_of)."""
    case = ctx.case
    if needed is None or not hasattr(case, "events_of"):
        return case.events
    names = case.events_schema().names
    lower = {n.lower() for n in needed}
    named = {resolve_column(n, names) for n in needed}      # as execute._prune keeps them
    return case.events_of({c for c in names if c in needed or c.lower() in lower or c in named}
                          | set(also))


def _event_filter(mask_of: Callable, attributed: bool = False) -> Callable:
    def build(ctx, needed=None):
        if attributed:
            needed = None               # the attribution reads the rows whole
        ev = events_of(ctx, needed, ("event",))
        mask = pc.fill_null(mask_of(ev), False)
        if attributed and hasattr(ctx.case, "correlation") and hasattr(ctx, "attributed"):
            return ctx.attributed(build.table_name, mask)      # proxy rows get their process
        return ev.filter(mask)
    return build


def _net_columns(ctx) -> dict:
    return dict(schema_kinds(_events_schema(ctx)), proc=ANY, match=ANY)


def _pipe_table(name: str) -> Callable:
    return lambda ctx: ctx.pipes[name](ctx, None, None)


def _pipe_columns(name: str) -> Callable:
    def columns(ctx):
        fn = ctx.pipes.get(name)
        cols = getattr(fn, "table_columns", None)
        return {c: ANY for c in cols(ctx)} if cols is not None else {}
    return columns


def _events_table(name: str, doc: str, mask_of: Callable | None, hint: str,
                  attributed: bool = False) -> TableSpec:
    if mask_of is None:
        build = events_of
    else:
        build = _event_filter(mask_of, attributed)
        build.table_name = name
    return TableSpec(name, doc, build, _net_columns if attributed else
                     (lambda ctx: schema_kinds(_events_schema(ctx))),
                     _net_schema if attributed else _events_schema, hint,
                     prunable=not attributed)


def _net_schema(ctx) -> pa.Schema:
    """The events' columns and the attribution's (``proc``, ``match``)."""
    return _events_schema(ctx).append(pa.field("proc", pa.string())) \
        .append(pa.field("match", pa.string()))


_NET = pa.array(["network_connect", "network_accept"])

TABLES: dict[str, TableSpec] = {t.name: t for t in [
    _events_table("events", "every ingested event (normalized + raw.* columns)", None,
                  "all events"),
    _events_table("files", "file events (event starts with file_)",
                  lambda t: on_values(pc.starts_with, t["event"], "file_"), "file events"),
    _events_table("registry", "registry events",
                  lambda t: on_values(pc.starts_with, t["event"], "registry_"), "registry events"),
    _events_table("network", "network_connect and network_accept events",
                  lambda t: pc.is_in(t["event"], value_set=_NET), "network events", True),
    _events_table("dns", "dns_query events", lambda t: pc.equal(t["event"], "dns_query"),
                  "DNS queries", True),
    _events_table("http", "http events (proxy logs, Defender HTTP inspection)",
                  lambda t: pc.equal(t["event"], "http"), "HTTP requests", True),
    TableSpec("quarantine", "records that could not be parsed or normalized, with the reason "
              "and raw text", lambda ctx: ctx.case.quarantine,
              lambda ctx: schema_kinds(_quarantine_schema(ctx)),
              _quarantine_schema, "unparsed records"),
    TableSpec("procs", "process instances rebuilt from every event, with parent links and "
              "their trust", _pipe_table("procs"), _pipe_columns("procs"), hint="processes",
              via_pipe=True),
    TableSpec("hostmap", "address → host map learned from the EDR's local addresses (and a "
              "user map), with where each entry came from", _pipe_table("hostmap"),
              _pipe_columns("hostmap"), hint="address → host", via_pipe=True),
    TableSpec("clocks", "per proxy/network-sensor source: the clock offset to the EDR "
              "estimated from exact 5-tuple matches, and whether it was applied",
              _pipe_table("clocks"), _pipe_columns("clocks"), hint="proxy clock offsets",
              via_pipe=True),
] + [TableSpec(name, spec.doc,
               (lambda ctx, needed=None, n=name: _device_table(ctx, n, needed)),
               (lambda ctx, n=name: schema_kinds(_device_schema(n))),
               (lambda ctx, n=name: _device_schema(n)), spec.hint, prunable=True)
     for name, spec in devschema.TABLES.items()]}


def _device_table(ctx, name: str, needed: set | None) -> pa.Table:
    """A Device* table's rows: edrql.devtables (and the normalize and lineage code it
    uses) loads when one is read; the checker needs only the declarations (devschema)."""
    from . import devtables
    return devtables.table(ctx.case, name, needed, getattr(ctx, "memo", None),
                           getattr(ctx, "encoding", None))


def docs() -> dict[str, str]:
    """name → one-line description, in catalog order."""
    return {n: t.doc for n, t in TABLES.items()}


def pipe_tables(ctx) -> dict[str, Callable]:
    """Tables that pipes add beyond the catalog (``fn.is_table``)."""
    return {n: fn for n, fn in getattr(ctx, "pipes", {}).items()
            if getattr(fn, "is_table", False) and n not in TABLES}


def names(ctx=None) -> list[str]:
    """Every table name a query may start from: the catalog's, then pipe tables, then lets."""
    out = list(TABLES)
    if ctx is not None:
        out += list(pipe_tables(ctx)) + [n for n in getattr(ctx, "lets", {}) if n not in out]
    return out


def available(ctx, spec: TableSpec) -> bool:
    """A table built by a pipe exists where the context has that pipe."""
    return not spec.via_pipe or spec.name in getattr(ctx, "pipes", {})


def build(ctx, name: str, needed: set | None = None) -> pa.Table | None:
    """The rows of a catalog or pipe table (None: no such table; lets are the caller's).
    ``needed``: the columns the pipeline reads (None: all); a prunable table builds only
    those (it has at least those; others may be left out)."""
    spec = TABLES.get(name)
    if spec is not None:
        if not available(ctx, spec):
            return None
        return spec.build(ctx, needed) if spec.prunable else spec.build(ctx)
    fn = pipe_tables(ctx).get(name)
    return fn(ctx, None, None) if fn is not None else None


def columns(ctx) -> dict[str, dict[str, str]]:
    """Columns (name → kind) of every table, from schemas only (no rows are read)."""
    out = {}
    for name, spec in TABLES.items():
        if not available(ctx, spec):
            continue
        cols = spec.columns(ctx)
        out[name] = {c: ANY for c in cols} if isinstance(cols, list) else cols
    for name, fn in pipe_tables(ctx).items():
        cols = getattr(fn, "table_columns", None)
        if cols is not None:
            out[name] = {c: ANY for c in cols(ctx)}
    for name, t in ctx.lets.items():
        out[name] = schema_kinds(t.schema)
    return out
