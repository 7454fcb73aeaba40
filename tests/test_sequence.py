"""The sequence operator (edrql/sequence.py engine, edrql/sequenceops.py stage).

The engine is checked against EQL's own Python engine (the ``eql`` package) on
randomised small inputs; the stage on the bundled example case."""
from __future__ import annotations

import random

import numpy as np
import pyarrow.compute as pc
import pytest

from edrql.sequence import match

eql = pytest.importorskip("eql")


# ---------------------------------------------------------------- the engine vs EQL's
def _eql_sequences(events, n_steps, keyed, until, maxspan):
    from eql.engine import PythonEngine
    from eql.events import Event
    by = (lambda j: f" by k{j}") if keyed == "step" else (lambda j: "")
    head = "sequence by k0" if keyed == "seq" else "sequence"
    span = f" with maxspan={maxspan}s" if maxspan is not None else ""
    steps = "".join(f" [any where s{j} == 1]{by(j)}" for j in range(n_steps))
    tail = f" until [any where u == 1]{by('u')}" if until else ""
    with eql.parser.ignore_missing_functions:
        query = eql.parse_query(head + span + steps + tail)
    eng = PythonEngine({"time_unit": 1})        # maxspan=Ns is N time units
    out = []
    eng.add_output_hook(lambda r: out.append([e.data["i"] for e in r.events]))
    eng.add_query(query)
    eng.stream_events([Event("x", e["t"], e) for e in events])
    return out


def _ours(events, n_steps, keyed, until, maxspan):
    t = np.array([e["t"] for e in events], np.int64)
    def key(j):
        col = "k0" if keyed == "seq" else f"k{j}"
        return np.array([e[col] if keyed else 0 for e in events], np.int64)
    steps = []
    for j in range(n_steps):
        m = np.array([e[f"s{j}"] == 1 for e in events])
        p = np.flatnonzero(m)
        steps.append((p, key(j)[p], t[p]))
    u = None
    if until:
        m = np.array([e["u"] == 1 for e in events])
        p = np.flatnonzero(m)
        u = (p, key("u")[p])
    return match(steps, u, maxspan).tolist()


def _random_events(rng, n, n_steps, n_keys, types=("x",)):
    t, out = 0, []
    for i in range(n):
        t += rng.choice([0, 0, 1, 1, 2, 3])           # ties in time are common
        e = {"i": i, "t": t, "u": int(rng.random() < 0.08), "type": rng.choice(types)}
        for j in range(n_steps):
            e[f"s{j}"] = int(rng.random() < 0.35)     # one event may match several steps
        for j in list(range(n_steps)) + ["u"]:
            e[f"k{j}"] = rng.randrange(n_keys)
        out.append(e)
    return out


def _random_case(seed: int) -> tuple:
    """(events, n_steps, keyed, until, maxspan) of the property test's input ``seed``."""
    rng = random.Random(seed)
    n_steps = rng.choice([2, 2, 3, 4])
    keyed = rng.choice([None, "seq", "step"])
    until = rng.random() < 0.5
    maxspan = rng.choice([None, 0, 2, 5])
    events = _random_events(rng, rng.randrange(5, 60), n_steps, rng.choice([1, 2, 3]))
    return events, n_steps, keyed, until, maxspan


@pytest.mark.parametrize("seed", range(200))
def test_engine_matches_eql_on_random_inputs(seed):
    case = _random_case(seed)
    assert _ours(*case) == _eql_sequences(*case)


def test_engine_random_inputs_find_sequences():
    """The property test is not vacuous: most of its inputs have sequences."""
    assert sum(bool(_ours(*_random_case(seed))) for seed in range(200)) >= 100


def _steps(*rows):
    """Steps as (pos, key, ts) from lists of (pos, key, ts) tuples."""
    return [tuple(np.array(c, np.int64) for c in zip(*r)) if r else
            (np.zeros(0, np.int64),) * 3 for r in rows]


def test_latest_start_wins():
    # two starts for key 1 before one second step: the later start is kept
    got = match(_steps([(0, 1, 0), (1, 1, 1)], [(2, 1, 2)]))
    assert got.tolist() == [[1, 2]]


def test_one_event_never_advances_two_steps():
    # event 1 matches both steps: it finishes 0's sequence and starts its own
    got = match(_steps([(0, 1, 0), (1, 1, 1)], [(1, 1, 1), (2, 1, 2)]))
    assert got.tolist() == [[0, 1], [1, 2]]


