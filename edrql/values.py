"""Vectorized value parsers shared by the profiles: epoch and FILETIME times exact
to the nanosecond (bad values → null, never an exception), near-ISO spellings,
named time formats, protocol names, null-skipping joins.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from .schema import TS

if TYPE_CHECKING:
    from .normalize import Ctx

# normalize (and the readers it imports) loads with the first helper that needs it, not
# with join_skip / unwrap_list, which a search uses (tests/test_first_contact.py)

TIME_FORMATS = {
    "iso": "ISO-8601 text; an explicit zone is honoured, zone-less values use tz",
    "auto": "epoch digits (unit by magnitude) or else ISO-8601 text",
    "epoch": "Unix epoch, unit by magnitude: <=10 digits s, 11-13 ms, 14-16 us, 17-18 FILETIME, 19 ns",
    "epoch_s": "Unix epoch seconds (fraction allowed)",
    "epoch_ms": "Unix epoch milliseconds",
    "epoch_us": "Unix epoch microseconds",
    "epoch_ns": "Unix epoch nanoseconds",
    "filetime": "Windows FILETIME, decimal (100 ns since 1601)",
    "filetime_hex": "Windows FILETIME, hexadecimal with or without 0x",
}

_NS_PER = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_I64 = 2**63 - 1
_FT_EPOCH = 116444736000000000   # 1970-01-01 in FILETIME
_NULL_S = pa.scalar(None, pa.string())


def _trim(arr: pa.Array) -> pa.Array:
    from .normalize import blank_to_null
    arr = blank_to_null(arr)
    return pc.utf8_trim_whitespace(arr) if arr.null_count < len(arr) else arr


def _zero_to_null(arr: pa.Array) -> pa.Array:
    """"0" / "0.000" mean "no time" in vendor exports."""
    z = pc.fill_null(pc.match_substring_regex(arr, r"^0+(\.0*)?$"), False)
    return pc.if_else(z, _NULL_S, arr)


def _int_digits(arr: pa.Array) -> pa.Array:
    return pc.utf8_length(pc.replace_substring_regex(arr, r"\..*$", ""))


def epoch_to_ts(arr: pa.Array, unit: str) -> pa.Array:
    """Epoch text in ``unit`` (s, ms, us, ns; fraction allowed) → timestamp[ns, UTC].

    Exact to the nanosecond (no floating point). Values that are not numbers, zero,
    or out of the timestamp range become null — never an exception.
    """
    mult = _NS_PER[unit]
    s = _zero_to_null(_trim(arr))
    ok = pc.fill_null(pc.match_substring_regex(s, r"^\d{1,19}(\.\d*)?$"), False)
    s = pc.if_else(ok, s, _NULL_S)
    ip_text = pc.replace_substring_regex(s, r"\..*$", "")
    # 19 digits may exceed int64: compare as text (same length → lexicographic order)
    fits = pc.or_(pc.less(pc.utf8_length(ip_text), 19),
                  pc.less_equal(ip_text, str(_I64)))
    ip_text = pc.if_else(pc.fill_null(fits, False), ip_text, _NULL_S)
    ip = pc.cast(ip_text, pa.int64())
    frac = pc.replace_substring_regex(s, r"^\d+\.?", "")
    frac9 = pc.cast(pc.utf8_slice_codeunits(pc.utf8_rpad(frac, 9, "0"), 0, 9), pa.int64())
    in_range = pc.fill_null(pc.less_equal(ip, _I64 // mult - 1), False)
    ip = pc.if_else(in_range, ip, pa.scalar(None, pa.int64()))
    ns = pc.add(pc.multiply(ip, mult), pc.divide(pc.multiply(frac9, mult), 10**9))
    return pc.cast(ns, TS)


def filetime_to_ts_safe(arr: pa.Array, hexadecimal: bool = False) -> pa.Array:
    """FILETIME text (decimal, or hex with/without 0x) → timestamp[ns, UTC]; zero and
    out-of-range values → null."""
    from .normalize import to_int
    s = _zero_to_null(_trim(arr))
    if hexadecimal:
        bare = pc.replace_substring_regex(s, r"^0[xX]", "")
        s = pc.binary_join_element_wise(pa.scalar("0x"), bare, "")
    v = to_int(s)
    lo, hi = _FT_EPOCH - _I64 // 100, _FT_EPOCH + _I64 // 100
    ok = pc.fill_null(pc.and_(pc.greater(v, 0), pc.and_(pc.greater_equal(v, lo), pc.less_equal(v, hi))),
                      False)
    v = pc.if_else(ok, v, pa.scalar(None, pa.int64()))
    return pc.cast(pc.multiply(pc.subtract(v, _FT_EPOCH), 100), TS)


def epoch_auto(arr: pa.Array) -> pa.Array:
    """Epoch text whose unit is decided by the number of integer digits (a guard for
    fields documented as one unit but sometimes written in another):
    <=10 s, 11-13 ms, 14-16 us, 17-18 FILETIME (> 0x0100000000000000 in practice), 19 ns."""
    from .normalize import nulls
    s = _zero_to_null(_trim(arr))
    num = pc.fill_null(pc.match_substring_regex(s, r"^\d{1,19}(\.\d*)?$"), False)
    s = pc.if_else(num, s, _NULL_S)
    d = _int_digits(s)
    out = nulls(len(arr), TS)

    def band(lo: int, hi: int) -> pa.Array:
        m = pc.fill_null(pc.and_(pc.greater_equal(d, lo), pc.less_equal(d, hi)), False)
        return pc.if_else(m, s, _NULL_S)

    for lo, hi, conv in ((1, 10, lambda a: epoch_to_ts(a, "s")),
                         (11, 13, lambda a: epoch_to_ts(a, "ms")),
                         (14, 16, lambda a: epoch_to_ts(a, "us")),
                         (17, 18, lambda a: filetime_to_ts_safe(pc.replace_substring_regex(a, r"\..*$", ""))),
                         (19, 19, lambda a: epoch_to_ts(a, "ns"))):
        part = band(lo, hi)
        if part.null_count < len(part):
            out = pc.coalesce(out, conv(part))
    return out


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def clean_iso(arr: pa.Array) -> pa.Array:
    """Bring common near-ISO spellings to ISO-8601 (vectorized):
    Go/Carbon Black ``2022-02-10 11:50:51.6 +0000 UTC`` → ``…11:50:51.6+0000``;
    a space before the offset; Kibana ``Jun 29, 2020 @ 14:00:00.000`` → ``2020-06-29T14:00:00.000``."""
    arr = _trim(arr)
    if arr.null_count == len(arr):
        return arr
    arr = pc.replace_substring_regex(arr, r"(\d)\s*([+-]\d\d:?\d\d)\s+(UTC|GMT|[A-Z]{3,5})$", r"\1\2")
    arr = pc.replace_substring_regex(arr, r"(\d)\s+([+-]\d\d:?\d\d)$", r"\1\2")
    kib = pc.fill_null(pc.match_substring_regex(arr, r"^[A-Z][a-z]{2} \d{1,2}, \d{4} @ "), False)
    if pc.any(kib).as_py():
        for i, m in enumerate(_MONTHS, 1):
            arr = pc.replace_substring_regex(arr, rf"^{m} (\d), (\d{{4}}) @ ", rf"\2-{i:02d}-0\1T")
            arr = pc.replace_substring_regex(arr, rf"^{m} (\d\d), (\d{{4}}) @ ", rf"\2-{i:02d}-\1T")
    return arr


def parse_as(arr: pa.Array, fmt: str, ctx: Ctx, tz: str | None = None) -> tuple[pa.Array, str]:
    """Time text in a named format (TIME_FORMATS) → (timestamp[ns, UTC], decision in words)."""
    from .normalize import parse_time
    if fmt == "iso":
        return parse_time(clean_iso(arr), ctx, assume=tz)
    if fmt == "auto":
        t = _trim(arr)
        num = pc.fill_null(pc.match_substring_regex(t, r"^\d+(\.\d*)?$"), False)
        ep = epoch_auto(pc.if_else(num, t, _NULL_S))
        if pc.all(pc.or_(num, pc.is_null(t))).as_py():
            return ep, "epoch values (unit by magnitude), UTC by definition"
        iso, why = parse_time(clean_iso(pc.if_else(num, _NULL_S, t)), ctx, assume=tz)
        return pc.coalesce(ep, iso), ("epoch values UTC by definition; " + why
                                      if pc.any(num).as_py() else why)
    if fmt == "epoch":
        return epoch_auto(arr), "epoch values (unit by magnitude), UTC by definition"
    if fmt.startswith("epoch_"):
        return epoch_to_ts(arr, fmt[6:]), f"{fmt} values, UTC by definition"
    if fmt in ("filetime", "filetime_hex"):
        return filetime_to_ts_safe(arr, fmt == "filetime_hex"), "FILETIME values, UTC by definition"
    raise ValueError(fmt)


# ====================================================================== value helpers
_PROTO_NUM = {"1": "icmp", "2": "igmp", "6": "tcp", "17": "udp", "47": "gre", "50": "esp",
              "58": "icmpv6", "132": "sctp"}


def proto_name(arr: pa.Array) -> pa.Array:
    """Protocol text → lower-case name: ``6`` → tcp, ``PROTO_UDP`` → udp, ``TCP`` → tcp."""
    from .normalize import lookup
    a = pc.utf8_lower(_trim(arr))
    a = pc.replace_substring_regex(a, r"^(ip)?proto_", "")
    return pc.coalesce(lookup(a, _PROTO_NUM), a)


def join_skip(parts: list[pa.Array], sep: str) -> pa.Array:
    """Row-wise join of the non-null parts (null when all are null).

    Not ``binary_join_element_wise(null_handling="skip")``: in pyarrow 26 that drops
    the rows whose parts are all null, returning a shorter array.
    """
    acc = parts[0]
    for p in parts[1:]:
        acc = pc.coalesce(pc.binary_join_element_wise(acc, p, sep), acc, p)
    return acc


def unwrap_list(arr: pa.Array) -> pa.Array:
    """A one-element JSON list ``[868]`` / ``["x"]`` → its element (simple values only)."""
    return pc.replace_substring_regex(arr, r'^\[\s*"?([^",\[\]]*?)"?\s*\]$', r"\1")


