"""Ingest pipeline: read → normalize → dedup → store, with accounting.

For every source ``records_read == rows_stored + quarantined + duplicates`` is
checked before anything is committed. Overlapping exports are stored once:
a record whose key (the profile's ``dedup_key`` fields, or the whole raw record
when the profile has none) was already stored from an earlier source of the
same profile counts as a duplicate. Within one source only profiles with a
unique record key deduplicate; otherwise two identical lines are two records.
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import time
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from . import profiles
from .ingestsource import Prepared, prepare
from .normalize import Ctx
from .readers import SourceError
from .readers.base import Input, expand
from .schema import QUARANTINE_SCHEMA, RAW_PREFIX
from . import segcodec
from .segcodec import plain
from .store import Case, CaseError, iso_ns, looks_like_case, now_iso

_SEP = "\x1f"
_NULL = "\x00"


@dataclass
class Options:
    tz: str = "UTC"
    tz_given: bool = False
    mapping: str | None = None
    encoding: str | None = None
    zip_password: str | None = None
    block_size: int | None = None   # bytes of CSV per block (None: EDRQL_INGEST_BLOCK or 16 MiB)
    # reading processes (None: EDRQL_INGEST_WORKERS, else 2 when it pays and the caller's script
    # is safe to spawn from; a script passing 2 needs the ``if __name__ == "__main__":`` idiom)
    workers: int | None = None


@dataclass
class Report:
    sources: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    seconds: float = 0.0


class AccountingError(Exception):
    pass


def record_keys(raw: pa.Table, prefix: str, key: list[str] | None) -> tuple[pa.Array, bool]:
    """One text key per row, and whether it is the vendor's record key.

    The profile's key fields when the source has them all; otherwise every raw
    field (sorted by name), which identifies a record only across sources.
    """
    vendor_key = bool(key) and all(k in raw.column_names for k in key)
    names = list(key) if vendor_key else sorted(raw.column_names)
    cols = [plain(raw.column(n)).combine_chunks() for n in names]
    parts = [pc.fill_null(c, _NULL) for c in cols]
    if not parts:
        return pa.array([prefix] * raw.num_rows, pa.string()), False
    keys = pc.binary_join_element_wise(pa.scalar(prefix), *parts, _SEP)
    if vendor_key:
        # a record missing part of the vendor's key (no RecordNumber, say) is not identified
        # by it: its key is all its fields, so only an exact copy of it is a duplicate
        incomplete = cols[0].is_null()
        for c in cols[1:]:
            incomplete = pc.or_(incomplete, c.is_null())
        if pc.any(incomplete).as_py():
            whole = record_keys(raw, prefix + "~all", None)[0]
            keys = pc.if_else(incomplete, whole, keys)
    return keys, vendor_key


class StoredKeys:
    """The record keys already stored for one profile. A new source is tested against one
    merged set of distinct keys (one ``is_in`` per source), so ingesting n sources costs
    n tests, not n² (1,200 zip members took 22 s with one test per earlier source).
    A source's keys may be given as a function, computed only when a later source asks."""

    def __init__(self):
        self._merged: pa.Array | None = None
        self._pending: list = []

    def add(self, keys) -> None:
        self._pending.append(keys)

    def __bool__(self) -> bool:
        return self._merged is not None or bool(self._pending)

    def value_set(self) -> pa.Array:
        if self._pending:
            parts = [] if self._merged is None else [self._merged]
            for p in self._pending:
                p = p() if callable(p) else p
                p = p.combine_chunks() if isinstance(p, pa.ChunkedArray) else p
                parts.append(p.cast(pa.large_string()))      # no 2 GiB offset limit
            self._merged = pc.unique(pa.concat_arrays(parts))
            self._pending = []
        return self._merged


def _stored_raw_of(case: Case, rel: str) -> pa.Table:
    """The raw columns of a stored segment, named as the vendor names them (for its keys)."""
    return _stored_raw(_open(case, rel))


def _stored_raw(table: pa.Table) -> pa.Table:
    raw = [c for c in table.column_names if c.startswith(RAW_PREFIX)]
    return table.select(raw).rename_columns([c[len(RAW_PREFIX):] for c in raw])


