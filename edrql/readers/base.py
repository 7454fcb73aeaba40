"""What every reader hands to normalization: raw fields as text, plus accounting."""
from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass, field

import pyarrow as pa


class SourceError(Exception):
    """A source that cannot be read at all (the message names the file)."""


@dataclass
class Input:
    """One source: a file on disk, or one member of a zip archive (read in memory)."""

    name: str
    path: str
    member: str | None = None
    size: int = 0

    def read_bytes(self) -> bytes:
        if self.member is None:
            with open(self.path, "rb") as fh:
                return fh.read()
        with zipfile.ZipFile(self.path) as zf:
            return zf.read(self.member)

    def head(self, n: int = 65536) -> bytes:
        if self.member is None:
            with open(self.path, "rb") as fh:
                return fh.read(n)
        with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as fh:
            return fh.read(n)

    def sha256(self) -> str:
        h = hashlib.sha256()
        if self.member is None:
            with open(self.path, "rb") as fh:
                while chunk := fh.read(8 << 20):
                    h.update(chunk)
        else:
            with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as fh:
                while chunk := fh.read(8 << 20):
                    h.update(chunk)
        return h.hexdigest()


@dataclass
class Quarantined:
    record: int
    reason: str
    raw: str


@dataclass
class RawBatch:
    """Raw vendor fields of one source as string columns (original field names).

    ``records[i]`` is the 1-based record number of row ``i`` in the source.
    ``records_read`` counts every record seen, including the quarantined ones.
    """

    table: pa.Table
    records: pa.Array
    records_read: int
    encoding: str
    fmt: str
    quarantine: list[Quarantined] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def expand(paths: list[str]) -> list[Input]:
    """Files, folders (recursively, sorted) and zip archives (members, in memory)."""
    out: list[Input] = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                out.extend(expand([os.path.join(root, f) for f in sorted(files)]))
            continue
        if not os.path.exists(p):
            raise SourceError(f"{p}: no such file or folder")
        ap = os.path.abspath(p)
        if zipfile.is_zipfile(ap) and _starts_with(ap, b"PK"):
            with zipfile.ZipFile(ap) as zf:
                for info in zf.infolist():
                    if info.is_dir():
                        continue
                    out.append(Input(f"{p}!{info.filename}", ap, info.filename, info.file_size))
        else:
            out.append(Input(p, ap, None, os.path.getsize(ap)))
    return out


def _starts_with(path: str, magic: bytes) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(magic)) == magic


def string_table(columns: dict[str, list]) -> pa.Table:
    """Build an all-string table from python lists (None stays null)."""
    return pa.table({k: pa.array(v, type=pa.string()) for k, v in columns.items()})


def rows_to_table(rows: list[dict]) -> pa.Table:
    """Union of keys (first-seen order) → all-string table; absent keys are null."""
    keys: dict[str, None] = {}
    for r in rows:
        for k in r:
            if k not in keys:
                keys[k] = None
    return pa.table({k: pa.array([r.get(k) for r in rows], pa.string()) for k in keys})
