"""The real CLI, driven through subprocess: output, exit codes, cache."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from mde_fixture import row, write


def run(*args, env_extra=None, cwd=None, timeout=120):
    """The real CLI as a subprocess (text output); the one helper the CLI tests share."""
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "edrql", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=timeout)


def test_help_and_usage_errors():
    r = run("--help")
    assert r.returncode == 0 and "edrql ingest" in r.stdout and "edrql info" in r.stdout
    r = run()
    assert r.returncode == 2
    r = run("ingest", "x.csv")  # --case missing
    assert r.returncode == 2 and "--case" in r.stderr
    r = run("ingest", "x.csv", "--case", "/tmp/whatever", "--tz", "Mars/Olympus")
    assert r.returncode == 2 and "unknown time zone" in r.stderr


def test_ingest_then_info_table_and_json(tmp_path):
    f = tmp_path / "a.csv"
    write(f, [row(i) for i in range(4)])
    case = tmp_path / "case"
    r = run("ingest", str(f), "--case", str(case))
    assert r.returncode == 0, r.stderr
    assert "reconciled" in r.stdout and "yes" in r.stdout
    assert "Traceback" not in r.stderr
    r = run("info", str(case))
    assert r.returncode == 0 and "4 events from 1 source(s)" in r.stdout and "pc-01" in r.stdout
    r = run("info", str(case), "--format", "json")
    m = json.loads(r.stdout)
    assert m["totals"]["rows"] == 4 and m["sources"][0]["records_read"] == 4


def test_bad_sources_exit_1_and_name_the_file(tmp_path):
    bad = tmp_path / "weird.txt"
    bad.write_text("just some words\nwithout structure\n")
    good = tmp_path / "a.csv"
    write(good, [row(0)])
    r = run("ingest", str(bad), str(good), "--case", str(tmp_path / "case"))
    assert r.returncode == 1
    assert "weird.txt: unknown format" in r.stderr and "--mapping" in r.stderr
    assert "Traceback" not in r.stderr
    m = json.load(open(tmp_path / "case" / "manifest.json"))
    assert m["totals"]["rows"] == 1 and m["rejected"][0]["path"].endswith("weird.txt")


def test_missing_file_and_not_a_case(tmp_path):
    r = run("ingest", str(tmp_path / "nope.csv"), "--case", str(tmp_path / "c"))
    assert r.returncode == 1 and "nope.csv: no such file" in r.stderr
    r = run("info", str(tmp_path))
    assert r.returncode == 1


def test_raw_exports_go_through_cache(tmp_path):
    f = tmp_path / "a.csv"
    write(f, [row(i) for i in range(3)])
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    r1 = run("info", str(f), env_extra=env)
    assert r1.returncode == 0, r1.stderr
    cases = os.listdir(tmp_path / "cache" / "edrql" / "cases")
    assert len(cases) == 1
    r2 = run("info", str(f), env_extra=env)
    assert r2.returncode == 0 and r2.stdout == r1.stdout
    assert os.listdir(tmp_path / "cache" / "edrql" / "cases") == cases


def test_hostmap_file_is_kept_in_the_case(tmp_path):
    f = tmp_path / "a.csv"
    write(f, [row(0)])
    hm = tmp_path / "hm.csv"
    hm.write_text("address,host\n10.9.8.7,pc-fin-01\n")
    case = tmp_path / "case"
    r = run("ingest", str(f), "--case", str(case), "--hostmap", str(hm))
    assert r.returncode == 0, r.stderr
    r = run(str(case), "-c", "hostmap | project addr, host, origin", "--format", "json")
    assert json.loads(r.stdout) == [{"addr": "10.9.8.7", "host": "pc-fin-01", "origin": "user map"}]
    bad = tmp_path / "bad.csv"
    bad.write_text("10.9.8.7,pc\nnot-an-ip,pc2\n")
    r = run("ingest", str(f), "--case", str(case), "--hostmap", str(bad))
    assert r.returncode == 2 and "line 2" in r.stderr


def test_a_rejected_export_is_said_on_every_cached_run(tmp_path):
    """Raw exports through the cache: a rejected one is named, and the exit status says the
    result is incomplete — on the first run and on every later (cached) run."""
    good, junk = tmp_path / "a.csv", tmp_path / "junk.txt"
    write(good, [row(i) for i in range(3)])
    junk.write_text("hello\nthis is no log export\n")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    for _ in range(2):
        r = run(str(good), str(junk), "-c", "events | count", env_extra=env)
        assert r.returncode == 1, r.stderr
        assert r.stdout.splitlines()[-1] == "3"
        assert "rejected" in r.stderr and "junk.txt" in r.stderr
