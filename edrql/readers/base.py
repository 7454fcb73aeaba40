"""What every reader hands to normalization: raw fields as text, plus accounting."""
from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass, field

import pyarrow as pa

from .archive import MAX_NESTING, ZipSource, is_zip, open_truncated, open_zip, starts_like_zip
from .errors import SourceError


@dataclass
class Input:
    """One source: a file on disk, or one member of a zip archive.

    A member is read through its :class:`~.archive.ZipSource`: extracted once
    (bounded memory, guarded) to a private temp file that the readers read like
    any file (:meth:`local_path`). ``error`` marks a source known to be
    unreadable when it was listed (e.g. a damaged archive): reading it raises
    :class:`SourceError` with that reason.
    """

    name: str
    path: str
    member: str | None = None
    size: int = 0
    archive: ZipSource | None = field(default=None, repr=False, compare=False)
    info: zipfile.ZipInfo | None = field(default=None, repr=False, compare=False)
    error: str | None = None

    def local_path(self) -> str:
        """A file holding the source's bytes (SourceError if it cannot be read)."""
        if self.error:
            raise SourceError(self.error)
        if self.archive is None:
            return self.path
        return self.archive.extract(self.info).path

    def read_bytes(self) -> bytes:
        with open(self.local_path(), "rb") as fh:
            return fh.read()

    def head(self, n: int = 65536) -> bytes:
        with open(self.local_path(), "rb") as fh:
            return fh.read(n)

    def sha256(self) -> str:
        """Content hash. Never raises for an unreadable source: it then hashes the
        reason (reading it raises SourceError, so it is rejected, not stored)."""
        try:
            if self.archive is not None and not self.error:
                return self.archive.extract(self.info).sha256
            h = hashlib.sha256()
            with open(self.local_path(), "rb") as fh:
                while chunk := fh.read(8 << 20):
                    h.update(chunk)
            return h.hexdigest()
        except (SourceError, OSError) as e:
            return hashlib.sha256(f"unreadable\0{self.name}\0{e}".encode()).hexdigest()


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


def expand(paths: list[str], zip_password: str | None = None) -> list[Input]:
    """Files, folders (recursively, sorted) and zip archives (their members,
    nested zips too, to :data:`~.archive.MAX_NESTING` levels). A damaged archive
    or a nested one that cannot be listed becomes one unreadable Input with the
    reason; only a path that does not exist stops the expansion."""
    out: list[Input] = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                out.extend(expand([os.path.join(root, f) for f in sorted(files)], zip_password))
            continue
        if not os.path.exists(p):
            raise SourceError(f"{p}: no such file or folder")
        ap = os.path.abspath(p)
        if is_zip(ap):
            try:
                out.extend(_members(open_zip(ap, p, zip_password, 1), ap, ""))
            except SourceError as e:
                out.append(Input(p, ap, None, os.path.getsize(ap), error=str(e)))
        elif starts_like_zip(ap):
            out.extend(_truncated(ap, p, zip_password))
        else:
            out.append(Input(p, ap, None, os.path.getsize(ap)))
    return out


def _truncated(ap: str, p: str, zip_password: str | None) -> list[Input]:
    """A zip without its member list (cut short): the members recovered from their
    local headers, then one unreadable Input saying what was lost."""
    z, lost = open_truncated(ap, p, zip_password, 1)
    out = _members(z, ap, "") if z is not None else []
    if lost:
        what = "; ".join(lost)
        head = (f"{p}: truncated zip archive (no member list): {len(out)} member(s) recovered "
                "from their local headers; " if out else f"{p}: truncated zip archive (no member "
                "list) and no complete member: ")
        out.append(Input(f"{p}!(rest)" if out else p, ap, "(rest)" if out else None,
                         os.path.getsize(ap), error=head + what))
    return out


def _members(z: ZipSource, top: str, prefix: str) -> list[Input]:
    """The members of one (possibly nested) archive, in archive order."""
    out: list[Input] = []
    for info in z.members():
        member = prefix + info.filename
        name = z.label(info)
        if not z.starts_with_zip(info):
            out.append(Input(name, top, member, info.file_size, z, info))
            continue
        if z.depth >= MAX_NESTING:
            out.append(Input(name, top, member, info.file_size, error=(
                f"{name}: a zip nested more than {MAX_NESTING} levels deep: not read")))
            continue
        try:
            inner = open_zip(z.take(info), name, z.password_text, z.depth + 1, owned=True)
        except SourceError as e:
            out.append(Input(name, top, member, info.file_size, error=str(e)))
            continue
        out.extend(_members(inner, top, member + "!"))
    return out


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
