"""KQL's string operators (has and its family, has_any/has_all, in~, matches regex, between
with a span), missing values in comparisons, and numbers in raw text fields.

Term semantics are checked against an independent reference written with Python's ``re``
lookarounds (the implementation builds RE2 patterns without lookaround, or a set test over
split terms); null semantics through the Evaluator on small tables; real data skips cleanly
when ../shared is absent.
"""
from __future__ import annotations

import random
import re

import pyarrow as pa
import pytest

from conftest import shared
from edrql import ast as A
from edrql import strops
from edrql.errors import QueryError
from edrql.expr import Evaluator, Scope
from edrql.parse import parse
from edrql.plan import Planner
from edrql.query import execute_text, make_context


# ---------------------------------------------------------------- reference semantics
def ref_has(text: str | None, needle: str, kind: str = "has", cs: bool = False) -> bool:
    """x <kind> needle, by KQL's definition: needle's alphanumeric edges on term boundaries."""
    text = "" if text is None else text
    start, end = strops.TERM_KINDS[kind]
    pat = re.escape(needle)
    if start and re.match(r"[0-9A-Za-z]", needle[0]):
        pat = r"(?<![0-9A-Za-z])" + pat
    if end and re.match(r"[0-9A-Za-z]", needle[-1]):
        pat = pat + r"(?![0-9A-Za-z])"
    return re.search(pat, text, 0 if cs else re.IGNORECASE) is not None


def run(table: pa.Table, q: str, lets: dict | None = None):
    """Evaluate the condition of ``t | where COND`` over table: a list of bools/None."""
    cond = parse(f"t | where {q}")[0].stages[0].expr
    return Evaluator(table, Scope(lets=lets or {})).eval(cond).to_pylist()


TEXTS = ["powershell.exe -nop -w hidden -enc SQBF", "powershell -NoProfile -ExecutionPolicy Bypass",
         r"C:\Windows\System32\cmd.exe", "North America", "KustoExplorerQueryRun",
         "x-nop", "a\\b", "-NOP", "", None, "café-bar 42", "ad67d136-c1db-4f9f"]


@pytest.mark.parametrize("needle,kind,cs", [
    ("-nop", "has", False), ("nop", "has", False), ("-NoProfile", "has", False),
    ("system32", "has", False), ("system3", "has", False), (r"windows\system32", "has", False),
    ("32", "has", False), ("cmd.exe", "has", False), ("c", "has", False), ("md", "has", False),
    ("america", "has", False), ("Explorer", "has", False), ("\\", "has", False),
    ("caf", "has", False), ("42", "has", False), ("c1db", "has", False), ("NOP", "has", True),
    ("ame", "hasprefix", False), ("mer", "hasprefix", False), ("Ame", "hasprefix", True),
    ("ica", "hassuffix", False), ("exe", "hassuffix", False), ("ex", "hassuffix", False),
    ("power", "hasprefix", False), ("-no", "hasprefix", False), ("shell", "hassuffix", False),
])
def test_term_operators_match_reference(needle, kind, cs):
    t = pa.table({"x": pa.array(TEXTS, pa.string())})
    op = kind + ("_cs" if cs else "")
    want = [ref_has(x, needle, kind, cs) for x in TEXTS]
    assert run(t, f"x {op} {needle!r}") == want
    assert run(t, f"x !{op} {needle!r}") == [not w for w in want]      # null: kept


def test_the_documented_examples():
    t = pa.table({"x": ["North America", "KustoExplorerQueryRun", "powershell -NoProfile",
                        r"C:\Windows\System32\cmd.exe"]})
    assert run(t, 'x has "america"') == [True, False, False, False]
    assert run(t, 'x has "Explorer"') == [False, False, False, False]
    assert run(t, 'x contains "Explorer"') == [False, True, False, False]
    assert run(t, 'x has "-nop"') == [False, False, False, False]
    assert run(t, 'x has @"system32\\cmd"') == [False, False, False, True]
    assert run(t, 'x hasprefix "ame"') == [True, False, False, False]
    assert run(t, 'x hasprefix_cs "ame"') == [False, False, False, False]


def _corpus(n=3000, seed=7):
    r = random.Random(seed)
    words = ["cmd", "exe", "powershell", "nop", "enc", "Bypass", "hidden", "w", "x1", "system32",
             "a", "ab", "AbC", "temp", "users", "svchost", "k", "netsvcs"]
    seps = [" ", "-", "\\", ".", "/", "=", "", "_", " -", "::"]
    out = []
    for _ in range(n):
        if r.random() < 0.05:
            out.append(None)
            continue
        out.append("".join(r.choice(words) + r.choice(seps) for _ in range(r.randint(0, 8))))
    return out


