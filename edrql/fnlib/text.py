"""KQL's string functions (strlen, split, extract, extract_all, replace_string,
replace_regex, trim, trim_start, trim_end, strcat_delim, indexof, countof, parse_url,
parse_path), vectorized with pyarrow.compute. Patterns, delimiters and indexes are
constants: a function that needs one raises TypeError with the reason, which the
evaluator shows as a QueryError with the function's example.

Regular expressions are RE2 (linear time; no backreferences or lookaround), as for
``matches``.
"""
from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from .dynamic import pack_array, per_distinct
from ..strops import re2_literal
from .textcast import _is_list, as_text, json_string

_NULL_TEXT = pa.scalar(None, pa.string())


def _const(fn: str, what: str, v, kind=str, allow_empty=False):
    """The Python value of a constant argument, or TypeError."""
    if not isinstance(v, pa.Scalar):
        raise TypeError(f"{fn}() needs a constant {what}")
    py = v.as_py() if v.is_valid else None
    if py is None:
        raise TypeError(f"{fn}() needs a {what} that is not null")
    if kind is int and (isinstance(py, bool) or not isinstance(py, int)):
        raise TypeError(f"{fn}() needs a whole number as its {what}")
    if kind is str:
        py = str(py)
        if not py and not allow_empty:
            raise TypeError(f"{fn}() needs a {what} that is not empty")
    return py


def _text(a):
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    return as_text(a) if a.type != pa.null() else a.cast(pa.string())


def strlen(a):
    return pc.cast(pc.utf8_length(_text(a)), pa.int64())


# ---------------------------------------------------------------- regular expressions
def name_groups(pattern: str) -> tuple[str, int]:
    """The pattern with every capturing group named g1, g2, … (pyarrow's extract_regex
    reads named groups only), and how many there are."""
    out, n, _ = _groups(pattern)
    return out, n


def _groups(pattern: str) -> tuple[str, int, dict]:
    """name_groups, and the number of each group the pattern names ((?P<x>…), (?<x>…))."""
    pc.match_substring_regex(pa.array([""], pa.string()), pattern)   # its own errors first
    out, i, n, in_class, names = [], 0, 0, False, {}
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]" or pattern[i + 1:i + 3] == "^]":
                skip = 2 if pattern[i + 1] == "]" else 3
                out.append(pattern[i:i + skip])
                i += skip
                continue
        elif c == "(":
            rest = pattern[i + 1:]
            named = rest.startswith(("?P<", "?<")) and not rest.startswith(("?<=", "?<!"))
            if named or not rest.startswith("?"):
                n += 1
                out.append(f"(?P<g{n}>")
                if named:
                    end = pattern.index(">", i)
                    names[pattern[i + (4 if rest.startswith("?P") else 3):end]] = n
                i = (end + 1) if named else i + 1
                continue
        out.append(c)
        i += 1
    return "".join(out), n, names


def extract(regex, group, s):
    """The text of capture group ``group`` (0: the whole match) of the first match; null
    when there is none."""
    pat = _const("extract", "regular expression", regex)
    g = _const("extract", "group number", group, int)
    named, n = name_groups(pat)
    if not 0 <= g <= n:
        raise TypeError(f"extract(): the expression has {n} capture group(s); group {g} is "
                        f"not one of them")
    if g == 0:
        named = f"(?P<g0>{named})"
    res = pc.extract_regex(_text(s), named)
    return pc.struct_field(res, f"g{g}") if not isinstance(res, pa.Scalar) else \
        pa.scalar(res.as_py()[f"g{g}"] if res.is_valid else None, pa.string())


_SEP = "\x1e"            # record separator: between matches while extract_all builds lists


def extract_all(regex, *rest):
    """extract_all(regex, [groups,] s): every match as a list; with capture groups, the
    group of each match (one group) or a list of the groups of each match (several, or the
    ones listed in groups: numbers or names). Null when nothing matches."""
    pat = _const("extract_all", "regular expression", regex)
    groups, s = rest if len(rest) == 2 else (None, rest[0])
    _, n, names = _groups(pat)
    if pc.match_substring_regex(pa.array([""]), f"^(?:{pat})$")[0].as_py():
        raise TypeError("extract_all() needs an expression that does not match empty text "
                        "(write + for *, e.g. \\d+)")
    pick = _capture_groups(groups, n, names) if groups is not None else list(range(1, n + 1))
    if isinstance(s, pa.Scalar):
        one = pa.array([s.as_py() if s.is_valid else None], pa.string())
        return extract_all(regex, *([groups] if groups is not None else []), one)[0]
    if _is_list(s.type):
        raise TypeError("extract_all() needs text to search, not a list")
    t = pc.fill_null(_text(s), "")
    hit = pc.match_substring_regex(_text(s), pat)
    if n == 0:                                  # the whole match
        lists = [_all_matches(t, f"({pat})", 1)]
    else:
        lists = [_all_matches(t, f"(?:{pat})", g) for g in pick]
    if len(lists) == 1 and (groups is None or len(pick) == 1):
        out = lists[0]
    else:                                       # per match, the list of its groups
        inner = pack_array(*[pc.list_flatten(x) for x in lists])
        out = pa.ListArray.from_arrays(lists[0].offsets, inner)
    return pc.if_else(hit, out, pa.scalar(None, out.type))


