"""The fast paths of the join benchmark give exactly the plain paths' answers.

* Device* tables built on dictionary codes (the case's cached encodings: rows chosen by
  codes, Defender's raw columns cast on their distinct values, text kept coded) equal the
  tables built from the plain text columns — every table, every column, every vendor,
  mixed cases and a creation seen by two channels included.
* The start row chosen per process instance (only instances with several start events are
  scored) equals the choice made over every start event.
* The join's hash path gives the reference rows, and when hashes collide it falls back to
  the exact matcher with the same rows.
"""
from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from edrql import devrows, devtables
from edrql.npkeys import best_row
from edrql.query import execute_text, make_context
from edrql.summarize import plain
from test_devtables import VENDORS, _case
from test_kql_joins import _reference


def _encoder(case, calls=None):
    """What Context.encoding gives on a large case: a dictionary encoding of a text column."""
    def enc(column):
        col = case.events[column]
        if pa.types.is_dictionary(col.type):         # the compact store's own encoding
            if calls is not None:
                calls.append(column)
            return col.combine_chunks()
        if not pa.types.is_string(col.type):
            return None
        if calls is not None:
            calls.append(column)
        return pc.dictionary_encode(col.combine_chunks())
    return enc


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    base = tmp_path_factory.mktemp("joinperf")
    out = {v: _case(base / v, f) for v, f in VENDORS.items()}
    out["two channels"] = _case(base / "both", "sysmon.ndjson", "sec4688.csv")
    out["mixed"] = _case(base / "mixed", "mde.csv", "sysmon.ndjson", "cs_fdr.ndjson")
    return out


@pytest.mark.parametrize("name", ["sysmon", "security", "crowdstrike", "defender",
                                  "two channels", "mixed"])
def test_coded_tables_equal_plain_tables(many, name):
    case = many[name]
    calls: list = []
    enc = _encoder(case, calls)
    for table in devtables.TABLES:
        want = devtables.table(case, table)
        got = devtables.table(case, table, memo={}, encoded=enc)
        assert plain(got).schema == want.schema, table
        assert plain(got).to_pylist() == want.to_pylist(), table
        one = devtables.table(case, table, {"DeviceId", "ProcessId"}, memo={}, encoded=enc)
        assert plain(one).to_pylist() == want.select(one.column_names).to_pylist(), table
    assert {"vendor", "event"} <= set(calls)            # rows were chosen on codes


def test_coded_text_travels_as_codes(many):
    case = many["defender"]
    t = devtables.table(case, "DeviceNetworkEvents", {"DeviceId", "RemoteIP", "RemotePort"},
                        memo={}, encoded=_encoder(case))
    assert pa.types.is_dictionary(t.schema.field("DeviceId").type)
    assert t.schema.field("RemotePort").type == pa.int64()         # numbers are cast


def test_assignment_on_codes_equals_assignment_on_text(many):
    for case in many.values():
        a = devtables.assignment(case, {}, None)
        b = devtables.assignment(case, {}, _encoder(case))
        assert np.array_equal(a, b)


def _start_rows_over_every_start(case) -> np.ndarray:
    """The choice made over every start event (no shortcut for instances with one)."""
    ev, lin = case.events, case.lineage
    is_start = pc.fill_null(pc.equal(ev["event"], "process_start"), False)
    starts = np.nonzero(is_start.to_numpy(zero_copy_only=False))[0]
    score = np.zeros(len(starts), np.int64)
    for weight, column in ((2, "puid"), (1, "sha256")):
        score += weight * pc.is_valid(ev[column].filter(is_start)).to_numpy(zero_copy_only=False)
    who = np.asarray(lin.event_proc, np.int64)[starts]
    ok = who >= 0
    return best_row(lin.procs.num_rows, who[ok], starts[ok], score[ok])


def test_start_rows_equal_the_choice_over_every_start(many):
    both = many["two channels"]
    who = np.asarray(both.lineage.event_proc, np.int64)[
        np.nonzero(devrows.equal_mask(both, {}, None, "event", "process_start"))[0]]
    assert (np.bincount(who[who >= 0]) > 1).any()           # some instance has two starts
    for case in many.values():
        assert np.array_equal(devrows.start_rows(case, {}, None), _start_rows_over_every_start(case))


