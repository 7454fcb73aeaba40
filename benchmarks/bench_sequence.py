#!/usr/bin/env python3
"""Issue 14's goal: a three-step `sequence` by host with maxspan over the 2.2M-row case, against
DuckDB's best SQL for the same result and the eql package's Python engine.

    python benchmarks/bench_sequence.py [--case DIR] [--csv PATH] [--repeat 5] [--subset 200000]
                                        [--skip-eql] [--skip-oneshot] [--json OUT]

Query (edrql):  sequence by host with maxspan=5m
                  [process where name == "powershell.exe"] [file where event == "file_create"]
                  [network where rport == 443]

Peers, same run, rounds alternated:
  warm       edrql `edrql.open(case).query(Q)` in one process (default output: one row per event of
             each sequence, every column)  vs  DuckDB over its own table `t` loaded from the CSV
             (typed, plus the Timestamp in ns and the record number, load not timed): the
             window-function SQL below, the same rows (sequence, step, every column).
  one-shot   `edrql CASE -c 'Q | count'`  vs  `python -c 'import duckdb; …'` over a DuckDB file of
             the same table, `SELECT count(*)` of the same rows; each a fresh process.
  eql        eql.PythonEngine streaming the first --subset records (their own case, ingested
             untimed; events converted to eql.Event untimed) vs edrql warm on that case.

The SQL (`sequence_sql`) implements edrql's/EQL's rules with window functions: per key and stage
at most one pending sequence, a candidate takes the pending one (the row just before it in
(key, time, record, kind) order, when that row is an arrival) and empties the stage, maxspan
inclusive, kinds at one event ordered clear < candidate < arrival (steps tried last to first).
Its sequences are checked to be exactly edrql's (and eql's on the subset); `--selfcheck` also
runs all three on small hand-made fixtures first.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))     # seqoracle: the eql converter

from common import (DEFAULT_CSV, DEFAULT_ROWS, WORKDIR, command, ensure_case, median,  # noqa: E402
                    run_measured, save_json, table)

MAXSPAN = "5m"
MAXSPAN_NS = 5 * 60 * 10**9
Q = ('sequence by host with maxspan=5m [process where name == "powershell.exe"] '
     '[file where event == "file_create"] [network where rport == 443]')
EQL_Q = ('sequence with maxspan=5m [process where name == "powershell.exe"] by k_host '
         '[file where event == "file_create"] by k_host [network where rport == 443] by k_host')

NET_ACTIONS = ("ConnectionSuccess", "ConnectionAttempt", "ConnectionFailed", "ConnectionFound",
               "ConnectionRequest", "ConnectionAcknowledged", "InboundConnectionAccepted",
               "ListeningConnectionCreated")
# the three steps over the raw Defender columns, as edrql's Defender profile defines the fields
# (name of a ProcessCreated row = FileName; == folds case; network_* = these actions)
STEPS_SQL = ["ActionType = 'ProcessCreated' AND lower(FileName) = 'powershell.exe'",
             "ActionType = 'FileCreated'",
             f"ActionType IN {NET_ACTIONS!r} AND RemotePort = 443"]
KEY_SQL = "lower(DeviceName)"

# DuckDB's own table: the CSV typed by read_csv, plus the time in ns (TIMESTAMPTZ keeps µs and
# would make ties of the 7th digit) and the record number (input order, for ties).
LOAD_SQL = """CREATE TABLE t AS SELECT *,
  epoch_us(strptime(substr("Timestamp", 1, 26), '%Y-%m-%dT%H:%M:%S.%f')) * 1000
    + CAST(substr("Timestamp", 27, 1) AS BIGINT) * 100 AS tsn,
  row_number() OVER () AS rid
