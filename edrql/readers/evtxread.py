"""Windows event log files (EVTX) → raw string columns.

Records are read with the ``evtx`` package (``PyEvtxParser.records_json``) and
flattened by :func:`flatten_event` to these raw field names:

* ``System.<Name>`` for the System block, ``System.<Elem>.<Attr>`` for its XML
  attributes (``System.EventID``, ``System.Channel``, ``System.Computer``,
  ``System.EventRecordID``, ``System.TimeCreated.SystemTime``,
  ``System.Provider.Name``, ``System.Execution.ProcessID``, ``System.EventID.Qualifiers``);
* EventData fields by their bare name (``Image``, ``CommandLine``, ``NewProcessId``);
* ``UserData.<...>`` (and ``RenderingInfo.<...>``, ``ProcessingErrorData.<...>``, any
  other section) with dotted names;
* the "separate attributes" rendering (``"TimeCreated_attributes": {"SystemTime": ...}``,
  as chainsaw writes it) gives the same names;
* an element's ``#text`` is the element's own value; lists become their JSON text;
  ``true``/``false`` and numbers are text as the library renders them. Only the
  constant event-schema namespace (``Event xmlns=...``) is left out.

The same flattening applies to the evtx library's JSON rendering read from a
JSON file (``{"Event": {"System": ..., "EventData": ...}}``): the JSON reader
calls :func:`is_evtx_json` / :func:`flatten_record` per object.

Accounting. The parser skips what it cannot read: a corrupt chunk raises one
error for the whole chunk, a truncated file silently ends early. The file header
and every chunk header declare which record ids (the EVTX record-header
numbers; ``System.EventRecordID`` inside the XML may differ, e.g. keep the
original numbers in a saved/filtered log) exist, so each record declared but not
rendered is quarantined (reason: the parser's error for its chunk, or the
truncation; raw: ``{"record_id", "chunk", "chunk_offset"}``) and counted:
``records_read == rows + quarantined``. Rows are in record-id order (time order,
also for a wrapped log), and ``records`` numbers all records, read or lost, 1..N
in that order.
"""
from __future__ import annotations

import json
import os
import re
import struct

import pyarrow as pa

from .base import Input, Quarantined, RawBatch, SourceError, rows_to_table, string_table
from .spliced import Spliced

MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
HEADER_BLOCK = 4096
CHUNK_SIZE = 65536
#: A 64 KiB chunk cannot hold more records than this (a record is ≥ 24 bytes):
#: larger declared ranges come from a damaged header and are not trusted.
MAX_PER_CHUNK = (CHUNK_SIZE - 512) // 24

_EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"
#: Python codec names → WHATWG labels the evtx parser knows.
_ANSI_ALIASES = {"cp932": "shift_jis", "ms932": "shift_jis", "latin-1": "windows-1252",
                 "latin1": "windows-1252", "iso-8859-1": "windows-1252", "ascii": "windows-1252",
                 "utf-8-sig": "utf-8", "cp936": "gbk", "cp949": "euc-kr", "cp950": "big5"}
_SEPARATE = "_attributes"   # evtx_dump --separate-json-attributes: "TimeCreated_attributes"
_RANGE = re.compile(r"record IDs (\d+)\s*\.\.\s*(\d+)")
_RECORD_NO = re.compile(r"record number (\d+)")
RECORD_MAGIC = b"\x2a\x2a\x00\x00"
#: Columns of a table with no rendered record: the source is still an EVTX of
#: Windows events (its records are all quarantined), not an "unknown format".
EVTX_COLUMNS = ("System.EventID", "System.Channel", "System.Computer", "System.Provider.Name",
                "System.TimeCreated.SystemTime", "System.EventRecordID")


# ------------------------------------------------------------------ flattening
def is_evtx_json(obj) -> bool:
    """An object shaped like the evtx library's JSON: ``{"Event": {"System": {...}, ...}}``."""
    return (isinstance(obj, dict) and isinstance(obj.get("Event"), dict)
            and isinstance(obj["Event"].get("System"), dict))


