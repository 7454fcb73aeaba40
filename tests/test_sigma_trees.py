"""Sigma hits in process trees, and the trust of their parent (issue 15, "hits in trees").

A rule's parent condition (ParentImage …) matches what the event says of the parent. Over
a source that names the parent by PID alone, a reused PID makes that the wrong process:
edrql must flag such a hit (parent_link, trust), never report a clean "Word spawned
PowerShell". The fixture (tests/fixtures/sigma/pid_only_console.*) is a console CSV with
ppid and the parent image the console resolved by PID.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from edrql.query import execute_text, make_context
from edrql.render import py_rows

FIX = Path(__file__).parent / "fixtures" / "sigma"
ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = str(ROOT / "examples" / "sigma")
RULE = str(ROOT / "examples" / "sigma" / "proc_office_spawns_powershell.yml")


@pytest.fixture(scope="module")
def pid_only_case(tmp_path_factory):
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    root = str(tmp_path_factory.mktemp("pidonly") / "case")
    case = Case.create_or_open(root)
    rep = ingest([str(FIX / "pid_only_console.csv")], case,
                 Options(mapping=str(FIX / "pid_only_console.toml")))
    assert not rep.rejected
    return Case.open(root)


def _hits(case, query: str):
    r = execute_text(make_context(case), query)[-1]
    return r, {row["host"]: row for row in py_rows(r.table)}


def test_the_pid_only_parent_name_matches_the_rule_on_every_host(pid_only_case):
    """The precondition: the event's own parent fields make the rule fire on all three hosts."""
    _, by_host = _hits(pid_only_case, f'events | sigma("{RULE}")')
    assert sorted(by_host) == ["ws-01", "ws-02", "ws-03"]
    assert all(h["name"] == "powershell.exe" for h in by_host.values())


def test_a_reused_pid_that_names_the_wrong_parent_is_flagged(pid_only_case):
    _, by_host = _hits(pid_only_case, f'events | sigma("{RULE}")')
    wrong = by_host["ws-01"]
    assert wrong["parent_link"].startswith("conflict")
    assert "winword.exe" in wrong["parent_link"] and "msedge.exe" in wrong["parent_link"]
    assert wrong["trust"] and "msedge.exe" in wrong["trust"]


def test_an_ambiguous_parent_is_flagged_with_its_candidates(pid_only_case):
    _, by_host = _hits(pid_only_case, f'events | sigma("{RULE}")')
    amb = by_host["ws-03"]
    assert amb["parent_link"] == "ambiguous: 2 candidates (PID 500 reused)"
    assert amb["trust"] and "reused" in amb["trust"]


def test_a_true_parent_is_a_clean_hit(pid_only_case):
    _, by_host = _hits(pid_only_case, f'events | sigma("{RULE}")')
    ok = by_host["ws-02"]
    assert ok["parent_link"] == "by PID + time (unique)" and ok["trust"] is None


def test_the_receipt_counts_and_lists_the_flagged_hits(pid_only_case):
    r, _ = _hits(pid_only_case, f'events | sigma("{RULE}")')
    assert r.extra["sigma"]["counts"]["flagged_hits"] == 2
    assert sorted(t["host"] for t in r.extra["sigma"]["trust_notes"]) == ["ws-01", "ws-03"]
    assert any("2 with a trust note" in n for n in r.notes)


def test_the_flagged_hit_is_drawn_under_the_process_the_lineage_finds(pid_only_case):
    """tree() on the hits: ws-01's powershell.exe hangs under msedge.exe (the process PID
    500 was at that time), not under the WINWORD.EXE the console named."""
    r = execute_text(make_context(pid_only_case),
                     f'events | where host == "ws-01" | sigma("{RULE}") | tree()')[-1]
    rows = py_rows(r.table)
    ps = next(x for x in rows if x["name"] == "powershell.exe")
    parent = next(x for x in rows if x["proc"] == ps["parent"])
    assert parent["name"] == "msedge.exe" and ps["link"] == "conflict"


def test_rules_without_parent_fields_carry_no_parent_link(example_case):
    r = execute_text(make_context(example_case), f'events | sigma("{EXAMPLES}")')[-1]
    rows = py_rows(r.table)
    assert rows and all((x["parent_link"] is None) == (x["rule"] != "Office Application "
                                                       "Starts PowerShell") for x in rows)


def test_defender_names_its_parent_exactly(example_case):
    """The example case is a Defender export: a child's record names its parent's pid and
    start time, so Word → PowerShell is exact there, with no trust note."""
    r = execute_text(make_context(example_case), f'events | sigma("{RULE}")')[-1]
    (hit,) = py_rows(r.table)
    assert hit["parent_link"] == "exact (PID + start time given by the event)"
    assert hit["trust"] is None and hit["proc"].startswith("pc-sales-07.contoso.local|6640|")


def test_hits_in_trees_on_the_example_case(example_case):
    """The contract's pipeline: events | where host == … | sigma(…) | tree()."""
    r = execute_text(make_context(example_case),
                     'events | where host == "pc-sales-07.contoso.local" | '
                     f'sigma("{EXAMPLES}")'
                     ' | tree()')[-1]
    assert r.kind == "tree"
    names = r.table.column("name").to_pylist()
    focus = [n for n, f in zip(names, r.table.column("focus").to_pylist()) if f]
    assert {"WINWORD.EXE", "powershell.exe", "rundll32.exe"} <= set(names)
    assert {"powershell.exe", "rundll32.exe", "whoami.exe", "schtasks.exe"} <= set(focus)
