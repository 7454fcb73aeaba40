"""The REPL stays readable and truthful (issue 11): wide results in the expanded
display, paging by screen lines, a notice when another ``edrql ingest`` changed the
case, and no hidden character (ESC, RLO) from the data reaching the terminal raw —
in values, messages or the completion menu. Driven through prompt_toolkit's pipe
input as in test_repl.py.
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

import mde_fixture
from edrql.execute import Result
from edrql.repl.expanded import expanded_text, screen_lines, too_wide
from edrql.repl.output import Printer
from test_repl import COLS, ENTER, TAB, Driver

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "case"
EVIL_CMD = "cmd.exe /c del x\x1b[2K\x1b[1Gnotepad.exe"        # blanks the row on a raw terminal
EVIL_NAME = "invoice_\u202efdp.exe"                               # reads as invoice_exe.pdf
EVIL_HOST = "pc-\x1b]0;owned\x07evil"
EVIL_FIELD = "Evil\u202eField"


def records(text: str) -> list[str]:
    return re.findall(r"-\[ RECORD (\d+) \]-", text)


# ---------------------------------------------------------------- expanded display
def test_wide_result_is_expanded_and_a_narrow_one_is_a_table(example_case):
    def script(d):
        d.run_line('events | where name == "powershell.exe"', "row(s) in")
        d.snap["wide"] = len(d.printed())
        d.run_line('events | where name == "powershell.exe" | project ts, host, name, cmdline',
                   "row(s) in")
    d = Driver(example_case).run(script)
    p = d.printed()
    wide, narrow = p[: d.snap["wide"]], p[d.snap["wide"]:]
    assert records(wide) == [str(i) for i in range(1, 9)]           # 8 powershell.exe events
    assert "columns do not fit 120 characters" in wide
    assert re.search(r"-\[ RECORD 1 \]- \d+ empty field\(s\) left out", wide)
    assert re.search(r"^cmdline +\| ", wide, re.M) and re.search(r"^host +\| pc-sales-07", wide, re.M)
    block = wide[wide.index("-[ RECORD 1 ]-"): wide.index("-[ RECORD 2 ]-")]
    assert not re.search(r"^(url|remote_ip|raw\.RemoteUrl) +\|", block, re.M)   # empty: left out
    assert all(len(x) <= COLS for x in block.splitlines())            # wrapped, not cut
    assert records(narrow) == [] and re.search(r"^ts +host +name +cmdline", narrow, re.M)


def test_expanded_command(example_case):
    def script(d):
        d.run_line(".expanded", "expanded auto")
        d.run_line(".expanded on", "expanded on")
        d.run_line("events | where name == 'cmd.exe' | project host, name | head 2", "row(s) in")
        d.snap["on"] = len(d.printed())
        d.run_line(".expanded off", "expanded off")
        d.run_line('events | where name == "powershell.exe" | head 2', "row(s) in")
        d.snap["off"] = len(d.printed())
        d.run_line(".expanded sideways", "unknown setting 'sideways'")
        d.send(".expanded " + TAB)
        d.snap["menu"] = d.completions()
    d = Driver(example_case).run(script)
    p = d.printed()
    on, off = p[: d.snap["on"]], p[d.snap["on"]: d.snap["off"]]
    assert records(on) == ["1", "2"] and "do not fit" not in on     # on: asked for, no excuse
    assert re.search(r"^name +\| cmd\.exe", on, re.M)
    assert records(off) == [] and re.search(r"^ts +host", off, re.M)
    assert set(d.snap["menu"]) == {"auto", "on", "off"}


def test_expanded_text_unit():
    t = pa.table({"a": ["x", None, ""], "b": [1, 2, None], "long": ["w " * 40, "z", None]})
    text, hidden = expanded_text(t, 50)
    blocks = text.split("-[ RECORD ")[1:]
    assert len(blocks) == 3 and hidden == 0
    assert "1 empty field(s) left out" in blocks[1] and not re.search(r"^a +\|", blocks[1], re.M)
    assert "3 empty field(s) left out" in blocks[2] and "|" not in blocks[2]
    assert all(len(x) <= 50 for x in text.splitlines())
    assert "long | w w" in blocks[0] and re.search(r"^     \| w w", blocks[0], re.M)
    crlf, hidden = expanded_text(pa.table({"m": ["a\r\nb", "x\x1by"]}), 60)
    assert hidden == 1 and "a⟨CR⟩⟨LF⟩\n" in crlf and "x⟨ESC⟩y" in crlf   # CRLF shown, not flagged
    assert crlf.count("hidden characters shown as ⟨…⟩ in: m") == 1
    from prompt_toolkit.utils import get_cwidth
    cjk, _ = expanded_text(pa.table({"k": ["日本" * 50]}), 40)
    assert all(get_cwidth(x) <= 40 for x in cjk.splitlines()) and cjk.count("日本") == 50
    assert too_wide(pa.table({f"c{i}": ["v" * 20] for i in range(10)}), 120)
    assert not too_wide(pa.table({"a": ["v" * 500], "b": ["x"]}), 120)   # long cell: a table


# ---------------------------------------------------------------- paging by screen lines
class TtyIO(io.StringIO):
    def isatty(self):
        return True


def test_pager_counts_wrapped_screen_lines(tmp_path, monkeypatch):
    paged = tmp_path / "paged.txt"
    monkeypatch.setenv("PAGER", f"sh -c 'cat > {paged}'")
    out = TtyIO()
    pr = Printer(out, lambda: (80, 24))
    wide = Result("q", pa.table({"cmdline": ["A" * 400] * 4}))     # 5 text lines, 24 on screen
    pr.result(wide, "csv")
    assert paged.exists() and paged.read_text().count("A" * 400) == 4
    assert "A" * 400 not in out.getvalue()
    paged.unlink()
    pr.result(Result("q", pa.table({"cmdline": ["A" * 60] * 4})), "csv")   # fits: printed
    assert not paged.exists() and out.getvalue().count("A" * 60) == 4
    assert screen_lines("x" * 161 + "\n\n" + "\x1b[2my\x1b[0m\n", 80) == 5


def test_pager_in_the_session(example_case, tmp_path, monkeypatch):
    paged = tmp_path / "paged.txt"
    monkeypatch.setenv("PAGER", f"sh -c 'cat > {paged}'")

    def script(d):
        d.repl.out.tty = True
        d.run_line(".format csv", "")
        # 3 rows of ~90 fields: 4 text lines, far more than 40 screen lines at 120 columns
        d.run_line('events | where name == "powershell.exe" | head 3', "row(s) in")
        d.wait(paged.exists, what="the pager")
    Driver(example_case).run(script)
    assert paged.read_text().count("powershell.exe") >= 3


# ---------------------------------------------------------------- the case changed on disk
def test_case_changed_by_another_ingest_is_noticed_and_reloaded(tmp_path):
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    root = str(tmp_path / "case")
    ingest([str(EXAMPLES / "export_early.csv")], Case.create_or_open(root), Options())

    def script(d):
        d.run_line("events | count", "321")
        r = subprocess.run([sys.executable, "-m", "edrql", "ingest", str(EXAMPLES / "export_late.csv"),
                            "--case", root], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        d.snap["before"] = len(d.printed())
        d.run_line("events | count", "row(s) in")
        d.snap["mid"] = len(d.printed())
        manifest = Path(root) / "manifest.json"
        st = manifest.stat()
        os.utime(manifest, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))   # touched only
        d.run_line("events | count", "row(s) in")
    d = Driver(Case.open(root), case_dir=root).run(script)
    p = d.printed()
    after, again = p[d.snap["before"]: d.snap["mid"]], p[d.snap["mid"]:]
    note = [x for x in after.splitlines() if "the case changed on disk" in x]
    assert len(note) == 1
    assert re.search(r"1 source\(s\) added: \S*export_late.csv \(366 rows\)", note[0])
    assert "now 687 rows (+366)" in note[0] and "reloaded" in note[0]
    assert re.search(r"count\s*-+\s*687", after)                   # the query saw the new data
    assert "changed on disk" not in again                          # said once; a touch is no change


# ---------------------------------------------------------------- hidden characters
@pytest.fixture()
def evil_case(tmp_path):
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    src = tmp_path / "evil.csv"
    rows = [mde_fixture.row(i) for i in range(5)]
    rows[1]["ProcessCommandLine"] = EVIL_CMD
    rows[2]["FileName"] = EVIL_NAME
    rows[3]["DeviceName"] = EVIL_HOST
    rows[4][EVIL_FIELD] = "v"                            # a vendor field name from the data
    mde_fixture.write(src, rows, header=mde_fixture.HEADER + [EVIL_FIELD])
    root = str(tmp_path / "case")
    ingest([str(src)], Case.create_or_open(root), Options())
    return Case.open(root)


def raw_clean(d) -> str:
    """Everything written to the terminal; the payloads must not be in it raw."""
    raw = d.stream.getvalue()
    assert "\u202e" not in raw
    assert "\x1b[2K\x1b[1Gnotepad" not in raw and "\x1b]0;owned" not in raw
    return raw


def test_hidden_characters_in_values_and_dot_commands(evil_case):
    def script(d):
        d.run_line(".expanded on", "")
        d.run_line("events | where pid == 1004 or pid == 1008", "row(s) in")
        d.run_line(".hosts", "most common")
        d.run_line(".schema", "raw vendor field(s)")
        d.run_line(".format csv", "")
        d.run_line("events | project name, cmdline, host", "row(s) in")
    d = Driver(evil_case).run(script)
    raw_clean(d)
    p = d.printed()
    assert "del x⟨ESC⟩[2K⟨ESC⟩[1Gnotepad.exe" in p and "invoice_⟨RLO⟩fdp.exe" in p
    assert "hidden characters shown as ⟨…⟩ in: cmdline" in p
    assert "record(s) hold hidden characters" in p
    assert "pc-⟨ESC⟩]0;owned⟨BEL⟩evil" in p                       # .hosts
    assert "raw.Evil⟨RLO⟩Field" in p                                # .schema
    assert "U+27E8" not in p                                        # escaped once, not twice


def test_hidden_characters_in_error_messages(evil_case, tmp_path):
    bad = tmp_path / "bad.edrql"
    bad.write_text('events | where raw.EvilField == "x\x1b[2K"\n', encoding="utf-8")

    def script(d):
        d.run_line(f".run {bad}", "line 1")
        d.send('events | where name == "a" and raw.EvilField == 1' + ENTER)
        d.wait(lambda: d.buffer.validation_error is not None, what="validation error")
        d.snap["msg"] = d.buffer.validation_error.message
    d = Driver(evil_case).run(script)
    p = d.printed()
    err = p[p.index("line 1"):]
    err = err[: err.index("edrql>")]                 # the message, not the next input line
    assert "did you mean raw.Evil⟨RLO⟩Field" in err and '"x⟨ESC⟩[2K"' in err
    assert "\u202e" not in err and "\x1b[2K" not in err
    assert "U+27E8" not in err                        # escaped once, not twice
    assert "did you mean raw.Evil⟨RLO⟩Field" in d.snap["msg"] and "\u202e" not in d.snap["msg"]
    raw_clean(d)


def test_hidden_characters_in_the_completion_menu(evil_case):
    def script(d):
        d.run_line(".expanded on", "expanded on")
        d.send('events | where name == "invo')
        d.snap["menu"] = d.completions()
        d.wait(lambda: "invoice_⟨RLO⟩fdp.exe" in d.screen(), what="escaped value in the menu")
        d.snap["raw"] = d.stream.getvalue()
        d.send(TAB)                                   # taken: written so that it reads back exactly
        d.wait(lambda: d.buffer.text.endswith('"invoice_\\u202efdp.exe"'), what="value inserted")
        d.send(ENTER)                                 # closes the menu
        d.send(" | project name" + ENTER)
        d.wait(lambda: "row(s) in" in d.printed(), what="ran")
    d = Driver(evil_case).run(script)
    assert "\u202e" not in d.snap["raw"]
    raw_clean(d)
    assert "invoice_⟨RLO⟩fdp.exe" in d.printed()          # the exact value matched one row
    assert "1 result(s), 1 row(s)" in d.printed()


def test_hidden_characters_typed_or_pasted_show_in_the_input_line(evil_case):
    def script(d):
        d.send('events | where name == "invoice_\u202efdp.exe" | count')
        d.snap["screen"] = d.wait(lambda: "⟨RLO⟩fdp.exe\" | count" in d.screen() and d.screen(),
                                  what="the input line")
        d.send("\x1b[D" * 8)                              # the cursor moves over the real text
        d.wait(lambda: d.buffer.cursor_position == len(d.buffer.text) - 8, what="cursor")
        d.send("\x1b[F" + ENTER)                          # End, run
        d.wait(lambda: "row(s) in" in d.printed(), what="ran")
    d = Driver(evil_case).run(script)
    raw_clean(d)
    assert 'name == "invoice_⟨RLO⟩fdp.exe"' in d.snap["screen"]
    assert re.search(r"count\s*-+\s*1\b", d.printed())      # the buffer kept the exact text


def test_case_damaged_on_disk_is_said_once_and_the_session_goes_on(tmp_path):
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    root = tmp_path / "case"
    ingest([str(EXAMPLES / "export_early.csv")], Case.create_or_open(str(root)), Options())

    def script(d):
        d.run_line("events | count", "321")
        tmp = root / "manifest.json.new"
        tmp.write_text("{broken", encoding="utf-8")
        os.replace(tmp, root / "manifest.json")
        d.run_line("events | count", "row(s) in")
        d.run_line("events | count", "row(s) in")
    d = Driver(Case.open(str(root)), case_dir=str(root)).run(script)
    p = d.printed()
    assert p.count("the case changed on disk but cannot be reopened") == 1
    assert "damaged manifest" in p and "still showing the case as it was opened" in p
    assert len(re.findall(r"count\s*-+\s*321", p)) == 3
