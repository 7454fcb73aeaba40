"""Semantics that must agree with each other: host names (one rule for ==, in, tree(host=)…),
grouping as == compares, a receipt for every search that runs, and -o following the
file's extension. Fixtures are small Defender CSVs made here."""
from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pytest

from edrql import hostnames
from edrql.ingest import Options, ingest
from edrql.query import execute_text, make_context
from edrql.render import py_rows
from edrql.store import Case

from mde_fixture import row, write
from test_cli import run

FQDN = "pc-sales-07.corp.example"
NAMES = ["CompatTelRunner.exe"] * 3 + ["compattelrunner.exe"] * 2 + ["COMPATTELRUNNER.EXE"] * 2 \
    + ["cmd.exe", "Rundll32.exe", "rundll32.exe"]


def _case(root, rows):
    f = root.parent / (root.name + ".csv")
    write(f, rows)
    ingest([str(f)], Case.create_or_open(str(root)), Options())
    return Case.open(str(root))


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """pc-sales-07.corp.example with mixed-case names; the same machine domain-less
    (PC-SALES-07, as a Sysmon export writes it); another host."""
    rows = [row(i, DeviceName=FQDN, FileName=n) for i, n in enumerate(NAMES)]
    rows.append(row(20, DeviceName="PC-SALES-07", FileName="cmd.exe"))
    rows.append(row(21, DeviceName="srv-01.corp.example", FileName="Cmd.exe"))
    return _case(tmp_path_factory.mktemp("sem") / "case", rows)


@pytest.fixture(scope="module")
def two_domains(tmp_path_factory):
    """The same short name in two domains: two machines."""
    rows = [row(0, DeviceName=FQDN), row(1, DeviceName=FQDN),
            row(2, DeviceName="pc-sales-07.other.tld"), row(3, DeviceName="PC-SALES-07")]
    return _case(tmp_path_factory.mktemp("sem2") / "case", rows)


def q(case, text):
    return execute_text(make_context(case), text)[-1]


def n_rows(case, text):
    return q(case, text).table.num_rows


# ---------------------------------------------------------------- host names
def test_short_name_equals_its_fqdn_everywhere(case):
    on_fqdn = len(NAMES) + 1                       # the FQDN's rows and the domain-less one
    for cond in ['host == "pc-sales-07"', 'host == "PC-SALES-07"', 'host =~ "pc-sales-07"',
                 'host in ("pc-sales-07", "nope")', f'host == "{FQDN.upper()}"',
                 '"pc-sales-07" == host']:
        assert n_rows(case, f"events | where {cond}") == on_fqdn, cond
    assert n_rows(case, 'events | where host != "pc-sales-07"') == 1
    assert n_rows(case, 'events | where host !~ "pc-sales-07"') == 1
    assert n_rows(case, 'events | where host !in ("pc-sales-07")') == 1
    assert py_rows(q(case, 'events | where host != "pc-sales-07"').table)[0]["host"] == \
        "srv-01.corp.example"


def test_full_name_of_another_domain_matches_nothing_and_says_so(case):
    r = q(case, 'events | where host == "pc-sales-07.other.tld" and name == "compattelrunner.exe"')
    assert r.table.num_rows == 0
    note = " ".join(r.notes)
    assert "pc-sales-07.other.tld" in note and FQDN in note and "matched no host" in note


def test_exact_comparison_stays_exact_and_names_the_other_spelling(case):
    r = q(case, 'events | where host === "pc-sales-07"')
    assert r.table.num_rows == 0
    assert any("matched no host" in n and "PC-SALES-07" in n for n in r.notes)
    assert n_rows(case, 'events | where host === "PC-SALES-07"') == 1
    assert n_rows(case, 'events | where host in_cs ("PC-SALES-07")') == 1


def test_host_note_speaks_of_the_whole_input_not_the_rows_left(case):
    r = q(case, 'events | where name == "rundll32.exe" and host == "srv-01"')
    assert r.table.num_rows == 0            # srv-01 ran no rundll32: no rows, but it exists
    assert not any("matched no host" in n for n in r.notes)


def test_a_misspelt_host_gets_a_suggestion(case):
    r = q(case, 'events | where host == "srv-1.corp.example"')
    assert r.table.num_rows == 0 and any("did you mean" in n for n in r.notes)


