"""Old cases: their layout, their sizes on disk, and ``edrql migrate CASE``.

A case of format 1 (the layout before :mod:`edrql.segcodec`) keeps plain string columns in
its segments, often with a search index (``search/``) and string encodings
(``derived/enc-*``) beside them. It still opens and answers queries (``segcodec.decode``
passes such segments through, ``store.concat_segments`` mixes them with compact ones); a
query run says once that ``edrql migrate CASE`` makes it compact (:func:`layout_note`).

The migration runs as the case's one writer. Every format 1 events segment is read,
rewritten through :meth:`Case.write_segment` (compact encoding; journaled, fsynced, renamed)
and read back and compared with the original, column by column; the source's manifest
entry is kept (same counts, the new segment name) and is the entry the new segment carries.
The old segment names are then journaled too, and the manifest with ``"format": 2`` and
the new names is committed atomically (:meth:`Case.commit`); the commit's clean-up deletes
the old segments (journaled, no longer named), their search index and the derived data of
the old segments, and the migration deletes what is left of ``search/``.

A kill at any point leaves the old case (before the manifest is replaced: the next writer
deletes the journaled new segments) or the new one (after: the next writer deletes the
journaled old segments); ``edrql check`` calls what is left over a note, never a problem.
Quarantine segments are not changed (they have one layout).
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field

import pyarrow as pa

from .store import ENTRY_KEY, FORMAT_VERSION, POSITION_KEY, CaseError
from .segcodec import LAYOUT_KEY, plain

AREAS = ("events", "quarantine", "derived", "search")


def segment_is_compact(root: str, rel: str) -> bool | None:
    """Whether an events segment has the compact layout (None: unreadable or missing)."""
    try:
        with pa.memory_map(os.path.join(root, rel), "r") as src:
            meta = pa.ipc.open_file(src).schema.metadata or {}
    except (OSError, pa.ArrowInvalid):
        return None
    return LAYOUT_KEY in meta


def event_segments(manifest: dict) -> list[str]:
    return [s["segment"] for s in manifest.get("sources", []) if s.get("segment")]


def old_segments(root: str, manifest: dict) -> list[str]:
    """The manifest's events segments in the old layout (format 1)."""
    return [rel for rel in event_segments(manifest) if segment_is_compact(root, rel) is False]


def _tree_size(path: str) -> int:
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(d, f)).st_size
            except OSError:
                pass
    return total


def _file_size(root: str, rel: str) -> int:
    try:
        return os.path.getsize(os.path.join(root, rel))
    except OSError:
        return 0


@dataclass
class Storage:
    """A case's layout and its bytes on disk (apparent sizes of its files)."""
    layout: str                       # "compact", "old", "mixed" or "empty"
    format: int                       # the manifest's format
    segments: int                     # events segments the manifest names
    old: int                          # … of them in the old layout
    sizes: dict = field(default_factory=dict)     # area → bytes; "other", "total"
    ingested: int | None = None       # bytes of the exports ingested (their entries' "size")

    @property
    def label(self) -> str:
        if self.layout == "mixed":
            return (f"old (format 1): {self.old} of {self.segments} events segments "
                    "not yet compact")
        return {"compact": f"compact (format {FORMAT_VERSION})", "old": "old (format 1)",
                "empty": f"compact (format {FORMAT_VERSION}; no events yet)"}[self.layout]

    def to_dict(self) -> dict:
        return {"layout": self.layout, "label": self.label, "format": self.format,
                "segments": self.segments, "old_segments": self.old,
                "bytes": dict(self.sizes), "bytes_ingested": self.ingested}


def storage(root: str, manifest: dict) -> Storage:
    segs = event_segments(manifest)
    old = len(old_segments(root, manifest))
    fmt = manifest.get("format", 1)
    layout = ("empty" if not segs and fmt >= 2 else "old" if (old == len(segs) and segs) or
              (not segs and fmt < 2) else "mixed" if old else "compact")
    sizes = {a: _tree_size(os.path.join(root, a)) for a in AREAS}
    total = _tree_size(root)
    sizes["other"] = total - sum(sizes.values())
    sizes["total"] = total
    src = [s.get("size") for s in manifest.get("sources", [])]
    ingested = sum(src) if src and all(isinstance(x, int) for x in src) else None
    return Storage(layout, fmt if isinstance(fmt, int) else 1, len(segs), old, sizes, ingested)


