"""Render stage: results as a terminal table (tabulate), CSV/TSV, JSON or NDJSON.

* Timestamps print as ISO 8601 UTC at full precision (``…T14:02:11.123456700Z``).
* CSV/TSV are RFC 4180 UTF-8 and Excel-safe by default: a text cell starting with
  ``= + - @``, TAB or CR gets a leading ``'`` (OWASP's advice against formula
  injection); ``--no-csv-escape`` writes cells untouched. JSON is never altered.
* Tables are for a terminal: headers and text cells escaped by :mod:`safetext`
  (``⟨ESC⟩``, ``⟨RLO⟩``, ``⟨LF⟩``, ``⟨x81⟩``…), rows holding a hidden character marked
  ``!`` and counted in a footer, cells fitted to the terminal and cut with ``…``
  (never inside an escape). Exact values are in csv/tsv/json/ndjson.
"""
from __future__ import annotations

import io
import json
import os
import shutil

import pyarrow as pa
import pyarrow.compute as pc

from .outfile import format_for_path
from .safetext import clip, escape_column, hidden_note, term, undecodable

FORMULA_START = r"^[=+\-@\t\r]"


def _texty(t: pa.Table) -> pa.Table:
    """Timestamps → ISO text; dictionaries decoded; lists → JSON-ish text."""
    cols = {}
    for name in t.column_names:
        c = t.column(name)
        if pa.types.is_dictionary(c.type):
            c = c.cast(c.type.value_type)
        if pa.types.is_timestamp(c.type):
            if c.type.tz is None:
                c = c.cast(pa.timestamp(c.type.unit, "UTC"))
            from .timefmt import iso
            c = iso(c)
        elif pa.types.is_duration(c.type):
            c = duration_text(c)
        elif pa.types.is_list(c.type) or pa.types.is_large_list(c.type) or pa.types.is_struct(c.type):
            c = _list_values_texty(c)
            c = pa.array([None if v is None else json.dumps(v, default=str, ensure_ascii=False)
                          for v in c.to_pylist()], pa.string())
        elif pa.types.is_date(c.type):
            c = pc.cast(c, pa.string())
        cols[name] = c
    return pa.table(cols) if cols else t


def duration_text(c) -> pa.Array:
    """Durations as exact seconds (``300s``, ``0.000000001s``, ``-1.5s``), never through a
    float: 9,223,372,036.854775807s is still exact."""
    ns = pc.cast(c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c, pa.int64())
    mag = pc.abs(ns)
    whole = pc.divide(mag, 10**9)                       # integer division on int64
    frac = pc.subtract(mag, pc.multiply(whole, 10**9))
    frac = pc.replace_substring_regex(pc.utf8_lpad(pc.cast(frac, pa.string()), 9, "0"), "0+$", "")
    dot = pc.if_else(pc.equal(pc.utf8_length(frac), 0), "", ".")
    sign = pc.if_else(pc.less(ns, 0), "-", "")
    return pc.binary_join_element_wise(sign, pc.cast(whole, pa.string()), dot, frac, "s", "")


def _list_values_texty(c):
    """A list column whose items are times or durations: the items as text (one level)."""
    if isinstance(c, pa.ChunkedArray):
        c = c.combine_chunks()
    if not (pa.types.is_list(c.type) or pa.types.is_large_list(c.type)):
        return c
    vt = c.type.value_type
    if not (pa.types.is_timestamp(vt) or pa.types.is_duration(vt) or pa.types.is_date(vt)
            or pa.types.is_dictionary(vt)):
        return c
    items = _texty(pa.table({"v": c.values})).column(0).combine_chunks()
    cls = pa.LargeListArray if pa.types.is_large_list(c.type) else pa.ListArray
    return cls.from_arrays(c.offsets, items, mask=c.is_null())


def py_rows(t: pa.Table) -> list[dict]:
    """Rows as Python dicts with timestamps as ISO text (ns precision kept)."""
    return _texty(t).to_pylist()


def neutralize(t: pa.Table) -> pa.Table:
    cols = {}
    for name in t.column_names:
        c = t.column(name)
        if pa.types.is_string(c.type) or pa.types.is_large_string(c.type):
            risky = pc.fill_null(pc.match_substring_regex(c, FORMULA_START), False)
            if pc.any(risky).as_py():
                c = pc.if_else(risky, pc.binary_join_element_wise("'", c, ""), c)
        cols[name] = c
    return pa.table(cols) if cols else t


def to_csv(t: pa.Table, delimiter: str = ",", escape: bool = True) -> bytes:
    t = _texty(t)
    if escape:
        t = neutralize(t)
    buf = io.BytesIO()
    if t.num_columns == 0:
        return b""
    import pyarrow.csv as pcsv          # (csv and tsv output only)
    pcsv.write_csv(t, buf, pcsv.WriteOptions(include_header=True, delimiter=delimiter,
                                             quoting_style="needed"))
    data = buf.getvalue()
    return data


def _json_rows(t: pa.Table) -> list[dict]:
    cols = {}
    for name in t.column_names:
        c = t.column(name)
        if pa.types.is_dictionary(c.type):
            c = c.cast(c.type.value_type)
        if pa.types.is_timestamp(c.type) or pa.types.is_date(c.type) or pa.types.is_duration(c.type):
            c = _texty(pa.table({name: c})).column(0)
        elif pa.types.is_list(c.type) or pa.types.is_large_list(c.type):
            c = _list_values_texty(c)                 # a JSON array of ISO times / durations
        cols[name] = c
    return pa.table(cols).to_pylist() if cols else []


