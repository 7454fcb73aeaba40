"""A stand-in ``Fields`` for tables whose columns are Sigma field names (tests, the oracle,
quick measurements): every logsource covers every row, a field is the column of that name."""
from __future__ import annotations

import numpy as np
import pyarrow as pa


class PlainFields:
    """Sigma field name == column name; ``logsource`` restricts rows when the table has a
    ``_logsource`` column ("category/product/service", any part may be empty)."""

    def __init__(self, table: pa.Table, keyword_columns: list[str] | None = None):
        self.table = table
        self._kw = keyword_columns if keyword_columns is not None else [
            c for c in table.column_names
            if pa.types.is_string(table.schema.field(c).type) and not c.startswith("_")]

    def rows(self, ls) -> np.ndarray:
        n = self.table.num_rows
        if "_logsource" not in self.table.column_names:
            return np.arange(n, dtype=np.int64)
        want = [ls.category or "", ls.product or "", ls.service or ""]
        have = self.table.column("_logsource").to_pylist()    # (stand-in only: tiny tables)
        keep = [i for i, v in enumerate(have)
                if all(not w or w == h for w, h in zip(want, (v or "").split("/")))]
        return np.array(keep, dtype=np.int64)

    def why_none(self, ls) -> str:
        return f"no {ls.category or ls.service or ls.product} events in this data"

    def values(self, field: str, rows: np.ndarray, ls) -> pa.Array | None:
        if field not in self.table.column_names:
            return None
        return self.table.column(field).take(pa.array(rows))

    def column_of(self, field: str, ls) -> str:
        return field

    def keyword_columns(self) -> list[str]:
        return list(self._kw)
