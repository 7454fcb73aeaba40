"""Shared helpers for the benchmarks: timed subprocesses with peak RSS, medians, machine info."""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORKDIR = "/tmp/edrql-bench"
DEFAULT_CSV = os.path.join(WORKDIR, "defender_2m.csv")
DEFAULT_ROWS = 2_200_000


@dataclass
class Run:
    seconds: float            # wall time, spawn → exit
    peak_rss: int             # bytes, maximum resident set size of the child (ru_maxrss)
    returncode: int
    stdout: str = ""
    stderr: str = ""
    user: float = 0.0         # CPU seconds
    system: float = 0.0


def run_measured(cmd: list[str], *, env: dict | None = None, cwd: str | None = None,
                 check: bool = True) -> Run:
    """Run a command; wall time and the child's own peak RSS via os.wait4 (not the parent's)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, ru = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        r = Run(seconds, ru.ru_maxrss * 1024, p.returncode, out.read().decode("utf-8", "replace"),
                err.read().decode("utf-8", "replace"), ru.ru_utime, ru.ru_stime)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stderr[-4000:]}")
    return r


def warm(path: str) -> float:
    """Read a file once (like cat > /dev/null) so timed runs all start from the page cache."""
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as fh:
        while fh.read(16 << 20):
            pass
    return time.perf_counter() - t0


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def table(rows: list[list], header: list[str]) -> str:
    """Plain-text table, right-aligned numbers."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r):
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def _sh(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:  # noqa: BLE001 - informational only
        return ""


def machine_info() -> dict:
    cpu = ""
    for line in _sh(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = 0
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for mod in ("pyarrow", "duckdb", "numpy"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    try:
        import edrql
        versions["edrql"] = getattr(edrql, "__version__", "?")
    except ImportError:
        versions["edrql"] = None
    commit = _sh(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    dirty = _sh(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no", "--", "edrql"])
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "cpu": cpu, "cores": os.cpu_count(), "ram": gib(mem), "kernel": platform.release(),
        "load": os.getloadavg()[0], "versions": versions,
        "edrql_commit": commit + (" (edrql/ has uncommitted changes)" if dirty else ""),
    }


def print_machine(info: dict, file=sys.stdout) -> None:
    v = info["versions"]
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['ram']} RAM, kernel {info['kernel']}, "
          f"load {info['load']:.2f}", file=file)
    print(f"date:    {info['date']}", file=file)
    print(f"versions: python {v['python']}, pyarrow {v['pyarrow']}, duckdb {v['duckdb']}, numpy {v['numpy']}, "
          f"edrql {v['edrql']} @ {info['edrql_commit']}", file=file)


def edrql_cmd() -> list[str]:
    exe = shutil.which("edrql")
    return [exe] if exe else [sys.executable, "-m", "edrql"]


def ensure_csv(path: str, rows: int, seed: int = 7) -> dict:
    """Generate the export if it is missing; return its needles.json (with size and time range)."""
    meta = path + ".needles.json"
    if not (os.path.exists(path) and os.path.exists(meta)):
        print(f"generating {path} ({rows:,} rows)…", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, os.path.join(HERE, "gen_defender.py"), path, "--rows", str(rows),
                        "--seed", str(seed)], check=True)
    with open(meta, encoding="utf-8") as fh:
        return json.load(fh)


def save_json(path: str | None, obj) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=1, ensure_ascii=False)


def ensure_case(csv_path: str, case_dir: str, rows: int) -> dict:
    """The export (generated if missing) and its case (ingested if missing); prints the
    machine line and returns machine_info()."""
    from edrql.store import is_case
    ensure_csv(csv_path, rows)
    info = machine_info()
    print_machine(info)
    if not is_case(case_dir):
        print(f"ingesting {csv_path} into {case_dir}…", file=sys.stderr, flush=True)
        run_measured(edrql_cmd() + ["ingest", csv_path, "--case", case_dir, "-q"])
    return info


# ---- helpers for whole-process comparisons (bench_contact.py)

# One SQL statement in a fresh process over a DuckDB database file, opened read-only; prints
# the rows as JSON. Kept to `import duckdb` alone so DuckDB pays only its own start-up.
DUCKDB_QUERY_SCRIPT = r"""
import json, sys
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute("SET enable_progress_bar = false")
con.execute("SET TimeZone = 'UTC'")
print(json.dumps(con.execute(sys.argv[2]).fetchall(), default=str))
"""


def command(arg: str | None) -> list[str]:
    """The edrql command to run: ``--edrql "PYTHONPATH=… python -m edrql"``-style text split like
    a shell would (leading NAME=VALUE words become environment), or the installed edrql."""
    import shlex
    if arg:
        return shlex.split(arg)
    beside = os.path.join(os.path.dirname(sys.executable), "edrql")    # this venv's script
    return [beside] if not shutil.which("edrql") and os.access(beside, os.X_OK) else edrql_cmd()


def split_env(cmd: list[str]) -> tuple[list[str], dict | None]:
    """Leading NAME=VALUE words of a command → (the command, os.environ updated with them)."""
    env, i = {}, 0
    while i < len(cmd) and "=" in cmd[i] and cmd[i].split("=", 1)[0].isidentifier():
        k, v = cmd[i].split("=", 1)
        env[k] = v
        i += 1
    return cmd[i:], ({**os.environ, **env} if env else None)


def tree_bytes(path: str) -> int:
    """Apparent size of every file under path (du --apparent-size -b), 0 if it does not exist."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def text_match_sql(columns: list[str], needle: str, table_name: str = "t", op: str = "ILIKE") -> str:
    """``SELECT count(*)`` of the rows where any of the columns matches ``%needle%`` (DuckDB)."""
    lit = needle.replace("'", "''")
    cond = " OR ".join(f'"{c}" {op} \'%{lit}%\'' for c in columns)
    return f"SELECT count(*) FROM {table_name} WHERE {cond}"


def duckdb_text_columns(con, table_name: str = "t") -> list[str]:
    """The VARCHAR columns of a DuckDB table, in table order."""
    return [r[0] for r in con.execute(f"DESCRIBE {table_name}").fetchall() if r[1] == "VARCHAR"]


def ratio_line(label: str, value: float, goal: float, *, at_most: bool = True, unit: str = "") -> str:
    """``label = value (goal <= goal: met|NOT met)``; at_most=False for a goal of >=."""
    ok = value <= goal if at_most else value >= goal
    return (f"{label} = {value:.2f}{unit} (goal {'<=' if at_most else '>='} {goal:g}{unit}: "
            f"{'met' if ok else 'NOT met'})")
