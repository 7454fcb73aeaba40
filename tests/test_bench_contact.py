"""benchmarks/bench_contact.py runs end to end on a tiny export: the table, one line per goal,
answers that agree with the peers, and nothing left behind. (No timing is asserted.)"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("duckdb")

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_contact.py"

GOALS = ["ingest: edrql / duckdb file", "ingest (stretch): edrql / duckdb memory", "ingest: edrql peak RSS",
         "case size / CSV", "case size (stretch) / DuckDB file", "where + stats by: edrql / duckdb",
         "tree(): edrql / duckdb", "events | count: edrql", "warm search: duckdb (in memory) / edrql"]
SEARCH_GOALS = ["first search: edrql / rg", "later search: edrql / rg"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("contact")
    work = tmp / "work"
    cmd = [sys.executable, str(SCRIPT), "--csv", str(tmp / "d.csv"), "--rows", "20000", "--repeat", "1",
           "--workdir", str(work), "--edrql", f"{sys.executable} -m edrql", "--json", str(tmp / "out.json")]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    return p, work, tmp


def test_prints_the_table_and_every_goal_line(run):
    p, _, _ = run
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = p.stdout
    assert "whole processes, median of 1" in out
    header = next(line for line in out.splitlines() if line.startswith("step "))
    for col in ("edrql s", "peer s", "edrql / peer"):
        assert col in header
    for step in ("ingest", "first search", "later search", "where + stats by", "tree()", "events | count"):
        assert re.search(rf"^{re.escape(step)}\s+[\d.]", out, re.M), step
    assert "case size on disk" in out and "edrql case after the queries" in out
    for goal in GOALS:
        assert re.search(rf"^{re.escape(goal)} = [\d.]+( GB| s)? \(goal (<=|>=) [\d.]+( GB| s)?: (met|NOT met)\)$",
                         out, re.M), goal
    for goal in SEARCH_GOALS:
        if shutil.which("rg"):
            assert re.search(rf"^{re.escape(goal)} = [\d.]+ \(goal <= [\d.]+: (met|NOT met)\)$", out, re.M), goal
        else:
            assert f"{goal.split(':')[0]}: no peer: rg (ripgrep) is not installed" in out


def test_answers_agree_with_the_peers(run):
    p, _, tmp = run
    agree = re.findall(r"^answers agree, (.*): (yes|NO)$", p.stdout, re.M)
    names = {k for k, _ in agree}
    assert {"stats by host", "tree nodes", "warm search"} <= names
    assert all(v == "yes" for _, v in agree), agree
    assert re.search(r"^tree: .* edrql (\d+) processes, duckdb \1$", p.stdout, re.M)
    import json
    data = json.loads((tmp / "out.json").read_text())
    assert all(data["agree"].values()) and data["sizes"]["end"]["events"] > 0


def test_removes_what_it_made(run):
    p, work, _ = run
    assert p.returncode == 0
    assert os.listdir(work) == []


def test_a_missing_case_is_one_clear_error(tmp_path):
    p = subprocess.run([sys.executable, str(SCRIPT), "--case", str(tmp_path / "nope"), "--workdir", str(tmp_path)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 2
    assert "no such folder" in p.stderr and "Traceback" not in p.stderr


def test_reads_the_time_off_a_search_receipt():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from bench_contact import receipt_seconds
    finally:
        sys.path.remove(str(SCRIPT.parent))
    head = ('search "x": 7 hit(s) in 200,000 rows × 68 columns (159.1 MB of text), 0 hit(s) in 0 quarantined '
            'records (0 B); 200 host(s), 2024-11-04T00:00:01Z .. 2024-11-06T23:59:58Z; ')
    assert receipt_seconds(head + "3448 ms; built the search index once in 3.1 s\n1 result(s) in 3561 ms") == 3.448
    assert receipt_seconds(head + "1,161.5 s\n1 result(s) in 1 ms") == 1161.5
    assert receipt_seconds("1 result(s) in 199 ms") is None