@pytest.mark.parametrize("set_min", [strops.TERM_SET_MIN, 1])     # regex path, set path
def test_has_any_and_has_all_match_reference_on_both_paths(monkeypatch, set_min):
    monkeypatch.setattr(strops, "TERM_SET_MIN", set_min)
    texts = _corpus()
    col = pa.array(texts, pa.string())
    for needles in (["nop", "enc"], ["BYPASS"], ["-nop", "hidden", "x1"], ["a", "ab", "abc"],
                    ["system32\\cmd", "temp"], ["zzz"], ["k", "w", "exe", "cmd", "netsvcs"]):
        want_any = [None if x is None else any(ref_has(x, n) for n in needles) for x in texts]
        want_all = [None if x is None else all(ref_has(x, n) for n in needles) for x in texts]
        assert strops.has_any(col, needles).to_pylist() == want_any, needles
        assert strops.has_all(col, needles).to_pylist() == want_all, needles
        cs_any = [None if x is None else any(ref_has(x, n, cs=True) for n in needles) for x in texts]
        assert strops.has_any(col, needles, cs=True).to_pylist() == cs_any, needles


def test_has_any_long_list_takes_the_set_path_and_agrees(monkeypatch):
    texts = _corpus(2000, seed=3)
    col = pa.array(texts, pa.string())
    needles = [f"w{i}" for i in range(3000)] + ["powershell", "enc", "-nop"]
    called = []
    real = strops._terms_any
    monkeypatch.setattr(strops, "_terms_any", lambda *a: called.append(1) or real(*a))
    got = strops.has_any(col, needles).to_pylist()
    assert called, "3,000 single-term needles should use the term set"
    assert got == [None if x is None else any(ref_has(x, n) for n in ("powershell", "enc", "-nop"))
                   for x in texts]


def test_has_any_on_repeated_values_uses_distinct_values():
    col = pa.array(["cmd.exe /c whoami", None, "powershell -enc AAA"] * 5000, pa.string())
    out = strops._terms_any(col, ["whoami"], False)
    assert out.to_pylist()[:3] == [True, None, False] and len(out) == 15000


# ---------------------------------------------------------------- lists by name, in~
def test_has_any_and_in_resolve_a_let_list_from_the_scope():
    t = pa.table({"x": ["powershell -enc A", "cmd /c dir", None], "n": ["A.exe", "b.exe", None]})
    lists = {"L": pa.scalar(["-enc", "bypass"], pa.list_(pa.string())),
             "NAMES": pa.scalar(["a.exe", "c.exe"], pa.list_(pa.string()))}
    assert run(t, "x has_any (L)", lists) == [True, False, False]
    assert run(t, "x !has_any (L)", lists) == [False, True, True]
    assert run(t, 'x has_all (L, "A")', lists) == [False, False, False]
    assert run(t, "n in (NAMES)", lists) == [True, False, False]
    assert run(t, "n !in~ (NAMES)", lists) == [False, True, True]
    pl = Planner({"t": {"x": "text", "n": "text"}}, set())
    pl.scalars.update(lists)
    pl.check(parse("t | where x has_any (L) and n in (NAMES)"))       # a list is a valid list item


def test_in_tilde_is_case_insensitive_in():
    t = pa.table({"n": ["POWERSHELL.EXE", "cmd.exe", None]})
    assert run(t, 'n in~ ("powershell.exe")') == [True, False, False]
    assert run(t, 'n !in~ ("powershell.exe")') == [False, True, True]
    assert run(t, 'n in_cs ("powershell.exe")') == [False, False, False]


def test_matches_regex_is_case_sensitive_matches():
    t = pa.table({"n": ["PowerShell.exe", "powershell.exe", None]})
    assert run(t, 'n matches regex "^power"') == [False, True, False]
    assert run(t, 'n matches regex "(?i)^power"') == [True, True, False]
    assert run(t, 'n matches "^power"') == [True, True, False]
    assert run(t, 'not (n matches regex "^power")') == [True, False, True]


# ---------------------------------------------------------------- missing values
def test_negated_text_predicates_keep_missing_text():
    t = pa.table({"p": pa.array([r"C:\Windows\System32\a.exe", r"C:\Temp\b.exe", None, ""])})
    cases = {
        'p contains "system32"': [True, False, False, False],
        'p !contains "system32"': [False, True, True, True],
        'not (p contains "system32")': [False, True, True, True],
        'p == "x"': [False, False, False, False],
        'p != "x"': [True, True, True, True],
        'not (p == "x")': [True, True, True, True],
        'p !~ "x"': [True, True, True, True],
        'p !== "x"': [True, True, True, True],
        'p == ""': [False, False, True, True],
        'p != ""': [True, True, False, False],
        'p !in ("x")': [True, True, True, True],
        'p in ("x", "")': [False, False, True, True],
        'p !startswith "C:"': [False, False, True, True],
        'p !endswith ".exe"': [False, False, True, True],
        'p !matches "temp"': [True, False, True, True],
        'p !has "system32"': [False, True, True, True],
        'p !hasprefix "sys"': [False, True, True, True],
        'p !has_any ("temp")': [True, False, True, True],
        'p == null': [None, None, None, None],           # the null literal: unknown
        'p != null': [None, None, None, None],
    }
    for q, want in cases.items():
        assert run(t, q) == want, q


