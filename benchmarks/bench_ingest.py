#!/usr/bin/env python3
"""Ingest benchmark: `edrql ingest` vs DuckDB loading the same Defender CSV, in one run.

    python benchmarks/bench_ingest.py [--csv PATH] [--rows N] [--repeat 3] [--duckdb-file] [--json OUT]
                                      [--tree NAME=DIR ...]

Generates the export if it is missing (default /tmp/edrql-bench/defender_2m.csv, 2.2M rows,
~1.2 GB), reads it once so every timed run starts from the page cache, then alternates:

  edrql                    edrql ingest PATH --case /tmp/edrql-bench/case-<i> -q      (fresh case)
  duckdb read_csv          CREATE TABLE t AS SELECT * FROM read_csv('PATH')            (in memory)
  duckdb all_varchar       CREATE TABLE t AS SELECT * FROM read_csv('PATH', all_varchar=true)
  duckdb file (optional)   the typed load into an on-disk database file (--duckdb-file)
  edrql@NAME (optional)    the same ingest by the edrql source tree DIR (--tree NAME=DIR, repeatable:
                           old code beside the new in one run, e.g. `git archive main | tar -x -C DIR`)

--phases times edrql's ingest stages in-process on the same file (wrapping pyarrow's CSV
parser and edrql's read / normalize / build / dedup keys / write / commit / sha256 functions;
the file hash runs in a thread beside the parse); --profile N runs cProfile on an N-row export.
--only-phases / --only-profile skip the comparison.

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


TREE_SCRIPT = "import sys; from edrql.fastexit import main; sys.argv[0] = 'edrql'; sys.exit(main())"


def phases(csv_path: str, case_dir: str) -> dict:
    """Where edrql's ingest spends its time: wall seconds per stage, peak RSS after each."""
    import resource
    import time
    from collections import defaultdict

    import pyarrow.csv as pcsv

    import edrql.ingest as ing
    import edrql.ingestsource as isrc
    import edrql.readers.base as rb
    import edrql.store as st
    from edrql.profiles import mde

    secs: dict[str, float] = defaultdict(float)
    rss: dict[str, int] = {}
    order: list[str] = []

    def wrap(obj, name, label):
        orig = getattr(obj, name)

        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return orig(*a, **k)
            finally:
                secs[label] += time.perf_counter() - t0
                rss[label] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
                if label not in order:
                    order.append(label)
        setattr(obj, name, timed)
        return orig

    # (normalize / build / encode run on two threads per block: their sums can exceed the wall time)
    saved = [(pcsv, "open_csv", wrap(pcsv, "open_csv", "csv parse (pyarrow read_csv)")),
             (ing, "prepare", wrap(ing, "prepare", "read + normalize + encode, by block (prepare)")),
             (mde._MDE, "normalize", wrap(mde._MDE, "normalize", "normalize (mde profile)")),
             (isrc, "build", wrap(isrc, "build", "build store table (normalized + raw.*)")),
             (ing, "record_keys", wrap(ing, "record_keys", "dedup keys (record_keys)")),
             (st.Case, "write_segment", wrap(st.Case, "write_segment", "write segment (Arrow IPC)")),
             (st, "census", wrap(st, "census", "census (per-host summary)")),
             (st.Case, "commit", wrap(st.Case, "commit", "commit (census + manifest + cleanup)")),
             (rb.Input, "sha256", wrap(rb.Input, "sha256", "sha256 of the file (thread, overlaps parse)")),
             (ing, "_one", wrap(ing, "_one", "source pipeline (_one)"))]
    try:
        shutil.rmtree(case_dir, ignore_errors=True)
        t0 = time.perf_counter()
        case = st.Case.create_or_open(case_dir)
        report = ing.ingest([csv_path], case, ing.Options())
        total = time.perf_counter() - t0
    finally:
        for obj, name, orig in saved:
            setattr(obj, name, orig)
    one = secs["source pipeline (_one)"]
    inner = sum(secs[k] for k in ("read + normalize + encode, by block (prepare)", "dedup keys (record_keys)",
                                  "write segment (Arrow IPC)"))
    secs["dedup rest (group_by / is_in / filter) + accounting"] = one - inner
    rows = []
    for label in ["csv parse (pyarrow read_csv)", "read + normalize + encode, by block (prepare)", "normalize (mde profile)",
                  "build store table (normalized + raw.*)", "dedup keys (record_keys)",
                  "dedup rest (group_by / is_in / filter) + accounting", "write segment (Arrow IPC)",
                  "source pipeline (_one)", "sha256 of the file (thread, overlaps parse)",
                  "commit (census + manifest + cleanup)", "census (per-host summary)"]:
        indent = "  " if label.startswith(("csv parse", "census (", "normalize (", "build store")) else ""
        rows.append([indent + label, f"{secs[label]:.2f}", f"{100 * secs[label] / total:.0f}%",
                     gib(rss[label]) if label in rss else "-"])
    rows.append(["total ingest() in-process", f"{total:.2f}", "100%",
                 gib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)])
    print(f"\nedrql ingest phases, in-process, {csv_path} ({report.sources[0]['rows_stored']:,} rows stored)")
    print(table(rows, ["phase", "seconds", "of total", "peak RSS so far"]))
    shutil.rmtree(case_dir, ignore_errors=True)
    return {"total": total, "seconds": dict(secs)}