def test_device_join_over_codes_equals_over_text(many):
    q = ("DeviceProcessEvents | project DeviceId, ProcessId, ProcessCreationTime, FileName "
         "| join kind=inner (DeviceNetworkEvents | project DeviceId, InitiatingProcessId, "
         "InitiatingProcessCreationTime, RemoteIP) on DeviceId, $left.ProcessId == "
         "$right.InitiatingProcessId, $left.ProcessCreationTime == "
         "$right.InitiatingProcessCreationTime")
    case = many["mixed"]
    ctx = make_context(case)
    want = execute_text(ctx, q)[-1].table.to_pylist()
    assert want and all(r["ProcessId"] == r["InitiatingProcessId"] for r in want)
    ctx = make_context(case)
    ctx.encoding = _encoder(case)
    assert execute_text(ctx, q)[-1].table.to_pylist() == want


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("collide", [False, True])
def test_hash_join_and_its_fallback_against_a_reference(seed, collide, monkeypatch):
    import edrql.joinkeys as JK
    if collide:             # every key one hash: the check sees it and the exact path runs
        real = JK._hashes
        monkeypatch.setattr(JK, "_hashes", lambda cols, n: (np.zeros(n, np.uint64),
                                                             real(cols, n)[1]))
        exact = []
        real_exact = JK.exact_ranges
        monkeypatch.setattr(JK, "exact_ranges", lambda *a: exact.append(1) or real_exact(*a))
    rnd = random.Random(seed)
    nl, nr = rnd.randint(1, 60), rnd.randint(1, 60)
    l1 = [rnd.choice(["a", "b", None, "c"]) for _ in range(nl)]
    r1 = [rnd.choice(["a", "b", None, "c"]) for _ in range(nr)]
    l2 = [rnd.choice([1, 2, 3, None]) for _ in range(nl)]
    r2 = [rnd.choice([1, 2, 3, None]) for _ in range(nr)]
    lk, rk = list(zip(l1, l2)), list(zip(r1, r2))
    for kind in ("innerunique", "inner", "leftouter", "rightouter", "fullouter", "leftsemi",
                 "leftanti", "rightsemi", "rightanti"):
        li, ri = JK.match([pa.array(l1), pa.array(l2, pa.int64())],
                          [pc.dictionary_encode(pa.array(r1)), pa.array(r2, pa.int64())],
                          nl, nr, kind)
        got = (li.to_pylist() if li is not None else None, ri.to_pylist() if ri is not None else None)
        assert got == _reference(lk, rk, kind), kind
    if collide:
        assert exact


# ---------------------------------------------------------------- the process entry point
def test_one_shot_queries_leave_without_teardown_others_do_not():
    from edrql.fastexit import one_shot
    assert one_shot(["CASE", "-c", "events | count"]) and one_shot(["CASE", "-f", "q.kql"])
    assert not one_shot(["CASE"])                                   # the REPL
    assert not one_shot(["ingest", "x.csv", "--case", "CASE", "-f"])
    assert not one_shot(["check", "CASE"]) and not one_shot([])


def test_a_one_shot_query_writes_its_output_and_exit_code(example_case, tmp_path):
    import subprocess
    import sys
    run = lambda *a: subprocess.run([sys.executable, "-m", "edrql", example_case.root, *a],  # noqa: E731
                                    capture_output=True, text=True, timeout=60)
    r = run("-c", "DeviceProcessEvents | count", "--format", "csv")
    want = execute_text(make_context(example_case), "DeviceProcessEvents | count")[-1].table
    assert r.returncode == 0 and r.stdout.split() == ['"count"', str(want["count"][0].as_py())]
    out = tmp_path / "n.csv"
    r = run("-c", "DeviceNetworkEvents | project RemoteIP | take 3", "-o", str(out))
    assert r.returncode == 0 and len(out.read_text().splitlines()) == 4    # written and closed
    r = run("-c", "DeviceProcessEvents | wher x")
    assert r.returncode == 1 and "line 1, column" in r.stderr


# ---------------------------------------------------------------- where's row selection
def test_select_rows_equals_arrow_filter():
    from edrql.execute import select_rows
    rnd = np.random.default_rng(3)
    n = 120_000
    chunks = [0, 1000, 50_000, 50_001, n]
    split = lambda a: pa.chunked_array([a[i:j] for i, j in zip(chunks, chunks[1:])])  # noqa: E731
    ints = pa.array(rnd.integers(0, 9, n), mask=rnd.random(n) < 0.1)
    text = pa.array(rnd.choice(["a", "bb", None, "ccc"], n))
    t = pa.table({
        "i": split(ints), "ts": split(ints.cast(pa.int64()).cast(pa.timestamp("ns", tz="UTC"))),
        "s": split(text), "d": pc.dictionary_encode(text), "b": split(pc.equal(ints, 3)),
        "f": ints.cast(pa.float64()), "l": split(pa.array([[1, 2]] * n))})
    mask = pa.array(rnd.random(n) < 0.3, mask=rnd.random(n) < 0.05)
    for m in (mask, split(mask), pa.array(np.zeros(n, bool))):
        got = select_rows(t, m)
        assert got.schema == t.schema and got.equals(t.filter(m))
    small = t.slice(0, 10)
    assert select_rows(small, mask.slice(0, 10)).equals(small.filter(mask.slice(0, 10)))


