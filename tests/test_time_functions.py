"""The time functions of edrql/fnlib/time.py over whole columns, against Python's own
calendar arithmetic (seeded random times, before and after 1970, with nulls)."""
from __future__ import annotations

import calendar
import datetime as dt
import random

import numpy as np
import pyarrow as pa
import pytest

from edrql.fnlib import time as T
from edrql.fnlib import timetext
from edrql.schema import TS

UTC = dt.timezone.utc
rng = random.Random(12)
#: times from 1901 to 2099, microsecond precision (Python datetimes), a few nulls
TIMES = [None if i % 17 == 0 else
         dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=rng.randrange(-2**51, 2**51))
         for i in range(400)]
COL = pa.chunked_array([pa.array(TIMES[:200], pa.timestamp("us", "UTC")).cast(TS),
                        pa.array(TIMES[200:], pa.timestamp("us", "UTC")).cast(TS)])


def _py(arr):
    """timestamp[ns] values as Python datetimes (µs precision is exact for these inputs)."""
    ints = arr.cast(pa.int64()).to_pylist()
    return [None if v is None else dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=v // 1000)
            for v in ints]


def _sunday_week_start(t: dt.datetime) -> dt.datetime:
    d = t.replace(hour=0, minute=0, second=0, microsecond=0)
    return d - dt.timedelta(days=(d.weekday() + 1) % 7)


def _add_months(t: dt.datetime, n: int) -> dt.datetime:
    m = t.month - 1 + n
    y, m = t.year + m // 12, m % 12 + 1
    return t.replace(year=y, month=m, day=min(t.day, calendar.monthrange(y, m)[1]))


def test_start_and_end_of_periods_match_the_calendar():
    for k in (-3, 0, 2):
        days = _py(T._boundary("day", "startofday", False)(COL, pa.scalar(k)))
        weeks = _py(T._boundary("week", "startofweek", False)(COL, pa.scalar(k)))
        months = _py(T._boundary("month", "startofmonth", False)(COL, pa.scalar(k)))
        years = _py(T._boundary("year", "startofyear", False)(COL, pa.scalar(k)))
        for t, d, w, m, y in zip(TIMES, days, weeks, months, years):
            if t is None:
                assert d is w is m is y is None
                continue
            midnight = t.replace(hour=0, minute=0, second=0, microsecond=0)
            assert d == midnight + dt.timedelta(days=k)
            assert w == _sunday_week_start(t) + dt.timedelta(weeks=k)
            assert m == _add_months(midnight.replace(day=1), k)
            assert y == midnight.replace(year=t.year + k, month=1, day=1)
    valid = np.array([t is not None for t in TIMES])
    for unit in ("day", "week", "month", "year"):
        end = T._boundary(unit, "endof" + unit, True)(COL).cast(pa.int64()).fill_null(0) \
            .to_numpy(zero_copy_only=False)
        nxt = T._boundary(unit, "startof" + unit, False)(COL, pa.scalar(1)).cast(pa.int64()) \
            .fill_null(0).to_numpy(zero_copy_only=False)
        assert end.dtype == np.int64 and (end[valid] == nxt[valid] - 1).all()   # the last ns


def test_datetime_add_months_and_units_match_python():
    for n in (-25, -1, 1, 13):
        got = _py(T.datetime_add(pa.scalar("month"), pa.scalar(n), COL))
        assert got == [None if t is None else _add_months(t, n) for t in TIMES]
    got = _py(T.datetime_add(pa.scalar("Hours"), pa.scalar(-30), COL))
    assert got == [None if t is None else t - dt.timedelta(hours=30) for t in TIMES]
    # the amount may be a column
    amounts = pa.array([i % 5 - 2 for i in range(len(TIMES))], pa.int64())
    got = _py(T.datetime_add(pa.scalar("day"), amounts, COL))
    assert got == [None if t is None else t + dt.timedelta(days=i % 5 - 2) for i, t in enumerate(TIMES)]


