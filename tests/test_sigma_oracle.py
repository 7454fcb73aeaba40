"""The oracle: edrql's engine and pySigma's SQLite backend (what Zircolite runs) agree.

A fixed-seed sample of SigmaHQ's rules; per rule a small table whose columns are the rule's
own Sigma field names, rows made from the rule's values (so some fire) and mutations of them
(so some do not); the backend's SQL runs on an in-memory sqlite3 table of the same rows
(columns ``TEXT COLLATE NOCASE`` as Zircolite builds them, NUMERIC for fields compared as
numbers, ``REGEXP`` as Python's ``re.search``), and the hit sets must be equal.

Known, documented differences (docs/sigma.md "Engine semantics"), kept out of the rows on
purpose: SQLite's LIKE and NOCASE fold only ASCII letters (so case is flipped only on ASCII
letters here); the backend does not convert keyword (field-less) rules at all; it turns
``cidr`` into text prefixes (``10.%``), so "10.0.0." or "10.1.2.3x" count as in 10.0.0.0/8
where edrql reads addresses (rows hold real addresses for CIDR fields); and ``field: null``
is ``IS NULL`` there, absent-or-empty in edrql (null rows hold no empty strings).
Skips cleanly when ../shared is absent.
"""
from __future__ import annotations

import random
import re
import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import SHARED
from edrql.sigma import engine, rules
from edrql.sigma._plainfields import PlainFields

RULE_DIRS = ["rules", "rules-emerging-threats", "rules-threat-hunting"]
SAMPLE = 400
SEED = 15
ROWS_PER_RULE = 24


def _sample_files() -> list[Path]:
    base = SHARED / "sigma"
    if not base.exists():
        pytest.skip(f"real data not present: {base}")
    files = sorted(p for d in RULE_DIRS for p in (base / d).rglob("*.yml"))
    return random.Random(SEED).sample(files, SAMPLE)


# ------------------------------------------------------------------ rows from the rule's values

def _flip_case(rng: random.Random, s: str) -> str:
    return "".join(c.swapcase() if c.isascii() and c.isalpha() and rng.random() < 0.5 else c
                   for c in s)


def _fill(rng: random.Random, parts: tuple, cased: bool) -> str:
    out = []
    for p in parts:
        if p == ("*",):
            out.append(rng.choice(["", "x", "a b\\c", "zz"]))
        elif p == ("?",):
            out.append(rng.choice(["q", "7"]))
        else:
            out.append(p if cased else _flip_case(rng, p))
    return "".join(out)


def _satisfy(rng: random.Random, t: rules.Test):
    """A value that makes the test true (None where the test wants absence)."""
    if t.op == "glob":
        return _fill(rng, t.arg, t.cased)
    if t.op == "num":
        return str(t.arg)
    if t.op == "cmp":
        op, n = t.arg
        return str(n + {"lt": -1, "lte": 0, "gt": 1, "gte": 0}.get(op, 1))
    if t.op == "cidr":
        import ipaddress
        net = ipaddress.ip_network(t.arg)
        return str(net.network_address + min(1, net.num_addresses - 1))
    if t.op == "null":
        return None
    if t.op == "exists":
        return "present" if t.arg else None
    if t.op == "bool":
        return "true" if t.arg else "false"
    if t.op == "re":
        return _regex_sample(t.arg[0])
    return "x"


def _regex_sample(pattern: str) -> str:
    """The regex's literal text with its syntax stripped (often a match, sometimes not)."""
    s = re.sub(r"\\[dws]", "1", pattern)
    s = re.sub(r"\\(.)", r"\1", s)
    return re.sub(r"[\^\$\(\)\[\]\{\}\|\+\*\?]", "", s)


def _mutate(rng: random.Random, v):
    if v is None:
        return "other"
    k = rng.randrange(6)
    if k == 0:
        return v[:-1] or "y"
    if k == 1:
        return v[1:] or "y"
    if k == 2:
        return "x" + v
    if k == 3:
        return v + "x"
    if k == 4:
        return None
    return v.replace("\\", "/")


def _aim(node, want: bool, rule: rules.Rule, rng: random.Random, row: dict) -> None:
    """Set fields so the condition is (probably) ``want``: a satisfying pick through or/and/not."""
    op = node[0]
    if op == "t":
        t = rule.tests[node[1]]
        if t.op == "fieldref":
            if want:
                row.setdefault(t.arg[0], "same")
                row[t.field] = row[t.arg[0]]
            return
        if want:
            v = _satisfy(rng, t)
            old = row.get(t.field)
            contains = t.op == "glob" and t.arg[:1] == (("*",),) and t.arg[-1:] == (("*",),)
            row[t.field] = old + " " + v if contains and isinstance(old, str) else v
        elif t.op == "cidr":       # a real address outside (see the module doc)
            row[t.field] = rng.choice(["8.8.4.4", "193.0.14.129"] if ":" not in t.arg else ["2a00:1450::1"])
        else:
            row[t.field] = _mutate(rng, _satisfy(rng, t))
        return
    if op == "not":
        return _aim(node[1], not want, rule, rng, row)
    if op == "const":
        return
    kids = list(node[1])
    every = (op == "and") == want
    for c in (kids if every else [rng.choice(kids)]):
        _aim(c, want, rule, rng, row)


