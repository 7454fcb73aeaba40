"""`sequence` against the EQL project's own engine (PyPI ``eql``, test-only) as the oracle.

Each question is written once (seqoracle.Spec) and run by edrql and by ``eql.PythonEngine`` over
the same rows (edrql's own events table converted to EQL events); the sequences must be the same
event identities (source, record), step by step, in the same order (EQL emits a sequence when its
last event arrives; edrql numbers sequences by their last event). Small hand-made fixtures cover
each rule; real shared data (OTRF Sysmon + Security 4688) and seeded random streams check the
rest. The one intended difference — edrql never joins a null key, EQL joins null to null — is
tested on its own.
"""
from __future__ import annotations

import random
from pathlib import Path

import pytest

eql = pytest.importorskip("eql")

from conftest import shared  # noqa: E402
from seqoracle import Spec, Step, compare, eql_sequences, edrql_sequences, make_ctx, to_eql_events  # noqa: E402

P = "process_start"
F = "file_create"
N = "network_connect"
R = "registry_set"


def ev(t, host, event, name="a.exe", pid=100, path=None, rport=None):
    return {"t": t, "host": host, "event": event, "name": name, "pid": pid, "path": path, "rport": rport}


def same(ctx, spec, source="events", expect=None):
    mine, theirs = compare(ctx, spec, source)
    assert mine == theirs, f"\nedrql: {mine}\neql:   {theirs}\nquery: {spec.edrql_text()}"
    if expect is not None:
        assert len(mine) == expect, mine
    return mine


def recs(seqs):
    """Sequences as record numbers only (one source per fixture)."""
    return [tuple(r for _, r in s) for s in seqs]


# ------------------------------------------------------------------ (a) synthetic fixtures

S_PROC_A = Step("process", 'name == "a.exe"', 'name == "a.exe"')
S_FILE = Step("file", "true", "true")
S_NET = Step("network", "rport == 443", "rport == 443")
S_NET_ANY = Step("network", "true", "true")


# Two hosts; host h1 has overlapping partial sequences, ties in time, a maxspan boundary.
BASIC = [
    ev(0, "h1", P, "a.exe", 100),                 # 1 start (replaced by 3)
    ev(1, "h2", P, "a.exe", 200),                 # 2 start on h2
    ev(2, "h1", P, "A.EXE", 101),                 # 3 replaces 1 (== folds case)
    ev(3, "h1", F, "a.exe", 101, r"C:\t\x.dll"),  # 4 advances 3
    ev(3, "h1", F, "a.exe", 101, r"C:\t\y.dll"),  # 5 tie: stage 1 is empty now, nothing
    ev(4, "h2", F, "b.exe", 200, r"C:\t\z.txt"),  # 6 advances 2
    ev(5, "h1", N, "a.exe", 101, rport=443),      # 7 completes 3-4-7
    ev(5, "h1", N, "a.exe", 101, rport=443),      # 8 tie: nothing pending
    ev(10, "h2", N, "b.exe", 200, rport=443),     # 9 completes 2-6-9 (span 9 s)
    ev(20, "h1", P, "a.exe", 102),                # 10
    ev(21, "h1", F, "a.exe", 102, r"C:\t\w.dll"), # 11
    ev(25, "h1", N, "a.exe", 102, rport=443),     # 12 span exactly 5 s
    ev(30, "h1", P, "a.exe", 103),                # 13
    ev(31, "h1", F, "a.exe", 103, r"C:\t\v.dll"), # 14
    ev(35.0000001, "h1", N, "a.exe", 103, rport=443),  # 15 span 5 s + 100 ns
    ev(40, "H1", P, "a.exe", 104),                # 16 host in capitals joins h1
    ev(41, "h1", F, "a.exe", 104, r"C:\t\u.dll"), # 17
    ev(42, "h1", N, "a.exe", 104, rport=80),      # 18 rport 80: not step 3
    ev(43, "h1", N, "a.exe", 104, rport=443),     # 19 completes 16-17-19
]


@pytest.fixture(scope="module")
def basic(tmp_path_factory):
    return make_ctx(tmp_path_factory.mktemp("basic"), BASIC)


