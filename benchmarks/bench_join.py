#!/usr/bin/env python3
"""Join benchmark: process starts joined with the network events of the same process,
edrql vs DuckDB on the same data, in the same run.

    python benchmarks/bench_join.py [--case DIR] [--csv PATH] [--runs 5] [--rounds 3]
        [--queries D1,D2,N1,N2] [--no-csv] [--json OUT]

The workload (issue 12): every process start with the network connections its process
made — matched on the device, the process id and the process creation time, so a reused
PID does not join the wrong process. Two forms of the same question:

  D1  the issue's form, as an analyst pastes it, over the Defender-schema tables:
      DeviceProcessEvents | project DeviceId, ProcessId, ProcessCreationTime, FileName
      | join kind=inner (DeviceNetworkEvents | project DeviceId, InitiatingProcessId,
          InitiatingProcessCreationTime, RemoteIP)
        on DeviceId, $left.ProcessId == $right.InitiatingProcessId,
           $left.ProcessCreationTime == $right.InitiatingProcessCreationTime
      | count
  D2  the same join | summarize connections = count(), remotes = dcount(RemoteIP)
      by FileName | sort by connections desc | take 20
  N1, N2  the same over edrql's normalized columns (events | where event == … | project
      host, pid, pstart, …; the first benchmark's form).

DuckDB runs the equivalent SQL: for D*, Defender's own columns (ActionType
'ProcessCreated' joined with the ActionTypes edrql puts in DeviceNetworkEvents); for N*,
the normalized columns. Same answers checked (D2/N2 as lower-cased names, as edrql groups
names).

* whole process — a fresh process per run, spawn to exit: ``python -m edrql CASE -c Q
  --format csv`` (its ingested Arrow case, memory-mapped) vs a Python process running DuckDB
  over (a) the export CSV itself (DuckDB parses 2M rows each run; edrql parsed them once at
  ingest) and (b) a Parquet copy of the CSV written once before timing (the closest peer of
  an ingested case). Rounds alternate the order of the tools. Before timing, edrql's
  bytecode is compiled (an installed edrql has it; PYTHONDONTWRITEBYTECODE would otherwise
  make every start compile it) and one query makes the case's derived files (lineage, text
  encodings), as any earlier query would have.
* in process — DuckDB on in-memory tables loaded before timing (D*: Defender's typed
  columns from the Parquet copy; N*: the normalized columns from the case's Arrow table).
  edrql three ways: ``first`` (the process's first query), ``warm`` (again in the same
  Context: a REPL re-run, the Context's memo of built Device* columns included — the peer
  of DuckDB's pre-loaded table) and ``cold`` (each run a freshly opened case and a new
  Context: the Device* tables built from the raw columns every time).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (DEFAULT_CSV, DEFAULT_ROWS, WORKDIR, ensure_case,  # noqa: E402
                    run_measured, save_json, table)

# ---- the form, as an analyst pastes it: Defender-schema tables
DEV_JOIN = """DeviceProcessEvents
| project DeviceId, ProcessId, ProcessCreationTime, FileName
| join kind=inner (DeviceNetworkEvents
    | project DeviceId, InitiatingProcessId, InitiatingProcessCreationTime, RemoteIP)
  on DeviceId, $left.ProcessId == $right.InitiatingProcessId,
     $left.ProcessCreationTime == $right.InitiatingProcessCreationTime"""
# ---- the same question over edrql's normalized columns (the first benchmark's form)
PROCS = 'events | where event == "process_start" | project host, pid, pstart, name'
NET = 'events | where event == "network_connect" | project host, pid, pstart, raddr'
NORM_JOIN = f"{PROCS}\n| join kind=inner ({NET}) on host, pid, pstart"

QUERIES = {
    "D1": DEV_JOIN + "\n| count",
    "D2": DEV_JOIN + "\n| summarize connections = count(), remotes = dcount(RemoteIP) by FileName"
                     "\n| sort by connections desc | take 20",
    "N1": NORM_JOIN + "\n| count",
    "N2": NORM_JOIN + "\n| summarize connections = count(), remotes = dcount(raddr) by name"
                      "\n| sort by connections desc | take 20",
}

NET_ACTIONS = None      # filled from the Defender profile (the ActionTypes edrql maps to network_connect)
DEV_NET_ACTIONS = None  # … and those of DeviceNetworkEvents (connections, accepts, DNS, HTTP)

#: Defender's columns, as DuckDB reads them from the export (CSV, Parquet) or its own table
SQL_DEV = """WITH p AS (SELECT DeviceId, ProcessId, ProcessCreationTime, FileName FROM {src}
                  WHERE ActionType = 'ProcessCreated'),
