"""Normalize stage: raw vendor text columns → the normalized events schema.

Profiles (``edrql.profiles``) say *which* raw fields mean what; this module holds
the vectorized building blocks they use (coalesce, integers with hex, time
parsing at full nanosecond precision, basenames, lookups) and ``build``, which
assembles the store table: normalized columns, then every raw field as
``raw.<Name>``. Rows that cannot be normalized (no usable timestamp) are
returned for quarantine with the reason — never dropped, never altered.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .schema import COLUMNS, RAW_PREFIX, TS

if TYPE_CHECKING:     # the readers (zip, AES: ~25 ms and a `file` subprocess) load for ingest,
    from .readers.base import Quarantined, RawBatch    # not for a query's time parsing

_ZONED = r"(Z|z|[+-]\d\d:?\d\d|UTC|GMT)$"


@dataclass
class Ctx:
    tz: str = "UTC"            # zone for zone-less times (--tz)
    tz_given: bool = False     # the analyst said --tz explicitly
    notes: list[str] = field(default_factory=list)


@dataclass
class Normalized:
    columns: dict[str, pa.Array]
    tz_decision: str
    errors: pa.Array | None = None   # per-row reason (null = fine)


# ---------------------------------------------------------------- helpers
def nulls(n: int, type_=pa.string()) -> pa.Array:
    return pa.nulls(n, type_)


def blank_to_null(arr):
    """'' and whitespace-only and '-' (a common 'no value' sentinel) become null.

    Cheap when nothing is short: one pass over the offsets decides."""
    if arr.null_count == len(arr):
        return arr
    if pa.types.is_dictionary(arr.type):
        from .segcodec import on_values
        return on_values(blank_to_null, arr)
    lengths = pc.binary_length(arr)
    shortest = pc.min(lengths).as_py()
    if shortest is None or shortest > 2:
        return arr
    idx = pc.indices_nonzero(pc.fill_null(pc.less_equal(lengths, 2), False))
    vals = pc.take(arr, idx)
    bad = pc.fill_null(pc.or_(pc.is_in(vals, value_set=pa.array(["", "-", " -", "- "])),
                              pc.utf8_is_space(vals)), False)
    if not pc.any(bad).as_py():
        return arr
    drop = np.zeros(len(arr), bool)
    drop[pc.filter(idx, bad).to_numpy(zero_copy_only=False)] = True
    return mask_where(arr, pa.array(~drop))


def col(raw: pa.Table, *names: str):
    """First non-blank value among the named raw columns (missing columns are skipped).
    Chunked columns stay chunked: no copies."""
    out = None
    for n in names:
        if n not in raw.column_names:
            continue
        a = blank_to_null(raw.column(n))
        out = a if out is None else pc.coalesce(out, a)
    return out if out is not None else nulls(raw.num_rows)


def envelope_view(raw: pa.Table, prefix: str) -> pa.Table:
    """Look through an envelope that keeps the record under ``prefix`` (``properties.``,
    ``event.``): those fields by their own names, the envelope's as ``envelope.*``."""
    if not any(c.startswith(prefix) for c in raw.column_names):
        return raw
    names = [c.removeprefix(prefix) if c.startswith(prefix) else f"envelope.{c}"
             for c in raw.column_names]
    return raw.rename_columns(names)


def mask_where(arr, cond):
    """arr where cond is true, null elsewhere — zero-copy: only a new validity bitmap."""
    cond = pc.fill_null(cond, False)
    if isinstance(cond, pa.ChunkedArray):
        cond = cond.combine_chunks()
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    out, pos = [], 0
    for ch in chunks:
        c = cond.slice(pos, len(ch))
        pos += len(ch)
        if ch.offset != 0 or not (pa.types.is_string(ch.type) or pa.types.is_integer(ch.type)
                                  or pa.types.is_timestamp(ch.type)):
            out.append(pc.if_else(c, ch, pa.scalar(None, ch.type)))
            continue
        valid = pc.and_(c, pc.is_valid(ch)) if ch.null_count else c
        valid = valid if valid.offset == 0 else pa.concat_arrays([valid])
        bufs = ch.buffers()
        out.append(pa.Array.from_buffers(ch.type, len(ch), [valid.buffers()[1]] + bufs[1:]))
    return pa.chunked_array(out, arr.type) if isinstance(arr, pa.ChunkedArray) else out[0]