def refuse_case_sources(paths: list[str], target: str) -> None:
    """CaseError when a source is a case folder, holds one, or is (or holds) the target case:
    its segments are not exports, and ingesting a case into itself never ends."""
    tgt = os.path.realpath(target)
    for p in paths:
        if not os.path.isdir(p):
            seg_dir = os.path.dirname(os.path.realpath(p))
            if os.path.basename(seg_dir) in ("events", "quarantine", "derived", "search") and \
                    looks_like_case(os.path.dirname(seg_dir)):
                raise CaseError(f"{p}: is a file of the edrql case {os.path.dirname(seg_dir)}, "
                                "not an export; nothing was ingested")
            continue
        ap = os.path.realpath(p)
        if tgt == ap or tgt.startswith(ap.rstrip(os.sep) + os.sep):
            what = "is the target case" if tgt == ap else f"holds the target case {target}"
            raise CaseError(f"{p}: {what}; nothing was ingested. Name the export files or "
                            "folders themselves, or put the case folder elsewhere")
        for root, dirs, _files in os.walk(p):
            if looks_like_case(root):
                where = p if root == p else root
                raise CaseError(f"{where}: is an edrql case folder, not an export; nothing was "
                                f"ingested. Query it with: edrql {where} -c '...', or name the "
                                "export files themselves")
            dirs.sort()


def ingest(paths: list[str], case: Case, opts: Options, progress=None) -> Report:
    """Ingest ``paths`` into ``case`` as its one writer (taking the case's lock, and reading
    its manifest afresh, unless the caller already holds it)."""
    refuse_case_sources(paths, case.root)
    if not case.is_writer:
        with case.writing(getattr(progress, "notify", None) or say_waiting):
            return ingest(paths, case, opts, progress)
    return _ingest(paths, case, opts, progress)


def _ingest(paths: list[str], case: Case, opts: Options, progress=None) -> Report:
    t0 = time.perf_counter()
    report = Report()
    inputs = expand(paths, opts.zip_password)
    mapping_profile = None
    if opts.mapping:
        from .profiles import mapping
        mapping_profile = mapping.load(opts.mapping)
    known = {s["sha256"]: s for s in case.manifest["sources"]}
    seen_keys: dict[str, StoredKeys] = {}   # profile → keys stored (lazily filled)

    def keys_for(profile, key_fields) -> StoredKeys:
        if profile.name not in seen_keys:
            keys = StoredKeys()
            for s in case.manifest["sources"]:
                if s.get("profile") == profile.name and s.get("segment"):
                    stored = _stored_raw_of(case, s["segment"])
                    kf = profile.dedup_key_for(set(stored.column_names)) \
                        if hasattr(profile, "dedup_key_for") else key_fields
                    keys.add(record_keys(stored, profile.name, kf)[0])
            seen_keys[profile.name] = keys
        return seen_keys[profile.name]

    from contextlib import nullcontext
    from .ingestpool import Readers, workers_wanted
    workers = workers_wanted(inputs, opts.workers)
    with cf.ThreadPoolExecutor(max_workers=1) as pool, \
            (Readers(inputs, opts, workers) if workers else nullcontext()) as readers:
        for i, inp in enumerate(progress(inputs) if progress else inputs):
            digest = pool.submit(inp.sha256)  # hashing overlaps parsing
            try:
                prep = readers.take(i) if readers is not None else None
                entry, table, qtable, remember = _one(inp, case, opts, mapping_profile, keys_for,
                                                      getattr(progress, "phase", None), prep)
            except SourceError as e:
                report.rejected.append({"path": inp.name, "reason": str(e), "at": now_iso()})
                digest.result()
                continue
            sha = digest.result()
            if sha in known:
                report.skipped.append({"path": inp.name, "same_as": known[sha]["path"]})
                getattr(progress, "phase", lambda *a: None)("write", inp.name)   # nothing to write
                continue
            entry["sha256"] = sha
            held, table = [table], None         # the writer's encode takes the rows over
            _write(case, entry, held, qtable, getattr(progress, "phase", None))
            if remember is not None:            # later sources are deduplicated against it
                remember[0].add(remember[1])
            known[sha] = entry
            case.manifest["sources"].append(entry)
            if case.manifest.get("removed"):      # a source a repair had to take out is back
                case.manifest["removed"] = [r for r in case.manifest["removed"]
                                            if r.get("sha256") != sha]
            report.sources.append(entry)
    case.manifest["rejected"].extend(report.rejected)
    if report.sources or report.rejected:
        case.commit()
    report.seconds = time.perf_counter() - t0
    return report


def say_waiting(message: str) -> None:
    """Tell the user (stderr) that another writer holds the case."""
    import sys
    from .safetext import term
    print(f"edrql: {term(message)}", file=sys.stderr, flush=True)


