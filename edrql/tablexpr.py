"""Tables written in the query: ``datatable(…)[…]``, ``externaldata(…)["file"]`` (a local
file only — edrql never reads the network), and ``x in (T)`` / ``x in (T | project c)``,
whose right side is a table's single column.
"""
from __future__ import annotations

import dataclasses
import os

import pyarrow as pa
import pyarrow.compute as pc

from . import ast as A
from .errors import QueryError
from .expr import Evaluator
from .fnlib.textcast import as_text
from .joinplan import check_paths, kql_type, table_of_in
from .names import resolve_column
from .schema import TS

SOURCES = (A.DataTable, A.ExternalData)


def run_source(src, ctx) -> tuple[pa.Table, list[str]]:
    if isinstance(src, A.DataTable):
        return datatable(src, ctx), []
    return externaldata(src)


# ---------------------------------------------------------------- datatable
def datatable(src: A.DataTable, ctx) -> pa.Table:
    n = len(src.columns)
    if len(src.values) % n:
        raise QueryError(f"datatable has {n} column(s) but {len(src.values)} value(s): not a "
                         "whole number of rows", src.pos, "write one value per column for each row")
    ev = Evaluator(pa.table({"_": pa.array([0])}), ctx.scope)
    cols = {}
    for j, d in enumerate(src.columns):
        typ = kql_type(d)
        vals = []
        for v in src.values[j::n]:
            x = ev.eval(v)
            if not isinstance(x, pa.Scalar):
                raise QueryError("datatable values are constants", v.pos, '"text", 12, 1.5, true')
            vals.append(_convert(x, typ, d, v.pos, ctx))
        cols[d.name] = pa.array(vals, typ) if vals else pa.array([], typ)
    return pa.table(cols)


def _convert(x: pa.Scalar, typ: pa.DataType, d: A.ColumnDecl, pos, ctx):
    """One datatable value as the column's type (Python value), or a clear error."""
    if not x.is_valid:
        return None
    if x.type == typ:
        return x.value if pa.types.is_timestamp(typ) or pa.types.is_duration(typ) else x.as_py()
    if pa.types.is_timestamp(typ) and pa.types.is_string(x.type):
        from .compare import time_scalar
        return time_scalar(x.as_py(), ctx.scope.tz, pos).value
    if pa.types.is_string(typ):
        return str(as_text(pa.array([x]))[0].as_py())
    try:
        y = x.cast(typ)
        return y.value if pa.types.is_timestamp(typ) or pa.types.is_duration(typ) else y.as_py()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError):
        raise QueryError(f"datatable column {d.name} is {d.type}: {x.as_py()!r} is not one",
                         pos, f"write a value of type {d.type}, or declare {d.name}:string") from None


# ---------------------------------------------------------------- externaldata
_FORMATS = {"csv": ",", "tsv": "\t", "tsve": "\t", "psv": "|", "txt": None, "json": "json",
            "multijson": "json", "ndjson": "json", "jsonl": "json"}


def externaldata(src: A.ExternalData) -> tuple[pa.Table, list[str]]:
    """A local CSV/TSV/JSON-lines file, columns typed as declared. CSV columns are by
    position (ignoreFirstRecord=true skips a header, as in KQL), JSON fields by name.
    Relative paths are relative to the current directory."""
    check_paths(src)
    opts = {k.lower(): v.value for k, v in src.options.items()}
    known = {"format", "ignorefirstrecord"}
    for k, v in src.options.items():
        if k.lower() not in known:
            raise QueryError(f"externaldata has no option {k}=", v.pos,
                             'with (format="csv", ignoreFirstRecord=true)')
    skip = bool(opts.get("ignorefirstrecord", False))
    tables, notes = [], []
    for path in src.paths:
        fmt = str(opts.get("format") or os.path.splitext(path)[1].lstrip(".") or "csv").lower()
        if fmt not in _FORMATS:
            raise QueryError(f"externaldata: format {fmt!r} is not supported", src.pos,
                             "format=\"csv\", \"tsv\" or \"json\" (one object per line)")
        if not os.path.isfile(path):
            raise QueryError(f"externaldata: no such file: {path}", src.pos,
                             f"paths are relative to the current directory ({os.getcwd()})")
        try:
            raw = _read_json(path, src) if _FORMATS[fmt] == "json" else \
                _read_delimited(path, src, _FORMATS[fmt] or ",", skip)
        except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as e:
            raise QueryError(f"externaldata: cannot read {path}: {str(e).splitlines()[0]}",
                             src.pos, "CSV/TSV with one record per line, or JSON lines") from None
        if not skip and _FORMATS[fmt] != "json" and raw.num_rows and \
                [str(raw.column(i)[0]) for i in range(raw.num_columns)] == \
                [d.name for d in src.columns]:
            notes.append(f"note: the first record of {path} is its header and was read as a row: "
                         "add with (ignoreFirstRecord=true)")
        tables.append(_typed(raw, src))
    return pa.concat_tables(tables), notes


