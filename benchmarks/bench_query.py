#!/usr/bin/env python3
"""Query benchmark: edrql in-process vs DuckDB on the same data, in one run.

    python benchmarks/bench_query.py [--case DIR] [--csv PATH] [--repeat 7] [--json OUT]

Two queries, each timed as the median of --repeat executions after one untimed-but-reported
first execution:

  Q1  events | where event == "process_start" and cmdline contains "powershell"
             | stats count() as n, dcount(host) as hosts by name | sort by n desc
  Q2  events | where ts between ("<day 2 00:00>" .. "<day 2 12:00>") | stats count() by event, host

Engines:
  edrql            edrql.query.execute_text on a case opened once (open time reported apart)
  duckdb csv       the same query in SQL over a DuckDB table loaded from the CSV (load not timed)
  duckdb arrow     the same SQL over the case's Arrow table registered in DuckDB (zero-copy scan)

--profile adds a cProfile of one edrql execution of each query.

The case defaults to /tmp/edrql-bench/case-0 (left by bench_ingest.py); it is ingested if missing.
Results are compared: same names/keys and counts, or the run says so.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import time

from common import DEFAULT_CSV, DEFAULT_ROWS, WORKDIR, ensure_case, median, save_json, table

Q1 = ('events | where event == "process_start" and cmdline contains "powershell" '
      '| stats count() as n, dcount(host) as hosts by name | sort by n desc')
Q2 = 'events | where ts between ("{lo}" .. "{hi}") | stats count() by event, host'

SQL1_CSV = """SELECT FileName AS name, count(*) AS n, count(DISTINCT DeviceName) AS hosts FROM t
WHERE ActionType = 'ProcessCreated' AND ProcessCommandLine ILIKE '%powershell%'
GROUP BY FileName ORDER BY n DESC"""
SQL1_ARROW = """SELECT name, count(*) AS n, count(DISTINCT host) AS hosts FROM ev
WHERE event = 'process_start' AND cmdline ILIKE '%powershell%'
GROUP BY name ORDER BY n DESC"""
SQL2_CSV = """SELECT {event_case} AS event, DeviceName AS host, count(*) AS count FROM t
WHERE "Timestamp" BETWEEN TIMESTAMPTZ '{lo}' AND TIMESTAMPTZ '{hi}' GROUP BY ALL"""
SQL2_ARROW = """SELECT event, host, count(*) AS count FROM ev
WHERE ts BETWEEN TIMESTAMPTZ '{lo}' AND TIMESTAMPTZ '{hi}' GROUP BY ALL"""


def timed(fn, repeat: int):
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return first, times, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", default=os.path.join(WORKDIR, "case-0"))
    ap.add_argument("--csv", default=DEFAULT_CSV)
    ap.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows to generate if the CSV is missing")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", help="write the measurements here")
    ap.add_argument("--profile", action="store_true", help="also cProfile one edrql execution of each query")
    args = ap.parse_args(argv)

    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc

    from edrql.profiles.mde import EVENTS
    from edrql.query import execute_text, make_context
    from edrql.store import Case

    info = ensure_case(args.csv, args.case, args.rows)

    # ---- edrql: open once
    t0 = time.perf_counter()
    case = Case.open(args.case)
    t_manifest = time.perf_counter() - t0
    ev = case.events            # memory-maps the segments
    ctx = make_context(case)
    t_open = time.perf_counter() - t0
    print(f"case:    {args.case}: {ev.num_rows:,} rows, {ev.num_columns} columns; "
          f"open {t_open * 1000:.0f} ms (manifest {t_manifest * 1000:.0f} ms, memory-map + concat of segments "
          f"{(t_open - t_manifest) * 1000:.0f} ms)")

    tsi = pc.cast(ev["ts"], pa.int64())
    first_day = dt.datetime.fromtimestamp(pc.min(tsi).as_py() // 10**9, dt.timezone.utc).date()
    day2 = first_day + dt.timedelta(days=1)
    lo, hi = f"{day2}T00:00:00Z", f"{day2}T12:00:00Z"
    q2 = Q2.format(lo=lo, hi=hi)

    def run_edrql(text):
        return lambda: execute_text(ctx, text)[-1].table

    # ---- DuckDB
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'UTC'")
    t0 = time.perf_counter()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{args.csv}')")
    t_load = time.perf_counter() - t0
    con.register("ev", ev)
    threads = con.sql("SELECT current_setting('threads')").fetchall()[0][0]
    print(f"duckdb:  CSV → table in {t_load:.2f} s (not counted); case Arrow table registered as a view "
          f"(threads {threads})")
    event_case = "CASE ActionType " + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in EVENTS.items()) + \
        " ELSE 'other' END"

    def run_sql(sql):
        return lambda: con.sql(sql).to_arrow_table()

    queries = {
        "Q1 filter+stats": (Q1, SQL1_CSV, SQL1_ARROW, ["name"]),
        "Q2 time range+stats": (q2, SQL2_CSV.format(event_case=event_case, lo=lo.replace("T", " ").rstrip("Z") + "+00",
                                                   hi=hi.replace("T", " ").rstrip("Z") + "+00"),
                                SQL2_ARROW.format(lo=lo.replace("T", " ").rstrip("Z") + "+00",
                                                  hi=hi.replace("T", " ").rstrip("Z") + "+00"), ["event", "host"]),
    }
    results = {}
    rows = []
    for qname, (text, sql_csv, sql_arrow, keys) in queries.items():
        print(f"\n{qname}: {text}")
        measured = {}
        # alternate engines in rounds so drift (another process on the box) hits all of them alike
        engines = {"edrql": run_edrql(text), "duckdb csv": run_sql(sql_csv), "duckdb arrow": run_sql(sql_arrow)}
        firsts, times, outs = {}, {e: [] for e in engines}, {}
        for e, fn in engines.items():
            t0 = time.perf_counter()
            outs[e] = fn()
            firsts[e] = time.perf_counter() - t0
        for _ in range(args.repeat):
            for e, fn in engines.items():
                t0 = time.perf_counter()
                outs[e] = fn()
                times[e].append(time.perf_counter() - t0)
        # agreement
        norm = {}
        for e, tb in outs.items():
            d = tb.to_pylist()
            valcols = [c for c in tb.column_names if c not in keys]
            norm[e] = {tuple(r[k] for k in keys): tuple(r[c] for c in valcols) for r in d}
        agree = all(norm[e] == norm["edrql"] for e in norm)
        if not agree:
            for e in norm:
                if norm[e] != norm["edrql"]:
                    diff = set(norm[e].items()) ^ set(norm["edrql"].items())
                    print(f"  MISMATCH edrql vs {e}: {len(diff)} differing groups, e.g. {sorted(diff)[:4]}")
        nrows = outs["edrql"].num_rows
        med_e = median(times["edrql"])
        for e in engines:
            m = median(times[e])
            measured[e] = {"first": firsts[e], "times": times[e], "median": m}
            rows.append([qname, e, f"{firsts[e] * 1000:,.0f}", f"{m * 1000:,.0f}", f"{min(times[e]) * 1000:,.0f}",
                         "1.00" if e == "edrql" else f"{m / med_e:.2f}"])
        print(f"  result: {nrows} groups; engines agree: {'yes' if agree else 'NO'}")
        if qname.startswith("Q1"):
            top = outs["edrql"].slice(0, 5).to_pylist()
            print("  top: " + ", ".join(f"{r['name']} n={r['n']} hosts={r['hosts']}" for r in top))
        results[qname] = {"text": text, "sql_csv": sql_csv, "sql_arrow": sql_arrow, "groups": nrows,
                          "agree": agree, "engines": measured}

    print(f"\nmedian of {args.repeat} runs after a first run (ms); ratio = engine / edrql "
          f"(goal: duckdb / edrql >= 1.0, i.e. edrql not slower)")
    print(table(rows, ["query", "engine", "first ms", "median ms", "min ms", "engine / edrql"]))
    print()
    for qname, r in results.items():
        e = r["engines"]["edrql"]["median"]
        for eng in ("duckdb csv", "duckdb arrow"):
            ratio = r["engines"][eng]["median"] / e
            rmin = min(r["engines"][eng]["times"]) / min(r["engines"]["edrql"]["times"])
            print(f"{qname}: {eng} / edrql = {ratio:.2f} on medians, {rmin:.2f} on best runs  "
                  f"({'edrql not slower' if ratio >= 1 else 'edrql SLOWER'})")
    if args.profile:
        import cProfile
        import io
        import pstats
        for qname, (text, *_rest) in queries.items():
            pr = cProfile.Profile()
            pr.enable()
            execute_text(ctx, text)
            pr.disable()
            buf = io.StringIO()
            pstats.Stats(pr, stream=buf).sort_stats("cumulative").print_stats(25)
            print(f"\ncProfile of one edrql execution of {qname}, top 25 by cumulative time")
            print("\n".join(line for line in buf.getvalue().splitlines() if line.strip()))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"peak RSS of this process (edrql case + DuckDB table + both engines): {rss / 2**30:.2f} GiB")
    save_json(args.json, {"machine": info, "case": args.case, "open_seconds": t_open, "duckdb_load_seconds": t_load,
                          "day2": [lo, hi], "queries": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