def test_until_clears_before_steps_of_the_same_event():
    got = match(_steps([(0, 1, 0)], [(1, 1, 1)]), until=(np.array([1]), np.array([1])))
    assert got.tolist() == []
    got = match(_steps([(0, 1, 0)], [(1, 1, 1)]), until=(np.array([1]), np.array([2])))
    assert got.tolist() == [[0, 1]]


def test_maxspan_is_inclusive():
    assert match(_steps([(0, 1, 0)], [(1, 1, 5)]), maxspan=5).tolist() == [[0, 1]]
    assert match(_steps([(0, 1, 0)], [(1, 1, 6)]), maxspan=5).tolist() == []


def test_keys_must_agree():
    assert match(_steps([(0, 1, 0), (1, 2, 0)], [(2, 2, 1)])).tolist() == [[1, 2]]


# ---------------------------------------------------------------- the stage, on the example case
def _run(case, q):
    from edrql.query import execute_text, make_context
    return execute_text(make_context(case), q)[-1].table


def _error(case, q):
    from edrql.query import error_text, execute_text, make_context
    with pytest.raises(Exception) as e:
        execute_text(make_context(case), q)
    return error_text(e.value, q)


REUSE = '[process where name == "msedge.exe"] [any where name == "powershell.exe"]'


def test_by_host_pid_joins_the_two_lives_of_a_reused_pid(example_case):
    t = _run(example_case, f"sequence by host, pid {REUSE}")
    assert t.column("pid").to_pylist() == [6640, 6640]
    assert t.column("name").to_pylist() == ["msedge.exe", "powershell.exe"]
    procs = t.column("proc").to_pylist()
    assert procs[0] != procs[1]                 # two process instances behind one pid


def test_by_proc_does_not(example_case):
    assert _run(example_case, f"sequence by proc {REUSE}").num_rows == 0
    # while each life on its own makes a sequence by proc
    t = _run(example_case, "events | where pid == 6640 | sequence by proc "
                           "[process where true] [network where true]")
    assert t.column("sequence").to_pylist() == [1, 1, 2, 2]
    assert t.column("name").to_pylist() == ["msedge.exe"] * 2 + ["powershell.exe"] * 2
    p = t.column("proc").to_pylist()
    assert p[0] == p[1] and p[2] == p[3] and p[0] != p[2]


def test_proc_of_a_filtered_input_is_the_lineage_one(example_case):
    """A let (a filtered copy) finds its rows' processes by (source, record)."""
    whole = _run(example_case, "sequence by proc [process where true] [file where true] "
                               "| project sequence, step, source, record, proc")
    part = _run(example_case, 'let x = events | where event startswith "process" or event '
                              'startswith "file"; x | sequence by proc [process where true] '
                              '[file where true] | project sequence, step, source, record, proc')
    assert whole.num_rows > 10
    assert part.to_pylist() == whole.to_pylist()
    lin = example_case.lineage
    ev = example_case.events
    rows = {(s, r): i for i, (s, r) in enumerate(zip(ev.column("source").to_pylist(),
                                                     ev.column("record").to_pylist()))}
    keys = lin.procs.column("proc").to_pylist()
    for s, r, p in zip(part.column("source").to_pylist(), part.column("record").to_pylist(),
                       part.column("proc").to_pylist()):
        assert p == keys[lin.event_proc[rows[(s, r)]]]


def test_tree_and_events_take_the_sequences_processes(example_case):
    q = 'sequence by proc [process where name == "powershell.exe"] [network where true]'
    seq = _run(example_case, q)
    procs = set(seq.column("proc").to_pylist())
    assert procs
    tree = _run(example_case, q + " | tree()")
    focus = {p for p, f in zip(tree.column("proc").to_pylist(), tree.column("focus").to_pylist())
             if f}
    assert focus == procs
    evs = _run(example_case, q + " | events()")
    assert set(evs.column("proc").to_pylist()) == procs
    assert evs.num_rows > seq.num_rows


def test_source_and_stage_forms_agree(example_case):
    q = 'sequence by host with maxspan=30s [process where true] [network where rport == 443]'
    a, b = _run(example_case, q), _run(example_case, "events | " + q)
    assert a.num_rows > 0 and a.equals(b)
    assert a.column_names[:2] == ["sequence", "step"] and a.column_names[-1] == "proc"