def _write(case: Case, entry: dict, held: list, qtable: pa.Table | None, phase=None) -> None:
    """Write a source's segments, each carrying the source's whole manifest entry. ``held``
    holds the rows and nothing else does: encoding lets them go as it goes."""
    if phase:
        phase("write", entry["path"])
    entry["segment"] = case.new_segment_name("events") if held[0].num_rows else None
    if qtable is not None:
        entry["quarantine_segment"] = case.new_segment_name("quarantine")
        case.write_segment("quarantine", qtable, entry["quarantine_segment"], entry)
    if entry["segment"]:
        case.write_segment("events", held, entry["segment"], entry)


def _open(case: Case, rel: str) -> pa.Table:
    try:
        return segcodec.decode(pa.ipc.open_file(pa.memory_map(os.path.join(case.root, rel),
                                                               "r")).read_all())
    except (OSError, pa.ArrowInvalid) as e:
        why = "missing" if isinstance(e, FileNotFoundError) else f"damaged: {e}"
        raise CaseError(f"{case.root}: segment {rel} is {why} (needed to find duplicates); "
                        f"nothing was ingested; run: edrql check {case.root} --repair") from None


def _profile_named(name: str, mapping_profile):
    if mapping_profile is not None and mapping_profile.name == name:
        return mapping_profile
    return next(p for p in profiles.registry() if p.name == name)


def _one(inp: Input, case: Case, opts: Options, mapping_profile, keys_for, phase=None,
         prep: Prepared | None = None):
    """A source's entry, rows and quarantine: ``prep`` (read by a reading process), or read
    here; then deduplicated against the sources stored before it."""
    phase = phase or (lambda name, source="": None)
    if prep is None:
        prep = prepare(inp, opts.encoding, Ctx(tz=opts.tz, tz_given=opts.tz_given), mapping_profile,
                       opts.block_size, phase)
    else:
        phase("normalize", inp.name)
    profile = _profile_named(prep.profile, mapping_profile)
    table, key_fields = prep.table, prep.key_fields
    prep.table = None
    phase("dedup", inp.name)

    # ---- duplicates against the case (those within the source are gone already)
    duplicates = prep.duplicates
    remember = None                 # (the profile's stored keys, this source's keys) once written
    if table.num_rows:
        earlier = keys_for(profile, key_fields)
        keys = None
        if earlier:                 # text keys only when there is something to compare with
            keys = record_keys(_stored_raw(table), profile.name, key_fields)[0]
            seen = pc.is_in(keys.cast(pa.large_string()), value_set=earlier.value_set())
            if pc.any(seen).as_py():
                keep = pc.invert(seen)
                duplicates += table.num_rows - (pc.sum(keep).as_py() or 0)
                table = table.filter(keep)
                keys = keys.filter(keep)
        name = profile.name
        remember = (earlier, keys if keys is not None else    # (read back from the segment)
                    (lambda: record_keys(_stored_raw_of(case, entry["segment"]), name,
                                         key_fields)[0]))

    quarantined = prep.quarantined
    entry = {
        "path": inp.name,
        "abspath": inp.path if inp.member is None else f"{inp.path}!{inp.member}",
        "size": inp.size,
        "reader": prep.fmt,
        "profile": profile.name,
        "vendor": profile.vendor,
        "proxy": bool(getattr(profile, "is_proxy", False)),
        "encoding": prep.encoding,
        "records_read": prep.records_read,
        "rows_stored": table.num_rows,
        "quarantined": len(quarantined),
        "duplicates": duplicates,
        "time_range": _range(table),
        "tz_decision": prep.tz_decision,
        "ingested_at": now_iso(),
        "notes": prep.notes,
    }
    total = entry["rows_stored"] + entry["quarantined"] + entry["duplicates"]
    if total != entry["records_read"]:
        raise AccountingError(
            f"{inp.name}: records_read {entry['records_read']} != stored {entry['rows_stored']} + "
            f"quarantined {entry['quarantined']} + duplicates {entry['duplicates']} (a bug: nothing "
            "was committed; please report it)")
    qtable = None
    if quarantined:
        qtable = pa.table({
            "source": [inp.name] * len(quarantined),
            "record": [q.record for q in quarantined],
            "reader": [f"{prep.fmt}/{profile.name}"] * len(quarantined),
            "reason": [q.reason for q in quarantined],
            "raw": [q.raw for q in quarantined],
        }, schema=QUARANTINE_SCHEMA)
    return entry, table, qtable, remember


def _range(table: pa.Table) -> list[str | None]:
    if table.num_rows == 0:
        return [None, None]
    ts = pc.cast(table["ts"], pa.int64())
    return [iso_ns(pc.min(ts).as_py()), iso_ns(pc.max(ts).as_py())]