def test_text_columns_compare_with_missing_as_empty():
    t = pa.table({"a": pa.array(["x", None, None, "y"]), "b": pa.array(["x", "z", None, None])})
    assert run(t, "a == b") == [True, False, True, False]
    assert run(t, "a != b") == [False, True, False, True]


def test_numbers_and_times_follow_kqls_null_rule():
    t = pa.table({"n": pa.array([4, None, 7], pa.int64()),
                  "m": pa.array([4, None, None], pa.int64())})
    assert run(t, "n == 4") == [True, False, False]
    assert run(t, "n != 4") == [False, True, True]               # null against a value: unequal
    assert run(t, "not (n == 4)") == [False, True, True]
    assert run(t, "n > 0") == [True, None, True]                 # ordering: unknown
    assert run(t, "n !between (0 .. 5)") == [False, None, True]
    assert run(t, "n == m") == [True, None, False]               # two nulls: unknown
    assert run(t, "n != m") == [False, None, True]
    assert run(t, "n in (4, 5)") == [True, False, False]
    assert run(t, "n !in (4, 5)") == [False, True, True]


# ---------------------------------------------------------------- between, raw numbers
def test_between_a_time_and_a_span():
    ts = pa.array([0, 30 * 60 * 10**9, 3600 * 10**9, 3601 * 10**9, None], pa.int64()).cast(
        pa.timestamp("ns", "UTC"))
    t = pa.table({"ts": ts, "raw": pa.array(["1970-01-01T00:10:00Z", None, "x", None, None])})
    assert run(t, "ts between (1970-01-01T00:00:00Z .. 1h)") == [True, True, True, False, None]
    assert run(t, 'ts between ("1970-01-01" .. 1h)') == [True, True, True, False, None]
    assert run(t, "ts !between (1970-01-01T00:00:00Z .. 1h)") == [False, False, False, True, None]
    assert run(t, "raw between (1970-01-01T00:00:00Z .. 1h)")[0] is True


def test_text_compared_with_numbers_reads_numbers():
    t = pa.table({"p": pa.array(["53", "1000", "8080", "0x1bb", " 443 ", "n/a", None, "1.5e3"])})
    assert run(t, "p > 1000") == [False, False, True, False, False, None, None, True]
    assert run(t, "p between (1 .. 1024)") == [True, True, False, True, True, None, None, False]
    assert run(t, "p == 443") == [False, False, False, True, True, False, False, False]
    assert run(t, "p != 443") == [True, True, True, False, False, True, True, True]
    assert run(t, "p in (53, 8080)") == [True, False, True, False, False, False, False, False]
    assert run(t, 'p == "0x1bb"') == [False, False, False, True, False, False, False, False]


# ---------------------------------------------------------------- checks before running
@pytest.mark.parametrize("q,msg", [
    ('x has ""', 'has needs a term: "" has none'),
    ('x has_any ("a", "")', 'has_any needs terms: "" has none'),
    ("x has_any (y)", "the list of has_any (...) must hold constants"),
    ("x has_all (1h)", "has_all needs terms (text); 1h is a duration"),
    ("n between (1 .. 1h)", "between cannot compare a number with a duration"),
    ('x matches regex "("', "bad regular expression"),
])
def test_plan_rejects(q, msg):
    pl = Planner({"t": {"x": "text", "y": "text", "n": "int"}}, set())
    with pytest.raises(QueryError) as ei:
        pl.check(parse(f"t | where {q}"))
    assert msg in ei.value.message


def test_runtime_rejects_an_empty_term_from_a_let():
    t = pa.table({"x": ["a"]})
    with pytest.raises(QueryError, match="needs terms"):
        run(t, "x has_any (L)", {"L": pa.scalar(["a", ""], pa.list_(pa.string()))})


def test_operators_parse_to_their_kql_meaning():
    e = parse("t | where x matches regex @\"a\" and y !in~ (1) and z !has_all (\"q\")")[0]
    ops = [n.op for n in A.walk(e) if isinstance(n, (A.Binary, A.InList))]
    assert sorted(ops) == ["!has_all", "!in~", "and", "and", "matches_cs"]


