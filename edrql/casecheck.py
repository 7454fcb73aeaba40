"""``edrql check CASE [--repair]``: verify a case, and repair what can be repaired without
losing a record.

Checked: the manifest (present, readable); every segment it names (readable, Arrow-valid,
the columns of its table, row counts equal to the manifest's, the entry it carries equal
to the manifest's); every source's and the totals' accounting (``records_read == stored +
quarantined + duplicates``; hosts and totals as the segments give them); derived data
(``derived/``) and the search index (``search/``): stale or damaged files; orphans (segment
files the manifest does not name) and what an interrupted ingest left uncommitted.

Repair (as the case's one writer): removes uncommitted leftovers; rebuilds a lost or
damaged manifest from the entries the segments carry (the damaged file is kept as
``manifest.json.damaged-<time>``); restores a manifest entry from its segment when they
disagree and the segment's rows agree with the segment's entry; adopts an orphan segment
that carries its entry (a source the manifest lost), deletes one that duplicates a source
already in the case, and moves one without an entry to ``lost/``; takes a source whose
segment is missing or damaged out of the manifest (recorded in ``removed``, reported on
every check until it is ingested again); recomputes hosts and totals; deletes stale or
damaged derived data and search indexes (they are rebuilt on use).

The derived-data checks are in :mod:`edrql.derivedcheck`; findings and their rendering in
:mod:`edrql.checkreport`.
"""
from __future__ import annotations

import os
import shutil
import time

import pyarrow as pa

from .caselock import CaseLock, LockError, journal_names
from .checkreport import NOTE, PROBLEM, REPAIRED, CheckResult
from .derivedcheck import check_derived, check_search
from . import numcodec, segcodec, timetext
from .schema import QUARANTINE_SCHEMA, SCHEMA
from .store import FORMAT_VERSION, KINDS, MANIFEST, Case, CaseError, DamagedManifest, census, \
    empty_manifest, looks_like_case, now_iso, read_manifest, remove_search_index, segment_entry, \
    segment_files

ENTRY_FIELDS = ("sha256", "records_read", "rows_stored", "quarantined", "duplicates",
                "segment", "quarantine_segment")


def check(root: str, repair: bool = False, notify=None) -> CheckResult:
    if not os.path.isdir(root):
        raise CaseError(f"{root}: " + ("not a case folder (check takes a case, not an export)"
                                       if os.path.exists(root) else "no such folder"))
    if not looks_like_case(root) and not any(os.path.isdir(os.path.join(root, k)) for k in KINDS):
        raise CaseError(f"{root}: not an edrql case (no {MANIFEST}, no segments)")
    res = CheckResult(root, repair)
    lock = CaseLock(root)
    try:
        lock.acquire(notify or _say)
    except LockError as e:
        if repair:
            raise CaseError(f"{e}; --repair needs to write the case") from None
        lock = None
        res.add("writer", NOTE, f"checked without the writer lock ({e}); an ingest running now "
                                "would show as uncommitted files")
    try:
        _check_locked(res, root, lock if repair else None)
    finally:
        if lock:
            lock.release()
    return res


def _say(message: str) -> None:
    import sys
    from .safetext import term
    print(f"edrql: {term(message)}", file=sys.stderr, flush=True)