def profile(rows: int, workdir: str, top: int = 30) -> None:
    import cProfile
    import io
    import pstats

    from edrql.ingest import Options, ingest
    from edrql.store import Case

    path = os.path.join(workdir, f"defender_{rows // 1000}k.csv")
    ensure_csv(path, rows)
    case_dir = os.path.join(workdir, "case-profile")
    shutil.rmtree(case_dir, ignore_errors=True)
    pr = cProfile.Profile()
    pr.enable()
    ingest([path], Case.create_or_open(case_dir), Options())
    pr.disable()
    buf = io.StringIO()
    pstats.Stats(pr, stream=buf).sort_stats("cumulative").print_stats(top)
    print(f"\ncProfile of edrql ingest on {path} ({rows:,} rows), top {top} by cumulative time")
    print("\n".join(line for line in buf.getvalue().splitlines() if line.strip())[:12000])
    shutil.rmtree(case_dir, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", default=DEFAULT_CSV)
    ap.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows to generate if the CSV is missing")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", default=WORKDIR)
    ap.add_argument("--duckdb-file", action="store_true", help="also time DuckDB loading into a database file")
    ap.add_argument("--tree", action="append", default=[], metavar="NAME=DIR",
                    help="also time `edrql ingest` from the source tree DIR (as tool edrql@NAME)")
    ap.add_argument("--keep-cases", action="store_true", help="keep case-1.. as well as case-0")
    ap.add_argument("--json", help="write the measurements here")
    ap.add_argument("--phases", action="store_true", help="also time edrql's ingest stages in-process")
    ap.add_argument("--profile", type=int, metavar="N", help="also cProfile edrql ingest on an N-row export")
    ap.add_argument("--only-phases", action="store_true", help="only the phase breakdown (and --profile)")
    args = ap.parse_args(argv)

    os.makedirs(args.workdir, exist_ok=True)
    meta = ensure_csv(args.csv, args.rows)
    if args.only_phases:
        print_machine(machine_info())
        warm(args.csv)
        phases(args.csv, os.path.join(args.workdir, "case-phases"))
        if args.profile:
            profile(args.profile, args.workdir)
        return 0
    size = os.path.getsize(args.csv)
    info = machine_info()
    print_machine(info)
    print(f"data:    {args.csv}: {size / 1e9:.3f} GB, {meta['rows']:,} records, {meta['hosts']} hosts, "
          f"{meta['time_range'][0]} .. {meta['time_range'][1]}")
    warm_s = warm(args.csv)
    print(f"warm-up read: {warm_s:.2f} s ({size / 1e6 / warm_s:,.0f} MB/s); timed runs read from the page cache")

    trees = dict(t.split("=", 1) for t in args.tree)
    tools = ["edrql", "duckdb read_csv", "duckdb all_varchar"] + (["duckdb file"] if args.duckdb_file else []) \
        + [f"edrql@{k}" for k in trees]
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
            elif tool.startswith("edrql@"):
                tree = os.path.abspath(trees[tool[len("edrql@"):]])
                case = os.path.join(args.workdir, f"case-{tool[len('edrql@'):]}-{i}")
                shutil.rmtree(case, ignore_errors=True)
                os.sync()
                r = run_measured([sys.executable, "-c", TREE_SCRIPT, "ingest", args.csv, "--case", case, "-q"],
                                 env=dict(os.environ, PYTHONPATH=tree), cwd=tree)
                shutil.rmtree(case, ignore_errors=True)
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
    emin = min(r.seconds for r in runs["edrql"])
    rows = []
    for t in tools:
        rs = runs[t]
        rows.append([t, f"{med[t]:.2f}", f"{min(r.seconds for r in rs):.2f}", f"{size / 1e6 / med[t]:,.0f}",
                     gib(max(r.peak_rss for r in rs)), f"{median([r.user + r.system for r in rs]):.1f}",
                     f"{median(inner[t]):.2f}" if inner[t] else "-",
                     "1.00" if t == "edrql" else f"{med[t] / e:.2f}",
                     "1.00" if t == "edrql" else f"{min(r.seconds for r in rs) / emin:.2f}"])
    print()
    print(f"ingest of {size / 1e6:,.0f} MB, {meta['rows']:,} records, median of {args.repeat} "
          f"(wall time incl. interpreter start; 'load s' = DuckDB's CREATE TABLE alone)")
    print(table(rows, ["tool", "median s", "min s", "MB/s", "peak RSS", "cpu s", "load s",
                       "ratio tool/edrql (median)", "(min)"]))
    print()
    for t in tools[1:]:
        ratio = med[t] / e
        rmin = min(r.seconds for r in runs[t]) / emin
        print(f"ratio {t} / edrql = {ratio:.2f} on medians, {rmin:.2f} on best runs  "
              f"(goal >= 1.5: {'met' if ratio >= 1.5 else 'NOT met'})")
    if edrql_rows:
        print(f"edrql case-0: records read {edrql_rows['records_read']:,}, rows stored {edrql_rows['rows']:,}, "
              f"quarantined {edrql_rows['quarantined']:,}, duplicates {edrql_rows['duplicates']:,} "
              f"(file records {meta['rows']:,})")
    case0 = os.path.join(args.workdir, "case-0")
    du = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(case0) for f in fs)
    print(f"edrql case size on disk: {du / 1e9:.2f} GB ({case0})")
    ph = phases(args.csv, os.path.join(args.workdir, "case-phases")) if args.phases else None
    if args.profile:
        profile(args.profile, args.workdir)
    save_json(args.json, {"phases": ph,
        "machine": info, "csv": args.csv, "bytes": size, "records": meta["rows"], "repeat": args.repeat,
        "runs": {t: [{"seconds": r.seconds, "peak_rss": r.peak_rss, "user": r.user, "system": r.system}
                     for r in runs[t]] for t in tools},
        "duckdb_load_seconds": inner, "median_seconds": med,
        "ratios": {t: med[t] / e for t in tools[1:]},
        "ratios_min": {t: min(r.seconds for r in runs[t]) / emin for t in tools[1:]}, "edrql_case": edrql_rows, "case_bytes": du,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
