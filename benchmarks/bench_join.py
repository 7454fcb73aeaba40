#!/usr/bin/env python3
"""Join benchmark: process starts joined with the network events of the same process,
edrql vs DuckDB on the same data, in the same run.

    python benchmarks/bench_join.py [--case DIR] [--csv PATH] [--runs 5] [--rounds 3] [--json OUT]

The workload (issue 12): every process start with the network connections its process
made — matched on host + process id + process creation time, so a reused PID does not
join the wrong process. Until the Defender-schema tables land, the query uses edrql's
normalized columns (for a process start: host, pid = the new process, pstart = its
creation time; for a network row: host, pid = the initiating process, pstart = its
creation time); on the Defender export these are DeviceName, ProcessId /
InitiatingProcessId and ProcessCreationTime / InitiatingProcessCreationTime.

  J1  … | join kind=inner (…) on host, pid, pstart | count
  J2  … | join kind=inner (…) on host, pid, pstart
        | summarize connections = count(), remotes = dcount(raddr) by name
        | sort by connections desc | take 20

Two comparisons, each with the same answer checked:

* whole process — a fresh process per run, spawn to exit: ``edrql CASE -c J --format csv``
  (reads its ingested Arrow case, memory-mapped) vs a Python process running DuckDB over
  (a) the export CSV itself (DuckDB parses 2M rows each run; edrql parsed them once at
  ingest) and (b) a Parquet copy of the CSV written once before timing (the closest
  peer of an ingested case). Rounds alternate the order of the tools.
* in process (warm) — edrql's execute_text over the case opened once vs DuckDB on an
  in-memory table of the same normalized columns (loaded from the case's Arrow table
  before timing); first run reported apart, then the median of --runs.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (DEFAULT_CSV, DEFAULT_ROWS, WORKDIR, edrql_cmd, ensure_case,  # noqa: E402
                    run_measured, save_json, table)

PROCS = 'events | where event == "process_start" | project host, pid, pstart, name'
NET = 'events | where event == "network_connect" | project host, pid, pstart, raddr'
JOIN = f"{PROCS}\n| join kind=inner ({NET}) on host, pid, pstart"
J1 = JOIN + "\n| count"
J2 = (JOIN + "\n| summarize connections = count(), remotes = dcount(raddr) by name"
      "\n| sort by connections desc | take 20")

NET_ACTIONS = None      # filled from the Defender profile (the ActionTypes edrql maps to network_connect)

SQL_CSV = """WITH p AS (SELECT DeviceName AS host, ProcessId AS pid, ProcessCreationTime AS pstart,
                  FileName AS name FROM {src} WHERE ActionType = 'ProcessCreated'),
n AS (SELECT DeviceName AS host, InitiatingProcessId AS pid, InitiatingProcessCreationTime AS pstart,
             RemoteIP AS raddr FROM {src} WHERE ActionType IN ({actions}))