def mb(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:,.1f} MB" if n >= 100_000 else f"{n / 1e6:,.3f} MB" if n else "0 MB"


def size_line(st: Storage) -> str:
    s = st.sizes
    parts = [f"events {mb(s['events'])}", f"quarantine {mb(s['quarantine'])}",
             f"derived {mb(s['derived'])}"]
    if s["search"] or st.layout in ("old", "mixed"):
        parts.append(f"search (old) {mb(s['search'])}")
    text = f"{mb(s['total'])} on disk: " + ", ".join(parts)
    if st.ingested:
        text += f"; exports ingested {mb(st.ingested)} (the case: {s['total'] / st.ingested:.2f}× that)"
    return text


def layout_note(case) -> str | None:
    """The once-per-run note on a case in the old layout (None for a compact case)."""
    root = getattr(case, "root", None)
    manifest = getattr(case, "manifest", None)
    if not root or not isinstance(manifest, dict) or not os.path.isdir(root):
        return None
    if manifest.get("format", 1) >= 2 and not old_segments(root, manifest):
        return None
    st = storage(root, manifest)
    if st.layout not in ("old", "mixed"):
        return None
    import shlex
    what = "the old layout (format 1" + (f", {st.old} of {st.segments} segments" if
                                         st.layout == "mixed" else "")
    return (f"note: this case has {what}, {mb(st.sizes['total'])} on disk); "
            f"edrql migrate {shlex.quote(root)} makes it compact")


# ------------------------------------------------------------------ migrate
@dataclass
class Migration:
    root: str
    before: Storage
    after: Storage | None = None
    rewritten: list = field(default_factory=list)    # (source path, old rel, new rel, rows)
    cleaned: list = field(default_factory=list)      # what an earlier, killed migration left
    seconds: float = 0.0

    def render(self) -> str:
        from .safetext import term
        b, a = self.before, self.after or self.before
        lines = []
        if self.rewritten:
            rows = sum(r[3] for r in self.rewritten)
            lines.append(f"migrated {term(self.root)}: {len(self.rewritten)} events segment(s), "
                         f"{rows:,} rows, rewritten in the compact layout (format "
                         f"{FORMAT_VERSION}) and verified in {self.seconds:.1f} s")
        else:
            lines.append(f"migrated {term(self.root)}: the manifest now says format "
                         f"{FORMAT_VERSION} (its segments were already compact)")
        for c in self.cleaned:
            lines.append(f"  {c}")
        lines.append(f"  before: {size_line(b)}")
        lines.append(f"  after:  {size_line(a)}")
        if b.sizes["total"]:
            lines.append(f"  the case is {a.sizes['total'] / b.sizes['total']:.2f}× its size "
                         f"before ({mb(b.sizes['total'] - a.sizes['total'])} freed)")
        return "\n".join(lines)


class NothingToMigrate(CaseError):
    pass


