"""Process lineage: building ``procs`` with all links vs DuckDB, and ``tree()``
latency — on the same case, in the same run.

    python benchmarks/bench_lineage.py [--case /tmp/edrql-bench/case-0] [--repeat 5]

edrql builds every process instance from all events (starts, exits, the acting
process of every event, parents named by children) and resolves each parent link
(vendor id → pid + start → alive-at-start), with link status, candidates and notes.

Two DuckDB peers run on the same Arrow data, loaded into DuckDB tables before timing:

* ``duckdb procs`` does the same job in SQL and produces the same table: process
  instances from the same observations (GROUP BY host, pid, start), their attributes
  from the best row (arg_max), exact links by the parent reference the row gives
  (hash join), the ASOF JOIN to the parent pid's latest earlier start for the rest,
  and exits that prove a candidate dead. Its link counts are checked against edrql's.
* ``duckdb asof`` is the ASOF JOIN alone, over a pre-built table of process starts:
  the core step, not the job. Printed for reference.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from edrql import memtune  # noqa: E402

memtune.tune()   # as the CLI does, before pyarrow is imported

from common import machine_info, print_machine  # noqa: E402

PROCS_SQL = """
CREATE OR REPLACE TABLE procs AS
WITH obs AS (
  SELECT host, pid, CASE WHEN pstart IS NULL AND event = 'process_start' THEN ts ELSE pstart END
           AS start, ts, true AS acting, event = 'process_start' AS is_start,
         event = 'process_end' AS is_end, ppid, ppstart, image, cmdline, "user", pimage,
         (event = 'process_start')::INT * 4 + (ppstart IS NOT NULL)::INT AS score
  FROM ev WHERE host IS NOT NULL AND pid IS NOT NULL
  UNION ALL
  SELECT host, ppid, ppstart, ts, false, false, false, NULL, NULL, pimage, pcmdline, NULL, NULL, -1
  FROM ev WHERE host IS NOT NULL AND ppid IS NOT NULL AND ppstart IS NOT NULL
),
inst AS (
  SELECT host, pid, epoch_ns(start::TIMESTAMP_NS) // 1000 AS skey, min(start) AS start,
         min(ts) AS first_seen, max(ts) AS last_seen,
         count(*) FILTER (WHERE acting) AS events, min(ts) FILTER (WHERE is_end) AS end_ts,
         arg_max(ppid, score) AS c_ppid, arg_max(ppstart, score) AS c_ppstart,
         arg_max(image, score) AS image, arg_max(cmdline, score) AS cmdline,
         arg_max("user", score) AS "user", arg_max(pimage, score) AS src_pimage
  FROM obs WHERE start IS NOT NULL GROUP BY ALL
),
exact AS (
  SELECT c.*, p.start AS parent_start, p.image AS parent_image
  FROM inst c LEFT JOIN inst p ON c.host = p.host AND c.c_ppid = p.pid
   AND epoch_ns(c.c_ppstart::TIMESTAMP_NS) // 1000 = p.skey
),
timed AS (
  SELECT e.* EXCLUDE (parent_start, parent_image), a.start AS parent_start,
         a.image AS parent_image, a.end_ts AS parent_end
  FROM (SELECT * FROM exact WHERE parent_start IS NULL AND c_ppid IS NOT NULL) e
  ASOF LEFT JOIN inst a ON e.host = a.host AND e.c_ppid = a.pid AND e.start >= a.start
)
SELECT *, CASE WHEN parent_start IS NULL THEN 'missing' ELSE 'exact' END AS link FROM exact
 WHERE parent_start IS NOT NULL OR c_ppid IS NULL
UNION ALL
SELECT * EXCLUDE (parent_end),
       CASE WHEN parent_start IS NOT NULL AND (parent_end IS NULL OR parent_end >= start)
            THEN 'inferred' ELSE 'missing' END
