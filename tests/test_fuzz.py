"""A type-directed query fuzzer: no query a user can type ends in an internal error.

Queries are built (seeded, reproducible) from the language's own registries — tables,
stages, functions, aggregations, operators — the example case's fields, and literals of
every kind, wrong kinds included (text where a number goes, a duration where a time
goes, null everywhere). Each runs parse → check → execute → render in-process on the
example case; the only acceptable failures are ParseError and QueryError (a message
with a position). The queries that once crashed the process (``stats values(null)``:
SIGSEGV inside Arrow) run in a subprocess, so a crash fails the test, not the suite.
"""
from __future__ import annotations

import random
import subprocess
import sys
import time
import traceback

import pytest

from edrql.errors import ParseError, QueryError
from edrql.functions import AGGREGATIONS, FUNCTIONS
from edrql.query import execute_text, make_context
from edrql.render import render

SEED = 20261203
BUDGET_S = 30.0          # wall-clock bound of the in-process fuzz
MAX_QUERIES = 6000         # as many as the fuzz that found issue 11's 31 kinds

TABLES = ["events", "files", "registry", "network", "dns", "http", "quarantine", "procs",
          "hostmap", "clocks"]
PIPES = ["tree", "children", "descendants", "ancestors", "pidreuse", "netcheck", "events",
         "timeline"]
PIPE_KW = ["host", "pid", "at", "proc", "descendants", "depth"]
COMPARE = ["==", "!=", "===", "!==", "=~", "!~", "<", "<=", ">", ">="]
STRING_OPS = [f"{n}{b}{c}" for b in ("contains", "startswith", "endswith", "matches")
              for n in ("", "!") for c in ("", "_cs")]
ARITH = ["+", "-", "*", "/", "%"]
LITERALS = [
    '"cmd.exe"', '""', '"2023-08-10T14:00:00Z"', '"2023-08-10"', '"6640"', '"0x1a"', '"abc"',
    '"a.*b"', '"(["', '"\\u00e9t\\u00e9"', "r\"C:\\Windows\\\"", '"\\x00"', "'it''s'", '"1e3"',
    "0", "1", "-1", "6640", "0x1d18", "9223372036854775807", "1.5", "0.0", "-2.5",
    "1ns", "0s", "5m", "2h", "1d", "106751d", "1.5s",
    "2023-08-10T14:00:00Z", "2023-08-10", "1970-01-01T00:00:00Z", "2262-04-11T23:47:16Z",
    "true", "false", "null", "$who", "$unset",
]
HEADS = ["0", "1", "5", "99999999999999999999"]


class Gen:
    def __init__(self, rnd: random.Random, fields: list[str]):
        self.r, self.fields = rnd, fields

    def pick(self, xs):
        return self.r.choice(xs)

    def lit(self) -> str:
        return self.pick(LITERALS)

    def field(self) -> str:
        return self.pick(self.fields) if self.r.random() < 0.97 else self.pick(["nmae", "raw.nope"])

    def expr(self, depth: int = 0) -> str:
        r = self.r.random()
        if depth >= 3 or r < 0.25:
            return self.field() if self.r.random() < 0.55 else self.lit()
        if r < 0.45:
            fn = FUNCTIONS[self.pick(sorted(FUNCTIONS))]
            n = self.r.randint(max(fn.min_args - (self.r.random() < 0.1), 0),
                               min(fn.max_args, fn.min_args + 2) + (self.r.random() < 0.1))
            return f"{fn.name}({', '.join(self.expr(depth + 1) for _ in range(n))})"
        if r < 0.55:
            op = self.pick(COMPARE + STRING_OPS)
            return f"{self.expr(depth + 1)} {op} {self.expr(depth + 1)}"
        if r < 0.65:
            return f"{self.expr(depth + 1)} {self.pick(ARITH)} {self.expr(depth + 1)}"
        if r < 0.72:
            op = self.pick(["and", "or"])
            return f"({self.expr(depth + 1)} {op} {self.expr(depth + 1)})"
        if r < 0.78:
            return f"{self.pick(['not ', '-'])}{self.expr(depth + 1)}"
        if r < 0.88:
            items = ", ".join(self.expr(depth + 2) if self.r.random() < 0.2 else self.lit()
                              for _ in range(self.r.randint(1, 3)))
            return f"{self.expr(depth + 1)} {self.pick(['in', '!in', 'in_cs', '!in_cs'])} ({items})"
        return (f"{self.expr(depth + 1)} {self.pick(['between', '!between'])} "
                f"({self.expr(depth + 2)} .. {self.expr(depth + 2)})")

    def cond(self) -> str:
        f = self.field()
        return self.pick([
            f"{f} {self.pick(COMPARE)} {self.lit()}",
            f"{f} {self.pick(STRING_OPS)} {self.lit()}",
            f"{f} in ({self.lit()}, {self.lit()})",
            f"{f} between ({self.lit()} .. {self.lit()})",
            f"isnull({f})", self.expr(),
        ])

    def agg(self) -> str:
        a = AGGREGATIONS[self.pick(sorted(AGGREGATIONS))]
        if not a.needs_arg and self.r.random() < 0.6:
            return f"{a.name}()"
        arg = self.expr(1) if self.r.random() < 0.5 else self.pick([self.field(), "null", self.lit()])
        return f"{a.name}({arg})"

    def stage(self) -> str:
        k = self.r.random()
        if k < 0.30:
            return "where " + self.cond()
        if k < 0.40:
            return "extend " + ", ".join(f"x{i} = {self.expr()}" for i in range(self.r.randint(1, 2)))
        if k < 0.48:
            return "project " + ", ".join(self.pick([self.field(), f"p{i} = {self.expr()}",
                                                     f"- {self.field()}"])
                                          for i in range(self.r.randint(1, 3)))
        if k < 0.62:
            aggs = ", ".join(self.agg() for _ in range(self.r.randint(1, 2)))
            by = f" by {self.pick([self.field(), self.expr(1), 'bin(ts, 5m)'])}" \
                if self.r.random() < 0.6 else ""
            return f"stats {aggs}{by}"
        if k < 0.70:
            return f"sort by {self.pick([self.field(), self.expr(1)])} {self.pick(['', 'asc', 'desc'])}"
        if k < 0.76:
            return f"{self.pick(['head', 'take', 'tail'])} {self.pick(HEADS)}"
        if k < 0.81:
            return f"top {self.pick(HEADS)} by {self.pick([self.field(), self.expr(1)])}"
        if k < 0.86:
            return "distinct " + ", ".join(self.pick([self.field(), self.expr(1)])
                                           for _ in range(self.r.randint(1, 2)))
        if k < 0.90:
            return f"timeline({self.lit()})" + (f" by {self.field()}" if self.r.random() < 0.4 else "")
        if k < 0.92:
            return "count"
        if k < 0.96:
            args = ", ".join(self.pick([self.lit(), f"{self.pick(PIPE_KW)}={self.lit()}"])
                             for _ in range(self.r.randint(0, 2)))
            return f"{self.pick(PIPES)}({args})"
        return f'search {self.pick(["", "cs "])}{self.pick(LITERALS[:13])}'

    def query(self) -> str:
        pre, fields = "", self.fields
        k = self.r.random()
        if k < 0.08:                              # a let constant, then used as a field
            pre = f"let c = {self.expr(1)}; "
            self.fields = fields + ["c"] * 8
        elif k < 0.14:                            # a let table, then queried
            pre = f"let t = {self.pick(TABLES)} | {self.stage()}; "
        src = "t" if pre.startswith("let t") else self.pick(TABLES)
        stages = [self.stage() for _ in range(self.r.randint(1, 4))]
        self.fields = fields
        return pre + " | ".join([src] + stages)


