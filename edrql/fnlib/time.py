"""Time functions with KQL's meaning: ``now``, ``ago``, ``datetime(…)``, ``totimespan``,
``startof…``/``endof…``, ``datetime_add``, ``datetime_diff``, ``datetime_part``,
``format_datetime``, ``dayofweek`` (a duration: 0d is Sunday), ``hourofday`` …

All columnar: timestamps are read as int64 nanoseconds (UTC) and worked on with numpy;
calendar steps (months, years) go through numpy's datetime64 month and year units. A null
input gives null. A result beyond the range of times (1677–2262) is an error, never a
wrapped value.

``now`` and ``ago`` read the run's reference time (edrql/reftime.py): the evaluator
passes it as ``now=`` (``USES_NOW``).
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..fnspec import DURATION, FLOAT, INT, NUMBER, TEXT, TIME, Function
from ..schema import TS
from ..timefmt import civil

#: functions the evaluator calls with the reference time as ``now=``
USES_NOW = frozenset({"now", "ago"})

DUR = pa.duration("ns")
_NS = {"nanosecond": 1, "microsecond": 10**3, "millisecond": 10**6, "second": 10**9,
       "minute": 60 * 10**9, "hour": 3600 * 10**9, "day": 86400 * 10**9,
       "week": 7 * 86400 * 10**9}
_MONTHS = {"month": 1, "quarter": 3, "year": 12}
#: KQL's period names (case-insensitive), with the plural and short spellings it accepts
_ALIASES = {"years": "year", "quarters": "quarter", "months": "month", "weeks": "week",
            "days": "day", "hours": "hour", "minutes": "minute", "seconds": "second",
            "milliseconds": "millisecond", "microseconds": "microsecond",
            "nanoseconds": "nanosecond", "ms": "millisecond", "us": "microsecond",
            "ns": "nanosecond", "min": "minute", "sec": "second"}
PERIODS = ("year", "quarter", "month", "week", "day", "hour", "minute", "second",
           "millisecond", "microsecond", "nanosecond")
_LO, _HI = -(2**63) + 1, 2**63 - 1
_DAY = 86400 * 10**9
#: month steps beyond this leave the range of times whatever the start
_MAX_MONTHS = 12 * 600


# ------------------------------------------------------------------ plumbing
def _arrays(*args):
    """Scalars and columns → equal-length arrays, and whether every input was a scalar."""
    n = next((len(a) for a in args if not isinstance(a, pa.Scalar)), None)
    scalar = n is None
    n = 1 if scalar else n
    out = []
    for a in args:
        if isinstance(a, pa.Scalar):
            a = pa.repeat(a, n) if a.is_valid else pa.nulls(n, a.type)
        elif isinstance(a, pa.ChunkedArray):
            a = a.combine_chunks()
        if pa.types.is_dictionary(a.type):
            a = a.cast(a.type.value_type)
        out.append(a)
    return out, scalar


def _ns(a: pa.Array):
    """A timestamp or duration array → (int64 numpy values with nulls as 0, valid mask)."""
    if pa.types.is_timestamp(a.type) and a.type != TS:
        a = a.cast(TS) if a.type.tz else pc.assume_timezone(a, "UTC").cast(TS)
    if a.type == pa.null():
        return np.zeros(len(a), np.int64), np.zeros(len(a), bool)
    i = a.cast(pa.int64())
    valid = np.ones(len(a), bool) if not i.null_count else \
        i.is_valid().to_numpy(zero_copy_only=False)
    return pc.fill_null(i, 0).to_numpy(zero_copy_only=False).astype(np.int64), valid


def _ints(a: pa.Array, what: str):
    if a.type == pa.null():
        return np.zeros(len(a), np.int64), np.zeros(len(a), bool)
    if not (pa.types.is_integer(a.type) or pa.types.is_floating(a.type)):
        raise TypeError(f"{what} needs a whole number, got {a.type}")
    valid = a.is_valid().to_numpy(zero_copy_only=False) if a.null_count else np.ones(len(a), bool)
    v = pc.fill_null(a, 0).to_numpy(zero_copy_only=False)
    return np.trunc(v).astype(np.int64) if v.dtype.kind == "f" else v.astype(np.int64), valid


def _out(values: np.ndarray, valid: np.ndarray, typ, scalar: bool, name: str = "",
         estimate: np.ndarray | None = None):
    """An int64 result as an Arrow value of ``typ``. ``estimate``: the same result in float64;
    where a valid one is beyond the 64-bit range of times, the exact (wrapping) int64
    arithmetic was wrong and the call is an error."""
    if estimate is not None and len(estimate) and \
            (valid & ((estimate < _LO) | (estimate > _HI))).any():
        raise TypeError(f"{name}(): the result is beyond the range of times (1677-2262)")
    arr = pa.array(values, pa.int64() if typ in (TS, DUR) else typ, mask=~valid)
    if typ in (TS, DUR):
        arr = arr.cast(typ)
    return arr[0] if scalar else arr


#: datetime_part's parts besides the periods
_PARTS = {"week_of_year": "week", "weekofyear": "week", "dayofyear": "dayofyear"}


def period_name(text: str, name: str) -> str:
    """A period as written ("Days", "ms") → its name; an unknown one is a TypeError."""
    p = text.strip().lower()
    p = _PARTS.get(p, _ALIASES.get(p, p)) if name == "datetime_part" else _ALIASES.get(p, p)
    if p in PERIODS or (name == "datetime_part" and p == "dayofyear"):
        return p
    known = PERIODS + (("dayofyear",) if name == "datetime_part" else ())
    raise TypeError(f"{name}(): unknown {'part' if name == 'datetime_part' else 'period'} "
                    f"{text!r}; one of " + ", ".join(known))


def _period(part, name: str) -> str:
    if not isinstance(part, pa.Scalar) or not pa.types.is_string(part.type) or not part.is_valid:
        raise TypeError(f"{name}() needs the period as constant text, e.g. \"day\"")
    return period_name(part.as_py(), name)


def _checks_literal(index: int, validate):
    """A plan-time check of a constant text argument (plan.py calls ``impl.check_args`` with
    the call): (message, argument index) when the literal is wrong, else None."""
    def check(call):
        arg = call.args[index] if index < len(call.args) else None
        if getattr(arg, "kind", None) != "str":
            return None
        try:
            validate(arg.value)
        except TypeError as x:
            return str(x), index
        return None
    return check


def _months_since_epoch(ns: np.ndarray) -> np.ndarray:
    y, m, _ = civil(np.floor_divide(ns, _DAY))
    return (y - 1970) * 12 + (m - 1)


def _month_start_days(months: np.ndarray) -> np.ndarray:
    """Days since the epoch of the first day of each month (months since the epoch), by
    Hinnant's days-from-civil (integer arithmetic: no datetime64 conversions)."""
    y = np.floor_divide(months, 12) + 1970
    m = months - (y - 1970) * 12 + 1
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * np.where(m > 2, m - 3, m + 9) + 2) // 5
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _month_start_ns(months: np.ndarray) -> np.ndarray:
    return _month_start_days(months) * _DAY


