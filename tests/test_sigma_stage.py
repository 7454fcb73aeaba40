"""The ``sigma("PATH"[, level=…])`` stage: checked before any row is read (a positioned
QueryError with a hint), the same rows as ``edrql hunt``, rules loaded once per session."""
from __future__ import annotations

from pathlib import Path

import pytest

from edrql.errors import QueryError
from edrql.functions import STAGES
from edrql.parse import parse
from edrql.plan import check
from edrql.query import error_text, execute_text, make_context
from edrql.render import py_rows
from edrql.sigma import hunt

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = str(ROOT / "examples" / "sigma")


def _check(case, text: str):
    check(parse(text), make_context(case))


@pytest.mark.parametrize("text, message, hint, column", [
    ('events | sigma("no/such/rules")', "no such rules file or folder: no/such/rules",
     "a Sigma .yml file or a folder of them", 16),
    (f'events | sigma("{EXAMPLES}", level="severe")', "unknown level 'severe'",
     "informational, low, medium, high, critical", None),
    ('events | sigma(name)', "the rules path is a quoted text", 'sigma("rules/windows"', 16),
    (f'events | sigma("{EXAMPLES}", lvl="high")', "sigma() has no argument lvl=", "level=", None),
    ('events | sigma()', "sigma() takes one rules path", 'sigma("rules/")', 10),
    (f'events | sigma("{EXAMPLES}", level=3)', "level= is a quoted text", "", None),
])
def test_mistakes_are_positioned_errors_before_any_row_is_read(example_case, text, message,
                                                               hint, column):
    with pytest.raises(QueryError) as e:
        _check(example_case, text)
    assert message in e.value.message and hint in e.value.hint
    if column is not None:
        assert e.value.pos.column == column
    else:                                    # at the argument it names
        assert text[e.value.pos.column - 1:].startswith(("level=", '"severe"', "3", '"high"'))
    assert message in error_text(e.value, text)


def test_a_bad_level_is_pointed_at(example_case):
    text = f'events | sigma("{EXAMPLES}", level="severe")'
    with pytest.raises(QueryError) as e:
        _check(example_case, text)
    assert text[e.value.pos.column - 1:].startswith('"severe"')


def test_declared_once_in_the_registry_and_the_pipes(example_case):
    assert "sigma" in STAGES and STAGES["sigma"].syntax.startswith('sigma("PATH"')
    fn = make_context(example_case).pipes["sigma"]
    assert fn.output_columns(None, None) == list(hunt.HIT_COLUMNS)


def test_the_checker_knows_the_stage_columns(example_case):
    with pytest.raises(QueryError) as e:
        _check(example_case, f'events | sigma("{EXAMPLES}") | where rulee == "x"')
    assert "rulee" in e.value.message and "rule" in e.value.hint


def test_the_stage_gives_the_rows_of_hunt(example_case):
    r = execute_text(make_context(example_case), f'events | sigma("{EXAMPLES}")')[-1]
    rs, left = hunt.load_rules([EXAMPLES])
    h = hunt.run(example_case.events, rs, make_context(example_case), [EXAMPLES], left)
    assert py_rows(r.table) == py_rows(h.hits) and r.table.num_rows == 8
    assert r.notes == [h.receipt.text()] and r.extra["sigma"]["counts"]["fired"] == 7


def test_level_and_a_filtered_input(example_case):
    ctx = make_context(example_case)
    r = execute_text(ctx, f'events | where name != "updsvc.exe" | sigma("{EXAMPLES}", '
                          'level="high")')[-1]
    rows = py_rows(r.table)
    assert {x["level"] for x in rows} == {"high"}
    assert "Run Key Points Into ProgramData" not in {x["rule"] for x in rows}
    assert len(rows) == 3


def test_as_a_source_it_reads_every_event(example_case):
    r = execute_text(make_context(example_case),
                     f'sigma("{EXAMPLES}") | summarize n = count() by level | sort by level asc')
    assert py_rows(r[-1].table) == [{"level": "high", "n": 5}, {"level": "low", "n": 1},
                                    {"level": "medium", "n": 2}]


def test_rules_load_once_per_session(example_case, monkeypatch):
    import edrql.sigma.rules as rules
    calls = []
    real = rules.load

    def counting(*a, **k):
        calls.append(a)
        return real(*a, **k)
    monkeypatch.setattr(rules, "load", counting)
    ctx = make_context(example_case)            # one REPL session keeps one Context
    for q in (f'events | sigma("{EXAMPLES}") | count', f'events | sigma("{EXAMPLES}") | count',
              f'events | where host startswith "pc-hr" | sigma("{EXAMPLES}") | count'):
        execute_text(ctx, q)
    assert len(calls) == 1
    execute_text(ctx, f'events | sigma("{EXAMPLES}", level="high") | count')
    assert len(calls) == 2                      # another level: its own entry


def test_the_python_api_runs_the_stage(example_case):
    import edrql
    t = edrql.open(example_case.root).query(f'events | sigma("{EXAMPLES}") | project rule, level')
    assert t.num_rows == 8 and t.column_names == ["rule", "level"]


def test_hits_keep_source_and_record_so_events_follow(example_case):
    """events() of the hits' processes: every event of powershell.exe 6640 and more."""
    r = execute_text(make_context(example_case),
                     f'events | sigma("{EXAMPLES}") | where rule startswith "Office" | events()')
    rows = py_rows(r[-1].table)
    assert rows and {x["pid"] for x in rows} == {6640}


def test_the_stage_in_the_repl_loads_the_rules_once(example_case, monkeypatch):
    """Typed in the REPL: the hits and the receipt are shown; a second query in the same
    session does not load the rules again."""
    from test_repl import Driver
    import edrql.sigma.rules as rules
    calls = []
    real = rules.load
    monkeypatch.setattr(rules, "load", lambda *a, **k: calls.append(a) or real(*a, **k))

    def script(d):
        d.run_line(f'events | sigma("{EXAMPLES}") | project ts, rule, level', "fired: 7 rule(s)")
        d.run_line(f'events | sigma("{EXAMPLES}") | count', "fired: 7 rule(s)")
    p = Driver(example_case).run(script).printed()
    assert "Office Application Starts PowerShell" in p and "you exported no DNS query" in p
    assert len(calls) == 1


def test_rows_without_source_and_record_say_their_parent_was_not_checked(example_case):
    r = execute_text(make_context(example_case),
                     'events | project ts, host, event, name, image, cmdline, pname, pimage '
                     f'| sigma("{EXAMPLES}", level="high") | where rule startswith "Office"')[-1]
    (row,) = py_rows(r.table)
    assert row["proc"] is None and row["parent_link"].startswith("not checked")


def test_a_rule_edited_in_the_session_is_read_again(example_case, tmp_path):
    import os
    import shutil
    rule = tmp_path / "whoami.yml"
    shutil.copy(Path(EXAMPLES) / "proc_whoami_all.yml", rule)
    ctx = make_context(example_case)
    q = f'events | sigma("{tmp_path}") | project rule, level'
    assert py_rows(execute_text(ctx, q)[-1].table) == [
        {"rule": "Whoami Lists All Token Information", "level": "low"}]
    rule.write_text(rule.read_text(encoding="utf-8").replace("level: low", "level: high"),
                    encoding="utf-8")
    st = rule.stat()
    os.utime(rule, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert py_rows(execute_text(ctx, q)[-1].table)[0]["level"] == "high"
