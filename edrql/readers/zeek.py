"""Zeek ASCII (TSV) logs → raw columns, vectorized per header block.

A Zeek log starts with directives::

    #separator \\x09
    #set_separator  ,
    #empty_field    (empty)
    #unset_field    -
    #path   http
    #open   2023-08-16-01-28-55
    #fields ts  uid id.orig_h ...
    #types  time    string  addr ...
    <data lines>
    #close  2023-08-16-01-28-55

The field list is per file (read ``#fields``, never assume one) and a
concatenation of logs repeats the header: every data line uses the most recent
``#fields`` (and separators). Raw columns carry the field names as written
(``id.orig_h``), plus ``_path`` from ``#path`` (Zeek's own name for it in JSON
streams), so the stored rows say which log they came from.

Values: Zeek's escapes are decoded (``\\x09`` → tab, ``\\\\`` → ``\\``); the unset
marker (``-``) becomes null and the empty marker (``(empty)``: empty string,
set or vector) an empty string, so a literal ``-`` value (written ``\\x2d``)
stays distinct from "unset". Sets and vectors keep Zeek's set-separator join
(``a,b``). ``record`` is the line number in the file; directive lines are not
records. A data line with the wrong number of fields, or before any
``#fields``, is quarantined with its text.
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import Input, Quarantined, RawBatch
from .text import KEEP_BYTES, decode
from .csvread import unique_names

_ESC = re.compile(r"\\x([0-9a-fA-F]{2})|\\\\")


def unescape(text: str) -> str:
    """Zeek escapes (``\\xHH`` bytes, ``\\\\``) → text; byte runs are decoded as UTF-8
    (a byte that is not UTF-8 is kept as U+10FF00+b)."""
    if "\\" not in text:
        return text
    out = bytearray()
    pos = 0
    for m in _ESC.finditer(text):
        out += text[pos:m.start()].encode("utf-8", errors="surrogateescape")
        out += bytes([int(m.group(1), 16)]) if m.group(1) else b"\\"
        pos = m.end()
    out += text[pos:].encode("utf-8", errors="surrogateescape")
    return out.decode("utf-8", errors=KEEP_BYTES)  # a non-UTF-8 byte: U+10FF00+b


def _directive_value(line: str, sep: str) -> str:
    """The value of ``#name<sep>value`` (``#separator`` always uses a space)."""
    body = line[1:]
    if body.startswith("separator "):
        return body[len("separator "):]
    parts = body.split(sep, 1)
    return parts[1] if len(parts) > 1 else ""


class _Block:
    def __init__(self, start: int, header: dict, fields: list[str]):
        self.start = start          # index of the #fields line
        self.header = dict(header)
        self.fields = fields
        self.end = None             # index of the next #fields line (exclusive)


def split_lines(text: str) -> pa.Array:
    """Text → one string per line (``\r\n``/``\n`` removed; no empty last line), built
    from newline positions over the bytes: no per-line Python work, no copy of the text."""
    data = text.encode("utf-8", errors="surrogateescape")
    if len(data) >= 2**31 - 1:
        lines = pc.split_pattern(pa.array([text], pa.large_string()), "\n")[0].values.cast(pa.string())
        if len(lines) and lines[len(lines) - 1].as_py() == "":
            lines = lines.slice(0, len(lines) - 1)
        return pc.utf8_rtrim(lines, characters="\r")
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10) + 1
    offsets = np.concatenate([[0], ends, [len(buf)] if (not len(ends) or ends[-1] != len(buf)) else []])
    offsets = offsets.astype(np.int32)
    lines = pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))
    return pc.utf8_rtrim(lines, characters="\r\n")


def log_lines(inp: Input, encoding: str | None = None):
    """(decoded text, lines, is_directive mask, is_data mask) of a line-oriented log whose
    directives start with ``#`` (Zeek, W3C); blank lines are neither."""
    dec = decode(inp.read_bytes(), encoding)
    lines = split_lines(dec.text)
    is_dir = pc.fill_null(pc.starts_with(lines, "#"), False).to_numpy(zero_copy_only=False)
    blank = pc.fill_null(pc.match_substring_regex(lines, r"^\s*$"), False).to_numpy(zero_copy_only=False)
    return dec, lines, is_dir, ~is_dir & ~blank


