#!/usr/bin/env python3
"""Plain (number/time) columns of a compact case: how they are stored, and what opening costs.

    python benchmarks/bench_numcols.py NAME=PYTHONPATH:CASE [NAME=PYTHONPATH:CASE ...] [--repeat 7]

Each side is an edrql tree (PYTHONPATH) and a case it reads, e.g. the old code on a case it
wrote beside the new code on the same export ingested by it:

    python benchmarks/bench_numcols.py old=/tmp/old:/tmp/case-old new=$PWD:/tmp/case-new

For each side: the events segments' bytes, each plain column's store and stored bytes; then,
alternating the sides, --repeat fresh processes that each time ``segcodec.decode`` of every
segment (the first decode of a process: the one a one-shot query pays, fresh memory included)
and five more in the same process (memory reused), and --repeat whole one-shot processes of
``events | where name == "cmd.exe" | stats count() by host``. Medians, with the first side's
ratio. The one-shot answers of all sides must agree (exit 1 otherwise).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

QUERY = 'events | where name == "cmd.exe" | stats count() by host'

PROBE = r"""
import glob, json, sys, time
import pyarrow as pa
from edrql import segcodec
paths = sorted(glob.glob(sys.argv[1] + "/events/*.arrow"))
times = []
for i in range(6):
    s = time.perf_counter()
    out = [segcodec.decode(pa.ipc.open_file(pa.memory_map(p)).read_all()) for p in paths]
    times.append((time.perf_counter() - s) * 1e3)
    if i < 5:
        del out
print(json.dumps(times))
"""

SIZES = r"""
import glob, json, os, sys
import pyarrow as pa
from edrql import segcodec
cols, total = {}, 0
for p in sorted(glob.glob(sys.argv[1] + "/events/*.arrow")):
    total += os.path.getsize(p)
    t = pa.ipc.open_file(pa.memory_map(p)).read_all()
    layout = segcodec.layout_of(t.schema) or {"columns": [[c, {"store": "plain"}] for c in t.column_names]}
    for c, h in layout["columns"]:
        if not segcodec.is_text_type(segcodec.decoded_schema(t.schema).field(c).type):
            n = t.column(c).nbytes if c in t.column_names else 0
            k = cols.setdefault(c, [set(), 0])
            k[0].add(h["store"])
            k[1] += n
print(json.dumps({"bytes": total, "columns": {c: [sorted(s), n] for c, (s, n) in cols.items()}}))
"""


def _env(pythonpath: str) -> dict:
    env = dict(os.environ, PYTHONPATH=pythonpath)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _py(pythonpath: str, code: str, case: str) -> str:
    r = subprocess.run([sys.executable, "-c", code, case], env=_env(pythonpath), capture_output=True,
                       text=True, timeout=600)
    if r.returncode:
        sys.exit(f"{pythonpath}: {r.stderr.strip()[-400:]}")
    return r.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sides", nargs="+", help="NAME=PYTHONPATH:CASE")
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()
    sides = []
    for s in a.sides:
        name, _, rest = s.partition("=")
        path, _, case = rest.rpartition(":")
        if not (name and path and case):
            ap.error(f"{s!r}: give NAME=PYTHONPATH:CASE")
        sides.append((name, path, case))
        subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(path, "edrql")],
                       env=_env(path), check=False)
    for name, path, case in sides:
        info = json.loads(_py(path, SIZES, case))
        print(f"{name}: events segments {info['bytes'] / 1e6:,.1f} MB")
        for c, (stores, n) in info["columns"].items():
            print(f"    {c:14} {'/'.join(stores):6} {n / 1e6:8.2f} MB")
    first, later, shot, answers = ({n: [] for n, _, _ in sides} for _ in range(4))
    for _ in range(a.repeat):
        for name, path, case in sides:
            t = json.loads(_py(path, PROBE, case))
            first[name].append(t[0])
            later[name].append(statistics.median(t[1:]))
            s = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "edrql", case, "-c", QUERY], env=_env(path),
                               capture_output=True, text=True, timeout=600)
            shot[name].append((time.perf_counter() - s) * 1e3)
            answers[name].append(r.stdout if r.returncode == 0 else f"exit {r.returncode}: {r.stderr}")
    base = sides[0][0]
    for label, d in (("first decode (fresh process)", first), ("later decodes (same process)", later),
                     ("one-shot where + stats by", shot)):
        print(label)
        for name, _, _ in sides:
            m = statistics.median(d[name])
            print(f"    {name:8} median {m:8.2f} ms   min {min(d[name]):8.2f}   "
                  f"x{m / statistics.median(d[base]):.3f}")
    ok = len({x for v in answers.values() for x in v}) == 1
    print("answers agree" if ok else "ANSWERS DIFFER")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
