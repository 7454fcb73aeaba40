#!/usr/bin/env python3
"""Issue 15's goal: every SigmaHQ rule applicable to the data, edrql against pySigma's SQLite
backend (what Zircolite runs) and its DuckDB backend, over the same events.

    python benchmarks/bench_sigma.py [--data defender,sysmon] [--case DIR] [--rules PATH ...]
                                     [--repeat 3] [--budget 600] [--skip-process] [--workdir DIR]
                                     [--edrql CMD] [--json OUT]

Data: benchmarks/sigma_data.py's cases (/tmp/edrql-bench/case-sigma-mde: gen_defender's 2.2M
rows + seeds; case-sigma-sysmon: 1.2M Sysmon/Security/PowerShell events replayed from the
real OTRF captures). Run sigma_data.py first.

Peers' input, built from the edrql case so every engine reads the same values: for each
logsource of the applicable rules, one table of the rows edrql's Fields.rows() gives it and
one column per Sigma field its rules read, holding Fields.values() (columns named as the
rules write them; a field this data has no column for is a NULL column, edrql's "absent").
That is kinder to the peers than Zircolite's single `logs` table: a query scans only its own
logsource's rows and carries no EventID/Channel tests. SQLite: a file, no indexes, text
columns COLLATE NOCASE and a Python REGEXP, as Zircolite makes them; DuckDB: a file, text
columns COLLATE NOCASE (Sigma's equality ignores case; the DuckDB backend emits plain `=`).
Rules are converted with the backends' default format (untimed, like Zircolite's shipped
rulesets); each query's `SELECT *` is run and fetched. Correlation rules run on edrql only.

Timed, same run:
  edrql     warm: rules loaded, Fields built over the case's events as the REPL holds them
            (text columns dictionary-encoded), engine.evaluate() timed (median of --repeat; CPU
            seconds too → events/s per core); process: `edrql hunt CASE --rules … --format csv
            -o /dev/null` with a cold rule cache (fresh XDG_CACHE_HOME) and again cached.
  peers     one fresh `python` process each, as Zircolite runs: load the converted queries, open
            the DB file, run every query in a seeded random order and fetch its rows. Its query
            loop is the warm time, spawn → exit the process time. A peer still running after
            --budget seconds stops there; its totals are extrapolated (mean per query × query
            count) and labelled so.
Sanity: hits per rule from the three engines; disagreements listed (top 10).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import WORKDIR, command, machine_info, median, print_machine, run_measured, save_json, table  # noqa: E402

CASES = {"defender": os.path.join(WORKDIR, "case-sigma-mde"), "sysmon": os.path.join(WORKDIR, "case-sigma-sysmon")}
SHARED_RULES = "/work/shared/data/sigma"
DEFAULT_RULES = [os.path.join(SHARED_RULES, d) for d in ("rules", "rules-emerging-threats", "rules-threat-hunting")]
BACKENDS = ("sqlite", "duckdb")
SEED = 15

# A peer as Zircolite runs it: load converted queries, open the DB, run each, fetch the rows.
PEER_SCRIPT = r"""
import json, re, sys, time
backend, db, qfile, budget = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
queries = json.load(open(qfile))                 # [(rule index, SQL)], in the bench's seeded order
if backend == "sqlite":
    import sqlite3
    con = sqlite3.connect(db)
    def regexp(x, y):
        return 0 if y is None else (1 if re.search(x, y) else 0)
    con.create_function("REGEXP", 2, regexp, deterministic=True)
else:
    import duckdb
    con = duckdb.connect(db, read_only=True)
    con.execute("SET enable_progress_bar = false")
hits, errors, ran = {}, {}, 0
t0, c0 = time.perf_counter(), time.process_time()
for rid, q in queries:
    try:
        rows = con.execute(q).fetchall()
        hits[rid] = hits.get(rid, 0) + len(rows)
    except Exception as e:
        k = type(e).__name__ + ": " + str(e).splitlines()[0][:60]
        errors[k] = errors.get(k, 0) + 1
    ran += 1
    if time.perf_counter() - t0 > budget:
        break
print(json.dumps({"hits": hits, "errors": errors, "ran": ran, "loop_wall": time.perf_counter() - t0,
                  "loop_cpu": time.process_time() - c0}))
