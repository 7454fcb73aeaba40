"""Store stage: the case directory.

Layout::

    CASE/manifest.json              what was ingested, with counts that reconcile
    CASE/events/<id>.arrow          one Arrow IPC file per source (normalized + raw.* columns)
    CASE/quarantine/<id>.arrow      records that could not be parsed or normalized
    CASE/.edrql.lock                the writer lock (see edrql.caselock)
    CASE/.edrql-pending             the writer's journal of segments not yet committed

One writer at a time holds the case's lock (:func:`writer`, :meth:`Case.writing`) and
reads the manifest only once it holds it. Segments are journaled, written under a
temporary name, fsynced and renamed into place; each carries its source's manifest entry
in its Arrow metadata (``edrql.entry``), so a lost manifest can be rebuilt. The manifest
is replaced last (write, fsync, rename): that is the commit, so Ctrl-C, kill -9 or a crash
mid-ingest leaves the previous case as it was, and the next writer deletes the journaled
leftovers. A committed segment is never deleted, so readers (who take no lock) always
see one whole commit. Opening memory-maps the segments.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import uuid
from dataclasses import field

import pyarrow as pa
import pyarrow.compute as pc

from .version import __version__
from .caselock import JOURNAL, LOCK, CaseLock, LockError, fsync_dir, fsync_path, journal_add, \
    journal_clear, journal_names, open_sink
from .schema import QUARANTINE_SCHEMA, RAW_PREFIX, SCHEMA
from . import segcodec
from .records import record
from .stamp import segments_stamp

MANIFEST = "manifest.json"
FORMAT_VERSION = 2          # 2: compact segments (edrql.segcodec); 1: plain string columns
ENTRY_KEY = b"edrql.entry"          # a segment's manifest entry (JSON), in its Arrow metadata
POSITION_KEY = b"edrql.position"    # the entry's index in the manifest's sources
KINDS = ("events", "quarantine")
# what a case folder may hold: a folder with nothing else is a case being created
CASE_NAMES = {MANIFEST, "events", "quarantine", "derived", "search", "lost", LOCK, JOURNAL}
_CASE_NAME_RE = re.compile(r"manifest\.json\.(\d+\.tmp|damaged-.*)$")


def iso_ns(ns: int | None) -> str | None:
    """Nanoseconds since the epoch → ISO 8601 UTC at full precision."""
    if ns is None:
        return None
    sec, frac = divmod(int(ns), 10**9)
    base = _dt.datetime.fromtimestamp(sec, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_case(path: str) -> bool:
    return os.path.isfile(os.path.join(path, MANIFEST))


def looks_like_case(path: str) -> bool:
    """A case folder, or one an edrql writer has started (lock or journal present)."""
    return any(os.path.exists(os.path.join(path, n)) for n in (MANIFEST, LOCK, JOURNAL))


def only_case_files(root: str) -> bool:
    """The folder holds nothing but what edrql writes in a case (or nothing)."""
    return all(f in CASE_NAMES or _CASE_NAME_RE.match(f) for f in os.listdir(root))


def empty_manifest() -> dict:
    return {"edrql": __version__, "format": FORMAT_VERSION, "created": now_iso(), "updated": None,
            "sources": [], "rejected": [], "hosts": {}, "totals": {}}


class CaseError(Exception):
    pass


class DamagedManifest(CaseError):
    def __init__(self, root: str, reason: str):
        super().__init__(f"{os.path.join(root, MANIFEST)}: damaged manifest ({reason}); "
                         f"run: edrql check {root} --repair")
        self.reason = reason


def read_manifest(root: str) -> dict | None:
    """The manifest, or None when there is none; CaseError when it is damaged."""
    path = os.path.join(root, MANIFEST)
    try:
        with open(path, encoding="utf-8") as fh:
            manifest = json.load(fh)
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DamagedManifest(root, str(e)) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sources"), list) or \
            not all(isinstance(s, dict) for s in manifest["sources"]):
        raise DamagedManifest(root, "no list of sources")
    return manifest


@contextlib.contextmanager
def writer(root: str, notify=None):
    """The case as its one writer: waits for another writer (``notify`` says so), clears what a
    killed writer left uncommitted, then reads the manifest. Yields the Case; unlocks at exit."""
    case = Case(root, empty_manifest())
    with case.writing(notify):
        yield case


@record
class Case:
    root: str
    manifest: dict
    _events: pa.Table | None = field(default=None, repr=False)
    _quarantine: pa.Table | None = field(default=None, repr=False)
    _lineage: object = field(default=None, repr=False)
    _correlation: object = field(default=None, repr=False)

    _writer: CaseLock | None = field(default=None, repr=False)
    #: what reading learnt of the segments: the events' schema, whether every segment is
    #: compact, the readers that read the footers, columns decoded on their own and the
    #: table ``events_of`` made of them (forgotten when the writer changes the case)
    _read: dict = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, root: str) -> "Case":
        manifest = read_manifest(root)
        if manifest is None:
            hint = (f"an ingest into it did not finish; run it again, or: edrql check {root}"
                    if os.path.isdir(root) and looks_like_case(root) else
                    f"create one with: edrql ingest EXPORT... --case {root}")
            raise CaseError(f"{root}: not an edrql case (no {MANIFEST}); {hint}")
        return cls(root, manifest)

    @classmethod
    def create_or_open(cls, root: str) -> "Case":
        """The case to append to (a folder without a manifest that holds only what edrql
        writes — an ingest that never committed — is a case being created)."""
        if is_case(root):
            return cls.open(root)
        check_new_case_folder(root)
        return cls(root, empty_manifest())

    @property
    def is_writer(self) -> bool:
        """This Case holds the case's writer lock (see :meth:`writing`)."""
        return self._writer is not None

    def held_by(self, lock: CaseLock) -> "Case":
        """Write as the holder of ``lock`` (taken by the caller, e.g. edrql check --repair)."""
        self._writer = lock
        return self

    @contextlib.contextmanager
    def writing(self, notify=None):
        """Hold the case's writer lock: clear a killed writer's uncommitted files, then reload
        the manifest as it is now (an earlier read may be stale)."""
        if self._writer is not None:          # already the writer (one process, one lock)
            yield self
            return
        lock = CaseLock(self.root)
        created = not os.path.exists(self.root)
        if not created:
            check_new_case_folder(self.root, allow_case=True)
        try:
            lock.acquire(notify)
        except LockError as e:
            raise CaseError(str(e)) from None
        try:
            manifest = read_manifest(self.root)
            self.manifest = manifest or empty_manifest()
            self._events = self._quarantine = self._lineage = self._correlation = None
            self._read = {}
            self._writer = lock
            self.clear_uncommitted()
            if manifest is None:
                _refuse_lost_manifest(self.root)
            try:
                yield self
            except BaseException:             # Ctrl-C, a bug: remove what was not committed
                try:
                    self.manifest = read_manifest(self.root) or empty_manifest()
                    self.clear_uncommitted()
                except (CaseError, OSError):
                    pass                          # the next writer does it
                raise
        finally:
            self._writer = None
            if created and not is_case(self.root):    # nothing committed: leave no folder
                _remove_empty_case(self.root, lock)
            lock.release()

    # -------------------------------------------------------------- reading
    def segment_tables(self, kind: str = "events", stored: bool = False,
                       columns=None) -> list[pa.Table]:
        """The segments' tables (events decoded from the compact layout unless ``stored``;
        ``columns``: only those, see segcodec.decode)."""
        key = "segment" if kind == "events" else "quarantine_segment"
        out = []
        for s in self.manifest["sources"]:
            seg = s.get(key)
            if seg:
                try:
                    opened = self._read.get("opened", {}).pop(seg, None)   # (events_schema's)
                    t = opened.read_all() if opened is not None else \
                        _read_ipc(os.path.join(self.root, seg))
                    out.append(t if stored or kind != "events" else segcodec.decode(t, columns))
                except (OSError, pa.ArrowInvalid) as e:
                    why = "missing" if isinstance(e, FileNotFoundError) else f"damaged: {e}"
                    raise CaseError(f"{self.root}: segment {seg} of {s.get('path')} is {why}; "
                                    f"run: edrql check {self.root} --repair") from None
        return out

    @property
    def events(self) -> pa.Table:
        if self._events is None:
            tables = self.segment_tables("events")
            if not tables:
                self._events = SCHEMA.empty_table()
            else:
                self._events = concat_segments(tables)
        return self._events

    def events_of(self, columns) -> pa.Table:
        """The events table with (at least) ``columns`` (names of its columns; other names
        are ignored), in table order, each column the one ``events`` has: only the columns
        asked for so far are decoded (a query that reads two of 79 decodes two). The table
        grows as later calls ask for more, and stays the same object while they do not, so
        what is cached per table (combined chunks, a column's own values) stays valid. With
        none of them, a table of the same rows (its ``ts``). ``columns`` None, the events
        loaded already, or a segment of the old layout (whose text encodings are kept for the
        whole table): ``events``."""
        if columns is None or self._events is not None or not self.all_compact():
            return self.events
        names = self.events_schema().names
        wanted = set(columns) & set(names)
        have = self._read.get("table")
        if have is not None and wanted <= set(have.column_names):
            return have
        wanted = wanted or set(names[:1])
        cols = self._read.setdefault("columns", {})
        missing = [c for c in names if c in wanted and c not in cols]
        # every segment has ts: a segment with none of the columns still has its rows
        tables = self.segment_tables("events", columns=set(missing) | {"ts"})
        part = concat_segments(tables) if tables else SCHEMA.empty_table()
        for c in missing:
            cols[c] = part.column(c)
        keep = [c for c in names if c in cols]
        self._read["table"] = out = pa.table([cols[c] for c in keep], names=keep)
        return out

    def all_compact(self) -> bool:
        """Every events segment has the compact layout (format 2), from their footers."""
        if "compact" not in self._read:
            self.events_schema()
        return self._read.get("compact", False)

    def events_schema(self) -> pa.Schema:
        """The events table's schema without reading it: from the segments' footers (the
        checker needs only names and types), read once."""
        if self._events is not None:
            return self._events.schema
        if "schema" not in self._read:
            schemas, compact, opened = [], True, {}
            for s in self.manifest["sources"]:
                if s.get("segment"):
                    try:
                        reader = pa.ipc.open_file(pa.memory_map(
                            os.path.join(self.root, s["segment"]), "r"))
                        stored = reader.schema
                    except (OSError, pa.ArrowInvalid):
                        return self.events.schema        # says what is wrong, as reading does
                    opened[s["segment"]] = reader        # read by the first segment_tables
                    compact = compact and segcodec.layout_of(stored) is not None
                    schemas.append(segcodec.decoded_schema(stored))
            self._read["schema"], self._read["compact"] = _events_schema_of(schemas), compact
            self._read["opened"] = opened
        return self._read["schema"]

    def quarantine_schema(self) -> pa.Schema:
        return QUARANTINE_SCHEMA if self._quarantine is None else self._quarantine.schema

    @property
    def quarantine(self) -> pa.Table:
        if self._quarantine is None:
            tables = self.segment_tables("quarantine")
            self._quarantine = (pa.concat_tables(tables).replace_schema_metadata(None) if tables
                                else QUARANTINE_SCHEMA.empty_table())
        return self._quarantine

    @property
    def lineage(self):
        """Process instances and links, built once per opened case (see edrql.lineage)."""
        if self._lineage is None:
            from .lineage import load_or_build
            self._lineage = load_or_build(self)
        return self._lineage

    @property
    def correlation(self):
        """EDR ⇄ proxy attribution, clock offsets and the host map (see edrql.correlate)."""
        if self._correlation is None:
            from .correlate import correlate
            self._correlation = correlate(self.events, self.lineage, self.manifest.get("hostmap"),
                                          self.proxy_sources())
        return self._correlation

    def proxy_sources(self) -> set[str]:
        """Sources whose rows are proxy / network-sensor records."""
        return {s["path"] for s in self.manifest["sources"] if s.get("proxy")}

    def raw_columns(self) -> list[str]:
        return [c for c in self.events.column_names if c.startswith(RAW_PREFIX)]

    # -------------------------------------------------------------- writing
    def _need_writer(self) -> None:
        if self._writer is None:
            raise RuntimeError("a case is changed only by its writer (Case.writing())")

    def new_segment_name(self, kind: str) -> str:
        return os.path.join(kind, f"{uuid.uuid4().hex}.arrow")

    def write_segment(self, kind: str, table, rel: str | None = None,
                      entry: dict | None = None) -> str:
        """Journal the name, write under a temporary name, fsync, rename; return the relative
        path. ``entry`` (the source's manifest entry) is kept in the segment's metadata.
        ``table``: a table, or for events a one-element list holding it, which the encoding
        takes over (see :func:`segcodec.encode`)."""
        self._need_writer()
        rel = rel or self.new_segment_name(kind)
        os.makedirs(os.path.join(self.root, kind), exist_ok=True)
        if kind == "events":
            table = segcodec.encode(table)
        if entry is not None:
            meta = dict(table.schema.metadata or {})
            meta[ENTRY_KEY] = json.dumps(entry, ensure_ascii=False).encode()
            meta[POSITION_KEY] = str(len(self.manifest["sources"])).encode()
            table = table.replace_schema_metadata(meta)
        journal_add(self.root, rel)
        final = os.path.join(self.root, rel)
        tmp = final + f".{os.getpid()}.tmp"
        with open_sink(tmp) as sink:
            with pa.ipc.new_file(sink, table.schema) as writer:
                # compact events: one batch (one dictionary per column); quarantine: 1M rows
                writer.write_table(table, max_chunksize=(1 << 62) if kind == "events" else 1 << 20)
        fsync_path(tmp)
        os.replace(tmp, final)
        fsync_dir(os.path.dirname(final))
        return rel

    def commit(self) -> None:
        """Replace the manifest atomically (the commit), then remove what it made stale."""
        self._need_writer()
        self.manifest["updated"] = now_iso()
        self.manifest["edrql"] = __version__
        self._events = self._quarantine = self._lineage = self._correlation = None
        self._read = {}
        self.manifest["hosts"], self.manifest["totals"] = census(self)
        os.makedirs(self.root, exist_ok=True)
        path = os.path.join(self.root, MANIFEST)
        tmp = path + f".{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.manifest, fh, indent=1, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(self.root)
        self._cleanup()

    def named_segments(self) -> set[str]:
        return {s.get(k) for s in self.manifest["sources"]
                for k in ("segment", "quarantine_segment") if s.get(k)}

    def clear_uncommitted(self) -> list[str]:
        """(Writer only.) Delete what a writer created and never committed: journaled
        segments the manifest does not name, and temporary files; return them."""
        self._need_writer()
        keep = self.named_segments()
        gone = []
        for rel in journal_names(self.root):
            if rel not in keep and _remove(os.path.join(self.root, rel)):
                gone.append(rel)
                remove_search_index(self.root, rel)
        for kind in KINDS:
            d = os.path.join(self.root, kind)
            for f in (os.listdir(d) if os.path.isdir(d) else []):
                if f.endswith(".tmp") and _remove(os.path.join(d, f)):
                    gone.append(os.path.join(kind, f))
        for f in os.listdir(self.root) if os.path.isdir(self.root) else []:
            if f.startswith(MANIFEST + ".") and f.endswith(".tmp"):
                _remove(os.path.join(self.root, f))
        journal_clear(self.root)
        return gone

    def _cleanup(self) -> None:
        d = os.path.join(self.root, "derived")
        if os.path.isdir(d):
            stamp = segments_stamp(self.manifest)
            for f in os.listdir(d):
                if stamp not in f:
                    _remove(os.path.join(d, f))
        self.clear_uncommitted()


