"""CSV/TSV exports → raw string columns.

Fast path: pyarrow's multi-threaded CSV parser (RFC 4180 quoting, newlines in
quoted cells) with every column read as text. If the file is not UTF-8, or a
record has the wrong number of fields, the file is re-read with Python's csv
module so that every record keeps its exact record number and a bad record is
quarantined with its text and the reason.
"""
from __future__ import annotations

import csv
import io
import itertools
import sys
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from .base import Input, Quarantined, RawBatch, SourceError
from .text import bom_encoding, decode

csv.field_size_limit(sys.maxsize)

DELIMITERS = [",", "\t", ";", "|"]


def sniff_delimiter(line: str) -> str:
    counts = {d: _count_outside_quotes(line, d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _count_outside_quotes(line: str, ch: str) -> int:
    n, inq = 0, False
    for c in line:
        if c == '"':
            inq = not inq
        elif c == ch and not inq:
            n += 1
    return n


def unique_names(names: list[str]) -> list[str]:
    """Header names made unique and non-empty (``col3``, ``Name_2``), order kept."""
    seen: dict[str, int] = {}
    out = []
    for i, n in enumerate(names):
        n = n.strip() or f"col{i + 1}"
        if n in seen:
            seen[n] += 1
            n = f"{n}_{seen[n]}"
        else:
            seen[n] = 1
        out.append(n)
    return out


def header_info(text_head: str) -> tuple[int, str, list[str]]:
    """(lines to skip before the header, delimiter, column names)."""
    lines = text_head.lstrip("\ufeff").splitlines()
    skip = 0
    if lines and lines[0].startswith("#TYPE"):  # PowerShell Export-Csv type line
        skip = 1
    if len(lines) <= skip:
        return skip, ",", []
    delim = sniff_delimiter(lines[skip])
    names = next(csv.reader([lines[skip]], delimiter=delim))
    return skip, delim, unique_names(names)


def read(inp: Input, encoding: str | None = None) -> RawBatch:
    """The whole source as one batch (the blocks of :func:`stream` joined)."""
    pieces: list[RawBatch] = []
    for piece in stream(inp, encoding, 1 << 20):
        pieces = [] if piece is None else pieces + [piece]
    if len(pieces) == 1:
        return pieces[0]
    first = pieces[0]
    return RawBatch(pa.concat_tables([p.table for p in pieces]),
                    pa.concat_arrays([p.records for p in pieces]),
                    sum(p.records_read for p in pieces), first.encoding, first.fmt)


MAX_BLOCK = (1 << 31) - 1   # pyarrow's block size is an int32
#: pyarrow's streaming reader reads ~40 blocks ahead: small blocks, grouped into batches
READ_BLOCK = 2 << 20


def stream(inp: Input, encoding: str | None = None, block_size: int = 16 << 20) -> Iterator[RawBatch | None]:
    """The source as consecutive batches of about ``block_size`` bytes of CSV each; their
    ``records`` are the record numbers in the whole file and their ``records_read`` add up.

    ``None`` means: forget the batches given so far, the source starts again (a record
    larger than a block, or a bad record / non-UTF-8 bytes found in a later block: the
    file is then read once more, whole, on the Python path, which keeps exact record
    numbers and quarantines the bad records, as a one-block read does)."""
    head = inp.head(1 << 16)
    if not head.strip(b"\r\n\t \x00"):
        raise SourceError(f"{inp.name}: empty file ({inp.size} bytes): nothing to ingest")
    bom = bom_encoding(head)
    if encoding is None and bom in (None, "utf-8-sig"):
        fast = yield from _stream_fast(inp, head, bom, block_size)
        if fast:
            return
    data = inp.read_bytes()
    dec = decode(data, encoding)
    del data
    yield _read_python(inp, dec.text, dec.encoding)


def _stream_fast(inp: Input, head: bytes, bom: str | None, block_size: int):
    """pyarrow's parser, from the file (a zip member is read from its extracted file),
    block by block; returns False when the file must go to the Python path.

    A record with the wrong field count or invalid UTF-8 sends the file to the
    Python path (exact record numbers, quarantine); no row handler is installed,
    because pyarrow decodes a bad row's text as UTF-8 before calling it."""
    skip, delim, names = header_info(head.decode("utf-8", errors="replace"))
    if not names:
        return False
    source = inp.local_path()
    block = max(min(block_size, READ_BLOCK), 1 << 10)
    encoding = "utf-8-sig" if bom else "utf-8"
    while True:
        done = 0
        try:
            reader = pcsv.open_csv(
                source,
                read_options=pcsv.ReadOptions(column_names=names, skip_rows=skip + 1, block_size=block),
                parse_options=pcsv.ParseOptions(delimiter=delim, newlines_in_values=True),
                convert_options=pcsv.ConvertOptions(
                    column_types={n: pa.string() for n in names},
                    # an empty unquoted cell is null; a quoted "" stays an empty string
                    strings_can_be_null=True, quoted_strings_can_be_null=False),
            )
            group: list[pa.RecordBatch] = []
            size = 0
            for rb in itertools.chain(reader, [None]):
                if rb is not None and rb.num_rows:
                    group.append(rb)
                    size += rb.nbytes
                if group and (size >= block_size or rb is None):
                    table = pa.Table.from_batches(group)
                    table = table.combine_chunks() if len(group) > 1 else table
                    n = table.num_rows
                    yield RawBatch(table, pa.array(np.arange(done + 1, done + n + 1)), n, encoding, "csv")
                    done += n
                    group, size = [], 0
            if not done:
                yield RawBatch(pa.table({k: pa.array([], pa.string()) for k in names}),
                               pa.array([], pa.int64()), 0, encoding, "csv")
            return True
        except pa.ArrowInvalid as e:
            if done:
                yield None                      # start again
            msg = str(e)
            if "straddling" in msg and block < min(max(inp.size, 1) * 2, MAX_BLOCK):
                block = min(block * 8, MAX_BLOCK)  # a record larger than a block (a 10 MB command line)
                continue
            if "straddling" in msg:
                raise SourceError(f"{inp.name}: a CSV record is larger than {MAX_BLOCK >> 20} MiB "
                                  "(an unterminated quote?): not read") from None
            if "UTF8" in msg or "utf8" in msg.lower() or "columns" in msg:
                return False  # not UTF-8, or a bad record: decide on the Python path
            raise SourceError(f"{inp.name}: CSV parse error: {msg}") from None


def _read_python(inp: Input, text: str, encoding: str) -> RawBatch:
    skip, delim, names = header_info(text[: 1 << 16])
    if not names:
        raise SourceError(f"{inp.name}: no CSV header found")
    body = io.StringIO(text, newline="")
    for _ in range(skip):
        body.readline()
    reader = csv.reader(body, delimiter=delim)
    next(reader)  # header
    cols: list[list] = [[] for _ in names]
    recs: list[int] = []
    quarantine: list[Quarantined] = []
    n = 0
    for row in reader:
        if not row:
            continue  # blank line: not a record
        n += 1
        if len(row) != len(names):
            out = io.StringIO()
            csv.writer(out, delimiter=delim, lineterminator="").writerow(row)
            quarantine.append(Quarantined(
                n, f"expected {len(names)} fields, found {len(row)}", out.getvalue()))
            continue
        recs.append(n)
        for c, v in zip(cols, row):
            c.append(v)
    table = pa.table({k: pa.array(v, pa.string()) for k, v in zip(names, cols)})
    return RawBatch(table, pa.array(recs, pa.int64()), n, encoding, "csv", quarantine)
