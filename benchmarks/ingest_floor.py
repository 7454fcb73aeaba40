"""The floor under any ingest that keeps the raw fields, next to DuckDB's load, in
one run: parsing the export alone, and parsing plus writing the raw columns as
Arrow IPC (no normalization, dedup or manifest). Each timing is a fresh
interpreter, like `edrql ingest`; polars is timed when it is installed.

    python benchmarks/ingest_floor.py [CSV] [--repeat 3]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time

from common import DEFAULT_CSV, WORKDIR

ARROW_READ = ("import pyarrow as pa, pyarrow.csv as c\n"
              "names = open({f!r}).readline().strip().split(',')\n"
              "t = c.read_csv({f!r}, parse_options=c.ParseOptions(newlines_in_values=True),\n"
              "    convert_options=c.ConvertOptions(column_types={{n: pa.string() for n in names}}))\n")
ARROW_WRITE = ("with pa.OSFile({out!r}, 'wb') as s, pa.ipc.new_file(s, t.schema) as w:\n"
               "    w.write_table(t)\n")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("csv", nargs="?", default=DEFAULT_CSV)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    out = os.path.join(WORKDIR, "floor.arrow")
    f = a.csv
    cmds = {
        "duckdb read_csv (load)": ("import duckdb\nc = duckdb.connect()\n"
                                   "c.execute('SET enable_progress_bar = false')\n"
                                   f"c.execute(\"CREATE TABLE t AS SELECT * FROM read_csv('{f}')\")\n"),
        "pyarrow read_csv only": ARROW_READ.format(f=f),
        "pyarrow read + write IPC": ARROW_READ.format(f=f) + ARROW_WRITE.format(out=out),
    }
    if importlib.util.find_spec("polars"):
        cmds["polars read_csv only"] = f"import polars as pl\npl.read_csv({f!r}, infer_schema=False)\n"
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(a.repeat):
        for name, code in cmds.items():
            subprocess.run(["sync"], check=False)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times[name].append(time.perf_counter() - t0)
            if os.path.exists(out):
                os.remove(out)
    for name, ts in times.items():
        print(f"{name:26s} median {statistics.median(ts):.2f} s  (" + ", ".join(f"{x:.2f}" for x in ts) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