def flatten_record(obj: dict) -> dict:
    """Flatten one decoded JSON object; ``Event`` is flattened EVTX-style, any
    sibling keys (rare: wrappers added by a collector) keep dotted names."""
    out: dict = {}
    for k, v in obj.items():
        if k == "Event" and isinstance(v, dict):
            flatten_event(v, out)
        elif k == "Event_attributes" and isinstance(v, dict):  # separate-attributes style
            flatten_event({"#attributes": v}, out)
        else:
            _element(out, k, v)
    return out


def flatten_event(event: dict, out: dict | None = None) -> dict:
    """Flatten the content of an ``Event`` element (see the module docstring)."""
    out = {} if out is None else out
    for section, v in event.items():
        if section == "#attributes":
            for a, av in (v or {}).items():
                if a == "xmlns" and av == _EVENT_NS:
                    continue
                _element(out, f"Event.{a}", av)
        elif section == "#text":
            _put(out, "Event", _scalar(v))
        elif section == "EventData":
            if isinstance(v, dict):
                for k, sub in v.items():
                    if k == "#attributes":
                        for a, av in (sub or {}).items():
                            _element(out, f"EventData.{a}", av)
                    elif k == "#text":
                        _put(out, "EventData", _scalar(sub))
                    else:
                        _element(out, k, sub)
            elif v is not None:
                _put(out, "EventData", _scalar(v))
        else:  # System, UserData, RenderingInfo, ... keep their section name
            _element(out, section, v)
    return out


def _element(out: dict, name: str, v) -> None:
    """One XML element as rendered by evtx: scalar, null, list, or a dict holding
    ``#attributes`` / ``#text`` / child elements."""
    if isinstance(v, dict):
        if not v:
            _put(out, name, None)
            return
        for k, sub in v.items():
            if k == "#attributes":
                for a, av in (sub or {}).items():
                    _element(out, f"{name}.{a}", av)
            elif k.endswith(_SEPARATE) and isinstance(sub, dict):
                for a, av in sub.items():
                    _element(out, f"{name}.{k[:-len(_SEPARATE)]}.{a}", av)
            elif k == "#text":
                _put(out, name, _scalar(sub))
            else:
                _element(out, f"{name}.{k}", sub)
    else:
        _put(out, name, _scalar(v))


def _put(out: dict, key: str, value) -> None:
    if key not in out:
        out[key] = value
        return
    i = 2
    while f"{key}_{i}" in out:
        i += 1
    out[f"{key}_{i}"] = value


