"""Published-style hunting queries run unchanged over three vendors' exports of one intrusion.

The cases live in ``tests/golden_vendors/*.golden`` (the golden format of test_golden.py; a
header may end with ``[only: defender, sysmon]`` and a line ``# not crowdstrike: why``).
Each is run on a Defender, a Sysmon and a CrowdStrike case built from ``tests/scenario.py``:
the same question must give the same rows on every vendor that records the fact.
The real-data half checks that the Device* tables agree with the normalized tables on
real exports (counts per program), where ``../shared`` is present.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import scenario
from conftest import shared
from test_golden import _rows

from edrql.query import error_text, execute_text, make_context
from edrql.render import to_csv

CASES = Path(__file__).parent / "golden_vendors"
VENDORS = list(scenario.WRITERS)


def _load():
    out = []
    for f in sorted(CASES.glob("*.golden")):
        for block in f.read_text(encoding="utf-8").split("\n### ")[1:]:
            head, _, rest = block.partition("\n")
            query, sep, expect = rest.partition("\n--- ")
            assert sep, f"{f.name}: case {head!r} has no --- section"
            kind, _, body = expect.partition("\n")
            m = re.search(r"\[only: ([^\]]+)\]\s*$", head)
            vendors = [v.strip() for v in m.group(1).split(",")] if m else VENDORS
            name = re.sub(r"\s*\[only:[^\]]*\]\s*$", "", head).strip()
            for v in VENDORS:
                marks = [] if v in vendors else [pytest.mark.skip(reason=f"{v} does not record it")]
                out.append(pytest.param(v, query.strip(), kind.strip(), body.strip("\n"),
                                        id=f"{name}[{v}]", marks=marks))
    return out


@pytest.fixture(scope="session")
def vendor_cases(tmp_path_factory):
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    cases = {}
    for vendor, (fname, write) in scenario.WRITERS.items():
        d = tmp_path_factory.mktemp(vendor)
        src = write(d / fname)
        root = str(d / "case")
        ingest([str(src)], Case.create_or_open(root), Options())
        cases[vendor] = Case.open(root)
    return cases


@pytest.mark.parametrize("vendor,query,kind,expected", _load())
def test_hunting_query(vendor_cases, vendor, query, kind, expected):
    ctx = make_context(vendor_cases[vendor])
    if kind == "csv":
        try:
            results = execute_text(ctx, query)
        except Exception as e:          # show the analyst's message, not a traceback
            pytest.fail(error_text(e, query))
        got = to_csv(results[-1].table, escape=False).decode("utf-8")
        assert _rows(got) == _rows(expected), got
    else:
        with pytest.raises(Exception) as ei:
            execute_text(ctx, query)
        text = error_text(ei.value, query)
        for line in expected.splitlines():
            assert line.strip() in text, text


def test_every_vendor_records_the_whole_scenario(vendor_cases):
    """The fixture itself: each vendor's case holds every planted event."""
    for vendor, case in vendor_cases.items():
        ctx = make_context(case)
        got = execute_text(ctx, "events | summarize n = count() by event | sort by event asc")
        counts = dict(zip(got[-1].table["event"].to_pylist(), got[-1].table["n"].to_pylist()))
        assert counts == {"file_create": 3, "network_connect": 3, "process_start": 5,
                          "registry_set": 1}, vendor


# ---------------------------------------------------------------- real exports
REAL = {"defender": "vendor/msticpy_mde_proc_pub.csv",
        "sysmon": "sysmon/otrf_lsass_campaign_01_host.zip",
        "crowdstrike": "vendor/elastic_crowdstrike_fdr_excerpt.ndjson",
        "security": "security/msticpy_win_proc_test_4688.csv"}

#: (Device* question, the same question over edrql's normalized tables)
AGREE = [
    ("DeviceProcessEvents | summarize n = dcount(ProcessId) by FileName = tolower(FileName)",
     'events | where event == "process_start" | summarize n = dcount(pid) by FileName = tolower(name)'),
    ("DeviceNetworkEvents | summarize n = count() by RemotePort",
     "network | summarize n = count() by RemotePort = rport"),
    ("DeviceProcessEvents | where ProcessCommandLine has_any (\"enc\", \"bypass\", \"system32\", \"http\") "
     "| summarize n = dcount(ProcessId)",
     'events | where event == "process_start" and cmdline matches regex '
     r'"(?i)(^|[^a-z0-9])(enc|bypass|system32|http)($|[^a-z0-9])" | summarize n = dcount(pid)'),
]


@pytest.fixture(scope="module")
def real_cases(tmp_path_factory):
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    out = {}
    for vendor, rel in REAL.items():
        try:
            src = shared(rel)
        except pytest.skip.Exception:
            continue
        root = str(tmp_path_factory.mktemp("real-" + vendor) / "case")
        ingest([str(src)], Case.create_or_open(root), Options())
        out[vendor] = Case.open(root)
    if not out:
        pytest.skip("real data not present (../shared/data)")
    return out


def _as_set(table) -> set:
    cols = sorted(table.column_names)
    return set(zip(*[table[c].to_pylist() for c in cols])) if cols else set()


@pytest.mark.parametrize("vendor", list(REAL))
@pytest.mark.parametrize("device_q,plain_q", AGREE, ids=["process", "network", "has_any"])
def test_device_tables_agree_with_normalized_on_real_data(real_cases, vendor, device_q, plain_q):
    if vendor not in real_cases:
        pytest.skip(f"{REAL[vendor]} not present")
    ctx = make_context(real_cases[vendor])
    got = execute_text(ctx, device_q)[-1].table
    want = execute_text(ctx, plain_q)[-1].table
    assert _as_set(got) == _as_set(want)


# ---------------------------------------------------------------- the real CLI
def test_saved_kql_script_over_raw_exports_from_the_cli(tmp_path):
    """A saved hunting script, run by the installed CLI straight over each vendor's raw
    export (cached case), prints the same CSV rows; an IOC file is read by externaldata."""
    from test_cli import run
    (tmp_path / "c2.csv").write_text("Address,Note\n203.0.113.50,loader C2\n", encoding="utf-8")
    script = tmp_path / "hunt.kql"
    script.write_text(
        "// C2 addresses from a local IOC file, and who talked to them\n"
        "let c2 = externaldata(Address: string, Note: string) [\"c2.csv\"]"
        " with (format=\"csv\", ignoreFirstRecord=true);\n"
        "DeviceNetworkEvents\n"
        "| where RemoteIP in (c2 | project Address)\n"
        "| summarize Connections = count() by InitiatingProcessFileName, RemoteIP\n",
        encoding="utf-8")
    outputs = {}
    for vendor, (fname, write) in scenario.WRITERS.items():
        src = write(tmp_path / fname)
        r = run(str(src), "-f", str(script), "--format", "csv", cwd=tmp_path,
                env_extra={"XDG_CACHE_HOME": str(tmp_path / "cache")})
        assert r.returncode == 0, r.stderr
        outputs[vendor] = _rows(r.stdout)
    assert outputs["defender"] == [["InitiatingProcessFileName", "RemoteIP", "Connections"],
                                   ["rundll32.exe", "203.0.113.50", "2"]]
    assert outputs["sysmon"] == outputs["defender"] == outputs["crowdstrike"]
