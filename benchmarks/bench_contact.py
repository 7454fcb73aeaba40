#!/usr/bin/env python3
"""First contact: every goal of issue 13 measured as whole processes, each beside its peer, in one run.

    python benchmarks/bench_contact.py [--csv PATH] [--repeat 3] [--keep] [--case DIR] [--skip-ingest]
                                       [--edrql CMD] [--workdir DIR] [--json OUT]

An analyst's day: a fresh export, an ingest, then one-shot commands. Every edrql step is a fresh
`edrql …` process (interpreter start and imports included) and so is every peer:

  1 ingest        edrql ingest CSV --case NEW           vs DuckDB read_csv into a file / into memory
  2 case size     the case folder (events, search, derived, quarantine) vs the CSV and DuckDB's file
  3 search        first search of the fresh case, then a later one of another needle (a second
                  process)                              vs rg -i -F -c on the CSV; DuckDB ILIKE on its file
  4 filter+stats  events | where name == "cmd.exe" | stats count() by host   vs the same SQL on its file
  5 tree()        procs | where <one process with children> | tree()        vs a recursive CTE on its file
  6 events|count  vs `python -c pass` and `python -c "import pyarrow"` (floors, no goal)
  7 warm search   in one process: edrql.open(CASE).query('search "x" | count') vs DuckDB ILIKE on its file

Medians of --repeat runs. One-shot queries also run once before the timed runs ("first": that
run builds whatever edrql caches on first use). Every pair's answers are compared (row counts,
groups, tree sizes); the run exits 1 if any pair disagrees. --edrql takes the command to time,
e.g. --edrql "PYTHONPATH=/old/tree python -m edrql" (leading NAME=VALUE words become its
environment, also used for step 7). Cases are made under --workdir and removed unless --keep.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import sys
import time

from bench_ingest import DUCKDB_SCRIPT
from common import (DEFAULT_CSV, DEFAULT_ROWS, DUCKDB_QUERY_SCRIPT, WORKDIR, command, duckdb_text_columns,
                    ensure_csv, machine_info, median, print_machine, ratio_line, run_measured, save_json,
                    split_env, table, text_match_sql, tree_bytes, warm)

STATS_Q = 'events | where name == "cmd.exe" | stats count() by host'
# edrql's `name` for a Defender row: the new process for ProcessCreated, the acting one otherwise
STATS_SQL = """SELECT DeviceName AS host, count(*) AS count FROM t
WHERE (CASE WHEN ActionType = 'ProcessCreated' THEN FileName ELSE InitiatingProcessFileName END) = 'cmd.exe'
GROUP BY DeviceName"""
# process keys on the raw columns: (host, pid, creation time); a ProcessCreated row links its
# initiating process to the new one, every row links the initiating process's parent to it
TREE_SQL = """WITH RECURSIVE e AS (
  SELECT DeviceName AS h, InitiatingProcessId AS ppid, InitiatingProcessCreationTime AS pct,
         ProcessId AS pid, ProcessCreationTime AS ct FROM t WHERE ActionType = 'ProcessCreated'
  UNION
  SELECT DeviceName, InitiatingProcessParentId, InitiatingProcessParentCreationTime,
         InitiatingProcessId, InitiatingProcessCreationTime FROM t
  WHERE InitiatingProcessParentId IS NOT NULL AND InitiatingProcessParentCreationTime IS NOT NULL
),
root AS (SELECT '{host}' AS h, {pid}::BIGINT AS pid, TIMESTAMPTZ '{start}' AS ct),
down(h, pid, ct) AS (SELECT * FROM root UNION
  SELECT e.h, e.pid, e.ct FROM e JOIN down d ON e.h = d.h AND e.ppid = d.pid AND e.pct = d.ct),
up(h, pid, ct) AS (SELECT * FROM root UNION
  SELECT e.h, e.ppid, e.pct FROM e JOIN up u ON e.h = u.h AND e.pid = u.pid AND e.ct = u.ct)
SELECT count(*) FROM (SELECT * FROM down UNION SELECT * FROM up)"""
# the parent of the first process that carries the needle: a process with children
TREE_TARGET_SQL = """SELECT DeviceName, InitiatingProcessId,
  strftime(InitiatingProcessCreationTime, '%Y-%m-%d %H:%M:%S.%f+00'),
  strftime(InitiatingProcessCreationTime - INTERVAL 1 MICROSECOND, '%Y-%m-%dT%H:%M:%S.%fZ'),
  strftime(InitiatingProcessCreationTime + INTERVAL 1 MICROSECOND, '%Y-%m-%dT%H:%M:%S.%fZ')
