"""EQL's own test suite (eql/etc/test_queries.toml over eql/etc/test_data.json, read from the
INSTALLED eql package) as a measure of edrql: each query is translated into edrql text
(tests/eqltranslate.py), run over a let table of EQL's raw events, and its serial_event_id
order compared with EQL's expected ids (a sequence's events are flattened, sequence by
sequence, step by step, as EQL's engine reports them).

Expressible and equal -> pass; Unsupported -> skip with the reason; a documented edrql
difference -> xfail(strict); any other mismatch or edrql error fails (a finding).
"""
from __future__ import annotations

import collections
import json
import os
import tomllib
from types import SimpleNamespace

import pytest

eql = pytest.importorskip("eql")
pa = pytest.importorskip("pyarrow")

from edrql.execute import Context, run  # noqa: E402
from edrql.parse import parse  # noqa: E402

from eqltranslate import Unsupported, translate  # noqa: E402

_ETC = os.path.join(os.path.dirname(eql.__file__), "etc")
_FILETIME_EPOCH = 116444736000000000     # 1970-01-01 in 100 ns ticks since 1601


def _queries() -> list[dict]:
    with open(os.path.join(_ETC, "test_queries.toml"), "rb") as f:
        return tomllib.load(f)["queries"]


QUERIES = _queries()

# A mismatch that is a documented edrql difference (docs/language.md), by suite index
_NOT_MISSING = ("edrql's missing-value rule (docs/language.md, Missing values; EQL functions: "
                "'!like is true for a missing value'): not of a failed wildcard on a missing field "
                "is true; EQL's not(null) stays null")
_NEEDLE = ("startsWith/stringContains look for a constant text (docs/language.md, EQL functions: "
           "'The text to look for is a constant'); EQL allows a field there")
_SAFE = ("safe() catches run-time failures only, not the checker's kind errors (docs/language.md, "
         "EQL functions, safe); EQL's safe(divide(text, text)) is null")
_LENGTH = ("length() of a number is a check error in edrql, null in EQL (docs/language.md, EQL "
           "functions, length); and the sequence's null keys would then not join (Sequences)")
XFAIL: dict[int, str] = {117: _NOT_MISSING, 118: _NOT_MISSING, 174: _NEEDLE, 176: _NEEDLE,
                         216: _SAFE, 92: _LENGTH}

# The least number of suite queries that give EQL's exact answer (raise it, never lower it)
MIN_PASSING = 201


@pytest.fixture(scope="module")
def data():
    with open(os.path.join(_ETC, "test_data.json")) as f:
        return json.load(f)


def _table(data, extra: set):
    names = sorted({k for r in data for k in r})
    cols = {k: [r.get(k) for r in data] for k in names}
    table = pa.table(cols)
    ts = pa.array([(r["timestamp"] - _FILETIME_EPOCH) * 100 for r in data], pa.int64())
    table = table.append_column("ts", ts.cast(pa.timestamp("ns")))
    for f in sorted(extra - set(names)):
        table = table.append_column(f, pa.nulls(len(data), pa.string()))
    return table


def _case_sensitive(q: dict) -> bool:
    """EQL's test runner runs a query case-insensitively (the Python engine's default) unless
    the toml marks it case_sensitive only; those run with edrql's case-sensitive forms."""
    return bool(q.get("case_sensitive")) and not q.get("case_insensitive")


def outcome(q: dict, data, fold_order: bool = True) -> tuple[str, str, object]:
    """('pass'|'unsupported'|'mismatch'|'error', detail, got)."""
    cs = _case_sensitive(q)
    try:
        _, fields = translate(q["query"], case_sensitive=cs)
        table = _table(data, fields)
        text, _ = translate(q["query"], table.schema, case_sensitive=cs, fold_order=fold_order)
    except Unsupported as exc:
        return "unsupported", str(exc), None
    ctx = Context(case=SimpleNamespace(lineage=None, events=None))
    ctx.lets["eqldata"] = table
    try:
        got = run(parse(text), ctx)[-1].table["serial_event_id"].to_pylist()
    except Exception as exc:            # noqa: BLE001 — an edrql error is a finding
        return "error", f"{text}\n  {type(exc).__name__}: {exc}", None
    if got != q["expected_event_ids"]:
        return "mismatch", f"{text}\n  got {got}\n  want {q['expected_event_ids']}", got
    return "pass", text, got


@pytest.mark.parametrize("i", range(len(QUERIES)), ids=lambda i: f"q{i:03d}")
def test_suite_query(i, data):
    q = QUERIES[i]
    kind, detail, _ = outcome(q, data)
    if kind == "unsupported":
        pytest.skip(detail)
    if i in XFAIL:
        assert kind != "pass", f"q{i} passes now: drop it from XFAIL"
        pytest.xfail(XFAIL[i])
    assert kind == "pass", f"{' '.join(q['query'].split())}\n  {detail}"


def test_summary(data):
    kinds = collections.Counter()
    reasons = collections.Counter()
    for q in QUERIES:
        kind, detail, _ = outcome(q, data)
        kinds[kind] += 1
        if kind == "unsupported":
            reasons[detail.split(" (")[0] if detail.startswith("function") else detail] += 1
    print(f"\nEQL suite: {len(QUERIES)} queries: {dict(kinds)}")
    for r, n in reasons.most_common():
        print(f"  {n:3d}  {r}")
    assert sum(kinds.values()) == len(QUERIES) == 241
    assert kinds["pass"] >= MIN_PASSING


