"""Conformance of the EVTX reader and the winevent profile on real public logs
(../shared/data; every test skips when it is absent)."""
from __future__ import annotations

import collections
import json

import pyarrow.compute as pc
import pytest

from conftest import shared
from edrql.normalize import Ctx, build
from edrql.profiles import detect, winevent
from edrql.readers import csvread, evtxread, jsonread
from edrql.readers.base import Input, expand
from edrql.schema import NAMES

PROFILE = winevent.PROFILE


def run(inp: Input, reader):
    batch = reader.read(inp)
    assert detect(set(batch.table.column_names)) is PROFILE
    norm = PROFILE.normalize(batch.table, Ctx())
    table, bad = build(batch, norm, PROFILE.vendor, inp.name)
    assert batch.records_read == table.num_rows + len(bad) + len(batch.quarantine)
    return batch, norm, table, bad


def only(path) -> Input:
    inputs = expand([str(path)])
    assert len(inputs) == 1
    return inputs[0]


def counts(table) -> collections.Counter:
    return collections.Counter(zip(table["event"].to_pylist(), table["action"].to_pylist()))


# ------------------------------------------------------------------ OTRF JSON lines
@pytest.fixture(scope="module")
def lsass():
    return run(only(shared("sysmon/otrf_lsass_campaign_01_host.zip")), jsonread)


def test_lsass_campaign_every_record_accounted(lsass):
    batch, norm, table, bad = lsass
    assert batch.records_read == 53_698
    assert table.num_rows + len(bad) + len(batch.quarantine) == 53_698
    assert table.num_rows == 53_698          # nothing needed quarantine
    c = counts(table)
    assert c[("process_start", "1")] == 269
    assert c[("process_start", "4688")] == 53
    assert c[("process_end", "4689")] == 46
    assert set(table["host"].to_pylist()) == {"MKT01.pandalab.com"}


def test_lsass_campaign_process_columns(lsass):
    _, _, table, _ = lsass
    ps = table.filter(pc.equal(table["action"], "1"))
    for name in ("pid", "ppid", "puid", "ppuid", "image", "pimage", "pstart"):
        assert ps[name].null_count == 0, name
    sec = table.filter(pc.equal(table["action"], "4688"))
    assert sec["pid"].null_count == 0 and sec["ppid"].null_count == 0
    # the same processes seen by Sysmon 1 and Security 4688 share their PIDs
    pairs = set(zip(ps["pid"].to_pylist(), ps["image"].to_pylist()))
    assert sum((p, i) in pairs for p, i in zip(sec["pid"].to_pylist(), sec["image"].to_pylist())) >= 40


def test_lsass_campaign_clock_note(lsass):
    """The OTRF export's TimeCreated/@timestamp run 19 h behind Sysmon's UtcTime."""
    _, norm, _, _ = lsass
    assert "ts from TimeCreated on 53698 rows" in norm.tz_decision
    assert "differs from Sysmon UtcTime by a median of -18h59m" in norm.tz_decision


@pytest.mark.parametrize("rel,n", [("sysmon/otrf_aptsimulator_cobaltstrike.zip", 2_611),
                                   ("sysmon/otrf_empire_launcher_vbs.zip", 2_067)])
def test_other_otrf_captures(rel, n):
    batch, _, table, bad = run(only(shared(rel)), jsonread)
    assert batch.records_read == n == table.num_rows + len(bad) + len(batch.quarantine)
    assert counts(table)[("process_start", "1")] > 0
    assert counts(table)[("process_start", "4688")] > 0


