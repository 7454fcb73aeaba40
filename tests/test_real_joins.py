"""join over a real Sysmon capture (../shared/data; skipped when absent): process starts
joined with the image loads and network events of the same process (ProcessGuid), checked
against an independent hash join (pyarrow's Acero) over the same rows."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from conftest import shared
from edrql.query import execute_text, make_context


@pytest.fixture(scope="module")
def sysmon_case(tmp_path_factory):
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    src = shared("sysmon/otrf_aptsimulator_cobaltstrike.zip")
    root = str(tmp_path_factory.mktemp("sysmon") / "case")
    ingest([str(src)], Case.create_or_open(root), Options())
    return Case.open(root)


def _acero(ev, right_filter, kind):
    starts = ev.filter(pc.equal(ev["event"], "process_start")).select(["host", "puid"])
    other = ev.filter(right_filter).select(["host", "puid"])
    return starts.join(other, ["host", "puid"], join_type=kind).num_rows


@pytest.mark.parametrize("right,kind,acero_kind", [
    ('event == "image_load"', "inner", "inner"),
    ('event in ("network_connect", "network_accept")', "inner", "inner"),
    ('event != "process_start"', "leftsemi", "left semi"),
    ('event != "process_start"', "leftanti", "left anti"),
])
def test_sysmon_join_matches_an_independent_hash_join(sysmon_case, right, kind, acero_kind):
    ev = sysmon_case.events
    masks = {'event == "image_load"': pc.equal(ev["event"], "image_load"),
             'event in ("network_connect", "network_accept")':
                 pc.is_in(ev["event"], value_set=pa.array(["network_connect", "network_accept"])),
             'event != "process_start"': pc.not_equal(ev["event"], "process_start")}
    q = (f'events | where event == "process_start" | project host, puid, name '
         f'| join kind={kind} (events | where {right} | project host, puid) on host, puid | count')
    got = execute_text(make_context(sysmon_case), q)[-1].table["count"][0].as_py()
    assert got == _acero(ev, masks[right], acero_kind)
    if kind == "inner" and right.startswith('event == "image'):
        assert got > 50             # the capture's processes load images


def test_sysmon_default_join_keeps_one_start_per_process(sysmon_case):
    q = ('events | where event == "image_load" | project host, puid, file '
         '| join (events | where event == "process_start" | project host, puid, name) on host, puid')
    t = execute_text(make_context(sysmon_case), q)[-1].table
    # innerunique: one row per distinct left key that has a start, not one per image load
    keys = set(zip(t["host"].to_pylist(), t["puid"].to_pylist()))
    assert t.num_rows == len(keys) > 0
