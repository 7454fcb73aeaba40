"""Defender-schema tables over real exports of every vendor in ../shared/data (skipped when
absent): each Device* table builds, every device event lands in exactly one table, and the
key columns are filled where the vendor records them."""
from __future__ import annotations

import pyarrow.compute as pc
import pytest

from conftest import shared
from edrql import devtables

REAL = {
    "sysmon_empire": "sysmon/otrf_empire_launcher_vbs.zip",
    "sysmon_apt": "sysmon/otrf_aptsimulator_cobaltstrike.zip",
    "sysmon_evtx": "sysmon/evtx/"
                   "sbousseaden_exec_persist_rundll32_mshta_scheduledtask_sysmon_1_3_11.evtx",
    "security_evtx": "security/mdecrevoisier_4688_tchopper.evtx",
    "security_csv": "security/msticpy_win_proc_test_4688.csv",
    "security_logons": "security/chainsaw/security_sample.evtx",
    "defender_csv": "vendor/msticpy_mde_proc_pub.csv",
    "defender_json": "vendor/otrf_goldensaml_m365defender.zip",
    "defender_stream": "vendor/elastic_m365_defender_stream_excerpt.ndjson",
    "crowdstrike_fdr": "vendor/elastic_crowdstrike_fdr_excerpt.ndjson",
}
ALWAYS = ["Timestamp", "ActionType", "vendor", "source", "record"]


def _case(tmp_path, rel):
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    path = shared(rel)
    case = Case.create_or_open(str(tmp_path / "case"))
    ingest([str(path)], case, Options())
    return Case.open(str(tmp_path / "case"))


def _tables(case) -> dict:
    return {n: devtables.table(case, n) for n in devtables.TABLES}


def _filled(t, col) -> int:
    return t.num_rows - t[col].null_count


@pytest.mark.parametrize("name", sorted(REAL))
def test_every_device_table_builds(tmp_path, name):
    case = _case(tmp_path, REAL[name])
    tables = _tables(case)
    ev = case.events
    starts = pc.sum(pc.equal(ev["event"], "process_start")).as_py() or 0
    ps = tables["DeviceProcessEvents"].num_rows
    # every event is in one table; a creation seen by two channels is one row
    assert sum(t.num_rows for t in tables.values()) + (starts - ps) == ev.num_rows
    for tname, t in tables.items():
        assert t.schema == devtables.schema(tname)
        for col in ALWAYS:
            assert _filled(t, col) == t.num_rows, (tname, col)
    t = tables["DeviceProcessEvents"]
    for col in ("FileName", "FolderPath", "ProcessId", "ProcessCommandLine", "proc"):
        assert _filled(t, col) == t.num_rows, col


def test_counts_per_vendor(tmp_path_factory):
    """Figures reported in the branch report: rows and filled key columns."""
    def case(key):
        return _tables(_case(tmp_path_factory.mktemp(key), REAL[key]))
    mde = case("defender_csv")["DeviceProcessEvents"]
    assert mde.num_rows == 200
    assert [_filled(mde, c) for c in ("SHA1", "AccountSid", "InitiatingProcessParentFileName",
                                      "InitiatingProcessCommandLine")] == [200, 200, 199, 199]
    sec = case("security_csv")["DeviceProcessEvents"]
    assert sec.num_rows == 1000
    assert _filled(sec, "InitiatingProcessFileName") == 1000
    assert _filled(sec, "InitiatingProcessParentFileName") == 840     # 861 parents present
    assert _filled(sec, "SHA256") == 0                                 # 4688 has no hashes
    sysmon = case("sysmon_empire")
    assert sysmon["DeviceProcessEvents"].num_rows == 5       # 5 Sysmon 1 = 5 merged 4688
    assert _filled(sysmon["DeviceProcessEvents"], "SHA1") == 5
    assert sysmon["DeviceRegistryEvents"].num_rows == 483
    assert pc.all(pc.starts_with(sysmon["DeviceRegistryEvents"]["RegistryKey"], "HKEY_")).as_py()
    assert _filled(sysmon["DeviceImageLoadEvents"], "SHA1") == 324
    assert sysmon["DeviceNetworkEvents"].num_rows == 50
    assert sysmon["DeviceLogonEvents"].num_rows == 2
    logons = case("security_logons")["DeviceLogonEvents"]
    assert logons.num_rows == 2 and logons["ActionType"].to_pylist() == ["LogonSuccess"] * 2
    cs = case("crowdstrike_fdr")
    assert cs["DeviceProcessEvents"].num_rows == 3
    assert cs["DeviceNetworkEvents"].num_rows == 4
    assert _filled(cs["DeviceNetworkEvents"], "RemoteIP") == 4