n AS (SELECT DeviceId, InitiatingProcessId, InitiatingProcessCreationTime, RemoteIP FROM {src}
      WHERE ActionType IN ({dev_actions}))
SELECT {select} FROM p JOIN n ON p.DeviceId = n.DeviceId AND p.ProcessId = n.InitiatingProcessId
  AND p.ProcessCreationTime = n.InitiatingProcessCreationTime {tail}"""
SQL_NORM_FILE = """WITH p AS (SELECT DeviceName AS host, ProcessId AS pid, ProcessCreationTime AS pstart,
                  FileName AS name FROM {src} WHERE ActionType = 'ProcessCreated'),
n AS (SELECT DeviceName AS host, InitiatingProcessId AS pid, InitiatingProcessCreationTime AS pstart,
             RemoteIP AS raddr FROM {src} WHERE ActionType IN ({actions}))
SELECT {select} FROM p JOIN n USING (host, pid, pstart) {tail}"""
SQL_NORM_MEM = """WITH p AS (SELECT host, pid, pstart, name FROM ev WHERE event = 'process_start'),
n AS (SELECT host, pid, pstart, raddr FROM ev WHERE event = 'network_connect')
SELECT {select} FROM p JOIN n USING (host, pid, pstart) {tail}"""
SELECTS = {
    "D1": ("count(*) AS count", ""),
    "D2": ("lower(FileName) AS name, count(*) AS connections, count(DISTINCT RemoteIP) AS remotes",
           "GROUP BY lower(FileName) ORDER BY connections DESC, name LIMIT 20"),
    "N1": ("count(*) AS count", ""),
    "N2": ("lower(name) AS name, count(*) AS connections, count(DISTINCT raddr) AS remotes",
           "GROUP BY lower(name) ORDER BY connections DESC, name LIMIT 20"),
}
#: the Defender columns DuckDB's in-memory table holds (loaded before timing)
DEV_COLUMNS = ["DeviceId", "ActionType", "ProcessId", "ProcessCreationTime", "FileName",
               "InitiatingProcessId", "InitiatingProcessCreationTime", "RemoteIP"]

DUCK_SCRIPT = """
import duckdb, json, sys
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute("SET TimeZone = 'UTC'")
print(json.dumps(con.sql(sys.argv[1]).fetchall(), default=str))
"""


def _sql(name: str, src: str | None = None) -> str:
    """DuckDB's SQL of a query; src None: its in-memory tables (dev, ev)."""
    sel, tail = SELECTS[name]
    if name.startswith("D"):
        return SQL_DEV.format(select=sel, tail=tail, src=src or "dev", dev_actions=DEV_NET_ACTIONS)
    if src is None:
        return SQL_NORM_MEM.format(select=sel, tail=tail)
    return SQL_NORM_FILE.format(select=sel, tail=tail, src=src, actions=NET_ACTIONS)


def _answer(name: str, rows):
    """Comparable form: *1 the count; *2 (lower name, connections, remotes) sorted."""
    if name.endswith("1"):
        return int(rows[0][0])
    return sorted((str(r[0]).lower(), int(r[1]), int(r[2])) for r in rows)


def _edrql_rows(t):
    return [tuple(r.values()) for r in t.to_pylist()]


def _edrql_cmd() -> list[str]:
    # the interpreter running the benchmark (so PYTHONPATH picks the edrql measured)
    return [sys.executable, "-m", "edrql"]


