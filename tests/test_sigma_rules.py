"""Loading Sigma rules: pySigma parses, the engine's form is compiled, broken files are
Skipped with a reason, level/tags filters, the compiled-rules cache."""
from __future__ import annotations

import textwrap
import time

import pytest

from conftest import SHARED
from edrql.sigma import rules

GOOD = """
title: {title}
id: {id}
status: test
level: {level}
author: someone
tags: [{tags}]
logsource: {{category: process_creation, product: windows}}
detection:
  sel:
    Image|endswith: '\\\\x.exe'
    ParentImage|fieldref: Image
  kw:
    - 'evil'
  condition: sel or kw
"""


def write(dirpath, name, **kw):
    p = dirpath / name
    p.write_text(textwrap.dedent(GOOD.format(**kw)), encoding="utf-8")
    return p


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "rules"
    (d / "sub").mkdir(parents=True)
    write(d, "a.yml", title="A", id="33333333-0000-0000-0000-00000000000a", level="high",
          tags="attack.t1059.001, attack.execution")
    write(d / "sub", "b.yaml", title="B", id="33333333-0000-0000-0000-00000000000b", level="low",
          tags="attack.t1105")
    (d / "broken.yml").write_text("title: x\ndetection: [unclosed\n", encoding="utf-8")
    (d / "bad_mod.yml").write_text(textwrap.dedent(GOOD.format(
        title="C", id="33333333-0000-0000-0000-00000000000c", level="medium", tags=""))
        .replace("Image|endswith", "Image|nosuchmod"), encoding="utf-8")
    (d / "notes.txt").write_text("not a rule")
    return d


def test_folder_is_read_recursively_and_broken_files_are_skipped(folder):
    rs = rules.load([str(folder)], cache=False)
    assert rs.files == 4
    assert sorted(r.title for r in rs.rules) == ["A", "B"]
    reasons = {s.path.rsplit("/", 1)[-1]: s for s in rs.skipped}
    assert set(reasons) == {"broken.yml", "bad_mod.yml"}
    assert "nosuchmod" in reasons["bad_mod.yml"].reason
    assert reasons["bad_mod.yml"].title == "C" and reasons["bad_mod.yml"].level == "medium"
    assert "\n" not in reasons["broken.yml"].reason and reasons["broken.yml"].reason


def test_rule_metadata_fields_and_attack_ids(folder):
    a = next(r for r in rules.load([str(folder)], cache=False).rules if r.title == "A")
    assert (a.id, a.author, a.level, a.status, a.kind) == (
        "33333333-0000-0000-0000-00000000000a", "someone", "high", "test", "detection")
    assert a.tags == ("attack.t1059.001", "attack.execution")
    assert a.attack == ("T1059.001",)
    assert a.fields == frozenset({"Image", "ParentImage"})
    assert a.logsource == rules.LogSource("process_creation", "windows", None)
    assert any(t.field is None for t in a.tests)          # the keyword


def test_level_and_tags_filters(folder):
    titles = lambda rs: sorted(r.title for r in rs.rules)   # noqa: E731
    assert titles(rules.load([str(folder)], level="medium", cache=False)) == ["A"]
    assert titles(rules.load([str(folder)], level="informational", cache=False)) == ["A", "B"]
    assert titles(rules.load([str(folder)], tags=["attack.t1059"], cache=False)) == ["A"]
    assert titles(rules.load([str(folder)], tags=["T1059.001"], cache=False)) == ["A"]
    assert titles(rules.load([str(folder)], tags=["t1105", "EXECUTION"], cache=False)) == ["A", "B"]
    assert titles(rules.load([str(folder)], tags=["attack.t1059.002"], cache=False)) == []
    with pytest.raises(ValueError, match="unknown level"):
        rules.load([str(folder)], level="severe")


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such rule file"):
        rules.load([str(tmp_path / "nope")])


def test_cache_is_used_and_invalidated_by_a_change(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = rules.load([str(folder)])
    assert list((tmp_path / "cache" / "edrql").glob("sigma-*.pickle"))
    calls = []
    real = rules._load_files
    monkeypatch.setattr(rules, "_load_files", lambda fs: calls.append(fs) or real(fs))
    again = rules.load([str(folder)])
    assert calls == [] and again.rules == first.rules and again.skipped == first.skipped
    write(folder, "a.yml", title="A2", id="33333333-0000-0000-0000-00000000000a", level="high",
          tags="attack.t1059.001")
    changed = rules.load([str(folder)])
    assert len(calls) == 1 and "A2" in {r.title for r in changed.rules}


def test_all_sigmahq_rules_load_and_the_cache_makes_it_fast(tmp_path, monkeypatch):
    base = SHARED / "sigma"
    if not base.exists():
        pytest.skip("real data not present")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    paths = [str(base / d) for d in ("rules", "rules-emerging-threats", "rules-threat-hunting")]
    t0 = time.perf_counter()
    rs = rules.load(paths)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = rules.load(paths)
    warm = time.perf_counter() - t0
    assert rs.files == 3754 and len(rs.rules) + len(rs.skipped) == 3754
    assert len(rs.skipped) <= 5, [s.reason for s in rs.skipped]
    assert all(s.reason for s in rs.skipped)
    assert len(again.rules) == len(rs.rules)
    assert warm < cold / 5, (cold, warm)
