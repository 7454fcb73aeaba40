"""``edrql hunt`` end to end, through the real command line (subprocess): its output
formats, the receipt on the right stream, exit codes, terminal safety, and — when
../shared is present — real Sysmon EVTX with real SigmaHQ rules."""
from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from conftest import shared
from test_cli import run

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = str(ROOT / "examples" / "sigma")
FIX = Path(__file__).parent / "fixtures" / "sigma"


@pytest.fixture()
def env(tmp_path):
    return {"XDG_CACHE_HOME": str(tmp_path / "cache")}


def test_table_output_rows_summary_and_receipt(example_case, env):
    r = run("hunt", example_case.root, "--rules", EXAMPLES, "--format", "table", env_extra=env)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.index("Office Application Starts PowerShell") < out.index("per rule:") \
        < out.index("sigma: 8 rule(s) read from 8 file(s)")
    assert "fired: 7 rule(s), 8 hit(s)" in out and "you exported no DNS query events" in out
    assert "T1059.001, T1204.002" in out and "exact (PID + start time given by the event)" in out
    assert "edrql example rules" in out                      # DRL 1.1: the author is kept
    assert r.stderr == ""


def test_csv_goes_to_stdout_and_the_receipt_to_stderr(example_case, env):
    r = run("hunt", example_case.root, "--rules", EXAMPLES, "--format", "csv", env_extra=env)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 8 and list(rows[0])[0] == "ts"
    assert "sigma: 8 rule(s)" in r.stderr and "per rule:" in r.stderr
    assert "sigma:" not in r.stdout


def test_default_format_off_a_terminal_is_csv(example_case, env):
    r = run("hunt", example_case.root, "--rules", EXAMPLES, env_extra=env)
    assert r.returncode == 0 and r.stdout.startswith('"ts","host","rule_id"')


def test_json_and_timesketch(example_case, env):
    r = run("hunt", example_case.root, "--rules", EXAMPLES, "--format", "json", env_extra=env)
    hits = json.loads(r.stdout)
    assert r.returncode == 0 and len(hits) == 8 and hits[0]["rule_id"]
    r = run("hunt", example_case.root, "--rules", EXAMPLES, "--format", "timesketch",
            "--level", "high", env_extra=env)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert r.returncode == 0 and len(rows) == 5
    assert list(rows[0])[:3] == ["message", "datetime", "timestamp_desc"]
    assert "4 more left out by the level/tags asked for" in r.stderr


def test_output_file_and_receipt_file(example_case, env, tmp_path):
    out, rec = tmp_path / "hits.csv", tmp_path / "receipt.json"
    r = run("hunt", example_case.root, "--rules", EXAMPLES, "-o", str(out), "--receipt",
            str(rec), "--tags", "attack.persistence,attack.t1033", env_extra=env)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert sorted({x["rule"] for x in rows}) == ["Run Key Points Into ProgramData",
                                                 "Scheduled Task Created To Run At Logon",
                                                 "Whoami Lists All Token Information"]
    doc = json.loads(rec.read_text(encoding="utf-8"))
    c = doc["counts"]
    assert c["read"] == c["converted"] + c["not_supported"] == 3
    assert c["converted"] == c["not_applicable"] + c["no_hits"] + c["fired"] + c["failed"]
    assert c["left_out_by_level_or_tags"] == 5 and len(doc["summary"]) == 3
    assert "sigma: 3 rule(s)" in r.stdout               # the rows went to the file


def test_exit_codes(example_case, env, tmp_path):
    r = run("hunt", example_case.root, "--rules", EXAMPLES, "--level", "severe", env_extra=env)
    assert r.returncode == 2 and "unknown level 'severe'" in r.stderr
    r = run("hunt", example_case.root, "--rules", str(tmp_path / "nope"), env_extra=env)
    assert r.returncode == 2 and "no such rules file or folder" in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run("hunt", example_case.root, "--rules", str(empty), env_extra=env)
    assert r.returncode == 2 and "no Sigma rule found" in r.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.yml").write_text("title: x\nlogsource:\n  product: windows\ndetection:\n"
                                    "  sel:\n    Image: a\n  condition: sel and nothere\n")
    r = run("hunt", example_case.root, "--rules", str(bad), env_extra=env)
    assert r.returncode == 2 and "none of the 1 rule(s) could be read" in r.stderr
    r = run("hunt", example_case.root, "--rules", EXAMPLES, "--tags", "t9999", env_extra=env)
    assert r.returncode == 2 and "no rule is left after --tags t9999" in r.stderr
    r = run("hunt", example_case.root, "--rules", EXAMPLES, "-o", str(tmp_path / "no" / "x.csv"),
            env_extra=env)
    assert r.returncode == 1 and "cannot write" in r.stderr and "internal error" not in r.stderr
    r = run("hunt", str(empty), "--rules", EXAMPLES, env_extra=env)    # no data: exit 1
    assert r.returncode == 1 and "nothing to query" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_rejected_export_still_hunts_the_others_and_exits_1(tmp_path, env):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"garbage\x00\x01 not a log\n")
    r = run("hunt", str(ROOT / "examples" / "case" / "export_early.csv"), str(junk), "--rules",
            EXAMPLES, "--format", "csv", env_extra=env)
    assert r.returncode == 1 and "rejected" in r.stderr and "junk.bin" in r.stderr
    assert len(list(csv.DictReader(io.StringIO(r.stdout)))) == 3
    assert "the hunt leaves out 1 rejected source(s)" in r.stderr