def whole_process(args, csv_path, parquet, rounds, queries):
    out = {}
    for qname in queries:
        text = QUERIES[qname]
        tools = {
            "edrql": _edrql_cmd() + [args.case, "-c", text, "--format", "csv"],
            "duckdb parquet": [sys.executable, "-c", DUCK_SCRIPT,
                               _sql(qname, f"read_parquet('{parquet}')")],
        }
        if not args.no_csv:
            tools["duckdb csv"] = [sys.executable, "-c", DUCK_SCRIPT,
                                   _sql(qname, f"read_csv('{csv_path}')")]
        times = {t: [] for t in tools}
        rss = {t: [] for t in tools}
        answers = {}
        names = list(tools)
        for r in range(rounds):
            order = names if r % 2 == 0 else names[::-1]
            for t in order:
                run = run_measured(tools[t])
                times[t].append(run.seconds)
                rss[t].append(run.peak_rss)
                if t == "edrql":
                    import csv
                    import io
                    rows = list(csv.reader(io.StringIO(run.stdout)))[1:]
                    answers[t] = _answer(qname, rows)
                else:
                    answers[t] = _answer(qname, json.loads(run.stdout))
        same = len({json.dumps(a) for a in answers.values()}) == 1
        out[qname] = {"times": times, "rss": rss, "same_answer": same,
                      "answer": answers["edrql"] if qname.endswith("1") else len(answers["edrql"])}
    return out


def in_process(args, runs, parquet, queries):
    """edrql three ways: ``first`` (the first query of the process: fresh case, fresh
    context), ``warm`` (again in the same Context: what a REPL re-run costs, per-Context
    memos included) and ``cold`` (each run on a freshly opened case and a new Context, the
    case's segments already mapped: the query's own work with nothing remembered)."""
    import duckdb

    from edrql.query import execute_text, make_context
    from edrql.store import Case
    case = Case.open(args.case)
    ev = case.events
    ctx = make_context(case)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'UTC'")
    con.register("ev_arrow", ev.select(["host", "event", "pid", "pstart", "name", "raddr"]))
    t0 = time.perf_counter()
    con.execute("CREATE TABLE ev AS SELECT * FROM ev_arrow")
    con.execute(f"CREATE TABLE dev AS SELECT {', '.join(DEV_COLUMNS)} FROM read_parquet('{parquet}')")
    load = time.perf_counter() - t0
    con.unregister("ev_arrow")
    out = {"duckdb_load_s": load, "rows": ev.num_rows}

    def fresh():
        c = Case.open(args.case)
        c.events                        # mapped before timing (opening is timed whole-process)
        return c

    for qname in queries:
        text = QUERIES[qname]
        sql = _sql(qname)
        cold_cases = [fresh() for _ in range(runs)]
        engines = {"edrql": lambda: _edrql_rows(execute_text(ctx, text)[-1].table),
                   "edrql cold": lambda: _edrql_rows(execute_text(make_context(cold_cases.pop()),
                                                                  text)[-1].table),
                   "duckdb": lambda: con.sql(sql).fetchall()}
        res = {}
        for e, fn in engines.items():
            if e == "edrql cold":
                res[e] = {"first": None, "times": [], "answer": None}
                continue
            t0 = time.perf_counter()
            rows = fn()
            first = time.perf_counter() - t0
            res[e] = {"first": first, "times": [], "answer": _answer(qname, rows)}
        for _ in range(runs):           # alternate, so drift hits both alike
            for e, fn in engines.items():
                t0 = time.perf_counter()
                rows = fn()
                res[e]["times"].append(time.perf_counter() - t0)
                if res[e]["answer"] is None:
                    res[e]["answer"] = _answer(qname, rows)
        same = len({json.dumps(r["answer"]) for r in res.values()}) == 1
        out[qname] = {e: {"first": r["first"], "times": r["times"]} for e, r in res.items()}
        out[qname]["same_answer"] = same
        out[qname]["answer"] = res["duckdb"]["answer"] if qname.endswith("1") else \
            len(res["duckdb"]["answer"])
    return out


