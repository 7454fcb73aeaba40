"""KQL that edrql does not run, in one table: what a pasted hunting query meets is
"KQL's `X` is not supported" and the nearest edrql form, not a misleading parse hint.

``parseerrors.py`` asks ``stage_hint`` for the operator that starts the stage (or
statement) where a syntax error happened, and ``missing_semicolon`` whether a ``let`` ran
into the next statement; the checker (``plan.py``, ``exprcheck.py``) asks ``function_hint``
/ ``aggregation_hint`` for an unknown function or aggregation, and ``value_hint`` for an
unknown field that reads like a value (``powershell.exe``). Constructs other parts of edrql implement are not listed: a name
that becomes supported simply never reaches this table.
"""
from __future__ import annotations

import re

#: tabular operators (and statement forms) edrql does not have → the nearest edrql form
STAGES: dict[str, str] = {
    "evaluate": "edrql has no plugins (bag_unpack, pivot, …); read JSON fields with "
                "parse_json(x).key, pivot with summarize … by",
    "make-series": "count per time bucket instead: summarize count() by bin(ts, 1h), or "
                   "timeline(1h) by key",
    "parse": "take the parts with extend x = extract(\"regex\", 1, column)",
    "parse-where": "take the parts with extend x = extract(\"regex\", 1, column), then where",
    "parse-kv": "take the parts with extend x = extract(\"key=([^;]*)\", 1, column)",
    "invoke": "there are no stored functions; repeat the stages, or name a table with let",
    "serialize": "rows keep their order already; drop it (row_number(), prev() and next() "
                 "are not available)",
    "range": "edrql reads a case; it does not generate rows",
    "print": "name a value with `let x = …;` and use it in a query",
    "as": "name a result with `let name = …;` before the query that uses it",
    "fork": "run each branch as its own statement over a `let` table",
    "facet": "one summarize count() by column per column",
    "sample": "take N gives the first N rows (not a random sample)",
    "sample-distinct": "distinct col | take N",
    "scan": "no sequence matching: follow processes with tree(), children(), events()",
    "getschema": "the columns are listed in docs/schema.md and by .schema in the REPL",
    "top-nested": "summarize … by key | top N by …",
    "top-hitters": "summarize n = count() by key | top N by n",
    "mv-apply": "expand the list with mv-expand, then summarize",
    "partition": "summarize … by key does most of what partition is used for",
    "reduce": "summarize count() by the column",
    "find": "search \"text\" searches every column",
    "consume": "count",
    "make-graph": "follow processes with tree(), children(), ancestors()",
    "graph-match": "follow processes with tree(), children(), ancestors()",
}

#: scalar functions edrql does not have (exact names), and families by prefix
FUNCTIONS: dict[str, str] = {
    "materialize": "name the table with `let t = …;`: it is computed once",
    "toscalar": "compute the value in its own `let` statement and use the name",
    "row_number": "rows have no numbers; sort and take instead",
    "prev": "no row windows; compare rows with a join or summarize",
    "next": "no row windows; compare rows with a join or summarize",
    "row_cumsum": "no row windows; summarize sum(x) by bin(ts, …)",
    "base64_decode_tostring": "cmdline_decoded holds decoded PowerShell -enc payloads",
    "hash_sha256": "sha256 holds the file hash the EDR recorded",
    "zip": "not supported",
}
PREFIXES: dict[str, str] = {
    "series_": "there are no series; summarize count() by bin(ts, 1h)",
    "geo_": "there is no geo data",
    # ---- EQL (issue 14): ipv4_is_in_range is a function now; the other ipv4_/ipv6_ names
    "ipv4_is_private": "private ranges: cidr_match(ip, \"10.0.0.0/8\", \"172.16.0.0/12\", \"192.168.0.0/16\")",
    "ipv4_is_match": "ranges: ipv4_is_in_range(ip, \"10.0.0.0/8\") or cidr_match(ip, \"10.0.0.0/8\", …)",
    "ipv4_compare": "ranges: ipv4_is_in_range(ip, \"10.0.0.0/8\"); else compare as text",
    "ipv4_netmask": "ranges: cidr_match(ip, \"10.0.0.0/8\", …)",
    "ipv4_range": "ranges: cidr_match(ip, \"10.0.0.0/8\", …)",
    "ipv6_": "IPv6 ranges: cidr_match(ip, \"fd00::/8\", …); else compare as text",
    "hll": "dcount(x) gives an exact distinct count",
    "tdigest": "percentile(x, p) is exact",
}
AGGREGATIONS: dict[str, str] = {
    "make_bag": "project the columns you need, or make_list(x)",
    "make_bag_if": "make_list(x) after a where",
    "make_set_if": "where the condition first, then make_set(x)",
    "make_list_if": "where the condition first, then make_list(x)",
    "make_list_with_nulls": "make_list(x) leaves out nulls; count(x) counts the present ones",
    "dcount_hll": "dcount(x) is exact",
    "stdev": "not supported; avg(x), min(x), max(x), percentiles(x, 5, 95)",
    "stdevif": "not supported; avg(x), percentiles(x, 5, 95) after a where",
    "variance": "not supported; avg(x), percentiles(x, 5, 95)",
    "varianceif": "not supported",
    "buildschema": "the columns are listed in docs/schema.md",
    "binary_all_or": "not supported",
    "binary_all_and": "not supported",
}


