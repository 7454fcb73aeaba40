"""Column-selected events (issue 13, one-shot `where + stats`): a pipeline whose columns
the plan can bound reads only those of the events (``Case.events_of``, over
``segcodec.decode(stored, columns)``), and gets the answer the whole table gives.

The example case has three segments of two layouts of columns (Defender exports and a
Squid log), so a column may be missing from a segment and text columns are unified over
segments. Each query runs on a fresh Case twice: as it runs now, and with every table
built whole (``events_of`` giving the whole events, as before); the results must be equal
value for value and type for type."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from edrql import segcodec
from edrql.execute import run
from edrql.parse import parse
from edrql.plan import check
from edrql.query import make_context
from edrql.store import Case

QUERIES = [
    'events | where name == "chrome.exe" | stats count() by host',
    'events | where name =~ "CHROME.EXE" and pid > 100 | stats count() by host, event',
    'events | where name != "chrome.exe" | stats n = count(), d = dcount(name) by host',
    'events | where event == "process_start" | project ts, host, Name = name, cmdline',
    'events | where cmdline contains "powershell" | project host, pid, cmdline',
    'events | sort by ts desc | take 7 | project ts, host, name',
    'events | top 5 by pid | project pid, name',
    'events | where raw.RemoteIP != "" | stats count() by raw.RemoteIP',
    'events | where raw.method == "CONNECT" | stats count() by raw.url | sort by count_ desc',
    'events | extend n = strlen(name) | where n > 8 | stats count() by n',
    'events | stats count() by bin(ts, 1h)',
    'events | distinct HOST, event',
    'events | timeline(1h) by host',
    'events | count',
    'events | take 3 | count',
    'events | where ts > ago(1d) | summarize count() by host',
    'events | where event == "process_start" | join kind=inner (events | where event == '
    '"network_connect" | project host, pid, raddr) on host, pid | project host, pid, raddr',
    'events | where event == "process_start" | stats count() by host | '
    'lookup (events | where event == "http" | stats web = count() by host) on host',
    'files | stats count() by event',
    'registry | where reg_key has "Run" | project host, reg_key',
    'network | stats count() by raddr',
    'procs | where name == "powershell.exe" | tree()',
    'events | where name == "powershell.exe" | project host, pid, start = pstart | take 1',
    'events | where name == "no-such.exe" | stats count() by host',
    'events | project-away raw.* | take 2',
    'search "chrome" | count',
    'search "chrome" | project host, pid, matched',
    'search "chrome" and not "update" | stats count() by host',
    'search "chrome" in (cmdline, pid) | project host, pid, matched',
    'search regex("chr[o]me") or "CONNECT" | stats count() by host, matched',
    'search "chrome" | where pid > 0 | search "exe" | project host, matched',
]


def _results(root, text):
    case = Case.open(root)
    ctx = make_context(case, now="end")
    statements = parse(text)
    check(statements, ctx)
    return case, [r.table for r in run(statements, ctx)]


@pytest.mark.parametrize("text", QUERIES)
def test_column_selected_events_give_the_whole_tables_answer(example_case, monkeypatch, text):
    case, mine = _results(example_case.root, text)
    with monkeypatch.context() as m:
        m.setattr(Case, "events_of", lambda self, columns: self.events)
        _, whole = _results(example_case.root, text)
    assert len(mine) == len(whole) == 1
    assert mine[0].schema == whole[0].schema
    assert mine[0].equals(whole[0])
    assert mine[0].num_rows or "no-such" in text or "tree" in text


def test_a_where_and_stats_decodes_only_its_columns(example_case):
    case, (t,) = _results(example_case.root, QUERIES[0])
    assert t.num_rows > 0 and case._events is None          # the whole table was never made
    assert set(case._read["columns"]) == {"name", "host"}


def test_a_search_decodes_only_what_its_later_stages_read(example_case):
    case, (t,) = _results(example_case.root, 'search "chrome" | stats count() by host')
    assert t.num_rows > 0 and case._events is None          # scanned where it is stored
    assert set(case._read["columns"]) <= {"host", "ts"}


def test_events_of_is_the_whole_tables_columns(example_case):
    names = Case.open(example_case.root).events_schema().names
    whole = Case.open(example_case.root).events
    some = [["name", "host"], ["raw.method", "raw.DeviceName", "ts"], ["raw.url"], [], ["nope"],
            [n for n in names if n.startswith("raw.")], names]
    for cols in some:
        case = Case.open(example_case.root)
        part = case.events_of(cols)
        assert case._events is None
        want = [c for c in names if c in cols] or ["ts"]
        assert part.column_names == want
        assert part.num_rows == whole.num_rows == sum(s["rows_stored"] for s in case.manifest["sources"])
        for c in want:
            assert part.column(c).type == whole.column(c).type, c
            assert part.column(c).equals(whole.column(c)), c
        assert case.events_of(cols) is part                  # the same table for the same columns


def test_events_of_grows_and_keeps_its_table_while_it_has_the_columns(example_case):
    case = Case.open(example_case.root)
    a = case.events_of(["name", "host"])
    assert case.events_of(["name"]) is a and case.events_of([]) is a
    b = case.events_of(["pid", "NAME", "name"])               # names as the table has them
    assert b.column_names == ["host", "pid", "name"] and b.column("name").equals(a.column("name"))
    assert case.events_of(["host", "pid"]) is b
    assert case.events_of(None) is case.events and case.events_of(["pid"]) is case.events


def test_decode_selects_columns_in_table_order(example_case):
    case = Case.open(example_case.root)
    for stored in case.segment_tables("events", stored=True):
        whole = segcodec.decode(stored)
        for c in whole.column_names:
            one = segcodec.decode(stored, [c])
            assert one.column_names == [c] and one.column(0).equals(whole.column(c)), c
        cols = list(reversed(whole.column_names[::7])) + ["not-a-column"]
        part = segcodec.decode(stored, cols)
        assert part.column_names == [c for c in whole.column_names if c in cols]
        assert part.equals(whole.select(part.column_names))
        assert segcodec.decode(stored, None).equals(whole)


def test_an_old_layout_table_selects_too():
    t = pa.table({"ts": [1, 2], "host": ["a", "b"], "name": ["x", "y"]})
    assert segcodec.decode(t, ["name", "ts"]).column_names == ["ts", "name"]
    assert segcodec.decode(t) is t


def test_spreading_a_test_over_codes_is_a_take():
    from edrql.expr import spread
    rng = np.random.default_rng(7)
    for trial in range(200):
        nv = int(rng.integers(1, 30))
        n = int(rng.choice([10, 60_000]))
        codes = pa.array(rng.integers(0, nv, n), type=rng.choice([pa.int8(), pa.int16(), pa.int32()]),
                         mask=rng.random(n) < rng.choice([0.0, 0.1]))
        if trial % 3 == 0:
            codes = codes.slice(int(rng.integers(0, 5)))
        values = rng.random(nv) < rng.choice([0.05, 0.5, 0.95])
        if trial % 5 == 0:
            values[:] = bool(trial % 2)
        v = pa.array(values)
        assert spread(v, codes).equals(pc.take(v, codes)), trial
    with_null = pa.array([True, None, False])
    codes = pa.array(np.tile([0, 1, 2], 20_000), pa.int8())
    assert spread(with_null, codes).equals(pc.take(with_null, codes))


def test_a_case_with_an_old_layout_segment_reads_its_events_whole(tmp_path):
    """Format 1 segments keep their text encodings for the whole table (query.encodings_store):
    such a case, or a mixed one, is read as before."""
    from test_migrate import SRC, make_case
    make_case(tmp_path / "mixed", SRC[:1], old=True)
    make_case(tmp_path / "mixed", SRC[1:], old=False)
    case = Case.open(str(tmp_path / "mixed"))
    assert not case.all_compact() and case._events is None
    assert case.events_of(["name"]) is case.events and case.events.num_columns > 40
    make_case(tmp_path / "new", SRC, old=False)
    assert Case.open(str(tmp_path / "new")).all_compact()