def read(inp: Input, encoding: str | None = None) -> RawBatch:
    dec, lines, is_dir, is_data = log_lines(inp, encoding)
    n_lines = len(lines)

    # ---- header directives (few lines: plain Python)
    header = {"separator": "\t", "set_separator": ",", "empty_field": "(empty)", "unset_field": "-"}
    blocks: list[_Block] = []
    notes: list[str] = []
    paths: list[str] = []
    for i in np.flatnonzero(is_dir):
        line = lines[int(i)].as_py()
        name = line[1:].split(None, 1)[0] if len(line) > 1 else ""
        sep = header["separator"]
        if name == "separator":
            header["separator"] = unescape(_directive_value(line, sep).strip()) or "\t"
        elif name in ("set_separator", "empty_field", "unset_field", "path", "open", "close", "types"):
            header[name] = _directive_value(line, sep)
            if name == "path" and header[name] not in paths:
                paths.append(header[name])
        elif name == "fields":
            if blocks:
                blocks[-1].end = int(i)
            blocks.append(_Block(int(i), header, _directive_value(line, sep).split(sep)))
    if blocks:
        blocks[-1].end = n_lines

    record_no = np.arange(1, n_lines + 1, dtype=np.int64)
    quarantine: list[Quarantined] = []
    tables: list[pa.Table] = []
    recs: list[np.ndarray] = []

    first_fields = blocks[0].start if blocks else n_lines
    orphan = np.flatnonzero(is_data[:first_fields])
    for i in orphan:
        quarantine.append(Quarantined(int(record_no[i]), "data line before any #fields header",
                                      lines[int(i)].as_py()))

    for b in blocks:
        idx = np.flatnonzero(is_data[b.start:b.end]) + b.start
        blk = _rows_of(lines, idx)
        t, ok = _split_block(blk, b)
        bad = np.flatnonzero(~ok)
        for j in bad:
            got = len(blk[int(j)].as_py().split(b.header["separator"]))
            quarantine.append(Quarantined(int(record_no[idx[j]]),
                                          f"expected {len(b.fields)} fields, found {got}",
                                          blk[int(j)].as_py()))
        tables.append(t)  # kept even when empty: its columns name the log
        recs.append(record_no[idx[ok]])

    table = _union(tables)
    records = np.concatenate(recs) if recs else np.array([], dtype=np.int64)
    n_read = int(is_data.sum())
    if quarantine:
        quarantine.sort(key=lambda q: q.record)
    notes.append("record = line number (directive lines are not records)")
    if paths:
        notes.append("zeek log path: " + ", ".join(paths))
    return RawBatch(table, pa.array(records, pa.int64()), n_read, dec.encoding, "zeek",
                    quarantine, notes)


def _rows_of(lines: pa.Array, idx: np.ndarray) -> pa.Array:
    """The lines at ``idx``: a zero-copy slice when they are contiguous (the usual case)."""
    if len(idx) and idx[-1] - idx[0] + 1 == len(idx):
        return lines.slice(int(idx[0]), len(idx))
    return lines.take(pa.array(idx, pa.int64()))


def _split_block(blk: pa.Array, b: _Block) -> tuple[pa.Table, np.ndarray]:
    sep = b.header["separator"]
    parts = pc.split_pattern(blk, sep)
    ok = pc.equal(pc.list_value_length(parts), len(b.fields)).to_numpy(zero_copy_only=False) \
        if len(blk) else np.zeros(0, dtype=bool)
    good = parts.filter(pa.array(ok))
    unset, empty = b.header["unset_field"], b.header["empty_field"]
    names = unique_names(b.fields)
    cols = {}
    n = len(good)
    for k, name in enumerate(names):
        v = pc.list_element(good, k) if n else pa.array([], pa.string())
        v = v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v
        v = pc.if_else(pc.equal(v, unset), pa.scalar(None, pa.string()), v)
        v = pc.if_else(pc.equal(v, empty), pa.scalar("", pa.string()), v)
        cols[name] = _unescape_array(v)
    path = b.header.get("path")
    if path is not None and "_path" not in cols:
        cols["_path"] = pa.repeat(pa.scalar(path, pa.string()), n)
    return pa.table(cols), ok


def _unescape_array(v: pa.Array) -> pa.Array:
    if not len(v):
        return v
    has = pc.fill_null(pc.match_substring(v, "\\"), False)
    if not pc.any(has).as_py():
        return v
    vals = v.to_pylist()
    for i in np.flatnonzero(has.to_numpy(zero_copy_only=False)):
        vals[i] = unescape(vals[i])
    return pa.array(vals, pa.string())


def _union(tables: list[pa.Table]) -> pa.Table:
    if not tables:
        return pa.table({})
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="default")
