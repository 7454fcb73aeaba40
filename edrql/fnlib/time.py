"""Time functions with KQL's meaning: ``now``, ``ago``, ``datetime(…)``, ``totimespan``,
``startof…``/``endof…``, ``datetime_add``, ``datetime_diff``, ``datetime_part``,
``format_datetime``, ``dayofweek`` (a duration: 0d is Sunday), ``hourofday`` …

All columnar: timestamps are read as int64 nanoseconds (UTC) and worked on with numpy;
calendar steps (months, years) are integer arithmetic (fnlib/timecore.py). A null
input gives null. A result beyond the range of times (1677–2262) is an error, never a
wrapped value.

``now`` and ``ago`` read the run's reference time (edrql/reftime.py): the evaluator
passes it as ``now=`` (``USES_NOW``).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..fnspec import DURATION, FLOAT, INT, NUMBER, TEXT, TIME, Function
from ..schema import TS
from .timecore import (ALIASES, DAY, DUR, HI, LO, MAX_MONTHS, MONTH_STEPS, PERIODS, UNIT_NS, arrays,
                       civil_of, int_values, month_start_days, months_since_epoch, ns_values, result,
                       week_start)
from .timetext import format_datetime, format_tokens, totimespan

#: functions the evaluator calls with the reference time as ``now=``
USES_NOW = frozenset({"now", "ago"})

#: datetime_part's parts besides the periods
_PARTS = {"week_of_year": "week", "weekofyear": "week", "dayofyear": "dayofyear"}


def period_name(text: str, name: str) -> str:
    """A period as written ("Days", "ms") → its name; an unknown one is a TypeError."""
    p = text.strip().lower()
    p = _PARTS.get(p, ALIASES.get(p, p)) if name == "datetime_part" else ALIASES.get(p, p)
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
    """A plan-time check of a constant text argument (exprcheck.py calls
    ``impl.check_args`` with the call): (message, argument index) when the literal is wrong, else None."""
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


# ------------------------------------------------------------------ now, ago, literals
def now(offset=None, *, now):
    """now([offset]): the reference time, plus offset (KQL: now(-1d) is a day before)."""
    if offset is None:
        return now
    (o,), scalar = arrays(offset)
    return pc.add_checked(pa.repeat(now, len(o)), o)[0] if scalar else \
        pc.add_checked(pa.repeat(now, len(o)), o)


def ago(span, *, now):
    """ago(d): the reference time minus d."""
    (d,), scalar = arrays(span)
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
    (a,), scalar = arrays(value)
    out, _ = parse_time(as_text(a), Ctx())
    return out[0] if scalar else out


def unixtime_todatetime(scale: int, name: str):
    def fn(value):
        (a,), scalar = arrays(value)
        if a.type == pa.null():
            return result(np.zeros(len(a), np.int64), np.zeros(len(a), bool), TS, scalar, name)
        if not (pa.types.is_integer(a.type) or pa.types.is_floating(a.type)):
            raise TypeError(f"{name}() needs a number of {name.split('_')[1]}")
        valid = a.is_valid().to_numpy(zero_copy_only=False) if a.null_count else np.ones(len(a), bool)
        v = pc.fill_null(a, 0).to_numpy(zero_copy_only=False)
        est = v.astype(np.float64) * scale
        exact = v.astype(np.int64) * scale if v.dtype.kind != "f" else \
            np.round(np.where(valid & (np.abs(est) < HI), est, 0)).astype(np.int64)
        return result(exact, valid, TS, scalar, name, est)
    return fn


# ------------------------------------------------------------------ start/end of
def _period_start(unit: str, ns: np.ndarray, k: np.ndarray, name: str):
    """(exact int64, float64 estimate) of the start of the period k periods after ns's."""
    if unit in ("month", "year"):
        if np.abs(k).max(initial=0) > MAX_MONTHS:
            raise TypeError(f"{name}(): the result is beyond the range of times (1677-2262)")
        months = months_since_epoch(ns)
        if unit == "year":
            months = months - months % 12
        days = month_start_days(months + k * (12 if unit == "year" else 1))
        return days * DAY, days.astype(np.float64) * DAY
    width = DAY if unit == "day" else 7 * DAY
    base = np.floor_divide(ns, DAY) * DAY if unit == "day" else week_start(ns)
    return base + k * width, base.astype(np.float64) + k.astype(np.float64) * width


def _boundary(unit: str, name: str, end: bool):
    """startofX(t[, n]) / endofX(t[, n]): the first (last) instant of the period n periods
    after t's; the last instant is the next period's start minus 1ns."""
    def fn(ts, offset=None):
        args, scalar = arrays(ts, *([offset] if offset is not None else []))
        ns, valid = ns_values(args[0])
        k = np.zeros(len(ns), np.int64)
        if offset is not None:
            k, kvalid = int_values(args[1], f"{name}()'s offset")
            valid = valid & kvalid
        ns, k = np.where(valid, ns, 0), np.where(valid, k, 0)
        exact, est = _period_start(unit, ns, k + 1 if end else k, name)
        if end:
            exact, est = exact - 1, est - 1
        return result(exact, valid, TS, scalar, name, est)
    fn.__name__ = name
    return fn