def _floor(ns: np.ndarray, unit: int) -> np.ndarray:
    return np.floor_divide(ns, unit) * unit


def _week_start(ns: np.ndarray) -> np.ndarray:
    """Midnight of the Sunday that starts the week (1970-01-01 was a Thursday)."""
    days = np.floor_divide(ns, _DAY)
    return (days - (days + 4) % 7) * _DAY


# ------------------------------------------------------------------ now, ago, literals
def now(offset=None, *, now):
    """now([offset]): the reference time, plus offset (KQL: now(-1d) is a day before)."""
    if offset is None:
        return now
    (o,), scalar = _arrays(offset)
    return pc.add_checked(pa.repeat(now, len(o)), o)[0] if scalar else \
        pc.add_checked(pa.repeat(now, len(o)), o)


def ago(span, *, now):
    """ago(d): the reference time minus d."""
    (d,), scalar = _arrays(span)
    out = pc.subtract_checked(pa.repeat(now, len(d)), d)
    return out[0] if scalar else out


def datetime_(value):
    """datetime(2023-08-10 14:00), datetime("…"), datetime(null): a time."""
    if value.type == pa.null():
        return pa.scalar(None, TS) if isinstance(value, pa.Scalar) else pa.nulls(len(value), TS)
    if pa.types.is_timestamp(value.type):
        return value
    from ..normalize import Ctx, parse_time
    from .textcast import as_text
    (a,), scalar = _arrays(value)
    out, _ = parse_time(as_text(a), Ctx())
    return out[0] if scalar else out


