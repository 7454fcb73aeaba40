"""Process lineage: building ``procs`` with all links vs DuckDB's ASOF JOIN, and
``tree()`` latency — on the same case, in the same run.

    python benchmarks/bench_lineage.py [--case /tmp/edrql-bench/case-0] [--repeat 3]

edrql builds every process instance from all events (starts, exits, the acting
process of every event, parents of children) and resolves each parent link
(vendor id → pid + start → alive-at-start), with link status and candidates.
The DuckDB peer does the core of that work only: an ASOF JOIN of process starts
to their parent's latest start by (host, ppid) — measured on the same Arrow data
(loaded into DuckDB before timing).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", default="/tmp/edrql-bench/case-0")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    import duckdb
    import pyarrow.compute as pc

    from edrql import lineage
    from edrql.query import execute_text, make_context
    from edrql.store import Case

    case = Case.open(a.case)
    ev = case.events
    starts_n = pc.sum(pc.equal(ev["event"], "process_start")).as_py()
    print(f"case {a.case}: {ev.num_rows:,} events, {starts_n:,} process starts")

    con = duckdb.connect()
    sel = ev.select(["host", "event", "pid", "ppid", "pstart", "ppstart", "ts"])
    con.register("ev_arrow", sel)
    con.execute("CREATE TABLE starts AS SELECT host, pid, coalesce(pstart, ts) AS start, ppid "
                "FROM ev_arrow WHERE event = 'process_start'")
    asof_sql = ("SELECT c.host, c.pid, c.start, p.start AS parent_start FROM starts c "
                "ASOF LEFT JOIN starts p ON c.host = p.host AND c.ppid = p.pid AND c.start >= p.start")
    t_edrql, t_duck = [], []
    for i in range(a.repeat):
        t0 = time.perf_counter()
        lin = lineage.build(ev)
        t_edrql.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        n = con.execute(f"SELECT count(*), count(parent_start) FROM ({asof_sql})").fetchone()
        t_duck.append(time.perf_counter() - t0)
        print(f"  round {i + 1}: edrql procs {t_edrql[-1]:.2f} s ({lin.procs.num_rows:,} instances) | "
              f"duckdb asof {t_duck[-1]:.2f} s ({n[0]:,} starts, {n[1]:,} with a parent)")
    me, md = statistics.median(t_edrql), statistics.median(t_duck)
    links = lin.procs.group_by("link").aggregate([("proc", "count")]).to_pylist()
    print("links: " + ", ".join(f"{r['link']} {r['proc_count']:,}" for r in links))
    print(f"median: edrql {me:.2f} s, duckdb {md:.2f} s; ratio duckdb/edrql = {md / me:.2f} "
          f"(goal >= 2: {'met' if md / me >= 2 else 'NOT met'})")

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