def test_select_rows_over_many_chunks_equals_arrow_filter():
    """A case of hundreds of small sources: the table has hundreds of chunks; select_rows
    filters only the record batches that keep a row, and must give Arrow's answer."""
    from edrql.execute import select_rows
    from edrql.segcodec import plain_table
    rnd = np.random.default_rng(5)
    lens = rnd.integers(0, 400, 120)
    n = int(lens.sum())
    bounds = np.concatenate([[0], np.cumsum(lens)])
    split = lambda a: pa.chunked_array([a[int(i):int(j)] for i, j in zip(bounds, bounds[1:])],  # noqa: E731
                                       type=a.type)
    text = pa.array(rnd.choice(["a", "bb", None, "ccc"], n))
    t = pa.table({"i": split(pa.array(rnd.integers(0, 9, n))), "s": split(text),
                  "d": split(pc.dictionary_encode(text))})
    assert t.column(0).num_chunks > 32
    sparse = np.zeros(n, bool)
    sparse[rnd.choice(n, 7, replace=False)] = True
    for m in (pa.array(sparse), pa.array(rnd.random(n) < 0.5, mask=rnd.random(n) < 0.1),
              pa.array(np.ones(n, bool)), pa.array(np.zeros(n, bool))):
        got = select_rows(t, m)
        assert got.schema == t.schema and got.equals(t.filter(m))
        assert plain_table(got).equals(plain_table(t.filter(m)))
    assert plain_table(t).column("d").type == pa.string()


_CODED_QUERIES = [
    "DeviceProcessEvents | where FileName has 'powershell' | project FileName, DeviceId",
    "DeviceProcessEvents | extend x = strcat(FileName, '!'), n = strlen(DeviceName) "
    "| project x, n, FolderPath | sort by x asc",
    "DeviceProcessEvents | summarize c = count(), s = make_set(FileName), d = dcount(DeviceId) "
    "by InitiatingProcessFileName | sort by InitiatingProcessFileName asc",
    "DeviceNetworkEvents | distinct RemoteIP, DeviceName | sort by RemoteIP asc",
    "DeviceNetworkEvents | top 2 by RemoteIP asc | project RemoteIP, RemotePort",
    "DeviceProcessEvents | project-rename Name = FileName | project Name, ProcessId "
    "| sort by Name desc",
    "DeviceProcessEvents | where FileName in~ ('WHOAMI.EXE', 'cmd.exe') or isempty(SHA1) "
    "| project FileName, SHA1",
    "DeviceProcessEvents | where FileName !contains 'shell' | project FileName, ActionType",
    "union DeviceProcessEvents, DeviceNetworkEvents | summarize count() by ActionType "
    "| sort by ActionType asc",
    "DeviceProcessEvents | lookup (DeviceNetworkEvents | project DeviceName, RemoteIP) on "
    "DeviceName | project FileName, RemoteIP | sort by FileName asc, RemoteIP asc",
    "DeviceProcessEvents | join kind=leftouter (datatable(FileName:string, tag:string)"
    "['whoami.exe', 'recon']) on FileName | project FileName, tag | sort by FileName asc",
    "DeviceNetworkEvents | summarize arg_max(Timestamp, *) by DeviceName | project DeviceName, "
    "RemoteIP",
    "DeviceProcessEvents | extend t = tostring(FileName), u = toupper(FileName) "
    "| summarize make_list(u) by t | sort by t asc",
]


@pytest.mark.parametrize("q", _CODED_QUERIES)
def test_queries_over_coded_device_tables_equal_plain(many, q):
    """Coded text (the large-case path) gives the same rows as plain text in every stage."""
    for name in ("mixed", "defender", "sysmon"):
        case = many[name]
        want = execute_text(make_context(case), q)[-1].table
        ctx = make_context(case)
        ctx.encoding = _encoder(case)
        got = execute_text(ctx, q)[-1].table
        assert got.schema == want.schema and got.to_pylist() == want.to_pylist(), (name, q)