def test_three_steps_by_host(basic):
    got = same(basic, Spec(["host"], [S_PROC_A, S_FILE, S_NET]), expect=5)
    assert recs(got) == [(3, 4, 7), (2, 6, 9), (10, 11, 12), (13, 14, 15), (16, 17, 19)]


def test_maxspan_boundary_is_inclusive(basic):
    got = recs(same(basic, Spec(["host"], [S_PROC_A, S_FILE, S_NET], maxspan="5s")))
    assert (10, 11, 12) in got            # span exactly 5 s
    assert (13, 14, 15) not in got        # 5 s + 100 ns
    assert (2, 6, 9) not in got           # 9 s
    assert got == [(3, 4, 7), (10, 11, 12), (16, 17, 19)]


def test_two_steps_by_host_pid(basic):
    got = recs(same(basic, Spec(["host", "pid"], [S_PROC_A, S_FILE])))
    assert got == [(3, 4), (2, 6), (10, 11), (13, 14), (16, 17)]


def test_four_steps_with_per_step_keys(basic):
    # step keys first, then the sequence's: (pid, host) on every step
    spec = Spec(["host"], [Step("process", "true", "true", ["pid"]), Step("file", "true", "true", ["pid"]),
                           Step("network", "true", "true", ["pid"]), Step("network", "rport == 443",
                                                                          "rport == 443", ["pid"])])
    got = recs(same(basic, spec))
    assert got == [(3, 4, 7, 8), (16, 17, 18, 19)]


def test_until_discards_pending(tmp_path):
    rows = [
    ev(0, "h1", P, "a.exe", 1),
    ev(1, "h1", F, "a.exe", 1, r"C:\x"),
    ev(2, "h1", R, "stop.exe", 1, r"HKLM\k"),     # until: discards 1-2 on h1
    ev(3, "h1", N, "a.exe", 1, rport=443),
    ev(4, "h2", P, "a.exe", 2),
    ev(5, "h2", F, "a.exe", 2, r"C:\y"),
    ev(6, "h1", R, "stop.exe", 1, r"HKLM\k"),     # h1's until does not touch h2
    ev(7, "h2", N, "a.exe", 2, rport=443),
    ev(8, "h1", P, "stop.exe", 3),                # both until and step 1: until first, then start
    ev(9, "h1", F, "a.exe", 3, r"C:\z"),
    ev(10, "h1", N, "a.exe", 3, rport=443),
    ]
    ctx = make_ctx(tmp_path, rows)
    until = Step("any", 'name == "stop.exe"', 'name == "stop.exe"')
    spec = Spec(["host"], [Step("process", "true", "true"), S_FILE, S_NET], until=until)
    assert recs(same(ctx, spec)) == [(5, 6, 8), (9, 10, 11)]
    # until by pid as well: the clear on pid 1 does not touch pid 3's sequence
    spec2 = Spec(["host", "pid"], [Step("process", "true", "true"), S_FILE, S_NET], until=until)
    assert recs(same(ctx, spec2)) == [(5, 6, 8), (9, 10, 11)]


def test_one_event_matching_two_steps(tmp_path):
    # every network event matches both steps; steps are tried last to first, so one event never
    # advances a sequence twice but finishes one sequence and starts the next
    rows = [ev(i, "h1", N, "a.exe", 1, rport=443) for i in range(5)] + [ev(2, "h2", N, "a.exe", 2, rport=443)]
    ctx = make_ctx(tmp_path, rows)
    got = recs(same(ctx, Spec(["host"], [S_NET_ANY, S_NET_ANY])))
    assert got == [(1, 2), (2, 3), (3, 4), (4, 5)]
    got3 = recs(same(ctx, Spec(["host"], [S_NET_ANY, S_NET_ANY, S_NET_ANY])))
    assert got3 == [(1, 2, 3), (2, 3, 4), (3, 4, 5)]


