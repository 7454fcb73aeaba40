"""Store stage: the case directory.

Layout::

    CASE/manifest.json              what was ingested, with counts that reconcile
    CASE/events/<id>.arrow          one Arrow IPC file per source (normalized + raw.* columns)
    CASE/quarantine/<id>.arrow      records that could not be parsed or normalized

Segments are written under a temporary name and renamed into place; the
manifest is replaced last (write, then rename), so Ctrl-C or a crash mid-ingest
leaves the previous case as it was. Files not named by the manifest are ignored
and cleaned up by the next ingest. Opening memory-maps the segments.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import uuid
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from . import __version__
from .schema import QUARANTINE_SCHEMA, RAW_PREFIX, SCHEMA

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def iso_ns(ns: int | None) -> str | None:
    """Nanoseconds since the epoch → ISO 8601 UTC at full precision."""
    if ns is None:
        return None
    sec, frac = divmod(int(ns), 10**9)
    base = _dt.datetime.fromtimestamp(sec, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def segments_stamp(manifest: dict) -> str:
    """A short id of the case's current segments: derived data (lineage, encodings) is keyed
    by it, so any ingest that changes the data makes the old derived files stale."""
    import hashlib
    segs = "|".join(str(s.get("segment")) for s in manifest["sources"])
    return hashlib.sha1(segs.encode()).hexdigest()[:16]


def is_case(path: str) -> bool:
    return os.path.isfile(os.path.join(path, MANIFEST))


def empty_manifest() -> dict:
    return {"edrql": __version__, "format": FORMAT_VERSION, "created": now_iso(), "updated": None,
            "sources": [], "rejected": [], "hosts": {}, "totals": {}}


class CaseError(Exception):
    pass


@dataclass
class Case:
    root: str
    manifest: dict
    _events: pa.Table | None = field(default=None, repr=False)
    _quarantine: pa.Table | None = field(default=None, repr=False)
    _lineage: object = field(default=None, repr=False)
    _correlation: object = field(default=None, repr=False)

    @classmethod
    def open(cls, root: str) -> "Case":
        path = os.path.join(root, MANIFEST)
        try:
            with open(path, encoding="utf-8") as fh:
                manifest = json.load(fh)
        except FileNotFoundError:
            raise CaseError(f"{root}: not an edrql case (no {MANIFEST}); "
                            f"create one with: edrql ingest EXPORT... --case {root}") from None
        except json.JSONDecodeError as e:
            raise CaseError(f"{path}: damaged manifest ({e})") from None
        return cls(root, manifest)

    @classmethod
    def create_or_open(cls, root: str) -> "Case":
        if is_case(root):
            return cls.open(root)
        if os.path.exists(root) and (not os.path.isdir(root) or os.listdir(root)):
            raise CaseError(f"{root}: exists and is not an edrql case; choose a new folder")
        return cls(root, empty_manifest())

    # -------------------------------------------------------------- reading
    def segment_tables(self, kind: str = "events") -> list[pa.Table]:
        key = "segment" if kind == "events" else "quarantine_segment"
        out = []
        for s in self.manifest["sources"]:
            seg = s.get(key)
            if seg:
                out.append(_read_ipc(os.path.join(self.root, seg)))
        return out

    @property
    def events(self) -> pa.Table:
        if self._events is None:
            tables = self.segment_tables("events")
            if not tables:
                self._events = SCHEMA.empty_table()
            else:
                self._events = pa.concat_tables(tables, promote_options="default")
        return self._events

    @property
    def quarantine(self) -> pa.Table:
        if self._quarantine is None:
            tables = self.segment_tables("quarantine")
            self._quarantine = (pa.concat_tables(tables) if tables
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
    def write_segment(self, kind: str, table: pa.Table) -> str:
        """Write a segment under a temporary name, fsync, rename; return its relative path."""
        os.makedirs(os.path.join(self.root, kind), exist_ok=True)
        rel = os.path.join(kind, f"{uuid.uuid4().hex}.arrow")
        final = os.path.join(self.root, rel)
        tmp = final + ".tmp"
        with pa.OSFile(tmp, "wb") as sink:
            with pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table, max_chunksize=1 << 20)
        os.replace(tmp, final)
        return rel

    def commit(self) -> None:
        """Replace the manifest atomically, then remove files it does not name."""
        self.manifest["updated"] = now_iso()
        self.manifest["edrql"] = __version__
        self._events = self._quarantine = self._lineage = self._correlation = None
        self.manifest["hosts"], self.manifest["totals"] = census(self)
        os.makedirs(self.root, exist_ok=True)
        path = os.path.join(self.root, MANIFEST)
        tmp = path + f".{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.manifest, fh, indent=1, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        self._cleanup()

    def _cleanup(self) -> None:
        d = os.path.join(self.root, "derived")
        if os.path.isdir(d):
            stamp = segments_stamp(self.manifest)
            for f in os.listdir(d):
                if stamp not in f:
                    try:
                        os.remove(os.path.join(d, f))
                    except OSError:
                        pass
        keep = {s.get(k) for s in self.manifest["sources"] for k in ("segment", "quarantine_segment")}
        for kind in ("events", "quarantine"):
            d = os.path.join(self.root, kind)
            if not os.path.isdir(d):
                continue
            for f in os.listdir(d):
                if os.path.join(kind, f) not in keep:
                    try:
                        os.remove(os.path.join(d, f))
                    except OSError:
                        pass


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
    t = pa.table({"host": pc.fill_null(ev["host"], "(no host)"), "event": ev["event"],
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