FROM read_csv('{csv}', types={{'Timestamp': 'VARCHAR'}})"""


def sequence_sql(steps: list[str], key: str | list[str], maxspan_ns: int | None, until: str | None = None,
                 table_name: str = "t") -> str:
    """The chains (r1, …, rN: rid of each step's event) of every complete sequence, as SQL.

    steps: one boolean SQL expression per step; key: the join key expression (or one per step,
    joined positionally); until: a boolean expression (keyed by the first step's key)."""
    n = len(steps)
    keys = key if isinstance(key, list) else [key] * n
    preds = ", ".join(f"({s}) AS m{i + 1}, {keys[i]} AS k{i + 1}" for i, s in enumerate(steps))
    if until:
        preds += f", ({until}) AS mu, {keys[0]} AS ku"
    anym = " OR ".join(f"({s})" for s in steps + ([until] if until else []))
    ctes = [f"base AS (SELECT rid, tsn, {preds} FROM {table_name} WHERE {anym})",
            "a1 AS (SELECT k1 AS k, tsn, rid, tsn AS start, rid AS r1 FROM base WHERE m1 AND k1 IS NOT NULL)"]
    span = f" AND tsn - pstart <= {maxspan_ns}" if maxspan_ns is not None else ""
    for s in range(2, n + 1):
        carried = ", ".join(f"r{j}" for j in range(1, s))
        nulls = ", ".join(f"NULL::BIGINT AS r{j}" for j in range(1, s))
        lags = ", ".join(f"lag(r{j}) OVER w AS p{j}" for j in range(1, s))
        parts = []
        if until:
            parts.append(f"SELECT ku AS k, tsn, rid, 0 AS kind, NULL::BIGINT AS start, {nulls} FROM base "
                         f"WHERE mu AND ku IS NOT NULL")
        parts.append(f"SELECT k{s} AS k, tsn, rid, 1 AS kind, NULL::BIGINT AS start, {nulls} FROM base "
                     f"WHERE m{s} AND k{s} IS NOT NULL")
        parts.append(f"SELECT k, tsn, rid, 2 AS kind, start, {carried} FROM a{s - 1}")
        stream = " UNION ALL ".join(parts)
        ctes.append(f"w{s} AS (SELECT k, tsn, rid, kind, lag(kind) OVER w AS pkind, lag(start) OVER w AS pstart, "
                    f"{lags} FROM ({stream}) WINDOW w AS (PARTITION BY k ORDER BY tsn, rid, kind))")
        pcarried = ", ".join(f"p{j} AS r{j}" for j in range(1, s))
        ctes.append(f"a{s} AS (SELECT k, tsn, rid, pstart AS start, {pcarried}, rid AS r{s} FROM w{s} "
                    f"WHERE kind = 1 AND pkind = 2{span})")
    chains = ", ".join(f"r{j}" for j in range(1, n + 1))
    return "WITH " + ",\n".join(ctes) + f"\nSELECT {chains} FROM a{n}"


def rows_sql(chain_sql: str, n: int, table_name: str = "t") -> str:
    """edrql's default output shape: one row per event of each sequence (sequence, step, every
    column), sequences numbered by their last event's (time, record)."""
    steps = ", ".join(f"r{j}" for j in range(1, n + 1))
    return (f"WITH c AS ({chain_sql}), num AS (SELECT row_number() OVER (ORDER BY r{n}) AS sequence, * FROM c), "
            f"u AS (SELECT sequence, unnest(range(1, {n + 1})) AS step, unnest([{steps}]) AS rid FROM num) "
            f"SELECT u.sequence, u.step, {table_name}.* FROM u JOIN {table_name} USING (rid) ORDER BY sequence, step")


def edrql_chains(tb) -> set:
    """edrql's output → {((host, ReportId) of step 1, …), …}."""
    rows = tb.select(["sequence", "step", "host", "raw.ReportId"]).to_pylist()
    seqs: dict = {}
    for r in rows:
        seqs.setdefault(r["sequence"], []).append((r["step"], (r["host"], str(r["raw.ReportId"]))))
    return {tuple(i for _, i in sorted(v)) for v in seqs.values()}


def duck_chains(con, chain_sql: str, n: int) -> set:
    idcols = ", ".join(f"(SELECT [DeviceName, CAST(ReportId AS VARCHAR)] FROM t WHERE t.rid = c.r{j})"
                       for j in range(1, n + 1))
    out = set()
    for row in con.execute(f"WITH c AS ({chain_sql}) SELECT {idcols} FROM c").fetchall():
        out.add(tuple(tuple(x) for x in row))
    return out


def eql_chains(ctx, tb_events=None):
    """eql's sequences (as (host, ReportId)) over a case's events; returns (set, seconds of the stream)."""
    import eql
    from seqoracle import to_eql_events
    from edrql.query import execute_text
    tb = tb_events if tb_events is not None else execute_text(ctx, "events")[-1].table
    tb = tb.select(["ts", "host", "event", "name", "rport", "source", "record", "raw.ReportId"])
    t0 = time.perf_counter()
    events = to_eql_events(tb, ["host"], keep=["raw.ReportId"])
    convert = time.perf_counter() - t0
    engine = eql.PythonEngine({"time_unit": 10**9})
    engine.add_query(eql.parse_query(EQL_Q))
    out = []
    engine.add_output_hook(lambda res: out.append(tuple((e.data["host"], str(e.data["raw.ReportId"]))
                                                        for e in res.events)))
    t0 = time.perf_counter()
    engine.stream_events(events)
    secs = time.perf_counter() - t0
    eql_chains.convert_seconds = convert
    return set(out), secs, len(events)


# ------------------------------------------------------------------ small fixtures

def selfcheck(tmp: str) -> bool:
    """Hand-made Defender exports: the SQL, edrql and eql must give the same sequences."""
    import duckdb
    from pathlib import Path
    from seqoracle import make_ctx
    from edrql.query import execute_text

    def e(t, host, event, name="powershell.exe", rport=None):
        return {"t": t, "host": host, "event": event, "name": name, "pid": 10, "path": r"C:\x\y.tmp",
                "rport": rport}
    P, F, N = "process_start", "file_create", "network_connect"
    cases = {
        "basic+overlap": [e(0, "h1", P), e(1, "h1", P), e(2, "h1", F), e(2, "h1", F), e(3, "h1", N, rport=443),
                          e(4, "h1", N, rport=443), e(5, "h2", P, "PowerShell.EXE"), e(6, "H2", F),
                          e(7, "h2", N, rport=80), e(8, "h2", N, rport=443)],
        "maxspan boundary": [e(0, "h1", P), e(100, "h1", F), e(300, "h1", N, rport=443),
                             e(1000, "h1", P), e(1100, "h1", F), e(1300.0000001, "h1", N, rport=443),
                             e(2000, "h1", P), e(2001, "h1", F), e(2299, "h1", P), e(2302, "h1", N, rport=443)],
        "ties": [e(0, "h1", F), e(0, "h1", P), e(0, "h1", F), e(0, "h1", N, rport=443), e(0, "h1", P),
                 e(0, "h1", N, rport=443), e(0, "h1", F), e(0, "h1", N, rport=443)],
    }
    ok = True
    for i, (name, rows) in enumerate(cases.items()):
        d = Path(tmp) / f"fx{i}"
        d.mkdir()
        ctx = make_ctx(d, rows)
        mine = edrql_chains(execute_text(ctx, Q)[-1].table)
        theirs, _, _ = eql_chains(ctx)
        con = duckdb.connect()
        con.execute(LOAD_SQL.format(csv=str(d / "case.csv")))
        duck = duck_chains(con, sequence_sql(STEPS_SQL, KEY_SQL, MAXSPAN_NS), 3)
        good = mine == theirs == duck and len(mine) > 0
        ok &= good
        print(f"  selfcheck {name}: edrql {len(mine)}, eql {len(theirs)}, duckdb {len(duck)} sequences: "
              f"{'same' if good else 'DIFFER'}")
        if not good:
            print(f"    edrql {sorted(mine)}\n    eql   {sorted(theirs)}\n    duck  {sorted(duck)}")
    return ok


# ------------------------------------------------------------------ timing

def alternate(fns: dict, repeat: int, warmup: int = 1) -> tuple[dict, dict]:
    outs, times = {}, {k: [] for k in fns}
    for _ in range(warmup):
        for k, fn in fns.items():
            outs[k] = fn()
    for i in range(repeat):
        keys = list(fns) if i % 2 == 0 else list(reversed(fns))
        for k in keys:
            t0 = time.perf_counter()
            outs[k] = fns[k]()
            times[k].append(time.perf_counter() - t0)
    return outs, times


DUCK_ONESHOT = r"""
import sys
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute("SET enable_progress_bar = false")
print(con.execute(sys.argv[2]).fetchall()[0][0])
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", default=os.path.join(WORKDIR, "case-0"))
    ap.add_argument("--csv", default=DEFAULT_CSV)
    ap.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--subset", type=int, default=200_000, help="records for the eql comparison")
    ap.add_argument("--skip-eql", action="store_true")
    ap.add_argument("--skip-oneshot", action="store_true")
    ap.add_argument("--selfcheck", action="store_true", help="fixtures first (SQL vs edrql vs eql)")
    ap.add_argument("--profile", action="store_true", help="cProfile one warm edrql run")
    ap.add_argument("--json")
    a = ap.parse_args(argv)

    import duckdb
    import edrql

    results: dict = {"query": Q, "sql": sequence_sql(STEPS_SQL, KEY_SQL, MAXSPAN_NS)}
    if a.selfcheck:
        with tempfile.TemporaryDirectory() as tmp:
            results["selfcheck"] = selfcheck(tmp)
        if not results["selfcheck"]:
            return 1
    info = ensure_case(a.csv, a.case, a.rows)
    results["machine"] = info
    print(f"query:   {Q}")

    # ---- DuckDB's own table (in memory) and its file, loaded untimed
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    t0 = time.perf_counter()
    con.execute(LOAD_SQL.format(csv=a.csv))
    print(f"duckdb:  CSV → table t in {time.perf_counter() - t0:.1f} s (not timed); "
          "threads " + str(con.execute("SELECT current_setting('threads')").fetchall()[0][0]))
    dbfile = os.path.join(WORKDIR, "sequence.duckdb")
    stamp = f"{a.csv}:{os.path.getsize(a.csv)}:{os.path.getmtime(a.csv)}"
    fresh = os.path.exists(dbfile) and os.path.exists(dbfile + ".source") and \
        open(dbfile + ".source", encoding="utf-8").read() == stamp
    if not fresh:
        for p in (dbfile, dbfile + ".wal"):
            if os.path.exists(p):
                os.remove(p)
        con.execute(f"ATTACH '{dbfile}' AS f")
        con.execute("CREATE TABLE f.t AS SELECT * FROM t")
        con.execute("DETACH f")
        with open(dbfile + ".source", "w", encoding="utf-8") as fh:
            fh.write(stamp)
    chain_sql = results["sql"]
    full_sql = rows_sql(chain_sql, 3)

    # ---- edrql, opened once
    t0 = time.perf_counter()
    case = edrql.open(a.case)
    print(f"edrql:   case opened in {time.perf_counter() - t0:.2f} s")

    # ---- the answers agree
    tb = case.query(Q)
    mine = edrql_chains(tb)
    duck = duck_chains(con, chain_sql, 3)
    agree = mine == duck
    print(f"sequences: edrql {len(mine):,} ({tb.num_rows:,} rows), duckdb {len(duck):,}; "
          f"the same: {'yes' if agree else 'NO'}")
    if not agree:
        print(f"  only edrql: {sorted(mine - duck)[:3]}\n  only duckdb: {sorted(duck - mine)[:3]}")
    results.update(sequences=len(mine), rows=tb.num_rows, agree_duckdb=agree)

    # ---- warm, in process
    count_sql = f"WITH c AS ({chain_sql}) SELECT count(*) * 3 FROM c"
    fns = {"edrql": lambda: case.query(Q), "duckdb window": lambda: con.sql(full_sql).to_arrow_table(),
           "edrql | count": lambda: case.query(Q + " | count"),
           "duckdb window, count(*)": lambda: con.sql(count_sql).fetchall()}
    outs, times = alternate(fns, a.repeat)
    nd = outs["duckdb window"].num_rows
    print(f"duckdb rows: {nd:,} (edrql {outs['edrql'].num_rows:,}); counts: edrql "
          f"{outs['edrql | count'].column(0)[0].as_py():,}, duckdb {outs['duckdb window, count(*)'][0][0]:,}")
    rows = []
    for k, ts in times.items():
        base = median(times["edrql" if k in ("edrql", "duckdb window") else "edrql | count"])
        rows.append(["warm" if "count" not in k else "warm, count", k, f"{median(ts) * 1000:,.0f}",
                     f"{min(ts) * 1000:,.0f}", f"{median(ts) / base:.2f}"])
    med_e = median(times["edrql"])
    results["warm"] = {k: {"times": v, "median": median(v)} for k, v in times.items()}
    warm_ratio = median(times["duckdb window"]) / med_e
    count_ratio = median(times["duckdb window, count(*)"]) / median(times["edrql | count"])

    # ---- whole process, one shot
    if not a.skip_oneshot:
        import compileall
        # an installed edrql has its bytecode; with PYTHONDONTWRITEBYTECODE (set on this box) every
        # start would compile edrql's sources again (~0.1 s): compile them once, before timing
        compileall.compile_dir(os.path.dirname(edrql.__file__), quiet=1)
        cmd = command(None)
        oneshot = {"edrql -c": cmd + [a.case, "-c", Q + " | count", "--format", "csv"],
                   "duckdb python -c": [sys.executable, "-c", DUCK_ONESHOT, dbfile, count_sql]}
        ot = {k: [] for k in oneshot}
        answers = {}
        for k, c in oneshot.items():                      # one untimed run each
            answers[k] = run_measured(c).stdout.strip().splitlines()[-1]
        for i in range(max(3, a.repeat)):
            for k in (list(oneshot) if i % 2 == 0 else list(reversed(oneshot))):
                r = run_measured(oneshot[k])
                ot[k].append(r.seconds)
        print(f"one-shot answers: {answers}")
        med_o = median(ot["edrql -c"])
        for k, ts in ot.items():
            rows.append(["one-shot", k, f"{median(ts) * 1000:,.0f}", f"{min(ts) * 1000:,.0f}",
                         f"{median(ts) / med_o:.2f}"])
        results["oneshot"] = {k: {"times": v, "median": median(v)} for k, v in ot.items()}
        results["oneshot_answers"] = answers
        oneshot_ratio = median(ot["duckdb python -c"]) / med_o
    else:
        oneshot_ratio = None

    # ---- eql on a subset
    eql_ratio = None
    if not a.skip_eql:
        sub_csv = os.path.join(WORKDIR, f"defender_{a.subset // 1000}k.csv")
        sub_case = os.path.join(WORKDIR, f"case-{a.subset // 1000}k")
        if not os.path.exists(sub_csv):
            import csv
            with open(a.csv, newline="", encoding="utf-8") as src, open(sub_csv, "w", newline="",
                                                                          encoding="utf-8") as dst:
                rd, wr = csv.reader(src), csv.writer(dst, lineterminator="\r\n")
                for i, rec in enumerate(rd):
                    if i > a.subset:
                        break
                    wr.writerow(rec)
        from edrql.store import is_case
        if not is_case(sub_case):
            run_measured(command(None) + ["ingest", sub_csv, "--case", sub_case, "-q"])
        sub = edrql.open(sub_case)
        stb = sub.query(Q)
        sub_mine = edrql_chains(stb)
        _, st = alternate({"edrql": lambda: sub.query(Q)}, a.repeat)
        from edrql.query import make_context
        from edrql.store import Case
        sctx = make_context(Case.open(sub_case))
        theirs, eql_s, n_ev = eql_chains(sctx)
        e_med = median(st["edrql"])
        eql_ratio = eql_s / e_med
        same = theirs == sub_mine
        print(f"eql subset: first {a.subset:,} records ({n_ev:,} events): eql {len(theirs):,} sequences, "
              f"edrql {len(sub_mine):,}; the same: {'yes' if same else 'NO'} (eql's stream_events timed alone; "
              f"making its {n_ev:,} eql.Event objects took {eql_chains.convert_seconds:.2f} s more, not counted)")
        rows.append([f"subset {a.subset // 1000}k", "edrql", f"{e_med * 1000:,.0f}", f"{min(st['edrql']) * 1000:,.0f}",
                     "1.00"])
        rows.append([f"subset {a.subset // 1000}k", "eql PythonEngine (1 run)", f"{eql_s * 1000:,.0f}",
                     f"{eql_s * 1000:,.0f}", f"{eql_ratio:.2f}"])
        results["eql"] = {"subset": a.subset, "events": n_ev, "seconds": eql_s, "edrql": st["edrql"],
                          "convert_seconds": eql_chains.convert_seconds,
                          "sequences": len(theirs), "agree": same}

    print(f"\nmedian of {a.repeat} alternated runs after a warm-up (ms); ratio = engine / edrql")
    print(table(rows, ["run", "engine", "median ms", "min ms", "engine / edrql"]))
    print()
    print(f"warm:     duckdb / edrql = {warm_ratio:.2f} (goal >= 2: {'met' if warm_ratio >= 2 else 'NOT met'})")
    print(f"warm, counting only: duckdb / edrql = {count_ratio:.2f} (no goal: DuckDB need not fetch the rows)")
    if oneshot_ratio is not None:
        print(f"one-shot: duckdb / edrql = {oneshot_ratio:.2f} (goal >= 2: {'met' if oneshot_ratio >= 2 else 'NOT met'})")
    if eql_ratio is not None:
        print(f"eql:      eql / edrql = {eql_ratio:.1f} (goal >= 50: {'met' if eql_ratio >= 50 else 'NOT met'})")
    results.update(warm_ratio=warm_ratio, warm_count_ratio=count_ratio, oneshot_ratio=oneshot_ratio, eql_ratio=eql_ratio)
    if a.profile:
        import cProfile
        import io
        import pstats
        pr = cProfile.Profile()
        pr.enable()
        case.query(Q)
        pr.disable()
        buf = io.StringIO()
        pstats.Stats(pr, stream=buf).sort_stats("cumulative").print_stats(30)
        print("\ncProfile of one warm edrql run, top 30 by cumulative time")
        print("\n".join(line for line in buf.getvalue().splitlines() if line.strip()))
    save_json(a.json, results)
    ok = agree and (a.skip_eql or results["eql"]["agree"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