_SPAN_UNITS = {"d": _DAY, "day": _DAY, "days": _DAY, "h": 3600 * 10**9, "hr": 3600 * 10**9,
               "hrs": 3600 * 10**9, "hour": 3600 * 10**9, "hours": 3600 * 10**9,
               "m": 60 * 10**9, "min": 60 * 10**9, "minute": 60 * 10**9, "minutes": 60 * 10**9,
               "s": 10**9, "sec": 10**9, "second": 10**9, "seconds": 10**9,
               "ms": 10**6, "milli": 10**6, "millis": 10**6, "millisecond": 10**6,
               "milliseconds": 10**6, "us": 10**3, "microsecond": 10**3, "microseconds": 10**3,
               "ns": 1, "nanosecond": 1, "nanoseconds": 1, "tick": 100, "ticks": 100,
               "w": 7 * _DAY}
_CLOCK = r"^\s*(?P<neg>-)?(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,9}))?)?\s*$"
_UNIT = r"^\s*(?P<neg>-)?(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[a-z]+)\s*$"


def totimespan(value):
    """Text → duration: KQL's [-][d.]hh:mm[:ss[.fffffff]] or a number with a unit (1d, 30m,
    1.5h, 300s — as edrql shows durations); anything else null. A duration stays as it is."""
    if pa.types.is_duration(value.type):
        return value.cast(DUR)
    (a,), scalar = _arrays(value)
    if a.type == pa.null():
        return _out(np.zeros(len(a), np.int64), np.zeros(len(a), bool), DUR, scalar)
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
        t = (part("days", _DAY) + part("h", 3600e9) + part("m", 60e9) + part("s", 1e9)
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
    return _out(np.where(np.abs(total) < _HI, total, 0).astype(np.int64), valid, DUR, scalar,
                "totimespan", total)


def unixtime_todatetime(scale: int, name: str):
    def fn(value):
        (a,), scalar = _arrays(value)
        if a.type == pa.null():
            return _out(np.zeros(len(a), np.int64), np.zeros(len(a), bool), TS, scalar, name)
        if not (pa.types.is_integer(a.type) or pa.types.is_floating(a.type)):
            raise TypeError(f"{name}() needs a number of {name.split('_')[1]}")
        valid = a.is_valid().to_numpy(zero_copy_only=False) if a.null_count else np.ones(len(a), bool)
        v = pc.fill_null(a, 0).to_numpy(zero_copy_only=False)
        est = v.astype(np.float64) * scale
        exact = v.astype(np.int64) * scale if v.dtype.kind != "f" else \
            np.round(np.where(valid & (np.abs(est) < _HI), est, 0)).astype(np.int64)
        return _out(exact, valid, TS, scalar, name, est)
    return fn


# ------------------------------------------------------------------ start/end of
def _period_start(unit: str, ns: np.ndarray, k: np.ndarray, name: str):
    """(exact int64, float64 estimate) of the start of the period k periods after ns's."""
    if unit in ("month", "year"):
        if np.abs(k).max(initial=0) > _MAX_MONTHS:
            raise TypeError(f"{name}(): the result is beyond the range of times (1677-2262)")
        months = _months_since_epoch(ns)
        if unit == "year":
            months = months - months % 12
        days = _month_start_days(months + k * (12 if unit == "year" else 1))
        return days * _DAY, days.astype(np.float64) * _DAY
    width = _DAY if unit == "day" else 7 * _DAY
    base = np.floor_divide(ns, _DAY) * _DAY if unit == "day" else _week_start(ns)
    return base + k * width, base.astype(np.float64) + k.astype(np.float64) * width


def _boundary(unit: str, name: str, end: bool):
    """startofX(t[, n]) / endofX(t[, n]): the first (last) instant of the period n periods
    after t's; the last instant is the next period's start minus 1ns."""
    def fn(ts, offset=None):
        args, scalar = _arrays(ts, *([offset] if offset is not None else []))
        ns, valid = _ns(args[0])
        k = np.zeros(len(ns), np.int64)
        if offset is not None:
            k, kvalid = _ints(args[1], f"{name}()'s offset")
            valid = valid & kvalid
        ns, k = np.where(valid, ns, 0), np.where(valid, k, 0)
        exact, est = _period_start(unit, ns, k + 1 if end else k, name)
        if end:
            exact, est = exact - 1, est - 1
        return _out(exact, valid, TS, scalar, name, est)
    fn.__name__ = name
    return fn


# ------------------------------------------------------------------ add, diff, part
def datetime_add(part, amount, ts):
    """datetime_add(period, n, t): t moved by n periods; months and years keep the day,
    clamped to the month's last day (Jan 31 + 1 month = Feb 28/29)."""
    p = _period(part, "datetime_add")
    (n_a, t_a), scalar = _arrays(amount, ts)
    n, nvalid = _ints(n_a, "datetime_add()'s amount")
    ns, valid = _ns(t_a)
    valid = valid & nvalid
    ns, n = np.where(valid, ns, 0), np.where(valid, n, 0)
    if p in _NS:
        return _out(ns + n * _NS[p], valid, TS, scalar, "datetime_add",
                    ns.astype(np.float64) + n.astype(np.float64) * _NS[p])
    if np.abs(n).max(initial=0) > _MAX_MONTHS:
        raise TypeError("datetime_add(): the result is beyond the range of times (1677-2262)")
    months = _months_since_epoch(ns)
    first = _month_start_days(months)
    day = np.floor_divide(ns, _DAY) - first              # days into the month
    within = ns - np.floor_divide(ns, _DAY) * _DAY       # time of day
    target = months + n * _MONTHS[p]
    t_first = _month_start_days(target)
    length = _month_start_days(target + 1) - t_first
    days = t_first + np.minimum(day, length - 1)
    return _out(days * _DAY + within, valid, TS, scalar, "datetime_add",
                days.astype(np.float64) * _DAY + within)


def _unit_index(ns: np.ndarray, p: str) -> np.ndarray:
    """The period each time falls in, as a number: periods crossed = difference of these."""
    if p in ("month", "quarter", "year"):
        m = _months_since_epoch(ns)
        return m if p == "month" else np.floor_divide(m, _MONTHS[p])
    if p == "week":
        return np.floor_divide(_week_start(ns), 7 * _DAY)
    return np.floor_divide(ns, _NS[p])


def datetime_diff(part, t1, t2):
    """datetime_diff(period, t1, t2): the number of period boundaries from t2 to t1 (KQL:
    positive when t1 is later; weeks start on Sunday)."""
    p = _period(part, "datetime_diff")
    (a, b), scalar = _arrays(t1, t2)
    x, xv = _ns(a)
    y, yv = _ns(b)
    valid = xv & yv
    if p == "nanosecond":
        est = x.astype(np.float64) - y.astype(np.float64)
        if ((est < _LO) | (est > _HI))[valid].any():
            raise TypeError("datetime_diff(): the difference is beyond the 64-bit range")
    return _out(_unit_index(x, p) - _unit_index(y, p), valid, pa.int64(), scalar)


def _civil(ns: np.ndarray):
    """(year, month, day) of UTC nanosecond times."""
    return civil(np.floor_divide(ns, _DAY))


def _day_of_year(ns: np.ndarray) -> np.ndarray:
    days = np.floor_divide(ns, _DAY)
    y, _, _ = civil(days)
    return days - _month_start_days((y - 1970) * 12) + 1


def _iso_week(a: pa.Array) -> np.ndarray:
    return pc.fill_null(pc.iso_week(a), 0).to_numpy(zero_copy_only=False).astype(np.int64)


def _part_values(p: str, ns: np.ndarray, a: pa.Array) -> np.ndarray:
    if p in ("year", "month", "day"):
        return _civil(ns)[("year", "month", "day").index(p)]
    if p == "quarter":
        return (_civil(ns)[1] - 1) // 3 + 1
    if p in ("week", "week_of_year", "weekofyear"):
        return _iso_week(a)
    if p in ("dayofyear",):
        return _day_of_year(ns)
    tod = ns - np.floor_divide(ns, _DAY) * _DAY
    unit = {"hour": 3600 * 10**9, "minute": 60 * 10**9, "second": 10**9,
            "millisecond": 10**6, "microsecond": 10**3, "nanosecond": 1}[p]
    mod = {"hour": 24, "minute": 60, "second": 60, "millisecond": 1000, "microsecond": 10**6,
           "nanosecond": 10**9}[p]
    return (tod // unit) % mod


def _part_fn(p: str, name: str):
    def fn(ts):
        (a,), scalar = _arrays(ts)
        ns, valid = _ns(a)
        return _out(_part_values(p, ns, a if a.type != pa.null() else a.cast(TS)), valid,
                    pa.int64(), scalar)
    fn.__name__ = name
    return fn


def datetime_part(part, ts):
    """datetime_part(period, t): that part of t as a number (week: ISO week of the year)."""
    if not isinstance(part, pa.Scalar) or not part.is_valid or not pa.types.is_string(part.type):
        raise TypeError('datetime_part() needs the part as constant text, e.g. "hour"')
    return _part_fn(period_name(part.as_py(), "datetime_part"), "datetime_part")(ts)


def dayofweek(ts):
    """dayofweek(t): days since the Sunday before, as a duration (KQL: 0d Sunday … 6d Saturday)."""
    (a,), scalar = _arrays(ts)
    ns, valid = _ns(a)
    days = np.floor_divide(ns, _DAY)
    return _out(((days + 4) % 7) * _DAY, valid, DUR, scalar)


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
    y, mo, d = _civil(ns)
    tod = ns - np.floor_divide(ns, _DAY) * _DAY
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
    (a,), scalar = _arrays(ts)
    ns, valid = _ns(a)
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


# ------------------------------------------------------------------ the registry entries
_T = frozenset({TIME})
_P = frozenset({TEXT})
_N = frozenset({INT, FLOAT})


def _fn(name, lo, hi, impl, doc, example, takes, returns, null_as=(TS,)):
    return Function(name, lo, hi, impl, doc, example, takes=takes, returns=returns, null_as=null_as)


def _int_part(name, p, doc, example):
    return _fn(name, 1, 1, _part_fn(p, name), doc, example, (_T,), INT)


#: startofX / endofX: (period, side, what it is, example)
_BOUNDARIES = [
    ("day", "start", "midnight (UTC) of the day", "stats count() by startofday(ts)"),
    ("day", "end", "the last instant (ns) of the day", "where ts <= endofday(datetime(2023-08-10))"),
    ("week", "start", "midnight of the Sunday that starts the week (KQL)",
     "stats count() by startofweek(ts)"),
    ("week", "end", "the last instant of the week (Saturday)", "extend e = endofweek(ts)"),
    ("month", "start", "midnight of the month's first day", "stats count() by startofmonth(ts)"),
    ("month", "end", "the last instant of the month", "extend e = endofmonth(ts)"),
    ("year", "start", "midnight of January 1", "extend y = startofyear(ts)"),
    ("year", "end", "the last instant of the year", "extend y = endofyear(ts)"),
]

FUNCTIONS = {f.name: f for f in [
    _fn("now", 0, 1, now, "the reference time (default: the end of the case's data; --now "
        "sets it), plus an optional offset: now(-1d)", "where ts > now(-1h)",
        (frozenset({DURATION}),), TIME, (DUR,)),
    _fn("ago", 1, 1, ago, "the reference time minus a duration (KQL); the reference time "
        "defaults to the end of the case's data", "where ts > ago(1h)",
        (frozenset({DURATION}),), TIME, (DUR,)),
    _fn("datetime", 1, 1, datetime_, "a time: datetime(2023-08-10 14:00), datetime(\"…\"), "
        "datetime(null)", "where ts > datetime(2023-08-10)", (frozenset({TIME, TEXT}),), TIME,
        (TS,)),
    _fn("totimespan", 1, 1, totimespan, "text to a duration: \"1.02:03:04\", \"00:10:00\", "
        "\"30m\", \"1.5h\"; otherwise null", 'extend d = totimespan("00:10:00")',
        (frozenset({TEXT, DURATION}),), DURATION, (pa.string(),)),
    _fn("timespan", 1, 1, totimespan, "a duration: timespan(1d), timespan(\"02:00:00\") "
        "(as totimespan)", "where ts > now() - timespan(2h)", (frozenset({TEXT, DURATION}),),
        DURATION, (pa.string(),)),
    *[_fn(f"{side}of{unit}", 1, 2, _boundary(unit, f"{side}of{unit}", side == "end"),
          f"{doc}; {side}of{unit}(t, n): n {unit}s later", example, (_T, _N), TIME,
          (TS, pa.int64()))
      for unit, side, doc, example in _BOUNDARIES],
    _fn("datetime_add", 3, 3, datetime_add, "datetime_add(period, n, t): t plus n periods "
        "(year, quarter, month, week, day, hour, minute, second, millisecond, microsecond, "
        "nanosecond); months keep the day, clamped to the month's end",
        'extend later = datetime_add("month", 1, ts)', (_P, _N, _T), TIME,
        (pa.string(), pa.int64(), TS)),
    _fn("datetime_diff", 3, 3, datetime_diff, "datetime_diff(period, t1, t2): period boundaries "
        "from t2 to t1 (positive when t1 is later, as in KQL)",
        'extend days = datetime_diff("day", ts, pstart)', (_P, _T, _T), INT,
        (pa.string(), TS)),
    _fn("datetime_part", 2, 2, datetime_part, "datetime_part(part, t): year, quarter, month, "
        "week (ISO), day, dayofyear, hour, minute, second, millisecond, microsecond, nanosecond",
        'extend h = datetime_part("hour", ts)', (_P, _T), INT, (pa.string(), TS)),
    _fn("format_datetime", 2, 2, format_datetime, "time as text in KQL's format elements "
        "(yyyy MM dd HH mm ss fff …), UTC", 'extend day = format_datetime(ts, "yyyy-MM-dd")',
        (_T, _P), TEXT, (TS, pa.string())),
    _fn("dayofweek", 1, 1, dayofweek, "days since the Sunday before, as a duration (KQL): "
        "0d Sunday … 6d Saturday", "where dayofweek(ts) == 0d", (_T,), DURATION),
    _int_part("hourofday", "hour", "hour of the day (UTC), 0-23", "where hourofday(ts) < 6"),
    _int_part("dayofmonth", "day", "day of the month (UTC), 1-31", "stats count() by dayofmonth(ts)"),
    _int_part("dayofyear", "dayofyear", "day of the year (UTC), 1-366", "extend d = dayofyear(ts)"),
    _int_part("getmonth", "month", "month (UTC), 1-12", "stats count() by getmonth(ts)"),
    _int_part("monthofyear", "month", "month (UTC), 1-12 (as getmonth)", "extend m = monthofyear(ts)"),
    _int_part("getyear", "year", "year (UTC)", "stats count() by getyear(ts)"),
    _int_part("week_of_year", "week", "ISO 8601 week of the year, 1-53", "extend w = week_of_year(ts)"),
    _fn("unixtime_seconds_todatetime", 1, 1, unixtime_todatetime(10**9, "unixtime_seconds_todatetime"),
        "seconds since 1970-01-01 UTC to a time", "extend t = unixtime_seconds_todatetime(1691676000)",
        (NUMBER,), TIME, (pa.int64(),)),
    _fn("unixtime_milliseconds_todatetime", 1, 1,
        unixtime_todatetime(10**6, "unixtime_milliseconds_todatetime"),
        "milliseconds since 1970-01-01 UTC to a time",
        "extend t = unixtime_milliseconds_todatetime(1691676000000)", (NUMBER,), TIME,
        (pa.int64(),)),
]}

# checks of constant arguments, before any row is read (plan.py reads impl.check_args)
for _name in ("datetime_add", "datetime_diff", "datetime_part"):
    FUNCTIONS[_name].impl.check_args = _checks_literal(
        0, lambda text, _n=_name: period_name(text, _n))
FUNCTIONS["format_datetime"].impl.check_args = _checks_literal(1, format_tokens)
