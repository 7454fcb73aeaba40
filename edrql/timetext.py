"""A raw time text regenerated from the time parsed out of it (the compact store's
``timetext`` kind, see ``edrql.segcodec``).

An export's time field (Defender's ``Timestamp``: ``2024-11-04T00:00:00.6404062Z``) is one
distinct string per row, and it is exactly what the events' ``ts`` was parsed from. When
every value of such a column is the parsed time written in one fixed-width *format*, the
segment stores only the format: the text is made again, byte for byte, when the column
is read. A format is a string of ``%Y %m %d %H %M %S`` (4 or 2 digits), ``%Nf`` (the
first N digits of the fraction of a second, N in 1..9) and literal characters
(``FORMAT_CHARS``); every value it writes has the same width.

The text is written by table look-ups over blocks of rows (the date part of each distinct
day, the time of day, the fraction's digits), not by ``strftime`` (Arrow's takes seconds
for two million rows).
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .timefmt import civil

#: the literal characters a format may hold (the rest of its text is digits)
FORMAT_CHARS = frozenset("-:T .Z+tz0123456789")
_TOKEN = re.compile(r"%(?:([YmdHMS])|([1-9])f)")
_WIDTH = {"Y": 4, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2}
_UNIT_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}
_SHAPE = re.compile(r"\d{4}-\d\d-\d\d([T ])\d\d:\d\d:\d\d(?:\.(\d{1,9}))?(Z|\+00:00|)")
BLOCK = 1 << 16          # rows written per block (the block's scratch memory is reused)
#: past this many days between the first and the last time, no column is derived
MAX_DAYS = 1 << 20


def parse_format(fmt: str) -> list[tuple[str, object]]:
    """[(kind, arg)]: ("lit", text), ("Y"|"m"|"d"|"H"|"M"|"S", None), ("f", digits)
    (ValueError for anything else)."""
    out, at = [], 0
    for m in _TOKEN.finditer(fmt):
        if m.start() > at:
            out.append(("lit", fmt[at:m.start()]))
        out.append((m.group(1), None) if m.group(1) else ("f", int(m.group(2))))
        at = m.end()
    if at < len(fmt):
        out.append(("lit", fmt[at:]))
    for kind, arg in out:
        if kind == "lit" and not set(arg) <= FORMAT_CHARS:
            raise ValueError(f"the format {fmt!r} holds characters other than {''.join(sorted(FORMAT_CHARS))}")
    if not out:
        raise ValueError("an empty format")
    return out


def lowered(fmt: str) -> str:
    """The format whose text is ``fmt``'s lower-cased (what a search ignoring case reads)."""
    return fmt.replace("T", "t").replace("Z", "z")


def width(fmt: str) -> int:
    return sum(len(a) if k == "lit" else a if k == "f" else _WIDTH[k] for k, a in parse_format(fmt))


def guess_format(sample: str) -> str | None:
    """The format that would write ``sample`` (an ISO time in UTC), or None."""
    m = _SHAPE.fullmatch(sample)
    if not m:
        return None
    sep, frac, zone = m.groups()
    return "%Y-%m-%d" + sep + "%H:%M:%S" + (f".%{len(frac)}f" if frac else "") + zone


def positions(fmt: str) -> list[str]:
    """Each output position: its literal character, or "digit"."""
    out: list = []
    for kind, arg in parse_format(fmt):
        n = len(arg) if kind == "lit" else arg if kind == "f" else _WIDTH[kind]
        out += list(arg) if kind == "lit" else ["digit"] * n
    return out


def can_hold(fmt: str, needle: str, case_sensitive: bool) -> bool:
    """Whether some text written in ``fmt`` may contain ``needle`` (a needle whose
    characters cannot line up with the format's positions cannot be in it)."""
    pos = positions(fmt)
    if not needle:
        return True
    if len(needle) > len(pos):
        return False

    def fits(ch: str, p) -> bool:
        if p == "digit":
            return "0" <= ch <= "9"
        return ch == p or (not case_sensitive and ch == p.lower())
    return any(all(fits(ch, pos[k + i]) for i, ch in enumerate(needle))
               for k in range(len(pos) - len(needle) + 1))