def test_ties_in_time_keep_input_order(tmp_path):
    rows = [ev(0, "h1", F, "a.exe", 1, r"C:\a"), ev(0, "h1", P, "a.exe", 1), ev(0, "h1", F, "a.exe", 1, r"C:\b"),
            ev(0, "h1", P, "a.exe", 1), ev(0, "h1", N, "a.exe", 1, rport=443), ev(0, "h1", F, "a.exe", 1, r"C:\c")]
    ctx = make_ctx(tmp_path, rows)
    got = recs(same(ctx, Spec(["host"], [Step("process", "true", "true"), S_FILE])))
    assert got == [(2, 3), (4, 6)]


def test_overlapping_partials_latest_start_wins(tmp_path):
    rows = [ev(0, "h1", P), ev(1, "h1", P), ev(2, "h1", F, path=r"C:\a"), ev(3, "h1", P),
            ev(4, "h1", F, path=r"C:\b"), ev(5, "h1", N, rport=443), ev(6, "h1", N, rport=443),
            ev(7, "h1", F, path=r"C:\c"), ev(8, "h1", N, rport=443)]
    ctx = make_ctx(tmp_path, rows)
    # 2 replaces 1; 3 advances 2; 4 starts again; 5 advances 4 (replacing 2-3 at stage 2); 6 completes
    # 4-5; 8 does not: 7 found stage 1 empty
    got = recs(same(ctx, Spec(["host"], [Step("process", "true", "true"), S_FILE, S_NET])))
    assert got == [(4, 5, 6)]


def test_stage_over_filtered_input(basic):
    same(basic, Spec(["host"], [S_PROC_A, S_FILE]), source='events | where host == "h1"')


def test_stage_over_a_let_name_and_the_source_form(basic):
    spec = Spec(["host"], [S_PROC_A, S_FILE, S_NET], maxspan="5s")
    same(basic, spec, source='let x = events | where event != "registry_set"; x')
    # the source form (`sequence …` alone) reads the events like `events | sequence …`
    assert edrql_sequences(basic, spec.edrql_text()) == edrql_sequences(basic, "events | " + spec.edrql_text())


def test_null_keys_never_join_unlike_eql(tmp_path):
    """The documented difference: a null pid is no key. EQL itself joins null to null."""
    rows = [ev(0, "h1", P, pid=None), ev(1, "h1", F, pid=None, path=r"C:\a"),
            ev(2, "h1", P, pid=7), ev(3, "h1", F, pid=7, path=r"C:\b")]
    ctx = make_ctx(tmp_path, rows)
    spec = Spec(["host", "pid"], [Step("process", "true", "true"), S_FILE])
    got = recs(same(ctx, spec))                     # oracle with nulls made unique: agrees
    assert got == [(3, 4)]
    from edrql.query import execute_text
    mine = edrql_sequences(ctx, "events | " + spec.edrql_text())
    raw = eql_sequences(to_eql_events(execute_text(ctx, "events")[-1].table, raw_nulls=True),
                        spec.eql_text(raw_nulls=True))
    assert len(raw) == 2 and set(raw) - set(mine) == {raw[0]}      # EQL's extra: the null-pid pair
    assert recs([raw[0]]) == [(1, 2)]


# ------------------------------------------------------------------ (c) random streams

NAMES = ["a.exe", "A.exe", "b.exe", "c.exe"]
EVENTS = [P, F, N, R, "file_modify", "network_accept"]


def random_rows(rng: random.Random, u: int) -> list[dict]:
    hosts = [f"u{u:03d}-h{j}" for j in range(rng.randint(1, 2))]
    rows, t = [], 0.0
    for _ in range(rng.randint(5, 40)):
        t += rng.choice([0, 0, 0.5, 1, 1, 2, 3])
        rows.append(ev(t, rng.choice(hosts), rng.choice(EVENTS), rng.choice(NAMES),
                       rng.choice([4, 8, 8, 12, None]), path=rng.choice([r"C:\a", r"C:\b"]),
                       rport=rng.choice([80, 443])))
    return rows


def random_step(rng: random.Random) -> Step:
    cat = rng.choice(["process", "file", "network", "registry", "any", "any", "any"])
    f = rng.choice([("true", "true"), ("true", "true"), ('name == "a.exe"', 'name == "a.exe"'),
                    ('name != "b.exe"', 'name != "b.exe"'), ("rport == 443", "rport == 443")])
    return Step(cat, *f)