def _check_locked(res: CheckResult, root: str, lock: CaseLock | None) -> None:
    """The checks, with the writer lock held (``lock`` given: repair, as the case's writer)."""
    repair = lock is not None
    case = Case(root, empty_manifest())
    if lock:
        case.held_by(lock)
    try:
        manifest, damaged = read_manifest(root), None
    except DamagedManifest as e:
        manifest, damaged = None, e.reason
    _leftovers(res, case, manifest, repair)
    changed = False
    if manifest is None:
        if not _rebuild(res, case, damaged, repair):
            return
        changed = repair
        manifest = case.manifest if repair else None
        if manifest is None:
            return
    case.manifest = manifest
    fmt = manifest.get("format", FORMAT_VERSION)
    if not isinstance(fmt, int) or fmt > FORMAT_VERSION:
        res.add("manifest", PROBLEM, f"format {fmt!r} is not one this edrql knows (a newer "
                                     "edrql wrote it?); nothing checked or repaired")
        return
    res.ok["manifest"] = f"{len(manifest['sources'])} sources, format {manifest.get('format', 1)}"
    changed |= _segments(res, case, repair)
    _old_layout(res, case)
    changed |= _orphans(res, case, repair)
    changed |= _accounting(res, case, repair)
    for r in case.manifest.get("removed", []):
        n = r.get("records")
        n = f"{n:,}" if isinstance(n, int) else "?"
        res.add("segments", PROBLEM, f"{n} records of {r.get('path')} are not in the case (taken "
                f"out by repair at {r.get('at')}: {r.get('reason')}); ingest it again: edrql "
                f"ingest {_q(str(r.get('abspath') or r.get('path')))} --case {_q(root)}")
    if changed and repair:
        case.commit()
        res.add("manifest", REPAIRED, "wrote the repaired manifest (hosts and totals recomputed)")
    check_derived(res, case, repair)
    check_search(res, case, repair)
    _summarize(res, case)


# ------------------------------------------------------------------ uncommitted leftovers
def _leftovers(res: CheckResult, case: Case, manifest: dict | None, repair: bool) -> None:
    pending = [r for r in journal_names(case.root) if os.path.exists(os.path.join(case.root, r))]
    tmps = [os.path.join(k, f) for k in KINDS if os.path.isdir(os.path.join(case.root, k))
            for f in os.listdir(os.path.join(case.root, k)) if f.endswith(".tmp")]
    named = {s.get(k) for s in (manifest or {"sources": []})["sources"]
             for k in ("segment", "quarantine_segment")}
    pending = [r for r in pending if r not in named]
    found = pending + tmps
    res.uncommitted = set(found) if not repair else set()
    if not found:
        return
    size = sum(os.path.getsize(os.path.join(case.root, f)) for f in found
               if os.path.exists(os.path.join(case.root, f)))
    what = (f"an ingest that did not finish left {len(found)} uncommitted file(s) "
            f"({_mb(size)}), not part of the case")
    if repair:
        case.manifest = manifest or empty_manifest()
        case.clear_uncommitted()
        res.add("writer", REPAIRED, f"{what}: removed")
    else:
        res.add("writer", NOTE, f"{what}; --repair (or the next ingest) removes them")


# ------------------------------------------------------------------ manifest rebuild
def _read(root: str, rel: str) -> pa.Table:
    """A segment, read and fully validated (ArrowInvalid/OSError when it is not sound)."""
    t = pa.ipc.open_file(pa.memory_map(os.path.join(root, rel), "r")).read_all()
    t.validate(full=True)
    why, out = compact_problem(t)          # a compact segment: its layout must fit and decode
    if why:
        raise pa.ArrowInvalid(why)
    return out


def _sound(root: str, rel: str, rows: int | None, kind: str) -> str | None:
    """None when the segment reads, validates and has ``rows`` rows; else what is wrong."""
    try:
        t = _read(root, rel)
    except FileNotFoundError:
        return "missing"
    except (OSError, pa.ArrowInvalid, pa.ArrowException) as e:
        return f"damaged ({str(e)[:120]})"
    need = SCHEMA.names if kind == "events" else QUARANTINE_SCHEMA.names
    lacking = [c for c in need if c not in t.column_names]
    if lacking:
        return f"damaged (no column {', '.join(lacking[:3])})"
    if rows is not None and t.num_rows != rows:
        return f"holds {t.num_rows:,} rows, the manifest says {rows:,}"
    return None


def _entries_in_segments(root: str, skip: set) -> tuple[dict, list[str]]:
    """sha256 → (position, entry) from the segments' metadata; segments without an entry."""
    found, bare = {}, []
    for rel in segment_files(root):
        if rel in skip:
            continue
        try:
            schema = pa.ipc.open_file(pa.memory_map(os.path.join(root, rel), "r")).schema
        except (OSError, pa.ArrowInvalid):
            bare.append(rel)
            continue
        entry, pos = segment_entry(schema)
        if entry is None or not entry.get("sha256"):
            bare.append(rel)
            continue
        found.setdefault(entry["sha256"], (pos, entry))
    return found, bare


