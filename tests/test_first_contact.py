"""A one-shot query pays only for what it touches (issue 13, "fast first contact").

``edrql CASE -c QUERY`` over a case folder imports neither the ingest machinery (ingest,
readers, profiles, normalize) nor the lineage and network pipes' modules, nor the Device*
table builder, unless the query uses them; the pipes are named lazily (edrql/lazypipes.py)
and their declarations (what the checker reads) agree with the functions' own.
No timing here: speed is measured in benchmarks/.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: run cli.main on argv[1:] like the edrql command, then print the edrql modules loaded
PROBE = """
import json, sys
import edrql.cli
rc = edrql.cli.main(sys.argv[1:])
sys.stdout.flush()
print("\\nMODULES " + json.dumps(sorted(m for m in sys.modules if m.startswith("edrql"))))
sys.exit(rc)
"""

#: never imported by a query that does not ingest, build lineage or read Device* tables
HEAVY = ("edrql.ingest", "edrql.readers", "edrql.normalize", "edrql.profiles", "edrql.lineage",
         "edrql.lineage_ops", "edrql.netops", "edrql.correlate", "edrql.devtables")


def _probe(*argv, cache):
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                       env=env, cwd=str(ROOT), timeout=120)
    out, _, mods = p.stdout.rpartition("\nMODULES ")
    return p.returncode, out, p.stderr, set(json.loads(mods)) if mods else set()


def _heavy(mods: set) -> list[str]:
    return sorted(m for m in mods if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize("query, first_line", [
    ("events | take 5 | count", '"count"'),
    ('events | where name == "cmd.exe" | stats count() by host', '"host","count"'),
    ('search "x" | count', '"count"'),
    ("events | where ts > ago(1h) | count", '"count"'),
])
def test_a_one_shot_query_imports_no_ingest_lineage_or_device_code(example_case, tmp_path,
                                                                   query, first_line):
    rc, out, err, mods = _probe(example_case.root, "-c", query, cache=tmp_path)
    assert rc == 0, err
    assert out.splitlines()[0] == first_line and len(out.splitlines()) >= 2
    assert "edrql.execute" in mods and "edrql.parse" in mods     # the probe saw the query run
    assert _heavy(mods) == []


def test_events_count_loads_no_arrow_parser_or_engine(example_case, tmp_path):
    """`events | count` is the sum of the manifest's rows_stored (edrql/quickcount.py;
    tests/test_quickcount.py compares its bytes with the normal path's)."""
    rc, out, err, mods = _probe(example_case.root, "-c", "events | count", cache=tmp_path)
    assert rc == 0, err
    assert out.splitlines()[0] == '"count"' and int(out.splitlines()[1]) > 0
    assert "edrql.quickcount" in mods
    assert not {"edrql.execute", "edrql.parse", "edrql.store", "edrql.query"} & mods
    script = ("import sys, edrql.cli; sys.argv[1:] = [sys.argv[1], '-c', 'events | count']; "
              "rc = edrql.cli.main(sys.argv[1:]); "
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyarrow', 'numpy', 'lark')))")
    p = subprocess.run([sys.executable, "-c", script, example_case.root], capture_output=True,
                       text=True, cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)),
                       timeout=60)
    assert p.returncode == 0 and p.stdout.splitlines()[-1] == "[]", p.stdout + p.stderr


def test_the_modules_load_when_the_query_needs_them(example_case, tmp_path):
    rc, out, err, mods = _probe(example_case.root, "-c", "procs | count", cache=tmp_path)
    assert rc == 0, err
    assert int(out.splitlines()[1]) > 0
    assert {"edrql.lineage_ops", "edrql.lineage"} <= mods and "edrql.ingest" not in mods
    rc, out, err, mods = _probe(example_case.root, "-c", "DeviceProcessEvents | count",
                                cache=tmp_path)
    assert rc == 0, err
    assert int(out.splitlines()[1]) > 0 and "edrql.devtables" in mods