def _capture_groups(groups, n: int, names: dict) -> list[int]:
    want = groups.as_py() if isinstance(groups, pa.Scalar) and groups.is_valid else None
    if not isinstance(want, list) or not want:
        raise TypeError("extract_all() takes the groups as a constant list, e.g. dynamic([1, 3])")
    out = []
    for g in want:
        g = names.get(g, g) if isinstance(g, str) else g
        if isinstance(g, bool) or not isinstance(g, int) or not 1 <= g <= n:
            raise TypeError(f"extract_all(): {g!r} is not a capture group of the expression "
                            f"(it has {n})")
        out.append(g)
    return out


def _all_matches(t, wrapped: str, group: int):
    """Group ``group`` of every match of the (wrapped) pattern, as a list per row: each match
    and the text before it become the group and a separator, the text after the last goes."""
    if group > 9:
        raise TypeError("extract_all() reads capture groups 1 to 9")
    marked = pc.replace_substring_regex(t, "(?s).*?" + wrapped, f"\\{group}" + _SEP)
    marked = pc.replace_substring_regex(marked, f"[^{_SEP}]*$", "")     # text after the last
    marked = pc.replace_substring_regex(marked, f"{_SEP}$", "")
    return pc.split_pattern(marked, _SEP)


def replace_regex(s, regex, rewrite):
    pat = _const("replace_regex", "regular expression", regex)
    rw = _const("replace_regex", "rewrite text", rewrite, allow_empty=True)
    rw = re.sub(r"\\(\\|(?![0-9]))", r"\\\\", rw)   # a \ not before a digit is itself
    return pc.replace_substring_regex(_text(s), pat, rw)


def replace_string(s, lookup, rewrite):
    look = _const("replace_string", "lookup text", lookup)
    rw = _const("replace_string", "rewrite text", rewrite, allow_empty=True)
    return pc.replace_substring(_text(s), look, rw)


def _trim(fn, regex, s, start: bool, end: bool):
    pat = _const(fn, "regular expression", regex)
    out = _text(s)
    if start:
        out = pc.replace_substring_regex(out, f"^(?:{pat})+", "", max_replacements=1)
    if end:
        out = pc.replace_substring_regex(out, f"(?:{pat})+$", "", max_replacements=1)
    return out


def trim(regex, s):
    return _trim("trim", regex, s, True, True)


def trim_start(regex, s):
    return _trim("trim_start", regex, s, True, False)


def trim_end(regex, s):
    return _trim("trim_end", regex, s, False, True)


# ---------------------------------------------------------------- split, join, search
def split(s, delim, index=None):
    """A list of the parts; with index: a list of that one part (empty past the end)."""
    d = _const("split", "delimiter", delim)
    parts = pc.split_pattern(_text(s), d)
    if index is None:
        return parts
    i = _const("split", "index", index, int)
    if i < 0:
        raise TypeError("split() needs an index of 0 or more")
    return pc.list_slice(parts, i, i + 1)


def strcat_delim(delim, *args):
    d = _const("strcat_delim", "delimiter", delim, allow_empty=True)
    return pc.binary_join_element_wise(*[pc.fill_null(_text(a), "") for a in args], d)


def indexof(s, lookup, start=None):
    """0-based character position of the first occurrence (case-sensitive) at or after
    start; -1 when there is none."""
    look = _const("indexof", "lookup text", lookup, allow_empty=True)
    first = 0 if start is None else _const("indexof", "start", start, int)
    if first < 0:
        raise TypeError("indexof() needs a start of 0 or more")
    t = _text(s)
    if first:
        t = pc.utf8_slice_codeunits(t, first, 2**63 - 1)
    head = pc.extract_regex(t, "(?s)^(?P<h>.*?)" + re2_literal(look))
    if isinstance(head, pa.Scalar):
        if not t.is_valid:
            return pa.scalar(None, pa.int64())
        h = head.as_py()
        return pa.scalar(-1 if h is None else len(h["h"]) + first, pa.int64())
    pos = pc.add(pc.cast(pc.utf8_length(pc.struct_field(head, "h")), pa.int64()), first)
    return pc.if_else(pc.is_null(t), pa.scalar(None, pa.int64()), pc.fill_null(pos, -1))


def countof(s, search, kind=None):
    """Occurrences of search: plain text may overlap ("aaaa", "aa" → 3); regex matches do not."""
    look = _const("countof", "search text", search)
    how = "normal" if kind is None else _const("countof", "kind", kind)
    if how not in ("normal", "regex"):
        raise TypeError(f'countof() kind is "normal" or "regex", not {how!r}')
    t = _text(s)
    if how == "regex":
        return pc.cast(pc.count_substring_regex(t, look), pa.int64())
    overlaps = any(look[:k] == look[-k:] for k in range(1, len(look)))
    if not overlaps:           # non-overlapping count is the overlapping count
        return pc.cast(pc.count_substring(t, look), pa.int64())
    return per_distinct(t, lambda v: None if v is None else _count_overlapping(v, look),
                        pa.int64())