# ------------------------------------------------------------------ EVTX
def test_security_4688_tchopper_evtx():
    batch, norm, table, bad = run(only(shared("security/mdecrevoisier_4688_tchopper.evtx")), evtxread)
    assert batch.fmt == "evtx" and not batch.quarantine and not bad
    assert table.num_rows == 735
    assert table["event"].to_pylist() == ["process_start"] * 735
    assert table["pid"].null_count == 0 and table["ppid"].null_count == 0
    raw_new = table["raw.NewProcessId"].to_pylist()
    assert table["pid"].to_pylist() == [int(x, 16) for x in raw_new]
    assert table["record"].to_pylist() == list(range(1, 736))
    # the saved log kept the original EventRecordIDs (the record headers count 1..735)
    ids = [int(x) for x in table["raw.System.EventRecordID"].to_pylist()]
    assert ids == sorted(ids) and len(set(ids)) == 735 and ids[0] == 293884
    assert "System.TimeCreated.SystemTime" in norm.tz_decision
    # NewProcessIds are reused (the README counts 180 reused)
    assert len(set(table["pid"].to_pylist())) < 735


def test_security_4688_encoded_powershell_evtx():
    batch, _, table, bad = run(only(shared("security/mdecrevoisier_4688_encoded_powershell.evtx")),
                               evtxread)
    assert table.num_rows == 59
    assert counts(table) == {("process_start", "4688"): 58, ("other", "4697"): 1}


def test_every_sysmon_evtx_reads():
    folder = shared("sysmon/evtx")
    files = sorted(folder.glob("*.evtx"))
    assert len(files) >= 30
    total = collections.Counter()
    for f in files:
        batch, _, table, bad = run(only(f), evtxread)
        assert batch.records_read == table.num_rows + len(batch.quarantine) + len(bad)
        assert not batch.quarantine and not bad, f.name
        assert 1 <= batch.records_read <= 33, f.name
        total.update(table["event"].to_pylist())
    for ev in ("process_start", "network_connect", "image_load", "file_create",
               "registry_set", "registry_create", "dns_query", "other"):
        assert total[ev] > 0, ev


def test_sysmon_evtx_columns():
    batch, _, table, _ = run(only(shared("sysmon/evtx/sbousseaden_powercat_revShell_sysmon_1_3.evtx")),
                             evtxread)
    ps = table.filter(pc.equal(table["event"], "process_start"))
    assert ps.num_rows == 5
    for name in ("pid", "ppid", "puid", "ppuid", "image", "cmdline", "pstart", "sha256"):
        assert ps[name].null_count == 0, name
    net = table.filter(pc.equal(table["action"], "3"))
    assert net.num_rows == 1
    for name in ("laddr", "lport", "raddr", "rport", "proto"):
        assert net[name].null_count == 0, name


def _sigma_pairs():
    try:
        folder = shared("sysmon/sigma_pairs")
    except pytest.skip.Exception:
        return []
    return sorted(folder.glob("*.evtx"))


@pytest.mark.parametrize("evtx_path", _sigma_pairs() or [None], ids=lambda p: p.stem if p else "absent")
def test_sigma_pair_evtx_and_json_give_same_events(evtx_path):
    if evtx_path is None:
        pytest.skip("real data not present")
    json_path = evtx_path.with_suffix(".json")
    ev_batch, _, ev_table, _ = run(only(evtx_path), evtxread)
    js_batch, _, js_table, _ = run(only(json_path), jsonread)
    assert ev_table.num_rows == js_table.num_rows >= 1
    names = [n for n in NAMES if n not in ("source",)]
    assert ev_table.select(names).equals(js_table.select(names))
    # the per-record flatten the JSON reader can call gives the EVTX raw fields exactly
    objs = [o for _, o, _, _ in jsonread.iter_objects(json_path.read_text(encoding="utf-8"))]
    assert all(evtxread.is_evtx_json(o) for o in objs)
    assert [evtxread.flatten_record(o) for o in objs] == ev_batch.table.to_pylist()


def test_chainsaw_security_sample():
    batch, _, table, bad = run(only(shared("security/chainsaw/security_sample.evtx")), evtxread)
    assert batch.records_read == table.num_rows == 10
    logons = table.filter(pc.equal(table["action"], "4624"))
    assert sorted(logons["raw.System.EventRecordID"].to_pylist()) == ["31794", "31799"]
    assert set(table["host"].to_pylist()) == {"DESKTOP-JK4Q86I"}