def main(argv=None) -> int:
    global NET_ACTIONS, DEV_NET_ACTIONS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", default=os.path.join(WORKDIR, "case-0"))
    ap.add_argument("--csv", default=DEFAULT_CSV)
    ap.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows to generate if the CSV is missing")
    ap.add_argument("--runs", type=int, default=5, help="warm runs in process")
    ap.add_argument("--rounds", type=int, default=3, help="whole-process runs per tool")
    ap.add_argument("--queries", default="D1,D2,N1,N2", help="which of " + ", ".join(QUERIES))
    ap.add_argument("--no-csv", action="store_true", help="leave out DuckDB over the CSV")
    ap.add_argument("--json", help="write the measurements here")
    args = ap.parse_args(argv)
    queries = [q.strip() for q in args.queries.split(",") if q.strip()]

    from edrql.profiles.mde import EVENTS
    NET_ACTIONS = ", ".join(f"'{k}'" for k, v in EVENTS.items() if v == "network_connect")
    DEV_NET_ACTIONS = ", ".join(f"'{k}'" for k, v in EVENTS.items() if v in (
        "network_connect", "network_accept", "dns_query", "http"))

    info = ensure_case(args.csv, args.case, args.rows)
    import compileall

    import edrql
    # an installed edrql has its bytecode; with PYTHONDONTWRITEBYTECODE set every start would
    # compile edrql's sources again (~0.1 s): compile them once, before timing
    compileall.compile_dir(os.path.dirname(edrql.__file__), quiet=1)
    print(f"edrql measured: {os.path.dirname(edrql.__file__)}; load before: {os.getloadavg()}")
    # the case's derived files (lineage, text encodings) are made by the first query that
    # needs them and kept in CASE/derived: make them before timing, as any earlier query would
    run_measured(_edrql_cmd() + [args.case, "-c", QUERIES["D2"], "--format", "csv"])
    parquet = os.path.splitext(args.csv)[0] + ".parquet"
    if not os.path.exists(parquet):
        import duckdb
        t0 = time.perf_counter()
        duckdb.sql(f"COPY (SELECT * FROM read_csv('{args.csv}')) TO '{parquet}' (FORMAT parquet)")
        print(f"wrote {parquet} in {time.perf_counter() - t0:.1f} s (not timed below)")
    print(f"D1:\n  {QUERIES['D1'].replace(chr(10), chr(10) + '  ')}\n")

    # whole-process runs first: a child forked from a parent that holds the case and
    # DuckDB's table would report the parent's pages as its peak RSS
    whole = whole_process(args, args.csv, parquet, args.rounds, queries)
    warm = in_process(args, args.runs, parquet, queries)
    med = statistics.median
    print(f"in process: {warm['rows']:,} events; DuckDB tables loaded in "
          f"{warm['duckdb_load_s']:.2f} s (not counted)")
    rows = []
    for q in queries:
        e, c, d = warm[q]["edrql"], warm[q]["edrql cold"], warm[q]["duckdb"]
        rows.append([q, f"{e['first']:.3f}", f"{med(e['times']):.3f}", f"{med(c['times']):.3f}",
                     f"{med(d['times']):.3f}", f"{med(e['times']) / med(d['times']):.2f}x",
                     f"{med(c['times']) / med(d['times']):.2f}x",
                     "yes" if warm[q]["same_answer"] else "NO", warm[q]["answer"]])
    print(table(rows, ["query", "edrql first s", "edrql warm s", "edrql cold s",
                       "duckdb median s", "warm/duckdb", "cold/duckdb", "same answer", "answer"]))

    print(f"\nwhole process (spawn → exit, median of {args.rounds}; peak RSS):")
    rows = []
    for q in queries:
        w = whole[q]
        e = med(w["times"]["edrql"])
        for t in w["times"]:
            m = med(w["times"][t])
            rows.append([q, t, f"{m:.2f}", f"{max(w['rss'][t]) / 2**20:,.0f} MiB",
                         f"{e / m:.2f}x" if t != "edrql" else "", "yes" if w["same_answer"] else "NO",
                         " ".join(f"{x:.2f}" for x in w["times"][t])])
    print(table(rows, ["query", "tool", "median s", "peak RSS", "edrql/tool", "same answer", "runs"]))
    print(f"load after: {os.getloadavg()}")
    save_json(args.json, {"machine": info, "in_process": warm, "whole_process": whole})
    return 0


if __name__ == "__main__":
    sys.exit(main())