def random_spec(rng: random.Random) -> Spec:
    by = ["host"] + (["pid"] if rng.random() < 0.4 else [])
    steps = [random_step(rng) for _ in range(rng.choice([2, 2, 3, 3, 4]))]
    if rng.random() < 0.2:               # per-step key on every step
        for s in steps:
            s.by = ["pid"]
    until = random_step(rng) if rng.random() < 0.3 else None
    if until is not None and steps[0].by:
        until.by = ["pid"]
    return Spec(by, steps, maxspan=rng.choice([None, None, "1s", "3s", "10s"]), until=until)


@pytest.fixture(scope="module")
def universes(tmp_path_factory):
    """200 small random streams in one case, each on its own hosts (u000-…, u001-…), the rows
    written in random order (ties in time then keep that order)."""
    rng = random.Random(14)
    rows = []
    for u in range(200):
        rows.extend(random_rows(rng, u))
    rng.shuffle(rows)                      # file order is not time order: both engines sort
    return make_ctx(tmp_path_factory.mktemp("rand"), rows)


@pytest.mark.parametrize("seed", range(300))
def test_random_against_eql(universes, seed):
    rng = random.Random(seed)
    spec = random_spec(rng)
    u = rng.randrange(200)
    same(universes, spec, source=f'events | where host startswith "u{u:03d}-"')


def test_random_whole_case_nontrivial(universes):
    """One spec over all 200 streams at once, and a guard that the random cases find sequences."""
    spec = Spec(["host"], [Step("any", "true", "true"), Step("process", "true", "true"),
                           Step("any", 'name == "a.exe"', 'name == "a.exe"')], maxspan="5s")
    assert len(same(universes, spec)) > 50


# ------------------------------------------------------------------ (b) real shared data

def _shared_case(tmp_path_factory, rel: str, name: str):
    """A context over a case of one file of ../shared/data (skips when it is absent)."""
    from edrql.ingest import Options, ingest
    from edrql.query import make_context
    from edrql.store import Case
    src = shared(rel)
    root = str(tmp_path_factory.mktemp(name) / "c")
    ingest([str(src)], Case.create_or_open(root), Options())
    return make_context(Case.open(root))


@pytest.fixture(scope="module")
def lsass(tmp_path_factory):
    """OTRF LSASS_campaign_01 host log: Sysmon 1/3/7/11/12/13/22 + Security 4688, one host."""
    return _shared_case(tmp_path_factory, "sysmon/otrf_lsass_campaign_01_host.zip", "lsass")


@pytest.fixture(scope="module")
def cobalt(tmp_path_factory):
    return _shared_case(tmp_path_factory, "sysmon/otrf_aptsimulator_cobaltstrike.zip", "cobalt")