def _remove_empty_case(root: str, lock: CaseLock) -> None:
    """Remove a folder this writer created and left with nothing of value in it."""
    if segment_files(root):
        return
    journal_clear(root)
    for kind in KINDS:
        try:
            os.rmdir(os.path.join(root, kind))
        except OSError:
            pass
    if os.listdir(root) == [LOCK]:
        lock.remove()
        try:
            os.rmdir(root)
        except OSError:
            pass


def segment_files(root: str) -> list[str]:
    """Every segment file in the folder (relative paths), named by the manifest or not."""
    out = []
    for kind in KINDS:
        d = os.path.join(root, kind)
        out += [os.path.join(kind, f) for f in sorted(os.listdir(d) if os.path.isdir(d) else [])
                if f.endswith(".arrow")]
    return out


def _refuse_lost_manifest(root: str) -> None:
    """No manifest, yet committed-looking segments (not a killed writer's: those were
    journaled and are gone): the manifest was lost. Appending would hide their records."""
    held = []
    for rel in segment_files(root):
        try:
            entry, _ = segment_entry(pa.ipc.open_file(pa.memory_map(os.path.join(root, rel))).schema)
        except (OSError, pa.ArrowInvalid):
            entry = None
        if entry:
            held.append(entry.get("path") or rel)
    if held:
        names = ", ".join(sorted(set(held))[:3]) + (" …" if len(set(held)) > 3 else "")
        raise CaseError(f"{root}: no {MANIFEST}, but {len(held)} segment(s) hold records of "
                        f"earlier ingests ({names}); run: edrql check {root} --repair "
                        "to rebuild the manifest from them, then ingest again")