def to_json(t: pa.Table) -> str:
    return json.dumps(_json_rows(t), ensure_ascii=False, indent=1, default=str) + "\n"


def to_ndjson(t: pa.Table) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in _json_rows(t))


def to_table(t: pa.Table, width: int | None = None, max_rows: int | None = 1000) -> str:
    """Rows as an aligned text table, safe to write to a terminal.

    Every text cell and header goes through :func:`safetext.escape_column` (control,
    bidi, zero-width characters and undecodable bytes shown as ``⟨ESC⟩``, ``⟨RLO⟩``,
    ``⟨LF⟩``, ``⟨x81⟩``…); when a row holds such a character a leading ``!`` column
    marks it and a footer line counts those rows. Widths count the escaped text.
    """
    shown = t.slice(0, max_rows) if max_rows is not None else t
    tt = _texty(shown)
    names = [term(n) for n in tt.column_names]
    if not names:
        return "(no columns)"
    cols, flagged, hidden = [], None, []
    for n in tt.column_names:
        c, flag = _cells(tt.column(n))
        if flag is not None and pc.any(flag).as_py():
            flagged = flag if flagged is None else pc.or_(flagged, flag)
            hidden.extend(pc.filter(c, flag).to_pylist())
        cols.append(c.to_pylist())
    if flagged is not None:
        names = ["!"] + names
        cols = [["!" if f else "" for f in flagged.to_pylist()]] + cols
    if width:
        limits = _fit(names, cols, width)
        names = [clip(n, max(lim - HEADER_PAD, 1)) for n, lim in zip(names, limits)]
        cols = [[_trunc(v, lim) for v in col] for col, lim in zip(cols, limits)]
    rows = list(zip(*cols)) if cols else []
    from tabulate import tabulate       # ---- joinperf: only a terminal table needs it (~25 ms)
    out = tabulate(rows, headers=names, tablefmt="simple", disable_numparse=True,
                   missingval="") if rows else "(no rows)  columns: " + ", ".join(names)
    more = t.num_rows - shown.num_rows
    if flagged is not None:
        out += "\n" + hidden_note(pc.sum(pc.cast(flagged, pa.int64())).as_py(), hidden)
    if more > 0:
        out += (f"\n… {more:,} more row(s) not shown ({t.num_rows:,} in all); "
                "for all of them: --format csv -o FILE, or | save \"file.csv\"")
    return out


def _cells(c: pa.ChunkedArray) -> tuple[pa.Array, pa.Array | None]:
    """A column for the table: text escaped (with its flagged-row mask); others as they are."""
    if pa.types.is_binary(c.type) or pa.types.is_large_binary(c.type):
        c = pa.array([None if v is None else _bytes_text(v) for v in c.to_pylist()], pa.string())
    if pa.types.is_string(c.type) or pa.types.is_large_string(c.type):
        return escape_column(c)
    return (c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c), None


def _bytes_text(b: bytes) -> str:
    """Bytes as text, each byte that is not UTF-8 as the undecodable-byte form."""
    s = b.decode("utf-8", "surrogateescape")
    return "".join(undecodable(ord(ch) - 0xDC00) if 0xDC80 <= ord(ch) <= 0xDCFF else ch for ch in s)


def _trunc(v, limit):
    if v is None:
        return None
    return clip(str(v), limit)


HEADER_PAD = 2       # tabulate makes a column at least its header + 2 wide


def _fit(names, cols, width) -> list[int]:
    """Column widths (of the escaped text) that fit ``width``, each at least 8."""
    natural = [max([len(n) + HEADER_PAD] + [len(str(v)) for v in col if v is not None])
               for n, col in zip(names, cols)]
    budget = width - 2 * (len(names) - 1)
    limits = list(natural)
    while sum(limits) > budget and max(limits) > 8:
        i = limits.index(max(limits))
        limits[i] = max(8, limits[i] - max(1, (sum(limits) - budget)))
    return limits


def terminal_width() -> int:
    return shutil.get_terminal_size((160, 40)).columns


def render(t: pa.Table, fmt: str, *, tty: bool = False, escape: bool = True,
           max_rows: int | None = 1000) -> str | bytes:
    if fmt == "csv":
        return to_csv(t, ",", escape)
    if fmt == "tsv":
        return to_csv(t, "\t", escape)
    if fmt == "json":
        return to_json(t)
    if fmt == "ndjson":
        return to_ndjson(t)
    return to_table(t, terminal_width() if tty else None, max_rows) + "\n"


def write_file(t: pa.Table, path: str, fmt: str | None = None, escape: bool = True) -> None:
    fmt = fmt or format_for_path(path)
    if fmt not in ("csv", "tsv", "json", "ndjson", "table"):
        raise ValueError(f"{path}: name a .csv, .tsv, .json, .ndjson/.jsonl or .txt file")
    data = render(t, fmt, escape=escape, max_rows=None)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(data if isinstance(data, bytes) else data.encode("utf-8"))
    os.replace(tmp, path)