def _read_delimited(path: str, src: A.ExternalData, delim: str, skip: bool) -> pa.Table:
    import pyarrow.csv as pcsv
    names = [d.name for d in src.columns]
    with open(path, "rb") as fh:
        first = fh.readline()
    width = len(first.decode("utf-8", "replace").rstrip("\r\n").split(delim)) if first else len(names)
    extra = [f"__extra{i}" for i in range(max(width - len(names), 0))]
    t = pcsv.read_csv(path, read_options=pcsv.ReadOptions(column_names=names + extra,
                                                          skip_rows=1 if skip else 0),
                      parse_options=pcsv.ParseOptions(delimiter=delim, newlines_in_values=True),
                      convert_options=pcsv.ConvertOptions(
                          column_types={n: pa.string() for n in names + extra},
                          strings_can_be_null=False, quoted_strings_can_be_null=False))
    return t.select(names)


def _read_json(path: str, src: A.ExternalData) -> pa.Table:
    import pyarrow.json as pjson
    t = pjson.read_json(path)
    cols = {}
    for d in src.columns:
        name = resolve_column(d.name, t.column_names)
        cols[d.name] = as_text(t.column(name)) if name is not None else pa.nulls(t.num_rows,
                                                                                  pa.string())
    return pa.table(cols)


def _typed(raw: pa.Table, src: A.ExternalData) -> pa.Table:
    """Text columns as their declared types; a value that is not one becomes null (KQL)."""
    from .fnlib.numtext import as_number
    from .normalize import Ctx, parse_time, to_int
    cols = {}
    for d in src.columns:
        typ, c = kql_type(d), raw.column(d.name).combine_chunks()
        if pa.types.is_string(typ):
            cols[d.name] = c
        elif pa.types.is_integer(typ):
            cols[d.name] = to_int(c)
        elif pa.types.is_floating(typ):
            cols[d.name] = pc.cast(as_number(c), typ, safe=False)
        elif pa.types.is_boolean(typ):
            low = pc.utf8_lower(pc.utf8_trim_whitespace(c))
            cols[d.name] = pc.if_else(pc.equal(low, "true"), True,
                                      pc.if_else(pc.equal(low, "false"), False, None))
        elif pa.types.is_timestamp(typ):
            cols[d.name], _ = parse_time(c, Ctx())
            cols[d.name] = pc.cast(cols[d.name], TS)
        else:                                           # timespan: seconds or d.hh:mm:ss
            cols[d.name] = pa.nulls(len(c), typ)
    return pa.table(cols)


# ---------------------------------------------------------------- x in (table)
def resolve_in(st, table: pa.Table, ctx, run_pipeline):
    """The stage with each ``x in (T)`` / ``x in (T | …)`` replaced by ``x in (v1, v2, …)``:
    the distinct values of the table's single column, so the comparison is the same as
    with a written list (case-insensitive for text; ``in_cs`` for exact)."""
    hits = [n for n in A.walk(st) if isinstance(n, A.InList) and
            table_of_in(n, table.column_names, ctx.lets, ctx.scope.lets) is not None]
    if not hits:
        return st
    values = {}
    for n in hits:
        src = table_of_in(n, table.column_names, ctx.lets, ctx.scope.lets)
        t = run_pipeline(src, ctx).table if isinstance(src, A.Pipeline) else ctx.lets[src]
        if t.num_columns != 1:
            raise QueryError(f"in (…) of a table needs one column; it has {t.num_columns}: "
                             f"{', '.join(t.column_names[:6])}", n.items[0].pos,
                             f"choose one: … | project {t.column_names[0] if t.column_names else 'c'}")
        values[id(n)] = _literals(t.column(0), n.items[0].pos)
    return _rebuild(st, lambda x: dataclasses.replace(x, items=values[id(x)])
                    if id(x) in values else None)


def _literals(col, pos) -> list:
    col = pc.unique(pc.drop_null(col.cast(col.type.value_type) if pa.types.is_dictionary(col.type)
                                 else col))
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        return [A.Lit(v, "str", pos) for v in as_text(col).to_pylist()]
    kind = "int" if pa.types.is_integer(col.type) else "float" if pa.types.is_floating(col.type) \
        else "bool" if pa.types.is_boolean(col.type) else "str"
    if kind == "str":
        col = as_text(col)
    vals = col.to_pylist()
    if not vals:                       # an empty table: in () is false for every row
        return [A.Lit(None, "null", pos)]
    return [A.Lit(v, kind, pos) for v in vals]


def _rebuild(node, fn):
    """A copy of an AST node where fn (given each original node) returns a replacement;
    fn returns None to keep a node (its children are looked at)."""
    out = fn(node) if dataclasses.is_dataclass(node) else None
    if out is not None:
        return out
    if isinstance(node, list):
        return [_rebuild(x, fn) for x in node]
    if isinstance(node, dict):
        return {k: _rebuild(v, fn) for k, v in node.items()}
    if not dataclasses.is_dataclass(node) or isinstance(node, A.Pos):
        return node
    changes = {f.name: _rebuild(getattr(node, f.name), fn) for f in dataclasses.fields(node)
               if f.name != "pos"}
    return dataclasses.replace(node, **changes)
