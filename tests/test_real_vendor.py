"""Conformance on real vendor exports in ../shared/data/vendor (skipped when absent)."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from conftest import shared
from edrql import profiles
from edrql.normalize import Ctx, build
from edrql.readers import read
from edrql.readers.base import expand


def _ingest(path):
    """Every input of a path (zip members too): (input, batch, profile, table, quarantine)."""
    out = []
    for inp in expand([str(path)]):
        batch = read(inp)
        prof = profiles.detect(set(batch.table.column_names))
        assert prof is not None, inp.name
        norm = prof.normalize(batch.table, Ctx())
        table, bad = build(batch, norm, prof.vendor, inp.name)
        quarantined = len(batch.quarantine) + len(bad)
        assert table.num_rows + quarantined == batch.records_read, inp.name
        out.append((inp, batch, prof, table, quarantined))
    return out


def test_crowdstrike_fdr_excerpt():
    [(inp, batch, prof, table, quarantined)] = _ingest(
        shared("vendor/elastic_crowdstrike_fdr_excerpt.ndjson"))
    assert prof.name == "crowdstrike"
    assert batch.records_read == 13
    assert table.num_rows == 13 and quarantined == 0          # every record stored
    ev = table["event"].to_pylist()
    act = table["action"].to_pylist()
    pr2 = [i for i, a in enumerate(act) if a in ("ProcessRollup2", "SyntheticProcessRollup2")]
    assert len(pr2) == 3
    assert all(ev[i] == "process_start" for i in pr2)
    pid, raw_pid = table["pid"].to_pylist(), table["raw.RawProcessId"].to_pylist()
    assert all(pid[i] == int(raw_pid[i]) for i in pr2)         # OS pid from RawProcessId
    assert sorted(pid[i] for i in pr2) == [9505, 56254, 73249]
    aid, tpid = table["raw.aid"].to_pylist(), table["raw.TargetProcessId"].to_pylist()
    puid = table["puid"].to_pylist()
    assert all(puid[i] == f"{aid[i]}:{tpid[i]}" for i in pr2)
    assert ev[act.index("EndOfProcess")] == "process_end"
    assert {ev[i] for i, a in enumerate(act) if a.startswith("NetworkConnect")} == {"network_connect"}
    assert ev[act.index("NetworkReceiveAcceptIP4")] == "network_accept"
    assert ev[act.index("OoxmlFileWritten")] == "file_create"
    # timestamps: epoch ms at full precision, all in July 2021
    ts = pc.cast(table["ts"], pa.int64()).to_pylist()
    raw_ts = table["raw.timestamp"].to_pylist()
    assert ts == [int(t) * 1_000_000 for t in raw_ts]
    # all-zero SHA1 present in raw; hashes that are set are kept
    i = act.index("ProcessRollup2")
    assert table["sha256"][i].as_py() == table["raw.SHA256HashData"][i].as_py()
    # the vendor dedup key identifies every record of the excerpt (ids alone do not)
    key = prof.dedup_key
    keys = {tuple(table["raw." + k][j].as_py() for k in key) for j in range(table.num_rows)}
    assert len(keys) == 13
    ids = {(table["raw.aid"][j].as_py(), table["raw.id"][j].as_py()) for j in range(13)}
    assert len(ids) == 12          # two events of one sensor share an id in this excerpt


def test_m365_stream_excerpt_goes_to_mde():
    res = _ingest(shared("vendor/elastic_m365_defender_stream_excerpt.ndjson"))
    for inp, batch, prof, table, quarantined in res:
        assert prof.name == "mde"
        assert table.num_rows + quarantined == batch.records_read > 0


def test_goldensaml_zip_goes_to_mde():
    res = _ingest(shared("vendor/otrf_goldensaml_m365defender.zip"))
    assert len(res) == 1
    for inp, batch, prof, table, quarantined in res:
        assert prof.name == "mde"
        assert batch.records_read == 9
        assert table.num_rows + quarantined == 9


def test_my_profiles_claim_no_other_shared_source():
    """CrowdStrike and ECS detection stays off the Sysmon/Security/MDE/proxy samples."""
    from edrql.profiles import crowdstrike, ecs
    for rel in ("vendor/msticpy_mde_proc_pub.csv", "vendor/elastic_m365_defender_stream_excerpt.ndjson",
                "sysmon/otrf_empire_launcher_vbs.zip", "security/msticpy_win_proc_test_4688.csv",
                "proxy/otrf_apt29_zeek/SCRANTON_dns.log"):
        for inp in expand([str(shared(rel))]):
            cols = set(read(inp).table.column_names)
            assert crowdstrike.PROFILE.detect(cols) == 0, inp.name
            assert ecs.PROFILE.detect(cols) == 0, inp.name
