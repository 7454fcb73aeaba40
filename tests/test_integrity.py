"""Case integrity with real processes: one writer at a time, readers during ingest, kill -9
mid-ingest, self-repair (``edrql check --repair``) and refusing a case given as a source."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from mde_fixture import row, write

EX = Path(__file__).resolve().parents[1] / "examples" / "case"
EARLY, LATE, SQUID = str(EX / "export_early.csv"), str(EX / "export_late.csv"), \
    str(EX / "proxy" / "squid_access.log")


def cli(*args, env_extra=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "edrql", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env_extra or {})}, **kw)


def run(*args, env_extra=None):
    p = cli(*args, env_extra=env_extra)
    out, err = p.communicate(timeout=120)
    return subprocess.CompletedProcess(args, p.returncode, out, err)


def manifest(case) -> dict:
    return json.loads((Path(case) / "manifest.json").read_text())


def sources(case) -> list[str]:
    return [s["path"] for s in manifest(case)["sources"]]


def count(case) -> int:
    r = run(str(case), "-c", "events | count", "--format", "csv")
    assert r.returncode == 0, r.stderr
    return int(r.stdout.splitlines()[-1])


def export(path, n, start=0, host="pc-01"):
    write(path, [row(i, DeviceName=host, ReportId=str(start + i)) for i in range(start, start + n)])
    return str(path)


def no_traceback(r):
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr


# ------------------------------------------------------------------ one writer at a time
def test_two_concurrent_ingests_keep_every_source(tmp_path):
    case = tmp_path / "case"
    assert run("ingest", EARLY, "--case", str(case), "-q").returncode == 0
    a = export(tmp_path / "a.csv", 4000, host="pc-a")
    b = export(tmp_path / "b.csv", 4000, start=10**6, host="pc-b")
    procs = [cli("ingest", p, "--case", str(case), "-q") for p in (a, b, SQUID)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert all(rc == 0 for rc, _ in results), results
    assert sorted(sources(case)) == sorted([EARLY, a, b, SQUID])
    m = manifest(case)
    assert m["totals"]["rows"] == sum(s["rows_stored"] for s in m["sources"])
    assert count(case) == m["totals"]["rows"]
    assert sorted(os.listdir(case / "events")) == \
        sorted(os.path.basename(s["segment"]) for s in m["sources"])
    r = run("check", str(case))
    assert r.returncode == 0 and "result: healthy" in r.stdout, r.stdout


def test_second_writer_waits_and_says_who_holds_the_case(tmp_path):
    from edrql.caselock import CaseLock
    case = tmp_path / "case"
    lock = CaseLock(str(case))
    lock.acquire()
    try:
        p = cli("ingest", EARLY, "--case", str(case), "-q")
        time.sleep(2.5)                     # ample time to finish, were it not waiting
        assert p.poll() is None and not (case / "manifest.json").exists()
    finally:
        lock.release()
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "another edrql is writing this case" in err and f"pid {os.getpid()}" in err
    assert sources(case) == [EARLY]


def test_two_cached_case_runs_at_once_agree(tmp_path):
    a = export(tmp_path / "a.csv", 3000)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    procs = [cli(a, "-c", "events | count", "--format", "csv", env_extra=env) for _ in range(3)]
    outs = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert all(rc == 0 for _, _, rc in outs), outs
    assert {o.splitlines()[-1] for o, _, _ in outs} == {"3000"}
    cases = os.listdir(tmp_path / "cache" / "edrql" / "cases")
    assert len(cases) == 1
    c = tmp_path / "cache" / "edrql" / "cases" / cases[0]
    assert sources(c) == [a] and len(os.listdir(c / "events")) == 1


# ------------------------------------------------------------------ readers during an ingest
READER = r"""
import sys, time
from edrql.store import Case
root, allowed, stop = sys.argv[1], {int(x) for x in sys.argv[2].split(",")}, sys.argv[3]
import os
n = 0
while not os.path.exists(stop) or n < 3:
    case = Case.open(root)
    rows = case.events.num_rows
    m = case.manifest
    assert rows == sum(s["rows_stored"] for s in m["sources"]), (rows, m["totals"])
    assert rows == m["totals"]["rows"], (rows, m["totals"])
    assert rows in allowed, rows
    lin = case.lineage
    assert len(lin.event_proc) == rows
    n += 1
