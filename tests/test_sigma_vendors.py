"""The same activity from two vendors gives the same Sigma hits on the same processes.

tests/data/sigma_pairs/ holds one activity on host WS1 (Word → PowerShell → certutil
download, reg.exe disabling admin shares, a DNS query to MEGA, AnyDesk writing its
config, a benign notepad) written as Sysmon JSON lines, as a Defender Advanced Hunting
CSV (DeviceProcess/File/Registry/NetworkEvents columns) and, for the process creations
only, as Security 4688 (make.py there writes them). Rules: edrql's own test rules
(rules/, always) and real SigmaHQ rules (skipped when ../shared is absent).
"""
from __future__ import annotations

from pathlib import Path

import pytest

import edrql
from conftest import SHARED
from edrql.sigma.engine import evaluate
from edrql.sigma.fieldmap import Fields
from edrql.sigma.rules import load

DATA = Path(__file__).resolve().parent / "data" / "sigma_pairs"
OWN = DATA / "rules"
WIN = SHARED / "sigma" / "rules" / "windows"
SIGMAHQ = {  # rule file → the process (pid) its hit is on, in both renderings
    "process_creation/proc_creation_win_certutil_download.yml": 4200,
    "process_creation/proc_creation_win_office_susp_child_processes.yml": 4100,
    "file/file_event/file_event_win_anydesk_artefact.yml": 4500,
    "registry/registry_set/registry_set_disable_administrative_share.yml": 4300,
    "network_connection/net_connection_win_certutil_initiated_connection.yml": 4200,
    "dns_query/dns_query_win_mega_nz.yml": 4100,
}
OWN_PIDS = {"0c1f5e2a-7d43-4c1e-9a61-3f2b8e5d7a01": 4100, "0c1f5e2a-7d43-4c1e-9a61-3f2b8e5d7a02": 4200,
            "0c1f5e2a-7d43-4c1e-9a61-3f2b8e5d7a03": 4300, "0c1f5e2a-7d43-4c1e-9a61-3f2b8e5d7a04": 4200,
            "0c1f5e2a-7d43-4c1e-9a61-3f2b8e5d7a05": 4100}
SOURCES = {"sysmon": "sysmon_activity.json", "defender": "defender_activity.csv",
           "security": "security_4688_activity.json"}


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    out = {}
    for name, f in SOURCES.items():
        root = tmp_path_factory.mktemp(name) / "case"
        ingest([str(DATA / f)], Case.create_or_open(str(root)), Options())
        out[name] = edrql.open(str(root)).query("events")
    return out


def _hits(rules, table) -> dict[str, set[tuple[int, str]]]:
    """rule id → {(pid, name)} of its hit rows."""
    o = evaluate(rules, Fields(table))
    pid, name = table["pid"].to_pylist(), table["name"].to_pylist()
    out: dict[str, set] = {r.id: set() for r in rules}
    for h in o.hits.to_pylist():
        out[rules[h["rule"]].id].add((pid[h["row"]], name[h["row"]].lower()))
    return out


def test_sources_are_what_they_claim(tables):
    assert set(tables["sysmon"]["vendor"].to_pylist()) == {"Windows Event Log"}
    assert set(tables["defender"]["vendor"].to_pylist()) == {"Microsoft Defender for Endpoint"}
    assert tables["sysmon"].num_rows == tables["defender"].num_rows == 10


def test_own_rules_same_processes_on_sysmon_and_defender(tables):
    rules = load([str(OWN)]).rules
    assert len(rules) == 5
    a, b = _hits(rules, tables["sysmon"]), _hits(rules, tables["defender"])
    assert a == b
    for rid, pid in OWN_PIDS.items():
        assert {p for p, _ in a[rid]} == {pid}, rid


def test_sigmahq_rules_same_processes_on_sysmon_and_defender(tables):
    if not WIN.is_dir():
        pytest.skip(f"real data not present: {WIN}")
    rules = load([str(WIN / f) for f in SIGMAHQ]).rules
    assert len(rules) == len(SIGMAHQ)
    a, b = _hits(rules, tables["sysmon"]), _hits(rules, tables["defender"])
    assert a == b
    by_path = {Path(r.path).name: r.id for r in rules}
    for f, pid in SIGMAHQ.items():
        assert {p for p, _ in a[by_path[Path(f).name]]} == {pid}, f


def test_notepad_fires_nothing(tables):
    rules = load([str(OWN)]).rules
    for t in ("sysmon", "defender"):
        assert all(4400 not in {p for p, _ in s} for s in _hits(rules, tables[t]).values())


def test_4688_fires_process_rules_and_names_what_it_lacks(tables):
    rules = load([str(OWN)]).rules
    o = evaluate(rules, Fields(tables["security"]))
    by_id = {r.id: (st, m) for r, st, m in zip(rules, o.status, o.missing)}
    assert by_id["0c1f5e2a-7d43-4c1e-9a61-3f2b8e5d7a01"][0] == ("fired", "1 hits")   # parent + cmdline
    st, missing = by_id["0c1f5e2a-7d43-4c1e-9a61-3f2b8e5d7a02"]
    assert st[0] == "no hits" and set(missing) == {"Hashes", "OriginalFileName"}   # 4688 has neither
    assert by_id["0c1f5e2a-7d43-4c1e-9a61-3f2b8e5d7a03"] == (
        ("not applicable", "you exported no registry events"), ())
    assert by_id["0c1f5e2a-7d43-4c1e-9a61-3f2b8e5d7a04"][0] == (
        "not applicable", "you exported no network connection events")


def test_defender_values_in_sysmon_spelling(tables):
    from types import SimpleNamespace as NS
    f = Fields(tables["defender"])
    reg = NS(category="registry_set", product="windows", service=None)
    rows = f.rows(reg)
    assert f.values("Details", rows, reg).to_pylist() == ["DWORD (0x00000000)"]
    assert f.values("targetobject", rows, reg).to_pylist() == [
        "HKLM\\SYSTEM\\CurrentControlSet\\Services\\LanmanServer\\Parameters\\AutoShareWks"]
    dns = NS(category="dns_query", product="windows", service=None)
    assert f.values("QueryResults", f.rows(dns), dns).to_pylist() == ["66.203.125.11"]
    assert "raw.AdditionalFields" in f.column_of("QueryName", dns)
