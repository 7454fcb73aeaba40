#!/usr/bin/env python3
"""Ingest benchmark: `edrql ingest` vs DuckDB loading the same Defender CSV, in one run.

    python benchmarks/bench_ingest.py [--csv PATH] [--rows N] [--repeat 3] [--duckdb-file] [--json OUT]

Generates the export if it is missing (default /tmp/edrql-bench/defender_2m.csv, 2.2M rows,
~1.2 GB), reads it once so every timed run starts from the page cache, then alternates:

  edrql                    edrql ingest PATH --case /tmp/edrql-bench/case-<i> -q      (fresh case)
  duckdb read_csv          CREATE TABLE t AS SELECT * FROM read_csv('PATH')            (in memory)
  duckdb all_varchar       CREATE TABLE t AS SELECT * FROM read_csv('PATH', all_varchar=true)
  duckdb file (optional)   the typed load into an on-disk database file (--duckdb-file)

Every tool runs as a subprocess: wall time from spawn to exit (interpreter start and imports
included for both) and the child's own peak RSS from os.wait4. The order rotates each round and
dirty pages are flushed (sync) between runs, outside the timings. case-0 is kept for
bench_query.py; the other cases are removed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

from common import (DEFAULT_CSV, DEFAULT_ROWS, WORKDIR, edrql_cmd, ensure_csv, gib, machine_info, median,
                    print_machine, run_measured, save_json, table, warm)

DUCKDB_SCRIPT = r"""
import json, sys, time
import duckdb
path, mode, dbfile = sys.argv[1], sys.argv[2], sys.argv[3]
con = duckdb.connect(dbfile if dbfile != "-" else ":memory:")
con.execute("SET enable_progress_bar = false")
opts = ", all_varchar=true" if mode == "varchar" else ""
q = "CREATE TABLE t AS SELECT * FROM read_csv('" + path.replace("'", "''") + "'" + opts + ")"
t0 = time.perf_counter()
con.execute(q)
load = time.perf_counter() - t0
n = con.execute("SELECT count(*) FROM t").fetchone()[0]
con.close()
print(json.dumps({"load_seconds": load, "rows": n}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", default=DEFAULT_CSV)
    ap.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows to generate if the CSV is missing")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", default=WORKDIR)
    ap.add_argument("--duckdb-file", action="store_true", help="also time DuckDB loading into a database file")
    ap.add_argument("--keep-cases", action="store_true", help="keep case-1.. as well as case-0")
    ap.add_argument("--json", help="write the measurements here")
    args = ap.parse_args(argv)

    os.makedirs(args.workdir, exist_ok=True)
    meta = ensure_csv(args.csv, args.rows)
    size = os.path.getsize(args.csv)
    info = machine_info()
    print_machine(info)
    print(f"data:    {args.csv}: {size / 1e9:.3f} GB, {meta['rows']:,} records, {meta['hosts']} hosts, "
          f"{meta['time_range'][0]} .. {meta['time_range'][1]}")
    warm_s = warm(args.csv)
    print(f"warm-up read: {warm_s:.2f} s ({size / 1e6 / warm_s:,.0f} MB/s); timed runs read from the page cache")

    tools = ["edrql", "duckdb read_csv", "duckdb all_varchar"] + (["duckdb file"] if args.duckdb_file else [])
    runs: dict[str, list] = {t: [] for t in tools}
    inner: dict[str, list] = {t: [] for t in tools}
    edrql_rows = None
    for i in range(args.repeat):
        order = tools[i % len(tools):] + tools[:i % len(tools)]
        for tool in order:
            if tool == "edrql":
                case = os.path.join(args.workdir, f"case-{i}")
                shutil.rmtree(case, ignore_errors=True)
                os.sync()
                r = run_measured(edrql_cmd() + ["ingest", args.csv, "--case", case, "-q"])
                if edrql_rows is None:
                    inf = run_measured(edrql_cmd() + ["info", case, "--format", "json"])
                    man = json.loads(inf.stdout)
                    edrql_rows = {k: man["totals"].get(k) for k in ("records_read", "rows", "quarantined", "duplicates")}
            else:
                dbfile = "-"
                if tool == "duckdb file":
                    dbfile = os.path.join(args.workdir, "bench.duckdb")
                    for f in (dbfile, dbfile + ".wal"):
                        if os.path.exists(f):
                            os.remove(f)
                mode = "varchar" if tool == "duckdb all_varchar" else "typed"
                os.sync()
                r = run_measured([sys.executable, "-c", DUCKDB_SCRIPT, args.csv, mode, dbfile])
                out = json.loads(r.stdout)
                inner[tool].append(out["load_seconds"])
                if out["rows"] != meta["rows"]:
                    print(f"warning: {tool} loaded {out['rows']:,} rows, file has {meta['rows']:,}", file=sys.stderr)
            runs[tool].append(r)
            print(f"  round {i + 1}/{args.repeat}  {tool:<20} {r.seconds:7.2f} s  peak RSS {gib(r.peak_rss)}  "
                  f"cpu {r.user + r.system:6.1f} s", flush=True)
            os.sync()
        if i > 0 and not args.keep_cases:
            shutil.rmtree(os.path.join(args.workdir, f"case-{i}"), ignore_errors=True)
    for f in ("bench.duckdb", "bench.duckdb.wal"):
        p = os.path.join(args.workdir, f)
        if os.path.exists(p):
            os.remove(p)

    med = {t: median([r.seconds for r in runs[t]]) for t in tools}
    e = med["edrql"]
    rows = []
    for t in tools:
        rs = runs[t]
        rows.append([t, f"{med[t]:.2f}", f"{min(r.seconds for r in rs):.2f}", f"{size / 1e6 / med[t]:,.0f}",
                     gib(max(r.peak_rss for r in rs)), f"{median([r.user + r.system for r in rs]):.1f}",
                     f"{median(inner[t]):.2f}" if inner[t] else "-",
                     "1.00" if t == "edrql" else f"{med[t] / e:.2f}"])
    print()
    print(f"ingest of {size / 1e6:,.0f} MB, {meta['rows']:,} records, median of {args.repeat} "
          f"(wall time incl. interpreter start; 'load s' = DuckDB's CREATE TABLE alone)")
    print(table(rows, ["tool", "median s", "min s", "MB/s", "peak RSS", "cpu s", "load s",
                       "tool_time / edrql_time"]))
    print()
    for t in tools[1:]:
        ratio = med[t] / e
        print(f"ratio {t} / edrql = {ratio:.2f}  (goal >= 1.5: {'met' if ratio >= 1.5 else 'NOT met'})")
    if edrql_rows:
        print(f"edrql case-0: records read {edrql_rows['records_read']:,}, rows stored {edrql_rows['rows']:,}, "
              f"quarantined {edrql_rows['quarantined']:,}, duplicates {edrql_rows['duplicates']:,} "
              f"(file records {meta['rows']:,})")
    case0 = os.path.join(args.workdir, "case-0")
    du = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(case0) for f in fs)
    print(f"edrql case size on disk: {du / 1e9:.2f} GB ({case0})")
    save_json(args.json, {
        "machine": info, "csv": args.csv, "bytes": size, "records": meta["rows"], "repeat": args.repeat,
        "runs": {t: [{"seconds": r.seconds, "peak_rss": r.peak_rss, "user": r.user, "system": r.system}
                     for r in runs[t]] for t in tools},
        "duckdb_load_seconds": inner, "median_seconds": med,
        "ratios": {t: med[t] / e for t in tools[1:]}, "edrql_case": edrql_rows, "case_bytes": du,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