def _digits(values: np.ndarray, n: int) -> np.ndarray:
    """(len(values), n) uint8: each value's last n decimal digits as text."""
    out = np.empty((len(values), n), np.uint8)
    v = values.astype(np.int64)
    for i in range(n - 1, -1, -1):
        out[:, i] = v % 10 + 48
        v //= 10
    return out


class _Writer:
    """Writes times of one unit in one format. The format is cut into groups, each read
    from one table of fixed-width texts: the date (per day the column spans), the time of
    day (86,400 of them), the fraction (up to four digits a table); literal characters
    join a neighbouring group."""

    def __init__(self, fmt: str, unit: str, day0: int, day1: int):
        self.width = width(fmt)
        self.unit_digits = _UNIT_DIGITS[unit]
        self.day0 = day0
        y, mo, d = civil(np.arange(day0, day1 + 1, dtype=np.int64))
        sod = np.arange(86400, dtype=np.int64)
        field = {"Y": (y, 4), "m": (mo, 2), "d": (d, 2),
                 "H": (sod // 3600, 2), "M": (sod // 60 % 60, 2), "S": (sod % 60, 2)}
        groups: list[list] = []        # [key, [(rows, k) uint8 pieces]]; key: "day", "sod", ("f", div, mod)
        pending = b""                  # literals before the first group
        for kind, arg in parse_format(fmt):
            if kind == "lit":
                if groups:
                    groups[-1][1].append(arg.encode())
                else:
                    pending += arg.encode()
                continue
            if kind == "f":
                for k in range(0, arg, 4):
                    step = min(4, arg - k)
                    groups.append([("f", arg, k, step), [_table(step)]])
                continue
            vals, n = field[kind]
            if kind == "Y" and (vals.min() < 0 or vals.max() > 9999):
                raise ValueError("a year outside 0..9999")
            key = "day" if kind in "Ymd" else "sod"
            if groups and groups[-1][0] == key:
                groups[-1][1].append(_digits(vals, n))
            else:
                groups.append([key, [_digits(vals, n)]])
        if pending:
            groups[0][1].insert(0, pending)
        self.groups, names, formats, offsets, at = [], [], [], [], 0
        for i, (key, parts) in enumerate(groups):
            rows = max(len(p) for p in parts if not isinstance(p, bytes))
            cols = [np.broadcast_to(np.frombuffer(p, np.uint8), (rows, len(p))) if isinstance(p, bytes)
                    else p for p in parts]
            table = np.ascontiguousarray(np.concatenate(cols, axis=1))
            k = table.shape[1]
            self.groups.append((f"g{i}", key, table.view(f"V{k}").ravel()))
            names.append(f"g{i}")
            formats.append(f"V{k}")
            offsets.append(at)
            at += k
        assert at == self.width
        self.dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets,
                               "itemsize": self.width})

    def write(self, v: np.ndarray, out: np.ndarray) -> None:
        """Rows ``v`` (int64 in the unit) written into ``out`` (len(v) records of dtype)."""
        scale = 10 ** self.unit_digits
        secs = np.floor_divide(v, scale)
        sub = v - secs * scale
        day = np.floor_divide(secs, 86400)
        sod = secs - day * 86400
        day -= self.day0
        for name, key, table in self.groups:
            if key == "day":
                idx = day
            elif key == "sod":
                idx = sod
            else:
                _, n, k, step = key
                f = sub // 10 ** (self.unit_digits - n) if n <= self.unit_digits \
                    else sub * 10 ** (n - self.unit_digits)
                idx = f // 10 ** (n - k - step) % 10 ** step
            out[name] = np.take(table, idx)


_TABLES: dict[int, np.ndarray] = {}


def _table(n: int) -> np.ndarray:
    if n not in _TABLES:
        _TABLES[n] = _digits(np.arange(10 ** n), n)
    return _TABLES[n]


def _ints(times: pa.Array) -> np.ndarray:
    """A timestamp array's stored values as int64 (a null's is whatever is stored)."""
    return np.frombuffer(times.buffers()[1], np.int64)[times.offset: times.offset + len(times)]


_OFFSETS: dict[tuple[int, int], pa.Buffer] = {}


def _offsets(n: int, w: int) -> pa.Buffer:
    """Offsets 0, w, 2w … n·w (one buffer per width and length in a process)."""
    key = (n, w)
    buf = _OFFSETS.get(key)
    if buf is None:
        if len(_OFFSETS) > 8:
            _OFFSETS.clear()
        a = np.arange(0, (n + 1) * w, w, dtype=np.int32)
        a.flags.writeable = False
        buf = _OFFSETS[key] = pa.py_buffer(a)
    return buf