def test_chainsaw_json_output_matches_evtx():
    """chainsaw's own `search 4624 --jsonl` output (evtx JSON with separate attributes)
    normalizes to the same rows as the EVTX's two 4624 records."""
    _, _, ev, _ = run(only(shared("security/chainsaw/security_sample.evtx")), evtxread)
    _, _, js, _ = run(only(shared("security/chainsaw/clo_search_q_jsonl_simple_string.txt")), jsonread)
    ev = ev.filter(pc.equal(ev["action"], "4624"))
    names = [n for n in NAMES if n not in ("source", "record")]
    assert js.num_rows == 2
    assert ev.select(names).equals(js.select(names))


# ------------------------------------------------------------------ damaged EVTX
@pytest.mark.parametrize("cut", [201_704, 200_704, 70_000, 5_000, 4_096])
def test_truncated_evtx_is_accounted(tmp_path, cut):
    data = shared("security/mdecrevoisier_4688_tchopper.evtx").read_bytes()
    p = tmp_path / "cut.evtx"
    p.write_bytes(data[:cut])
    batch = evtxread.read(Input(str(p), str(p), None, cut))
    n_rows = batch.table.num_rows
    assert batch.records_read == 735 == n_rows + len(batch.quarantine)
    assert n_rows == max(0, (cut - 4096) // 65536) * 90
    assert all(q.reason.startswith("truncated EVTX") for q in batch.quarantine)
    assert any("truncated" in n for n in batch.notes)
    ids = [json.loads(q.raw)["record_id"] for q in batch.quarantine]
    assert ids == list(range(n_rows + 1, 736))
    assert [q.record for q in batch.quarantine] == ids


def test_truncated_inside_file_header(tmp_path):
    data = shared("security/mdecrevoisier_4688_tchopper.evtx").read_bytes()
    p = tmp_path / "cut.evtx"
    p.write_bytes(data[:2000])
    with pytest.raises(evtxread.SourceError, match="truncated EVTX"):
        evtxread.read(Input(str(p), str(p), None, 2000))


def test_corrupt_chunk_is_quarantined_with_parser_error(tmp_path):
    data = bytearray(shared("security/mdecrevoisier_4688_tchopper.evtx").read_bytes())
    start = 4096 + 2 * 65536 + 600          # inside chunk 2 (records 181..270)
    data[start:start + 1400] = b"A" * 1400
    p = tmp_path / "corrupt.evtx"
    p.write_bytes(bytes(data))
    batch = evtxread.read(Input(str(p), str(p), None, len(data)))
    assert batch.records_read == 735
    assert batch.table.num_rows == 645 and len(batch.quarantine) == 90
    assert all("181..270" in q.reason for q in batch.quarantine)
    assert [q.record for q in batch.quarantine] == list(range(181, 271))


@pytest.mark.parametrize("enc", ["cp932", "windows-1252", "no-such-codec"])
def test_evtx_encoding_option(enc):
    batch = evtxread.read(only(shared("security/chainsaw/security_sample.evtx")), enc)
    assert batch.table.num_rows == 10
    assert bool(batch.notes) == (enc == "no-such-codec")


def test_zip_member_evtx(tmp_path):
    import zipfile
    src = shared("security/chainsaw/security_sample.evtx")
    z = tmp_path / "logs.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(src, "Security.evtx")
    batch = evtxread.read(only(z))
    assert batch.table.num_rows == 10


# ------------------------------------------------------------------ Sentinel CSV
@pytest.mark.parametrize("rel,n", [("security/msticpy_win_proc_test_4688.csv", 1_000),
                                   ("security/msticpy_processes_on_host_4688.csv", 363)])
def test_sentinel_csv(rel, n):
    batch, norm, table, bad = run(only(shared(rel)), csvread)
    assert table.num_rows == n and not bad and not batch.quarantine
    assert table["event"].to_pylist() == ["process_start"] * n
    assert table["pid"].to_pylist() == [int(x, 16) for x in table["raw.NewProcessId"].to_pylist()]
    assert table["ppid"].to_pylist() == [int(x, 16) for x in table["raw.ProcessId"].to_pylist()]
    assert table["host"].null_count == 0 and table["image"].null_count == 0
    assert "TimeGenerated" in norm.tz_decision