def test_datetime_diff_counts_boundaries():
    other = COL.take(pa.array(list(range(len(TIMES)))[::-1]))
    for period in ("year", "month", "day", "hour", "week"):
        got = T.datetime_diff(pa.scalar(period), COL, other).to_pylist()
        for a, b, g in zip(TIMES, TIMES[::-1], got):
            if a is None or b is None:
                assert g is None
                continue
            if period == "year":
                want = a.year - b.year
            elif period == "month":
                want = (a.year * 12 + a.month) - (b.year * 12 + b.month)
            elif period == "day":
                want = (a.date() - b.date()).days
            elif period == "hour":
                want = int((a.replace(minute=0, second=0, microsecond=0)
                            - b.replace(minute=0, second=0, microsecond=0)).total_seconds() // 3600)
            else:
                want = (_sunday_week_start(a) - _sunday_week_start(b)).days // 7
            assert g == want, (period, a, b)


def test_parts_and_format_match_strftime():
    y = T._part_fn("year", "getyear")(COL).to_pylist()
    doy = T._part_fn("dayofyear", "dayofyear")(COL).to_pylist()
    wk = T._part_fn("week", "week_of_year")(COL).to_pylist()
    dow = T.dayofweek(COL).cast(pa.int64()).to_pylist()
    text = T.format_datetime(COL, pa.scalar("yyyy-MM-dd HH:mm:ss.ffffff hh tt|d/M/yy")).to_pylist()
    for t, a, b, c, d, s in zip(TIMES, y, doy, wk, dow, text):
        if t is None:
            assert a is b is c is d is s is None
            continue
        assert (a, b, c) == (t.year, t.timetuple().tm_yday, t.isocalendar()[1])
        assert d == ((t.weekday() + 1) % 7) * 86400 * 10**9
        want = t.strftime("%Y-%m-%d %H:%M:%S.%f %I %p|") + f"{t.day}/{t.month}/{t.year % 100:02d}"
        assert s == want


def test_scalars_in_scalars_out_and_nulls():
    t = pa.scalar(dt.datetime(2023, 8, 10, 14, tzinfo=UTC)).cast(TS)
    out = T._boundary("day", "startofday", False)(t)
    assert isinstance(out, pa.Scalar) and out.cast(pa.int64()).as_py() == 1691625600 * 10**9
    assert not T._boundary("day", "startofday", False)(pa.scalar(None, TS)).is_valid
    assert T.datetime_diff(pa.scalar("day"), t, pa.scalar(None, TS)).as_py() is None
    now = pa.scalar(10**18, pa.int64()).cast(TS)
    assert T.ago(pa.scalar(5, pa.duration("ns")), now=now).cast(pa.int64()).as_py() == 10**18 - 5
    assert T.now(now=now) is now
    assert T.now(pa.scalar(-7, pa.duration("ns")), now=now).cast(pa.int64()).as_py() == 10**18 - 7


def test_errors_are_type_errors_naming_the_function():
    with pytest.raises(TypeError, match="datetime_add.*unknown period 'eon'"):
        T.datetime_add(pa.scalar("eon"), pa.scalar(1), COL)
    with pytest.raises(TypeError, match="beyond the range of times"):
        T.datetime_add(pa.scalar("day"), pa.scalar(10**9), COL)
    with pytest.raises(TypeError, match="beyond the range of times"):
        T._boundary("week", "startofweek", False)(COL, pa.scalar(10**7))
    with pytest.raises(TypeError, match="'ddd' is not a format element"):
        T.format_datetime(COL, pa.scalar("ddd"))
    with pytest.raises(TypeError, match="constant text"):
        T.format_datetime(COL, pa.array(["yyyy"] * len(TIMES)))


def test_totimespan_forms():
    got = T.totimespan(pa.array(["1.02:03:04.5", "00:10", "-1:00:00", "90s", "2d", "1.5H",
                                 "12 ms", "3ticks", "5 parsecs", "", None])).cast(pa.int64()).to_pylist()
    s = 10**9
    assert got == [93784 * s + s // 2, 600 * s, -3600 * s, 90 * s, 2 * 86400 * s, 5400 * s,
                   12 * 10**6, 300, None, None, None]


def test_constant_arguments_are_checked_by_the_plan():
    """Before any row is read: the checker sees the literal period or format."""
    from edrql.errors import QueryError
    from edrql.parse import parse
    from edrql.plan import Planner
    pl = Planner({"events": {"ts": "time", "name": "text"}}, set())
    for text, col, msg in (('events | extend x = datetime_add("eon", 1, ts)', 34, "unknown period 'eon'"),
                           ('events | extend x = format_datetime(ts, "yyyy-MMMM")', 41, "'MMMM'"),
                           ('events | where datetime_part("Day", ts) == 1 and datetime_part("x", ts) == 2',
                            64, "unknown part 'x'")):
        with pytest.raises(QueryError, match=msg) as ei:
            pl.check(parse(text))
        assert ei.value.pos.column == col
    pl.check(parse('events | extend x = datetime_add("Months", 1, ts), y = format_datetime(ts, "yy")'))


def test_totimespan_of_a_long_column_with_repeats_parses_each_value_once():
    values = ["1.02:03:04.5", "30m", "nonsense", None] * 1000
    got = T.totimespan(pa.array(values)).cast(pa.int64()).to_pylist()
    one = T.totimespan(pa.array(values[:4])).cast(pa.int64()).to_pylist()
    assert got == one * 1000 and one[0] == 93784 * 10**9 + 5 * 10**8 and one[2:] == [None, None]


def test_fixed_width_formats_take_the_byte_path_and_agree_with_strftime():
    fmt = "yyyy-MM-dd'T'HH:mm:ss.fff hh tt [yy]"
    toks = T.format_tokens(fmt)
    assert timetext._fixed_width(toks, timetext._fields(np.zeros(1, np.int64)), 1) is not None   # the fast path
    got = T.format_datetime(COL, pa.scalar(fmt)).to_pylist()
    for t, s in zip(TIMES, got):
        assert s == (None if t is None else
                     t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}"
                     + t.strftime(" %I %p [%y]"))


def test_datetime_literal_reads_zone_less_times_in_tz(example_case):
    """A deliberate difference from KQL (docs/language.md): like every time literal in edrql,
    datetime(2023-08-10 14:00) without a zone is read in --tz; with a zone it is that time."""
    from edrql.query import execute_text, make_context
    from edrql.fnlib.textcast import as_text
    q = "events | take 1 | project a = datetime(2023-08-10 14:00), b = datetime(2023-08-10T14:00:00Z)"
    for tz, want in (("UTC", "2023-08-10T14:00:00"), ("Asia/Tokyo", "2023-08-10T05:00:00")):
        t = execute_text(make_context(example_case, tz=tz), q)[-1].table
        assert as_text(t["a"].combine_chunks())[0].as_py().startswith(want)
        assert as_text(t["b"].combine_chunks())[0].as_py().startswith("2023-08-10T14:00:00")
