"""Search conformance on real data (../shared/data; skipped when absent)."""
from __future__ import annotations

from conftest import shared
from edrql.ingest import Options, ingest
from edrql.query import execute_text, make_context
from edrql.render import py_rows
from edrql.store import Case


def test_chainsaw_search_4624_hits_exactly_its_two_records(tmp_path):
    src = shared("security/chainsaw/security_sample.evtx")
    root = str(tmp_path / "c")
    ingest([str(src)], Case.create_or_open(root), Options())
    case = Case.open(root)
    for q in ('search "4624"', 'search cs "4624"', "events | where isnotnull(ts) | search \"4624\""):
        r = execute_text(make_context(case), q)[-1]
        ids = sorted(int(x["raw.System.EventRecordID"]) for x in py_rows(r.table))
        assert ids == [31794, 31799], q
        assert r.extra["receipt"].rows_scanned == 10


def test_lsass_encoded_and_full_coverage(tmp_path):
    src = shared("sysmon/otrf_lsass_campaign_01_host.zip")
    root = str(tmp_path / "c")
    ingest([str(src)], Case.create_or_open(root), Options())
    case = Case.open(root)
    r = execute_text(make_context(case), 'search "lsass"')[-1]
    rc = r.extra["receipt"]
    assert rc.rows_scanned == 53698 and rc.hits > 0
    slow = execute_text(make_context(case), 'events | where isnotnull(ts) | search "lsass"')[-1]
    assert slow.table.num_rows == r.table.num_rows