def test_short_name_of_two_domains_matches_both_and_says_so(two_domains):
    r = q(two_domains, 'events | where host == "pc-sales-07"')
    assert r.table.num_rows == 4
    assert any("2 domains" in n for n in r.notes)
    # the domain-less PC-SALES-07 could be either machine: a full name leaves it out, and says so
    r = q(two_domains, f'events | where host == "{FQDN}"')
    assert r.table.num_rows == 2 and any("left out PC-SALES-07" in n for n in r.notes)
    g = py_rows(q(two_domains, "events | stats n = count() by host | sort by host").table)
    assert len(g) == 3            # ambiguous: PC-SALES-07 is not folded into either domain


def test_rule_on_distinct_values():
    vals = pa.array(["PC-01.corp.example", "pc-01", "pc-01.other.tld", "10.1.2.3", "pc-010",
                     "fe80::1"])
    assert hostnames.match_values(vals, "pc-01").tolist() == [True, True, True, False, False, False]
    # pc-01 is in two domains here: the bare spelling is left to the short name
    assert hostnames.match_values(vals, "pc-01.corp.example").tolist() == \
        [True, False, False, False, False, False]
    one_domain = pa.array(["PC-01.corp.example", "pc-01", "pc-010"])
    assert hostnames.match_values(one_domain, "pc-01.CORP.example").tolist() == [True, True, False]
    assert hostnames.match_values(vals, "10").tolist() == [False] * 6
    assert hostnames.match_values(vals, "10.1.2.3").tolist() == [False, False, False, True, False,
                                                                False]
    assert hostnames.same_host("PC-01", "pc-01.corp.example")
    assert not hostnames.same_host("pc-01.corp.example", "pc-01.other.tld")
    assert not hostnames.same_host("10.1.2.3", "10")


def test_tree_host_uses_the_same_rule(case):
    # the process was logged domain-less (PC-SALES-07); the analyst names the FQDN
    r = q(case, f'tree(host="{FQDN}", pid=1080)')
    assert r.table.num_rows >= 1
    assert any(x["pid"] == 1080 for x in py_rows(r.table))
    from edrql.errors import QueryError
    with pytest.raises(QueryError) as e:
        q(case, 'tree(host="pc-sales-07.other.tld", pid=1080)')
    assert FQDN in e.value.hint and "different hosts" in e.value.hint


# ---------------------------------------------------------------- grouping
def test_stats_groups_text_keys_as_equality_does(case):
    r = q(case, "events | stats n = count() by name")
    got = {x["name"]: x["n"] for x in py_rows(r.table)}
    assert got["CompatTelRunner.exe"] == 7            # the most frequent spelling shown
    assert got["cmd.exe"] == 3 and "Cmd.exe" not in got
    assert got["Rundll32.exe"] == 2                   # a tie: the first in code-point order
    assert len(got) == 3
    assert any("CompatTelRunner.exe" in n and "values(name)" in n for n in r.notes)


def test_distinct_timeline_and_dcount_group_the_same_way(case):
    d = [x["name"] for x in py_rows(q(case, "events | distinct name").table)]
    assert sorted(d) == ["CompatTelRunner.exe", "Rundll32.exe", "cmd.exe"]
    t = py_rows(q(case, "events | timeline(1h) by name").table)
    assert len(t) == 3 and sum(x["count"] for x in t) == len(NAMES) + 2
    assert py_rows(q(case, "events | stats dcount(name)").table)[0]["dcount_name"] == 3
    spellings = py_rows(q(case, 'events | where name == "compattelrunner.exe" '
                                '| stats values(name) by name').table)[0]["values_name"]
    spellings = json.loads(spellings) if isinstance(spellings, str) else spellings
    assert sorted(spellings) == ["COMPATTELRUNNER.EXE", "CompatTelRunner.exe",
                                 "compattelrunner.exe"]


def test_stats_by_host_folds_the_domainless_spelling(case):
    r = q(case, "events | stats n = count() by host")
    got = {x["host"]: x["n"] for x in py_rows(r.table)}
    assert got == {FQDN: len(NAMES) + 1, "srv-01.corp.example": 1}
    assert py_rows(q(case, "events | stats dcount(host)").table)[0]["dcount_host"] == 2