def _scalar(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return json.dumps(v)
    return json.dumps(v, ensure_ascii=False)


# ------------------------------------------------------------------ headers
def _file_header(fh) -> dict:
    fh.seek(0)
    h = fh.read(128)
    if len(h) < 8 or h[:8] != MAGIC:
        return {}
    if len(h) < 44:
        return {"short": True}
    next_id = struct.unpack("<Q", h[24:32])[0]
    nchunks = struct.unpack("<H", h[42:44])[0]
    return {"next_id": next_id, "chunks": nchunks}


def _chunk_headers(fh, size: int) -> list[dict]:
    """Every 64 KiB slot after the file header: its declared record-ID range, if
    its chunk header is readable (also a partial chunk at the end of a truncated file)."""
    out = []
    k = 0
    for off in range(HEADER_BLOCK, size, CHUNK_SIZE):
        fh.seek(off)
        h = fh.read(40)
        c = {"index": k, "offset": off, "complete": off + CHUNK_SIZE <= size}
        if len(h) == 40 and h[:8] == CHUNK_MAGIC:
            first, last = struct.unpack("<QQ", h[24:40])
            if first <= last and last - first < MAX_PER_CHUNK:
                c["ids"] = (first, last)
        out.append(c)
        k += 1
    return out


# ------------------------------------------------------------------ truncation
def zero_padded(path: str, size: int, padded: int) -> Spliced:
    """A truncated EVTX read as if its last chunk were complete (zeros after the end).

    The parser needs whole 64 KiB chunks; padding lets it render the records that
    are entirely inside the bytes present. Records cut by the end of the file are
    found by :func:`cut_records` and never kept, even if the parser renders them."""
    return Spliced(path, size, bytes(padded - size))


def padded_size(size: int) -> int:
    """The file size rounded up to a whole number of chunks after the header."""
    body = max(size - HEADER_BLOCK, 0)
    return HEADER_BLOCK + -(-body // CHUNK_SIZE) * CHUNK_SIZE


def cut_records(fh, size: int) -> dict[int, int]:
    """Record id → start offset of each record of the last, partial chunk that the
    end of the file cuts (its header is present but its bytes are not all there)."""
    start = HEADER_BLOCK + (size - HEADER_BLOCK) // CHUNK_SIZE * CHUNK_SIZE
    if start >= size:
        return {}
    out: dict[int, int] = {}
    off = start + 512
    while off + 16 <= size:
        fh.seek(off)
        h = fh.read(16)
        if h[:4] != RECORD_MAGIC:
            break
        rsize, rid = struct.unpack("<IQ", h[4:16])
        if rsize < 24 or off + rsize > size:
            out[rid] = off
            break
        off += rsize
    return out


# ------------------------------------------------------------------ reader
def read(inp: Input, encoding: str | None = None) -> RawBatch:
    path = inp.local_path()          # a zip member: its extracted file
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        return _read(inp, path, fh, size, encoding)


def _read(inp: Input, source, fh, size: int, encoding: str | None) -> RawBatch:
    try:
        from evtx import PyEvtxParser
    except ImportError:
        raise SourceError(f"{inp.name}: reading EVTX needs the 'evtx' package "
                          "(pip install evtx)") from None
    if size == 0:
        raise SourceError(f"{inp.name}: empty file (0 bytes): nothing to ingest")
    hdr = _file_header(fh)
    if not hdr:
        raise SourceError(f"{inp.name}: not an EVTX file (no 'ElfFile' signature)")
    if size < HEADER_BLOCK:
        declared = ""
        if hdr.get("next_id"):
            declared = (f"; its header declares {hdr['chunks']} chunk(s) and records up to "
                        f"record id {hdr['next_id'] - 1}")
        raise SourceError(f"{inp.name}: truncated EVTX: {size} bytes, shorter than the "
                          f"{HEADER_BLOCK}-byte file header{declared}; no record is readable")
    kwargs = {}
    if encoding:  # only the rare ANSI strings in a record use it; EVTX text is UTF-16
        kwargs["ansi_codec"] = _ANSI_ALIASES.get(encoding.lower().replace("_", "-"), encoding)
    padded = padded_size(size)
    if padded != size:   # truncated inside a chunk: read what is whole of it
        source = zero_padded(source, size, padded)
    try:
        return _parse(inp, PyEvtxParser, source, fh, size, hdr, kwargs, encoding)
    finally:
        if isinstance(source, Spliced):
            source.close()


def _parse(inp: Input, PyEvtxParser, source, fh, size: int, hdr: dict, kwargs: dict,
           encoding: str | None) -> RawBatch:
    notes: list[str] = []
    fh.seek(0)
    try:
        parser = PyEvtxParser(source, **kwargs)
    except ValueError as e:
        if not kwargs:
            raise SourceError(f"{inp.name}: EVTX cannot be opened: {e}") from None
        notes.append(f"--encoding {encoding} is not an EVTX ANSI codec ({e}); "
                     "ANSI strings read as windows-1252")
        fh.seek(0)
        parser = _open_parser(inp, PyEvtxParser, source)
    except (OSError, RuntimeError) as e:
        raise SourceError(f"{inp.name}: EVTX cannot be opened: {e}") from None

    rows: list[tuple[int, dict]] = []     # (record id, flat record)
    bad_json: list[tuple[int, str, str]] = []
    errors: list[str] = []
    it = parser.records_json()
    chunks = _chunk_headers(fh, size)
    max_errors = len(chunks) + 16
    while True:
        try:
            rec = next(it)
        except StopIteration:
            break
        except (RuntimeError, OSError, ValueError) as e:  # the parser gave up on a chunk
            errors.append(str(e))
            if len(errors) > max_errors:
                errors.append("parser kept failing; reading stopped")
                break
            continue
        rid = rec.get("event_record_id")
        try:
            obj = json.loads(rec["data"])
        except (ValueError, TypeError) as e:
            bad_json.append((rid, f"evtx rendered invalid JSON: {e}", str(rec.get("data"))))
            continue
        rows.append((rid, flatten_record(obj) if isinstance(obj, dict) else {"Event": _scalar(obj)}))

    cut = cut_records(fh, size)
    if cut:   # rendered from zero padding: not the record as written
        rows = [r for r in rows if r[0] not in cut]
        bad_json = [b for b in bad_json if b[0] not in cut]
    part = chunks[-1] if chunks and not chunks[-1]["complete"] else None
    if part is not None and "ids" in part:
        lo, hi = part["ids"]
        got = sum(1 for rid, _ in rows if rid is not None and lo <= rid <= hi)
        notes.append(f"partial chunk {part['index']} (the file ends at byte {size}): {got} of its "
                     f"{hi - lo + 1} declared record(s) read whole")
    entries = _account(inp, hdr, chunks, size, rows, bad_json, errors, notes, cut)
    # entries: (sort id, "row"|"lost", payload)
    entries.sort(key=lambda e: (e[0] is None, e[0] if e[0] is not None else 0))
    flat_rows, recs, quarantine = [], [], []
    for i, (_rid, kind, payload) in enumerate(entries, 1):
        if kind == "row":
            flat_rows.append(payload)
            recs.append(i)
        else:
            reason, raw = payload
            quarantine.append(Quarantined(i, reason, raw))
    table = rows_to_table(flat_rows) if flat_rows else string_table({c: [] for c in EVTX_COLUMNS})
    return RawBatch(table, pa.array(recs, pa.int64()), len(entries),
                    "utf-16le", "evtx", quarantine, notes)


def _open_parser(inp: Input, cls, source):
    try:
        return cls(source)
    except (OSError, RuntimeError, ValueError) as e:
        raise SourceError(f"{inp.name}: EVTX cannot be opened: {e}") from None


def _account(inp, hdr, chunks, size, rows, bad_json, errors, notes, cut=None) -> list:
    """Rows plus one quarantine entry per record that is declared but was not rendered."""
    entries: list = [(rid, "row", r) for rid, r in rows]
    seen = {rid for rid, _ in rows}
    for rid, reason, raw in bad_json:
        entries.append((rid, "lost", (reason, raw)))
        seen.add(rid)

    err_ranges = []
    for e in errors:
        m = _RANGE.search(e)
        one = _RECORD_NO.search(e)
        err_ranges.append((int(m.group(1)), int(m.group(2))) if m else
                          (int(one.group(1)),) * 2 if one else None)
    used_errors: set[int] = set()
    cut = cut or {}

    def reason_for(rid: int, chunk: dict | None) -> str:
        if chunk is not None and not chunk["complete"]:
            used_errors.update(j for j, rg in enumerate(err_ranges) if rg and rg[0] <= rid <= rg[1])
            if rid in cut:
                return (f"truncated EVTX: the file ends at byte {size}, inside record {rid} "
                        f"(it starts at byte {cut[rid]}, in chunk {chunk['index']})")
        for j, rg in enumerate(err_ranges):
            if rg and rg[0] <= rid <= rg[1]:
                used_errors.add(j)
                return f"EVTX chunk unreadable: {errors[j]}"
        if chunk is not None and not chunk["complete"]:
            return (f"truncated EVTX: the file ends at byte {size}, inside chunk {chunk['index']} "
                    f"(bytes {chunk['offset']}-{chunk['offset'] + CHUNK_SIZE - 1})")
        if chunk is None:
            return (f"truncated EVTX: the file ends at byte {size}; the file header declares "
                    f"records up to record id {hdr.get('next_id', 0) - 1}")
        # a chunk the parser dropped without an error; report an unmatched error if any
        for j, rg in enumerate(err_ranges):
            if rg is None:
                used_errors.add(j)
                return f"EVTX chunk unreadable: {errors[j]}"
        return f"EVTX record declared by chunk {chunk['index']} header but not rendered by the parser"

    def lost(rid: int, chunk: dict | None) -> None:
        raw = {"record_id": rid}
        if chunk is not None:
            raw.update(chunk=chunk["index"], chunk_offset=chunk["offset"])
        entries.append((rid, "lost", (reason_for(rid, chunk), json.dumps(raw))))
        seen.add(rid)

    max_declared = 0
    for c in chunks:
        if "ids" not in c:
            continue
        first, last = c["ids"]
        max_declared = max(max_declared, last)
        for rid in range(first, last + 1):
            if rid not in seen:
                lost(rid, c)

    # damaged chunk headers between two readable ones: record IDs are consecutive
    # across chunks, so the gap between the neighbours' ranges is what they held
    valid = [c for c in chunks if "ids" in c]
    filled: set[int] = set()
    for a, b in zip(valid, valid[1:]):
        damaged = [c for c in chunks if a["index"] < c["index"] < b["index"]]
        gap = b["ids"][0] - a["ids"][1] - 1
        if damaged and 0 < gap <= len(damaged) * MAX_PER_CHUNK:
            where = ", ".join(str(c["index"]) for c in damaged)
            filled.update(c["index"] for c in damaged)
            for rid in range(a["ids"][1] + 1, b["ids"][0]):
                if rid not in seen:
                    entries.append((rid, "lost", (
                        f"EVTX chunk header damaged (chunk {where}): record not readable",
                        json.dumps({"record_id": rid, "chunk": damaged[0]["index"],
                                    "chunk_offset": damaged[0]["offset"]}))))
                    seen.add(rid)

    declared_chunks = hdr.get("chunks", 0)
    expected_size = HEADER_BLOCK + declared_chunks * CHUNK_SIZE
    truncated = size < expected_size or any(not c["complete"] for c in chunks)
    if truncated:
        present = sum(1 for c in chunks if c["complete"])
        notes.append(f"truncated EVTX: {size} bytes; the file header declares {declared_chunks} "
                     f"chunk(s) in use ({expected_size} bytes); {present} complete chunk(s) present")
        last_id = max([max_declared] + [r for r in seen if r is not None])
        next_id = hdr.get("next_id", 0)
        missing_chunks = max(declared_chunks - present, 1)
        if next_id - 1 > last_id and next_id - 1 - last_id <= missing_chunks * MAX_PER_CHUNK:
            for rid in range(last_id + 1, next_id):
                lost(rid, None)
        elif next_id - 1 > last_id:
            notes.append(f"the file header declares records up to record id {next_id - 1}, "
                         f"more than the missing chunks can hold: not counted")
    for c in chunks:
        if (c["index"] < declared_chunks and c["complete"] and "ids" not in c
                and c["index"] not in filled):
            notes.append(f"chunk {c['index']} (in use per the file header) has no valid chunk "
                         f"header: its records, if any, cannot be counted")
    for j, e in enumerate(errors):
        if j not in used_errors and err_ranges[j] is None:
            # an error we could not tie to declared records: count it as one lost record
            entries.append((None, "lost", (f"EVTX chunk unreadable: {e}", "")))
        elif j not in used_errors:
            notes.append(f"parser error for records already counted: {e}")
    return entries
