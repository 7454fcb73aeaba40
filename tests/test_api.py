"""The Python API: edrql.open(...).query(...) → pyarrow.Table, as the CLI answers."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pytest

import edrql
from test_cli import run as cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "case"


@pytest.fixture(scope="module")
def case(example_case):
    return edrql.open(example_case.root)


def test_import_is_light():
    """import edrql loads neither pyarrow nor pandas; the API loads on first use."""
    code = ("import sys, edrql; heavy = [m for m in ('pyarrow', 'pandas', 'lark') if m in sys.modules];"
            "print(heavy); edrql.open; print('pandas' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["[]", "False"]


def test_query_returns_an_arrow_table_as_the_cli_answers(case, example_case):
    t = case.query('events | where name == "cmd.exe" | project ts, host, pid | sort by ts asc')
    assert isinstance(t, pa.Table) and t.column_names == ["ts", "host", "pid"]
    r = cli(example_case.root, "--format", "json", "-c",
            'events | where name == "cmd.exe" | project ts, host, pid | sort by ts asc')
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == t.num_rows > 0
    assert [x["pid"] for x in rows] == t.column("pid").to_pylist()


def test_parameters_are_keyword_arguments(case):
    by_kw = case.query("events | where name == $n | count", n="cmd.exe").column("count")[0].as_py()
    literal = case.query('events | where name == "cmd.exe" | count').column("count")[0].as_py()
    assert by_kw == literal > 0
    assert case.query("events | where pid == $p | count", p=6640).column("count")[0].as_py() == \
        case.query("events | where pid == 6640 | count").column("count")[0].as_py() > 0
    with pytest.raises(TypeError, match=r"\$p"):
        case.query("events | where pid == $p | count", p=[1, 2])
    with pytest.raises(edrql.QueryError, match=r"parameter \$q is not set"):
        case.query("events | where name == $q")


def test_several_statements_give_the_last_table_and_run_gives_all(case):
    text = 'let ps = events | where event == "process_start"; ps | count; ps | search "cmd.exe" | count'
    last = case.query(text)
    results = case.run(text)
    assert [r.title for r in results] == ["ps | count", "ps | search | count"]
    assert results[-1].table.equals(last)
    assert results[0].receipts == [] and len(results[1].receipts) == 1
    assert any(line.startswith('search "cmd.exe"') for line in results[1].footer)
    assert "rows" in repr(results[0])


def test_now_keyword_sets_the_reference_time(case):
    default = case.run("events | where ts > ago(10m) | count")[0]
    assert default.now["source"] == "end of the case's data"
    assert default.now["now"] == "2023-08-10T15:29:58.5484335Z"
    assert default.footer[-1].startswith("now() = 2023-08-10T15:29:58.5484335Z (end of the case's data")
    given = case.run("events | where ts > ago(10m) | count", now="2023-08-10T14:00:00Z")[0]
    assert given.now["now"] == "2023-08-10T14:00:00Z" and "given with now=" in given.footer[-1]
    assert given.table.column("count")[0].as_py() == 665 != default.table.column("count")[0].as_py()
    import datetime as dt
    naive = case.run("events | extend n = now() | take 1 | project n",
                     now=dt.datetime(2023, 8, 10, 14, 0))[0]
    assert naive.now["now"] == "2023-08-10T14:00:00Z"
    assert case.run("events | count")[0].now is None        # now() not read: not said
    with pytest.raises(ValueError, match="not a time"):
        case.query("events | count", now="yesterday-ish")


def test_open_with_now_is_the_default_of_every_query(example_case):
    c = edrql.open(example_case.root, now="2023-08-10T15:00:00Z")
    assert c.run("events | where ts > ago(1h) | count")[0].now["now"] == "2023-08-10T15:00:00Z"
    assert c.run("events | where ts > ago(1h) | count", now="end")[0].now["source"] == \
        "end of the case's data"


def test_errors_carry_the_position_and_the_cli_text(case, example_case):
    q = 'events | where nmae == "x"'
    with pytest.raises(edrql.QueryError) as ei:
        case.query(q)
    e = ei.value
    assert (e.line, e.column) == (1, 16) and e.message == "unknown field 'nmae'"
    assert "did you mean" in e.hint and e.query == q
    r = cli(example_case.root, "-c", q)
    assert r.returncode == 1
    assert r.stderr.rstrip("\n") == "edrql: " + str(e)
    assert "^^^^" in str(e)


def test_parse_errors_are_query_errors_too(case, example_case):
    q = "events |\n  where (pid == 4"
    with pytest.raises(edrql.QueryError) as ei:
        case.query(q)
    e = ei.value
    assert e.line == 2 and e.column > 1
    r = cli(example_case.root, "-c", q)
    assert r.stderr.rstrip("\n") == "edrql: " + str(e)
    from edrql.errors import QueryError as Internal
    assert isinstance(e, Internal)                  # one family: except edrql.QueryError


def test_a_script_without_a_result_is_an_error(case):
    with pytest.raises(edrql.QueryError, match="shows no result"):
        case.query("let x = 5")


def test_open_what_is_not_a_case(tmp_path):
    with pytest.raises(edrql.CaseError, match="neither an edrql case"):
        edrql.open(tmp_path)                             # an empty folder
    with pytest.raises(edrql.CaseError, match="no such file"):
        edrql.open(tmp_path / "nope")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("hello\n")
    with pytest.raises(edrql.CaseError, match="nothing could be read"):
        edrql.open(junk)
    with pytest.raises(ValueError, match="unknown time zone"):
        edrql.open(junk, tz="Mars/Olympus")


def test_open_raw_exports_uses_the_cli_cache(tmp_path, monkeypatch, example_case):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    c = edrql.open([EXAMPLE / "export_early.csv", EXAMPLE / "export_late.csv"])
    assert c.root.startswith(str(tmp_path / "cache"))
    n = c.query("events | count").column("count")[0].as_py()
    again = edrql.open(EXAMPLE / "export_early.csv", EXAMPLE / "export_late.csv")
    assert again.root == c.root                           # the same cached case
    r = cli(str(EXAMPLE / "export_early.csv"), str(EXAMPLE / "export_late.csv"), "-c",
            "events | count", env_extra={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert r.returncode == 0 and r.stdout.split()[-1] == str(n) and n > 0


def test_opening_a_case_takes_no_writer_lock(example_case):
    """A reader: it opens and queries while a writer holds the case's lock."""
    from edrql.store import writer
    got = {}

    def read():
        got["n"] = edrql.open(example_case.root).query("events | count").column("count")[0].as_py()
    with writer(example_case.root):
        th = threading.Thread(target=read, daemon=True)
        th.start()
        th.join(30)
    assert got.get("n", 0) > 0


def test_to_pandas_when_pandas_is_installed(case):
    pytest.importorskip("pandas")
    df = case.query("events | take 3 | project name, pid").to_pandas()
    assert list(df.columns) == ["name", "pid"] and len(df) == 3


def test_dir_lists_the_api():
    assert {"open", "QueryError", "Case", "CaseError"} <= set(dir(edrql))
    with pytest.raises(AttributeError):
        edrql.no_such_name


def test_device_tables_are_built_once_per_opened_case(tmp_path, monkeypatch):
    """A notebook asks many questions of one opened case: the Device* rows are built by the
    first query and shared by the next ones (same answers)."""
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    import scenario
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    src = scenario.write_sysmon(tmp_path / "sysmon.ndjson")
    case = edrql.open(str(src))
    q = 'DeviceProcessEvents | where FileName =~ "powershell.exe" | summarize n = count()'
    first = case.query(q)
    assert case._memo, "the first query left nothing for the next"
    kept = dict(case._memo)
    assert case.query(q).to_pylist() == first.to_pylist() == [{"n": 2}]
    assert all(case._memo[k] is v for k, v in kept.items())