def pick(cond: pa.Array, a: pa.Array, b: pa.Array) -> pa.Array:
    """Row-wise: a where cond, else b (null cond → b)."""
    if isinstance(b, (pa.Array, pa.ChunkedArray)) and b.null_count == len(b):
        return mask_where(a, cond)
    cond = pc.fill_null(cond, False)
    return pc.if_else(cond, a, b)


_HEX_VALUES = np.full(256, 0, dtype=np.uint64)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_VALUES[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX_VALUES[_c] = 10 + _i


def to_int(arr: pa.Array) -> pa.Array:
    """Decimal or ``0x`` hex text → int64; anything else → null."""
    if arr.null_count == len(arr):
        return pa.nulls(len(arr), pa.int64())
    try:  # fast path: plain decimals
        return pc.cast(arr, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.utf8_trim_whitespace(arr)
    dec_mask = pc.fill_null(pc.match_substring_regex(arr, r"^[+-]?\d{1,18}$"), False)
    out = pc.cast(pc.if_else(dec_mask, arr, pa.scalar(None, pa.string())), pa.int64())
    hex_mask = pc.fill_null(pc.match_substring_regex(arr, r"^0[xX][0-9a-fA-F]{1,15}$"), False)
    if pc.any(hex_mask).as_py():
        h = pc.if_else(hex_mask, pc.utf8_slice_codeunits(arr, 2), pa.scalar("0"))
        h = pc.utf8_lpad(h, 16, "0")
        offs = np.frombuffer(h.buffers()[1], dtype=np.int32)[h.offset: h.offset + len(h) + 1]
        data = np.frombuffer(h.buffers()[2], dtype=np.uint8)[offs[0]: offs[-1]]
        digits = _HEX_VALUES[data].reshape(len(h), 16)
        weights = (np.uint64(16) ** np.arange(15, -1, -1, dtype=np.uint64))
        vals = (digits * weights).sum(axis=1).astype(np.int64)
        out = pc.if_else(hex_mask, pa.array(vals), out)
    return out


def basename(arr: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(arr, r"^.*[\\/]", "")


def lookup(arr: pa.Array, mapping: dict[str, str], default: str | None = None,
           ignore_case: bool = True) -> pa.Array:
    """Vectorized dict lookup; unmatched (and null) → default."""
    keys = list(mapping)
    src = pc.utf8_lower(arr) if ignore_case else arr
    idx = pc.index_in(src, value_set=pa.array([k.lower() if ignore_case else k for k in keys]))
    out = pc.take(pa.array(list(mapping.values()), pa.string()), idx)
    return pc.fill_null(out, default) if default is not None else out


def parse_time(arr: pa.Array, ctx: Ctx, assume: str | None = None) -> tuple[pa.Array, str]:
    """ISO-8601-ish text → timestamp[ns, UTC] at full precision; unparseable → null.

    Values with an explicit zone keep it. Zone-less values use ``assume`` (a
    field known to be UTC, such as Sysmon's UtcTime) or else ``ctx.tz``.
    Returns the array and the time-zone decision in words.
    """
    n = len(arr)
    if arr.null_count == n:
        return nulls(n, TS), "no time values"
    try:  # fast path: every value ISO 8601 with an explicit zone (Defender, Windows, ECS)
        return pc.cast(arr, TS), "explicit zone in values"
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    zoned = pc.fill_null(pc.match_substring_regex(arr, _ZONED), False)
    n_zoned = pc.sum(zoned).as_py() or 0
    n_plain = n - arr.null_count - n_zoned
    out = nulls(n, TS)
    decision = []
    if n_zoned:
        z = pc.if_else(zoned, pc.replace_substring_regex(arr, r"\s*(UTC|GMT)$", "Z"),
                       pa.scalar(None, pa.string()))
        out = pc.coalesce(out, _cast_lenient(z, TS))
        decision.append("explicit zone in values")
    if n_plain:
        tz = assume or ctx.tz
        p = pc.if_else(zoned, pa.scalar(None, pa.string()), arr)
        naive = _cast_lenient(p, pa.timestamp("ns"))
        local = pc.assume_timezone(naive, tz, ambiguous="earliest", nonexistent="latest")
        out = pc.coalesce(out, pc.cast(local, TS))
        if assume:
            decision.append(f"zone-less values are {assume} by the field's definition")
        else:
            how = "--tz" if ctx.tz_given else "default, no --tz given"
            decision.append(f"zone-less values read as {tz} ({how})")
    return out, "; ".join(decision)


def _cast_lenient(arr: pa.Array, type_: pa.DataType) -> pa.Array:
    """Cast text → timestamp; values that do not parse become null (slow path only then)."""
    norm = pc.replace_substring_regex(arr, r"^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)", r"\1T\2")
    try:
        return pc.cast(norm, type_)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    vals = []
    scalar_type = type_
    for v in norm.to_pylist():
        if v is None:
            vals.append(None)
            continue
        try:
            vals.append(pa.array([v]).cast(scalar_type)[0].value)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            vals.append(None)
    return pa.array(vals, pa.int64()).cast(type_)


_ENC = (r"(?i)(?:^|\s)[-/]e(?:n(?:c(?:o(?:d(?:e(?:d(?:c(?:o(?:m(?:m(?:a(?:n(?:d)?)?)?)?)?)?)?)?)?)?)?)?)?"
        r"\s+[\"']?(?P<b64>[A-Za-z0-9+/]{16,}={0,2})")


def decode_powershell(cmdline: pa.Array) -> pa.Array:
    """PowerShell -EncodedCommand (and its prefixes -enc, -e, -ec…) payloads decoded.

    The rows are found vectorized; only those rows are decoded (base64 → UTF-16LE).
    A payload that does not decode is left null (the raw command line is untouched).
    """
    n = len(cmdline)
    if n == 0 or cmdline.null_count == n:
        return nulls(n)
    maybe = pc.fill_null(pc.or_(pc.match_substring(cmdline, " -e", ignore_case=True),
                                pc.match_substring(cmdline, " /e", ignore_case=True)), False)
    if not pc.any(maybe).as_py():
        return nulls(n)
    cand = pc.indices_nonzero(maybe)
    m = pc.extract_regex(pc.take(cmdline, cand), _ENC)
    found = pc.is_valid(m)
    if not pc.any(found).as_py():
        return nulls(n)
    import base64
    idx = pc.filter(cand, found)
    out = [None] * n
    for i, b64 in zip(idx.to_pylist(), pc.struct_field(m.filter(found), "b64").to_pylist()):
        try:
            raw = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
            text = raw.decode("utf-16-le")
        except (ValueError, UnicodeDecodeError):
            continue
        if text and text.isprintable() or "\n" in text or "\r" in text:
            out[i] = text
    return pa.array(out, pa.string())


def percent_decode(url: pa.Array) -> pa.Array:
    n = len(url)
    if n == 0 or url.null_count == n:
        return nulls(n)
    if not pc.any(pc.fill_null(pc.match_substring(url, "%"), False)).as_py():
        return nulls(n)
    has = pc.fill_null(pc.match_substring_regex(url, r"%[0-9A-Fa-f]{2}"), False)
    if not pc.any(has).as_py():
        return nulls(n)
    from urllib.parse import unquote
    from .readers.text import KEEP_BYTES
    out = [None] * n
    idx = pc.indices_nonzero(has)
    for i, u in zip(idx.to_pylist(), url.filter(has).to_pylist()):
        out[i] = unquote(u, errors=KEEP_BYTES)      # bytes that are no UTF-8: U+10FF00+b
    return pa.array(out, pa.string())


# ---------------------------------------------------------------- build
def build(batch: RawBatch, norm: Normalized, vendor: str, source: str
          ) -> tuple[pa.Table, list[Quarantined]]:
    """Normalized + raw columns; rows without a usable ``ts`` go to quarantine."""
    from .readers.base import Quarantined
    raw = batch.table
    n = raw.num_rows
    cols = dict(norm.columns)
    cols["vendor"] = pa.repeat(pa.scalar(vendor, pa.string()), n)
    cols["source"] = pa.repeat(pa.scalar(source, pa.string()), n)
    cols["record"] = batch.records
    for a, b in (("name", "image"), ("pname", "pimage"), ("file", "path")):
        if a not in cols and b in cols:
            cols[a] = basename(cols[b])
    if "cmdline" in cols:
        cols["cmdline_decoded"] = decode_powershell(cols["cmdline"])
    if "url" in cols:
        cols["url_decoded"] = percent_decode(cols["url"])
    arrays, fields = [], []
    for name, type_, _ in COLUMNS:
        a = cols.get(name)
        if a is None:
            a = nulls(n, type_)
        elif a.type != type_:
            a = pc.cast(a, type_)
        arrays.append(a)
        fields.append(pa.field(name, type_))
    for name in raw.column_names:
        arrays.append(raw.column(name))
        fields.append(pa.field(RAW_PREFIX + name, pa.string()))
    arrays = [a if isinstance(a, pa.ChunkedArray) else pa.chunked_array([a], a.type) for a in arrays]
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    reason = pc.if_else(pc.is_null(cols.get("ts", nulls(n, TS))),
                        pa.scalar("no parseable timestamp"), pa.scalar(None, pa.string()))
    if norm.errors is not None:
        reason = pc.coalesce(norm.errors, reason)
    bad = pc.is_valid(reason)
    if not pc.any(bad).as_py():
        return table, []
    quarantine = []
    bad_idx = pc.indices_nonzero(bad)
    bad_raw = raw.take(bad_idx).to_pylist()
    for i, r, why in zip(bad_idx.to_pylist(), bad_raw, pc.take(reason, bad_idx).to_pylist()):
        quarantine.append(Quarantined(batch.records[i].as_py(), why,
                                      json.dumps(r, ensure_ascii=False)))
    return table.filter(pc.invert(bad)), quarantine


_REG_ROOTS = [  # (spelled root, normalized root), longest first
    ("\\REGISTRY\\MACHINE", "HKLM"), ("HKEY_LOCAL_MACHINE", "HKLM"), ("\\REGISTRY\\USER", "HKU"),
    ("HKEY_CURRENT_USER", "HKCU"), ("HKEY_CLASSES_ROOT", "HKCR"), ("HKEY_USERS", "HKU"),
    ("MACHINE", "HKLM"), ("USER", "HKU"),
]


def reg_key(arr):
    """Registry roots in one spelling: HKLM\\ HKCU\\ HKU\\ HKCR\\ (rest untouched).
    Prefix tests and slice replacement: no regular expressions over the column."""
    if arr.null_count == len(arr):
        return arr
    if arr.null_count:          # work on the values only, then put them back in place
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        sub = reg_key(pc.drop_null(arr))
        return pc.replace_with_mask(arr, pc.is_valid(arr), sub)
    done = None
    for root, short in _REG_ROOTS:
        hit = pc.fill_null(pc.starts_with(arr, root + "\\", ignore_case=True), False)
        hit = pc.or_(hit, pc.fill_null(pc.equal(arr, root), False))
        if done is not None:
            hit = pc.and_(hit, pc.invert(done))
        if not pc.any(hit).as_py():
            continue
        arr = pc.if_else(hit, pc.utf8_replace_slice(arr, 0, len(root), short), arr)
        done = hit if done is None else pc.or_(done, hit)
    return arr


def join_path(folder, name):
    """Full path from a folder that may or may not already end with the file name
    (Defender's FolderPath holds either form, consistently within an export).

    A sample decides the column's form; only a column that mixes both forms is
    tested row by row."""
    n = len(folder)
    if folder.null_count == n or name.null_count == n:
        return pc.coalesce(folder, name)
    both = pc.and_(pc.is_valid(folder), pc.is_valid(name))
    idx = pc.indices_nonzero(both)
    sample = idx.slice(0, 2000) if len(idx) <= 20000 else pc.take(idx, pa.array(
        np.linspace(0, len(idx) - 1, 2000).astype(np.int64)))
    f = [x.lower() for x in pc.take(folder, sample).to_pylist()]
    nm = [x.lower() for x in pc.take(name, sample).to_pylist()]
    full = [a.endswith("\\" + b) or a.endswith("/" + b) or a == b for a, b in zip(f, nm)]
    share = sum(full) / max(len(full), 1)
    if share >= 0.98:      # full paths (a renamed file's FileName may differ from its path)
        return pc.coalesce(folder, name)
    joined = pc.binary_join_element_wise(pc.utf8_rtrim(folder, characters="\\/"), name, "\\")
    if share <= 0.02:
        return pc.coalesce(joined, folder, name)
    ends = pc.fill_null(pc.equal(pc.utf8_lower(basename(folder)), pc.utf8_lower(name)), False)
    return pc.coalesce(pc.if_else(ends, folder, joined), folder, name)