def check_new_case_folder(root: str, allow_case: bool = False) -> None:
    """CaseError unless ``root`` can become (or, with allow_case, already is) a case."""
    if not os.path.exists(root):
        return
    if not os.path.isdir(root):
        raise CaseError(f"{root}: exists and is not a folder; choose a new folder for the case")
    if (allow_case and is_case(root)) or only_case_files(root):
        return
    raise CaseError(f"{root}: exists and is not an edrql case (it holds other files); "
                    "choose a new folder")


def remove_search_index(root: str, rel: str) -> None:
    """Delete the search-index files of one segment (any layout version)."""
    d = os.path.join(root, "search")
    base = os.path.basename(rel).replace(".arrow", "") + "."
    for f in (os.listdir(d) if os.path.isdir(d) else []):
        if f.startswith(base):
            _remove(os.path.join(d, f))


def _remove(path: str) -> bool:
    try:
        os.remove(path)
        return True
    except OSError:
        return False


def segment_entry(table_or_schema) -> tuple[dict | None, int | None]:
    """The manifest entry and position a segment carries in its metadata (None: none)."""
    schema = getattr(table_or_schema, "schema", table_or_schema)
    meta = schema.metadata or {}
    try:
        entry = json.loads(meta[ENTRY_KEY].decode())
        return entry, int(meta.get(POSITION_KEY, b"-1"))
    except (KeyError, ValueError, UnicodeDecodeError):
        return None, None