# ------------------------------------------------------------------ add, diff, part
def datetime_add(part, amount, ts):
    """datetime_add(period, n, t): t moved by n periods; months and years keep the day,
    clamped to the month's last day (Jan 31 + 1 month = Feb 28/29)."""
    p = _period(part, "datetime_add")
    (n_a, t_a), scalar = arrays(amount, ts)
    n, nvalid = int_values(n_a, "datetime_add()'s amount")
    ns, valid = ns_values(t_a)
    valid = valid & nvalid
    ns, n = np.where(valid, ns, 0), np.where(valid, n, 0)
    if p in UNIT_NS:
        return result(ns + n * UNIT_NS[p], valid, TS, scalar, "datetime_add",
                    ns.astype(np.float64) + n.astype(np.float64) * UNIT_NS[p])
    if np.abs(n).max(initial=0) > MAX_MONTHS:
        raise TypeError("datetime_add(): the result is beyond the range of times (1677-2262)")
    months = months_since_epoch(ns)
    first = month_start_days(months)
    day = np.floor_divide(ns, DAY) - first              # days into the month
    within = ns - np.floor_divide(ns, DAY) * DAY       # time of day
    target = months + n * MONTH_STEPS[p]
    t_first = month_start_days(target)
    length = month_start_days(target + 1) - t_first
    days = t_first + np.minimum(day, length - 1)
    return result(days * DAY + within, valid, TS, scalar, "datetime_add",
                days.astype(np.float64) * DAY + within)


def _unit_index(ns: np.ndarray, p: str) -> np.ndarray:
    """The period each time falls in, as a number: periods crossed = difference of these."""
    if p in ("month", "quarter", "year"):
        m = months_since_epoch(ns)
        return m if p == "month" else np.floor_divide(m, MONTH_STEPS[p])
    if p == "week":
        return np.floor_divide(week_start(ns), 7 * DAY)
    return np.floor_divide(ns, UNIT_NS[p])


def datetime_diff(part, t1, t2):
    """datetime_diff(period, t1, t2): the number of period boundaries from t2 to t1 (KQL:
    positive when t1 is later; weeks start on Sunday)."""
    p = _period(part, "datetime_diff")
    (a, b), scalar = arrays(t1, t2)
    x, xv = ns_values(a)
    y, yv = ns_values(b)
    valid = xv & yv
    if p == "nanosecond":
        est = x.astype(np.float64) - y.astype(np.float64)
        if ((est < LO) | (est > HI))[valid].any():
            raise TypeError("datetime_diff(): the difference is beyond the 64-bit range")
    return result(_unit_index(x, p) - _unit_index(y, p), valid, pa.int64(), scalar)


def _day_of_year(ns: np.ndarray) -> np.ndarray:
    days = np.floor_divide(ns, DAY)
    y, _, _ = civil_of(ns)
    return days - month_start_days((y - 1970) * 12) + 1


def _iso_week(a: pa.Array) -> np.ndarray:
    return pc.fill_null(pc.iso_week(a), 0).to_numpy(zero_copy_only=False).astype(np.int64)


def _part_values(p: str, ns: np.ndarray, a: pa.Array) -> np.ndarray:
    if p in ("year", "month", "day"):
        return civil_of(ns)[("year", "month", "day").index(p)]
    if p == "quarter":
        return (civil_of(ns)[1] - 1) // 3 + 1
    if p in ("week", "week_of_year", "weekofyear"):
        return _iso_week(a)
    if p in ("dayofyear",):
        return _day_of_year(ns)
    tod = ns - np.floor_divide(ns, DAY) * DAY
    unit = {"hour": 3600 * 10**9, "minute": 60 * 10**9, "second": 10**9,
            "millisecond": 10**6, "microsecond": 10**3, "nanosecond": 1}[p]
    mod = {"hour": 24, "minute": 60, "second": 60, "millisecond": 1000, "microsecond": 10**6,
           "nanosecond": 10**9}[p]
    return (tod // unit) % mod


def _part_fn(p: str, name: str):
    def fn(ts):
        (a,), scalar = arrays(ts)
        ns, valid = ns_values(a)
        return result(_part_values(p, ns, a if a.type != pa.null() else a.cast(TS)), valid,
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
    (a,), scalar = arrays(ts)
    ns, valid = ns_values(a)
    days = np.floor_divide(ns, DAY)
    return result(((days + 4) % 7) * DAY, valid, DUR, scalar)


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
    *[_fn(name, 1, 1, totimespan, f"a duration: {name}(1d), {name}(\"02:00:00\") (as totimespan)",
          f"where ts > now() - {name}(2h)", (frozenset({TEXT, DURATION}),), DURATION,
          (pa.string(),)) for name in ("timespan", "time")],
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

# checks of constant arguments, before any row is read (exprcheck.py reads impl.check_args)
for _name in ("datetime_add", "datetime_diff", "datetime_part"):
    FUNCTIONS[_name].impl.check_args = _checks_literal(
        0, lambda text, _n=_name: period_name(text, _n))
FUNCTIONS["format_datetime"].impl.check_args = _checks_literal(1, format_tokens)
