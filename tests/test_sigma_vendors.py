"""The same activity from two vendors gives the same Sigma hits on the same processes.

tests/data/sigma_pairs/ holds one activity on host WS1 (Word → PowerShell → certutil
download, reg.exe disabling admin shares, a DNS query to MEGA, AnyDesk writing its
config, a benign notepad) written as Sysmon JSON lines, as a Defender Advanced Hunting
CSV (DeviceProcess/File/Registry/NetworkEvents columns), as Elastic Defend (ECS) documents,
as CrowdStrike FDR lines and, for
the process creations only, as Security 4688 (make.py there writes them). Rules: edrql's own test rules
(rules/, always) and real SigmaHQ rules (skipped when ../shared is absent).
"""
from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
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
           "security": "security_4688_activity.json", "crowdstrike": "crowdstrike_activity.ndjson",
           "ecs": "ecs_activity.ndjson"}
HASH_RULE = "0c1f5e2a-7d43-4c1e-9a61-3f2b8e5d7a02"


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
        out[rules[h["rule"]].id].add((pid[h["row"]], (name[h["row"]] or "").lower()))
    return out


def _actors(rules, table) -> dict[str, set[str]]:
    """rule id → {file name of the acting process (Sigma's Image, as Fields resolves it)}."""
    fields = Fields(table)
    o = evaluate(rules, fields)
    out: dict[str, set] = {r.id: set() for r in rules}
    for i, r in enumerate(rules):
        rows = o.hits.filter(pc.equal(o.hits["rule"], i))["row"].to_numpy()
        if len(rows):
            img = fields.values("Image", rows, r.logsource).to_pylist()
            out[r.id] |= {x.rsplit("\\", 1)[-1].lower() for x in img}
    return out


def test_sources_are_what_they_claim(tables):
    assert set(tables["sysmon"]["vendor"].to_pylist()) == {"Windows Event Log"}
    assert set(tables["defender"]["vendor"].to_pylist()) == {"Microsoft Defender for Endpoint"}
    assert set(tables["crowdstrike"]["vendor"].to_pylist()) == {"CrowdStrike Falcon"}
    assert set(tables["ecs"]["vendor"].to_pylist()) == {"Elastic (ECS)"}
    assert tables["sysmon"].num_rows == tables["defender"].num_rows == tables["crowdstrike"].num_rows == 10


@pytest.mark.parametrize("other", ["defender", "ecs"])
def test_own_rules_same_processes_on_sysmon_and_other(tables, other):
    rules = load([str(OWN)]).rules
    assert len(rules) == 5
    a, b = _hits(rules, tables["sysmon"]), _hits(rules, tables[other])
    assert a == b
    for rid, pid in OWN_PIDS.items():
        assert {p for p, _ in a[rid]} == {pid}, rid


@pytest.mark.parametrize("other", ["defender", "ecs"])
def test_sigmahq_rules_same_processes_on_sysmon_and_other(tables, other):
    if not WIN.is_dir():
        pytest.skip(f"real data not present: {WIN}")
    rules = load([str(WIN / f) for f in SIGMAHQ]).rules
    assert len(rules) == len(SIGMAHQ)
    a, b = _hits(rules, tables["sysmon"]), _hits(rules, tables[other])
    assert a == b
    by_path = {Path(r.path).name: r.id for r in rules}
    for f, pid in SIGMAHQ.items():
        assert {p for p, _ in a[by_path[Path(f).name]]} == {pid}, f


def test_notepad_fires_nothing(tables):
    rules = load([str(OWN)]).rules
    for t in ("sysmon", "defender", "ecs", "crowdstrike"):
        actors = _actors(rules, tables[t])
        assert all("notepad.exe" not in a for a in actors.values()), t
        assert sum(len(a) for a in actors.values()) >= 4, t


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


def test_crowdstrike_same_rules_same_processes(tables):
    """CrowdStrike names the parent by file name and network/DNS/registry/file rows by UPID
    only: Fields takes their images from the PR2 rows of those UPIDs. PR2 carries no
    OriginalFileName, so the rule that needs it does not fire and says so."""
    rules = load([str(OWN)] + ([str(WIN / f) for f in SIGMAHQ] if WIN.is_dir() else [])).rules
    a, c = _actors(rules, tables["sysmon"]), _actors(rules, tables["crowdstrike"])
    assert a[HASH_RULE] == {"certutil.exe"} and c[HASH_RULE] == set()
    del a[HASH_RULE], c[HASH_RULE]
    assert a == c
    assert c["0c1f5e2a-7d43-4c1e-9a61-3f2b8e5d7a01"] == {"powershell.exe"}   # ParentImage by UPID
    o = evaluate(rules, Fields(tables["crowdstrike"]))
    st = {r.id: (s, m) for r, s, m in zip(rules, o.status, o.missing)}
    assert st[HASH_RULE] == (("no hits", ""), ("OriginalFileName",))


def test_crowdstrike_parent_and_network_images(tables):
    from types import SimpleNamespace as NS
    f = Fields(tables["crowdstrike"])
    pc_ls = NS(category="process_creation", product="windows", service=None)
    rows = f.rows(pc_ls)
    parents = f.values("ParentImage", rows, pc_ls).to_pylist()
    assert parents[0] == "explorer.exe"                     # its PR2 is not in the data: kept as given
    assert parents[1].endswith("\\Office16\\WINWORD.EXE") and parents[1].startswith("\\Device\\")
    net = NS(category="network_connection", product="windows", service=None)
    assert f.values("Image", f.rows(net), net).to_pylist() == [
        "\\Device\\HarddiskVolume3\\Windows\\System32\\certutil.exe"]
    reg = NS(category="registry_set", product="windows", service=None)
    assert f.values("Details", f.rows(reg), reg).to_pylist() == ["DWORD (0x00000000)"]
