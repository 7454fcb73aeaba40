"""JSON exports → raw string columns.

Accepts JSON lines (NDJSON), a stream of concatenated objects, or one array of
objects. Nested objects are flattened to dotted names (``winlog.event_data.Image``);
lists are kept as their JSON text; scalars become text exactly as written
(numbers keep their digits, ``true``/``false``). A record that does not parse
is quarantined with its text.
"""
from __future__ import annotations

import json

import pyarrow as pa

from .base import Input, Quarantined, RawBatch, SourceError, rows_to_table  # noqa: F401
from .evtxread import flatten_record, is_evtx_json
from .text import decode

_decoder = json.JSONDecoder()


def flatten(obj: dict, prefix: str = "", out: dict | None = None) -> dict:
    out = {} if out is None else out
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            if v:
                flatten(v, key + ".", out)
            else:
                out[key] = "{}"
        elif isinstance(v, list):
            out[key] = json.dumps(v, ensure_ascii=False)
        elif v is None:
            out[key] = None
        elif isinstance(v, bool):
            out[key] = "true" if v else "false"
        else:
            out[key] = v if isinstance(v, str) else json.dumps(v)
    return out


def iter_objects(text: str):
    """Yield (record_no, obj or None, raw_text, error) for NDJSON / concatenated / array."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("["):
        try:
            arr = json.loads(stripped)
        except json.JSONDecodeError:
            arr = None
        if isinstance(arr, list):
            for i, o in enumerate(arr, 1):
                yield i, o, None, None
            return
    pos, n, end = 0, 0, len(text)
    while True:
        while pos < end and text[pos] in "\ufeff \t\r\n,":
            pos += 1
        if pos >= end:
            return
        n += 1
        try:
            obj, nxt = _decoder.raw_decode(text, pos)
            yield n, obj, None, None
            pos = nxt
        except json.JSONDecodeError as e:
            eol = text.find("\n", pos)
            eol = end if eol < 0 else eol
            yield n, None, text[pos:eol].rstrip("\r"), f"invalid JSON: {e.msg} at column {e.colno}"
            pos = eol + 1


def read(inp: Input, encoding: str | None = None) -> RawBatch:
    data = inp.read_bytes()
    if not data.strip():
        raise SourceError(f"{inp.name}: empty file ({inp.size} bytes): nothing to ingest")
    dec = decode(data, encoding)
    rows: list[dict] = []
    recs: list[int] = []
    quarantine: list[Quarantined] = []
    n = 0
    for n, obj, raw, err in iter_objects(dec.text):
        if err is not None:
            quarantine.append(Quarantined(n, err, raw))
        elif not isinstance(obj, dict):
            quarantine.append(Quarantined(n, f"JSON value is a {type(obj).__name__}, not an object",
                                          json.dumps(obj, ensure_ascii=False)))
        else:
            rows.append(flatten_record(obj) if is_evtx_json(obj) else flatten(obj))
            recs.append(n)
    return RawBatch(rows_to_table(rows), pa.array(recs, pa.int64()), n, dec.encoding, "json", quarantine)