def test_text_ordering_is_case_sensitive_in_edrql(data):
    """A gap the translator works around: edrql's ``==`` ignores case but ``<``/``>`` on text
    order by code point, where EQL orders ignoring case. Written plainly (no tolower), exactly
    these five case-insensitive suite queries miss EQL's answer; when edrql's ordering ignores
    case this fails, and the translator's tolower() can go."""
    plain = [i for i, q in enumerate(QUERIES)
             if outcome(q, data)[0] == "pass" and outcome(q, data, fold_order=False)[0] != "pass"]
    assert plain == [28, 37, 38, 39, 40]
    assert outcome(QUERIES[38], data, fold_order=False)[2][:3] == [1, 2, 3]   # "smss.exe" < "systex"


@pytest.mark.parametrize("eql_text,edrql_text", [
    ('process where process_name == "cmd.exe" | head 2',
     'eqldata | where event_type == "process" and (process_name == "cmd.exe") | head 2'),
    ('sequence with maxspan=1h [file where true] by file_path [process where opcode == 1] by '
     'process_path until [process where opcode == 2] by process_path | tail 1',
     'eqldata | sequence with maxspan=1h [event_type == "file" and true] by file_path '
     '[event_type == "process" and (opcode == 1)] by process_path '
     'until [event_type == "process" and (opcode == 2)] by process_path | tail 2'),
    ('sequence [process where true] [file where true] | filter events[1].pid == 4 | head 1',
     'let _s0 = eqldata | sequence [event_type == "process" and true] [event_type == "file" and '
     'true]; let _keep0 = _s0 | where step == 2 and (pid == 4) | project sequence; '
     '_s0 | where sequence in (_keep0) | head 2'),
    ('any where x in ("a", y) and not z == "*.exe" | sort a b',
     'eqldata | where ((x in ("a", y)) and not (wildcard(z, "*.exe"))) '
     '| sort by a asc nocase, b asc nocase'),
])
def test_translations(eql_text, edrql_text):
    assert translate(eql_text)[0] == edrql_text


@pytest.mark.parametrize("bounds,want", [
    ("1, 3", ["xp", "b", ""]), ("0, 40", ["explorer.exe", "ab", ""]), ("-4", [".exe", "ab", ""]),
    ("-4, -1", [".ex", "a", ""]), ("3, 1", ["", "", ""]), ("-1", ["e", "b", ""]),
])
def test_eql_substring_as_edrql(bounds, want):
    """The translator's EQL substring (Python slicing) against Python on three values."""
    words = ["explorer.exe", "ab", ""]
    a, *b = (int(x) for x in bounds.split(","))
    assert want == [w[a:b[0]] if b else w[a:] for w in words]
    text, _ = translate(f"any where true | unique substring(name, {bounds})")
    expr = text.split("| unique ", 1)[1]
    ctx = Context(case=SimpleNamespace(lineage=None, events=None))
    ctx.lets["t"] = pa.table({"name": words})
    got = run(parse(f"t | extend v = {expr}"), ctx)[-1].table["v"].to_pylist()
    assert [g or "" for g in got] == want     # the empty text may come back null



@pytest.mark.parametrize("eql_text,reason", [
    ("join [process where true] [file where true]", "join"),
    ("process where descendant of [process where true]", "'descendant of"),
    ("process where substring(a, 1, -2) == 'x'", "EQL substring"),
    ("sequence [process where true] [file where true] | filter events[0].pid == events[1].pid",
     "a filter after a sequence reading none or several"),
    ("sequence [process where true] [file where true] | unique pid",
     "EQL pipe unique after a sequence"),
    ("process where a.b == 1", "members of nested objects"),
])
def test_unsupported_reasons(eql_text, reason):
    with pytest.raises(Unsupported, match="^" + reason.replace("[", r"\[")):
        translate(eql_text)


def test_case_sensitive_translations():
    schema = pa.schema([("a", pa.string()), ("b", pa.string())])
    got, _ = translate("any where a == b and a in ('x', b) and a < 'B' and a == 'x*' and "
                       "indexOf(a, 'p') == 2 and startsWith(a, 'E')", schema, case_sensitive=True)
    assert got == ('eqldata | where ((a in_cs (b)) and (a in_cs ("x", b)) and (a < "B") and '
                   '(a like_cs "x*") and (iff(indexof(a, "p", 0) >= 0, indexof(a, "p", 0), '
                   'toint(null)) == 2) and (a startswith_cs "E"))')
    with pytest.raises(Unsupported, match="case-sensitive between"):
        translate("any where between(a, 'x', 'y') == 'z'", schema, case_sensitive=True)
    ci, _ = translate("any where a < 'B'", schema)
    assert ci == 'eqldata | where (tolower(a) < tolower("B"))'
    ctx = Context(case=SimpleNamespace(lineage=None, events=None))      # the forms run
    ctx.lets["eqldata"] = pa.table({"a": ["x", "X", "Exp", "xp"], "b": ["x", "x", "E", "xP"]})
    for cs, want in ((True, ["x"]), (False, ["x", "X"])):
        text, _ = translate("any where a == b and a == 'x*' and indexOf(a, 'p') == null",
                            ctx.lets["eqldata"].schema, case_sensitive=cs)
        assert run(parse(text), ctx)[-1].table["a"].to_pylist() == want
