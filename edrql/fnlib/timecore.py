"""What the time functions (fnlib/time.py, fnlib/timetext.py) are built on: scalars and
columns as equal-length arrays, timestamps as int64 nanoseconds (UTC) with a validity mask,
results back as Arrow values with a check of the range of times, and calendar arithmetic
(months since the epoch, month starts, Sunday week starts) in integers, vectorized."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..schema import TS
from ..timefmt import civil

DUR = pa.duration("ns")
UNIT_NS = {"nanosecond": 1, "microsecond": 10**3, "millisecond": 10**6, "second": 10**9,
           "minute": 60 * 10**9, "hour": 3600 * 10**9, "day": 86400 * 10**9,
           "week": 7 * 86400 * 10**9}
MONTH_STEPS = {"month": 1, "quarter": 3, "year": 12}
#: KQL's period names (case-insensitive), with the plural and short spellings it accepts
ALIASES = {"years": "year", "quarters": "quarter", "months": "month", "weeks": "week",
            "days": "day", "hours": "hour", "minutes": "minute", "seconds": "second",
            "milliseconds": "millisecond", "microseconds": "microsecond",
            "nanoseconds": "nanosecond", "ms": "millisecond", "us": "microsecond",
            "ns": "nanosecond", "min": "minute", "sec": "second"}
PERIODS = ("year", "quarter", "month", "week", "day", "hour", "minute", "second",
           "millisecond", "microsecond", "nanosecond")
LO, HI = -(2**63) + 1, 2**63 - 1
DAY = 86400 * 10**9
#: month steps beyond this leave the range of times whatever the start
MAX_MONTHS = 12 * 600


# ------------------------------------------------------------------ plumbing
def arrays(*args):
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


def ns_values(a: pa.Array):
    """A timestamp or duration array → (int64 numpy values with nulls as 0, valid mask)."""
    if pa.types.is_timestamp(a.type) and a.type != TS:
        a = a.cast(TS) if a.type.tz else pc.assume_timezone(a, "UTC").cast(TS)
    if a.type == pa.null():
        return np.zeros(len(a), np.int64), np.zeros(len(a), bool)
    i = a.cast(pa.int64())
    valid = np.ones(len(a), bool) if not i.null_count else \
        i.is_valid().to_numpy(zero_copy_only=False)
    return pc.fill_null(i, 0).to_numpy(zero_copy_only=False).astype(np.int64), valid


def int_values(a: pa.Array, what: str):
    if a.type == pa.null():
        return np.zeros(len(a), np.int64), np.zeros(len(a), bool)
    if not (pa.types.is_integer(a.type) or pa.types.is_floating(a.type)):
        raise TypeError(f"{what} needs a whole number, got {a.type}")
    valid = a.is_valid().to_numpy(zero_copy_only=False) if a.null_count else np.ones(len(a), bool)
    v = pc.fill_null(a, 0).to_numpy(zero_copy_only=False)
    return np.trunc(v).astype(np.int64) if v.dtype.kind == "f" else v.astype(np.int64), valid


def result(values: np.ndarray, valid: np.ndarray, typ, scalar: bool, name: str = "",
         estimate: np.ndarray | None = None):
    """An int64 result as an Arrow value of ``typ``. ``estimate``: the same result in float64;
    where a valid one is beyond the 64-bit range of times, the exact (wrapping) int64
    arithmetic was wrong and the call is an error."""
    if estimate is not None and len(estimate) and \
            (valid & ((estimate < LO) | (estimate > HI))).any():
        raise TypeError(f"{name}(): the result is beyond the range of times (1677-2262)")
    arr = pa.array(values, pa.int64() if typ in (TS, DUR) else typ, mask=~valid)
    if typ in (TS, DUR):
        arr = arr.cast(typ)
    return arr[0] if scalar else arr


def months_since_epoch(ns: np.ndarray) -> np.ndarray:
    y, m, _ = civil(np.floor_divide(ns, DAY))
    return (y - 1970) * 12 + (m - 1)


def month_start_days(months: np.ndarray) -> np.ndarray:
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


def week_start(ns: np.ndarray) -> np.ndarray:
    """Midnight of the Sunday that starts the week (1970-01-01 was a Thursday)."""
    days = np.floor_divide(ns, DAY)
    return (days - (days + 4) % 7) * DAY


def civil_of(ns: np.ndarray):
    """(year, month, day) of UTC nanosecond times."""
    return civil(np.floor_divide(ns, DAY))
