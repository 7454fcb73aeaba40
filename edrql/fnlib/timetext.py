"""Time as text and text as time: ``format_datetime`` (KQL's format elements, UTC) and
``totimespan`` (KQL's ``[-][d.]hh:mm[:ss[.fffffff]]`` and numbers with a unit)."""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .timecore import DAY, DUR, HI, arrays, civil_of, ns_values, result

_SPAN_UNITS = {"d": DAY, "day": DAY, "days": DAY, "h": 3600 * 10**9, "hr": 3600 * 10**9,
               "hrs": 3600 * 10**9, "hour": 3600 * 10**9, "hours": 3600 * 10**9,
               "m": 60 * 10**9, "min": 60 * 10**9, "minute": 60 * 10**9, "minutes": 60 * 10**9,
               "s": 10**9, "sec": 10**9, "second": 10**9, "seconds": 10**9,
               "ms": 10**6, "milli": 10**6, "millis": 10**6, "millisecond": 10**6,
               "milliseconds": 10**6, "us": 10**3, "microsecond": 10**3, "microseconds": 10**3,
               "ns": 1, "nanosecond": 1, "nanoseconds": 1, "tick": 100, "ticks": 100,
               "w": 7 * DAY}
_CLOCK = r"^\s*(?P<neg>-)?(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,9}))?)?\s*$"
_UNIT = r"^\s*(?P<neg>-)?(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[a-z]+)\s*$"


def totimespan(value):
    """Text → duration: KQL's [-][d.]hh:mm[:ss[.fffffff]] or a number with a unit (1d, 30m,
    1.5h, 300s — as edrql shows durations); anything else null. A duration stays as it is."""
    if pa.types.is_duration(value.type):
        return value.cast(DUR)
    (a,), scalar = arrays(value)
    if a.type == pa.null():
        return result(np.zeros(len(a), np.int64), np.zeros(len(a), bool), DUR, scalar)
    a = a if pa.types.is_string(a.type) else a.cast(pa.string())
    if len(a) > 1000:                    # repeated values (a log's fields): parse each once
        enc = pc.dictionary_encode(a)
        if len(enc.dictionary) * 2 < len(a):
            return pc.take(totimespan(enc.dictionary), enc.indices)
    a = pc.utf8_lower(a)
    n = len(a)
    total = np.zeros(n, np.float64)
    valid = np.zeros(n, bool)
    clock = pc.extract_regex(a, _CLOCK)
    if clock.null_count < n:
        ok = clock.is_valid().to_numpy(zero_copy_only=False)

        def part(name, scale, digits=False):
            f = pc.struct_field(clock, name)
            if digits:        # a fraction: as many digits as written
                f = pc.utf8_rpad(pc.fill_null(f, ""), 9, "0")
            v = pc.cast(pc.if_else(pc.equal(f, ""), pa.scalar(None, pa.string()), f), pa.int64())
            return pc.fill_null(v, 0).to_numpy(zero_copy_only=False).astype(np.float64) * scale
        t = (part("days", DAY) + part("h", 3600e9) + part("m", 60e9) + part("s", 1e9)
             + part("f", 1, True))
        neg = pc.fill_null(pc.equal(pc.struct_field(clock, "neg"), "-"), False) \
            .to_numpy(zero_copy_only=False)
        total = np.where(ok, np.where(neg, -t, t), total)
        valid |= ok
    unit = pc.extract_regex(a, _UNIT)
    if unit.null_count < n:
        ok = unit.is_valid().to_numpy(zero_copy_only=False) & ~valid
        known = pa.array(list(_SPAN_UNITS), pa.string())
        at = pc.index_in(pc.struct_field(unit, "unit"), value_set=known)
        sizes = np.append(np.array(list(_SPAN_UNITS.values()), np.float64), 0.0)
        scale = sizes[pc.fill_null(at, len(known)).to_numpy(zero_copy_only=False)]
        num = pc.cast(pc.fill_null(pc.struct_field(unit, "num"), "0"), pa.float64()) \
            .to_numpy(zero_copy_only=False)
        neg = pc.fill_null(pc.equal(pc.struct_field(unit, "neg"), "-"), False) \
            .to_numpy(zero_copy_only=False)
        ok &= scale > 0
        total = np.where(ok, np.where(neg, -1, 1) * np.round(num * scale), total)
        valid |= ok
    total = np.round(np.where(valid, total, 0))
    return result(np.where(np.abs(total) < HI, total, 0).astype(np.int64), valid, DUR, scalar,
                "totimespan", total)


# ------------------------------------------------------------------ format_datetime
_ELEMENT = re.compile(r"d+|f+|F+|h+|H+|m+|M+|s+|y+|t+|\\.|'[^']*'|\"[^\"]*\"|.", re.S)
_WIDTHS = {"d": (1, 2), "h": (1, 2), "H": (1, 2), "m": (1, 2), "M": (1, 2), "s": (1, 2),
           "y": (1, 2, 4), "f": tuple(range(1, 8)), "F": tuple(range(1, 8)), "t": (2,)}
