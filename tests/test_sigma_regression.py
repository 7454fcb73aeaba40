"""THE PROOF (issue 15): SigmaHQ's regression data.

For each of the 203 pairs in ../shared/data/sigma/regression_data, its EVTX and (separately)
its JSON rendering are ingested by edrql into a case of their own, the rule the pair
belongs to is loaded from the rule folders by id, and evaluated over the case through
``Fields``: it must fire. Its hit count is compared with ``match_count`` of info.yml.

Every pair is ingested once per module (about 30 s for the 406 files); the tests then only
read the results. Skips cleanly when ../shared is absent.
"""
from __future__ import annotations

import pytest

from sigma_pairs import SIGMA, pairs, rule_index, ingest_one

HAVE = (SIGMA / "regression_data").is_dir()
PAIRS = pairs() if HAVE else []

#: pairs that cannot fire here, each with its reason (xfail strict: fixing one fails the test,
#: so the list stays true)
EXPECTED_MISSES = {
    "cisco_cli_dot1x_disabled": "the pair has no EVTX or JSON sample, only a Cisco CLI .raw text "
                                "log that edrql has no reader for (and its info.yml comments the test out)",
}

#: pairs whose sample holds more matching events than info.yml's match_count says
#: (checked by hand: each extra hit is an event that meets the rule's condition)
COUNT_DIFFERENCES = {
    # user.conf.new, user.conf~RF….TMP, user.conf.new again under AppData\Roaming\AnyDesk
    "file_event_win_anydesk_artefact": 3,
    # procdump64.exe, procdump64a.exe and procdump.exe written to Downloads
    "file_event_win_cred_dump_tools_dropped_files": 3,
    # three values set under ...\Internet Settings\ZoneMap\Domains\bad-domain.…
    "registry_set_change_security_zones": 3,
    # AutoShareServer and AutoShareWks, both set to 0
    "registry_set_disable_administrative_share": 2,
}


def _param(p):
    marks = []
    if p.name in EXPECTED_MISSES:
        marks.append(pytest.mark.xfail(strict=True, reason=EXPECTED_MISSES[p.name]))
    return pytest.param(p, id=p.name, marks=marks)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """(results, coverage): (kind, pair name) → (hits, status, missing) of the pair's rule over
    its own sample, and → (rows of its logsource, fields no column holds)."""
    if not HAVE:
        pytest.skip(f"real data not present: {SIGMA}")
    from edrql.sigma.engine import evaluate
    from edrql.sigma.fieldmap import Fields
    from edrql.sigma.rules import load
    idx = rule_index()
    paths = sorted({str(idx[p.rule_id.lower()]) for p in PAIRS if p.rule_id.lower() in idx})
    rs = load(paths)
    by_id = {r.id.lower(): r for r in rs.rules}
    skipped = {s.id.lower(): s.reason for s in rs.skipped if s.id}
    base = tmp_path_factory.mktemp("sigma_pairs")
    out, coverage = {}, {}
    for i, p in enumerate(PAIRS):
        rule = by_id.get(p.rule_id.lower())
        for kind in ("evtx", "json"):
            f = getattr(p, kind)
            if rule is None:
                out[kind, p.name] = (0, ("failed", skipped.get(p.rule_id.lower(), "rule not found")), ())
                continue
            if f is None:
                out[kind, p.name] = (0, ("no sample", f"no .{kind} file"), ())
                continue
            table = ingest_one(f, base / f"{i}_{kind}")
            fields = Fields(table)
            o = evaluate([rule], fields)
            out[kind, p.name] = (o.hits.num_rows, o.status[0], o.missing[0])
            rows = fields.rows(rule.logsource)   # the coverage check, without the engine
            coverage[kind, p.name] = (len(rows), sorted(
                x for x in rule.fields if fields.values(x, rows, rule.logsource) is None))
    return out, coverage


@pytest.fixture(scope="module")
def results(evaluated):
    return evaluated[0]


@pytest.fixture(scope="module")
def coverage(evaluated):
    return evaluated[1]


def test_all_pairs_present():
    if not HAVE:
        pytest.skip(f"real data not present: {SIGMA}")
    assert len(PAIRS) == 203
    idx = rule_index()
    assert all(p.rule_id.lower() in idx for p in PAIRS), "every pair's rule is in the rule folders"


@pytest.mark.parametrize("kind", ["evtx", "json"])
@pytest.mark.parametrize("pair", [_param(p) for p in PAIRS] or [pytest.param(None, id="no-data")])
def test_rule_fires_on_its_pair(results, pair, kind):
    hits, status, missing = results[kind, pair.name]
    assert hits >= 1, f"{pair.title} ({pair.rule_id}): {status} missing={missing}"


@pytest.mark.parametrize("kind", ["evtx", "json"])
def test_at_least_200_of_203_fire(results, kind):
    fired = [name for (k, name), (hits, _, _) in results.items() if k == kind and hits >= 1]
    missed = sorted({name for (k, name) in results if k == kind} - set(fired))
    assert len(fired) >= 200, missed
    assert set(missed) == set(EXPECTED_MISSES), "every miss is named with its reason"


@pytest.mark.parametrize("kind", ["evtx", "json"])
def test_hit_counts_match_info(results, kind):
    """Hits equal info.yml's match_count, except where the sample holds more (named above)."""
    wrong = {}
    for p in PAIRS:
        hits = results[kind, p.name][0]
        if not hits or p.match_count is None:
            continue
        want = COUNT_DIFFERENCES.get(p.name, p.match_count)
        if hits != want:
            wrong[p.name] = (hits, want)
    assert not wrong
    assert all(results[kind, n][0] == c for n, c in COUNT_DIFFERENCES.items())


@pytest.mark.parametrize("kind", ["evtx", "json"])
def test_every_field_of_every_pair_rule_resolves(coverage, kind):
    """For each pair, its logsource has rows and every field its rule reads resolves to
    a column with values there (finds mapping bugs without the engine's help)."""
    bad = {name: c for (k, name), c in coverage.items() if k == kind and (c[0] == 0 or c[1])}
    assert len([1 for k, _ in coverage if k == kind]) >= 200
    assert not bad


def test_evtx_and_json_agree(results):
    """The EVTX and its JSON rendering give the same hit count for every pair."""
    diff = {p.name: (results["evtx", p.name][0], results["json", p.name][0]) for p in PAIRS
            if results["evtx", p.name][0] != results["json", p.name][0]}
    assert not diff