# ---------------------------------------------------------------- search receipts
def _receipts(case, tmp_path, query, *extra):
    f = tmp_path / "receipt.json"
    r = run(case.root, "-c", query, "--receipt", str(f), *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(f.read_text()), r


def test_receipt_when_stages_follow_search(case, tmp_path):
    got, r = _receipts(case, tmp_path, 'search "echo 3" | count', "--format", "table")
    assert [x["terms"] for x in got] == ['"echo 3"'] and got[0]["hits"] == 1
    assert 'search "echo 3": 1 hit(s)' in r.stdout


def test_receipt_of_every_search_in_a_script(case, tmp_path):
    query = ('let a = events | search "compat"; '
             'events | where name == "cmd.exe" | search "echo" | search "cmd" | stats count() by host; '
             'a | count; let b = events | search "rundll32"')
    got, r = _receipts(case, tmp_path, query, "--format", "table")
    assert [(x["terms"], x["statement"]) for x in got] == [
        ('"compat"', "let a"), ('"echo"', "statement 2"), ('"cmd"', "statement 2"),
        ('"rundll32"', "let b")]
    assert [x["hits"] for x in got] == [7, 3, 3, 2]
    for line in ('let a: search "compat"', 'search "echo"', 'let b: search "rundll32"'):
        assert line in r.stdout
    v = run(case.root, "-c", query, "--format", "csv", "-v")
    assert v.returncode == 0 and 'search "cmd": 3 hit(s)' in v.stderr and "search" not in v.stdout


def test_search_after_search_reads_data_not_the_matched_column(case):
    r = q(case, 'search "echo" | search "cmdline"')
    assert r.table.num_rows == 0
    assert r.table.column_names.count("matched") <= 1
    r = q(case, 'search "echo" | search "cmd"')
    assert r.table.column_names.count("matched") == 1


def test_quarantine_is_searched_only_with_the_whole_events_table(case):
    whole = q(case, 'search "echo"').extra["receipts"][0]
    part = q(case, 'events | where host == "srv-01" | search "echo"').extra["receipts"][0]
    assert whole.quarantine_searched and not part.quarantine_searched
    assert "quarantine not searched" in part.text()
    assert whole.hosts == 2           # PC-SALES-07 and its FQDN are one host


def test_notes_of_earlier_stages_are_not_repeated(case, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    r = q(case, f'events | where name == "cmd.exe" | save "{a}" | save "{b}" | count')
    assert [n.startswith("saved") for n in r.notes] == [True, True]


# ---------------------------------------------------------------- -o
def test_output_file_format_follows_the_extension(case, tmp_path):
    query = 'events | where name == "cmd.exe" | project host, name | sort by host'
    for ext, check in [
        ("json", lambda s: json.loads(s)[0]["name"] in ("cmd.exe", "Cmd.exe")),
        ("ndjson", lambda s: len([json.loads(x) for x in s.splitlines()]) == 3),
        ("jsonl", lambda s: json.loads(s.splitlines()[0])["host"]),
        ("tsv", lambda s: s.splitlines()[0].replace('"', "") == "host\tname"),
        ("csv", lambda s: list(csv.reader(io.StringIO(s)))[0] == ["host", "name"]),
        ("txt", lambda s: s.splitlines()[1].startswith("---")),
    ]:
        out = tmp_path / f"out.{ext}"
        r = run(case.root, "-c", query, "-o", str(out))
        assert r.returncode == 0 and r.stdout == "", r.stderr
        assert check(out.read_text()), ext


def test_output_file_unknown_extension_asks_and_format_wins(case, tmp_path):
    out = tmp_path / "out.xlsx"
    r = run(case.root, "-c", "events | count", "-o", str(out))
    assert r.returncode == 2 and "--format" in r.stderr and not out.exists()
    assert "Traceback" not in r.stderr
    r = run(case.root, "-c", "events | count", "-o", str(out), "--format", "json")
    assert r.returncode == 0 and json.loads(out.read_text()) == [{"count": len(NAMES) + 2}]
    j = tmp_path / "forced.json"
    r = run(case.root, "-c", "events | count", "-o", str(j), "--format", "csv")
    assert r.returncode == 0 and j.read_text().splitlines()[0].strip('"') == "count"


# ---------------------------------------------------------------- real data
def test_real_short_name_and_receipt(tmp_path):
    from conftest import shared
    src = shared("sysmon/otrf_empire_launcher_vbs.zip")   # hosts are FQDNs: WORKSTATION5.theshire.local
    root = tmp_path / "case"
    ingest([str(src)], Case.create_or_open(str(root)), Options())
    c = Case.open(str(root))
    import pyarrow.compute as pc
    from edrql.segcodec import plain
    hosts = pc.utf8_lower(plain(c.events["host"]))
    want = pc.sum(pc.fill_null(pc.starts_with(hosts, "workstation5."), False)).as_py()
    assert want > 0
    assert n_rows(c, 'events | where host == "workstation5"') == want
    f = tmp_path / "r.json"
    r = run(str(root), "-c", 'search "launcher" | count', "--receipt", str(f))
    assert r.returncode == 0, r.stderr
    got = json.loads(f.read_text())
    assert len(got) == 1 and got[0]["hits"] == int(r.stdout.splitlines()[-1])