def _count_overlapping(v: str, look: str) -> int:
    n, i = 0, v.find(look)
    while i >= 0:
        n, i = n + 1, v.find(look, i + 1)
    return n


# ---------------------------------------------------------------- parse_path, parse_url
def _bag(names, cols, valid, raw=()):
    """A JSON object per row from text columns (null members as ""); the members named in
    raw are JSON already. Null where not valid."""
    parts = []
    for i, (name, col) in enumerate(zip(names, cols)):
        val = col if name in raw else json_string(pc.fill_null(col, ""))
        parts += [pa.scalar(("," if i else "{") + f'"{name}":'), val]
    out = pc.binary_join_element_wise(*parts, pa.scalar("}"), "")
    return pc.if_else(valid, out, _NULL_TEXT)


def _scalar_wrap(fn, a):
    if isinstance(a, pa.Scalar):
        return fn(pa.array([a.as_py() if a.is_valid else None], pa.string()))[0]
    return fn(_text(a))


_PATH_RE = (r"(?s)^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+)://)?"
            r"(?P<rest>(?P<dir>(?P<root>(?:\\\\\?\\)?[A-Za-z]:)?.*[\\/])?"
            r"(?P<fn>[^\\/:]*)(?::(?P<ads>[^\\/]*))?)$")


def parse_path(a):
    """KQL's parse_path: Scheme, RootPath, DirectoryPath, DirectoryName, Filename,
    Extension, AlternateDataStreamName."""
    return _scalar_wrap(_parse_path, a)


def _parse_path(t):
    m = pc.extract_regex(t, _PATH_RE)
    part = lambda k: pc.fill_null(pc.struct_field(m, k), "")  # noqa: E731
    dirpath = pc.replace_substring_regex(part("dir"), r"[\\/]$", "")
    dirname = pc.replace_substring_regex(dirpath, r"^.*[\\/]|^[A-Za-z]:$", "")
    fn = part("fn")
    ext = pc.if_else(pc.match_substring(fn, "."), pc.replace_substring_regex(fn, r"^.*\.", ""),
                     pa.scalar(""))
    cols = [part("scheme"), part("root"), dirpath, dirname, fn, ext, part("ads")]
    names = ["Scheme", "RootPath", "DirectoryPath", "DirectoryName", "Filename", "Extension",
             "AlternateDataStreamName"]
    return _bag(names, cols, pc.is_valid(m))


_URL_RE = (r"(?s)^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://"
           r"(?:(?P<user>[^:@/?#]*)(?::(?P<pw>[^@/?#]*))?@)?"
           r"(?P<host>\[[^\]]*\]|[^:/?#]*)(?::(?P<port>[0-9]*))?"
           r"(?P<path>[^?#]*)(?:\?(?P<query>[^#]*))?(?:#(?P<frag>.*))?$")


def parse_url(a):
    """KQL's parse_url: Scheme, Host, Port, Path, Username, Password, Query Parameters (a
    bag of the key=value pairs, not decoded), Fragment; null when the text is no URL with
    a scheme."""
    return _scalar_wrap(_parse_url, a)


def _parse_url(t):
    m = pc.extract_regex(t, _URL_RE)
    part = lambda k: pc.struct_field(m, k)  # noqa: E731
    # key=value pairs; empty pairs (a&&b, a trailing &) are no parameters
    query = pc.replace_substring_regex(pc.fill_null(part("query"), ""), "^&+|&+$", "")
    query = pc.replace_substring_regex(query, "&&+", "&")
    pairs = pc.split_pattern(query, "&")
    kv = pc.extract_regex(pc.list_flatten(pairs), r"(?s)^(?P<k>[^=]*)(?:=(?P<v>.*))?$")
    item = pc.binary_join_element_wise(json_string(pc.struct_field(kv, "k")), pa.scalar(":"),
                                       json_string(pc.fill_null(pc.struct_field(kv, "v"), "")), "")
    joined = pc.binary_join(pa.ListArray.from_arrays(pairs.offsets, item), ",")
    params = pc.if_else(pc.equal(query, ""), pa.scalar("{}"),
                        pc.binary_join_element_wise("{", joined, "}", ""))
    names = ["Scheme", "Host", "Port", "Path", "Username", "Password", "Query Parameters",
             "Fragment"]
    cols = [part("scheme"), part("host"), part("port"), part("path"), part("user"), part("pw"),
            params, part("frag")]
    return _bag(names, cols, pc.is_valid(m), raw=("Query Parameters",))


__all__ = ["strlen", "extract", "extract_all", "replace_regex", "replace_string", "trim",
           "trim_start", "trim_end", "split", "strcat_delim", "indexof", "countof", "parse_path",
           "parse_url", "name_groups"]