def test_maxspan_bounds_first_to_last(example_case):
    q = 'sequence by host with maxspan={} [process where true] [network where true] ' \
        '| where step == 2'
    spans = []
    for m in ("1s", "10s", "1h"):
        t = _run(example_case, q.format(m) + " | count")
        spans.append(t.column("count")[0].as_py())
    assert spans[0] < spans[1] <= spans[2]
    s = _run(example_case, "sequence by host with maxspan=10s, output=sequences "
                           "[process where true] [network where true]")
    assert s.num_rows == spans[1]
    assert max(v.value for v in s.column("span")) <= 10 * 10**9


def test_output_sequences_shape(example_case):
    q = "[process where true] by host [file where true] by host"
    ev = _run(example_case, f"sequence by user {q}")
    sq = _run(example_case, f"sequence by user with output=sequences {q}")
    assert sq.column_names[:6] == ["sequence", "user", "host", "start", "end", "span"]
    assert {"step1.ts", "step1.event", "step1.name", "step1.pid", "step1.proc", "step1.cmdline",
            "step1.path", "step2.ts", "step2.path"} <= set(sq.column_names)
    assert sq.num_rows * 2 == ev.num_rows
    assert sq.column("step2.ts").equals(ev.filter(pc.equal(ev.column("step"), 2)).column("ts"))
    assert all(e.startswith("file_") for e in sq.column("step2.event").to_pylist())
    starts = [v.value for v in sq.column("start")]
    ends = [v.value for v in sq.column("end")]
    assert [b - a for a, b in zip(starts, ends)] == [v.value for v in sq.column("span")]
    assert ends == sorted(ends)                # numbered by their last event's time


def test_categories_map_onto_event(example_case):
    for cat, test in (("process", lambda e: e.startswith("process_")),
                      ("file", lambda e: e.startswith("file_")),
                      ("registry", lambda e: e.startswith("registry_")),
                      ("network", lambda e: e.startswith("network_")),
                      ("image_load", lambda e: e == "image_load"),
                      ("http", lambda e: e == "http")):
        t = _run(example_case, f"sequence [any where true] [{cat} where true] | where step == 2")
        assert t.num_rows > 0 and all(test(e) for e in t.column("event").to_pylist()), cat
    lib = _run(example_case, "sequence by host [process where true] [library where true]")
    img = _run(example_case, "sequence by host [process where true] [image_load where true]")
    assert lib.num_rows > 0 and lib.equals(img)
    assert _run(example_case, "sequence [any where true] [dns where true]").num_rows == 0


def test_sequence_step_until_maxspan_stay_column_names(example_case):
    t = _run(example_case, "sequence by host [process where true] [network where true] "
                           "| where sequence == 2 | project step, sequence")
    assert t.to_pylist() == [{"step": 1, "sequence": 2}, {"step": 2, "sequence": 2}]
    t = _run(example_case, "events | take 1 | extend until = 1, maxspan = 2, step = 3 "
                           "| project until, maxspan, step")
    assert t.to_pylist() == [{"until": 1, "maxspan": 2, "step": 3}]


@pytest.mark.parametrize("q,want", [
    ("sequence by host [proces where true] [network where true]",
     ["unknown event category 'proces'", "did you mean process", "^^^^^^"]),
    ("sequence by host [process where true] by pid [network where true]",
     ["step 2 has 1 join key(s), step 1 has 2"]),
    ("sequence by host [process where true] [network where true] until [any where true] by pid",
     ["until has 2 join key(s), step 1 has 1"]),
    ("sequence by hots [process where true] [network where true]",
     ["unknown field 'hots'", "did you mean host"]),
    ("sequence with maxspan=5 [process where true] [network where true]",
     ["maxspan= takes a duration"]),
    ("sequence with output=rows [process where true] [network where true]",
     ["output=rows is not known"]),
    ("sequence with maxspam=5m [process where true] [network where true]",
     ["no option maxspam=", "did you mean maxspan"]),
    ("sequence with maxspan=5m, maxspan=1m [process where true] [network where true]",
     ["given twice"]),
    ("sequence [process where name] [network where true]", ["needs a condition"]),
    ("sequence [process where nmae == 1] [network where true]", ["unknown field 'nmae'"]),
    ("sequence by host [process where true]", ["at least two steps"]),
    ("sequence [process where true] by name [network where true] by rport",
     ["join key 1 is a number here but text in an earlier step"]),
    ("procs | sequence [process where true] [any where true]",
     ["needs an event column"]),
])
def test_mistakes_are_positioned_errors(example_case, q, want):
    text = _error(example_case, q)
    assert text.startswith("line 1, column ")
    for w in want:
        assert w in text, text