FROM t WHERE ActionType = 'ProcessCreated' AND ProcessCommandLine LIKE '%{needle}%'
ORDER BY "Timestamp" LIMIT 1"""
SUBDIRS = ("events", "search", "derived", "quarantine")
RECEIPT = re.compile(r"^search .*?; ([\d,.]+) (ms|s)(?:;|\s*$)", re.M)   # "…; 3448 ms; built the …"


class Bench:
    """Timed whole processes, grouped by what they measure."""

    def __init__(self, repeat: int):
        self.repeat = repeat
        self.runs: dict[str, list] = {}
        self.firsts: dict[str, object] = {}
        self.agree: dict[str, bool] = {}
        self.notes: dict[str, str] = {}

    def add(self, key: str, r, first: bool = False) -> None:
        if first:
            self.firsts[key] = r
        else:
            self.runs.setdefault(key, []).append(r)
        print(f"  {key:<34} {'first' if first else 'run  '} {r.seconds:7.3f} s  peak RSS "
              f"{r.peak_rss / 1e9:5.2f} GB", flush=True)

    def one_shot(self, key: str, cmd: list[str], env=None, first: bool = True) -> list:
        """One untimed-but-reported first run, then --repeat timed ones; every run's stdout."""
        outs = []
        for i in range(self.repeat + (1 if first else 0)):
            r = run_measured(cmd, env=env)
            self.add(key, r, first=first and i == 0)
            outs.append(r.stdout)
        return outs

    def med(self, key: str) -> float:
        return median([r.seconds for r in self.runs.get(key, [])])

    def best(self, key: str) -> float:
        return min((r.seconds for r in self.runs.get(key, [])), default=float("nan"))

    def rss(self, key: str) -> float:
        return max((r.peak_rss for r in self.runs.get(key, [])), default=float("nan"))


