"""EDR ⇄ proxy correlation on real data: OTRF LSASS_campaign_01 Sysmon host log and its
Zeek logs, whose clocks disagree by ~19 hours (skipped when ../shared is absent)."""
from __future__ import annotations

from conftest import shared
from edrql.ingest import Options, ingest
from edrql.query import execute_text, make_context
from edrql.render import py_rows
from edrql.store import Case


def test_zeek_http_rows_attributed_to_msedge_despite_skew(tmp_path):
    host = shared("sysmon/otrf_lsass_campaign_01_host.zip")
    zeek = shared("proxy/otrf_lsass_campaign_01_zeek.zip")
    root = str(tmp_path / "c")
    ingest([str(host), str(zeek)], Case.create_or_open(root), Options())
    ctx = make_context(Case.open(root))
    rows = py_rows(execute_text(ctx, "http | project name, pid, match, source")[-1].table)
    zeek_rows = [r for r in rows if r["source"].endswith("http.log")]
    assert len(zeek_rows) == 3
    assert {(r["name"], r["pid"], r["match"]) for r in zeek_rows} == {("msedge.exe", 7476, "tuple")}
    clocks = {r["source"].split("!")[-1]: r for r in py_rows(execute_text(ctx, "clocks")[-1].table)}
    http = clocks["http.log"]
    assert http["applied"] and http["tuple_matches"] >= 3
    assert abs(http["offset_ns"] / 1e9 - 68400) < 60            # ~ +19:00:00
    assert http["offset"].startswith("+1")