# ---------------------------------------------------------------- rules, on small written tables
def _dt(rows: str, q: str, case):
    src = f"datatable(ts:datetime, k:string, a:string)[{rows}] | {q} | project sequence, step, k, a"
    return [(r["sequence"], r["step"], r["k"], r["a"]) for r in _run(case, src).to_pylist()]


def _t(s):
    return f"datetime(2023-01-01 00:00:{s:02d})"


def test_text_keys_join_ignoring_case(example_case):
    rows = f'{_t(1)}, "PC-01", "x", {_t(2)}, "pc-01", "y"'
    assert _dt(rows, 'sequence by k [a == "x"] [a == "y"]', example_case) == \
        [(1, 1, "PC-01", "x"), (1, 2, "pc-01", "y")]


def test_null_key_never_joins_unlike_eql(example_case):
    rows = f'{_t(1)}, null, "x", {_t(2)}, null, "y"'
    assert _dt(rows, 'sequence by k [a == "x"] [a == "y"]', example_case) == []
    # EQL itself joins null to null
    got = _eql_sequences([{"i": 0, "t": 1, "k0": None, "s0": 1, "s1": 0, "u": 0},
                          {"i": 1, "t": 2, "k0": None, "s0": 0, "s1": 1, "u": 0}],
                         2, "seq", False, None)
    assert got == [[0, 1]]


def test_ties_in_time_keep_input_order(example_case):
    rows = f'{_t(1)}, "h", "y", {_t(1)}, "h", "x", {_t(1)}, "h", "y"'
    assert _dt(rows, 'sequence by k [a == "x"] [a == "y"]', example_case) == \
        [(1, 1, "h", "x"), (1, 2, "h", "y")]


def test_until_and_numbering_by_last_event(example_case):
    rows = ", ".join([f'{_t(1)}, "a", "x"', f'{_t(2)}, "b", "x"', f'{_t(3)}, "b", "y"',
                      f'{_t(4)}, "a", "y"', f'{_t(5)}, "c", "x"', f'{_t(6)}, "c", "stop"',
                      f'{_t(7)}, "c", "y"'])
    got = _dt(rows, 'sequence by k [a == "x"] [a == "y"] until [a == "stop"]', example_case)
    # b ends first (3s), so it is sequence 1 though a started first; c is stopped
    assert got == [(1, 1, "b", "x"), (1, 2, "b", "y"), (2, 1, "a", "x"), (2, 2, "a", "y")]


def test_maxspan_inclusive_and_latest_start(example_case):
    rows = ", ".join([f'{_t(0)}, "h", "x"', f'{_t(3)}, "h", "x"', f'{_t(8)}, "h", "y"'])
    q = 'sequence by k with maxspan={} [a == "x"] [a == "y"]'
    assert _dt(rows, q.format("5s"), example_case) == [(1, 1, "h", "x"), (1, 2, "h", "y")]
    assert _dt(rows, q.format("4s"), example_case) == []


def test_rows_without_time_are_left_out(example_case):
    rows = f'{_t(1)}, "h", "x", datetime(null), "h", "y", {_t(3)}, "h", "y"'
    got = _run(example_case, f"datatable(ts:datetime, k:string, a:string)[{rows}] | "
                             'sequence by k [a == "x"] [a == "y"] | project step, ts')
    assert got.num_rows == 2 and got.column("ts").null_count == 0


def test_per_step_keys_join_by_place(example_case):
    src = ('datatable(ts:datetime, h:string, p:string, q:string, a:string)['
           f'{_t(1)}, "h1", "f.exe", "", "x", {_t(2)}, "h1", "", "g.exe", "y", '
           f'{_t(3)}, "h1", "", "F.EXE", "y", {_t(4)}, "h2", "", "f.exe", "y"]')
    t = _run(example_case, f'{src} | sequence by h [a == "x"] by p [a == "y"] by q '
                           '| project sequence, step, h, q')
    assert t.to_pylist() == [{"sequence": 1, "step": 1, "h": "h1", "q": ""},
                             {"sequence": 1, "step": 2, "h": "h1", "q": "F.EXE"}]


