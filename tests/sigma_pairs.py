"""SigmaHQ regression pairs (../shared/data/sigma/regression_data): listing, rule lookup, ingest.

Shared by tests/test_sigma_fieldmap.py (field coverage) and tests/test_sigma_regression.py
(every pair's rule fires on its own sample). Nothing here copies the shared files.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from conftest import SHARED

SIGMA = SHARED / "sigma"
RULE_DIRS = ("rules", "rules-emerging-threats", "rules-threat-hunting")
_ID_LINE = re.compile(r"^id:\s*['\"]?([0-9a-fA-F-]{36})", re.M)


@dataclass(frozen=True)
class Pair:
    name: str                 # the pair's folder name (the rule's file stem)
    rule_id: str
    title: str
    evtx: Path | None
    json: Path | None
    match_count: int | None   # None: info.yml names none


def pairs() -> list[Pair]:
    out = []
    for info in sorted((SIGMA / "regression_data").rglob("info.yml")):
        doc = yaml.safe_load(info.read_text())
        meta = (doc.get("rule_metadata") or [{}])[0]
        tests = doc.get("regression_tests_info") or []
        count = next((t.get("match_count") for t in tests if t.get("match_count") is not None), None)
        evtx = next(iter(sorted(info.parent.glob("*.evtx"))), None)
        js = next(iter(sorted(info.parent.glob("*.json"))), None)
        out.append(Pair(info.parent.name, str(meta.get("id")), str(meta.get("title")), evtx, js, count))
    return out


def rule_index() -> dict[str, Path]:
    """rule id → rule file, over the three rule folders (a regex on the id line: no YAML)."""
    idx = {}
    for d in RULE_DIRS:
        for p in (SIGMA / d).rglob("*.yml"):
            m = _ID_LINE.search(p.read_text(encoding="utf-8", errors="replace"))
            if m:
                idx.setdefault(m.group(1).lower(), p)
    return idx


def ingest_one(path: Path, root: Path):
    """The file ingested by edrql into its own case at root; the events table."""
    import edrql
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    case = Case.create_or_open(str(root))
    ingest([str(path)], case, Options())
    return edrql.open(str(root)).query("events")
