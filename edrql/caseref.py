"""Resolve what the user named — a case folder or raw export files — to a Case.

Raw exports are ingested once into a cached case under the user's cache
directory (``$XDG_CACHE_HOME/edrql/cases/<content hash>``), keyed by the
content hash of the inputs plus the ingest options, so the second
``edrql export.csv ...`` opens instantly. File hashes are remembered by
(path, size, mtime) so unchanged files are not re-read to be hashed.
"""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from .store import Case, is_case, looks_like_case, writer

if TYPE_CHECKING:
    from .ingest import Options, Report


def cache_root() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "edrql")


def _hashes(inputs) -> list[str]:
    index_path = os.path.join(cache_root(), "hashes.json")
    try:
        with open(index_path, encoding="utf-8") as fh:
            index = json.load(fh)
    except (OSError, json.JSONDecodeError):
        index = {}
    out, changed = [], False
    for inp in inputs:
        st = os.stat(inp.path)
        k = f"{inp.path}|{inp.member or ''}|{st.st_size}|{st.st_mtime_ns}"
        if k not in index:
            index[k] = inp.sha256()
            changed = True
        out.append(index[k])
    if changed:
        os.makedirs(cache_root(), exist_ok=True)
        tmp = index_path + f".{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(index, fh)
        os.replace(tmp, index_path)
    return out


def resolve(paths: list[str], opts: Options, progress=None) -> tuple[Case, Report | None]:
    """A case folder opens as is; export files go through the cache."""
    if len(paths) == 1 and (is_case(paths[0]) or looks_like_case(paths[0])):
        return Case.open(paths[0]), None     # (an unfinished case: says so)
    from .ingest import Report, ingest, say_waiting     # exports: the ingest machinery
    from .readers.base import expand
    cases = [p for p in paths if is_case(p)]
    if cases:
        from .store import CaseError
        raise CaseError(f"{cases[0]}: a case folder cannot be mixed with export files; "
                        f"add them with: edrql ingest EXPORT... --case {cases[0]}")
    inputs = expand(paths, opts.zip_password)
    if not inputs:       # an empty folder: say so (not "no manifest" of the cache's folder)
        from .store import CaseError
        raise CaseError(f"{', '.join(paths)}: neither an edrql case (no manifest.json) nor "
                        "export files: nothing to query")
    import hashlib
    h = hashlib.sha256()
    for d in sorted(_hashes(inputs)):
        h.update(d.encode())
    h.update(f"|tz={opts.tz}|enc={opts.encoding}".encode())
    if opts.mapping:
        with open(opts.mapping, "rb") as fh:
            h.update(fh.read())
    root = os.path.join(cache_root(), "cases", h.hexdigest()[:24])
    if is_case(root):            # cached: its rejections are said again, every time
        case = Case.open(root)
        return case, Report(rejected=list(case.manifest.get("rejected") or []))
    report = None
    with writer(root, say_waiting) as case:   # two runs at once: the second waits, then opens
        if not is_case(root):
            report = ingest(paths, case, opts, progress)
    return Case.open(root), report
