"""Sigma field names → the values of an events table, per row, for every vendor.

``Fields(table)`` is what the engine reads a case through (the contract in
docs/sigma.md, "Fields and logsources"):

* Windows event log rows (Sysmon, Security, any channel): Sigma's field taxonomy *is*
  the EventData of these events, so a field is the raw field of that name
  (``raw.Image``, ``raw.TargetObject``; Winlogbeat/OTRF spellings are looked through),
  ``EventID`` / ``Channel`` / ``Provider_Name`` / ``Computer`` are System fields, and on
  Security 4688 / 5156 rows the Sysmon names are renamed to theirs (``Image`` →
  ``NewProcessName`` …, ``fieldtables.SECURITY_4688``).
* Every other vendor (Defender, CrowdStrike, ECS, mapped exports, proxies; the resolvers
  are in fieldvendors.py): the
  normalized column that means the same thing (``Image`` → ``image``, ``TargetObject``
  → ``reg_key\\reg_value``, ``DestinationIp`` → the responder's address …), then the
  vendor's raw field for what edrql does not normalize (``OriginalFileName`` →
  Defender ``ProcessVersionInfoOriginalFileName`` …), then a raw field spelled like
  the Sigma field.
* Field names are matched case-insensitively. A field no column of these rows can hold
  (all null there) is ``None``: the engine treats it as absent and says so.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import fieldtables as T
from .fieldvendors import GENERIC, _empty, _lookup, _pick, _text, vendor_raw
from .logsources import Coverage, one_chunk, raw_value
from ..normalize import to_int
from ..profiles.winevent import canon

def _ls_key(ls) -> tuple:
    return (getattr(ls, "category", None), getattr(ls, "product", None), getattr(ls, "service", None))


class _At:
    """The table's columns at some rows (taken once per column)."""

    def __init__(self, table: pa.Table, raw_idx: dict, rows: np.ndarray, encoded=None):
        self.table, self.raw_idx, self.encoded = table, raw_idx, encoded
        self.idx = pa.array(rows, pa.int64())
        self.n = len(rows)
        # every row in order (0..n-1): the columns are read as they are, without a take
        self.whole = self.n == table.num_rows and (
            self.n == 0 or (int(rows[0]) == 0 and bool(np.all(np.diff(rows) == 1))))
        self._cache: dict = {}
        self._memo: dict = {}
        self.used: list[str] = []
        self.procs = None

    def memo(self, key, fn):
        """A value computed once for these rows (masks the resolvers share)."""
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    def col(self, name: str):
        if name not in self._cache:
            if name not in self.table.column_names:
                self._cache[name] = None
            else:
                c = self.table.column(name)
                c = c if self.whole else c.take(self.idx)
                c = one_chunk(c)
                if pa.types.is_dictionary(c.type):
                    c = c.cast(c.type.value_type)
                self._cache[name] = c
        c = self._cache[name]
        if c is not None and not _empty(c):
            self.used.append(name)
        return c

    def dcol(self, name: str):
        """A column at the rows as a dictionary array (codes taken from the table's one
        encoding: no strings copied), when the field needs no transformation."""
        enc = self.encoded(name) if self.encoded is not None else None
        if enc is None:
            return self.col(name)
        c = enc if self.whole else enc.take(self.idx)
        if not _empty(c):
            self.used.append(name)
        return c

    def raw_names(self, *aliases: str) -> list[str]:
        return [n for a in aliases if a for n in self.raw_idx.get(_canon(a), [])]

    def raw(self, *aliases: str):
        vals = [self.col(n) for n in self.raw_names(*aliases)]
        vals = [_text(v) for v in vals if v is not None and not _empty(v)]
        if not vals:
            return None
        return vals[0] if len(vals) == 1 else pc.coalesce(*vals)


def _field_index(idx: dict[str, list[str]]) -> dict[str, list[str]]:
    """Raw names as Sigma spells them too: without blanks (Defender's ``Threat Name`` is
    ``ThreatName``) and, for UserData events, by the leaf name (``UserData.X.Operation``)."""
    out = {k: list(v) for k, v in idx.items()}
    for key, names in idx.items():
        alts = []
        if " " in key:
            alts.append(key.replace(" ", ""))
        if key.startswith("userdata."):
            alts.append(key.rsplit(".", 1)[-1])
        for a in alts:
            lst = out.setdefault(a, [])
            lst += [n for n in names if n not in lst]
    return out