def _bug(e: Exception) -> str:
    tb = traceback.extract_tb(e.__traceback__)
    own = [f for f in tb if "/edrql/" in f.filename]
    where = own[-1] if own else tb[-1]
    return f"{type(e).__name__} at {where.filename.rsplit('/', 1)[-1]}:{where.lineno}: {str(e)[:90]}"


def _run(case, q: str) -> tuple[str | None, str | None]:
    """(engine bug, render bug) of one query; None, None when it ran or failed as a
    user error (ParseError/QueryError: a message with a position)."""
    ctx = make_context(case, params={"who": "SYSTEM"})
    try:
        results = execute_text(ctx, q)
    except (ParseError, QueryError):
        return None, None
    except Exception as e:  # noqa: BLE001 - what the fuzzer hunts
        return _bug(e), None
    for res in results:
        for fmt in ("csv", "json", "table"):
            try:
                render(res.table, fmt, tty=False, escape=True)
            except Exception as e:  # noqa: BLE001
                return None, f"--format {fmt}: {_bug(e)}"
    return None, None


def _fields(case) -> list[str]:
    names = case.events.column_names
    raw = [n for n in names if n.startswith("raw.")][:12]
    return [n for n in names if not n.startswith("raw.")] + raw


@pytest.fixture(scope="module")
def fuzzed(example_case):
    """Run the fuzz once: (queries run, engine bugs, render bugs), bugs as kind → query."""
    gen = Gen(random.Random(SEED), _fields(example_case))
    engine: dict[str, str] = {}
    shown: dict[str, str] = {}
    n, t0 = 0, time.monotonic()
    while n < MAX_QUERIES and time.monotonic() - t0 < BUDGET_S:
        q = gen.query()
        n += 1
        bug, rbug = _run(example_case, q)
        if bug:
            engine.setdefault(bug, q)
        if rbug:
            shown.setdefault(rbug, q)
    return n, engine, shown


def _listing(bugs: dict) -> str:
    return "\n".join(f"{k}\n    {q}" for k, q in bugs.items())


def test_fuzz_no_internal_errors(fuzzed):
    n, engine, _ = fuzzed
    assert n >= 500, f"only {n} queries in {BUDGET_S}s"
    assert not engine, f"{len(engine)} kinds of internal error in {n} queries:\n" + _listing(engine)


def test_fuzz_results_render(fuzzed, example_case):
    n, _, shown = fuzzed
    for q in ("events | stats values(ts)", "events | extend d = 106751d | head 1",
              "events | stats values(1ns)"):       # seen by longer runs of the fuzzer
        _, rbug = _run(example_case, q)
        if rbug:
            shown.setdefault(rbug, q)
    assert not shown, f"{len(shown)} kinds of render failure in {n} queries:\n" + _listing(shown)


NULL_AGGS = ["events | stats values(null)", "events | stats first(null), last(null)",
             "events | stats values(null), min(null), max(null), sum(null), avg(null), "
             "dcount(null), count(null) by host",
             "events | extend z = null | stats values(z) by event",
             "events | extend z = null | distinct z"]


@pytest.mark.parametrize("query", NULL_AGGS)
def test_null_aggregations_do_not_crash(example_case, query):
    """values(null) used to kill the process (SIGSEGV in Arrow's hash_distinct)."""
    p = subprocess.run([sys.executable, "-m", "edrql", example_case.root, "-c", query,
                        "--format", "csv"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, (p.returncode, p.stderr)
    assert "internal error" not in p.stderr
    assert p.stdout.splitlines()[0]          # a header: the query produced a result
