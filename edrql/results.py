"""What a statement yields: ``Result`` (title, table, notes, kind, extra).

Its own module, below ``execute`` and the pipes' modules (lineage_ops, netops) that
return results, so that they need not import the executor that calls them.
"""
from __future__ import annotations

from dataclasses import field

import pyarrow as pa

from .records import record as dataclass


@dataclass
class Result:
    title: str
    table: pa.Table
    notes: list[str] = field(default_factory=list)
    kind: str = "rows"           # rows | tree | … (renderers may differ)
    extra: dict = field(default_factory=dict)
