"""Nothing hidden on the terminal: log text with control, bidi, zero-width characters or
undecodable bytes is shown escaped (``⟨ESC⟩``…) and flagged by every human-facing
renderer — tables, trees, Mermaid, DOT, info, the ingest report, error messages,
progress — while csv/tsv/json/ndjson keep the exact value.
"""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys

import pyarrow as pa
import pytest

from mde_fixture import row, write
from test_cli import run as cli

# what must never reach a terminal raw (written independently of safetext's own class):
# C0 but LF, DEL, C1, bidi embeddings/overrides/isolates, zero-width, separators, BOM,
# and the private-use code points undecodable bytes are stored as
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069"
                 "\ufeff\U0010ff00-\U0010ffff]")

ATTACK = "powershell -enc SQBFAFgA\x1b[1K\x1b[40Dnotepad.exe report.txt"   # blanks itself
RLO_NAME = "invoice_\u202efdp.exe"                                          # reads invoice_exe.pdf
CMDS = {
    1000: ATTACK,
    1004: RLO_NAME,
    1008: "cmd /c evil\rcmd /c dir",                   # CR: the second half overwrites the first
    1012: "a\u2066b\u2069c \u200bzw",                  # LRI/PDI isolate, zero-width space
    1016: "c1\x9b2Kcsi",                               # C1 CSI (0x9b)
    1020: "line1\nline2",                              # LF: shown, not flagged
    1024: "plain",
    1028: "dos\r\nline",                               # CRLF: shown, not flagged
    1032: 'x "quoted" \\N <b>#amp; `tick`',            # DOT / Mermaid syntax in log text
}
FLAGGED = {1000, 1004, 1008, 1012, 1016}
BYTE_PID = 1036                                         # its command line holds the byte 0x81


def clean(text: str) -> str:
    found = RAW.findall(text)
    assert not found, f"raw characters on the terminal: {found!r}"
    return text


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    d = tmp_path_factory.mktemp("termsafe")
    rows = [row(i, ProcessId=str(pid), ProcessCommandLine=cmd,
                FileName=RLO_NAME if pid == 1004 else ('we"ird].exe' if pid == 1032 else "cmd.exe"),
                InitiatingProcessId="500")
            for i, (pid, cmd) in enumerate(CMDS.items())]
    rows.append(row(len(rows), ProcessId=str(BYTE_PID), ProcessCommandLine="bytes @@BYTE@@here",
                    InitiatingProcessId="500"))
    f = d / "export.csv"
    write(f, rows)
    f.write_bytes(f.read_bytes().replace(b"@@BYTE@@", b"\x81 "))
    return f


@pytest.fixture(scope="module")
def case(export):
    root = export.parent / "case"
    r = cli("ingest", str(export), "--case", str(root))
    assert r.returncode == 0, r.stderr
    clean(r.stdout + r.stderr)
    return str(root)


def query(case, q, *extra):
    r = cli(case, "-c", q, *extra)
    assert r.returncode == 0, r.stderr
    return r.stdout