def make_rows(rule: rules.Rule, rng: random.Random) -> list[dict]:
    """Rows aimed at true, at false, and aimed at true with one field then mutated."""
    fields = {t.field for t in rule.tests} | {t.arg[0] for t in rule.tests if t.op == "fieldref"}
    cidr = {t.field for t in rule.tests if t.op == "cidr"}
    rows = []
    for i in range(ROWS_PER_RULE):
        row: dict = {}
        _aim(rule.cond, i % 3 != 1, rule, rng, row)
        free = sorted(set(row) - cidr)
        if i % 3 == 2 and free:
            f = rng.choice(free)
            row[f] = _mutate(rng, row[f])
        rows.append({f: row.get(f) for f in sorted(fields)})
    return rows


# ------------------------------------------------------------------ the two evaluations

def _regexp(pattern, value):
    if value is None or pattern is None:
        return None
    return re.search(pattern, str(value)) is not None


def sqlite_hits(sql: str, rows: list[dict], numeric: set[str]) -> set[int]:
    fields = list(rows[0])
    con = sqlite3.connect(":memory:")
    con.create_function("regexp", 2, _regexp, deterministic=True)
    cols = ", ".join(f'"{f}" NUMERIC COLLATE NOCASE' if f in numeric else f'"{f}" TEXT COLLATE NOCASE'
                     for f in fields)
    con.execute(f"CREATE TABLE logs (_rid INTEGER, {cols})")
    con.executemany(f"INSERT INTO logs VALUES (?, {', '.join('?' * len(fields))})",
                    [(i, *[r[f] for f in fields]) for i, r in enumerate(rows)])
    q = sql.replace("SELECT * FROM logs", "SELECT _rid FROM logs", 1)
    return {r[0] for r in con.execute(q)}


def engine_hits(rule: rules.Rule, rows: list[dict]) -> set[int]:
    fields = list(rows[0])
    table = pa.table({f: pa.array([r[f] for r in rows], pa.string()) for f in fields})
    out = engine.evaluate([rule], PlainFields(table, keyword_columns=[]))
    assert out.status[0][0] in ("fired", "no hits"), out.status[0]
    return set(out.hits.column("row").to_pylist())


def run_oracle():
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection
    backend = sqliteBackend()
    rng = random.Random(SEED)
    tally = {"agree": 0, "fired": 0, "backend refuses": 0, "engine skips": 0, "keyword": 0}
    diffs = []
    for f in _sample_files():
        rs = rules.load([str(f)], cache=False)
        if not rs.rules:
            tally["engine skips"] += 1
            continue
        rule = rs.rules[0]
        if any(t.field is None for t in rule.tests):
            tally["keyword"] += 1
            continue
        try:
            sqls = backend.convert(SigmaCollection.from_yaml(f.read_text(encoding="utf-8")))
        except Exception:
            tally["backend refuses"] += 1
            continue
        rows = make_rows(rule, rng)
        numeric = {t.field for t in rule.tests if t.op in ("cmp", "num")}
        theirs = set().union(*(sqlite_hits(s, rows, numeric) for s in sqls))
        ours = engine_hits(rule, rows)
        if theirs == ours:
            tally["agree"] += 1
            tally["fired"] += bool(ours)
        else:
            diffs.append((str(f), sorted(ours ^ theirs)[:5], sqls[0][:300]))
    return tally, diffs


def test_engine_agrees_with_pysigma_sqlite_backend():
    tally, diffs = run_oracle()
    compared = tally["agree"] + len(diffs)
    print(f"oracle: {tally} differ={len(diffs)}")
    assert compared >= 300, tally
    assert tally["fired"] >= compared * 0.8, tally        # the rows do exercise the rules
    assert diffs == []


# ------------------------------------------------------------------ the documented differences

DIFF_RULE = """title: d
id: 44444444-4444-4444-4444-444444444444
status: test
logsource: {{category: process_creation, product: windows}}
detection:
  sel: {{{det}}}
  condition: sel
"""


def both(tmp_path, det: str, rows: list[dict]) -> tuple[set[int], set[int]]:
    """(engine's hit rows, the SQLite backend's) for a one-detection rule."""
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection
    text = DIFF_RULE.format(det=det)
    p = tmp_path / "d.yml"
    p.write_text(text, encoding="utf-8")
    rule = rules.load([str(p)], cache=False).rules[0]
    sqls = sqliteBackend().convert(SigmaCollection.from_yaml(text))
    return engine_hits(rule, rows), set().union(*(sqlite_hits(s, rows, set()) for s in sqls))


def test_difference_unicode_case_folding(tmp_path):
    ours, theirs = both(tmp_path, "CommandLine|contains: 'ÉVIL'", [{"CommandLine": "x évil"}])
    assert ours == {0} and theirs == set()          # SQLite folds ASCII only


def test_difference_cidr_reads_addresses(tmp_path):
    rows = [{"DestinationIp": v} for v in ["10.1.2.3", "10.0.0.", "10.1.2.3x"]]
    ours, theirs = both(tmp_path, "DestinationIp|cidr: '10.0.0.0/8'", rows)
    assert ours == {0} and theirs == {0, 1, 2}      # text prefixes there


def test_difference_null_includes_empty(tmp_path):
    rows = [{"CommandLine": None}, {"CommandLine": ""}, {"CommandLine": "x"}]
    ours, theirs = both(tmp_path, "CommandLine: null", rows)
    assert ours == {0, 1} and theirs == {0}


def test_agreement_on_ascii_case_and_wildcards(tmp_path):
    rows = [{"CommandLine": v} for v in ["A*B", "axb", "AXXB", None]]
    ours, theirs = both(tmp_path, "CommandLine: 'a*b'", rows)
    assert ours == theirs == {0, 1, 2}
