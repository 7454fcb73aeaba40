"""The package's layout rules (docs: /work/briefs common rules, architecture notes):
modules stay readable in one sitting, errors have one home, the checker does not import
the evaluator, and the pieces split out of parse/plan/expr still work as one."""
from __future__ import annotations

from pathlib import Path

import pytest

import edrql
from edrql import errors, expr, parse, plan
from edrql.errors import ParseError, QueryError

from test_imports import PACKAGE, import_graph

#: "modules under ~600 lines": a little slack over 600, no more
MAX_LINES = 650


def test_no_module_is_longer_than_the_rule():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split these modules (over {MAX_LINES} lines): {long}"


def test_errors_have_one_home():
    assert expr.QueryError is errors.QueryError is QueryError
    assert parse.ParseError is errors.ParseError is ParseError
    assert issubclass(edrql.QueryError, QueryError)          # the public one: except either
    with pytest.raises(ParseError) as e:
        parse.parse("events | where")
    assert str(e.value).startswith("line 1, column 15: unexpected end of input")


@pytest.mark.parametrize("module", ["edrql.plan", "edrql.exprcheck", "edrql.kindmsgs",
                                    "edrql.parse", "edrql.parsestages", "edrql.parseerrors",
                                    "edrql.errors", "edrql.names"])
def test_the_language_stages_do_not_import_the_engine(module):
    """Parse and check are stages before any row is read: they import neither the
    evaluator (expr) nor the executor."""
    direct = import_graph(PACKAGE)[module]
    assert not direct & {"edrql.expr", "edrql.compare", "edrql.execute", "edrql.query"}, direct


def test_stage_nodes_built_by_the_mixin_carry_positions():
    """parsestages.StageBuilder's methods get Lark's meta (v_args on the base class)."""
    p = parse.parse("events | where x == 1 | project-away y | join kind=inner (files) on host")[0]
    where, away, join = p.stages
    assert (where.pos.line, where.pos.column) == (1, 10)
    assert (away.pos.column, away.patterns) == (25, ["y"])
    assert (join.kind, join.on[0].left, join.pos.column) == ("inner", "host", 42)
    with pytest.raises(ParseError, match="join has no option kindd="):
        parse.parse("events | join kindd=inner (files) on host")


def test_checker_mixin_checks_expressions():
    """plan.Planner gets its expression checks from exprcheck.ExprChecks and the wording
    of kind mistakes from kindmsgs."""
    pl = plan.Planner({"events": {"name": "text", "ts": "time"}}, set())
    with pytest.raises(QueryError) as e:
        pl.check(parse.parse("events | stats sum(name)"))
    assert e.value.message == "sum() needs numbers, durations or true/false values; name is text"
    assert e.value.hint == "convert it: toint(name)"
    assert pl.expr(parse.parse("events | where ts > 2023-08-10T00:00:00Z")[0].stages[0].expr,
                   pl.tables["events"]) == "bool"


def test_evaluator_mixin_compares():
    """expr.Evaluator gets ==, has, in and between from compare.Comparisons."""
    import pyarrow as pa
    t = pa.table({"name": ["cmd.exe", "CMD.EXE", None, "pwsh.exe"], "n": [1, 5, 10, None]})
    ev = expr.Evaluator(t, expr.Scope())
    q = parse.parse('T | where name == "cmd.exe" and n between (1 .. 5) or name !has "cmd"')
    assert ev.eval(q[0].stages[0].expr).to_pylist() == [True, True, True, True]
    q = parse.parse('T | where name in ("pwsh.exe") or n > 4')
    assert ev.eval(q[0].stages[0].expr).to_pylist() == [False, True, True, True]


def test_module_rule_sees_the_package():
    assert PACKAGE == Path(edrql.__file__).resolve().parent