SELECT {select} FROM p JOIN n USING (host, pid, pstart) {tail}"""
SQL_MEM = """WITH p AS (SELECT host, pid, pstart, name FROM ev WHERE event = 'process_start'),
n AS (SELECT host, pid, pstart, raddr FROM ev WHERE event = 'network_connect')
SELECT {select} FROM p JOIN n USING (host, pid, pstart) {tail}"""
SELECTS = {
    "J1": ("count(*) AS count", ""),
    "J2": ("lower(name) AS name, count(*) AS connections, count(DISTINCT raddr) AS remotes",
           "GROUP BY lower(name) ORDER BY connections DESC, name LIMIT 20"),
}

DUCK_SCRIPT = """
import duckdb, json, sys
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute("SET TimeZone = 'UTC'")
print(json.dumps(con.sql(sys.argv[1]).fetchall(), default=str))
"""


def _sql(template: str, name: str, **kw) -> str:
    sel, tail = SELECTS[name]
    return template.format(select=sel, tail=tail, **kw)


def _answer(name: str, rows):
    """Comparable form: J1 the count; J2 (lower name, connections, remotes) sorted."""
    if name == "J1":
        return int(rows[0][0])
    return sorted((str(r[0]).lower(), int(r[1]), int(r[2])) for r in rows)


def _edrql_rows(t):
    return [tuple(r.values()) for r in t.to_pylist()]


def whole_process(args, csv_path, parquet, rounds):
    out = {}
    for qname, text in (("J1", J1), ("J2", J2)):
        tools = {
            "edrql": edrql_cmd() + [args.case, "-c", text, "--format", "csv"],
            "duckdb csv": [sys.executable, "-c", DUCK_SCRIPT, _sql(
                SQL_CSV, qname, src=f"read_csv('{csv_path}')", actions=NET_ACTIONS)],
            "duckdb parquet": [sys.executable, "-c", DUCK_SCRIPT, _sql(
                SQL_CSV, qname, src=f"read_parquet('{parquet}')", actions=NET_ACTIONS)],
        }
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
                      "answer": answers["edrql"] if qname == "J1" else len(answers["edrql"])}
    return out


def in_process(args, runs):
    import duckdb

    from edrql.query import execute_text, make_context
    from edrql.store import Case
    case = Case.open(args.case)
    ev = case.events
    ctx = make_context(case)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.register("ev_arrow", ev.select(["host", "event", "pid", "pstart", "name", "raddr"]))
    t0 = time.perf_counter()
    con.execute("CREATE TABLE ev AS SELECT * FROM ev_arrow")
    load = time.perf_counter() - t0
    con.unregister("ev_arrow")
    out = {"duckdb_load_s": load, "rows": ev.num_rows}
    for qname, text in (("J1", J1), ("J2", J2)):
        sql = _sql(SQL_MEM, qname)
        engines = {"edrql": lambda: _edrql_rows(execute_text(ctx, text)[-1].table),
                   "duckdb": lambda: con.sql(sql).fetchall()}
        res = {}
        for e, fn in engines.items():
            t0 = time.perf_counter()
            rows = fn()
            first = time.perf_counter() - t0
            res[e] = {"first": first, "times": [], "answer": _answer(qname, rows)}
        for _ in range(runs):           # alternate, so drift hits both alike
            for e, fn in engines.items():
                t0 = time.perf_counter()
                fn()
                res[e]["times"].append(time.perf_counter() - t0)
        same = res["edrql"]["answer"] == res["duckdb"]["answer"]
        out[qname] = {e: {"first": r["first"], "times": r["times"]} for e, r in res.items()}
        out[qname]["same_answer"] = same
    return out


def main(argv=None) -> int:
    global NET_ACTIONS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", default=os.path.join(WORKDIR, "case-0"))
    ap.add_argument("--csv", default=DEFAULT_CSV)
    ap.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows to generate if the CSV is missing")
    ap.add_argument("--runs", type=int, default=5, help="warm runs in process")
    ap.add_argument("--rounds", type=int, default=3, help="whole-process runs per tool")
    ap.add_argument("--json", help="write the measurements here")
    args = ap.parse_args(argv)

    from edrql.profiles.mde import EVENTS
    NET_ACTIONS = ", ".join(f"'{k}'" for k, v in EVENTS.items() if v == "network_connect")

    info = ensure_case(args.csv, args.case, args.rows)
    parquet = os.path.splitext(args.csv)[0] + ".parquet"
    if not os.path.exists(parquet):
        import duckdb
        t0 = time.perf_counter()
        duckdb.sql(f"COPY (SELECT * FROM read_csv('{args.csv}')) TO '{parquet}' (FORMAT parquet)")
        print(f"wrote {parquet} in {time.perf_counter() - t0:.1f} s (not timed below)")
    print(f"J2:\n  {J2.replace(chr(10), chr(10) + '  ')}\n")

    # whole-process runs first: a child forked from a parent that holds the case and
    # DuckDB's table would report the parent's pages as its peak RSS
    whole = whole_process(args, args.csv, parquet, args.rounds)
    warm = in_process(args, args.runs)
    med = statistics.median
    print(f"in process (warm): {warm['rows']:,} events; DuckDB table loaded in "
          f"{warm['duckdb_load_s']:.2f} s (not counted)")
    rows = []
    for q in ("J1", "J2"):
        e, d = warm[q]["edrql"], warm[q]["duckdb"]
        rows.append([q, f"{e['first']:.3f}", f"{med(e['times']):.3f}", f"{d['first']:.3f}",
                     f"{med(d['times']):.3f}", f"{med(e['times']) / med(d['times']):.2f}x",
                     "yes" if warm[q]["same_answer"] else "NO"])
    print(table(rows, ["query", "edrql first s", "edrql median s", "duckdb first s",
                       "duckdb median s", "edrql/duckdb", "same answer"]))

    print(f"\nwhole process (spawn → exit, median of {args.rounds}; peak RSS):")
    rows = []
    for q in ("J1", "J2"):
        w = whole[q]
        e = med(w["times"]["edrql"])
        for t in ("edrql", "duckdb csv", "duckdb parquet"):
            m = med(w["times"][t])
            rows.append([q, t, f"{m:.2f}", f"{max(w['rss'][t]) / 2**20:,.0f} MiB",
                         f"{e / m:.2f}x" if t != "edrql" else "", "yes" if w["same_answer"] else "NO"])
    print(table(rows, ["query", "tool", "median s", "peak RSS", "edrql/tool", "same answer"]))
    save_json(args.json, {"machine": info, "in_process": warm, "whole_process": whole})
    return 0


if __name__ == "__main__":
    sys.exit(main())