def test_new_operators_never_end_in_an_internal_error(example_case):
    """A small fuzz of the new operators over every kind of field and literal."""
    fields = ["cmdline", "name", "pid", "ts", "host", "raw.RemotePort", "rport", "path", "nope"]
    lits = ['"-nop"', '""', '"a b"', "0", "1.5", "5m", "2023-08-10T14:00:00Z", "null", "true",
            '"("', '"0x1bb"']
    ops = ["has", "!has", "has_cs", "hasprefix", "!hassuffix_cs", "matches regex", "==", "!=",
           ">", "!~"]
    r = random.Random(12)
    ctx = make_context(example_case)
    for _ in range(400):
        f = r.choice(fields)
        k = r.random()
        if k < 0.5:
            cond = f"{f} {r.choice(ops)} {r.choice(lits)}"
        elif k < 0.8:
            items = ", ".join(r.choice(lits + fields[:3]) for _ in range(r.randint(1, 3)))
            cond = f"{f} {r.choice(['has_any', '!has_all', 'in~', '!in~'])} ({items})"
        else:
            cond = f"{f} {r.choice(['between', '!between'])} ({r.choice(lits)} .. {r.choice(lits)})"
        q = f"events | where {r.choice(['', 'not '])}({cond}) | count"
        try:
            execute_text(ctx, q)
        except QueryError:
            pass
        except Exception as e:  # noqa: BLE001 - what this test hunts
            from edrql.errors import ParseError
            if not isinstance(e, ParseError):
                raise AssertionError(f"{q}: {type(e).__name__}: {e}") from e


# ---------------------------------------------------------------- real data
def test_real_defender_export_terms_missing_values_and_raw_numbers(tmp_path):
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    src = shared("vendor/msticpy_mde_proc_pub.csv")
    root = str(tmp_path / "c")
    ingest([str(src)], Case.create_or_open(root), Options())
    ctx = make_context(Case.open(root))

    def count(q):
        return execute_text(ctx, q)[-1].table.column(0)[0].as_py()
    assert count("events | count") == 200
    # 4 command lines hold -NoProfile: contains "-nop" finds them, has "-nop" must not
    assert count('events | where raw.ProcessCommandLine contains "-nop" | count') == 4
    assert count('events | where raw.ProcessCommandLine has "-nop" | count') == 0
    assert count('events | where raw.ProcessCommandLine has "-noprofile" | count') == 4
    # raw.ProcessId is text: > 10000 compares numbers (was text order: 199 rows, min 492)
    t = execute_text(ctx, "events | where raw.ProcessId > 10000 | stats n = count(), lo = min(pid)")[-1].table
    assert t.to_pylist() == [{"n": 12, "lo": 10520}]
    assert count("events | where raw.ProcessId <= 10000 | count") == 188
    assert count("events | where raw.InitiatingProcessParentId between (1 .. 1000) | count") == 84
    # a negation and its positive form partition the rows
    pos = count('events | where raw.InitiatingProcessFolderPath contains "system32" | count')
    neg = count('events | where raw.InitiatingProcessFolderPath !contains "system32" | count')
    assert pos + neg == 200 and pos == 92


def test_real_sysmon_negation_keeps_rows_without_a_path(tmp_path):
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    src = shared("sysmon/evtx")
    files = sorted(str(p) for p in src.glob("*.evtx"))[:12]
    root = str(tmp_path / "c")
    ingest(files, Case.create_or_open(root), Options())
    ctx = make_context(Case.open(root))

    def count(q):
        return execute_text(ctx, q)[-1].table.column(0)[0].as_py()
    total = count("events | count")
    missing = count("events | where isnull(path) | count")
    pos = count('events | where path contains "system32" | count')
    assert missing > 0 and total > 0
    assert count('events | where path !contains "system32" | count') == total - pos
    assert count('events | where not (path contains "system32") | count') == total - pos
    assert count('events | where path == "" | count') >= missing


def test_repl_highlights_the_new_operators():
    from edrql.repl.lexer import classify, raw_tokens
    q = 'events | where x has_any ("a") and n in~ ("a") and m !in~ ("b") and z matches regex "q" ' \
        'and w !hasprefix_cs "q" | search "x" in (a)'
    cls = {q[s:e]: c for s, e, c in classify(raw_tokens(q))}
    for op in ("has_any", "in~", "!in~", "matches regex", "!hasprefix_cs"):
        assert cls[op] == "operator", op
    assert cls["m"] == "field" and cls["search"] == "keyword"


def test_nested_lists_are_flattened_as_in_kql():
    nested = pa.scalar([[1], [2, 3]], pa.list_(pa.list_(pa.int64())))
    got = strops.flatten_items([pa.scalar(0), nested, pa.scalar(None, pa.list_(pa.int64()))])
    assert [v.as_py() for v in got] == [0, 1, 2, 3]
    t = pa.table({"n": pa.array([1, 3, 4, None], pa.int64())})
    assert run(t, "n in (L)", {"L": nested}) == [True, True, False, False]