def concat_segments(tables: list[pa.Table]) -> pa.Table:
    """One events table of the decoded segments. Over several segments each text column
    becomes dictionary<int32, string> with one dictionary for all its chunks (grouping,
    sorting and joins need that); an old plain-string segment's column is encoded."""
    if len(tables) == 1:
        return tables[0].replace_schema_metadata(None)
    wide = pa.dictionary(pa.int32(), pa.string())
    fixed = []
    for t in tables:
        for i, f in enumerate(t.schema):
            if segcodec.is_text_type(f.type) and f.type != wide:
                col = t.column(i)
                if not pa.types.is_dictionary(col.type):
                    col = pc.dictionary_encode(col.cast(pa.string()))
                t = t.set_column(i, pa.field(f.name, wide), col.cast(wide))
        fixed.append(t)
    from .unify import unify_shared
    return unify_shared(pa.concat_tables(fixed, promote_options="default")).replace_schema_metadata(None)


def _events_schema_of(schemas: list[pa.Schema]) -> pa.Schema:
    """The schema of the events table concat_segments makes of segments of these schemas."""
    if not schemas:
        return SCHEMA
    if len(schemas) == 1:
        return schemas[0].remove_metadata()
    wide = pa.dictionary(pa.int32(), pa.string())
    out = pa.unify_schemas([pa.schema([pa.field(f.name, wide if segcodec.is_text_type(f.type)
                                                else f.type) for f in sc]) for sc in schemas])
    return out.remove_metadata()


