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