def test_info_on_a_case_folder_imports_no_ingest(example_case, tmp_path):
    rc, out, err, mods = _probe("info", example_case.root, cache=tmp_path)
    assert rc == 0, err
    assert "pc-sales-07" in out and "edrql.info" in mods and "edrql.ingest" not in mods


def test_export_files_still_go_through_ingest(tmp_path):
    export = ROOT / "examples" / "case" / "export_early.csv"
    rc, out, err, mods = _probe(str(export), "-c", "events | count", cache=tmp_path)
    assert rc == 0, err
    assert int(out.splitlines()[1]) > 0 and "edrql.ingest" in mods


def test_data_errors_of_modules_not_loaded_are_still_one_message(tmp_path):
    """cli._guard names the error classes of the modules a run loaded (a SourceError
    needs the readers): a missing export is exit 1 and one line, no internal error."""
    rc, out, err, mods = _probe(str(tmp_path / "missing.csv"), "-c", "events | count",
                                cache=tmp_path)
    assert rc == 1
    assert err.startswith("edrql: ") and "no such file" in err and "internal error" not in err
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json")
    rc, out, err, mods = _probe(str(tmp_path / "broken"), "-c", "events | count",
                                cache=tmp_path)
    assert rc == 1 and err.startswith("edrql: ") and "internal error" not in err
    assert "edrql.ingest" not in mods


# ---------------------------------------------------------------- the lazy pipe registry
def _real_pipes() -> dict:
    from edrql.lineage_ops import pipes as lineage_pipes
    from edrql.netops import pipes as net_pipes
    return {**lineage_pipes(), **net_pipes()}


def test_the_context_has_every_pipe_in_the_same_order(example_case):
    from edrql.query import make_context
    ctx = make_context(example_case)
    real = _real_pipes()
    assert list(ctx.pipes) == ["timeline", "sigma"] + list(real)      # sigma: edrql/sigma/stage.py
    for name, fn in real.items():
        assert ctx.pipes[name].function() is fn, name


class _Call:                       # what output_columns receives (its by/args unused here)
    name, args, kwargs, by = "x", [], {}, []


def test_every_declaration_agrees_with_the_function(example_case):
    """What the checker reads of a pipe is declared in lazypipes.py and on the function in
    lineage_ops.py / netops.py: a column added on one side only fails here."""
    from edrql.lazypipes import DECLARED, pipes
    from edrql.query import make_context
    ctx = make_context(example_case)
    real = _real_pipes()
    for name, lazy in pipes().items():
        fn = real[name]
        have = {a for a in DECLARED if hasattr(fn, a)}
        assert {a for a in DECLARED if hasattr(lazy, a)} == have, name
        if "is_table" in have:
            assert lazy.is_table == fn.is_table
        if "table_columns" in have:
            assert lazy.table_columns(ctx) == list(fn.table_columns(ctx)), name
        if "output_columns" in have:
            assert lazy.output_columns(["a"], _Call()) == list(fn.output_columns(["a"], _Call()))
        if "arg_kinds" in have:
            assert lazy.arg_kinds == fn.arg_kinds, name


def test_a_lazy_pipe_answers_declarations_without_importing(tmp_path):
    """In a fresh process: reading what the checker needs imports nothing; a call does."""
    script = """
import sys
from edrql.lazypipes import pipes
p = pipes()
assert p["procs"].is_table and "proc" in p["procs"].table_columns(None)
assert "depth" in p["tree"].output_columns(None, None)
assert not hasattr(p["tree"], "arg_kinds") and not hasattr(p["tree"], "table_columns")
assert "edrql.lineage_ops" not in sys.modules and "edrql.netops" not in sys.modules
assert p["tree"].__name__ == "tree" and "edrql.lineage_ops" in sys.modules
print("ok")
"""
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr


def test_pipes_run_through_the_registry(example_case):
    from edrql.query import execute_text, make_context
    ctx = make_context(example_case)
    [r] = execute_text(ctx, "procs | count")
    assert r.table.column("count")[0].as_py() == example_case.lineage.procs.num_rows > 0
    [r] = execute_text(ctx, 'procs | where name == "cmd.exe" | take 1 | ancestors()')
    assert {"level", "of"} <= set(r.table.column_names)


def test_the_command_line_itself_loads_no_arrow(tmp_path):
    """`import edrql.cli` (argument parsing, --help, --version, usage errors) loads neither
    pyarrow nor the query engine: they come with the first command that reads a case."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-m", "edrql", "--version"], capture_output=True,
                       text=True, cwd=str(ROOT), env=env, timeout=60)
    assert p.returncode == 0 and p.stdout.startswith("edrql ")
    script = ("import sys, edrql.cli; print(sorted(m for m in sys.modules if m.startswith("
              "('pyarrow', 'numpy', 'lark', 'edrql.store', 'edrql.execute'))))")
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       cwd=str(ROOT), env=env, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "[]", p.stdout + p.stderr


def test_a_one_shot_query_starts_without_the_cycle_collector_and_resumes_it(example_case,
                                                                          tmp_path):
    """fastexit turns the collector off for a one-shot query's start-up; cli.started()
    freezes the start-up objects (the parser is loaded by then, unless the parse cache holds
    the query: then Lark is not imported at all) and turns it back on before the query runs.
    A run that is no one-shot query (cli.main called directly, the REPL) never has it off:
    started() then changes nothing."""
    script = """
import gc, json, sys
from edrql import cli, fastexit
seen = {}
def spy(text=None, orig=cli.started):
    seen["off_before"] = not gc.isenabled()
    seen["parser_loaded"] = "edrql.parse" in sys.modules and \\
        sys.modules["edrql.parse"].parser.cache_info().currsize == 0
    orig(text)
    seen["on_after"], seen["frozen"] = gc.isenabled(), gc.get_freeze_count()
    seen["parser_loaded"] = "edrql.parse" in sys.modules and \\
        sys.modules["edrql.parse"].parser.cache_info().currsize == 1
    print(json.dumps(seen), file=sys.stderr)