# ---------------------------------------------------------------- the stage vs EQL, on the example case
_EQL_TYPES = (("process_", "process"), ("file_", "file"), ("registry_", "registry"),
              ("network_", "network"), ("image_load", "image_load"), ("http", "http"))


def _eql_on_case(case, query, only_procs=False):
    """EQL's engine over the example case's events (in time order): each sequence as its
    events' row numbers."""
    from eql.engine import PythonEngine
    from eql.events import Event
    ev = case.events
    lin = case.lineage
    keys = lin.procs.column("proc").to_pylist()
    cols = {c: ev.column(c).to_pylist() for c in ("host", "pid", "name", "event", "path",
                                                   "rport")}
    ts = [v.value for v in ev.column("ts")]
    events = []
    for i in sorted(range(ev.num_rows), key=lambda i: ts[i]):
        e = cols["event"][i]
        typ = next((t for p, t in _EQL_TYPES if e.startswith(p)), "other")
        p = int(lin.event_proc[i])
        d = {c: cols[c][i] for c in cols}
        d.update(i=i, proc=keys[p] if p >= 0 else None)
        if only_procs and p < 0:
            continue
        events.append(Event(typ, ts[i], d))
    with eql.parser.ignore_missing_functions:
        q = eql.parse_query(query)
    eng = PythonEngine({"time_unit": 10**9})       # maxspan=Ns: N * 1e9 ns
    out = []
    eng.add_output_hook(lambda r: out.append([e.data["i"] for e in r.events]))
    eng.add_query(q)
    eng.stream_events(events)
    return out


def _ours_on_case(case, query):
    t = _run(case, query + " | project sequence, step, source, record")
    ev = case.events
    at = {(s, r): i for i, (s, r) in enumerate(zip(ev.column("source").to_pylist(),
                                                   ev.column("record").to_pylist()))}
    out = {}
    for s, st, src, rec in zip(*(t.column(c).to_pylist() for c in t.column_names)):
        out.setdefault(s, []).append(at[(src, rec)])
    return [out[k] for k in sorted(out)]


@pytest.mark.parametrize("query", [
    'sequence by host with maxspan=30s [process where true] [network where rport == 443]',
    'sequence by host, pid [process where event == "process_start"] [file where true] '
    '[network where true] until [process where event == "process_end"]',
    'sequence by host [process where true] by name [file where true] by name',
    'sequence with maxspan=1m [process where true] [image_load where true] [network where true]',
    'sequence by host with maxspan=5m [any where event == "process_start"] [any where true] '
    '[any where true]',
])
def test_stage_matches_eql_on_the_example_case(example_case, query):
    want = _eql_on_case(example_case, query)
    assert want, "the query finds sequences"
    assert _ours_on_case(example_case, query) == want


def test_by_proc_matches_eql_on_attributed_events(example_case):
    q = 'sequence by proc with maxspan=2m [process where true] [file where true] [network where true]'
    want = _eql_on_case(example_case, q, only_procs=True)
    assert want
    assert _ours_on_case(example_case, q) == want


def test_engine_takes_any_int_keys():
    """Key ids near the int64 range or negative are renumbered, not overflowed."""
    big = 2**62 + 5
    got = match(_steps([(0, big, 0), (1, -3, 0)], [(2, big, 1), (3, -3, 1)]))
    assert got.tolist() == [[0, 2], [1, 3]]


@pytest.mark.parametrize("shuffle", [False, True])
def test_rows_in_events_by_source_and_record(shuffle):
    import pyarrow as pa
    from edrql.eventrows import rows_in_events as _rows_in_events
    src = pa.array(["b.csv", "a.csv", "a.csv", "b.csv", "c.csv"]).dictionary_encode()
    events = pa.table({"source": src, "record": pa.array([1, 1, 2, 2, 1])})
    if shuffle:
        events = events.take(pa.array([4, 2, 0, 3, 1]))
    t = pa.table({"source": pa.array(["a.csv", "c.csv", "z.csv", "b.csv", None]),
                  "record": pa.array([2, 1, 1, 2, 1])})
    case = type("Case", (), {"events": events})()         # catalog.events_of: no events_of
    ctx = type("C", (), {"memo": {}, "case": case})()
    got = _rows_in_events(ctx, t, np.arange(t.num_rows))
    assert _rows_in_events(ctx, t, np.array([3, 0])).tolist() == [got[3], got[0]]
    ev = list(zip(events.column("source").to_pylist(), events.column("record").to_pylist()))
    want = [ev.index(k) if k in ev else -1 for k in zip(t.column("source").to_pylist(),
                                                        t.column("record").to_pylist())]
    assert got.tolist() == want and want.count(-1) == 2