def _read_ipc(path: str) -> pa.Table:
    source = pa.memory_map(path, "r")
    return pa.ipc.open_file(source).read_all()


def census(case: Case) -> tuple[dict, dict]:
    """Per host: first/last event, rows, and a census of event types (vectorized)."""
    ev = case.events
    totals = {
        "sources": len(case.manifest["sources"]),
        "records_read": sum(s["records_read"] for s in case.manifest["sources"]),
        "rows": ev.num_rows,
        "quarantined": case.quarantine.num_rows,
        "duplicates": sum(s["duplicates"] for s in case.manifest["sources"]),
    }
    if ev.num_rows == 0:
        return {}, totals
    t = pa.table({"host": pc.fill_null(segcodec.plain(ev["host"]), "(no host)"),
                  "event": segcodec.plain(ev["event"]),
                  "ts": pc.cast(ev["ts"], pa.int64())})
    per = t.group_by(["host", "event"]).aggregate([("ts", "count"), ("ts", "min"), ("ts", "max")])
    hosts: dict[str, dict] = {}
    for r in per.to_pylist():
        h = hosts.setdefault(r["host"], {"first": None, "last": None, "rows": 0, "events": {}})
        h["rows"] += r["ts_count"]
        h["events"][r["event"]] = r["ts_count"]
        lo, hi = r["ts_min"], r["ts_max"]
        h["first"] = lo if h["first"] is None else min(h["first"], lo)
        h["last"] = hi if h["last"] is None else max(h["last"], hi)
    for h in hosts.values():
        h["first"], h["last"] = iso_ns(h["first"]), iso_ns(h["last"])
        h["events"] = dict(sorted(h["events"].items(), key=lambda kv: -kv[1]))
    totals["hosts"] = len([h for h in hosts if h != "(no host)"])
    tsi = t["ts"]
    totals["first"], totals["last"] = iso_ns(pc.min(tsi).as_py()), iso_ns(pc.max(tsi).as_py())
    return dict(sorted(hosts.items())), totals
