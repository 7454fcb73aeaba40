"""Shared test helpers.

Real-data conformance tests read ``../shared/data`` beside the repository and
skip cleanly when it is absent (a user's clone has none).
"""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def shared(rel: str) -> Path:
    """Path of a real-data file; skips the test when ../shared/data is absent."""
    p = SHARED / rel
    if not p.exists():
        pytest.skip(f"real data not present: {p}")
    return p


@pytest.fixture(scope="session")
def example_case(tmp_path_factory):
    """The bundled example case, ingested once (early export, then late + proxy)."""
    from edrql.ingest import Options, ingest
    from edrql.store import Case
    root = str(tmp_path_factory.mktemp("example") / "case")
    case = Case.create_or_open(root)
    ex = ROOT / "examples" / "case"
    ingest([str(ex / "export_early.csv")], case, Options())
    case = Case.open(root)
    ingest([str(ex / "export_late.csv"), str(ex / "proxy" / "squid_access.log")], case, Options())
    return Case.open(root)
