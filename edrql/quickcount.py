"""``edrql CASE -c 'events | count'`` answered from the manifest (issue 13, first contact).

A count of the whole events table, with no stage before it, is the sum of the sources'
``rows_stored``: every segment holds exactly its source's stored rows (the manifest's counts
reconcile: ``records_read == rows_stored + quarantined + duplicates``, and ``edrql check``
proves each segment's rows against its entry). Like DuckDB's ``count(*)`` from metadata, the
answer then needs neither pyarrow nor the query machinery: this module imports only the
standard library's json, os and re.

The output is the normal path's, byte for byte, in every format (tests/test_quickcount.py
runs both). Anything this module is not sure of takes the normal path (``answer`` returns
None): another query text, a case of the old layout (format 1, which also prints its
migration note) or of a newer one, an entry without its count, a segment file that is
missing, truncated or not compact (the normal path then says what is wrong), ``-v``,
``--receipt``, ``--now``, the tree formats, or a terminal too narrow for the table.
"""
from __future__ import annotations

import json
import os
import re

#: the one query answered here (the language's whitespace between the words)
QUERY = re.compile(r"[ \t\r\n]*events[ \t\r\n]*\|[ \t\r\n]*count[ \t\r\n]*")
FORMAT = 2                         # store.FORMAT_VERSION: the compact layout (segcodec)
ARROW_MAGIC = b"ARROW1"
#: segcodec.LAYOUT_KEY as the footer's flatbuffer stores a metadata key: length, bytes, NUL
LAYOUT_KEY = b"edrql.layout"
_KEY_IN_FOOTER = len(LAYOUT_KEY).to_bytes(4, "little") + LAYOUT_KEY + b"\x00"
HEADER_PAD = 2                     # render.HEADER_PAD: tabulate's minimum column padding


def answer(a, text: str, fmt: str) -> int | None:
    """Write the answer of ``events | count`` and return the exit status, or None: this
    run takes the normal path. ``a`` is the parsed command line, ``fmt`` its format."""
    if a.verbose or a.receipt or a.now is not None or len(a.paths) != 1 \
            or fmt not in ("table", "csv", "tsv", "json", "ndjson") or not QUERY.fullmatch(text):
        return None
    n = stored_rows(a.paths[0])
    if n is None:
        return None
    tty = a.output is None and _isatty()
    if tty and fmt == "table" and _terminal_width() < max(len("count") + HEADER_PAD, len(str(n))):
        return None                # the table would be cut to fit: render.to_table does that
    data = render_count(n, fmt).encode("utf-8")
    if a.output:
        try:
            with open(a.output, "wb") as fh:
                fh.write(data)
        except OSError:
            return None            # the normal path says why, as it always does
        return 0
    import sys
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


def stored_rows(root: str) -> int | None:
    """The rows of the case's events table from its manifest, or None when the manifest
    cannot tell it for sure (see the module's docstring)."""
    try:
        with open(os.path.join(root, "manifest.json"), encoding="utf-8") as fh:
            m = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(m, dict) or m.get("format") != FORMAT or not isinstance(m.get("sources"), list):
        return None
    total = 0
    for s in m["sources"]:
        if not isinstance(s, dict):
            return None
        rows = s.get("rows_stored", 0 if not s.get("segment") else None)
        if type(rows) is not int or rows < 0:
            return None
        if s.get("segment"):
            if not isinstance(s["segment"], str) or not compact_segment(os.path.join(root, s["segment"])):
                return None
        elif rows:
            return None            # rows without a segment: let the normal path read it
        total += rows
    totals = m.get("totals")
    if isinstance(totals, dict) and "rows" in totals and totals["rows"] != total:
        return None
    return total


def compact_segment(path: str) -> bool:
    """The file is a whole Arrow IPC file (magic at both ends) whose footer carries the
    compact layout's metadata key; two small reads, no Arrow."""
    try:
        with open(path, "rb") as fh:
            if fh.read(6) != ARROW_MAGIC:
                return False
            size = fh.seek(0, os.SEEK_END)
            if size < 22:
                return False
            fh.seek(size - 10)
            tail = fh.read(10)
            footer_len = int.from_bytes(tail[:4], "little", signed=True)
            if tail[4:] != ARROW_MAGIC or not 0 < footer_len <= size - 18:
                return False
            fh.seek(size - 10 - footer_len)
            return _KEY_IN_FOOTER in fh.read(footer_len)
    except OSError:
        return False


def render_count(n: int, fmt: str) -> str:
    """What render.render prints for the one-row table ``count: int64``."""
    if fmt in ("csv", "tsv"):
        return f'"count"\n{n}\n'
    if fmt == "json":
        return json.dumps([{"count": n}], ensure_ascii=False, indent=1) + "\n"
    if fmt == "ndjson":
        return json.dumps({"count": n}, ensure_ascii=False) + "\n"
    width = max(len("count") + HEADER_PAD, len(str(n)))
    return f"count\n{'-' * width}\n{n}\n"


def _isatty() -> bool:
    import sys
    return sys.stdout.isatty()


def _terminal_width() -> int:
    import shutil
    return shutil.get_terminal_size((160, 40)).columns    # render.terminal_width