"""


# ------------------------------------------------------------------ rules (pySigma, for the peers)

@dataclass
class PeerRule:
    id: str
    title: str
    level: str
    category: str | None
    product: str | None
    service: str | None
    fields: frozenset
    sigma: object                     # the pySigma rule
    correlation: bool


def _fields_of(det, out: set) -> None:
    from sigma.rule import SigmaDetection
    for item in det.detection_items:
        if isinstance(item, SigmaDetection):
            _fields_of(item, out)
        elif item.field:
            out.add(item.field)
            for v in item.value:
                ref = getattr(v, "field", None)
                if isinstance(ref, str):
                    out.add(ref)


def load_peer_rules(paths: list[str]) -> tuple[list[PeerRule], int, Counter]:
    from sigma.collection import SigmaCollection
    from sigma.correlations import SigmaCorrelationRule
    files = []
    for p in paths:
        if os.path.isdir(p):
            for d, _, fs in os.walk(p):
                files += [os.path.join(d, f) for f in fs if f.endswith((".yml", ".yaml"))]
        else:
            files.append(p)
    files.sort()
    rules, bad = [], Counter()
    for f in files:
        try:
            coll = SigmaCollection.from_yaml(open(f, encoding="utf-8").read())
        except Exception as e:                                   # noqa: BLE001 - counted
            bad[type(e).__name__] += 1
            continue
        for r in coll.rules:
            corr = isinstance(r, SigmaCorrelationRule)
            fields: set = set()
            if not corr:
                for det in r.detection.detections.values():
                    _fields_of(det, fields)
            ls = getattr(r, "logsource", None)
            rules.append(PeerRule(str(r.id), r.title, str(r.level or ""), getattr(ls, "category", None),
                                  getattr(ls, "product", None), getattr(ls, "service", None), frozenset(fields), r,
                                  corr))
    return rules, len(files), bad


# ------------------------------------------------------------------ fields (MAP's)

def fields_class():
    """edrql.sigma.fieldmap.Fields and rules.LogSource: the peers see the values edrql matches."""
    from edrql.sigma.fieldmap import Fields
    from edrql.sigma.rules import LogSource
    return Fields, LogSource, "edrql.sigma.fieldmap"


# ------------------------------------------------------------------ the peers' tables

def build_tables(events: pa.Table, rules: list[PeerRule], Fields, LogSource):
    """Applicable rules grouped by logsource → one arrow table per group (row_ + its fields)."""
    fields = Fields(events)
    groups: dict = defaultdict(list)
    for i, r in enumerate(rules):
        if not r.correlation:
            groups[(r.category, r.product, r.service)].append(i)
    tables, applicable, not_applicable = {}, {}, 0
    for n, (key, idx) in enumerate(sorted(groups.items(), key=lambda kv: str(kv[0]))):
        ls = LogSource(*key)
        rows = fields.rows(ls)
        if len(rows) == 0:
            not_applicable += len(idx)
            continue
        cols = {"row_": pa.array(rows, pa.int64())}
        for f in sorted(set().union(*(rules[i].fields for i in idx))):
            v = fields.values(f, rows, ls)
            if v is None:
                v = pa.nulls(len(rows), pa.string())
            if len(v) != len(rows):
                raise RuntimeError(f"Fields.values({f!r}) gave {len(v)} values for {len(rows)} rows of {key}")
            if isinstance(v, pa.ChunkedArray):
                v = v.combine_chunks()
            if pa.types.is_dictionary(v.type):
                v = v.dictionary_decode()
            if not (pa.types.is_integer(v.type) or pa.types.is_floating(v.type)):
                v = v.cast(pa.string())
            cols[f] = v
        name = f"ls_{n}"
        tables[name] = pa.table(cols)
        for i in idx:
            applicable[i] = name
    return tables, applicable, not_applicable, fields


def _sql_type(t: pa.DataType) -> str:
    return "INTEGER" if pa.types.is_integer(t) else "REAL" if pa.types.is_floating(t) else "TEXT COLLATE NOCASE"


def write_sqlite(path: str, tables: dict) -> None:
    if os.path.exists(path):
        os.remove(path)
    con = sqlite3.connect(path)
    for name, t in tables.items():
        cols = ", ".join(f'"{c}" {_sql_type(t.schema.field(c).type)}' for c in t.column_names)
        con.execute(f'CREATE TABLE "{name}" ({cols})')
        marks = ", ".join("?" * t.num_columns)
        for b in t.to_batches(100_000):
            con.executemany(f'INSERT INTO "{name}" VALUES ({marks})', zip(*(c.to_pylist() for c in b.columns)))
    con.commit()
    con.close()


def write_duckdb(path: str, tables: dict) -> None:
    import duckdb
    if os.path.exists(path):
        os.remove(path)
    con = duckdb.connect(path)
    for name, t in tables.items():
        def ty(f):
            return ("BIGINT" if pa.types.is_integer(f.type) else "DOUBLE" if pa.types.is_floating(f.type)
                    else "VARCHAR COLLATE NOCASE")
        cols = ", ".join(f'"{f.name}" {ty(f)}' for f in t.schema)
        con.execute(f'CREATE TABLE "{name}" ({cols})')
        con.register("src", t)
        con.execute(f'INSERT INTO "{name}" SELECT * FROM src')
        con.unregister("src")
    con.close()


def convert(rules: list[PeerRule], applicable: dict) -> tuple[dict, dict]:
    """backend → [(rule index, SQL)], backend → Counter of failure reasons."""
    from sigma.backends.sqlite import sqliteBackend
    from sigma_backend_duckdb import DuckDBBackend
    out, fails = {}, {}
    for be, cls in (("sqlite", sqliteBackend), ("duckdb", DuckDBBackend)):
        backend, qs, bad = cls(), [], Counter()
        for i, tname in sorted(applicable.items()):
            try:
                for q in backend.convert_rule(rules[i].sigma):
                    head = "SELECT * FROM logs WHERE "
                    if not q.startswith(head):
                        raise ValueError("unexpected query shape")
                    qs.append((i, f'SELECT * FROM "{tname}" WHERE ' + q[len(head):]))
            except Exception as e:                               # noqa: BLE001 - counted and reported
                bad[f"{type(e).__name__}: {str(e).splitlines()[0][:70]}"] += 1
        out[be], fails[be] = qs, bad
    return out, fails


def run_peer(be: str, db: str, queries: list, budget: float) -> dict:
    """One fresh process (as Zircolite runs): load the queries, open the DB, run them in a seeded
    random order until `budget` seconds; its query loop is the warm time, spawn → exit the
    process time. A stopped run is extrapolated: mean per query × query count."""
    order = list(range(len(queries)))
    random.Random(SEED).shuffle(order)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump([queries[k] for k in order], fh)
        qfile = fh.name
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(PEER_SCRIPT)
        script = fh.name
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        r = run_measured([sys.executable, script, be, db, qfile, str(budget)], env=env, cwd="/tmp")
    finally:
        os.remove(qfile)
        os.remove(script)
    out = json.loads(r.stdout)
    ran, n = out["ran"], len(queries)
    f = n / ran
    return {"wall": out["loop_wall"], "cpu": out["loop_cpu"], "ran": ran, "of": n, "complete": ran == n,
            "estimate": out["loop_wall"] * f, "cpu_estimate": out["loop_cpu"] * f,
            "process": r.seconds, "process_cpu": r.user + r.system,
            "process_estimate": r.seconds - out["loop_wall"] + out["loop_wall"] * f,
            "process_cpu_estimate": r.user + r.system - out["loop_cpu"] + out["loop_cpu"] * f,
            "hits": Counter({int(k): v for k, v in out["hits"].items()}), "errors": Counter(out["errors"]),
            "rules_ran": {queries[k][0] for k in order[:ran]}}


# ------------------------------------------------------------------ edrql

def edrql_warm(case_events: pa.Table, paths: list[str], repeat: int) -> dict | None:
    try:
        from edrql.sigma import engine, rules as srules
        from edrql.sigma.fieldmap import Fields
    except ImportError as e:
        print(f"edrql warm: skipped ({e})")
        return None
    t0 = time.perf_counter()
    rs = srules.load(paths)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    fields = Fields(case_events)
    t_fields = time.perf_counter() - t0
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = engine.evaluate(rs.rules, fields)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    per = Counter()
    rule_idx = out.hits.column("rule").to_numpy()
    for k, v in zip(*np.unique(rule_idx, return_counts=True)):
        per[rs.rules[int(k)].id] += int(v)
    statuses = Counter(s for s, _ in out.status)
    kinds = Counter(r.kind for r in rs.rules)
    res = {"load": t_load, "fields": t_fields, "walls": walls, "cpus": cpus, "hits": per, "rules": len(rs.rules),
           "skipped": len(rs.skipped), "files": rs.files, "status": dict(statuses), "n_hits": out.hits.num_rows,
           "kinds": dict(kinds)}
    print(f"edrql warm: {rs.files} files, {len(rs.rules)} rules {dict(kinds)} ({len(rs.skipped)} skipped) loaded in "
          f"{t_load:.1f}s; Fields {t_fields:.2f}s; evaluate {', '.join(f'{w:.2f}' for w in walls)} s wall, "
          f"{', '.join(f'{c:.2f}' for c in cpus)} s cpu; status {dict(statuses)}; {out.hits.num_rows:,} hit rows",
          flush=True)
    return res


def edrql_process(case: str, paths: list[str], cmd: list[str]) -> dict | None:
    res = {}
    with tempfile.TemporaryDirectory(prefix="edrql-sigma-cache-") as cache:
        env = {**os.environ, "XDG_CACHE_HOME": cache}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for label in ("cold", "cached"):
            argv = cmd + ["hunt", case, "--rules", *paths, "--format", "csv", "-o", "/dev/null"]
            r = run_measured(argv, env=env, cwd="/tmp", check=False)
            if r.returncode != 0:
                print(f"edrql hunt ({label}) exited {r.returncode}: {r.stderr.strip()[-400:]}")
                return res or None
            res[label] = {"wall": r.seconds, "cpu": r.user + r.system}
            print(f"edrql hunt ({label} rule cache): {r.seconds:.2f}s wall, {r.user + r.system:.2f}s cpu", flush=True)
    return res


# ------------------------------------------------------------------ one dataset

def bench(data: str, args, rules: list[PeerRule], cmd: list[str]) -> dict:
    import edrql
    case = args.case or CASES[data]
    print(f"\n=== {data}: {case}")
    t0 = time.perf_counter()
    opened = edrql.open(case)
    events = opened.query("events")
    print(f"events: {events.num_rows:,} rows, {events.num_columns} columns (read in {time.perf_counter() - t0:.1f}s)")
    Fields, LogSource, fsrc = fields_class()
    t0 = time.perf_counter()
    tables, applicable, not_appl, _ = build_tables(events, rules, Fields, LogSource)
    print(f"peers' tables ({fsrc}): {len(tables)} logsource tables, {sum(t.num_rows for t in tables.values()):,} rows, "
          f"{sum(t.num_columns for t in tables.values())} columns; {len(applicable)} rules applicable, "
          f"{not_appl} not ({time.perf_counter() - t0:.1f}s)")
    queries, fails = convert(rules, applicable)
    for be in BACKENDS:
        print(f"{be}: {len(queries[be])} queries from {len(applicable) - sum(fails[be].values())} rules; "
              f"{sum(fails[be].values())} rules failed to convert: {dict(fails[be].most_common(4))}")
    os.makedirs(args.workdir, exist_ok=True)
    dbs = {be: os.path.join(args.workdir, f"sigma-{data}.{be}") for be in BACKENDS}
    t0 = time.perf_counter()
    write_sqlite(dbs["sqlite"], tables)
    write_duckdb(dbs["duckdb"], tables)
    print(f"DB files written in {time.perf_counter() - t0:.1f}s (untimed)", flush=True)
    del tables
    res = {"data": data, "case": case, "events": events.num_rows, "applicable": len(applicable),
           "fields_source": fsrc, "convert_failures": {be: dict(fails[be]) for be in BACKENDS},
           "queries": {be: len(queries[be]) for be in BACKENDS}}
    del events
    # edrql warm reads the table the REPL's `events | sigma(…)` reads: the case's own events
    # (text columns dictionary-encoded as stored), not the plain copy the peers' tables came from
    ew = edrql_warm(opened.store.events, args.rules, args.repeat)
    peers = {}
    for be in BACKENDS:
        w = run_peer(be, dbs[be], queries[be], args.budget)
        peers[be] = w
        lab = "" if w["complete"] else f" (stopped at budget: {w['ran']}/{w['of']} queries; full set extrapolated)"
        print(f"{be}: query loop {w['wall']:.1f}s wall, {w['cpu']:.1f}s cpu for {w['ran']} queries; full set "
              f"{w['estimate']:.1f}s{lab}; process {w['process']:.1f}s; errors {dict(w['errors'].most_common(3))}",
              flush=True)
    ep = None if args.skip_process else edrql_process(case, args.rules, cmd)
    report(res, ew, peers, ep, rules)
    return res


def report(res, ew, peers, ep, rules) -> None:
    n = res["events"]
    rows = []
    wm = median(ew["walls"]) if ew else None
    if ew:
        cm = median(ew["cpus"])
        rows.append(["edrql evaluate", f"{wm:.2f}", f"{cm:.2f}", f"{n / wm:,.0f}", f"{n / cm:,.0f}", "1.00", ""])
    for be, p in peers.items():
        note = "" if p["complete"] else f"extrapolated from {p['ran']}/{p['of']} queries"
        rows.append([f"{be} query loop", f"{p['estimate']:.2f}", f"{p['cpu_estimate']:.2f}", f"{n / p['estimate']:,.0f}",
                     f"{n / p['cpu_estimate']:,.0f}", f"{p['estimate'] / wm:.1f}" if ew else "-", note])
    print()
    print(table(rows, ["warm", "wall s", "cpu s", "events/s", "events/s/core (cpu)", "peer/edrql", "note"]))
    best = min(p["estimate"] for p in peers.values())
    if ew:
        r = best / wm
        eps = n / median(ew["cpus"])
        print(f"warm: best peer / edrql = {r:.1f} (goal >= 20: {'met' if r >= 20 else 'NOT met'}); edrql "
              f"{eps:,.0f} events/s per core of CPU time (goal >= 100k: {'met' if eps >= 100_000 else 'NOT met'})")
        res["edrql_warm"] = {k: ew[k] for k in ("load", "fields", "walls", "cpus", "rules", "skipped", "status", "kinds")}
    res["peers"] = {be: {k: p[k] for k in ("wall", "cpu", "ran", "of", "complete", "estimate", "cpu_estimate",
                                           "process", "process_cpu", "process_estimate", "process_cpu_estimate")} for be, p in peers.items()}
    prow = []
    if ep:
        for lab in ep:
            prow.append([f"edrql hunt ({lab} rule cache)", f"{ep[lab]['wall']:.2f}", f"{ep[lab]['cpu']:.2f}",
                         "1.00" if lab == "cached" else "", ""])
    for be, p in peers.items():
        ratio = f"{p['process_estimate'] / ep['cached']['wall']:.1f}" if ep and "cached" in ep else "-"
        note = "" if p["complete"] else f"extrapolated: {p['process']:.1f}s for {p['ran']}/{p['of']} queries"
        prow.append([f"{be} script", f"{p['process_estimate']:.2f}", f"{p['process_cpu_estimate']:.2f}", ratio, note])
    print()
    print(table(prow, ["process", "wall s", "cpu s", "peer/edrql cached", "note"]))
    if ep and "cached" in ep:
        r = min(p["process_estimate"] for p in peers.values()) / ep["cached"]["wall"]
        print(f"process: best peer / edrql hunt (cached rules) = {r:.1f} (goal >= 20: {'met' if r >= 20 else 'NOT met'})")
    res["edrql_process"] = ep
    # sanity: hits per rule, over the rules every peer ran
    ran = set.intersection(*({rules[i].id for i in p["rules_ran"]} for p in peers.values()))
    by = {be: Counter() for be in peers}
    for be, p in peers.items():
        for i, c in p["hits"].items():
            by[be][rules[i].id] += c
    title = {r.id: r.title for r in rules}
    dis = []
    for rid in ran:
        vals = [by[be][rid] for be in peers] + ([ew["hits"].get(rid, 0)] if ew else [])
        if len(set(vals)) > 1:
            dis.append((max(vals) - min(vals), rid, vals))
    dis.sort(reverse=True)
    fired = {be: sum(1 for rid in ran if by[be][rid]) for be in peers}
    if ew:
        fired["edrql"] = sum(1 for rid in ran if ew["hits"].get(rid))
    print(f"\nsanity: {len(ran)} rules run by every engine; rules firing: {fired}; "
          f"{len(dis)} rules where the hit counts differ (top 10 by difference):")
    hdr = ["rule", "id"] + list(peers) + (["edrql"] if ew else [])
    print(table([[title[rid][:55], rid[:8]] + vals for _, rid, vals in dis[:10]], hdr))
    res["disagreements"] = [(rid, title[rid], vals) for _, rid, vals in dis]
    res["fired"] = fired


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="defender,sysmon")
    ap.add_argument("--case", help="a case to use instead of the data set's default (one data set)")
    ap.add_argument("--rules", nargs="+", default=DEFAULT_RULES)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--budget", type=float, default=600.0, help="seconds per peer's warm run before sampling")
    ap.add_argument("--workdir", default=WORKDIR, help="where the SQLite and DuckDB files are written")
    ap.add_argument("--skip-process", action="store_true")
    ap.add_argument("--edrql", help="the edrql command (default: this venv's)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    info = machine_info()
    print_machine(info)
    t0 = time.perf_counter()
    rules, files, bad = load_peer_rules(args.rules)
    print(f"rules (pySigma, for the peers): {files} files, {len(rules)} rules "
          f"({sum(r.correlation for r in rules)} correlations), {sum(bad.values())} files rejected {dict(bad)} "
          f"in {time.perf_counter() - t0:.1f}s")
    out = {"machine": info, "runs": []}
    for data in args.data.split(","):
        out["runs"].append(bench(data, args, rules, command(args.edrql)))
    save_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