def query_bytes(case, q, *extra) -> str:
    """Standard output decoded with no newline translation (CR stays CR)."""
    r = subprocess.run([sys.executable, "-m", "edrql", case, "-c", q, *extra], capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode("utf-8")


# ------------------------------------------------------------------ tables

def test_table_escapes_every_cell_and_flags_rows(case):
    out = clean(query(case, "events | sort by pid asc | project pid, cmdline, name", "--format", "table"))
    assert "⟨ESC⟩[1K⟨ESC⟩[40Dnotepad.exe" in out and "invoice_⟨RLO⟩fdp.exe" in out
    assert "evil⟨CR⟩cmd" in out and "a⟨LRI⟩b⟨PDI⟩c ⟨ZWSP⟩zw" in out and "c1⟨U+009B⟩2Kcsi" in out
    assert "line1⟨LF⟩line2" in out and "dos⟨CR⟩⟨LF⟩line" in out
    lines = out.splitlines()
    assert lines[0].startswith("!")                       # the flag column exists
    body = {int(m.group(2)): m.group(1) == "!"
            for m in (re.match(r"^(!?)\s+(\d+)\s\s", ln) for ln in lines[2:]) if m}
    assert set(body) == set(CMDS) | {BYTE_PID}
    assert {p for p, f in body.items() if f} - {BYTE_PID} == FLAGGED
    foot = [ln for ln in lines if re.match(r"! \d+ row", ln)]
    assert len(foot) == 1 and re.match(r"! (5|6) row\(s\) hold hidden", foot[0])
    assert "⟨ESC⟩" in foot[0] and "⟨RLO⟩" in foot[0] and "csv/json" in foot[0]


def test_table_without_hidden_characters_is_unchanged(case):
    out = query(case, "events | where pid == 1024 | project pid, cmdline", "--format", "table")
    assert out.splitlines()[0].split() == ["pid", "cmdline"] and "hidden" not in out


def test_to_table_headers_width_and_undecodable_bytes():
    from edrql.render import to_table
    from edrql.safetext import undecodable
    t = pa.table({"raw.X\x1b[2J": ["ok", "\u202eabc", "b" + undecodable(0x81) + "c", "x\r\ny"],
                  "n": [1, 2, 3, 4]})
    out = clean(to_table(t))
    assert "raw.X⟨ESC⟩[2J" in out.splitlines()[0]
    assert "⟨RLO⟩abc" in out and "b⟨x81⟩c" in out and "x⟨CR⟩⟨LF⟩y" in out
    marks = [ln[:1] for ln in out.splitlines()[2:6]]
    assert marks == [" ", "!", "!", " "]                  # CRLF is shown, not flagged
    assert "! 2 row(s)" in out
    long = pa.table({"cmdline": ["A" * 30 + "\x1b" * 40 + "B" * 30], "pid": [7]})
    narrow = clean(to_table(long, width=60))
    assert all(len(ln) <= 60 for ln in narrow.splitlines()[:3])
    cell = narrow.splitlines()[2]
    assert "…" in cell and re.search(r"⟨E?S?C?…", cell) is None   # never cut inside an escape


def test_safetext_flags_agree_in_python_and_arrow():
    from edrql.safetext import escape_column, is_flagged
    vals = ["x\r\ny", "x\ry", "x\r", "x\r\n", "ok", "\t\n", "a\x1b", "a\u202e", "a\u27e8", None]
    _, mask = escape_column(pa.array(vals, pa.string()))
    assert mask.to_pylist() == [is_flagged(v) for v in vals]
    assert [is_flagged(v) for v in vals] == [False, True, True, False, False, False, True, True,
                                             True, False]


def test_escape_column_equals_term_on_every_path():
    """Arrow-only rows (TAB/LF/CR only) and Python rows give what term() gives."""
    from edrql.safetext import escape_column, term, undecodable
    vals = ["a\r\nb\tc", "x\x1b\ny", "\u27e8LF\u27e9\n", "ok", None, "\t", "a\u202e\r",
            "b" + undecodable(0xFF), "\x00\x7f\x85\u2028\ufeff"]
    out, _ = escape_column(pa.chunked_array([vals[:4], vals[4:]]))
    assert out.to_pylist() == [None if v is None else term(v) for v in vals]
    assert out.to_pylist()[2] == "⟨U+27E8⟩LF⟨U+27E9⟩⟨LF⟩"      # a literal bracket is no escape


# ------------------------------------------------------------------ trees

def test_tree_text_escapes_and_flags(case):
    out = clean(query(case, "procs | where pid >= 1000 | tree()", "--format", "table"))
    lines = {int(m.group(1)): ln for ln in out.splitlines() if (m := re.search(r"\((\d+)\)", ln))}
    for pid in FLAGGED:
        assert "[hidden characters]" in lines[pid], lines[pid]
    for pid in (1020, 1024, 1028):
        assert "[hidden characters]" not in lines[pid]
    assert "⟨ESC⟩[1K" in lines[1000] and "invoice_⟨RLO⟩fdp.exe (1004)" in lines[1004]
    assert re.search(r"^! [56] process\(es\) hold hidden", out, re.M)


def test_tree_footer_lines_are_escaped(tmp_path):
    """The completeness footer names root processes: a root's name comes from the data."""
    f = tmp_path / "e.csv"
    write(f, [row(0, ProcessId="1000", InitiatingProcessId="500",
                  InitiatingProcessFileName="expl\x1b[8morer.exe")])
    r = cli(str(f), "-c", "procs | where pid == 1000 | tree()", "--format", "table")
    assert r.returncode == 0, r.stderr
    clean(r.stdout + r.stderr)
    assert "expl⟨ESC⟩[8morer.exe" in r.stdout


def test_mermaid_labels_are_quoted_and_escaped(case):
    out = clean(query(case, "procs | where pid >= 1000 | tree()", "--format", "mermaid"))
    nodes = [ln for ln in out.splitlines()[1:] if "[" in ln and "-->" not in ln and "-.->" not in ln]
    assert nodes
    for ln in nodes:       # one quoted label, no quote, entity start or HTML but our <br/>
        assert re.fullmatch(r'  p\d+\["[^"]*"\]', ln), ln
        assert "<" not in ln.replace("<br/>", "") and not re.search(r"#(?!\d+;)", ln), ln
    assert any("invoice#95;⟨RLO⟩fdp.exe" in ln for ln in nodes)
    assert any("we#34;ird]" in ln for ln in nodes)


def test_dot_labels_are_quoted_and_escaped(case):
    out = clean(query(case, "procs | where pid >= 1000 | tree()", "--format", "dot"))
    string = r'"(?:[^"\\]|\\.)*"'
    for ln in out.splitlines()[2:-1]:
        assert re.fullmatch(rf'  p\d+ \[label={string}(, style="dashed")?\];'
                            rf'|  p\d+ -> p\d+( \[style="dashed", label={string}\])?;', ln), ln
    assert 'we\\"ird].exe' in out and "invoice_⟨RLO⟩fdp.exe" in out


def test_dot_and_mermaid_keep_backslashes_and_quotes_as_text():
    from edrql.treeview import dot, mermaid
    t = pa.table({"proc": ["a"], "name": ['C:\\Temp\\N"x<b>'], "pid": [1], "depth": [0],
                  "link": ["exact"], "parent": pa.array([None], pa.string())})
    assert 'label="C:\\\\Temp\\\\N\\"x<b> (1)"' in dot(t)          # \N would be the node name
    assert '["C:#92;Temp#92;N#34;x#60;b#62; (1)"]' in mermaid(t)


# ------------------------------------------------------------------ exact machine formats

def test_csv_json_ndjson_keep_exact_values(case):
    q = "events | where pid != 1036 | sort by pid asc | project pid, cmdline"
    out = query_bytes(case, q, "--format", "csv", "--no-csv-escape")
    assert "\x1b[1K\x1b[40D" in out and "\u202e" in out and "\x9b" in out
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert {int(p): c for p, c in rows[1:]} == CMDS
    tsv = list(csv.reader(io.StringIO(query_bytes(case, q, "--format", "tsv"), newline=""),
                          delimiter="\t"))
    assert {int(p): c for p, c in tsv[1:]} == CMDS
    j = json.loads(query_bytes(case, q, "--format", "json"))
    assert {r["pid"]: r["cmdline"] for r in j} == CMDS
    nd = [json.loads(ln) for ln in query_bytes(case, q, "--format", "ndjson").splitlines()]
    assert {r["pid"]: r["cmdline"] for r in nd} == CMDS


def test_undecodable_byte_is_not_raw_on_the_terminal(case):
    out = clean(query(case, f"events | where pid == {BYTE_PID} | project pid, cmdline",
                      "--format", "table"))
    # readers store the byte as safetext.undecodable(0x81) → ⟨x81⟩; older readers wrote \x81
    assert "bytes ⟨x81⟩ here" in out or "bytes \\x81 here" in out


# ------------------------------------------------------------------ info, ingest, messages

def test_info_and_ingest_report_escape_file_names(tmp_path):
    ok = tmp_path / "ok\u202eVSC.csv"
    write(ok, [row(0, DeviceName="pc\x1b[2K-01")])
    bad = tmp_path / "bad\x1b[2Jname.csv"
    bad.write_bytes(b"garbage\x00\x01 not a log " + str(tmp_path).encode() + b"\n")   # uncached
    root = tmp_path / "case"
    r = cli("ingest", str(ok), str(bad), "--case", str(root))
    assert r.returncode == 1
    clean(r.stdout + r.stderr)
    assert "ok⟨RLO⟩VSC.csv" in r.stderr and "rejected" in r.stderr and "bad⟨ESC⟩[2Jname.csv" in r.stderr
    r = cli("info", str(root))
    assert r.returncode == 0, r.stderr
    clean(r.stdout)
    assert "ok⟨RLO⟩VSC.csv" in r.stdout and "pc⟨ESC⟩[2K-01" in r.stdout
    assert re.search(r"^! \d+ name\(s\) above hold hidden", r.stdout, re.M)
    j = json.loads(cli("info", str(root), "--format", "json").stdout)
    assert "pc\x1b[2K-01" in j["hosts"]                  # JSON keeps the exact value
    r = cli(str(bad), "-c", "events | count")           # rejected on the query path too
    clean(r.stderr)
    assert "bad⟨ESC⟩[2Jname.csv" in r.stderr


def test_error_message_escapes_query_text_and_keeps_the_caret(case):
    r = cli(case, "-c", 'events | where nmae == "x\x1b[2Jy"')
    assert r.returncode == 1
    clean(r.stderr)
    assert 'nmae == "x⟨ESC⟩[2Jy"' in r.stderr
    r = cli(case, "-c", "events |\twhere\x1b[2K nmae == 1")
    assert r.returncode == 1
    err = clean(r.stderr).splitlines()
    src = next(ln for ln in err if "where⟨ESC⟩" in ln)
    caret = err[err.index(src) + 1]
    assert src[caret.index("^"):].startswith("⟨ESC⟩") and caret.count("^") == len("⟨ESC⟩")
    assert "column 15" in err[0]                         # the position in the user's text


def test_error_message_quoting_a_value_and_a_file_name(case, tmp_path):
    r = cli(case, "-c", "events | where ts > $p", "--param", "p=x\u202e\x1b[31mred")
    assert r.returncode == 1 and "not a time" in r.stderr
    clean(r.stderr)
    r = cli(case, "-f", str(tmp_path / "no\x1b[2Jsuch.edrql"))
    assert r.returncode == 2
    clean(r.stderr)
    assert "no⟨ESC⟩[2Jsuch.edrql" in r.stderr
    r = cli("ingest", "x.csv", "--case", str(tmp_path / "c"), "--bogus\x1b[2J")
    assert r.returncode == 2
    clean(r.stderr)


def test_error_text_escapes_messages_without_position():
    from edrql.errors import QueryError
    from edrql.query import error_text
    msg = clean(error_text(QueryError("unknown host 'pc\x1b[2K'", hint="try \u202ehost"), ""))
    assert "pc⟨ESC⟩[2K" in msg and "⟨RLO⟩host" in msg


def test_progress_labels_are_escaped():
    from edrql.progress import Progress

    class Counter:
        label = ""
    p = Progress("t")
    p._counter = Counter()
    p._label("evil\x1b[2J.csv: read")
    assert clean(p._counter.label) == "evil⟨ESC⟩[2J.csv: read"


def test_search_receipt_footer_is_escaped(case):
    out = query(case, 'search "a\x1b[2Jb"', "--format", "table")
    clean(out)
    assert 'search "a⟨ESC⟩[2Jb": 0 hit(s)' in out