FROM timed
"""

ASOF_SQL = ("SELECT count(*), count(parent_start) FROM (SELECT c.host, c.pid, c.start, "
            "p.start AS parent_start FROM starts c ASOF LEFT JOIN starts p "
            "ON c.host = p.host AND c.ppid = p.pid AND c.start >= p.start)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", default="/tmp/edrql-bench/case-0")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    import duckdb
    import pyarrow.compute as pc

    from edrql import lineage
    from edrql.query import execute_text, make_context
    from edrql.store import Case

    print_machine(machine_info())
    case = Case.open(a.case)
    ev = case.events
    starts_n = pc.sum(pc.equal(ev["event"], "process_start")).as_py()
    print(f"case {a.case}: {ev.num_rows:,} events, {starts_n:,} process starts")

    con = duckdb.connect()
    cols = ["host", "event", "pid", "ppid", "pstart", "ppstart", "ts", "image", "cmdline", "user",
            "pimage", "pcmdline"]
    con.register("ev_arrow", ev.select(cols))
    con.execute("CREATE TABLE ev AS SELECT * FROM ev_arrow")
    con.execute("CREATE TABLE starts AS SELECT host, pid, coalesce(pstart, ts) AS start, ppid "
                "FROM ev WHERE event = 'process_start'")
    lineage.build(ev)       # first touch of the memory-mapped case, untimed (DuckDB loaded it)
    t_edrql, t_procs, t_asof = [], [], []
    for i in range(a.repeat):
        t0 = time.perf_counter()
        lin = lineage.build(ev)
        t_edrql.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        con.execute(PROCS_SQL)
        t_procs.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        n = con.execute(ASOF_SQL).fetchone()
        t_asof.append(time.perf_counter() - t0)
        print(f"  round {i + 1}: edrql procs {t_edrql[-1]:.3f} s ({lin.procs.num_rows:,} instances) | "
              f"duckdb procs {t_procs[-1]:.3f} s | duckdb asof {t_asof[-1]:.3f} s "
              f"({n[0]:,} starts, {n[1]:,} with a parent)")
    mine = {r["link"]: r["proc_count"] for r in
            lin.procs.group_by("link").aggregate([("proc", "count")]).to_pylist()}
    theirs = dict(con.execute("SELECT link, count(*) FROM procs GROUP BY link").fetchall())
    same = mine == theirs
    print(f"links: edrql {sorted(mine.items())}; duckdb procs {sorted(theirs.items())} "
          f"({'the same' if same else 'DIFFERENT'})")
    me = statistics.median(t_edrql)
    for label, ts in (("duckdb procs", t_procs), ("duckdb asof", t_asof)):
        md = statistics.median(ts)
        print(f"median: edrql {me:.3f} s, {label} {md:.3f} s; ratio {label}/edrql = {md / me:.2f} "
              f"(min {min(ts) / min(t_edrql):.2f})"
              + ("" if label != "duckdb procs" else
                 f" (goal >= 2: {'met' if md / me >= 2 else 'NOT met'})"))

    # tree() of one process, lineage built (it is built once per opened case)
    case._lineage = lin
    ctx = make_context(case)
    p = lin.procs
    target = p.filter(pc.and_(pc.equal(p["seen"], "start_event"), pc.greater(p["events"], 3))).slice(0, 1)
    proc = target["proc"][0].as_py()
    q = f'procs | where proc == "{proc}" | tree()'
    times = []
    for _ in range(max(5, a.repeat)):
        t0 = time.perf_counter()
        r = execute_text(ctx, q)[-1]
        times.append(time.perf_counter() - t0)
    host, pid = target["host"][0].as_py(), target["pid"][0].as_py()
    q2 = f'tree(proc="{proc}")'
    times2 = []
    for _ in range(max(5, a.repeat)):
        t0 = time.perf_counter()
        execute_text(ctx, q2)
        times2.append(time.perf_counter() - t0)
    print(f"tree() of {host} pid {pid}: {r.table.num_rows} nodes; "
          f"'procs | where proc == … | tree()' median {statistics.median(times) * 1000:.0f} ms, "
          f"'tree(proc=…)' median {statistics.median(times2) * 1000:.0f} ms (goal <= 50 ms)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