# ---------------------------------------------------------------- ![STEP]: must not occur
def test_occurs_between():
    from edrql.sequence import occurs_between
    got = occurs_between([1, 1, 2, 3], [0, 5, 0, 0], [4, 9, 9, 3], [3, 7, 8, 3], [1, 2, 1, 3])
    assert got.tolist() == [True, True, True, False]     # strictly between: 3 is not in (0, 3)


_TYPES = {"process": "process_start", "file": "file_create", "network": "network_connect"}


def _negation_case(seed):
    rng = random.Random(1000 + seed)
    n_steps = rng.choice([3, 3, 4])
    cats = [rng.choice(["any", "process", "file", "network"]) for _ in range(n_steps)]
    negs = [False] + [rng.random() < 0.5 for _ in range(n_steps - 2)] + [False]
    if not any(negs):
        negs[1] = True
    keyed = rng.random() < 0.7
    maxspan = rng.choice([None, 3])
    events = _random_events(rng, rng.randrange(10, 50), n_steps, 2, tuple(_TYPES))
    return events, n_steps, cats, negs, keyed, maxspan


def _negation_oracle(events, n_steps, cats, negs, keyed, maxspan, drop=True):
    """EQL on the query without its ![…] steps, then a sequence is dropped when an event of
    its key matching a ![…] step lies between the events of that step's neighbours."""
    pos_steps = [j for j in range(n_steps) if not negs[j]]
    from eql.engine import PythonEngine
    from eql.events import Event
    head = "sequence by k0" if keyed else "sequence"
    span = f" with maxspan={maxspan}s" if maxspan is not None else ""
    q = head + span + "".join(f" [{cats[j]} where s{j} == 1]" for j in pos_steps)
    with eql.parser.ignore_missing_functions:
        query = eql.parse_query(q)
    eng = PythonEngine({"time_unit": 1})
    out = []
    eng.add_output_hook(lambda r: out.append([e.data["i"] for e in r.events]))
    eng.add_query(query)
    eng.stream_events([Event(e["type"], e["t"], e) for e in events])
    kept = []
    for seq in out:
        ok = True
        for j in range(n_steps):
            if not negs[j]:
                continue
            i = sum(1 for p in pos_steps if p < j)
            lo, hi = seq[i - 1], seq[i]
            key = events[seq[0]]["k0"]
            if any(lo < e["i"] < hi and e[f"s{j}"] == 1 and (not keyed or e["k0"] == key)
                   and (cats[j] == "any" or e["type"] == cats[j]) for e in events):
                ok = False
        if ok or not drop:
            kept.append(seq)
    return kept


@pytest.mark.parametrize("seed", range(40))
def test_negated_steps_against_eql_and_a_filter(example_case, seed):
    events, n_steps, cats, negs, keyed, maxspan = _negation_case(seed)
    rows = ", ".join(f'datetime(2023-01-01) + {e["t"]}s, "{_TYPES[e["type"]]}", {e["i"]}, '
                     f'{e["k0"]}, ' + ", ".join(str(e[f"s{j}"]) for j in range(n_steps))
                     for e in events)
    cols = "ts:datetime, event:string, i:long, k0:long, " + \
        ", ".join(f"s{j}:long" for j in range(n_steps))
    steps = " ".join(f"{'![' if negs[j] else '['}{cats[j]} where s{j} == 1]"
                     for j in range(n_steps))
    span = f" with maxspan={maxspan}s" if maxspan is not None else ""
    q = f"datatable({cols})[{rows}] | sequence{' by k0' if keyed else ''}{span} {steps}"
    t = _run(example_case, q + " | project sequence, step, i")
    got = {}
    for s, i in zip(t.column("sequence").to_pylist(), t.column("i").to_pylist()):
        got.setdefault(s, []).append(i)
    want = _negation_oracle(events, n_steps, cats, negs, keyed, maxspan)
    assert [got[k] for k in sorted(got)] == want
    written = sorted({st for st in t.column("step").to_pylist()})
    assert all(not negs[s - 1] for s in written)