print(n)
"""


def test_queries_during_ingests_never_fail_nor_see_half_a_commit(tmp_path):
    case = tmp_path / "case"
    files = [export(tmp_path / f"x{i}.csv", 6000, start=i * 10**6, host=f"pc-{i}") for i in range(3)]
    assert run("ingest", files[0], "--case", str(case), "-q").returncode == 0
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(case), "6000,12000,18000",
                               str(stop)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for f in files[1:]:
            r = run("ingest", f, "--case", str(case), "-q")
            assert r.returncode == 0, r.stderr
        r = run(str(case), "-c", 'search "echo 5" | count', "--format", "csv")
        assert r.returncode == 0, r.stderr
    finally:
        stop.write_text("")
        out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    assert int(out) >= 3


# ------------------------------------------------------------------ kill -9 mid-ingest
def _state(case):
    return (sources(case), manifest(case)["totals"]) if (case / "manifest.json").exists() else None


def _rows(case) -> int:
    from edrql.store import Case
    return Case.open(str(case)).events.num_rows


def _holds_lock(case, pid) -> bool:
    try:
        return json.loads((case / ".edrql.lock").read_text())["pid"] == pid
    except (OSError, ValueError, KeyError):
        return False


def _ingest_timed(case, src, kill_after=None):
    """Run ``ingest src --case case``; from the moment it holds the case's lock, kill -9 it
    after ``kill_after`` s, or (None) let it finish and return how long it held the lock."""
    p = cli("ingest", src, "--case", str(case), "-q")
    while not _holds_lock(case, p.pid) and p.poll() is None:
        time.sleep(0.002)
    t0 = time.perf_counter()
    if kill_after is None:
        while not (case / "manifest.json").exists() and p.poll() is None:
            time.sleep(0.002)
        held = time.perf_counter() - t0
        assert p.wait(timeout=60) == 0
        return held
    time.sleep(kill_after)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    return p.returncode == -signal.SIGKILL


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX kill -9")
def test_kill_9_at_random_points_leaves_the_case_as_it_was(tmp_path):
    big = export(tmp_path / "big.csv", 40000, start=10**6, host="pc-big")
    small = export(tmp_path / "small.csv", 500)
    window = _ingest_timed(tmp_path / "timing", big) * 1.1   # lock taken → manifest written
    shutil.rmtree(tmp_path / "timing")
    rng = random.Random(11)
    case = tmp_path / "case"
    for _ in range(2):                      # kill the first ingest into a new case
        if not _ingest_timed(case, big, rng.uniform(0, window)) or _state(case):
            shutil.rmtree(case, ignore_errors=True)     # it committed first: nothing to see
            continue
        r = run("check", str(case))
        assert r.returncode == 0 and "nothing was committed" in r.stdout, r.stdout
    r = run("ingest", small, "--case", str(case), "-q")     # a retry into what was left
    assert r.returncode == 0, r.stderr
    before, rows = _state(case), _rows(case)
    assert before[0] == [small]
    for attempt in range(2):                # kill an ingest that appends
        killed = _ingest_timed(case, big, rng.uniform(0, window))
        if _state(case) != before:           # it committed before the kill landed
            assert not killed or _state(case)[0] == [small, big]
            shutil.rmtree(case)
            assert run("ingest", small, "--case", str(case), "-q").returncode == 0
            before, rows = _state(case), _rows(case)
            continue
        assert _rows(case) == rows
        r = run("check", str(case))
        assert r.returncode == 0 and "result: healthy" in r.stdout, r.stdout
        if attempt % 2:
            r = run("check", str(case), "--repair")
            assert r.returncode == 0 and "PROBLEM" not in r.stdout, r.stdout
    r = run("ingest", big, "--case", str(case), "-q")     # the retry
    assert r.returncode == 0, r.stderr
    m = manifest(case)
    assert [s["path"] for s in m["sources"]] == [small, big]
    assert sorted(os.listdir(case / "events")) == sorted(os.path.basename(s["segment"])
                                                          for s in m["sources"])
    assert not (case / ".edrql-pending").exists()
    r = run("check", str(case))
    assert r.returncode == 0 and "result: healthy" in r.stdout


DIE_AT_COMMIT = """
import os, sys
from edrql.store import Case
from edrql.ingest import Options, ingest
Case.commit = lambda self: os._exit(9)          # dies like kill -9, segments written
ingest([sys.argv[2]], Case.create_or_open(sys.argv[1]), Options())
"""


def _interrupted_first_ingest(case, src):
    """An ingest process that dies after writing its segments, before its commit."""
    r = subprocess.run([sys.executable, "-c", DIE_AT_COMMIT, str(case), src], timeout=60)
    assert r.returncode == 9
    assert not (case / "manifest.json").exists() and os.listdir(case / "events")


def test_interrupted_first_ingest_does_not_block_the_retry(tmp_path):
    case = tmp_path / "case"
    _interrupted_first_ingest(case, EARLY)
    r = run(str(case), "-c", "events | count")
    assert r.returncode == 1 and "did not finish" in r.stderr
    r = run("check", str(case))
    assert r.returncode == 0 and "uncommitted" in r.stdout, r.stdout
    r = run("ingest", EARLY, "--case", str(case), "-q")
    assert r.returncode == 0, r.stderr
    assert sources(case) == [EARLY] and len(os.listdir(case / "events")) == 1
    assert count(case) == 321


def test_legacy_orphan_segment_without_manifest(tmp_path):
    case = tmp_path / "case"
    (case / "events").mkdir(parents=True)
    with pa.OSFile(str(case / "events" / "0123abcd.arrow"), "wb") as sink, \
            pa.ipc.new_file(sink, pa.schema([("x", pa.int64())])) as w:
        w.write_table(pa.table({"x": [1, 2, 3]}))
    (case / "events" / "dead.arrow.tmp").write_bytes(b"partial")
    r = run("ingest", EARLY, "--case", str(case), "-q")
    assert r.returncode == 0, r.stderr
    assert not (case / "events" / "dead.arrow.tmp").exists()
    r = run("check", str(case))
    assert r.returncode == 1 and "orphan segment events/0123abcd.arrow" in r.stdout
    r = run("check", str(case), "--repair")
    assert r.returncode == 0 and "moved to lost/" in r.stdout, r.stdout
    assert (case / "lost" / "events-0123abcd.arrow").exists()
    assert run("check", str(case)).returncode == 0


def test_a_folder_with_other_files_is_still_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    r = run("ingest", EARLY, "--case", str(tmp_path))
    assert r.returncode == 1 and "not an edrql case" in r.stderr
    assert not (tmp_path / "manifest.json").exists()


# ------------------------------------------------------------------ check --repair
@pytest.fixture(scope="module")
def built_once(tmp_path_factory):
    case = tmp_path_factory.mktemp("built") / "case"
    assert run("ingest", EARLY, "--case", str(case), "-q").returncode == 0
    bad = case.parent / "bad.csv"
    rows = [row(i, ReportId=str(900 + i)) for i in range(5)]
    rows[2]["Timestamp"] = "not a time"
    write(bad, rows)
    assert run("ingest", LATE, SQUID, str(bad), "--case", str(case), "-q").returncode == 0
    assert manifest(case)["totals"]["quarantined"] == 1
    assert run(str(case), "-c", 'search "invoice" | count; procs | count').returncode == 0
    return case


@pytest.fixture
def built(built_once, tmp_path):
    """A case of 4 sources (one with a quarantined record), with lineage and search index."""
    case = tmp_path / "case"
    shutil.copytree(built_once, case)
    return case


def test_lost_or_damaged_manifest_is_rebuilt_from_segments(built, tmp_path):
    m0 = manifest(built)
    n0 = count(built)
    for damage in ("delete", "truncate"):
        mp = built / "manifest.json"
        if damage == "delete":
            mp.unlink()
        else:
            mp.write_text(mp.read_text()[:200])
        r = run("ingest", EARLY, "--case", str(built))
        assert r.returncode == 1 and "check" in r.stderr and "--repair" in r.stderr, r.stderr
        no_traceback(r)
        r = run("check", str(built))
        assert r.returncode == 1 and ("missing" if damage == "delete" else "damaged") in r.stdout
        r = run("check", str(built), "--repair")
        assert r.returncode == 0, r.stdout
        assert "rebuilt with 4 source(s)" in r.stdout
        m = manifest(built)
        keys = ("path", "sha256", "records_read", "rows_stored", "quarantined", "duplicates",
                "segment", "quarantine_segment")
        assert [{k: s.get(k) for k in keys} for s in m["sources"]] == \
            [{k: s.get(k) for k in keys} for s in m0["sources"]]
        assert m["totals"] == m0["totals"] and m["hosts"] == m0["hosts"]
        assert count(built) == n0
    assert any(f.startswith("manifest.json.damaged-") for f in os.listdir(built))
    assert run("check", str(built)).returncode == 0


def test_damaged_segment_is_reported_then_taken_out_then_reingested(built):
    m0 = manifest(built)
    late = next(s for s in m0["sources"] if s["path"] == LATE)
    seg = built / late["segment"]
    seg.write_bytes(seg.read_bytes()[:5000])
    r = run(str(built), "-c", "events | count")
    assert r.returncode == 1 and late["segment"] in r.stderr and "--repair" in r.stderr
    no_traceback(r)
    r = run("check", str(built))
    assert r.returncode == 1 and "damaged" in r.stdout
    r = run("check", str(built), "--repair")
    assert r.returncode == 1, r.stdout               # records are missing: a problem remains
    assert "taken out of the manifest" in r.stdout and "ingest it again" in r.stdout
    assert count(built) == m0["totals"]["rows"] - late["rows_stored"]
    assert run("check", str(built)).returncode == 1   # said on every check until re-ingested
    assert run("ingest", LATE, "--case", str(built), "-q").returncode == 0
    r = run("check", str(built))
    assert r.returncode == 0, r.stdout
    assert count(built) == m0["totals"]["rows"]


def test_edited_counts_are_restored_from_segment_entries(built):
    mp = built / "manifest.json"
    m = manifest(built)
    m["sources"][0]["rows_stored"] += 7
    m["sources"][0]["records_read"] += 7
    m["totals"]["rows"] += 1
    mp.write_text(json.dumps(m))
    r = run("check", str(built))
    assert r.returncode == 1 and "differs from the one its segment carries" in r.stdout
    assert "totals differ" in r.stdout
    r = run("check", str(built), "--repair")
    assert r.returncode == 0, r.stdout
    m2 = manifest(built)
    assert m2["sources"][0]["rows_stored"] == m["sources"][0]["rows_stored"] - 7
    assert m2["totals"]["rows"] == m["totals"]["rows"] - 1
    assert run("check", str(built)).returncode == 0


def test_damaged_and_stale_derived_data_and_search_index(built):
    d, s = built / "derived", built / "search"
    lin = next(f for f in os.listdir(d) if f.startswith("lineage-"))
    (d / lin).write_bytes(b"ARROW1 not really")
    (d / "lineage-0123456789abcdef.arrow").write_bytes(b"old")
    # search keeps no index: an earlier version's index files are stale (a note)
    s.mkdir(exist_ok=True)
    seg = os.path.basename(manifest(built)["sources"][0]["segment"]).replace(".arrow", "")
    codes = f"{seg}.v5.codes.arrow"
    (s / codes).write_bytes(b"x" * 100)
    (s / "ffffffffffffffffffffffffffffffff.v5.values.arrow").write_bytes(b"orphan index")
    r = run("check", str(built))
    assert r.returncode == 1
    assert f"damaged lineage and encodings file {lin}" in r.stdout
    assert "1 stale lineage and encodings file(s)" in r.stdout
    assert "2 stale search index file(s)" in r.stdout and "search index file" not in \
        "".join(x for x in r.stdout.splitlines() if "PROBLEM" in x)
    r = run("check", str(built), "--repair")
    assert r.returncode == 0, r.stdout
    assert not (d / lin).exists() and not (s / codes).exists()
    r = run(str(built), "-c", "procs | count", "--format", "csv")
    assert r.returncode == 0 and int(r.stdout.splitlines()[-1]) > 0
    r = run(str(built), "-c", 'search "invoice" | count', "--format", "csv")
    assert r.returncode == 0 and int(r.stdout.splitlines()[-1]) > 0
    assert run("check", str(built)).returncode == 0


def test_orphan_segment_with_its_entry_is_adopted(built, tmp_path):
    other = tmp_path / "other"
    s = export(tmp_path / "o.csv", 50, start=5000, host="pc-orphan")
    assert run("ingest", s, "--case", str(other), "-q").returncode == 0
    seg = manifest(other)["sources"][0]["segment"]
    shutil.copy(other / seg, built / seg)
    r = run("check", str(built))
    assert r.returncode == 1 and "are not in the manifest" in r.stdout
    r = run("check", str(built), "--repair")
    assert r.returncode == 0 and "added back" in r.stdout, r.stdout
    assert sources(built)[-1] == s
    r = run(str(built), "-c", 'events | where host == "pc-orphan" | count', "--format", "csv")
    assert r.stdout.splitlines()[-1] == "50"


def test_check_on_something_that_is_not_a_case(tmp_path):
    r = run("check", str(tmp_path / "nope"))
    assert r.returncode == 1 and "no such folder" in r.stderr
    r = run("check", str(tmp_path))
    assert r.returncode == 1 and "not an edrql case" in r.stderr
    no_traceback(r)


# ------------------------------------------------------------------ a case as a source
def test_a_case_folder_as_a_source_is_refused_before_anything_is_ingested(tmp_path):
    case = tmp_path / "exports" / "case"
    assert run("ingest", EARLY, "--case", str(case), "-q").returncode == 0
    shutil.copy(LATE, tmp_path / "exports" / "late.csv")
    before = (case / "manifest.json").read_bytes()
    r = run("ingest", str(case), "--case", str(case))                     # the target itself
    assert r.returncode == 1 and "is the target case" in r.stderr
    r = run("ingest", str(tmp_path / "exports"), "--case", str(case))     # a folder holding it
    assert r.returncode == 1 and "holds the target case" in r.stderr
    assert (case / "manifest.json").read_bytes() == before
    other = tmp_path / "other"
    r = run("ingest", str(tmp_path / "exports"), "--case", str(other))    # a folder holding a case
    assert r.returncode == 1 and "is an edrql case folder" in r.stderr and "nothing was" in r.stderr
    assert not (other / "manifest.json").exists()
    r = run("ingest", str(case), SQUID, "--case", str(other))
    assert r.returncode == 1 and not (other / "manifest.json").exists()
    no_traceback(r)
    seg = case / manifest(case)["sources"][0]["segment"]
    r = run("ingest", SQUID, str(seg), "--case", str(other))            # a segment file
    assert r.returncode == 1 and "is a file of the edrql case" in r.stderr
    assert not (other / "manifest.json").exists()
    link = tmp_path / "link"
    link.symlink_to(case)
    r = run("ingest", str(link), "--case", str(case))                   # the target, by a link
    assert r.returncode == 1 and "is the target case" in r.stderr


def test_ctrl_c_during_an_append_leaves_nothing_behind(tmp_path, monkeypatch):
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    case = tmp_path / "case"
    ingest([EARLY], Case.create_or_open(str(case)), Options())
    before = (case / "manifest.json").read_bytes()

    def interrupted(self):
        raise KeyboardInterrupt
    monkeypatch.setattr(Case, "commit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ingest([LATE], Case.open(str(case)), Options())
    assert (case / "manifest.json").read_bytes() == before
    assert os.listdir(case / "events") == [os.path.basename(manifest(case)["sources"][0]["segment"])]
    assert not (case / ".edrql-pending").exists()


def test_a_failed_first_ingest_leaves_no_folder_and_the_lock_is_reusable(tmp_path):
    case = tmp_path / "case"
    r = run("ingest", str(tmp_path / "missing.csv"), "--case", str(case))
    assert r.returncode == 1 and "no such file" in r.stderr
    assert not case.exists()
    assert run("ingest", EARLY, "--case", str(case), "-q").returncode == 0
    assert sources(case) == [EARLY]


def test_lost_manifest_and_segment_the_rebuild_says_a_source_may_be_missing(built):
    seg = manifest(built)["sources"][1]["segment"]
    (built / seg).unlink()
    (built / "manifest.json").unlink()
    r = run("check", str(built), "--repair")
    assert r.returncode == 1 and "source number(s) 2" in r.stdout, r.stdout
    assert len(sources(built)) == 3


def test_ingest_needing_a_damaged_segment_says_so(built):
    seg = manifest(built)["sources"][0]["segment"]          # EARLY: LATE dedups against it
    (built / seg).write_bytes(b"not arrow")
    before = (built / "manifest.json").read_bytes()
    other = built.parent / "late2.csv"
    other.write_bytes(Path(LATE).read_bytes() + b"\n")
    r = run("ingest", str(other), "--case", str(built))
    assert r.returncode == 1 and seg in r.stderr and "--repair" in r.stderr, r.stderr
    no_traceback(r)
    assert (built / "manifest.json").read_bytes() == before


def test_ingest_api_takes_the_lock_itself_and_rereads_the_manifest(tmp_path):
    """The REPL's .ingest calls ingest() on a Case it opened earlier: that is safe too."""
    import threading
    from edrql.caselock import CaseLock
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    case = tmp_path / "case"
    ingest([EARLY], Case.create_or_open(str(case)), Options())
    stale = Case.open(str(case))                      # read before LATE is committed
    ingest([LATE], Case.open(str(case)), Options())
    lock = CaseLock(str(case))
    lock.acquire()
    done = []
    t = threading.Thread(target=lambda: done.append(ingest([SQUID], stale, Options())))
    t.start()
    time.sleep(1)
    waited = not done
    lock.release()
    t.join(timeout=60)
    assert waited and done
    assert sources(case) == [EARLY, LATE, SQUID]
