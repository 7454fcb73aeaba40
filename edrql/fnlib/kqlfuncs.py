"""Registry entries of KQL's scalar functions implemented in fnlib.text, fnlib.dynamic and
fnlib.convert; ``edrql.functions`` adds them to FUNCTIONS (with the aliases of its own
functions: tolong, iff, floor)."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..fnspec import BOOL, FLOAT, INT, LIST, SCALAR, TEXT, Function
from . import convert as C
from . import dynamic as D
from . import text as T
from .textcast import as_text

_ANYV = SCALAR | {LIST}           # any value, lists included
_T, _I = frozenset({TEXT}), frozenset({INT})
_CONV = frozenset({TEXT, INT, FLOAT, BOOL})


def _column_ifexists(*_):        # rewritten by the checker and the evaluator before a call
    raise TypeError("column_ifexists() needs the column name as a string")


KQL_FUNCTIONS = [
    # ---- text
    Function("strlen", 1, 1, T.strlen, "length in characters (KQL's name for len)",
             'where strlen(cmdline) > 1000', returns=INT),
    Function("tolower", 1, 1, lambda a: pc.utf8_lower(as_text(a)), "lower case (KQL's name for lower)",
             'extend n = tolower(name)'),
    Function("toupper", 1, 1, lambda a: pc.utf8_upper(as_text(a)), "upper case (KQL's name for upper)",
             'extend n = toupper(name)'),
    Function("split", 2, 3, T.split, "split(s, delimiter[, i]): a list of the parts; with i, "
             "a list of part i only (empty past the end)",
             'extend dirs = split(path, "\\\\")', takes=(SCALAR, _T, _I), returns=LIST),
    Function("extract", 3, 3, T.extract, "extract(regex, group, s): capture group (0: the whole "
             "match) of the first match; null when none",
             r'extend port = extract(r":(\d+)", 1, cmdline)', takes=(_T, _I, SCALAR)),
    Function("extract_all", 2, 3, T.extract_all, "extract_all(regex, [groups,] s): every match "
             "(or its one capture group) as a list; several groups: a list of them per match; "
             "null when none", r'extend nums = extract_all(r"\d+", cmdline)', takes=(_T, _ANYV),
             returns=LIST),
    Function("replace_string", 3, 3, T.replace_string, "replace_string(s, lookup, rewrite): every "
             "occurrence of lookup (case-sensitive) replaced",
             'extend p = replace_string(path, "\\\\", "/")', takes=(SCALAR, _T)),
    Function("replace_regex", 3, 3, T.replace_regex, "replace_regex(s, regex, rewrite): every match "
             "replaced; \\1 in rewrite is group 1",
             r'extend u = replace_regex(path, r"(?i)^C:\\Users\\[^\\]+", r"C:\Users\X")',
             takes=(SCALAR, _T)),
    Function("trim", 2, 2, T.trim, "trim(regex, s): leading and trailing matches of regex removed",
             r'extend c = trim(r"\s+", cmdline)', takes=(_T, SCALAR)),
    Function("trim_start", 2, 2, T.trim_start, "trim_start(regex, s): leading matches removed",
             r'extend c = trim_start(r"\s+", cmdline)', takes=(_T, SCALAR)),
    Function("trim_end", 2, 2, T.trim_end, "trim_end(regex, s): trailing matches removed",
             r'extend c = trim_end(r"\s+", cmdline)', takes=(_T, SCALAR)),
    Function("strcat_delim", 3, 64, T.strcat_delim, "strcat_delim(delimiter, a, b, …): joined "
             "with the delimiter (null counts as '')",
             'extend key = strcat_delim(":", host, pid)', takes=(_T, _ANYV)),
    Function("indexof", 2, 3, T.indexof, "indexof(s, lookup[, start]): 0-based position of lookup "
             "(case-sensitive); -1 when absent", 'where indexof(cmdline, "-enc") >= 0',
             takes=(SCALAR, _T, _I), returns=INT),
    Function("countof", 2, 3, T.countof, 'countof(s, search[, "normal"|"regex"]): occurrences; '
             "plain text may overlap, regex matches do not", 'where countof(cmdline, "^") > 3',
             takes=(SCALAR, _T, _T), returns=INT),
    Function("parse_path", 1, 1, T.parse_path, "a bag (JSON text): Scheme, RootPath, DirectoryPath, "
             "DirectoryName, Filename, Extension, AlternateDataStreamName",
             'extend dir = parse_path(path).DirectoryName'),
    Function("parse_url", 1, 1, T.parse_url, "a bag (JSON text): Scheme, Host, Port, Path, "
             "Username, Password, Query Parameters, Fragment; null when no URL",
             'extend h = parse_url(url).Host'),
    # ---- dynamic values
    Function("parse_json", 1, 1, D.parse_json, "a dynamic value from JSON text (the text itself: "
             "members are read with .key and [\"key\"])",
             'extend c = parse_json(\'{"Command": "whoami"}\').Command', takes=(_ANYV,)),
    Function("todynamic", 1, 1, D.parse_json, "alias of parse_json",
             'extend c = todynamic(\'{"Command": "whoami"}\')["Command"]', takes=(_ANYV,)),
    Function("bag_keys", 1, 1, D.bag_keys, "the keys of a bag (JSON object) as a list",
             'extend k = bag_keys(parse_url(url))', returns=LIST),
    Function("array_length", 1, 1, D.array_length, "elements of a list (or of a JSON array); "
             "null for anything else", 'extend n = array_length(split(path, "\\\\"))',
             takes=(_ANYV,), returns=INT),
    Function("pack_array", 1, 64, D.pack_array, "a list of the arguments (mixed kinds become text)",
             'extend l = pack_array(name, pname)', returns=LIST, null_as=(pa.null(),)),
    Function("bag_pack", 2, 64, D.bag_pack, 'a bag (JSON text) from "key", value, … pairs',
             'extend b = bag_pack("name", name, "pid", pid)', takes=(_ANYV,), null_as=(pa.null(),)),
    Function("pack", 2, 64, D.bag_pack, "alias of bag_pack",
             'extend b = pack("name", name, "pid", pid)', takes=(_ANYV,), null_as=(pa.null(),)),
    # ---- conversions and conditionals
    Function("todouble", 1, 1, C.todouble, "number or numeric text to a float; other text null",
             'extend b = todouble(raw.bytes)', takes=(_CONV,), returns=FLOAT),
    Function("toreal", 1, 1, C.todouble, "alias of todouble", 'extend b = toreal(raw.bytes)',
             takes=(_CONV,), returns=FLOAT),
    Function("tobool", 1, 1, C.tobool, '"true"/"false" (any case), "1"/"0", numbers (not 0) to '
             "true/false; else null", 'where tobool("true")', takes=(_CONV,), returns=BOOL),
    Function("tohex", 1, 2, C.tohex, "tohex(n[, width]): an integer in lower-case hex (negative: "
             "64-bit two's complement), zero-padded to width", 'extend h = tohex(pid)',
             takes=(_I,), null_as=(pa.int64(),)),
    Function("isempty", 1, 1, C.isempty, 'true when the value is missing or "" (a list: or empty)',
             'where isempty(cmdline)', takes=(_ANYV,), returns=BOOL, null_as=(pa.null(),)),
    Function("isnotempty", 1, 1, C.isnotempty, 'true when the value is present and not ""',
             'where isnotempty(cmdline)', takes=(_ANYV,), returns=BOOL, null_as=(pa.null(),)),
    Function("case", 3, 63, C.case, "case(cond1, value1, cond2, value2, …, else): the value of the "
             "first true condition", 'extend k = case(rport == 443, "tls", rport == 80, "http", "other")',
             takes=(_ANYV,), returns="same", null_as=(pa.null(),), kinds=C.case_kinds),
    Function("column_ifexists", 2, 2, _column_ifexists, 'column_ifexists("name", default): the '
             "column when the input has it, else the default",
             'extend p = column_ifexists("FolderPath", "")', takes=(_T, _ANYV),
             returns="same", same_from=1, null_as=(pa.null(),)),
]