def _lookup(name: str, table: dict, prefixes: bool = False) -> str | None:
    low = name.lower()
    if low in table:
        return table[low]
    if prefixes:
        for p, hint in PREFIXES.items():
            if low.startswith(p):
                return hint
    return None


def stage_hint(word: str) -> tuple[str, str] | None:
    """(message, hint) for a KQL operator edrql does not have."""
    hint = _lookup(word, STAGES)
    return None if hint is None else (f"KQL's `{word}` is not supported", hint)


def function_hint(name: str) -> tuple[str, str] | None:
    hint = _lookup(name, FUNCTIONS, prefixes=True)
    return None if hint is None else (f"KQL's `{name}()` is not supported", hint)


def aggregation_hint(name: str) -> tuple[str, str] | None:
    hint = _lookup(name, AGGREGATIONS) or _lookup(name, FUNCTIONS, prefixes=True)
    return None if hint is None else (f"KQL's `{name}()` is not supported", hint)


_VALUE = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.(exe|dll|sys|ps1|bat|cmd|vbs|js|hta|"
                    r"scr|lnk|msi|zip|docx?|xlsx?|pdf|txt|com|net|org|local|io)$", re.I)


def value_hint(name: str, columns) -> str | None:
    """An unknown field that reads like a value (a file or host name): quote it."""
    head = name.split(".")[0].lower()
    if head == "raw" or any(c.lower().startswith(head + ".") for c in columns or ()):
        return None
    if _VALUE.match(name):
        return f'a value is written in quotes: "{name}"'
    return None


# ---------------------------------------------------------------- syntax errors
_WORD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*(-[A-Za-z_]+)*)")


def _segment(text: str, offset: int) -> str:
    """The text of the stage (or statement) in which offset lies, up to offset."""
    before = _blank_out_strings(text[:offset])
    cut = max(before.rfind("|"), before.rfind(";"))
    for m in re.finditer(r"\n[ \t]*\r?\n", before):
        if m.end() > cut and not re.match(r"[ \t]*\|", before[m.end():]):
            cut = m.end() - 1
    return text[cut + 1:offset]


def _blank_out_strings(s: str) -> str:
    """Strings (and comments) replaced by spaces, so a | or ; inside them is not a cut."""
    return re.sub(r'"(\\.|[^"\\\n])*"?|\'(\\.|[^\'\\\n])*\'?|//[^\n]*|#[^\n]*',
                  lambda m: " " * len(m.group(0)), s)


def syntax_hint(text: str, offset: int) -> tuple[str, str, int] | None:
    """(message, hint, offset of the construct) when the stage or statement holding a
    syntax error starts with a KQL operator edrql does not have, or the error is inside
    a call of a KQL function edrql does not have (toscalar(T | count))."""
    seg = _segment(text, offset)
    m = _WORD.match(text, offset - len(seg))      # the word may run past offset (make-series)
    found = stage_hint(m.group(1)) if m else None
    if found is not None:
        return found + (m.start(1),)
    call = _open_call(text, offset)
    found = function_hint(call[0]) if call else None
    return found + (call[1],) if found else None


def _open_call(text: str, offset: int) -> tuple[str, int] | None:
    """The name (and its offset) of the innermost call whose '(' is still open at offset."""
    s = _blank_out_strings(text[:offset])
    stack: list[int] = []
    for i, ch in enumerate(s):
        if ch == "(":
            stack.append(i)
        elif ch == ")" and stack:
            stack.pop()
    for at in reversed(stack):
        m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", s[:at])
        if m:
            return m.group(1), m.start(1)
    return None


def missing_semicolon(text: str, offset: int) -> tuple[int, int] | None:
    """When the token at offset starts a line and the statement it is in began with
    ``let`` on an earlier line: the (line, column) just after that let's last text,
    where KQL's ';' is missing."""
    line_start = text.rfind("\n", 0, offset) + 1
    if text[line_start:offset].strip():
        return None
    before = _blank_out_strings(text[:line_start])
    cut = before.rfind(";")
    for m in re.finditer(r"\n[ \t]*\r?\n", before):
        if m.end() > cut:
            cut = m.end() - 1
    if not re.match(r"\s*let\b", before[cut + 1:]):
        return None
    lines = text[:line_start].rstrip("\r\n").split("\n")
    while len(lines) > 1 and not _blank_out_strings(lines[-1]).strip():
        lines.pop()
    last = lines[-1]
    code = _blank_out_strings(last).rstrip()
    return len(lines), len(code) + 1