def test_help_names_hunt():
    r = run("--help")
    assert r.returncode == 0 and "edrql hunt CASE_OR_EXPORTS... --rules PATH..." in r.stdout
    r = run("hunt", "--help")
    assert r.returncode == 0 and "--receipt" in r.stdout and "timesketch" in r.stdout


def test_terminal_output_escapes_attacker_text_machine_formats_keep_it(tmp_path, env):
    """A command line with terminal control sequences: escaped in the table, exact in CSV."""
    evil = "whoami /all \x1b]0;owned\x07\x1b[2J"
    src = tmp_path / "console.csv"
    src.write_text("time,host,event,pid,image,cmdline,ppid,parent_image\n"
                   f'2024-05-02T10:00:00Z,ws-09,ProcessStart,42,C:\\Windows\\System32\\whoami.exe,'
                   f'"{evil}",4,C:\\Windows\\System32\\cmd.exe\n', encoding="utf-8")
    mapping = tmp_path / "console.toml"
    shutil.copy(FIX / "pid_only_console.toml", mapping)
    rule = str(ROOT / "examples" / "sigma" / "proc_whoami_all.yml")
    args = ("hunt", str(src), "--mapping", str(mapping), "--rules", rule)
    r = run(*args, "--format", "table", env_extra=env)
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "Whoami Lists" in r.stdout
    r = run(*args, "--format", "csv", env_extra=env)
    (row,) = list(csv.DictReader(io.StringIO(r.stdout)))
    assert row["cmdline"] == evil and "\x1b" not in r.stderr


def test_pid_only_hits_are_flagged_in_the_table_and_the_receipt(tmp_path, env):
    r = run("hunt", str(FIX / "pid_only_console.csv"), "--mapping",
            str(FIX / "pid_only_console.toml"), "--rules",
            str(ROOT / "examples" / "sigma" / "proc_office_spawns_powershell.yml"),
            "--format", "table", env_extra=env)
    assert r.returncode == 0, r.stderr
    assert "parent disputed: the event says winword.exe, the lineage finds msedge.exe" in r.stdout
    assert "fired: 1 rule(s), 3 hit(s) (2 with a trust note" in r.stdout
    assert "trust: Office Application Starts PowerShell on ws-01" in r.stdout


# ---------------------------------------------------------------- real data
def test_real_sysmon_evtx_with_sigmahq_rules(env, tmp_path):
    evtx = shared("sysmon/evtx/sbousseaden_exec_persist_rundll32_mshta_scheduledtask_sysmon_1_3_11.evtx")
    rules = shared("sigma/rules/windows")
    rec = tmp_path / "r.json"
    r = run("hunt", str(evtx), "--rules", str(rules), "--format", "json", "--receipt", str(rec),
            env_extra=env, timeout=600)
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)
    doc = json.loads(rec.read_text(encoding="utf-8"))
    c = doc["counts"]
    assert c["read"] > 2000 and c["read"] == c["converted"] + c["not_supported"]
    assert c["converted"] == c["not_applicable"] + c["no_hits"] + c["fired"] + c["failed"]
    assert hits and c["hits"] == len(hits) and c["fired"] == len(doc["summary"])
    assert {"rundll32.exe", "mshta.exe"} & {h["name"].lower() for h in hits if h["name"]}
    assert all(h["rule_id"] and h["author"] and h["level"] for h in hits)


def test_real_regression_pair_with_a_parent_condition(env):
    """A SigmaHQ regression pair whose rule reads ParentImage: it fires on its EVTX, and the
    Sysmon event names its parent by GUID."""
    d = shared("sigma/regression_data/rules/windows/process_creation/"
               "proc_creation_win_chcp_codepage_lookup")
    rule = shared("sigma/rules/windows/process_creation/proc_creation_win_chcp_codepage_lookup.yml")
    (evtx,) = sorted(d.glob("*.evtx"))
    r = run("hunt", str(evtx), "--rules", str(rule), "--format", "json", env_extra=env)
    assert r.returncode == 0, r.stderr
    (hit,) = json.loads(r.stdout)
    assert hit["rule_id"] == "7090adee-82e2-4269-bd59-80691e7c6338"
    assert hit["parent_link"] == "exact (parent GUID given by the event)" and hit["trust"] is None


def test_the_stage_in_a_script_file(example_case, env, tmp_path):
    script = tmp_path / "hunt.edrql"
    script.write_text(f'events | sigma("{EXAMPLES}", level="high") | project ts, rule, name\n',
                      encoding="utf-8")
    r = run(example_case.root, "-f", str(script), "--format", "csv", env_extra=env)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 5 and "fired: 4 rule(s), 5 hit(s)" in r.stderr
