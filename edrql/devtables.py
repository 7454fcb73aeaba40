"""Defender-schema tables over every vendor: ``DeviceProcessEvents``, ``DeviceFileEvents``,
``DeviceNetworkEvents``, ``DeviceRegistryEvents``, ``DeviceImageLoadEvents``,
``DeviceEvents`` and ``DeviceLogonEvents``, with Defender's column names and types.

Which table a row belongs to: Defender rows by their own ActionType (the table the export
names, when it has a ``Type`` column); every other vendor's by edrql's normalized
``event`` (process_start → DeviceProcessEvents, file_* → DeviceFileEvents …; logons
(Security 4624/4625, CrowdStrike UserLogon*) → DeviceLogonEvents; everything else →
DeviceEvents). Proxy and network-sensor records (``http`` from a proxy) are no device's
events and stay in ``http``.

Values: a Defender row carries the export's own value (its ``raw.*`` column, cast to
Defender's type) wherever the export has that column; every other vendor's row is filled
from the normalized columns and, for the initiating process's parent and hashes, from
the process instances of the lineage (``procs``). What a vendor cannot provide is null.
Extra columns: ``proc`` and ``parent`` (process-instance keys: the created process for
DeviceProcessEvents, else the initiating process, so a row can be fed to ``tree()``),
``vendor``, ``source`` and ``record`` (where the row came from).

All columnar: one dictionary lookup per distinct event/action value, Arrow filters and
takes by index arrays; nothing per row in Python. Built tables (or the columns a pipeline
asked for) are kept in the caller's memo (a query Context's), never on the case; the
rows of each table are chosen on dictionary codes (edrql/devrows.py). Declarations:
edrql/devschema.py; the columns of the other vendors: edrql/devderive.py.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import devrows
from .devderive import LOGON_VENDORS, flat, hash_in, defender_key, derive
from .devschema import INTS, ORDER, TIMES, MDE, S, TABLES, column_type, schema
from .segcodec import plain
from .normalize import Ctx, blank_to_null, parse_time, to_int

__all__ = ["TABLES", "MDE", "column_type", "defender_key", "schema", "table", "assignment"]

# ---------------------------------------------------------------- which rows go where
#: normalized event → table, for vendors other than Defender
_EVENT_TABLE = {
    "process_start": "DeviceProcessEvents", "process_end": "DeviceEvents",
    "file_create": "DeviceFileEvents", "file_modify": "DeviceFileEvents",
    "file_delete": "DeviceFileEvents", "file_rename": "DeviceFileEvents",
    "registry_set": "DeviceRegistryEvents", "registry_create": "DeviceRegistryEvents",
    "registry_delete": "DeviceRegistryEvents",
    "network_connect": "DeviceNetworkEvents", "network_accept": "DeviceNetworkEvents",
    "dns_query": "DeviceEvents", "image_load": "DeviceImageLoadEvents",
    "other": "DeviceEvents",
}
#: Defender's own rows: DNS and HTTP inspections are DeviceNetworkEvents
_MDE_EVENT_TABLE = dict(_EVENT_TABLE, dns_query="DeviceNetworkEvents",
                        http="DeviceNetworkEvents", process_end="DeviceEvents")
_MDE_LOGONS = {"LogonSuccess", "LogonFailed", "LogonAttempted"}


def _raw_name(columns, name: str) -> str | None:
    for c in ("raw." + name, "raw.properties." + name):
        if c in columns:
            return c
    return None


def assignment(case, memo: dict | None = None, encoded=None) -> np.ndarray:
    """Per events row: the index (in TABLES order) of its Device* table, or -1 (on
    dictionary codes: edrql/devrows.py)."""
    memo = {} if memo is None else memo
    typ = _raw_name(case.events.column_names, "Type")

    def table_of(vendor, event, exported=None, action=None):
        if vendor == MDE:
            if exported in TABLES:
                return ORDER.index(exported)
            name = "DeviceLogonEvents" if action in _MDE_LOGONS else _MDE_EVENT_TABLE.get(event)
        elif event == "other" and LOGON_VENDORS.get(action) == vendor:
            name = "DeviceLogonEvents"
        else:
            name = _EVENT_TABLE.get(event)
        return ORDER.index(name) if name else -1
    return devrows.assign(case, memo, encoded, table_of, typ, _proxy_rows(case),
                          ORDER.index("DeviceProcessEvents"))


def _proxy_rows(case):
    sources = case.proxy_sources() if hasattr(case, "proxy_sources") else set()
    if not sources:
        return None
    return pc.fill_null(pc.is_in(case.events["source"], value_set=pa.array(sorted(sources))),
                        False).to_numpy(zero_copy_only=False)


# ---------------------------------------------------------------- building a table
def table(case, name: str, needed: set | None = None, memo: dict | None = None,
          encoded=None) -> pa.Table:
    """The rows of one Device* table. ``needed``: build only the columns named there
    (matched as queries match names: exactly or ignoring case), for a pipeline that reads
    no others; None: every column. ``memo``: a dict the caller keeps (a Context's) where
    built columns and row choices are remembered (None: nothing is kept); ``encoded``:
    column → the case's cached dictionary encoding of that events column, or None."""
    memo = {} if memo is None else memo
    if name in memo:
        return memo[name] if needed is None else _select(memo[name], needed)
    cols = TABLES[name].columns
    if needed is not None:
        low = {c.lower() for c in needed}
        cols = [c for c in cols if c in needed or c.lower() in low] or ["record"]  # rows: count
    f = memo.get(("frame", name))
    if f is None:
        f = memo[("frame", name)] = _Frame(case, np.nonzero(
            assignment(case, memo, encoded) == ORDER.index(name))[0], memo, encoded)
    done = memo.setdefault(("columns", name), {})
    for c in cols:
        if c not in done:
            done[c] = _typed(f.value(c, name), c, f.n)
    full = schema(name)
    out = pa.table({c: done[c] for c in cols}, schema=pa.schema(
        [full.field(c).with_type(done[c].type) for c in cols]))
    if needed is None:
        memo[name] = out
        del memo[("frame", name)], memo[("columns", name)]      # the table holds them now
    return out


def _select(t: pa.Table, needed: set) -> pa.Table:
    low = {c.lower() for c in needed}
    return t.select([c for c in t.column_names if c in needed or c.lower() in low] or ["record"])


def _typed(arr, name: str, n: int):
    """A column as Defender's type; text may stay dictionary-coded (codes travel between
    stages, a shown result is plain)."""
    want = column_type(name)
    if arr is None:
        return pa.nulls(n, want)
    arr = flat(arr)
    if pa.types.is_dictionary(arr.type) and arr.type.value_type == want:
        return arr
    return arr if arr.type == want else arr.cast(want)


def _decoded(arr):
    return plain(flat(arr))


def _defender_type(raw, c: str):
    if c in INTS:
        return to_int(raw)
    if c in TIMES:
        return parse_time(raw, Ctx())[0]
    return raw


class _Frame:
    """The events rows of one table, with their process instances: ``ap`` the acting
    process, ``ip`` the initiating process (the parent for a process creation), ``gp``
    the initiating process's parent (indices into procs, -1 unknown)."""

    def __init__(self, case, rows: np.ndarray, memo: dict, encoded=None):
        self.case, self.ev, self.n = case, case.events, len(rows)
        self.rows, self.memo, self.encoded = rows, memo, encoded
        mask = np.zeros(case.events.num_rows, bool)
        mask[rows] = True
        self.mask = pa.array(mask, pa.bool_())     # a filter, not a take: segments are many chunks
        self.rows_arr = pa.array(rows, pa.int64())  # (one-chunk arrays: a take)
        self._cache: dict = {}
        self.is_ps = devrows.equal_mask(case, memo, encoded, "event", "process_start")[rows]
        self.ps = pa.array(self.is_ps, pa.bool_())
        self.mde_np = devrows.equal_mask(case, memo, encoded, "vendor", MDE)[rows]
        self.mde = pa.array(self.mde_np, pa.bool_())

    # ------------------------------------------------------------ process instances
    # (read only by the columns that need the lineage)
    @property
    def procs(self):
        return self.case.lineage.procs

    def _up(self, x):
        par = self._lin("parent", lambda lin: np.asarray(lin.parent_idx, np.int64))
        return np.where(x >= 0, par[np.maximum(x, 0)], -1) if len(par) else x

    def _lin(self, key, make):
        return self.derived(key, lambda: make(self.case.lineage))

    def derived(self, key, make):
        """make() once per frame: a value several columns read (the lineage links, which
        rows are Sysmon's)."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def ap(self):
        return self._lin("ap", lambda lin: np.asarray(lin.event_proc, np.int64)[self.rows]
                         if self.n else np.zeros(0, np.int64))

    @property
    def ip(self):
        return self._lin("ip", lambda lin: np.where(self.is_ps, self._up(self.ap), self.ap))

    @property
    def gp(self):
        return self._lin("gp", lambda lin: self._up(self.ip))

    # ------------------------------------------------------------ sources
    def col(self, name: str):
        key = ("col", name)
        if key not in self._cache:
            self._cache[key] = _decoded(self.ev[name].filter(self.mask)) if self.n else \
                plain(pa.array([], self.ev.schema.field(name).type))
        return self._cache[key]

    def raw(self, name: str):
        """A raw vendor field of the rows (not kept: most are read once)."""
        c = _raw_name(self.ev.column_names, name)
        if c is None:
            return pa.nulls(self.n, S)
        return self._cache.get(("col", c)) or (_decoded(self.ev[c].filter(self.mask)) if self.n
                                               else pa.array([], S))

    def has_raw(self, name: str) -> bool:
        return _raw_name(self.ev.column_names, name) is not None

    def proc(self, which: str, column: str):
        """A procs column for each row's ``ap``/``ip``/``gp`` instance."""
        key = ("proc", which, column)
        if key not in self._cache:
            idx = getattr(self, which)
            self._cache[key] = flat(pc.take(self.procs[column], pa.array(
                np.maximum(idx, 0), pa.int64(), mask=idx < 0))) if self.n else \
                pa.array([], self.procs.schema.field(column).type)
        return self._cache[key]

    def start_col(self, column: str):
        """An events column at the start event of each row's initiating process."""
        key = ("start", column)
        if key not in self._cache:
            per_proc = _at_start(self.case, column, self.memo, self.encoded)
            self._cache[key] = _decoded(pc.take(per_proc, pa.array(
                np.maximum(self.ip, 0), pa.int64(), mask=self.ip < 0))) if self.n and \
                len(per_proc) else pa.nulls(self.n, S)
        return self._cache[key]

    def sel(self, a, b):
        """Row-wise: a() for process creations, b() for the others (only what is needed)."""
        if self.is_ps.all():
            return a()
        if not self.is_ps.any():
            return b()
        return pc.if_else(self.ps, flat(a()), flat(b()))

    # ------------------------------------------------------------ values
    def value(self, c: str, table_name: str):
        if c in ("proc", "parent"):
            return self.proc("ap", c)
        if c in ("vendor", "source", "record"):
            return self.col(c)
        derived = lambda: derive(self, c, table_name)      # noqa: E731
        if c == "ActionType" or not self.mde_np.any() or not self.has_raw(c):
            return derived()
        mine = self.defender(c)
        if self.mde_np.all():
            return mine
        return pc.if_else(self.mde, _typed(_decoded(mine), c, self.n), _typed(derived(), c, self.n))

    def defender(self, c: str):
        """The export's own value, cast to Defender's type. Where the case keeps an encoding
        of the raw column, the cast runs on its distinct values (elementwise, so the same
        values) and the rows take them by code; text stays coded (a dictionary array)."""
        name = _raw_name(self.ev.column_names, c)
        enc = self.encoded(name) if name and self.encoded is not None and self.n else None
        if enc is not None:
            vals = _defender_type(blank_to_null(enc.dictionary), c)
            codes = pc.take(enc.indices, self.rows_arr)     # the frame's rows: a gather
            if c in INTS or c in TIMES:
                return vals.take(codes)
            if vals.null_count:                  # blank values: null codes, not null values
                blank = pc.is_null(vals).to_numpy(zero_copy_only=False)
                at = pc.fill_null(codes, 0).to_numpy(zero_copy_only=False)
                codes = pa.array(at, pa.int32(), mask=blank[at] | ~pc.is_valid(codes).to_numpy(
                    zero_copy_only=False)) if len(vals) else codes
            return pa.DictionaryArray.from_arrays(codes, vals)
        return _defender_type(blank_to_null(self.raw(c)), c)

    def sha1(self, start: bool):
        take = self.start_col if start else self.col
        out = None
        for name in ("Hashes", "Hash"):
            c = _raw_name(self.ev.column_names, name)
            if c is not None:
                h = hash_in(take(c), "SHA1")
                out = h if out is None else pc.coalesce(out, h)
        for name in ("SHA1HashData", "SHA1"):           # CrowdStrike, Defender
            c = _raw_name(self.ev.column_names, name)
            if c is not None:
                h = pc.utf8_lower(blank_to_null(take(c)))
                out = h if out is None else pc.coalesce(out, h)
        return out


def _at_start(case, column: str, memo: dict, encoded=None) -> pa.Array:
    """Per process instance: ``column`` of its start event (kept in the memo)."""
    cache = memo
    key = ("at_start", column)
    if key not in cache:
        at = devrows.start_rows(case, memo, encoded)
        ok = at >= 0
        mask = np.zeros(case.events.num_rows, bool)
        mask[at[ok]] = True
        # the start rows in row order (one filter), then into instance order
        vals = flat(case.events[column].filter(pa.array(mask, pa.bool_())))
        order = np.full(len(at), -1, np.int64)
        rank = np.cumsum(mask) - 1
        order[ok] = rank[at[ok]]
        cache[key] = pc.take(vals, pa.array(np.maximum(order, 0), pa.int64(), mask=order < 0)) \
            if len(vals) else pa.nulls(len(at), S)
    return cache[key]
