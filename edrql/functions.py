"""Registries of the language: scalar functions, aggregations, operators and pipe
stages. One source of truth for execution, checking, help, docs and (later)
completion and highlighting. Implementations are vectorized (pyarrow.compute).
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from . import catalog
from .fnspec import (BOOL, DATE, DURATION, FLOAT, INT, LIST, NUMBER, SCALAR, TEXT, TIME, Aggregation,
                     Function, Operator, Stage)
from .fnlib.eqlfuncs import EQL_FUNCTIONS
from .fnlib.kqlfuncs import KQL_FUNCTIONS
from .fnlib.textcast import as_text
from .fnlib.time import FUNCTIONS as TIME_FUNCTIONS
from .schema import TS


def _basename(a):
    return pc.replace_substring_regex(as_text(a), r"^.*[\\/]", "")


def _dirname(a):
    s = as_text(a)
    return pc.if_else(pc.match_substring_regex(s, r"[\\/]"),
                      pc.replace_substring_regex(s, r"[\\/][^\\/]*$", ""), pa.scalar(""))


def _extension(a):
    b = _basename(a)
    return pc.if_else(pc.match_substring_regex(b, r"\.[^.]+$"),
                      pc.replace_substring_regex(b, r"^.*\.", ""), pa.scalar(""))


_I64 = 2**63 - 1


def _substring(s, start, length=None):
    start_v = start.as_py() if isinstance(start, pa.Scalar) else None
    if start_v is None or (length is not None and not isinstance(length, pa.Scalar)):
        raise TypeError("substring() takes constant start and length")
    if length is not None and length.as_py() is None:
        raise TypeError("substring() needs a length that is not null")
    if length is not None and length.as_py() < 0:
        raise TypeError("substring() needs a length of 0 or more")
    stop = _I64 if length is None else min(start_v + length.as_py(), _I64)
    if start_v < 0 and stop >= 0:        # from the end, running past it: to the end
        stop = _I64
    return pc.utf8_slice_codeunits(as_text(s), start_v, stop)


def toint(a):
    """Text → int64: decimal or 0x hex; anything else null."""
    from .normalize import to_int
    if isinstance(a, pa.Scalar):
        return to_int(pa.array([a.as_py() if a.is_valid else None], pa.string()).cast(
            pa.string()))[0] if not pa.types.is_integer(a.type) else a
    if pa.types.is_integer(a.type):
        return pc.cast(a, pa.int64())
    if pa.types.is_floating(a.type):
        return pc.cast(pc.floor(a), pa.int64())
    arr = a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a
    return to_int(as_text(arr))


def bin_(value, span):
    """Floor to a multiple of span: timestamps by a duration, numbers by a number."""
    if not isinstance(span, pa.Scalar) or not span.is_valid:
        raise TypeError("bin() needs a constant width, e.g. bin(ts, 5m)")
    if pa.types.is_timestamp(value.type):
        if not pa.types.is_duration(span.type):
            raise TypeError("bin() of a timestamp needs a duration width, e.g. bin(ts, 5m)")
        ns = span.cast(pa.int64()).as_py()           # not as_py(): 1ns is no timedelta
        if ns <= 0:
            raise TypeError("bin() needs a positive width, e.g. bin(ts, 5m)")
        iv = pc.cast(value, pa.int64())
        # floor toward the past (times before 1970 too)
        return pc.cast(pc.subtract(iv, _floor_mod(iv, ns)), value.type)
    if value.type == pa.null():
        return value
    width = span.as_py()
    if isinstance(width, bool) or not isinstance(width, (int, float)):
        raise TypeError("bin() of a number needs a number width, e.g. bin(rport, 1000)")
    if width <= 0:
        raise TypeError("bin() needs a positive width, e.g. bin(rport, 1000)")
    if pa.types.is_integer(value.type) and isinstance(width, int):
        v = pc.cast(value, pa.int64())
        return pc.subtract(v, _floor_mod(v, width))
    v = pc.cast(value, pa.float64(), safe=False)
    return pc.multiply(pc.floor(pc.divide(v, float(width))), float(width))


def _floor_mod(v, n: int):
    """v mod n with the sign of n (n > 0): floor semantics for negative v."""
    r = pc.subtract(v, pc.multiply(pc.divide(v, n), n))          # truncated remainder
    return pc.if_else(pc.less(r, 0), pc.add(r, n), r)


def _coalesce(*args):
    typed = [a for a in args if a.type != pa.null()]      # null arguments add nothing
    if not typed:
        return args[0]
    if len({a.type for a in typed}) > 1 and all(pa.types.is_integer(a.type) or
                                               pa.types.is_floating(a.type) for a in typed):
        typed = [pc.cast(a, pa.float64(), safe=False) for a in typed]
    return pc.coalesce(*typed)


def _strcat(*args):
    return pc.binary_join_element_wise(*[pc.fill_null(as_text(a), "") for a in args], "")


def _iif(cond, a, b):
    if a.type == pa.null() and b.type != pa.null():
        a = a.cast(b.type)
    elif b.type == pa.null() and a.type != pa.null():
        b = b.cast(a.type)
    if a.type != b.type and all(pa.types.is_integer(x.type) or pa.types.is_floating(x.type)
                                for x in (a, b)):
        a, b = pc.cast(a, pa.float64(), safe=False), pc.cast(b, pa.float64(), safe=False)
    return pc.if_else(cond, a, b)


def _date(ts):
    return pc.cast(pc.floor_temporal(ts, unit="day"), pa.date32())


def _todatetime(a):
    from .normalize import Ctx, parse_time
    if pa.types.is_timestamp(a.type):            # a time already (todatetime(now())): as it is
        return a
    if isinstance(a, pa.Scalar):
        arr, _ = parse_time(pa.array([a.as_py()], pa.string()), Ctx())
        return arr[0]
    arr, _ = parse_time(as_text(a), Ctx())
    return arr


FUNCTIONS: dict[str, Function] = {f.name: f for f in [
    Function("lower", 1, 1, lambda a: pc.utf8_lower(as_text(a)), "lower case",
             'extend n = lower(name)'),
    Function("upper", 1, 1, lambda a: pc.utf8_upper(as_text(a)), "upper case",
             'extend n = upper(name)'),
    Function("len", 1, 1, lambda a: pc.cast(pc.utf8_length(as_text(a)), pa.int64()),
             "length in characters", 'where len(cmdline) > 1000', returns=INT),
    Function("basename", 1, 1, _basename, "last path component (\\ or /)",
             'extend f = basename(path)'),
    Function("dirname", 1, 1, _dirname, "path without its last component",
             'stats count() by dirname(path)'),
    Function("extension", 1, 1, _extension, "file extension without the dot ('' if none)",
             'where extension(path) in ("dll", "exe")'),
    Function("coalesce", 1, 16, _coalesce, "first non-null argument",
             'extend who = coalesce(user, "unknown")', takes=(SCALAR | {LIST},), returns="same",
             null_as=(pa.null(),)),
    Function("strcat", 1, 32, _strcat, "concatenate as text (null counts as '')",
             'extend key = strcat(host, ":", pid)'),
    Function("substring", 2, 3, _substring, "substring(s, start[, length]); start is 0-based",
             'extend head = substring(cmdline, 0, 40)', takes=(SCALAR, frozenset({INT}))),
    Function("tostring", 1, 1, as_text, "value as text (timestamps as ISO 8601 UTC, lists as JSON)",
             'extend p = tostring(pid)', takes=(SCALAR | {LIST},)),
    Function("toint", 1, 1, toint, "text to integer; decimal or 0x hex; otherwise null",
             'where toint(raw.ProcessId) == 0x1d18', takes=(frozenset({TEXT, INT, FLOAT}),),
             returns=INT),
    Function("todatetime", 1, 1, _todatetime, "text to timestamp (ISO 8601; zone-less is UTC)",
             'where ts > todatetime("2023-08-10 14:00")', takes=(frozenset({TEXT, TIME}),),
             returns=TIME),
    Function("bin", 2, 2, bin_, "floor to a multiple: bin(ts, 5m), bin(rport, 1000)",
             'stats count() by bin(ts, 5m)', takes=(NUMBER | {TIME}, NUMBER | {DURATION}),
             returns="same", null_as=(pa.null(),)),
    Function("date", 1, 1, _date, "calendar date (UTC) of a timestamp",
             'stats count() by date(ts)', takes=(frozenset({TIME}),), returns=DATE, null_as=(TS,)),
    Function("hour", 1, 1, lambda a: pc.cast(pc.hour(a), pa.int64()), "hour of day (UTC), 0-23",
             'where hour(ts) < 6', takes=(frozenset({TIME}),), returns=INT, null_as=(TS,)),
    Function("day", 1, 1, lambda a: pc.cast(pc.day(a), pa.int64()), "day of month (UTC), 1-31",
             'stats count() by day(ts)', takes=(frozenset({TIME}),), returns=INT, null_as=(TS,)),
    Function("isnull", 1, 1, lambda a: pc.is_null(a), "true when the value is missing",
             'where isnull(ppid)', takes=(SCALAR | {LIST},), returns=BOOL, null_as=(pa.null(),)),
    Function("isnotnull", 1, 1, lambda a: pc.is_valid(a), "true when the value is present",
             'where isnotnull(raddr)', takes=(SCALAR | {LIST},), returns=BOOL, null_as=(pa.null(),)),
    Function("iif", 3, 3, _iif, "iif(condition, then, else)",
             'extend kind = iif(rport == 443, "tls", "other")',
             takes=(frozenset({BOOL}), SCALAR | {LIST}), returns="same", same_from=1,
             null_as=(pa.bool_(), pa.null())),
]}
FUNCTIONS.update(TIME_FUNCTIONS)      # ---- time functions: edrql/fnlib/time.py

# ---- KQL functions (fnlib.kqlfuncs) and KQL's names for functions above
FUNCTIONS.update({f.name: f for f in KQL_FUNCTIONS + [
    Function("tolong", 1, 1, toint, "alias of toint", 'where tolong(raw.ProcessId) > 1000',
             takes=(frozenset({TEXT, INT, FLOAT}),), returns=INT),
    Function("iff", 3, 3, _iif, "alias of iif", 'extend kind = iff(rport == 443, "tls", "other")',
             takes=(frozenset({BOOL}), SCALAR | {LIST}), returns="same", same_from=1,
             null_as=(pa.bool_(), pa.null())),
    Function("floor", 2, 2, bin_, "KQL's floor: alias of bin", 'stats count() by floor(ts, 1h)',
             takes=(NUMBER | {TIME}, NUMBER | {DURATION}), returns="same", null_as=(pa.null(),),
             kinds=lambda ks: ks[:1]),
]})

# ---- EQL functions (issue 14): fnlib/eqlfuncs.py — wildcard, cidr_match/cidrMatch,
# ipv4_is_in_range, length, indexOf (EQL's; KQL's indexof stays: lookup is case-sensitive),
# number, string, add/subtract/multiply/divide/modulo, abs, safe, concat, startsWith,
# endsWith, stringContains, between (text), array_contains/arrayContains, array_count
FUNCTIONS.update({f.name: f for f in EQL_FUNCTIONS})


# ---- eqlpipes: lineage predicates (edrql/lineagepred.py). They need the case, so the where
# stage replaces each call by a precomputed column before the row predicate runs; anywhere
# else the checker refuses them (check_args), and the impl is never reached.
def _lineage_only(*_):
    raise TypeError("descendant_of(), child_of() and ancestor_of() work in where")


def _lineage_where(call):
    return (f"{call.name}() works only in where: procs | where not {call.name}(…)", 0)


_lineage_only.check_args = _lineage_where
FUNCTIONS.update({f.name: f for f in [
    Function("descendant_of", 1, 1, _lineage_only, "where only: the row's process (proc) has an "
             "ancestor matching the condition over procs (EQL's descendant of); null when an "
             "ambiguous or conflicting parent link leaves it open",
             'procs | where not descendant_of(name == "winword.exe")', takes=(frozenset({BOOL}),),
             returns=BOOL, null_as=(pa.bool_(),)),
    Function("child_of", 1, 1, _lineage_only, "where only: the row's process has a parent "
             "matching the condition over procs (EQL's child of); null when the link is "
             "ambiguous or conflicting and the candidates disagree",
             'procs | where child_of(name == "winword.exe")', takes=(frozenset({BOOL}),),
             returns=BOOL, null_as=(pa.bool_(),)),
    Function("ancestor_of", 1, 1, _lineage_only, "where only: a descendant of the row's "
             "process matches the condition over procs; null when only an ambiguous or "
             "conflicting link connects one",
             'procs | where ancestor_of(name == "rundll32.exe")', takes=(frozenset({BOOL}),),
             returns=BOOL, null_as=(pa.bool_(),)),
]})


AGGREGATIONS: dict[str, Aggregation] = {a.name: a for a in [
    Aggregation("count", None, False, "number of rows (count(x): rows where x is not null)",
                "stats count() by event"),
    Aggregation("dcount", "count_distinct", True, "number of distinct non-null values",
                "stats dcount(pid) by host", SCALAR),
    Aggregation("min", "min", True, "smallest value", "stats min(ts) by host", SCALAR, "same"),
    Aggregation("max", "max", True, "largest value", "stats max(ts) by host", SCALAR, "same"),
    Aggregation("sum", "sum", True, "sum (of numbers or durations; true counts as 1)",
                "stats sum(rport) by host", NUMBER | {BOOL, DURATION}, "same"),
    Aggregation("avg", "mean", True, "mean (of numbers or durations)",
                "stats avg(len(cmdline)) by name", NUMBER | {BOOL, DURATION}, FLOAT),
    Aggregation("values", "distinct", True, "list of the distinct values",
                "stats values(name) by host", SCALAR, LIST),
    Aggregation("first", "first", True, "first value in the current row order",
                "sort by ts asc | stats first(cmdline) by name", SCALAR, "same"),
    Aggregation("last", "last", True, "last value in the current row order",
                "sort by ts asc | stats last(cmdline) by name", SCALAR, "same"),
    # ---- KQL's aggregations (implemented in fnlib/aggs.py; names as KQL gives them)
    Aggregation("arg_max", None, True, "arg_max(e, col, …) or arg_max(e, *): the row of each "
                "group with the largest e; its e and the listed columns (or all with *), under "
                "their own names",
                "summarize arg_max(ts, *) by host"),
    Aggregation("arg_min", None, True, "arg_min(e, col, …) or arg_min(e, *): as arg_max, the "
                "smallest e",
                "summarize arg_min(ts, cmdline) by host"),
    Aggregation("take_any", None, True, "take_any(x): a value of x (the first that is not null); "
                "take_any(a, b…) or take_any(*): the values of one row of each group",
                "summarize take_any(cmdline) by name"),
    Aggregation("any", None, True, "KQL's old name of take_any; columns are named any_x",
                "summarize any(cmdline) by name"),
    Aggregation("make_set", None, True, "make_set(x[, max]): list of the distinct values "
                "(case-sensitive, nulls left out; at most max, default 1048576); column set_x",
                "summarize make_set(name, 100) by host", returns=LIST),
    Aggregation("make_list", None, True, "make_list(x[, max]): list of all values in row order "
                "(nulls left out; at most max, default 1048576); column list_x",
                "summarize make_list(cmdline) by host", returns=LIST),
    Aggregation("countif", None, True, "countif(p): rows where p is true; column countif_",
                'summarize countif(name == "cmd.exe") by host'),
    Aggregation("dcountif", None, True, "dcountif(x, p): distinct values of x where p is true",
                'summarize dcountif(name, event == "process_start") by host'),
    Aggregation("sumif", None, True, "sumif(x, p): sum of x where p is true",
                "summarize sumif(rport, rport > 1024) by host"),
    Aggregation("avgif", None, True, "avgif(x, p): mean of x where p is true",
                "summarize avgif(rport, rport > 1024) by host", returns=FLOAT),
    Aggregation("minif", None, True, "minif(x, p): smallest x where p is true",
                'summarize minif(ts, name == "cmd.exe") by host'),
    Aggregation("maxif", None, True, "maxif(x, p): largest x where p is true",
                'summarize maxif(ts, name == "cmd.exe") by host'),
    Aggregation("percentile", None, True, "percentile(x, p): exact nearest-rank p-th percentile "
                "(KQL gives an estimate); column percentile_x_p",
                "summarize percentile(rport, 95) by host"),
    Aggregation("percentiles", None, True, "percentiles(x, p1, p2, …): one column per percentile",
                "summarize percentiles(rport, 50, 95) by host"),
]}


OPERATORS: dict[str, Operator] = {o.name: o for o in [
    Operator("==", "equal; strings compare case-insensitively", 'where name == "POWERSHELL.EXE"'),
    Operator("!=", "not equal (case-insensitive for strings); true for a missing value",
             'where user != "SYSTEM"'),
    Operator("===", "equal, case-sensitive", 'where name === "PowerShell.exe"'),
    Operator("!==", "not equal, case-sensitive", 'where name !== "powershell.exe"'),
    Operator("=~", "alias of == (case-insensitive equal, as in KQL)", 'where host =~ "pc-01"'),
    Operator("!~", "alias of != ", 'where host !~ "pc-01"'),
    Operator("<", "less than (numbers, times, text)", "where ts < 2023-08-10T15:00:00Z"),
    Operator("<=", "less than or equal", "where rport <= 1024"),
    Operator(">", "greater than", "where len(cmdline) > 500"),
    Operator(">=", "greater than or equal", "where pid >= 0x1000"),
    Operator("and", "both", 'where event == "process_start" and name == "cmd.exe"'),
    Operator("or", "either", 'where rport == 80 or rport == 8080'),
    Operator("not", "negation", 'where not (name in ("svchost.exe"))'),
    Operator("in", "in a list, case-insensitive", 'where name in ("powershell.exe", "rundll32.exe")'),
    Operator("!in", "not in a list, case-insensitive", 'where name !in ("svchost.exe")'),
    Operator("in_cs", "in a list, case-sensitive", 'where name in_cs ("WINWORD.EXE")'),
    Operator("!in_cs", "not in a list, case-sensitive", 'where name !in_cs ("WINWORD.EXE")'),
    Operator("between", "inclusive range: x between (low .. high)",
             'where ts between ("2023-08-10T14:00:00Z" .. "2023-08-10T15:00:00Z")'),
    Operator("!between", "outside an inclusive range", "where rport !between (1024 .. 65535)"),
    Operator("contains", "substring, case-insensitive", 'where cmdline contains "-enc"'),
    Operator("contains_cs", "substring, case-sensitive", 'where cmdline contains_cs "IEX"'),
    Operator("!contains", "no such substring (case-insensitive)", 'where path !contains "\\\\Windows\\\\"'),
    Operator("!contains_cs", "no such substring (case-sensitive)", 'where cmdline !contains_cs "IEX"'),
    Operator("startswith", "prefix, case-insensitive", 'where path startswith r"C:\\Users\\"'),
    Operator("startswith_cs", "prefix, case-sensitive", 'where image startswith_cs r"C:\\Windows"'),
    Operator("!startswith", "no such prefix", 'where path !startswith r"C:\\Windows\\"'),
    Operator("!startswith_cs", "no such prefix (case-sensitive)", 'where path !startswith_cs "C:"'),
    Operator("endswith", "suffix, case-insensitive", 'where path endswith ".dll"'),
    Operator("endswith_cs", "suffix, case-sensitive", 'where path endswith_cs ".DLL"'),
    Operator("!endswith", "no such suffix", 'where path !endswith ".tmp"'),
    Operator("!endswith_cs", "no such suffix (case-sensitive)", 'where path !endswith_cs ".TMP"'),
    Operator("matches", "regular expression (RE2: linear time), case-insensitive",
             r'where cmdline matches r"-e(nc|ncodedcommand)?\s"'),
    Operator("matches_cs", "regular expression, case-sensitive", r'where cmdline matches_cs r"IEX\s*\("'),
    Operator("!matches", "does not match the regular expression", r'where name !matches r"^svchost"'),
    Operator("!matches_cs", "does not match (case-sensitive)", r'where name !matches_cs r"^SVC"'),
    # ---- strops: KQL's term operators, in~, matches regex (edrql/strops.py)
    Operator("has", "whole terms, case-insensitive (a term is a run of ASCII letters and "
             "digits: has \"-nop\" does not match -NoProfile)", 'where cmdline has "-nop"'),
    Operator("!has", "not as whole terms (case-insensitive)", 'where cmdline !has "-nop"'),
    Operator("has_cs", "whole terms, case-sensitive", 'where cmdline has_cs "IEX"'),
    Operator("!has_cs", "not as whole terms (case-sensitive)", 'where cmdline !has_cs "IEX"'),
    Operator("hasprefix", "a term starts with it, case-insensitive", 'where cmdline hasprefix "-enc"'),
    Operator("!hasprefix", "no term starts with it", 'where path !hasprefix "sys"'),
    Operator("hasprefix_cs", "a term starts with it, case-sensitive", 'where cmdline hasprefix_cs "-E"'),
    Operator("!hasprefix_cs", "no term starts with it (case-sensitive)", 'where cmdline !hasprefix_cs "-E"'),
    Operator("hassuffix", "a term ends with it, case-insensitive", 'where path hassuffix ".exe"'),
    Operator("!hassuffix", "no term ends with it", 'where path !hassuffix ".tmp"'),
    Operator("hassuffix_cs", "a term ends with it, case-sensitive", 'where path hassuffix_cs ".EXE"'),
    Operator("!hassuffix_cs", "no term ends with it (case-sensitive)", 'where path !hassuffix_cs ".EXE"'),
    Operator("has_any", "has any of the terms (a list, or a let name holding one)",
             'where cmdline has_any ("-enc", "-nop", "bypass")'),
    Operator("!has_any", "has none of the terms", 'where cmdline !has_any ("-enc", "-nop")'),
    Operator("has_all", "has every one of the terms", 'where cmdline has_all ("-nop", "-w", "hidden")'),
    Operator("!has_all", "lacks at least one of the terms", 'where cmdline !has_all ("-nop", "hidden")'),
    Operator("in~", "in a list, case-insensitive (KQL's spelling of edrql's in)",
             'where name in~ ("POWERSHELL.EXE", "rundll32.exe")'),
    Operator("!in~", "not in a list, case-insensitive", 'where name !in~ ("svchost.exe")'),
    Operator("matches regex", "KQL's spelling: regular expression, case-sensitive (as in KQL; "
             "(?i) ignores case)", r'where cmdline matches regex @"-[Ee]nc(odedCommand)?\s"'),
    Operator("+", "add; timestamp + duration", "where ts > pstart + 2s"),
    Operator("-", "subtract; timestamp - duration, timestamp - timestamp", "where ts > pstart - 5m"),
    Operator("*", "multiply", "extend kb = rport * 2"),
    Operator("/", "divide", "extend x = rport / 2"),
    Operator("%", "remainder", "where pid % 4 != 0"),
    # ---- EQL operators (issue 14): wildcard patterns (fnlib/eqlfuncs.py, compare.py)
    Operator("like", "wildcard pattern, case-insensitive: * any run, ? one character, the "
             "rest literal; a list: like (\"a*\", \"b\"); a missing value matches none",
             'where name like "power*.exe"'),
    Operator("!like", "matches none of the wildcard patterns (true for a missing value)",
             'where name !like ("svchost*", "conhost.exe")'),
    Operator("like_cs", "wildcard pattern, case-sensitive", 'where name like_cs "*.EXE"'),
    Operator("!like_cs", "no such wildcard match (case-sensitive)", 'where name !like_cs "*.EXE"'),
    Operator(":", "EQL's wildcard match: the same as like", 'where name : ("cmd*", "power*")'),
]}


STAGES: dict[str, Stage] = {s.name: s for s in [
    Stage("where", "where EXPR", "keep rows where EXPR is true (null is not true)",
          'events | where event == "process_start"'),
    Stage("project", "project a, b, name = EXPR", "choose, rename and compute columns",
          "events | project ts, host, name, cmdline"),
    Stage("extend", "extend [name =] EXPR, ...", "add computed columns (an existing name: the "
          "new value replaces it, at the end; unnamed: Column1, …)",
          "events | extend ext = extension(path)"),
    Stage("sort", "sort by a [asc|desc] [nocase] [nulls first|last], ...", "order rows (order "
          "by is the same); descending unless asc is written, as in KQL; nulls first when "
          "ascending, last when descending; nocase: text by its lower-cased form",
          "events | sort by ts asc"),
    Stage("order", "order by a [asc|desc] [nulls first|last], ...", "alias of sort",
          "events | order by ts"),
    Stage("head", "head N", "first N rows (take N, limit N are the same)", "events | head 20"),
    Stage("take", "take N", "alias of head", "events | take 5"),
    Stage("limit", "limit N", "alias of head", "events | limit 5"),
    Stage("tail", "tail N", "last N rows", "events | sort by ts asc | tail 10"),
    Stage("count", "count | count a, b", "number of rows; with keys (EQL's count): per value "
          "key, count and percent, by count ascending", "events | count"),
    Stage("stats", "stats AGG [as name], ... [by keys]", "aggregate (summarize is the same)",
          "events | stats count() as n, dcount(host) by event"),
    Stage("summarize", "summarize AGG, ... [by keys]", "alias of stats",
          "events | summarize n = count() by name"),
    Stage("distinct", "distinct a, b", "distinct combinations", "events | distinct host, event"),
    Stage("top", "top N by x [asc|desc] [nocase] [nulls first|last]", "the N rows with the largest x "
          "(desc by default)",
          "events | stats n = count() by name | top 5 by n"),
    # ---- KQL's column operators (projectops.py)
    Stage("project-away", "project-away a, b*, ...", "drop the named columns (* matches any "
          "characters)", "events | project-away raw.*"),
    Stage("project-keep", "project-keep a, b*, ...", "keep only the named columns, in their "
          "order", "events | project-keep ts, host, *name"),
    Stage("project-rename", "project-rename new = old, ...", "rename columns in place",
          "events | project-rename Timestamp = ts"),
    Stage("project-reorder", "project-reorder a, b*, ...", "put the named columns first; the "
          "others follow in their order", "events | project-reorder name, pid"),
    Stage("render", "render KIND [with (…)]", "KQL's chart: edrql passes the rows on and "
          "shows the table, with a note that the chart is left out",
          "events | summarize count() by bin(ts, 1h) | render timechart"),
    Stage("timeline", "timeline(SPAN) [by key]", "event counts per time bucket",
          "events | timeline(5m) by event"),
    Stage("save", 'save "file.csv"', "write the rows (csv, tsv, json, ndjson by extension), pass them on",
          'events | where name == "cmd.exe" | save "cmd.csv"'),
    Stage("search", 'search [cs] "text" [and|or|not "text" | regex("re")] [in (cols)]',
          "substring search over every column, raw fields included",
          'events | search "evil.dll"'),
    Stage("tree", "tree() | tree(host=H, pid=N[, at=T]) | tree(proc=K)",
          "each input process with its ancestors to the root and all its descendants, "
          "drawn as a tree with link trust and a completeness footer",
          'procs | where name == "winword.exe" | tree()'),
    Stage("children", "children()", "the direct children of the input processes",
          'procs | where name == "rundll32.exe" | children()'),
    Stage("descendants", "descendants([depth])", "all processes below the input ones (depth column)",
          'procs | where name == "winword.exe" | descendants(3)'),
    Stage("ancestors", "ancestors()", "the parent chain of each input process (level 1 = parent)",
          'procs | where name == "rundll32.exe" | ancestors()'),
    Stage("pidreuse", "pidreuse()", "per host and pid with several lives: each life, its children "
          "and how many links a PID-only join would get wrong (pid_only_wrong)",
          "procs | where name == \"powershell.exe\" | pidreuse()"),
    Stage("netcheck", "netcheck()", "per input process: its EDR network events beside the proxy "
          "records matched to it (flow both / edr-only) and proxy records from its host during its "
          "lifetime that no EDR event explains (proxy-only)",
          'procs | where name == "updsvc.exe" | netcheck()'),
    Stage("events", "events([descendants=true])", "every event of the input processes "
          "(and their descendants), all types, in time order",
          'procs | where name == "updsvc.exe" | events()'),
    # ---- joins: KQL's tabular operators (edrql/joins.py; see docs/language.md, *Joins*)
    Stage("join", "join [kind=K] (T | …) on Key, $left.a == $right.b",
          "rows of both sides whose keys are equal (exact, case-sensitive); without kind= "
          "KQL's innerunique: the LEFT side keeps one row per key",
          'events | where event == "process_start" | project host, pid, pstart, name '
          '| join kind=inner (network | project host, pid, pstart, raddr) on host, pid, pstart'),
    Stage("lookup", "lookup [kind=leftouter|inner] (T) on Key",
          "add the columns of a dimension table to each row (leftouter by default; the right "
          "side's keys are not repeated)",
          'events | lookup (datatable(name:string, role:string)["cmd.exe", "shell"]) on name'),
    Stage("union", "union [kind=outer|inner] [withsource=Col] T1, (T2 | …)",
          "rows of several tables (also as a source: union files, registry); outer: every "
          "column, null where a table has none",
          'events | where event == "file_create" | union withsource=table_name registry, '
          '(network | where rport == 443)'),
    Stage("mv-expand", "mv-expand [name =] x [to typeof(T)], … [limit N]",
          "one row per element of a list column (several lists: side by side)",
          "events | stats names = values(name) by host | mv-expand names"),
    # ---- eqlpipes: EQL's pipes (edrql/eqlpipes.py); count a, b and nocase are in count/sort
    Stage("unique", "unique a, b, ...", "the first row (in the current order) of each distinct "
          "combination; keys compare as == does, null is a value of its own (EQL's unique)",
          "events | unique name, host"),
    Stage("unique_count", "unique_count a, b, ...", "as unique, plus count (rows of the "
          "combination) and percent (count / all rows, 0 to 1) (EQL's unique_count)",
          "events | unique_count event | where percent > 0.1"),
    Stage("filter", "filter EXPR", "EQL's name of where", 'events | filter name == "cmd.exe"'),
    # ---- sequences: EQL's sequence (edrql/sequenceops.py; docs/language.md, *Sequences*)
    Stage("sequence", "sequence [by KEY, ...] [with maxspan=DURATION[, output=events|sequences]] "
          "[CATEGORY where EXPR] [by KEY, ...] ... [until [STEP]]",
          "ordered steps joined on keys (proc: the process instance), first to last within "
          "maxspan (![…]: a step that must not occur between its neighbours); one row per event "
          "of each complete sequence (sequence, step), or one per sequence; also a source over "
          "events",
          'sequence by host with maxspan=5m [process where name == "winword.exe"] '
          '[network where rport == 443]'),
    # ---- sigma: Sigma rules as a stage (edrql/sigma/stage.py, hunt.py; docs/sigma.md)
    Stage("sigma", 'sigma("PATH"[, level="LEVEL"])',
          "run the Sigma rules of a .yml file or folder over the input rows: one row per hit "
          "(ts, host, rule_id, rule, level, tags, proc, name, cmdline, matched, author, "
          "parent_link, trust, source, record), the rule receipt as notes; level= is a minimum",
          'events | sigma("examples/sigma", level="medium") | tree()'),
]}


def tables_doc() -> dict[str, str]:
    """Tables by name with their descriptions: the catalog's (edrql/catalog.py)."""
    return catalog.docs()


__all__ = ["FUNCTIONS", "AGGREGATIONS", "OPERATORS", "STAGES", "TS", "bin_", "toint"]