def test_negated_steps_find_and_drop_sequences(example_case):
    """The negation test is not vacuous: sequences are found, and some dropped."""
    found = dropped = 0
    for seed in range(40):
        events, n_steps, cats, negs, keyed, maxspan = _negation_case(seed)
        kept = _negation_oracle(events, n_steps, cats, negs, keyed, maxspan)
        alln = _negation_oracle(events, n_steps, cats, negs, keyed, maxspan, drop=False)
        found += bool(kept)
        dropped += len(kept) < len([s for s in alln])
    assert found >= 10 and dropped >= 5


def test_negated_step_on_the_example_case(example_case):
    # msedge.exe's start, then a network connection with no file event of its own in between
    q = ('events | where pid == 6640 | sequence by proc [process where true] {} '
         '[network where true] | project sequence, step, ts, name')
    plain = _run(example_case, q.format(""))
    neg = _run(example_case, q.format("![file where true]"))
    assert plain.column("step").to_pylist() == [1, 2, 1, 2]
    # powershell writes a file (07.99) before it connects (08.15): that sequence goes
    assert neg.column("name").to_pylist() == ["msedge.exe", "msedge.exe"]
    assert neg.column("step").to_pylist() == [1, 3]


@pytest.mark.parametrize("q,want", [
    ("sequence ![process where true] [network where true] [file where true]",
     "![…] (must not occur) stands between two steps"),
    ("sequence [process where true] [network where true] ![file where true]",
     "![…] (must not occur) stands between two steps"),
    ("sequence [process where true] [network where true] until ![file where true]",
     "until takes a step, not ![…]"),
])
def test_negated_step_mistakes(example_case, q, want):
    assert want in _error(example_case, q)


def test_by_proc_needs_rows_of_the_events(example_case):
    text = _error(example_case, "events | project ts, host, event, name | sequence by proc "
                                "[process where true] [network where true]")
    assert "by proc needs rows of the events" in text and text.startswith("line 1, column 54")


def test_raw_and_quoted_keys(example_case):
    a = _run(example_case, "sequence by raw.DeviceName [process where true] [network where true]")
    b = _run(example_case, "sequence by `raw.DeviceName` [process where true] "
                           "[network where true]")
    c = _run(example_case, "sequence by host [process where true] [network where true]")
    assert a.num_rows > 0 and a.equals(b)
    # the example case's raw.DeviceName is its host: the same sequences
    assert a.column("record").equals(c.column("record"))


def test_empty_input(example_case):
    t = _run(example_case, "events | where false | sequence by proc [process where true] "
                           "[network where true]")
    assert t.num_rows == 0 and t.column_names[:2] == ["sequence", "step"]
    t = _run(example_case, "events | where false | sequence with output=sequences "
                           "[process where true] [network where true]")
    assert t.num_rows == 0 and "step2.ts" in t.column_names


def test_ts_must_be_a_time(example_case):
    text = _error(example_case, 'datatable(ts:string, a:string)["x", "y"] | sequence [a == "x"] '
                                '[a == "y"]')
    assert "sequence orders by ts, which is text here" in text
    text = _error(example_case, 'datatable(t:datetime, a:string)[datetime(2023-01-01), "y"] | '
                                'sequence [a == "x"] [a == "y"]')
    assert "sequence needs a ts column" in text


@pytest.mark.parametrize("q", [
    'sequence by proc [process where true] [network where true] | count',
    'sequence by host with output=sequences [process where true] [network where true] '
    '| project sequence, host | count'])
def test_a_pruned_sequence_decodes_no_whole_events(example_case, q):
    """by proc and output=sequences read the rows' processes from source and record: the
    case's events are not decoded whole (Case.events), only the columns the query reads."""
    from edrql.query import execute_text, make_context
    from edrql.store import Case
    case = Case.open(example_case.root)
    got = execute_text(make_context(case), q)[-1].table.column(0).to_pylist()
    assert got[0] > 0
    assert case._events is None
