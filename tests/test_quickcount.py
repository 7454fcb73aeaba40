"""`edrql CASE -c 'events | count'` from the manifest (edrql/quickcount.py): the same bytes as
the normal path in every format, no pyarrow imported, and the normal path whenever the
manifest cannot tell the count for sure. Each test runs the real command line in a child
process; the "normal path" runs are the same command with quickcount.answer switched off."""
from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from edrql import quickcount

ROOT = Path(__file__).resolve().parents[1]

#: cli.main on argv[1:]; argv[0] "fast" or "normal" (quickcount.answer off); then the
#: modules loaded, on standard error
PROBE = """
import json, sys
import edrql.cli, edrql.quickcount
if sys.argv[1] == "normal":
    edrql.quickcount.answer = lambda *a: None
rc = edrql.cli.main(sys.argv[2:])
sys.stdout.flush()
print("\\nMODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr)
sys.exit(rc)
"""


def _run(path, *argv, cwd=None, tty=False):
    """(exit status, stdout bytes, stderr text without the module list, modules loaded)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="100")
    cmd = [sys.executable, "-c", PROBE, path, *argv]
    if tty:
        master, slave = pty.openpty()
        p = subprocess.Popen(cmd, stdout=slave, stderr=subprocess.PIPE, env=env, cwd=cwd)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:                 # EIO: the child closed its end
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        err = p.stderr.read().decode()
        rc = p.wait(timeout=120)
    else:
        p = subprocess.run(cmd, capture_output=True, env=env, cwd=cwd, timeout=120)
        rc, out, err = p.returncode, p.stdout, p.stderr.decode()
    err, _, mods = err.rpartition("\nMODULES ")
    return rc, out, err, set(json.loads(mods)) if mods else set()


def _both(case, *argv, **kw):
    fast = _run("fast", str(case), *argv, **kw)
    normal = _run("normal", str(case), *argv, **kw)
    return fast, normal


@pytest.fixture()
def case(example_case, tmp_path):
    root = tmp_path / "case"
    shutil.copytree(example_case.root, root)
    return root


def _rows(root) -> int:
    m = json.loads((Path(root) / "manifest.json").read_text())
    return sum(s["rows_stored"] for s in m["sources"])


@pytest.mark.parametrize("fmt", ["table", "csv", "tsv", "json", "ndjson"])
def test_every_format_prints_the_normal_paths_bytes(case, fmt):
    fast, normal = _both(case, "--format", fmt, "-c", "events | count")
    assert fast[0] == normal[0] == 0, (fast[2], normal[2])
    assert fast[1] == normal[1] and fast[2] == normal[2] == ""
    assert str(_rows(case)).encode() in fast[1]
    assert "pyarrow" not in fast[3] and "edrql.execute" not in fast[3]
    assert "pyarrow" in normal[3] and "edrql.execute" in normal[3]      # it did take it


def test_piped_csv_and_the_terminal_table_are_the_normal_paths(case):
    fast, normal = _both(case, "-c", "events | count")        # no --format, not a terminal: csv
    assert fast[1] == normal[1] == f'"count"\n{_rows(case)}\n'.encode()
    fast, normal = _both(case, "-c", "events | count", tty=True)
    assert fast[0] == normal[0] == 0
    assert fast[1] == normal[1] and fast[1].startswith(b"count\r\n-------")
    assert "pyarrow" not in fast[3]


@pytest.mark.parametrize("text", ["events|count", "  events |\n count \n", "events | count\t"])
def test_the_languages_spacing_takes_it_too(case, text):
    fast, normal = _both(case, "--format", "csv", "-c", text)
    assert fast[1] == normal[1] and "pyarrow" not in fast[3]


def test_a_script_file_and_an_output_file(case, tmp_path):
    script = tmp_path / "q.edrql"
    script.write_text("events | count\n")
    fast, normal = _both(case, "--format", "json", "-f", str(script))
    assert fast[1] == normal[1] and "pyarrow" not in fast[3]
    outs = {}
    for how in ("fast", "normal"):
        target = tmp_path / f"{how}.ndjson"
        rc, out, err, mods = _run(how, str(case), "-c", "events | count", "-o", str(target))
        assert rc == 0 and out == b"" and err == ""
        outs[how] = (target.read_bytes(), "pyarrow" in mods)
    assert outs["fast"][0] == outs["normal"][0] == f'{{"count": {_rows(case)}}}\n'.encode()
    assert outs["fast"][1] is False


@pytest.mark.parametrize("argv", [
    ("-c", "events | count | count"),
    ("-c", "events | where true | count"),
    ("-c", "procs | count"),
    ("-c", "events | count; events | count"),
    ("-v", "-c", "events | count"),
    ("--now", "wall", "-c", "events | count"),
])
def test_anything_else_takes_the_normal_path(case, argv):
    rc, out, err, mods = _run("fast", str(case), "--format", "csv", *argv)
    assert rc == 0, err
    assert "edrql.execute" in mods


def test_a_case_the_manifest_cannot_vouch_for_takes_the_normal_path(case):
    n = _rows(case)
    assert quickcount.stored_rows(str(case)) == n
    m_path = case / "manifest.json"
    m = json.loads(m_path.read_text())
    for change in (lambda m: m.update(format=1),                  # old layout: its note, its read
                   lambda m: m.update(format=3),
                   lambda m: m["sources"][0].pop("rows_stored"),
                   lambda m: m["sources"][0].update(rows_stored="7"),
                   lambda m: m["totals"].update(rows=n + 1),
                   lambda m: m["sources"][0].update(segment="events/nothing-here.arrow")):
        changed = json.loads(json.dumps(m))
        change(changed)
        m_path.write_text(json.dumps(changed))
        assert quickcount.stored_rows(str(case)) is None
    m_path.write_text("{not json")
    assert quickcount.stored_rows(str(case)) is None
    m_path.write_text(json.dumps(m))
    assert quickcount.stored_rows(str(case)) == n


def test_a_missing_segment_is_said_by_the_normal_path(case):
    seg = json.loads((case / "manifest.json").read_text())["sources"][0]["segment"]
    os.remove(case / seg)
    rc, out, err, mods = _run("fast", str(case), "-c", "events | count")
    assert rc == 1 and out == b""
    assert err.startswith("edrql: ") and "missing" in err and "edrql check" in err


def test_only_a_whole_compact_segment_is_vouched_for(case, tmp_path):
    seg = case / json.loads((case / "manifest.json").read_text())["sources"][0]["segment"]
    assert quickcount.compact_segment(str(seg))
    data = seg.read_bytes()
    cut = tmp_path / "cut.arrow"
    cut.write_bytes(data[:-100])                    # truncated: no footer magic at the end
    assert not quickcount.compact_segment(str(cut))
    plain = tmp_path / "plain.arrow"                # an Arrow file of the old layout: no key
    t = pa.table({"x": pa.array(["a", "b"])})
    with pa.OSFile(str(plain), "wb") as sink, pa.ipc.new_file(sink, t.schema) as w:
        w.write_table(t)
    assert not quickcount.compact_segment(str(plain))
    from edrql.segcodec import LAYOUT_KEY
    assert LAYOUT_KEY == quickcount.LAYOUT_KEY


def test_the_constants_agree_with_the_store_and_the_renderer():
    from edrql import render, store
    assert quickcount.FORMAT == store.FORMAT_VERSION
    assert quickcount.HEADER_PAD == render.HEADER_PAD
    for n in (0, 7, 1234567, 12345678901):
        t = pa.table({"count": pa.array([n], pa.int64())})
        for fmt in ("table", "csv", "tsv", "json", "ndjson"):
            want = render.render(t, fmt)
            want = want.decode() if isinstance(want, bytes) else want
            assert quickcount.render_count(n, fmt) == want, (n, fmt)


def test_an_empty_case_counts_zero(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    from edrql.store import empty_manifest
    (root / "manifest.json").write_text(json.dumps(empty_manifest()))
    fast, normal = _both(root, "--format", "csv", "-c", "events | count")
    assert fast[0] == normal[0] == 0
    assert fast[1] == normal[1] == b'"count"\n0\n'