ELEMENTS = "d dd f…fffffff F…FFFFFFF h hh H HH m mm M MM s ss y yy yyyy tt"


def format_tokens(fmt: str) -> list[str]:
    """The elements and literal pieces of a format; a run of letters that is no element is
    a TypeError."""
    toks = _ELEMENT.findall(fmt)
    for tok in toks:
        c, k = tok[0], len(tok)
        if c in _WIDTHS and tok == c * k and k not in _WIDTHS[c]:
            raise TypeError(f"format_datetime(): {tok!r} is not a format element; "
                            f"the elements: {ELEMENTS}")
    return toks


def _pad(v: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pa.array(v).cast(pa.string()), width, "0")


def _fields(ns: np.ndarray) -> dict:
    """The calendar fields format elements read, by element letter."""
    y, mo, d = civil_of(ns)
    tod = ns - np.floor_divide(ns, DAY) * DAY
    hh = tod // 3600_000_000_000
    return {"y": y, "M": mo, "d": d, "H": hh, "h": (hh + 11) % 12 + 1,
            "m": tod // 60_000_000_000 % 60, "s": tod // 10**9 % 60, "f": tod % 10**9}


def _literal(tok: str) -> str:
    if tok.startswith("\\"):
        return tok[1:]
    if len(tok) > 1 and tok[0] in "'\"":
        return tok[1:-1]
    return tok


def _element_value(f: dict, c: str, k: int) -> np.ndarray:
    if c == "y":
        return f["y"] % 100 if k < 4 else f["y"]
    if c in "fF":
        return f["f"] // 10 ** (9 - k)
    return f[c]


#: elements whose text has one width whatever the value (the fast path fills bytes)
_FIXED = {"dd", "MM", "yy", "yyyy", "HH", "hh", "mm", "ss", "tt"} | {"f" * k for k in range(1, 8)}


def _fixed_width(toks: list[str], f: dict, n: int):
    """The formatted column built as one byte matrix (as timefmt.iso does), when every
    element has a fixed width (yyyy-MM-dd HH:mm:ss.fff and the like); else None."""
    pieces = []
    for tok in toks:
        if tok[0] in _WIDTHS and tok == tok[0] * len(tok):
            if tok not in _FIXED:
                return None
            pieces.append((tok, len(tok)))
        else:
            b = _literal(tok).encode("utf-8")
            pieces.append((b, len(b)))
    width = sum(w for _, w in pieces)
    if width == 0 or n * width >= 2**31:
        return None
    buf = np.empty((width, n), np.uint8)         # one row per character: contiguous writes
    col = 0
    for piece, w in pieces:
        if isinstance(piece, bytes):
            buf[col:col + w] = np.frombuffer(piece, np.uint8)[:, None]
        elif piece == "tt":
            buf[col] = np.where(f["H"] >= 12, ord("P"), ord("A"))
            buf[col + 1] = ord("M")
        else:
            v = _element_value(f, piece[0], w)
            v = (np.clip(v, 0, 9999) if piece[0] == "y" and w == 4 else v).astype(np.int32)
            for j in range(w - 1, -1, -1):
                buf[col + j] = 48 + v % 10
                v //= 10
        col += w
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()),
                                       pa.py_buffer(np.ascontiguousarray(buf.T).tobytes()))


def format_datetime(ts, fmt):
    """format_datetime(t, "yyyy-MM-dd HH:mm:ss.fff"): t as text in KQL's format elements (UTC)."""
    if not isinstance(fmt, pa.Scalar) or not fmt.is_valid or not pa.types.is_string(fmt.type):
        raise TypeError('format_datetime() needs the format as constant text, e.g. "yyyy-MM-dd HH:mm"')
    toks = format_tokens(fmt.as_py())
    (a,), scalar = arrays(ts)
    ns, valid = ns_values(a)
    f = _fields(ns)
    out = _fixed_width(toks, f, len(a))
    if out is None:
        parts: list = []
        for tok in toks:
            c, k = tok[0], len(tok)
            if c in _WIDTHS and tok == c * k:
                if c == "t":
                    parts.append(pa.array(np.where(f["H"] < 12, "AM", "PM")))
                    continue
                digits = _pad(_element_value(f, c, k), k if c != "y" or k != 4 else 4)
                parts.append(pc.utf8_rtrim(digits, characters="0") if c == "F" else digits)
            else:
                parts.append(_literal(tok))
        cols = [p if isinstance(p, pa.Array) else pa.scalar(p) for p in parts]
        out = pc.binary_join_element_wise(*cols, "") if any(isinstance(p, pa.Array) for p in cols) \
            else pa.array(["".join(parts)] * len(a), pa.string())
    if not valid.all():
        out = pc.if_else(pa.array(valid), out, pa.scalar(None, pa.string()))
    return out[0] if scalar else out