REAL = {
    "start-then-connect by host,pid": Spec(["host", "pid"], [Step("process", "true", "true"),
                                                             Step("network", "true", "true")]),
    "file-then-start by host maxspan=1m": Spec(["host"], [Step("file", "true", "true"),
                                                         Step("process", "true", "true")], maxspan="1m"),
    "start, load, connect by pid maxspan=5m": Spec(["host", "pid"], [
        Step("process", "true", "true"), Step("image_load", "true", "true"), Step("network", "true", "true")],
        maxspan="5m"),
    "registry then file by host,pid until process": Spec(["host", "pid"], [
        Step("registry", "true", "true"), Step("file", "true", "true")], until=Step("process", "true", "true")),
    "powershell start then file by pid": Spec(["host", "pid"], [
        Step("process", 'name == "powershell.exe"', 'name == "powershell.exe"'),
        Step("file", "true", "true")]),
    "dns then connect by pid maxspan=10s": Spec(["host", "pid"], [Step("dns", "true", "true"),
                                                                  Step("network", "true", "true")], maxspan="10s"),
    "any x3 by name maxspan=2s": Spec(["host", "name"], [Step("any", "true", "true")] * 3, maxspan="2s"),
    "file by path then start by image": Spec(["host"], [Step("file", "true", "true", ["path"]),
                                                        Step("process", "true", "true", ["image"])]),
    # by proc: EQL is given edrql's own lineage key as a field (seqoracle.with_proc)
    "start, load, connect by proc maxspan=5m": Spec(["proc"], [
        Step("process", "true", "true"), Step("image_load", "true", "true"), Step("network", "true", "true")],
        maxspan="5m"),
    "registry then file by proc until process": Spec(["proc"], [
        Step("registry", "true", "true"), Step("file", "true", "true")], until=Step("process", "true", "true")),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_lsass_campaign(lsass, name):
    mine = same(lsass, REAL[name])
    if name in ("start-then-connect by host,pid", "file-then-start by host maxspan=1m"):
        assert mine, "expected sequences on this data"


@pytest.mark.parametrize("name", ["start-then-connect by host,pid", "file-then-start by host maxspan=1m",
                                  "start, load, connect by pid maxspan=5m"])
def test_real_cobaltstrike(cobalt, name):
    same(cobalt, REAL[name])


SEC4688 = {
    "parent start then child start (pid → ppid)": Spec(["host"], [Step("process", "true", "true", ["pid"]),
                                                                 Step("process", "true", "true", ["ppid"])]),
    "parent, child, grandchild within 1m": Spec(["host"], [Step("process", "true", "true", ["pid"]),
                                                          Step("process", "true", "true", ["ppid"]),
                                                          Step("process", "true", "true", ["ppid"])], maxspan="1m"),
    "cmd then powershell by host maxspan=30s": Spec(["host"], [
        Step("process", 'name == "cmd.exe"', 'name == "cmd.exe"'),
        Step("process", 'name == "powershell.exe"', 'name == "powershell.exe"')], maxspan="30s"),
    "any two by host, pid until end": Spec(["host", "pid"], [Step("process", "true", "true")] * 2,
                                            until=Step("any", 'event == "process_end"', 'event == "process_end"')),
}


@pytest.fixture(scope="module", params=["security/mdecrevoisier_4688_tchopper.evtx",
                                        "security/msticpy_win_proc_test_4688.csv"])
def sec4688(request, tmp_path_factory):
    """Windows Security 4688 only (PID-only, PIDs reused): EVTX and a Sentinel CSV."""
    from edrql.ingest import Options, ingest
    from edrql.query import make_context
    from edrql.store import Case
    src = shared(request.param)
    root = str(tmp_path_factory.mktemp("sec") / "c")
    ingest([str(src)], Case.create_or_open(root), Options())
    return make_context(Case.open(root))


@pytest.mark.parametrize("name", sorted(SEC4688))
def test_real_security_4688(sec4688, name):
    mine = same(sec4688, SEC4688[name])
    if name.startswith("parent start"):
        assert mine, "parents start children in these logs"


def test_bench_sql_matches_on_fixtures(tmp_path):
    """benchmarks/bench_sequence.py's DuckDB SQL, edrql and eql agree on its hand-made fixtures."""
    pytest.importorskip("duckdb")
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_sequence
    assert bench_sequence.selfcheck(str(tmp_path))


def test_missing_step_between_neighbours(basic):
    """![STEP]: EQL's query without it, minus the sequences with such an event in between."""
    neg = Step("file", 'path endswith "y.dll"', "true", negated=True)
    spec = Spec(["host"], [S_PROC_A, neg, S_NET])
    got = recs(same(basic, spec))
    # without it: 3-7, 2-9, 10-12, 13-15, 16-19; 3 → 7 has 5 (y.dll) in between: dropped
    assert got == [(2, 9), (10, 12), (13, 15), (16, 19)]
    assert (3, 7) not in got


@pytest.mark.parametrize("seed", range(150))
def test_random_missing_steps_against_eql(universes, seed):
    rng = random.Random(10_000 + seed)
    spec = random_spec(rng)
    for s in spec.steps:
        s.by = []
    if spec.until is not None:
        spec.until.by = []
    k = rng.randrange(1, len(spec.steps))                 # never first or last
    neg = random_step(rng)
    neg.negated = True
    spec.steps.insert(k, neg)
    u = rng.randrange(200)
    same(universes, spec, source=f'events | where host startswith "u{u:03d}-"')