def _rebuild(res: CheckResult, case: Case, damaged: str | None, repair: bool) -> bool:
    """No usable manifest: rebuild it from the segments' entries. True when a case remains."""
    root = case.root
    found, bare = _entries_in_segments(root, res.uncommitted)
    what = f"damaged ({damaged})" if damaged else "missing"
    if not found and not bare:
        res.add("manifest", NOTE, f"{MANIFEST} {what} and no segments: nothing was committed "
                                  "here; an ingest creates the case")
        if damaged:
            res.add("manifest", PROBLEM, f"{MANIFEST} is damaged; delete it to start afresh")
        return False
    ok = []
    for sha, (pos, entry) in found.items():
        bad = [f"{rel}: {why}" for rel, rows, kind in _entry_segments(entry)
               if (why := _sound(root, rel, rows, kind))]
        if bad:
            res.add("manifest", PROBLEM, f"{entry.get('path')}: cannot be recovered "
                                         f"({'; '.join(bad)})")
        else:
            ok.append((pos, entry.get("ingested_at") or "", entry))
    ok.sort(key=lambda x: (x[0] if x[0] is not None else 1 << 30, x[1]))
    gaps = sorted(set(range(max((p for p, _, _ in ok if p is not None), default=-1) + 1))
                  - {p for p, _, _ in ok})
    if gaps:
        res.add("manifest", PROBLEM, f"no segment holds source number(s) "
                f"{', '.join(str(g + 1) for g in gaps[:10])} of the lost manifest: sources that "
                "stored nothing (all duplicates), or whose records are gone; a rebuilt manifest "
                "cannot list them: ingest again any export the case should hold")
    text = (f"{MANIFEST} {what}; {len(ok)} source(s) can be recovered from the entries their "
            f"segments carry")
    if not repair:
        res.add("manifest", PROBLEM, f"{text}; --repair rebuilds it")
        return True
    if damaged:
        keep = os.path.join(root, f"{MANIFEST}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
        os.replace(os.path.join(root, MANIFEST), keep)
    m = empty_manifest()
    m["sources"] = [e for _, _, e in ok]
    m["created"] = min((e.get("ingested_at") for e in m["sources"] if e.get("ingested_at")),
                       default=now_iso())
    m["rebuilt"] = {"at": now_iso(), "sources": len(ok),
                    "note": "rebuilt from the segments; the rejected list, the hostmap and the "
                            "removed list are not kept in segments (ingest --hostmap again if "
                            "there was one)"}
    case.manifest = m
    m["hosts"], m["totals"] = census(case)
    res.add("manifest", REPAIRED, f"{text}: rebuilt with {len(ok)} source(s)"
                                  + (f" (damaged file kept as {os.path.basename(keep)})"
                                     if damaged else ""))
    return True


def _entry_segments(entry: dict):
    if entry.get("segment"):
        yield entry["segment"], entry.get("rows_stored"), "events"
    if entry.get("quarantine_segment"):
        yield entry["quarantine_segment"], entry.get("quarantined"), "quarantine"


# ------------------------------------------------------------------ segments
def _segments(res: CheckResult, case: Case, repair: bool) -> bool:
    changed, keep, n_ev, n_q = False, [], 0, 0
    for s in case.manifest["sources"]:
        bad = []
        for rel, rows, kind in _entry_segments(s):
            why = _sound(case.root, rel, rows, kind)
            if why is None:
                n_ev += kind == "events"
                n_q += kind == "quarantine"
                continue
            meta = _meta_entry(case.root, rel)
            if meta and why.startswith("holds") and \
                    _sound(case.root, rel, meta.get("rows_stored" if kind == "events"
                                                    else "quarantined"), kind) is None:
                diff = {k: (s.get(k), meta.get(k)) for k in ENTRY_FIELDS if s.get(k) != meta.get(k)}
                text = (f"{s.get('path')}: the manifest's entry differs from the one its segment "
                        f"carries ({_diff(diff)})")
                if repair:
                    s.update(meta)
                    res.add("segments", REPAIRED, f"{text}: restored from the segment")
                    changed = True
                else:
                    res.add("segments", PROBLEM, f"{text}; --repair restores it")
                continue
            bad.append((rel, why))
        if not bad:
            keep.append(s)
            continue
        records = (s.get("rows_stored") or 0) + (s.get("quarantined") or 0)
        text = (f"{s.get('path')}: " + "; ".join(f"segment {r} is {w}" for r, w in bad)
                + f" ({records:,} records)")
        if not repair:
            res.add("segments", PROBLEM, f"{text}; the case cannot be read until --repair takes "
                                         "this source out (then ingest it again)")
            keep.append(s)
            continue
        for rel, why in bad:
            _set_aside(case.root, rel)
        case.manifest.setdefault("removed", []).append(
            {"path": s.get("path"), "abspath": s.get("abspath"), "sha256": s.get("sha256"),
             "records": records, "reason": "; ".join(f"{r} {w}" for r, w in bad), "at": now_iso()})
        res.add("segments", REPAIRED, f"{text}: taken out of the manifest so the case reads "
                                      "(its files set aside in lost/)")
        changed = True
    case.manifest["sources"] = keep
    res.ok["segments"] = (f"{n_ev} events and {n_q} quarantine segments read and validated; "
                          "row counts equal the manifest's")
    return changed


# ------------------------------------------------------------------ the compact layout
_STORES = {"plain", "carrier", "member", "ref", "masked", "null", "timetext", "range", "narrow"}


def compact_problem(t: pa.Table) -> tuple[str | None, pa.Table]:
    """What is wrong with a stored segment's compact layout (None: nothing, or a format 1
    or quarantine segment, which has none), and the table it decodes to."""
    try:
        layout = segcodec.layout_of(t.schema)
    except (ValueError, UnicodeDecodeError) as e:
        return f"its layout metadata (edrql.layout) is not JSON: {str(e)[:80]}", t
    if layout is None:
        return None, t
    try:
        why = _layout_mismatch(t, layout)
        if why:
            return f"compact layout: {why}", t
        dec = segcodec.decode(t)
        dec.validate(full=True)
    except (KeyError, IndexError, TypeError, ValueError, AssertionError, pa.ArrowException) as e:
        return f"compact layout: it does not decode ({type(e).__name__}: {str(e)[:100]})", t
    return None, dec


def _layout_mismatch(t: pa.Table, layout: dict) -> str | None:
    if layout.get("layout") != segcodec.LAYOUT:
        return f"layout version {layout.get('layout')!r}, not {segcodec.LAYOUT}"
    rows = layout.get("rows")
    if rows != t.num_rows and (t.num_columns or not isinstance(rows, int) or rows < 0):
        # (a segment storing no column, every one null, has no rows of its own)
        return f"the layout says {layout.get('rows')!r} rows, the segment holds {t.num_rows:,}"
    stored = set(t.column_names)
    fams = layout.get("families") or []
    for k, f in enumerate(fams):
        c = f.get("carrier")
        if c not in stored or not pa.types.is_dictionary(t.schema.field(c).type):
            return f"family {k}'s carrier column {c!r} is not in the segment (or not a dictionary)"
        b, n = f.get("bounds") or [], len(t.column(c).chunk(0).dictionary) if t.num_rows else 0
        if len(b) != len(segcodec.CLASSES) + 1 or b[0] != 0 or sorted(b) != b or \
                (t.num_rows and b[-1] != n):
            return f"family {k}'s class bounds {b} do not fit its {n:,} strings"
    how = dict((c, h) for c, h in layout.get("columns") or [])
    extra = stored - set(how)
    if extra:
        return f"column(s) {', '.join(sorted(extra)[:3])} not in the layout"
    for c, h in how.items():
        s = h.get("store")
        if s not in _STORES:
            return f"column {c}: unknown store {s!r}"
        if s != "timetext" and (s in ("plain", "carrier", "member", "masked", "narrow")) != (c in stored):
            return f"column {c} ({s}) is " + ("missing" if c not in stored else "stored too")
        if s in ("carrier", "member") and not 0 <= h.get("family", -1) < len(fams):
            return f"column {c}: family {h.get('family')!r} does not exist"
        if s in ("ref", "masked") and how.get(h.get("of"), {}).get("store") not in \
                ("carrier", "member"):
            return f"column {c}: refers to {h.get('of')!r}, which holds no codes"
        if s == "timetext":
            why = _timetext_problem(t, c, h, how)
            if why:
                return f"column {c}: {why}"
        if s in ("range", "narrow"):
            why = numcodec.store_problem(h, t.schema.field(c).type if c in stored else None)
            if not why and c in SCHEMA.names and numcodec.parse_type(h) != SCHEMA.field(c).type:
                why = f"a column of type {numcodec.parse_type(h)}, the events column is " \
                      f"{SCHEMA.field(c).type}"
            if why:
                return f"column {c}: {why}"
        if s == "null" and "type" in h:
            why = numcodec.type_problem(h)
            if not why and c in SCHEMA.names and numcodec.parse_type(h) != SCHEMA.field(c).type:
                why = f"nulls of type {numcodec.parse_type(h)}, the events column is " \
                      f"{SCHEMA.field(c).type}"
            if why:
                return f"column {c}: {why}"
    return None


def _timetext_problem(t: pa.Table, c: str, h: dict, how: dict) -> str | None:
    """What is wrong with a ``timetext`` entry (a text made again from a time column)."""
    src = h.get("of")
    if src not in how or not numcodec.is_plain_kind(how[src]):
        return f"made from {src!r}, which is not a number or time column of the segment"
    typ = t.schema.field(src).type if src in t.column_names else numcodec.parse_type(how[src])
    if not pa.types.is_timestamp(typ):
        return f"made from {src!r}, of type {typ}, not a time"
    try:
        timetext.parse_format(h.get("format") if isinstance(h.get("format"), str) else "")
    except ValueError as e:
        return f"its format {h.get('format')!r} is not one edrql writes ({e})"
    if not isinstance(h.get("dictionary", False), bool):
        return f"its dictionary flag {h.get('dictionary')!r} is not true or false"
    if c in t.column_names and not pa.types.is_boolean(t.schema.field(c).type):
        return f"its stored rows-with-a-value are {t.schema.field(c).type}, not bool"
    return None


def _old_layout(res: CheckResult, case: Case) -> None:
    """A note on events segments of the old layout (format 1): they read, and migrate."""
    from .migrate import old_segments
    old, n = old_segments(case.root, case.manifest), sum(
        1 for s in case.manifest["sources"] if s.get("segment"))
    if old:
        res.add("segments", NOTE, f"{len(old)} of {n} events segments have the old layout "
                f"(format 1): they read as they are; edrql migrate {_q(case.root)} makes them "
                "compact")


def _meta_entry(root: str, rel: str) -> dict | None:
    try:
        return segment_entry(pa.ipc.open_file(pa.memory_map(os.path.join(root, rel), "r")).schema)[0]
    except (OSError, pa.ArrowInvalid):
        return None


def _set_aside(root: str, rel: str) -> str | None:
    src = os.path.join(root, rel)
    if not os.path.exists(src):
        return None
    dst = os.path.join(root, "lost", rel.replace(os.sep, "-"))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.move(src, dst)
    remove_search_index(root, rel)
    return os.path.relpath(dst, root)


# ------------------------------------------------------------------ orphans
def _orphans(res: CheckResult, case: Case, repair: bool) -> bool:
    named = case.named_segments()
    known = {s.get("sha256") for s in case.manifest["sources"]}
    changed, count = False, 0
    adopt: dict[str, tuple] = {}
    for rel in segment_files(case.root):
        if rel in named or rel in res.uncommitted:
            continue
        count += 1
        entry = _meta_entry(case.root, rel)
        if entry and entry.get("sha256") in known:
            text = f"orphan segment {rel}: a copy of {entry.get('path')}, already in the case"
            if repair:
                os.remove(os.path.join(case.root, rel))
                remove_search_index(case.root, rel)
            res.add("orphans", REPAIRED if repair else PROBLEM,
                    f"{text}: " + ("deleted" if repair else "--repair deletes it"))
            continue
        own = entry and rel in [r for r, _, _ in _entry_segments(entry)]
        if own and entry.get("sha256") in adopt and adopt[entry["sha256"]][1] != entry:
            text = f"orphan segment {rel}: another copy of {entry.get('path')}"
            if repair:
                os.remove(os.path.join(case.root, rel))
            res.add("orphans", REPAIRED if repair else PROBLEM,
                    f"{text}: " + ("deleted" if repair else "--repair deletes it"))
            continue
        if own and all(_sound(case.root, r, n, k) is None for r, n, k in _entry_segments(entry)):
            adopt.setdefault(entry["sha256"], (rel, entry))
            continue
        why = "it carries no manifest entry" if not entry else "it, or its partner, is damaged"
        text = f"orphan segment {rel} ({_mb(_size(case.root, rel))}): not in the case; {why}"
        if repair:
            where = _set_aside(case.root, rel)
            res.add("orphans", REPAIRED, f"{text}: moved to {where}")
            changed = True
        else:
            res.add("orphans", PROBLEM, f"{text}; --repair moves it to lost/")
    for sha, (rel, entry) in sorted(adopt.items(), key=lambda kv: kv[1][1].get("ingested_at", "")):
        records = (entry.get("rows_stored") or 0) + (entry.get("quarantined") or 0)
        text = (f"orphan segment(s) of {entry.get('path')} ({records:,} records, ingested "
                f"{entry.get('ingested_at')}) are not in the manifest")
        if repair:
            case.manifest["sources"].append(entry)
            res.add("orphans", REPAIRED, f"{text}: added back from the entry they carry")
            changed = True
        else:
            res.add("orphans", PROBLEM, f"{text}; --repair adds them back")
    if not count:
        res.ok["orphans"] = "none"
    lost = os.path.join(case.root, "lost")
    if os.path.isdir(lost) and os.listdir(lost):
        res.add("orphans", NOTE, f"{len(os.listdir(lost))} file(s) set aside in lost/ by a repair "
                                 "(not part of the case; delete them when no longer needed)")
    return changed


# ------------------------------------------------------------------ accounting
def _accounting(res: CheckResult, case: Case, repair: bool) -> bool:
    m = case.manifest
    bad = 0
    for s in m["sources"]:
        parts = [s.get(k) for k in ("records_read", "rows_stored", "quarantined", "duplicates")]
        if any(not isinstance(p, int) for p in parts) or parts[0] != sum(parts[1:]):
            bad += 1
            res.add("accounting", PROBLEM, f"{s.get('path')}: records_read {parts[0]} != stored "
                    f"{parts[1]} + quarantined {parts[2]} + duplicates {parts[3]} (repair cannot "
                    "know which is right; ingest the source into a new case to compare)")
    try:
        hosts, totals = census(case)
    except (CaseError, OSError, pa.ArrowInvalid, KeyError, TypeError):
        return False                     # a segment is unreadable: reported under segments
    old = m.get("totals") or {}
    diff = {k: (old.get(k), v) for k, v in totals.items() if old.get(k) != v}
    if m.get("hosts") != hosts and "hosts" not in diff:
        diff["hosts"] = ("…", "as the segments give them")
    if not bad:
        res.ok["accounting"] = (f"every source reconciles; totals: {totals['records_read']:,} "
                                f"read = {totals['rows']:,} stored + {totals['quarantined']:,} "
                                f"quarantined + {totals['duplicates']:,} duplicates")
    if diff:
        text = f"the manifest's totals differ from its sources and segments ({_diff(diff)})"
        res.add("accounting", REPAIRED if repair else PROBLEM,
                f"{text}: " + ("recomputed" if repair else "--repair recomputes them"))
        return True
    return False


# ------------------------------------------------------------------ helpers, output
def _summarize(res: CheckResult, case: Case) -> None:
    t = case.manifest.get("totals") or {}
    res.summary = (f"{len(case.manifest['sources'])} sources; last commit "
                   f"{case.manifest.get('updated') or case.manifest.get('created')}; "
                   f"{t.get('rows', 0):,} rows, {t.get('quarantined', 0):,} quarantined")


def _size(root, rel) -> int:
    try:
        return os.path.getsize(os.path.join(root, rel))
    except OSError:
        return 0


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def _diff(diff: dict) -> str:
    return ", ".join(f"{k}: {a!r} → {b!r}" for k, (a, b) in list(diff.items())[:4])


def _q(p: str) -> str:
    import shlex
    return shlex.quote(p)