def _canon(name: str) -> str:
    return canon(name)


class Fields:
    """Sigma's view of an events table (normalized + ``raw.*`` columns)."""

    def __init__(self, table: pa.Table):
        self.table = table
        self.cov = Coverage(table)
        self.raw = _field_index(self.cov.raw)
        self._rows: dict[tuple, np.ndarray] = {}
        self._used: dict[tuple, list[str]] = {}
        self._at: tuple | None = None
        self._enc: dict[str, pa.Array | None] = {}
        self._procs: tuple | None = None
        self._is4688 = self.cov.security & (self.cov.eid == 4688)
        self._is5156 = self.cov.security & (self.cov.eid == 5156)
        self._isav = self.cov.category_mask("antivirus") & self.cov.windows_log

    # ------------------------------------------------------------------ contract
    def rows(self, ls) -> np.ndarray:
        key = _ls_key(ls)
        if key not in self._rows:
            self._rows[key] = np.flatnonzero(self.cov.mask(*key)).astype(np.int64)
        return self._rows[key]

    def why_none(self, ls) -> str:
        return self.cov.why_none(*_ls_key(ls))

    def values(self, field: str, rows: np.ndarray, ls) -> pa.Array | None:
        rows = np.asarray(rows, dtype=np.int64)
        f = field.lower()
        parts = []   # (positions in rows, values)
        used: list[str] = []
        for part, fn in ((0, self._windows), (1, self._generic)):
            pos, sub, at = self._take(rows, part)
            if at is None:
                continue
            v = fn(f, at, sub)
            if v is not None and isinstance(v, pa.ChunkedArray):
                v = one_chunk(v)
            used += [u for u in at.used if u not in used]
            at.used.clear()
            if not _empty(v):
                parts.append((pos, v))
        self._used[(f, _ls_key(ls))] = used
        if not parts:
            return None
        if len(parts) == 1 and parts[0][0] is None:
            return parts[0][1]
        return _assemble(parts, len(rows))

    def column_of(self, field: str, ls) -> str:
        used = self._used.get((field.lower(), _ls_key(ls)))
        if used is None:
            self.values(field, self.rows(ls), ls)
            used = self._used.get((field.lower(), _ls_key(ls))) or []
        used = [u for u in used if u != "vendor"]
        return ", ".join(used) if used else "(no column)"

    def keyword_columns(self) -> list[str]:
        """Every raw text column (a keyword searches the whole event as the vendor wrote it)."""
        out = []
        for name, typ in zip(self.table.column_names, self.table.schema.types):
            if not name.startswith("raw."):
                continue
            t = typ.value_type if pa.types.is_dictionary(typ) else typ
            if pa.types.is_string(t) or pa.types.is_large_string(t):
                out.append(name)
        return out

    # ------------------------------------------------------------------ resolvers
    def _take(self, rows: np.ndarray, part: int):
        """(positions in rows, the rows, their columns) of the Windows event log rows (part 0)
        or the others (1); the engine asks field after field for one group's rows, so the
        split and the takes are kept for the last rows given."""
        if self._at is None or self._at[0] is not rows:
            win = self.cov.windows_log[rows]
            self._at = (rows, {})
            for p, sel in ((0, win), (1, ~win)):
                if not sel.any():
                    self._at[1][p] = (None, None, None)
                    continue
                pos = np.flatnonzero(sel) if not sel.all() else None
                sub = rows if pos is None else rows[pos]
                at = _At(self.table, self.raw, sub, self._encoded)
                at.procs = self.process_images
                self._at[1][p] = (pos, sub, at)
        return self._at[1][part]

    def process_images(self) -> tuple[pa.Array, pa.Array]:
        """(puid, image) of the process_start rows that name a path: a row's own or parent
        image by the vendor's unique process id (CrowdStrike network rows carry none, its
        PR2 names the parent by file name only)."""
        if self._procs is None:
            t, n = self.table, self.table.num_rows
            if not {"puid", "image", "event"} <= set(t.column_names) or not n:
                self._procs = (pa.array([], pa.string()), pa.array([], pa.string()))
            else:
                ok = pc.and_(pc.and_(pc.equal(t["event"], "process_start"), pc.is_valid(t["puid"])),
                             pc.match_substring_regex(t["image"], r"[\\/]"))
                sub = t.filter(pc.fill_null(ok, False))
                self._procs = (_text(sub["puid"]), _text(sub["image"]))
        return self._procs

    def _encoded(self, name: str) -> pa.Array | None:
        """The column when the table holds it dictionary-encoded (its codes are taken, no
        strings copied); None for plain columns: encoding a whole column costs more than
        the engine's encoding of a group's rows (measured: most groups are small subsets)."""
        if name not in self._enc:
            c = self.table.column(name)
            if not pa.types.is_dictionary(c.type):
                self._enc[name] = None
            else:
                self._enc[name] = one_chunk(c)
        return self._enc[name]

    def _windows(self, f: str, at: _At, rows: np.ndarray):
        if f in T.WINDOWS_SYSTEM:
            v = at.raw(*T.WINDOWS_SYSTEM[f])
            if f in T.NUMERIC and v is not None:
                return to_int(v)
            return v
        i4688, i5156 = self._is4688[rows], self._is5156[rows]
        names = at.raw_names(f)
        renamed = f in T.DEFENDER_AV or (i4688.any() and (f in T.SECURITY_4688 or f == "user")) or \
            (i5156.any() and (f in T.SECURITY_5156 or f == "initiated"))
        if len(names) == 1 and not renamed:
            return at.dcol(names[0])
        v = at.raw(f)
        if f in T.SECURITY_4688 and i4688.any():
            alt = at.raw(T.SECURITY_4688[f])
            if f == "integritylevel" and alt is not None:
                alt = _lookup(pc.utf8_upper(alt), T.INTEGRITY_SIDS)
            v = _pick(pa.array(i4688), alt, v)
        elif f == "user" and i4688.any():
            v = _pick(pa.array(i4688), at.col("user"), v)
        if f in T.DEFENDER_AV:
            iav = self._isav[rows]
            if iav.any():
                v = _pick(pa.array(iav), at.raw(T.DEFENDER_AV[f]), v)
        if f in T.SECURITY_5156 and i5156.any():
            v = _pick(pa.array(i5156), at.raw(T.SECURITY_5156[f]), v)
        elif f == "initiated" and i5156.any():
            out = pc.if_else(pc.equal(at.col("event"), "network_accept"), pa.scalar("false"), pa.scalar("true"))
            v = _pick(pa.array(i5156), out, v)
        if v is None and f in T.WINDOWS_FALLBACK:
            v = at.raw(*T.WINDOWS_FALLBACK[f])
        if v is None and f in ("md5", "sha1", "sha256", "imphash"):
            v = _hash_of(at.raw("Hashes", "Hash"), f)
        return v

    def _generic(self, f: str, at: _At, rows: np.ndarray):
        fn = GENERIC.get(f)
        v = fn(at) if fn is not None else None
        if _empty(v):
            v = vendor_raw(f, at)
        if _empty(v):
            v = at.raw(f)
        return v


# ---------------------------------------------------------------------- helpers
def _assemble(parts, n: int) -> pa.Array:
    types = {p[1].type for p in parts}
    if len(types) > 1 or any(pa.types.is_dictionary(t) for t in types):
        parts = [(pos, _text(v)) for pos, v in parts]
    order = np.concatenate([p[0] for p in parts])
    vals = pa.concat_arrays([p[1] for p in parts])
    if len(order) < n:    # a group without values: nulls at its positions
        missing = np.setdiff1d(np.arange(n), order)
        order = np.concatenate([order, missing])
        vals = pa.concat_arrays([vals, pa.nulls(len(missing), vals.type)])
    inv = np.empty(n, dtype=np.int64)
    inv[order] = np.arange(n)
    return vals.take(pa.array(inv))


def _hash_of(hashes, algo: str):
    if hashes is None:
        return None
    m = pc.extract_regex(hashes, rf"(?i)(?:^|[,;\s]){algo}=(?P<h>[0-9a-f]+)")
    return pc.struct_field(m, "h")


__all__ = ["Fields", "raw_value"]
