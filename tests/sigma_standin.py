"""A throwaway stand-in for MAP's ``edrql.sigma.fieldmap.Fields`` (the contract's interface),
used by the surface tests only while edrql/sigma/fieldmap.py does not exist: a few Sigma
fields onto edrql's normalized columns, logsources by the ``event`` column."""
from __future__ import annotations

import sys
import types

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FIELDS = {"Image": "image", "CommandLine": "cmdline", "ParentImage": "pimage",
          "ParentCommandLine": "pcmdline", "User": "user", "TargetFilename": "path",
          "Details": "reg_data", "QueryName": "dns_query", "ProcessId": "pid"}
EVENTS = {"process_creation": ("process_start",), "registry_set": ("registry_set",),
          "file_event": ("file_create",), "dns_query": ("dns_query",)}


class Fields:
    def __init__(self, table: pa.Table):
        self.table = table

    def rows(self, ls) -> np.ndarray:
        want = EVENTS.get(ls.category)
        if want is None or "event" not in self.table.column_names:
            return np.zeros(0, np.int64)
        ev = pc.cast(self.table.column("event"), pa.string())
        return np.flatnonzero(pc.fill_null(pc.is_in(ev, pa.array(want)), False)
                              .to_numpy(zero_copy_only=False)).astype(np.int64)

    def why_none(self, ls) -> str:
        return f"you exported no {ls.category} events"

    def values(self, field, rows, ls):
        if field == "TargetObject" and "reg_key" in self.table.column_names:
            t = self.table.take(pa.array(rows, pa.int64()))
            return pc.binary_join_element_wise(pc.cast(t.column("reg_key"), pa.string()),
                                               pc.cast(t.column("reg_value"), pa.string()), "\\")
        col = FIELDS.get(field)
        if col is None or col not in self.table.column_names:
            return None
        v = self.table.column(col).take(pa.array(rows, pa.int64()))
        return v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v

    def column_of(self, field, ls) -> str:
        return FIELDS.get(field, "")

    def keyword_columns(self) -> list[str]:
        return ["cmdline"]


def install(monkeypatch) -> None:
    """Use the stand-in when edrql.sigma.fieldmap is not there yet (MAP's real one wins)."""
    try:
        import edrql.sigma.fieldmap  # noqa: F401
        return
    except ImportError:
        pass
    mod = types.ModuleType("edrql.sigma.fieldmap")
    mod.Fields = Fields
    monkeypatch.setitem(sys.modules, "edrql.sigma.fieldmap", mod)
