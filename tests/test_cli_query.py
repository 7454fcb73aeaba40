"""Batch query CLI through subprocess: -c, -f, -f -, --param, formats, -o, exit codes."""
from __future__ import annotations

import csv
import io
import json

import pytest

from test_cli import run


@pytest.fixture(scope="module")
def case(example_case):
    return example_case.root


def test_query_csv_when_piped(case):
    r = run(case, "-c", 'events | where event == "process_start" and pid == 6640 | project name, pid')
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows == [["name", "pid"], ["msedge.exe", "6640"], ["powershell.exe", "6640"]] or \
        rows == [["name", "pid"], ["powershell.exe", "6640"], ["msedge.exe", "6640"]]


def test_formats_json_ndjson_table_tsv(case):
    q = 'events | where event == "process_start" and pid == 7288 | project name, pid, ts'
    j = json.loads(run(case, "-c", q, "--format", "json").stdout)
    assert j == [{"name": "rundll32.exe", "pid": 7288, "ts": "2023-08-10T14:21:15.287116000Z"}]
    nd = run(case, "-c", q, "--format", "ndjson").stdout.splitlines()
    assert json.loads(nd[0])["pid"] == 7288
    t = run(case, "-c", q, "--format", "table").stdout
    assert "rundll32.exe" in t and "2023-08-10T14:21:15.287116000Z" in t
    tsv = run(case, "-c", q, "--format", "tsv").stdout
    assert "\t" in tsv.splitlines()[0]


def test_script_file_stdin_params_and_headings(case, tmp_path):
    script = tmp_path / "hunt.edrql"
    script.write_text("# hunt\nlet ps = events | where name == $proc\n\nps | count;\n"
                      "ps | distinct pid\n")
    r = run(case, "-f", str(script), "--param", "proc=powershell.exe", "--format", "table")
    assert r.returncode == 0, r.stderr
    assert "== ps | count ==" in r.stdout and "8" in r.stdout and "6640" in r.stdout
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "edrql", case, "-f", "-", "--format", "csv"],
                       input="events | count", capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.splitlines()[-1] == "797"


def test_output_file_and_csv_escape(case, tmp_path):
    out = tmp_path / "r.csv"
    q = 'events | where cmdline startswith "-" or cmdline startswith "=" | count'
    r = run(case, "-c", 'events | extend f = strcat("=cmd|", name) | project f | head 1', "-o", str(out))
    assert r.returncode == 0 and r.stdout == ""
    assert "'=cmd|" in out.read_text()
    r = run(case, "-c", 'events | extend f = strcat("=cmd|", name) | project f | head 1',
            "--no-csv-escape")
    assert '"=cmd|' in r.stdout or "\n=cmd|" in r.stdout
    j = run(case, "-c", 'events | extend f = strcat("=cmd|", name) | project f | head 1',
            "--format", "json").stdout
    assert json.loads(j)[0]["f"].startswith("=cmd|")
    assert run(case, "-c", q).returncode == 0


def test_exit_codes_and_errors_on_stderr(case):
    r = run(case, "-c", 'events | where nmae == "x"', "--format", "json")
    assert r.returncode == 1 and r.stdout == ""
    assert "line 1, column 16" in r.stderr and "did you mean name" in r.stderr
    assert "Traceback" not in r.stderr
    r = run(case, "-c", "events | where (")
    assert r.returncode == 1 and "^" in r.stderr
    r = run(case, "-c", "events | count", "--format", "xml")
    assert r.returncode == 2
    r = run(case, "-c", "events | count", "-f", "x")
    assert r.returncode == 2
    r = run(case, "-c", "events | count", "--param", "novalue")
    assert r.returncode == 2


def test_search_receipt_file(case, tmp_path):
    rc = tmp_path / "receipt.json"
    r = run(case, "-c", 'search "invoice_Q3_final.pdf.scr" | project ts, matched',
            "--receipt", str(rc), "--verbose")
    assert r.returncode == 0
    receipt = json.loads(rc.read_text())[0]
    assert receipt["hits"] == 2 and receipt["rows_scanned"] == 797
    assert "hit(s) in 797 rows" in r.stderr


def test_examples_in_issue_run(case):
    for q in [
        'events | where event == "process_start" | project ts, host, pid, ppid, name, cmdline | sort by ts asc | head 20',
        "events | stats count() as n by event | sort by n desc",
        'events | where name in ("powershell.exe", "rundll32.exe") and cmdline contains "-enc"',
        'events | where ts between ("2023-08-10T14:00:00Z" .. "2023-08-10T15:00:00Z") | timeline(5m) by event',
        'let ps = events | where name == "powershell.exe"; ps | count',
    ]:
        r = run(case, "-c", q)
        assert r.returncode == 0 and r.stdout.strip(), (q, r.stderr)