def migrate(root: str, notify=None, progress=None) -> Migration:
    """Rewrite the case's old segments in the compact layout (see the module's docstring);
    ``progress(text)`` hears of each segment before it is rewritten."""
    from .store import Case, is_case, writer
    if not os.path.isdir(root) or not is_case(root):
        Case.open(root)                      # its CaseError says what the folder is
    if notify is None:
        from .ingest import say_waiting
        notify = say_waiting
    t0 = time.perf_counter()
    with writer(root, notify) as case:
        m = case.manifest
        fmt = m.get("format", 1)
        if not isinstance(fmt, int) or fmt > FORMAT_VERSION:
            raise CaseError(f"{root}: the manifest's format {fmt!r} is not one this edrql knows "
                            "(a newer edrql wrote it?); nothing migrated")
        before = storage(root, m)
        todo = [(i, s) for i, s in enumerate(m["sources"])
                if s.get("segment") and segment_is_compact(root, s["segment"]) is not True]
        search = os.path.join(root, "search")
        if not todo and m.get("format", 1) >= FORMAT_VERSION:
            if os.path.isdir(search):        # a migration killed after its commit
                res = Migration(root, before)
                res.cleaned.append(f"deleted the old search index ({mb(before.sizes['search'])})")
                shutil.rmtree(search, ignore_errors=True)
                res.after = storage(root, case.manifest)
                return res
            raise NothingToMigrate(f"{root}: nothing to migrate: the case is already compact "
                                   f"(format {FORMAT_VERSION}, {mb(before.sizes['total'])} on disk)")
        res = Migration(root, before)
        new_entries = {}
        for i, s in todo:
            rel = s["segment"]
            if progress:
                progress(f"rewriting {rel} ({s.get('rows_stored') or 0:,} rows of "
                         f"{s.get('path')}, {mb(_file_size(root, rel))})")
            table = _read_old(root, rel, s)
            entry = dict(s, segment=case.new_segment_name("events"))
            _write_at(case, i, table, entry)   # (the codec encodes each column whole)
            _verify(root, entry["segment"], table, s)
            new_entries[i] = entry
            res.rewritten.append((s.get("path"), rel, entry["segment"], table.num_rows))
            del table
        from .caselock import journal_add
        for _, s in todo:                    # the old ones go once the new manifest is in
            journal_add(root, s["segment"])
        for i, entry in new_entries.items():
            m["sources"][i] = entry
        m["format"] = FORMAT_VERSION
        case.commit()
        shutil.rmtree(search, ignore_errors=True)
        res.seconds = time.perf_counter() - t0
        res.after = storage(root, case.manifest)
    return res


def _read_old(root: str, rel: str, s: dict) -> pa.Table:
    """An old segment, whole and with the rows its entry counts (CaseError otherwise)."""
    try:
        t = pa.ipc.open_file(pa.memory_map(os.path.join(root, rel), "r")).read_all()
    except (OSError, pa.ArrowInvalid) as e:
        why = "missing" if isinstance(e, FileNotFoundError) else f"damaged ({str(e)[:100]})"
        raise CaseError(f"{root}: segment {rel} of {s.get('path')} is {why}; nothing was "
                        f"migrated; run: edrql check {root} --repair") from None
    if t.num_rows != s.get("rows_stored"):
        raise CaseError(f"{root}: segment {rel} of {s.get('path')} holds {t.num_rows:,} rows, "
                        f"the manifest says {s.get('rows_stored')!r}; nothing was migrated; "
                        f"run: edrql check {root}")
    meta = {k: v for k, v in (t.schema.metadata or {}).items()
            if k not in (ENTRY_KEY, POSITION_KEY)}
    return t.replace_schema_metadata(meta or None)


def _write_at(case, position: int, table: pa.Table, entry: dict) -> None:
    """Case.write_segment, with the entry's position that of the source it replaces
    (write_segment numbers a segment as the next source: an append)."""
    sources = case.manifest["sources"]
    case.manifest["sources"] = sources[:position]
    try:
        case.write_segment("events", table, entry["segment"], entry)
    finally:
        case.manifest["sources"] = sources


def _verify(root: str, rel: str, old: pa.Table, s: dict) -> None:
    """The new segment decodes to the old one's rows and values, column by column."""
    from .segcodec import decode
    t = pa.ipc.open_file(pa.memory_map(os.path.join(root, rel), "r")).read_all()
    new = decode(t)
    bad = None
    if new.num_rows != old.num_rows or new.column_names != old.column_names:
        bad = f"{new.num_rows:,} rows, columns {new.column_names[:3]}…"
    else:
        for c in old.column_names:
            a, b = plain(old.column(c)), plain(new.column(c))
            if a.type != b.type:
                b = b.cast(a.type)
            if not a.equals(b):
                bad = f"column {c} differs"
                break
    if bad:
        raise CaseError(f"{root}: the compact segment written for {s.get('path')} does not "
                        f"read back as the old one ({bad}); nothing was migrated (a bug: "
                        "please report it)")
