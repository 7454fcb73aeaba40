"""What completion reads from the data: column names and types, and the distinct
values of text columns (most frequent first, capped), computed once per case and
table and cached; the common low-cardinality fields are read ahead in the
background when the REPL starts.
"""
from __future__ import annotations

import threading

#: fields whose values are read ahead of time (others on first use)
LOW_CARD = ["host", "event", "name", "user", "action", "vendor", "pname", "proto", "outcome",
            "http_method", "file", "domain", "dns_query", "link", "seen"]
MAX_VALUES = 5000


class CaseData:
    """Per-case caches for completion: column names and types, distinct values."""

    def __init__(self, case):
        self.case = case
        self._values: dict[tuple[int, str], list[tuple[str, int]]] = {}
        self._lock = threading.Lock()
        self._types: dict[str, str] | None = None

    def types(self) -> dict[str, str]:
        if self._types is None:
            self._types = {f.name: str(f.type) for f in self.case.events.schema}
        return self._types

    def columns(self) -> list[str]:
        return list(self.types())

    def values(self, table, column: str) -> list[tuple[str, int]]:
        """Distinct (value, count) of a text column, most frequent first, at most MAX_VALUES."""
        key = (id(table), column)
        got = self._values.get(key)
        if got is not None:
            return got
        with self._lock:
            got = self._values.get(key)
            if got is None:
                got = self._values[key] = _distinct(table, column)
        return got

    def warm(self) -> None:
        """Read ahead what completion needs (run in a background thread)."""
        ev = self.case.events
        self.types()
        for c in LOW_CARD:
            if c in ev.column_names:
                self.values(ev, c)


def _distinct(table, column: str) -> list[tuple[str, int]]:
    import pyarrow as pa
    import pyarrow.compute as pc
    if table is None or column not in table.column_names:
        return []
    col = table.column(column)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return []
    import numpy as np
    vc = pc.value_counts(col)
    counts = vc.field("counts").to_numpy(zero_copy_only=False)
    order = np.argsort(-counts, kind="stable") if len(counts) <= MAX_VALUES else \
        np.argpartition(-counts, MAX_VALUES)[:MAX_VALUES]
    order = order[np.argsort(-counts[order], kind="stable")]
    vals = vc.field("values").take(pa.array(order)).to_pylist()
    n = counts[order].tolist()
    return [(v, c) for v, c in zip(vals, n) if v is not None and v != ""]