def format_times(times: pa.Array, fmt: str, validity: pa.Array | None = None) -> pa.Array:
    """Every row of ``times`` (a timestamp array) with a value as text in ``fmt``: a string
    array, null where ``validity`` (a boolean array; None: where ``times`` is null). When
    most rows are null only the rows with a value are written (a null row is empty)."""
    if isinstance(times, pa.ChunkedArray):
        times = times.combine_chunks()
    n = len(times)
    w = width(fmt)
    valid = None
    if validity is not None:
        valid = pc.and_(pc.fill_null(validity, False), pc.is_valid(times)) \
            if times.null_count else pc.fill_null(validity, False)
    elif times.null_count:
        valid = pc.is_valid(times)
    v = _ints(times)
    rows = None
    if valid is not None:
        rows = np.flatnonzero(np.asarray(valid))
        v = v[rows]
    if len(v) * w >= 2**31:
        raise ValueError("a column too large to write as one string array")
    unit = times.type.unit
    scale = 10 ** _UNIT_DIGITS[unit] * 86400
    day0 = int(np.floor_divide(v.min(), scale)) if len(v) else 0
    day1 = int(np.floor_divide(v.max(), scale)) if len(v) else 0
    if day1 - day0 > MAX_DAYS:
        raise ValueError("times spanning too many days")
    writer = _Writer(fmt, unit, day0, day1)
    data = np.empty(len(v) * w, np.uint8)
    grid = data.view(writer.dtype)
    for s in range(0, len(v), BLOCK):
        writer.write(v[s:s + BLOCK], grid[s:s + BLOCK])
    if rows is None:
        return pa.Array.from_buffers(pa.string(), n, [None, _offsets(n, w), pa.py_buffer(data)])
    ends = np.zeros(n + 1, np.int32)
    ends[rows + 1] = w
    np.cumsum(ends, out=ends)
    mask = valid.buffers()[1] if valid.offset == 0 else pa.array(np.asarray(valid)).buffers()[1]
    return pa.Array.from_buffers(pa.string(), n, [mask, pa.py_buffer(ends), pa.py_buffer(data)],
                                 null_count=n - len(rows))


def format_distinct(times: pa.Array, fmt: str, validity: pa.Array | None = None) -> pa.DictionaryArray:
    """format_times as a dictionary<int32, string> array: each distinct time written once
    (in time order), the rows as codes into them."""
    if isinstance(times, pa.ChunkedArray):
        times = times.combine_chunks()
    n = len(times)
    valid = pc.is_valid(times)
    if validity is not None:
        valid = pc.and_(pc.fill_null(validity, False), valid)
    rows = np.flatnonzero(np.asarray(valid))
    uniq, inv = np.unique(_ints(times)[rows], return_inverse=True)
    values = format_times(pa.Array.from_buffers(times.type, len(uniq), [None, pa.py_buffer(uniq)]), fmt)
    codes = np.zeros(n, np.int32)
    codes[rows] = inv
    mask = None if len(rows) == n else pa.array(np.asarray(valid)).buffers()[1]
    idx = pa.Array.from_buffers(pa.int32(), n, [mask, pa.py_buffer(codes)], null_count=n - len(rows))
    return pa.DictionaryArray.from_arrays(idx, values)


def derive(text: pa.Array, times: pa.Array) -> str | None:
    """The format in which every non-null value of ``text`` is ``times`` of its row
    (a plain string array and a timestamp array of the same length), or None. ``times``
    must have a value wherever ``text`` has one."""
    n = len(text)
    if n == 0 or text.null_count == n:
        return None
    first = pc.index(pc.is_valid(text), True).as_py()
    fmt = guess_format(text[first].as_py())
    if fmt is None:
        return None
    if pc.any(pc.and_(pc.is_valid(text), pc.is_null(times))).as_py():
        return None
    try:
        made = format_times(times, fmt)
    except ValueError:
        return None
    same = pc.equal(text, made)
    # (a null text compares null: fine; a differing value: not derivable)
    if pc.any(pc.invert(pc.fill_null(same, True))).as_py():
        return None
    return fmt
