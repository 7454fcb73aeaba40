"""Correlation rules (event_count, value_count, temporal, temporal_ordered) on the hits of
the rules they name, over a stand-in Fields (tests/sigma/correlations.yml)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from edrql.sigma import engine, rules
from edrql.sigma._plainfields import PlainFields

FIX = Path(__file__).parent / "sigma" / "correlations.yml"
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def table(events):
    """events: (minute offset, EventID, user, ip)."""
    return pa.table({
        "ts": pa.array([T0 + timedelta(minutes=m) for m, *_ in events], pa.timestamp("ns", tz="UTC")),
        "EventID": pa.array([e for _, e, _, _ in events], pa.int64()),
        "TargetUserName": [u for *_, u, _ in events],
        "IpAddress": [ip for *_, ip in events]})


@pytest.fixture(scope="module")
def rs():
    return rules.load([str(FIX)], cache=False)


def run(rs, events, title):
    keep = [r for r in rs.rules if r.kind == "detection" or r.title.startswith(title)]
    out = engine.evaluate(keep, PlainFields(table(events)))
    ci = next(i for i, r in enumerate(keep) if r.kind == "correlation")
    h = out.hits.filter(pa.compute.equal(out.hits.column("rule"), ci))
    return out.status[ci], h.column("row").to_pylist(), h.column("matched").to_pylist()


EVENTS = [
    (0, 4625, "bob", "10.0.0.9"), (1, 4625, "bob", "10.0.0.9"), (2, 4625, "bob", "10.0.0.9"),  # 0-2
    (3, 4624, "bob", "10.0.0.9"),                                                          # 3
    (0, 4625, "amy", "10.0.0.7"), (9, 4625, "amy", "10.0.0.7"), (18, 4625, "amy", "10.0.0.7"),  # 4-6
    (30, 4625, "u1", "10.6.6.6"), (31, 4625, "u2", "10.6.6.6"), (32, 4625, "u3", "10.6.6.6"),  # 7-9
    (40, 4624, "cat", "10.0.0.5"), (41, 4625, "cat", "10.0.0.5"),                             # 10-11
]


def test_event_count_per_group_within_timespan(rs):
    st, rows, matched = run(rs, EVENTS, "Brute force")
    assert st == ("fired", "3 hits")
    assert rows == [0, 1, 2]                     # amy's three failures are 9 minutes apart
    assert matched[0] == "event_count: TargetUserName=bob; 3 events within 300s"


def test_value_count_distinct_values(rs):
    st, rows, matched = run(rs, EVENTS, "Password spray")
    assert rows == [7, 8, 9]                     # bob: 3 failures but one user name
    assert "3 distinct TargetUserName" in matched[0]


def test_temporal_all_rules_in_window_any_order(rs):
    st, rows, _ = run(rs, EVENTS, "Failures then success (temporal)")
    assert rows == [0, 1, 2, 3, 10, 11]          # cat: success before failure still counts


def test_temporal_ordered_needs_the_order(rs):
    st, rows, _ = run(rs, EVENTS, "Failure then success, in that order")
    assert st[0] == "fired"
    assert 10 not in rows and 11 not in rows     # cat: success came first
    assert 3 in rows and set(rows) <= {0, 1, 2, 3}


def test_no_events_no_hits_and_unknown_reference_fails(rs, tmp_path):
    st, rows, _ = run(rs, [(0, 4624, "x", "1.1.1.1")], "Brute force")
    assert st == ("no hits", "") and rows == []
    text = FIX.read_text().replace("rules: [failed_logon]\n  group-by: [TargetUserName]",
                                   "rules: [nope]\n  group-by: [TargetUserName]")
    p = tmp_path / "c.yml"
    p.write_text(text)
    rs2 = rules.load([str(p)], cache=False)
    bad = [r for r in rs2.rules if r.title.startswith("Brute")]
    out = engine.evaluate(bad, PlainFields(table(EVENTS)))
    assert out.status[0][0] == "failed" and "nope" in out.status[0][1]


def test_correlation_rule_metadata(rs):
    c = next(r for r in rs.rules if r.title.startswith("Brute"))
    assert c.kind == "correlation" and c.correlation.timespan == 300
    assert c.correlation.group_by == ("TargetUserName",) and c.level == "high"
