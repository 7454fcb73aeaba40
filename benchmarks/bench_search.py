"""Exhaustive search: edrql vs ripgrep on the raw export, DuckDB ILIKE over all
columns, polars and pyarrow match_substring — same data, same run.

    python benchmarks/bench_search.py [--csv /tmp/edrql-bench/defender_2m.csv]
                                      [--case /tmp/edrql-bench/case-0] [--repeat 5]

Needles come from the generator's ``.needles.json`` (a 7-row needle inside a longer
command-line token; an accented mixed-case one). edrql is timed in-process on an
opened case, cold (first search builds the search index) and warm; peers read the
same data already loaded (DuckDB table from the CSV, polars and pyarrow from the
case's Arrow table), except ripgrep which reads the raw file from the page cache.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time


def timeit(fn, repeat):
    out, res = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out), res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", default="/tmp/edrql-bench/defender_2m.csv")
    ap.add_argument("--case", default="/tmp/edrql-bench/case-0")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cold", action="store_true", help="delete the search index first")
    a = ap.parse_args()
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc

    from edrql.query import execute_text, make_context
    from edrql.store import Case

    needles = json.load(open(a.csv + ".needles.json"))["needles"]
    ci_needle = needles["cmdline"]["string"].lower()
    cs_needle = needles["cmdline"]["string"]
    print(f"data: {a.csv} ({os.path.getsize(a.csv) / 1e9:.2f} GB), case {a.case}; "
          f"needles: ci {ci_needle!r}, cs {cs_needle!r}")
    if a.cold:
        shutil.rmtree(os.path.join(a.case, "search"), ignore_errors=True)
    case = Case.open(a.case)
    ev = case.events
    text_cols = [f.name for f in ev.schema if pa.types.is_string(f.type)]
    results = []

    # edrql: cold (index build) then warm
    t0 = time.perf_counter()
    r = execute_text(make_context(case), f'search "{ci_needle}"')[-1]
    cold = time.perf_counter() - t0
    rc = r.extra["receipt"]
    results.append(("edrql search (first, builds index)", cold, r.table.num_rows))
    t, r = timeit(lambda: execute_text(make_context(case), f'search "{ci_needle}"')[-1], a.repeat)
    results.append(("edrql search -i (warm)", t, r.table.num_rows))
    t, r = timeit(lambda: execute_text(make_context(case), f'search cs "{cs_needle}"')[-1], a.repeat)
    results.append(("edrql search cs (warm)", t, r.table.num_rows))
    print("edrql receipt:", rc.text())

    # ripgrep on the raw file (page cache warmed first)
    if shutil.which("rg"):
        subprocess.run(["rg", "-c", "-F", "zzzz_warm_zzzz", a.csv], capture_output=True)
        for flags, needle, label in ((["-i", "-F"], ci_needle, "rg -i -F (raw file)"),
                                     (["-F"], cs_needle, "rg -F (raw file)")):
            t, out = timeit(lambda: subprocess.run(["rg", "-c", *flags, needle, a.csv],
                                                   capture_output=True, text=True).stdout, a.repeat)
            results.append((label, t, int(out.strip() or 0)))

    # pyarrow match_substring over all text columns of the case
    def pa_search(ignore_case):
        m = None
        for c in text_cols:
            x = pc.fill_null(pc.match_substring(ev[c], ci_needle if ignore_case else cs_needle,
                                                ignore_case=ignore_case), False)
            m = x if m is None else pc.or_(m, x)
        return pc.sum(m).as_py()
    t, n = timeit(lambda: pa_search(True), max(1, a.repeat // 2))
    results.append(("pyarrow match_substring ignore_case", t, n))
    t, n = timeit(lambda: pa_search(False), max(1, a.repeat // 2))
    results.append(("pyarrow match_substring", t, n))

    # polars over the same Arrow columns
    try:
        import polars as pl
        df = pl.from_arrow(ev.select(text_cols))
        lit = ci_needle.replace("\\", "\\\\").replace(".", "\\.")
        t, n = timeit(lambda: df.filter(pl.any_horizontal(
            [pl.col(c).str.contains("(?i)" + lit) for c in text_cols])).height, max(1, a.repeat // 2))
        results.append(("polars str.contains (?i)", t, n))
        t, n = timeit(lambda: df.filter(pl.any_horizontal(
            [pl.col(c).str.contains(cs_needle, literal=True) for c in text_cols])).height,
            max(1, a.repeat // 2))
        results.append(("polars str.contains literal", t, n))
    except ImportError:
        print("polars not installed: skipped (pip install polars)")

    # DuckDB ILIKE / LIKE over every column of the CSV loaded as a table
    con = duckdb.connect()
    t0 = time.perf_counter()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{a.csv}', all_varchar=true)")
    load = time.perf_counter() - t0
    cols = [r[0] for r in con.execute("DESCRIBE t").fetchall()]
    ilike = " OR ".join(f'"{c}" ILIKE \'%{ci_needle}%\'' for c in cols)
    like = " OR ".join(f'"{c}" LIKE \'%{cs_needle}%\'' for c in cols)
    t, n = timeit(lambda: con.execute(f"SELECT count(*) FROM t WHERE {ilike}").fetchone()[0],
                  max(1, a.repeat // 2))
    results.append(("duckdb ILIKE all columns", t, n))
    t, n = timeit(lambda: con.execute(f"SELECT count(*) FROM t WHERE {like}").fetchone()[0],
                  max(1, a.repeat // 2))
    results.append(("duckdb LIKE all columns", t, n))
    print(f"(duckdb loaded the CSV in {load:.1f} s, not counted)")

    warm_ci = [x for x in results if x[0] == "edrql search -i (warm)"][0][1]
    warm_cs = [x for x in results if x[0] == "edrql search cs (warm)"][0][1]
    print(f"\n{'engine':40s} {'median s':>9s} {'hits':>6s} {'engine / edrql':>15s}")
    for name, t, n in results:
        base = warm_cs if ("cs" in name.split()[-2:] or name.endswith("-F (raw file)") and "-i" not in name
                           or "LIKE all" in name and "ILIKE" not in name or "literal" in name
                           or name == "pyarrow match_substring") else warm_ci
        print(f"{name:40s} {t:9.3f} {n:6d} {t / base:15.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