cli.started = spy
sys.argv = ["edrql", sys.argv[1], "-c", "events | take 1 | count"]
fastexit.main()
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(tmp_path))
    for run in ("parsed", "from the parse cache"):
        p = subprocess.run([sys.executable, "-c", script, example_case.root], capture_output=True,
                           text=True, cwd=str(ROOT), env=env, timeout=120)
        assert p.returncode == 0 and p.stdout.splitlines()[0] == '"count"', p.stderr
        seen = json.loads(p.stderr.strip().splitlines()[-1])
        assert seen["off_before"] and seen["on_after"], run
        assert seen["parser_loaded"] == (run == "parsed"), run
        assert seen["frozen"] > 10_000                 # the start-up objects: out of its view
    import gc
    from edrql import cli
    frozen = gc.get_freeze_count()
    assert gc.isenabled()
    cli.started()                                   # collector on: nothing to do
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_a_where_and_stats_one_shot_on_a_parse_cache_hit_imports_no_parser(example_case,
                                                                           tmp_path):
    """The whole command (fastexit, as `edrql CASE -c` runs it): the second run of a text
    takes its statements from the parse cache and imports neither Lark nor edrql's parser,
    nor what a where + stats query does not run: joins, migrate (a compact case's layout
    note), hashlib (OpenSSL; the parse cache hashes with the interpreter's own sha256), nor
    pyarrow.compute's help texts (pydoc: edrql.arrowstart)."""
    script = """
import json, os, sys
from edrql import fastexit
leave = os._exit
def spy(rc):                        # the modules at the end of the run (fastexit leaves so)
    mods = sorted(m for m in sys.modules if m.split(".")[0] in ("edrql", "lark", "hashlib", "pydoc"))
    print("MODULES " + json.dumps(mods), file=sys.stderr)
    sys.stderr.flush()
    leave(rc)
os._exit = spy
sys.argv = ["edrql", sys.argv[1], "--format", "csv", "-c", sys.argv[2]]
fastexit.main()
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(tmp_path))
    query = 'events | where name == "chrome.exe" | stats count() by host'
    outs = []
    for run in ("parsed", "from the parse cache"):
        p = subprocess.run([sys.executable, "-c", script, example_case.root, query],
                           capture_output=True, text=True, cwd=str(ROOT), env=env, timeout=120)
        assert p.returncode == 0, p.stderr
        mods = set(json.loads(p.stderr.rpartition("MODULES ")[2]))
        assert "edrql.execute" in mods and "edrql.summarize" in mods, run
        assert ("lark" in mods and "edrql.parse" in mods) == (run == "parsed"), run
        outs.append(p.stdout)
    assert not {"edrql.joins", "edrql.joinkeys", "edrql.migrate", "hashlib"} & mods, mods
    assert "pydoc" not in mods and "edrql.arrowstart" in mods      # Arrow's help texts unmade
    assert not _heavy(mods)
    assert outs[0] == outs[1] and outs[0].startswith('"host","count"\n') and \
        len(outs[0].splitlines()) > 1


def test_arrow_compute_imported_without_help_texts_works_and_leaves_nothing_stubbed():
    """edrql.arrowstart: a one-shot query imports pyarrow.compute without building its
    signatures and docstrings; its functions answer as usual (options, keywords), and
    inspect and pyarrow's docstring scraper are as they were afterwards."""
    script = """
import inspect, sys
import pyarrow as pa
before = inspect.signature, inspect.Signature, inspect.Parameter
from edrql.arrowstart import import_compute
import_compute()
import pyarrow.compute as pc
assert (inspect.signature, inspect.Signature, inspect.Parameter) == before
assert "pydoc" not in sys.modules and "pyarrow.vendored.docscrape" not in sys.modules
a = pa.array(["aB", "c", None])
assert pc.match_substring(a, "ab", ignore_case=True).to_pylist() == [True, False, None]
assert pc.count(a, mode="all").as_py() == 3 and pc.sum(pa.array([1, 2])).as_py() == 3
assert pc.if_else(pa.array([True, False]), 1, 2).to_pylist() == [1, 2]
assert pc.index_in(a, value_set=pa.array(["c"])).to_pylist() == [None, 0, None]
assert pc.fill_null(a, "x").to_pylist() == ["aB", "c", "x"]
assert pc.take(a, pa.array([2, 0])).to_pylist() == [None, "aB"]
assert pc.strptime(pa.array(["2023-08-10"]), format="%Y-%m-%d", unit="s").to_pylist()[0].year == 2023
assert "options" in str(inspect.signature(pc.sum)) and pc.equal.__name__ == "equal"
from pyarrow.vendored import docscrape
assert docscrape.NumpyDocString("x\\n\\nParameters\\n----------\\na : int\\n")["Parameters"]
import_compute()                    # imported already: nothing happens
print("ok")
"""
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stdout + p.stderr


def test_a_one_shot_query_asks_numpy_for_one_blas_thread(example_case, tmp_path):
    """OpenBLAS spins a thread per core at numpy's import; a one-shot query needs none (a
    value the user set is kept)."""
    script = ("import os, sys, edrql.cli; rc = edrql.cli.main(sys.argv[1:]); "
              "print('BLAS', os.environ.get('OPENBLAS_NUM_THREADS'))")
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(tmp_path))
    env.pop("OPENBLAS_NUM_THREADS", None)
    args = [example_case.root, "-c", "events | take 1 | count"]
    p = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                       env=env, cwd=str(ROOT), timeout=120)
    assert p.returncode == 0 and p.stdout.splitlines()[-1] == "BLAS 1", p.stdout + p.stderr
    p = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                       env=dict(env, OPENBLAS_NUM_THREADS="2"), cwd=str(ROOT), timeout=120)
    assert p.returncode == 0 and p.stdout.splitlines()[-1] == "BLAS 2", p.stdout + p.stderr