def ndjson(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def count_of(text: str) -> int:
    rows = ndjson(text)
    return int(rows[0]["count"]) if rows else -1


def receipt_seconds(stderr: str) -> float | None:
    m = RECEIPT.search(stderr)
    if not m:
        return None
    v = float(m.group(1).replace(",", ""))
    return v / 1000 if m.group(2) == "ms" else v


def sizes(case: str) -> dict:
    out = {d: tree_bytes(os.path.join(case, d)) for d in SUBDIRS}
    out["total"] = tree_bytes(case)
    out["other"] = out["total"] - sum(out[d] for d in SUBDIRS)
    return out


def duck(dbfile: str, sql: str) -> list[str]:
    return [sys.executable, "-c", DUCKDB_QUERY_SCRIPT, dbfile, sql]


def same_source(dbfile: str, csv_path: str) -> bool:
    """Was this DuckDB file (kept by --keep) loaded from this CSV, as it is now?"""
    try:
        with open(dbfile + ".source", encoding="utf-8") as fh:
            return fh.read() == source_stamp(csv_path)
    except OSError:
        return False


def source_stamp(csv_path: str) -> str:
    st = os.stat(csv_path)
    return f"{os.path.abspath(csv_path)} {st.st_size} {st.st_mtime_ns}"


def load_db(dbfile: str, csv_path: str):
    rm_db(dbfile)
    r = run_measured([sys.executable, "-c", DUCKDB_SCRIPT, csv_path, "typed", dbfile])
    with open(dbfile + ".source", "w", encoding="utf-8") as fh:
        fh.write(source_stamp(csv_path))
    return r


def rm_db(dbfile: str) -> None:
    for f in (dbfile, dbfile + ".wal", dbfile + ".source"):
        if os.path.exists(f):
            os.remove(f)


def ingest_rounds(b: Bench, a, cmd, env, needles, dbfile, rg, created: list) -> tuple[str, dict]:
    """Step 1 and 3 on fresh cases: each round ingests a new case and searches it at once."""
    tools = ["edrql", "duckdb file", "duckdb memory"]
    case, after_ingest = None, {}
    for i in range(a.repeat):
        for tool in tools[i % 3:] + tools[:i % 3]:
            os.sync()
            if tool == "edrql":
                new = os.path.join(a.workdir, f"contact-case-{i}")
                shutil.rmtree(new, ignore_errors=True)
                created.append(new)
                b.add("ingest: edrql", run_measured(cmd + ["ingest", a.csv, "--case", new, "-q"], env=env))
                if case:
                    shutil.rmtree(case, ignore_errors=True)
                    created.remove(case)
                case = new
                after_ingest = sizes(case)
                os.sync()
                search_pair(b, cmd, env, case, needles, a.csv, rg, first=True)
            else:
                if tool == "duckdb file":
                    r = load_db(dbfile, a.csv)
                else:
                    r = run_measured([sys.executable, "-c", DUCKDB_SCRIPT, a.csv, "typed", "-"])
                b.add(f"ingest: {tool}", r)
    return case, after_ingest


def search_pair(b: Bench, cmd, env, case, needles, csv_path, rg, first: bool) -> None:
    """The first search of the case (needle 1) and a later one (needle 2), each a process; rg on both."""
    for key, (needle, rows) in (("first search", needles[0]), ("later search", needles[1])):
        if key == "first search" and not first:
            continue
        r = run_measured(cmd + [case, "-v", "--format", "ndjson", "-c", f'search "{needle}" | count'], env=env)
        b.add(f"{key}: edrql", r)
        b.notes.setdefault(f"{key} receipts", [])
        b.notes[f"{key} receipts"].append(receipt_seconds(r.stderr))
        ok = count_of(r.stdout) == rows
        if rg:
            r = run_measured([rg, "-i", "-F", "-c", needle, csv_path], check=False)
            b.add(f"{key}: rg -i -F", r)
            ok = ok and int(r.stdout.strip() or 0) == rows
        b.agree[f"{key}: {needle} ({rows} rows)"] = b.agree.get(f"{key}: {needle} ({rows} rows)", True) and ok


def warm_child(case: str, dbfile: str, csv_path: str, needle: str, repeat: int) -> int:
    """Step 7, in a child process: warm in-process search, edrql vs DuckDB ILIKE over every text
    column, on its file and (as bench_search.py does) on the CSV loaded into memory as all-text."""
    import duckdb

    import edrql
    out = {"edrql_module": os.path.dirname(edrql.__file__)}
    c = edrql.open(case)
    q = f'search "{needle}" | count'
    on_file = duckdb.connect(dbfile, read_only=True)
    in_memory = duckdb.connect()
    for con in (on_file, in_memory):
        con.execute("SET enable_progress_bar = false")
    t0 = time.perf_counter()
    in_memory.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{csv_path}', all_varchar=true)")
    out["duckdb_memory_load"] = time.perf_counter() - t0
    engines = {"edrql": lambda: c.query(q)["count"][0].as_py()}
    for name, con in (("duckdb file", on_file), ("duckdb memory", in_memory)):
        sql = text_match_sql(duckdb_text_columns(con), needle)
        engines[name] = lambda con=con, sql=sql: con.execute(sql).fetchone()[0]
    for name, fn in engines.items():
        n = fn()                                       # the warm call
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            n = fn()
            times.append(time.perf_counter() - t0)
        out[name] = {"times": times, "count": n}
    print(json.dumps(out))
    return 0


def prepare(b: Bench, a, cmd, env, needles, dbfile, rg, created: list) -> tuple[str, dict]:
    """The case and DuckDB file to query: fresh ones (step 1), or --case / a kept one. What it
    makes is added to created (removed at the end unless --keep)."""
    if not (a.case or a.skip_ingest):
        created.append(dbfile)
        return ingest_rounds(b, a, cmd, env, needles, dbfile, rg, created)
    case = a.case
    if not case:
        kept = sorted((p for p in os.listdir(a.workdir) if p.startswith("contact-case-")),
                      key=lambda p: os.path.getmtime(os.path.join(a.workdir, p)))
        case = os.path.join(a.workdir, kept[-1] if kept else "contact-case-0")
        if not kept:
            print(f"ingesting {a.csv} into {case} (not compared: --skip-ingest)…", flush=True)
            created.append(case)
            run_measured(cmd + ["ingest", a.csv, "--case", case, "-q"], env=env)
    if not os.path.exists(dbfile):
        created.append(dbfile)
        r = load_db(dbfile, a.csv)
        print(f"  DuckDB file loaded for the queries in {r.seconds:.2f} s (not compared)")
    print(f"case:    {case}" + ("" if case in created else
                                    " (not ingested in this run: its first search may not be its first)"))
    after = sizes(case)
    search_pair(b, cmd, env, case, needles, a.csv, rg, first=True)
    return case, after


def queries(b: Bench, cmd, env, case, dbfile, needles, csv_path, rg, fresh: bool) -> None:
    """Steps 3 (the later searches' extra runs and DuckDB's ILIKE), 4, 5, 6."""
    import duckdb
    con = duckdb.connect(dbfile, read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    if not fresh:
        for _ in range(b.repeat - 1):
            search_pair(b, cmd, env, case, needles, csv_path, rg, first=False)
    needle, rows = needles[1]
    sql = text_match_sql(duckdb_text_columns(con), needle)
    outs = b.one_shot("later search: duckdb ILIKE", duck(dbfile, sql))
    b.agree[f"duckdb ILIKE {needle}"] = all(json.loads(o)[0][0] == rows for o in outs)

    # 4 filter + stats
    e = b.one_shot("stats: edrql", cmd + [case, "--format", "ndjson", "-c", STATS_Q], env)
    d = b.one_shot("stats: duckdb", duck(dbfile, STATS_SQL))
    mine = {r["host"]: r["count"] for r in ndjson(e[-1])}
    theirs = {h: n for h, n in json.loads(d[-1])}
    b.agree["stats by host"] = mine == theirs and bool(mine)
    b.notes["stats"] = f"{len(mine)} hosts, {sum(mine.values()):,} rows (duckdb {sum(theirs.values()):,})"

    # 5 tree() of one process with children
    host, pid, start, lo, hi = con.execute(TREE_TARGET_SQL.format(needle=needles[0][0])).fetchone()
    q = f'procs | where host == "{host}" and pid == {pid} and start between ("{lo}" .. "{hi}") | tree()'
    e = b.one_shot("tree: edrql", cmd + [case, "--format", "ndjson", "-c", q], env)
    d = b.one_shot("tree: duckdb recursive CTE", duck(dbfile, TREE_SQL.format(host=host, pid=pid, start=start)))
    mine, theirs = len(ndjson(e[-1])), json.loads(d[-1])[0][0]
    b.agree["tree nodes"] = mine == theirs and mine > 1
    b.notes["tree"] = f"{host} pid {pid} started {start}: edrql {mine} processes, duckdb {theirs}"
    b.notes["tree query"] = q

    # 6 events | count and the interpreter floors
    e = b.one_shot("events | count: edrql", cmd + [case, "--format", "ndjson", "-c", "events | count"], env)
    b.notes["events"] = f"{count_of(e[-1]):,} rows"
    b.one_shot("floor: python -c pass", [sys.executable, "-c", "pass"], first=False)
    b.one_shot("floor: python -c 'import pyarrow'", [sys.executable, "-c", "import pyarrow"], first=False)


def report(b: Bench, a, size_csv: int, db_bytes: int, after: dict, end: dict, warm_res: dict | None,
           fresh: bool) -> list[str]:
    """The comparison table, then one line per goal; returns the goal lines."""
    pairs = [("ingest", "ingest: edrql", "ingest: duckdb file"),
             ("", None, "ingest: duckdb memory"),
             ("first search" + ("" if fresh else " (existing case)"), "first search: edrql", "first search: rg -i -F"),
             ("later search", "later search: edrql", "later search: rg -i -F"),
             ("", None, "later search: duckdb ILIKE"),
             ("where + stats by", "stats: edrql", "stats: duckdb"),
             ("tree()", "tree: edrql", "tree: duckdb recursive CTE"),
             ("events | count", "events | count: edrql", "floor: python -c pass"),
             ("", None, "floor: python -c 'import pyarrow'")]
    rows, base = [], None
    for label, ek, pk in pairs:
        base = ek or base
        if base not in b.runs:
            continue
        em = b.med(base)
        first = b.firsts.get(base)
        erow = [label, f"{first.seconds:.3f}" if first and ek else "", f"{em:.3f}" if ek else "",
                f"{b.rss(base) / 1e9:.2f}" if ek else ""]
        if pk in b.runs:
            rows.append(erow + [pk.split(": ", 1)[1], f"{b.med(pk):.3f}", f"{b.rss(pk) / 1e9:.2f}",
                                f"{em / b.med(pk):.2f}", f"{b.best(base) / b.best(pk):.2f}"])
        elif ek:
            rows.append(erow + ["rg: not installed" if "rg" in pk else "-", "", "", "", ""])
    print(f"\nwhole processes, median of {a.repeat} (s; 'first' = the run before them; RSS = the child's peak)")
    print(table(rows, ["step", "edrql first", "edrql s", "GB RSS", "peer", "peer s", "GB RSS", "edrql / peer",
                       "(best runs)"]))
    mbs = [["CSV", f"{size_csv / 1e6:,.0f}", "", "", "", "", "", "1.00"],
           ["DuckDB file", f"{db_bytes / 1e6:,.0f}", "", "", "", "", "", f"{db_bytes / size_csv:.2f}"]]
    for name, s in (("edrql case after ingest" if fresh else "edrql case before the queries", after),
                    ("edrql case after the queries", end)):
        mbs.append([name] + [f"{s[k] / 1e6:,.0f}" for k in ("total",) + SUBDIRS + ("other",)]
                   + [f"{s['total'] / size_csv:.2f}"])
    print("\ncase size on disk (MB, apparent sizes)")
    print(table(mbs, ["what", "total", *SUBDIRS, "other", "/ CSV"]))
    if warm_res:
        we, wd, wf = (median(warm_res[k]["times"]) for k in ("edrql", "duckdb memory", "duckdb file"))
        print(f"\nwarm search, in one process (ms, median of {len(warm_res['edrql']['times'])} after a warm "
              f"call; edrql from {warm_res['edrql_module']})")
        print(table([["edrql.open(CASE).query('search … | count')", f"{we * 1000:,.1f}",
                      warm_res["edrql"]["count"], "1.00"],
                     ["duckdb ILIKE, CSV in memory as all-text (bench_search.py's peer)", f"{wd * 1000:,.1f}",
                      warm_res["duckdb memory"]["count"], f"{wd / we:.2f}"],
                     ["duckdb ILIKE, the text columns of its file", f"{wf * 1000:,.1f}",
                      warm_res["duckdb file"]["count"], f"{wf / we:.2f}"]],
                    ["engine", "ms", "rows", "engine / edrql"]))
        print(f"(duckdb loaded the CSV into memory in {warm_res['duckdb_memory_load']:.1f} s, not counted)")
    for k in ("stats", "tree", "events"):
        if k in b.notes:
            print(f"{k}: {b.notes[k]}")
    for key in ("first search", "later search"):
        rc = [x for x in b.notes.get(f"{key} receipts", []) if x is not None]
        if rc:
            print(f"{key}: the search's own receipt (edrql -v) says {median(rc):.3f} s (median)")

    goals = []
    if "ingest: edrql" in b.runs:
        e = b.med("ingest: edrql")
        goals.append(ratio_line("ingest: edrql / duckdb file", e / b.med("ingest: duckdb file"), 1.0))
        goals.append(ratio_line("ingest (stretch): edrql / duckdb memory", e / b.med("ingest: duckdb memory"), 1.0))
        goals.append(ratio_line("ingest: edrql peak RSS", b.rss("ingest: edrql") / 1e9, 2.0, unit=" GB"))
    goals.append(ratio_line("case size / CSV", end["total"] / size_csv, 0.5))
    goals.append(ratio_line("case size (stretch) / DuckDB file", end["total"] / db_bytes, 2.0))
    for key, goal in (("first search", 2.0), ("later search", 1.5)):
        if f"{key}: rg -i -F" in b.runs:
            goals.append(ratio_line(f"{key}: edrql / rg", b.med(f"{key}: edrql") / b.med(f"{key}: rg -i -F"), goal))
        else:
            goals.append(f"{key}: no peer: rg (ripgrep) is not installed (apt-get install ripgrep)")
    goals.append(ratio_line("where + stats by: edrql / duckdb", b.med("stats: edrql") / b.med("stats: duckdb"), 1.0))
    goals.append(ratio_line("tree(): edrql / duckdb", b.med("tree: edrql") / b.med("tree: duckdb recursive CTE"), 1.0))
    goals.append(ratio_line("events | count: edrql", b.med("events | count: edrql"), 0.2, unit=" s"))
    if warm_res:
        goals.append(ratio_line("warm search: duckdb (in memory) / edrql", wd / we, 10.0, at_most=False))
    print()
    for g in goals:
        print(g)
    firsts = [(label, b.firsts[e], b.firsts[d]) for label, e, d in
              (("where + stats by", "stats: edrql", "stats: duckdb"),
               ("tree()", "tree: edrql", "tree: duckdb recursive CTE"))
              if e in b.firsts and d in b.firsts]
    if firsts:
        print("first runs, before edrql's caches of the case exist (no goal): " + "; ".join(
            f"{label} edrql {e.seconds:.2f} s, duckdb {d.seconds:.2f} s, edrql / duckdb {e.seconds / d.seconds:.2f}"
            for label, e, d in firsts))
    print()
    for k, ok in b.agree.items():
        print(f"answers agree, {k}: {'yes' if ok else 'NO'}")
    return goals


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", default=DEFAULT_CSV)
    ap.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows to generate if the CSV is missing")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", default=WORKDIR, help="where cases and the DuckDB file are made")
    ap.add_argument("--keep", action="store_true", help="keep the last case and the DuckDB file")
    ap.add_argument("--case", help="use this existing case: no ingest (its first search may not be its first)")
    ap.add_argument("--skip-ingest", action="store_true",
                    help="no ingest comparison: reuse a kept case (or ingest one, untimed) and DuckDB file")
    ap.add_argument("--edrql", metavar="CMD", help='the edrql command (default: the installed edrql), '
                    'e.g. "PYTHONPATH=/old python -m edrql"')
    ap.add_argument("--json", help="write the measurements here")
    ap.add_argument("--warm-child", nargs=5, metavar=("CASE", "DB", "CSV", "NEEDLE", "N"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.warm_child:
        return warm_child(*a.warm_child[:4], int(a.warm_child[4]))
    if importlib.util.find_spec("duckdb") is None:
        print("bench_contact.py needs duckdb: pip install duckdb (or pip install -e '.[bench]')", file=sys.stderr)
        return 2
    if a.repeat < 1:
        ap.error("--repeat must be at least 1")
    if a.case and not os.path.isdir(a.case):
        ap.error(f"--case {a.case}: no such folder")
    cmd, env = split_env(command(a.edrql))
    os.makedirs(a.workdir, exist_ok=True)
    meta = ensure_csv(a.csv, a.rows)
    nd = meta["needles"]
    needles = [(nd["cmdline"]["string"], nd["cmdline"]["rows"]),
               (nd["registry_only"]["string"], nd["registry_only"]["rows"])]
    info = machine_info()
    print_machine(info)
    ver = run_measured(cmd + ["--version"], env=env, check=False)
    print(f"edrql:   {' '.join(a.edrql.split()) if a.edrql else ' '.join(cmd)} ({ver.stdout.strip() or ver.stderr.strip()})")
    size_csv = os.path.getsize(a.csv)
    print(f"data:    {a.csv}: {size_csv / 1e9:.3f} GB, {meta['rows']:,} records; needles "
          f"{needles[0][0]!r} ({needles[0][1]} rows), {needles[1][0]!r} ({needles[1][1]} rows)")
    rg = shutil.which("rg")
    if not rg:
        print("rg (ripgrep) not found: the search lines have no rg peer (install: apt-get install ripgrep)")
    print(f"warm-up read of the CSV: {warm(a.csv):.2f} s; timed runs read it from the page cache")
    dbfile = os.path.join(a.workdir, "contact.duckdb")
    if not (a.case or a.skip_ingest) or not same_source(dbfile, a.csv):
        rm_db(dbfile)
    b = Bench(a.repeat)
    fresh = not (a.case or a.skip_ingest)
    t0 = time.perf_counter()
    created: list[str] = []
    try:
        case, after = prepare(b, a, cmd, env, needles, dbfile, rg, created)
        queries(b, cmd, env, case, dbfile, needles, a.csv, rg, fresh)
        w = run_measured([sys.executable, os.path.abspath(__file__), "--warm-child", case, dbfile,
                          a.csv, needles[0][0], str(max(5, a.repeat))], env=env)
        warm_res = json.loads(w.stdout)
        b.agree["warm search"] = all(warm_res[k]["count"] == needles[0][1]
                                     for k in ("edrql", "duckdb file", "duckdb memory"))
        end = sizes(case)
        goals = report(b, a, size_csv, tree_bytes(dbfile), after, end, warm_res, case in created)
        print(f"\nbench_contact: {time.perf_counter() - t0:.0f} s; load average now "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (only ratios of the same run mean much)")
        save_json(a.json, {"machine": info, "csv": a.csv, "bytes": size_csv, "repeat": a.repeat,
                           "runs": {k: [r.seconds for r in v] for k, v in b.runs.items()},
                           "peak_rss": {k: b.rss(k) for k in b.runs},
                           "firsts": {k: r.seconds for k, r in b.firsts.items()},
                           "sizes": {"after_ingest": after, "end": end, "duckdb_file": tree_bytes(dbfile)},
                           "warm": warm_res, "goals": goals, "agree": b.agree, "notes": b.notes})
    finally:
        if not a.keep:
            for p in created:
                if p == dbfile:
                    rm_db(p)
                else:
                    shutil.rmtree(p, ignore_errors=True)
    return 0 if all(b.agree.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
